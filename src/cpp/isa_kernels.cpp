// Kernels written once in portable C++ and compiled once per instruction set (CMake passes
// FASTRNN_ISA_NS, FASTRNN_VEC_BYTES and the target flags). The loops are shaped so that the
// compiler keeps the GEMM register tile in vector registers and vectorizes the activations;
// no intrinsics, so every variant computes the same formulas.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "fastrnn/isa.hpp"

#ifndef FASTRNN_ISA_NS
#error "FASTRNN_ISA_NS must name the instruction set namespace"
#endif
#ifndef FASTRNN_VEC_BYTES
#error "FASTRNN_VEC_BYTES must give the vector width in bytes"
#endif

namespace fastrnn {
namespace FASTRNN_ISA_NS {
namespace {

constexpr int kVecBytes = FASTRNN_VEC_BYTES;

template <typename T>
constexpr int vec_width() { return kVecBytes / static_cast<int>(sizeof(T)); }

// Register tile: NR = two vectors wide; MR rows so that MR * 2 accumulators fit the register file.
template <typename T>
constexpr int tile_rows() { return kVecBytes == 64 ? 8 : (kVecBytes == 32 ? 6 : 4); }
template <typename T>
constexpr int tile_cols() { return 2 * vec_width<T>(); }

// ---------------------------------------------------------------- elementwise math

// Bits of a float type and the matching integer.
template <typename T> struct FloatBits;
template <> struct FloatBits<float> {
    using Int = int32_t;
    static constexpr int kMantissa = 23;
    static constexpr int kBias = 127;
};
template <> struct FloatBits<double> {
    using Int = int64_t;
    static constexpr int kMantissa = 52;
    static constexpr int kBias = 1023;
};

// exp(y) for y in [-kExpClamp, kExpClamp]: y = n ln2 + r with |r| <= ln2/2, exp(r) by its
// Taylor series (degree 7 for float, 13 for double: truncation below half an ulp), 2^n built in
// the exponent bits.
template <typename T>
constexpr T exp_clamp() { return std::is_same<T, float>::value ? T(87) : T(708); }

template <typename T>
inline T exp_bounded(T y) {
    const T log2e = T(1.4426950408889634);
    // ln 2 split so that n * ln2_hi is exact for the n that occur.
    const T ln2_hi = std::is_same<T, float>::value ? T(0.693145751953125) : T(6.93147180369123816490e-01);
    const T ln2_lo = std::is_same<T, float>::value ? T(1.428606820309417232e-06) : T(1.90821492927058770002e-10);
    y = y < -exp_clamp<T>() ? -exp_clamp<T>() : y;
    y = y > exp_clamp<T>() ? exp_clamp<T>() : y;
    const T n = std::floor(y * log2e + T(0.5));
    const T r = (y - n * ln2_hi) - n * ln2_lo;
    T p;
    if (std::is_same<T, float>::value) {
        p = T(1.0 / 5040);
        p = p * r + T(1.0 / 720);
        p = p * r + T(1.0 / 120);
        p = p * r + T(1.0 / 24);
        p = p * r + T(1.0 / 6);
        p = p * r + T(0.5);
        p = p * r + T(1);
        p = p * r + T(1);
    } else {
        p = T(1.0 / 6227020800.0);
        p = p * r + T(1.0 / 479001600.0);
        p = p * r + T(1.0 / 39916800.0);
        p = p * r + T(1.0 / 3628800.0);
        p = p * r + T(1.0 / 362880.0);
        p = p * r + T(1.0 / 40320.0);
        p = p * r + T(1.0 / 5040.0);
        p = p * r + T(1.0 / 720.0);
        p = p * r + T(1.0 / 120.0);
        p = p * r + T(1.0 / 24.0);
        p = p * r + T(1.0 / 6.0);
        p = p * r + T(0.5);
        p = p * r + T(1);
        p = p * r + T(1);
    }
    using Int = typename FloatBits<T>::Int;
    const int32_t ni = static_cast<int32_t>(n);
    const Int bits = static_cast<Int>(static_cast<Int>(ni) + FloatBits<T>::kBias)
                     << FloatBits<T>::kMantissa;
    T scale;
    std::memcpy(&scale, &bits, sizeof(T));
    return p * scale;
}

// tanh(x): an odd Taylor polynomial near 0 (keeps relative accuracy), else
// (1 - e) / (1 + e) with e = exp(-2|x|), sign restored.
template <typename T>
inline T tanh_fast(T x) {
    const T ax = std::fabs(x);
    const T limit = std::is_same<T, float>::value ? T(9) : T(19);
    const T a = ax > limit ? limit : ax;
    const T e = exp_bounded<T>(T(-2) * a);
    T big = (T(1) - e) / (T(1) + e);
    const T x2 = ax * ax;
    // tanh x = x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 - 1382x^11/155925
    T q = T(-1382.0 / 155925.0);
    q = q * x2 + T(62.0 / 2835.0);
    q = q * x2 + T(-17.0 / 315.0);
    q = q * x2 + T(2.0 / 15.0);
    q = q * x2 + T(-1.0 / 3.0);
    const T small = ax + ax * x2 * q;
    const T r = ax < T(0.0625) ? small : big;
    return x < T(0) ? -r : r;
}

template <typename T>
inline T sigmoid_fast(T x) { return T(1) / (T(1) + exp_bounded<T>(-x)); }

template <typename T>
inline T apply_activation(T v, Activation act) {
    switch (act) {
        case Activation::Tanh: return tanh_fast(v);
        case Activation::Relu: return v > T(0) ? v : T(0);
        case Activation::Sigmoid: return sigmoid_fast(v);
        case Activation::Linear: default: return v;
    }
}

template <typename T>
void activation_forward(T* __restrict x, int64_t n, Activation act) {
    switch (act) {
        case Activation::Tanh:
            for (int64_t i = 0; i < n; ++i) x[i] = tanh_fast(x[i]);
            break;
        case Activation::Relu:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] > T(0) ? x[i] : T(0);
            break;
        case Activation::Sigmoid:
            for (int64_t i = 0; i < n; ++i) x[i] = sigmoid_fast(x[i]);
            break;
        case Activation::Linear:
            break;
    }
}

template <typename T>
void activation_backward(T* __restrict delta, const T* __restrict g, const T* __restrict y,
                         int64_t n, Activation act) {
    switch (act) {
        case Activation::Tanh:
            for (int64_t i = 0; i < n; ++i) delta[i] = g[i] * (T(1) - y[i] * y[i]);
            break;
        case Activation::Relu:
            for (int64_t i = 0; i < n; ++i) delta[i] = y[i] > T(0) ? g[i] : T(0);
            break;
        case Activation::Sigmoid:
            for (int64_t i = 0; i < n; ++i) delta[i] = g[i] * (y[i] * (T(1) - y[i]));
            break;
        case Activation::Linear:
            for (int64_t i = 0; i < n; ++i) delta[i] = g[i];
            break;
    }
}

// ---------------------------------------------------------------- GEMM

// One register tile: MR_ rows x NR_ columns, both known at compile time so that the
// accumulators live in registers. Columns [0, nc) are loaded and stored (nc <= NR_).
template <typename T, int MR_, int NR_>
inline void gemm_tile(T* __restrict C, int64_t ldc, const T* __restrict A, int64_t rs_a,
                      int64_t cs_a, const T* __restrict B, int64_t ldb, const T* __restrict bias,
                      int64_t K, bool accumulate, Activation act) {
    T acc[MR_][NR_];
    for (int r = 0; r < MR_; ++r)
        for (int c = 0; c < NR_; ++c)
            acc[r][c] = bias ? bias[c] : (accumulate ? C[r * ldc + c] : T(0));
    for (int64_t k = 0; k < K; ++k) {
        const T* __restrict b = B + k * ldb;
        for (int r = 0; r < MR_; ++r) {
            const T a = A[r * rs_a + k * cs_a];
            for (int c = 0; c < NR_; ++c) acc[r][c] += a * b[c];
        }
    }
    if (act != Activation::Linear)
        for (int r = 0; r < MR_; ++r)
            for (int c = 0; c < NR_; ++c) acc[r][c] = apply_activation(acc[r][c], act);
    for (int r = 0; r < MR_; ++r)
        for (int c = 0; c < NR_; ++c) C[r * ldc + c] = acc[r][c];
}

// Edge tile of runtime size mr x nc (mr <= MR, nc <= NR), same arithmetic order.
template <typename T>
inline void gemm_edge(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B,
                      int64_t ldb, const T* bias, int64_t mr, int64_t nc, int64_t K,
                      bool accumulate, Activation act) {
    constexpr int NR = tile_cols<T>();
    for (int64_t r = 0; r < mr; ++r) {
        T acc[NR];
        for (int64_t c = 0; c < nc; ++c)
            acc[c] = bias ? bias[c] : (accumulate ? C[r * ldc + c] : T(0));
        for (int64_t k = 0; k < K; ++k) {
            const T a = A[r * rs_a + k * cs_a];
            const T* b = B + k * ldb;
            for (int64_t c = 0; c < nc; ++c) acc[c] += a * b[c];
        }
        for (int64_t c = 0; c < nc; ++c) C[r * ldc + c] = apply_activation(acc[c], act);
    }
}

template <typename T>
void gemm(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B, int64_t ldb,
          const T* bias, int64_t M, int64_t N, int64_t K, bool accumulate, Activation act) {
    constexpr int MR = tile_rows<T>();
    constexpr int NR = tile_cols<T>();
    constexpr int VW = vec_width<T>();
    // Column panels outermost so a panel of B (K x NR) stays in cache across row tiles.
    int64_t j = 0;
    for (; j + NR <= N; j += NR) {
        const T* bj = bias ? bias + j : nullptr;
        int64_t i = 0;
        for (; i + MR <= M; i += MR)
            gemm_tile<T, MR, NR>(C + i * ldc + j, ldc, A + i * rs_a, rs_a, cs_a, B + j, ldb, bj,
                                 K, accumulate, act);
        for (; i < M; ++i)
            gemm_tile<T, 1, NR>(C + i * ldc + j, ldc, A + i * rs_a, rs_a, cs_a, B + j, ldb, bj,
                                K, accumulate, act);
    }
    for (; j + VW <= N; j += VW) {
        const T* bj = bias ? bias + j : nullptr;
        int64_t i = 0;
        for (; i + MR <= M; i += MR)
            gemm_tile<T, MR, VW>(C + i * ldc + j, ldc, A + i * rs_a, rs_a, cs_a, B + j, ldb, bj,
                                 K, accumulate, act);
        for (; i < M; ++i)
            gemm_tile<T, 1, VW>(C + i * ldc + j, ldc, A + i * rs_a, rs_a, cs_a, B + j, ldb, bj,
                                K, accumulate, act);
    }
    if (j < N)
        gemm_edge<T>(C + j, ldc, A, rs_a, cs_a, B + j, ldb, bias ? bias + j : nullptr, M, N - j,
                     K, accumulate, act);
}

template <typename T>
const IsaKernels<T>* table() {
    static const IsaKernels<T> t{FASTRNN_ISA_NAME, tile_rows<T>(), tile_cols<T>(), &gemm<T>,
                                 &activation_forward<T>, &activation_backward<T>};
    return &t;
}

}  // namespace

const IsaKernels<float>* kernels_f32() { return table<float>(); }
const IsaKernels<double>* kernels_f64() { return table<double>(); }

}  // namespace FASTRNN_ISA_NS
}  // namespace fastrnn
