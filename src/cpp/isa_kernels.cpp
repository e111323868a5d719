// Kernels written once in portable C++ and compiled once per instruction set (CMake passes
// FASTRNN_ISA_NS, FASTRNN_VEC_BYTES and the target flags). The loops are shaped so that the
// compiler keeps the GEMM register tile in vector registers and vectorizes the activations;
// every variant computes the same formulas. The only intrinsics are x86's max/min (at_least,
// at_most), which compute exactly what their portable fallback does.

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

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
constexpr int tile_rows() { return kVecBytes == 64 ? 6 : (kVecBytes == 32 ? 3 : 2); }
template <typename T>
constexpr int tile_vectors() { return 4; }
template <typename T>
constexpr int tile_cols() { return tile_vectors<T>() * vec_width<T>(); }

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

// SIMD vectors as wide as the instruction set's registers (GCC/Clang vector extensions: plain
// arithmetic that the compiler maps onto the target's vector instructions).
template <typename T>
struct Vec {
    using Int = typename FloatBits<T>::Int;
    typedef T type __attribute__((vector_size(kVecBytes)));
    typedef Int itype __attribute__((vector_size(kVecBytes)));
    typedef int32_t i32type __attribute__((vector_size(kVecBytes * 4 / sizeof(T))));
};

template <typename T>
inline typename Vec<T>::type load(const T* p) {
    typename Vec<T>::type v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

template <typename T>
inline void store(T* p, typename Vec<T>::type v) { std::memcpy(p, &v, sizeof(v)); }

#if defined(__AVX2__)
// AVX2 maskload/maskstore lanes [0, n): all bits set in those lanes, zero in the others (a
// double's lane is two of the table's 32-bit words).
template <typename T>
inline __m256i lane_mask(int n) {
    static constexpr int32_t kOnes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    constexpr int words = static_cast<int>(sizeof(T) / sizeof(int32_t));
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kOnes + 8 - n * words));
}
#endif

// The first n (0 < n < lanes) elements of p, zeros in the other lanes, and the store of the
// first n lanes of v: masked loads and stores where the ISA has them, so that neither touches
// memory past p + n; a copy through a zeroed vector otherwise.
template <typename T>
inline typename Vec<T>::type load_partial(const T* p, int n) {
    constexpr bool f32 = std::is_same<T, float>::value;
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
        if constexpr (f32) return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
        else return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p);
    }
#endif
#if defined(__AVX2__)
    if constexpr (kVecBytes == 32) {
        if constexpr (f32) return _mm256_maskload_ps(p, lane_mask<T>(n));
        else return _mm256_maskload_pd(p, lane_mask<T>(n));
    }
#endif
    (void)f32;
    typename Vec<T>::type v{};
    std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(T));
    return v;
}

template <typename T>
inline void store_partial(T* p, typename Vec<T>::type v, int n) {
    constexpr bool f32 = std::is_same<T, float>::value;
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
        if constexpr (f32) return _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
        else return _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), v);
    }
#endif
#if defined(__AVX2__)
    if constexpr (kVecBytes == 32) {
        if constexpr (f32) return _mm256_maskstore_ps(p, lane_mask<T>(n), v);
        else return _mm256_maskstore_pd(p, lane_mask<T>(n), v);
    }
#endif
    (void)f32;
    std::memcpy(p, &v, static_cast<size_t>(n) * sizeof(T));
}

// Every lane = s: a broadcast. Written as s - 0, which the compiler folds away; `0 + s`
// would cost an addition in every use (0 + -0 is +0, so it cannot be folded).
template <typename T>
inline typename Vec<T>::type splat(T s) { return s - typename Vec<T>::type{}; }

// max(x, lo) and min(x, hi) with a NaN x passed through: `x < lo ? lo : x` and `x > hi ? hi : x`.
// On x86 these are exactly maxps(lo, x) / minps(hi, x) (the second operand wins on NaN), one
// instruction each; GCC compiles the ternary form to a compare and a blend (two, both on the
// FMA ports), which made the clamps a quarter of the float32 tanh.
template <typename T>
inline typename Vec<T>::type at_least(typename Vec<T>::type x, typename Vec<T>::type lo) {
    constexpr bool f32 = std::is_same<T, float>::value;
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
        if constexpr (f32) return _mm512_max_ps(lo, x); else return _mm512_max_pd(lo, x);
    }
#endif
#if defined(__AVX__)
    if constexpr (kVecBytes == 32) {
        if constexpr (f32) return _mm256_max_ps(lo, x); else return _mm256_max_pd(lo, x);
    }
#endif
#if defined(__SSE2__)
    if constexpr (kVecBytes == 16) {
        if constexpr (f32) return _mm_max_ps(lo, x); else return _mm_max_pd(lo, x);
    }
#endif
    (void)f32;
    return x < lo ? lo : x;
}

template <typename T>
inline typename Vec<T>::type at_most(typename Vec<T>::type x, typename Vec<T>::type hi) {
    constexpr bool f32 = std::is_same<T, float>::value;
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
        if constexpr (f32) return _mm512_min_ps(hi, x); else return _mm512_min_pd(hi, x);
    }
#endif
#if defined(__AVX__)
    if constexpr (kVecBytes == 32) {
        if constexpr (f32) return _mm256_min_ps(hi, x); else return _mm256_min_pd(hi, x);
    }
#endif
#if defined(__SSE2__)
    if constexpr (kVecBytes == 16) {
        if constexpr (f32) return _mm_min_ps(hi, x); else return _mm_min_pd(hi, x);
    }
#endif
    (void)f32;
    return x > hi ? hi : x;
}

template <typename T>
constexpr T exp_clamp() { return std::is_same<T, float>::value ? T(87) : T(708); }

// exp(y), y clamped to [-exp_clamp, exp_clamp]: y = n ln2 + r with |r| <= ln2/2, exp(r) by its
// Taylor series (degree 7 for float, 13 for double: truncation below half an ulp), 2^n built in
// the exponent bits.
template <typename T>
inline typename Vec<T>::type exp_vec(typename Vec<T>::type y) {
    using V = typename Vec<T>::type;
    using I = typename Vec<T>::itype;
    using I32 = typename Vec<T>::i32type;
    const bool f32 = std::is_same<T, float>::value;
    // ln 2 split so that n * ln2_hi is exact for the n that occur.
    const T ln2_hi = f32 ? T(0.693145751953125) : T(6.93147180369123816490e-01);
    const T ln2_lo = f32 ? T(1.428606820309417232e-06) : T(1.90821492927058770002e-10);
    const V lo = splat<T>(-exp_clamp<T>()), hi = splat<T>(exp_clamp<T>());
    y = at_most<T>(at_least<T>(y, lo), hi);
    const V z = y * T(1.4426950408889634) + T(0.5);
    const V zt = __builtin_convertvector(__builtin_convertvector(z, I32), V);  // trunc
    const V n = zt > z ? zt - T(1) : zt;                                       // floor
    const V r = (y - n * ln2_hi) - n * ln2_lo;
    V p;
    if (f32) {
        p = splat<T>(T(1.0 / 5040));
        p = p * r + T(1.0 / 720);
        p = p * r + T(1.0 / 120);
        p = p * r + T(1.0 / 24);
        p = p * r + T(1.0 / 6);
        p = p * r + T(0.5);
        p = p * r + T(1);
        p = p * r + T(1);
    } else {
        p = splat<T>(T(1.0 / 6227020800.0));
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
    const I ni = __builtin_convertvector(__builtin_convertvector(n, I32), I);
    const I bits = (ni + FloatBits<T>::kBias) << FloatBits<T>::kMantissa;
    return p * reinterpret_cast<const V&>(bits);
}

// tanh(x). float: x P(x^2) / Q(x^2) with P, Q of degree 4 on x clamped to [-9, 9] (tanh(9)
// rounds to 1), result clamped to [-1, 1]: one division and no exp, so the latency chain of a
// recurrent step is about half that of 1 - 2 / (1 + exp(2x)). The coefficients are our own
// weighted least-squares fit (tools/fit_tanh.py): within 4e-7 absolute of the exact value in
// float32 (the requirement is 1e-6). double: an odd Taylor polynomial near 0 (keeps relative
// accuracy), else (1 - e) / (1 + e) with e = exp(-2|x|), sign restored.
template <typename T>
inline typename Vec<T>::type tanh_vec(typename Vec<T>::type x) {
    using V = typename Vec<T>::type;
    if constexpr (std::is_same<T, float>::value) {
        const V lo = splat<T>(T(-9)), hi = splat<T>(T(9)), one = splat<T>(T(1));
        x = at_most<T>(at_least<T>(x, lo), hi);
        const V u = x * x;
        V p = splat<T>(T(1.3185676550619974e-08));
        p = p * u + T(2.047289308393374e-05);
        p = p * u + T(0.0034866472706198692);
        p = p * u + T(0.13373252749443054);
        p = p * u + T(0.9999998807907104);
        V q = splat<T>(T(7.703262099312269e-07));
        q = q * u + T(0.00032714917324483395);
        q = q * u + T(0.025842228904366493);
        q = q * u + T(0.4670654833316803);
        q = q * u + T(1);
        V y = x * p / q;
        return at_least<T>(at_most<T>(y, one), -one);
    }
    const V zero = V{};
    const V ax = x < zero ? -x : x;
    const V limit = splat<T>(T(19));
    const V a = at_most<T>(ax, limit);
    const V e = exp_vec<T>(a * T(-2));
    const V big = (T(1) - e) / (T(1) + e);
    const V x2 = ax * ax;
    // tanh x = x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 - 1382x^11/155925
    V q = splat<T>(T(-1382.0 / 155925.0));
    q = q * x2 + T(62.0 / 2835.0);
    q = q * x2 + T(-17.0 / 315.0);
    q = q * x2 + T(2.0 / 15.0);
    q = q * x2 + T(-1.0 / 3.0);
    const V small = ax + ax * x2 * q;
    const V r = ax < splat<T>(T(0.0625)) ? small : big;
    return x < zero ? -r : r;
}

template <typename T>
inline typename Vec<T>::type sigmoid_vec(typename Vec<T>::type x) {
    return T(1) / (T(1) + exp_vec<T>(-x));
}

template <typename T>
inline typename Vec<T>::type activation_vec(typename Vec<T>::type v, Activation act) {
    using V = typename Vec<T>::type;
    switch (act) {
        case Activation::Tanh: return tanh_vec<T>(v);
        case Activation::Relu: return v > V{} ? v : V{};
        case Activation::Sigmoid: return sigmoid_vec<T>(v);
        case Activation::Linear: default: return v;
    }
}

template <typename T>
void activation_forward(T* __restrict x, int64_t n, Activation act) {
    if (act == Activation::Linear) return;
    constexpr int W = vec_width<T>();
    int64_t i = 0;
    for (; i + W <= n; i += W) store(x + i, activation_vec<T>(load(x + i), act));
    if (i < n) {  // tail through a padded vector
        T buf[W] = {};
        std::memcpy(buf, x + i, static_cast<size_t>(n - i) * sizeof(T));
        store(buf, activation_vec<T>(load(buf), act));
        std::memcpy(x + i, buf, static_cast<size_t>(n - i) * sizeof(T));
    }
}

// Derivative of the activation expressed through its output y.
template <typename T>
inline typename Vec<T>::type derivative_vec(typename Vec<T>::type y, Activation act) {
    using V = typename Vec<T>::type;
    switch (act) {
        case Activation::Tanh: return T(1) - y * y;
        case Activation::Relu: return y > V{} ? splat<T>(T(1)) : V{};
        case Activation::Sigmoid: return y * (T(1) - y);
        case Activation::Linear: default: return splat<T>(T(1));
    }
}

template <typename T>
inline T derivative(T y, Activation act) {
    switch (act) {
        case Activation::Tanh: return T(1) - y * y;
        case Activation::Relu: return y > T(0) ? T(1) : T(0);
        case Activation::Sigmoid: return y * (T(1) - y);
        case Activation::Linear: default: return T(1);
    }
}

template <typename T, Activation ACT>
void step_delta_rows(T* __restrict delta, const T* __restrict g_next, const T* __restrict dout,
                     T* __restrict carry, const T* __restrict y, int64_t rows, int64_t n,
                     int64_t ld_seq, int64_t ld_row, int64_t y_ahead, int64_t delta_ahead) {
    using V = typename Vec<T>::type;
    constexpr int W = vec_width<T>();
    for (int64_t r = 0; r < rows; ++r) {
        T* d = delta + r * ld_seq;
        const T* gn = g_next + r * ld_row;
        const T* dv = dout ? dout + r * ld_seq : nullptr;
        T* cv = carry ? carry + r * ld_row : nullptr;
        const T* yv = y + r * ld_seq;
        if (y_ahead)  // interleaved with the work: a burst of prefetches would be dropped
            for (int64_t i = 0; i < n; i += 64 / static_cast<int64_t>(sizeof(T))) {
                __builtin_prefetch(yv + y_ahead + i);
                if (delta_ahead) __builtin_prefetch(d + delta_ahead + i, 1);  // a store ahead
            }
        int64_t i = 0;
        for (; i + W <= n; i += W) {
            V g = load(gn + i);
            if (dv) g += load(dv + i);
            if (cv) {
                g += load(cv + i);
                store(cv + i, V{});
            }
            store(d + i, g * derivative_vec<T>(load(yv + i), ACT));
        }
        for (; i < n; ++i) {
            T g = gn[i];
            if (dv) g += dv[i];
            if (cv) {
                g += cv[i];
                cv[i] = T(0);
            }
            d[i] = g * derivative(yv[i], ACT);
        }
    }
}

// Calls f(std::integral_constant<Activation, A>{}) with A = act: the run-time activation as
// the compile-time one of the kernels templated on it.
template <typename F>
inline void with_activation(Activation act, F&& f) {
    using std::integral_constant;
    switch (act) {
        case Activation::Tanh: return f(integral_constant<Activation, Activation::Tanh>{});
        case Activation::Relu: return f(integral_constant<Activation, Activation::Relu>{});
        case Activation::Sigmoid: return f(integral_constant<Activation, Activation::Sigmoid>{});
        case Activation::Linear: return f(integral_constant<Activation, Activation::Linear>{});
    }
}

template <typename T>
void step_delta(T* delta, const T* g_next, const T* dout, T* carry, const T* y, int64_t rows,
                int64_t n, int64_t ld_seq, int64_t ld_row, int64_t y_ahead, int64_t delta_ahead,
                Activation act) {
    with_activation(act, [&](auto a) {
        step_delta_rows<T, decltype(a)::value>(delta, g_next, dout, carry, y, rows, n, ld_seq,
                                               ld_row, y_ahead, delta_ahead);
    });
}

// ---------------------------------------------------------------- table gradient scatter

// dst (D,) += src (D,), the last D mod W values through masked loads and stores.
template <typename T>
inline void add_row(T* __restrict dst, const T* __restrict src, int64_t D) {
    constexpr int W = vec_width<T>();
    int64_t j = 0;
    for (; j + W <= D; j += W) store(dst + j, load(dst + j) + load(src + j));
    if (j < D) {
        const int rest = static_cast<int>(D - j);
        store_partial(dst + j, load_partial(dst + j, rest) + load_partial(src + j, rest), rest);
    }
}

// Positions looked at per batch of the scan below (their list stays in L1).
constexpr int64_t kScanBatch = 2048;

// Rows ahead whose table row is prefetched before it is added to: the rows are random and
// the adds wait for them (a 10000 x 32 float table does not fit in L2).
constexpr int64_t kScatterAhead = 8;

// Prefetches for writing the first lines of a table row (up to 4: longer rows are streamed
// by the hardware prefetcher once their first lines are read).
template <typename T>
inline void prefetch_row(const T* row, int64_t D) {
    const int64_t bytes = std::min<int64_t>(D * static_cast<int64_t>(sizeof(T)), 256);
    for (int64_t b = 0; b < bytes; b += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(row) + b, 1);
}

// d_embeddings rows [v0, v1) += the rows of d_out whose ids (n,) fall there, in position
// order (IsaKernels::scatter_rows); d_out holds blocks of block_rows rows of D values,
// block_stride apart. Compiled per instruction set, whose vectors add the rows: the
// lecture-model backward 1.00-1.09x faster (three runs) than with the baseline build's 128-bit
// adds, same bits. The positions of a batch whose ids are in range are listed first without a
// branch (random ids made a test per id mispredict about half the time with two threads), with
// their row offsets, then their rows added, each table row prefetched kScatterAhead rows
// before.
template <typename T>
void scatter_rows(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t n,
                  int64_t D, int64_t v0, int64_t v1, int64_t block_rows, int64_t block_stride) {
    const uint64_t width = static_cast<uint64_t>(v1 - v0);
    int64_t mine[kScanBatch];     // positions whose id is in range
    int64_t offsets[kScanBatch];  // their rows' offsets in d_out
    int64_t in_block = 0, offset = 0;  // of position i0 + i in the scan below
    for (int64_t i0 = 0; i0 < n; i0 += kScanBatch) {
        const int64_t count = std::min(kScanBatch, n - i0);
        int64_t m = 0;
        for (int64_t i = i0; i < i0 + count; ++i) {
            mine[m] = i;
            offsets[m] = offset;
            m += static_cast<uint64_t>(ids[i] - v0) < width;
            offset += D;
            if (++in_block == block_rows) {
                in_block = 0;
                offset += block_stride - block_rows * D;
            }
        }
        for (int64_t k = 0; k < m; ++k) {
            if (k + kScatterAhead < m)
                prefetch_row(d_embeddings + ids[mine[k + kScatterAhead]] * D, D);
            add_row(d_embeddings + ids[mine[k]] * D, d_out + offsets[k], D);
        }
    }
}

// ---------------------------------------------------------------- GEMM

// Runs of k summed into one tile after another (see IsaKernels::gemm_runs): run o reads A and
// B at A + o * a and B + o * b. A plain product is one run.
struct Runs {
    int64_t count = 1, a = 0, b = 0;
};

// The backward step's epilogue (IsaKernels::gemm_delta): C = acc * act'(Y) instead of
// act(acc), Y's rows ldy apart; the Y and C rows y_ahead and c_ahead elements further (0: none)
// prefetched row by row for a later step.
template <typename T>
struct DeltaEpilogue {
    const T* y = nullptr;
    int64_t ldy = 0, y_ahead = 0, c_ahead = 0;
};

// Initial sums read from rows anywhere in memory (IsaKernels::gemm_rows): a tile's row r
// starts from rows[r] + col (plus the bias) instead of the bias or C.
template <typename T>
struct RowInit {
    const T* const* rows = nullptr;
    int64_t col = 0;

    // The rows of the tile whose rows start at i, columns at j.
    RowInit at(int64_t i, int64_t j) const { return {rows ? rows + i : nullptr, col + j}; }
};

// One register tile: MR_ rows x NV_ vectors of columns, all accumulators in registers.
template <typename T, int MR_, int NV_, Activation ACT, bool DELTA = false>
inline void gemm_tile(T* __restrict C, int64_t ldc, const T* __restrict A, int64_t rs_a,
                      int64_t cs_a, const T* __restrict B, int64_t ldb, const T* __restrict bias,
                      int64_t K, bool accumulate, Runs runs, DeltaEpilogue<T> de = {},
                      RowInit<T> init = {}) {
    using V = typename Vec<T>::type;
    constexpr int W = vec_width<T>();
    V acc[MR_][NV_];
    for (int r = 0; r < MR_; ++r)
        for (int v = 0; v < NV_; ++v) {
            if (init.rows) {
                acc[r][v] = load(init.rows[r] + init.col + v * W);
                if (bias) acc[r][v] += load(bias + v * W);
            } else {
                acc[r][v] = bias ? load(bias + v * W)
                                 : (accumulate ? load(C + r * ldc + v * W) : V{});
            }
        }
    for (int64_t o = 0; o < runs.count; ++o, A += runs.a, B += runs.b)
        for (int64_t k = 0; k < K; ++k) {
            V b[NV_];
            for (int v = 0; v < NV_; ++v) b[v] = load(B + k * ldb + v * W);
            for (int r = 0; r < MR_; ++r) {
                const V a = splat<T>(A[r * rs_a + k * cs_a]);
                for (int v = 0; v < NV_; ++v) acc[r][v] += a * b[v];
            }
        }
    for (int r = 0; r < MR_; ++r) {
        if constexpr (DELTA) {
            const T* y = de.y + r * de.ldy;
            for (int v = 0; v < NV_; ++v) {
                if (de.y_ahead) __builtin_prefetch(y + de.y_ahead + v * W);
                if (de.c_ahead) __builtin_prefetch(C + r * ldc + de.c_ahead + v * W, 1);
                store(C + r * ldc + v * W, acc[r][v] * derivative_vec<T>(load(y + v * W), ACT));
            }
        } else {
            for (int v = 0; v < NV_; ++v)
                store(C + r * ldc + v * W, activation_vec<T>(acc[r][v], ACT));
        }
    }
}

// One row, NV_ vectors of columns, with independent accumulation chains over k: a single row
// is bound by the FMA latency chain. Used only for batches of one sample, so that a row's
// arithmetic never depends on how a batch is split.
template <typename T, int NV_, Activation ACT>
inline void row_tile_chained(T* __restrict C, const T* __restrict A, int64_t cs_a,
                             const T* __restrict B, int64_t ldb, const T* __restrict bias,
                             int64_t K, bool accumulate) {
    using V = typename Vec<T>::type;
    constexpr int W = vec_width<T>();
    // A single row is bound by the FMA latency chain: independent chains over k, as many
    // as the registers hold (8 accumulators).
    constexpr int CH = NV_ >= 8 ? 1 : 8 / NV_;
    V acc[CH][NV_];
    for (int v = 0; v < NV_; ++v) {
        acc[0][v] = bias ? load(bias + v * W) : (accumulate ? load(C + v * W) : V{});
        for (int u = 1; u < CH; ++u) acc[u][v] = V{};
    }
    int64_t k = 0;
    for (; k + CH <= K; k += CH)
        for (int u = 0; u < CH; ++u) {
            const V a = splat<T>(A[(k + u) * cs_a]);
            for (int v = 0; v < NV_; ++v) acc[u][v] += a * load(B + (k + u) * ldb + v * W);
        }
    for (; k < K; ++k) {
        const V a = splat<T>(A[k * cs_a]);
        for (int v = 0; v < NV_; ++v) acc[0][v] += a * load(B + k * ldb + v * W);
    }
    for (int v = 0; v < NV_; ++v) {
        for (int step = 1; step < CH; step *= 2)  // pairwise, in a fixed order
            for (int u = 0; u + step < CH; u += 2 * step) acc[u][v] += acc[u + step][v];
        store(C + v * W, activation_vec<T>(acc[0][v], ACT));
    }
}

// Rows [0, rows) with rows < R, each count with its own register tile.
template <typename T, int R, int NV_, Activation ACT, bool DELTA = false>
inline void gemm_tail_rows(int64_t rows, T* C, int64_t ldc, const T* A, int64_t rs_a,
                           int64_t cs_a, const T* B, int64_t ldb, const T* bias, int64_t K,
                           bool accumulate, Runs runs, DeltaEpilogue<T> de = {},
                           RowInit<T> init = {}) {
    if constexpr (R > 0) {
        if (rows == R)
            gemm_tile<T, R, NV_, ACT, DELTA>(C, ldc, A, rs_a, cs_a, B, ldb, bias, K, accumulate,
                                             runs, de, init);
        else
            gemm_tail_rows<T, R - 1, NV_, ACT, DELTA>(rows, C, ldc, A, rs_a, cs_a, B, ldb, bias,
                                                      K, accumulate, runs, de, init);
    }
}

// One register tile of R rows over the last nc < W columns: B, C and the bias read and C
// written through masked loads and stores (load_partial), the other lanes zero and never
// stored, with the arithmetic of every other column (B's columns copied into zero-padded rows
// at every call cost the recurrent step of narrow layers up to 2.6x; a scalar loop before that
// kept its sums in memory, 1.6-2.3x).
template <typename T, int R, Activation ACT>
inline void gemm_edge_tile(T* __restrict C, int64_t ldc, const T* __restrict A, int64_t rs_a,
                           int64_t cs_a, const T* __restrict B, int64_t ldb,
                           const T* __restrict bias, int nc, int64_t K, bool accumulate,
                           RowInit<T> init) {
    using V = typename Vec<T>::type;
    V acc[R];
    const V b0 = bias ? load_partial(bias, nc) : V{};
    for (int r = 0; r < R; ++r) {
        if (init.rows) {
            acc[r] = load_partial(init.rows[r] + init.col, nc);
            if (bias) acc[r] += b0;
        } else {
            acc[r] = bias ? b0 : (accumulate ? load_partial(C + r * ldc, nc) : V{});
        }
    }
    for (int64_t k = 0; k < K; ++k) {
        const V b = load_partial(B + k * ldb, nc);
        for (int r = 0; r < R; ++r) acc[r] += splat<T>(A[r * rs_a + k * cs_a]) * b;
    }
    for (int r = 0; r < R; ++r) store_partial(C + r * ldc, activation_vec<T>(acc[r], ACT), nc);
}

template <typename T, int R, Activation ACT>
inline void gemm_edge_tail_rows(int64_t rows, T* C, int64_t ldc, const T* A, int64_t rs_a,
                                int64_t cs_a, const T* B, int64_t ldb, const T* bias, int nc,
                                int64_t K, bool accumulate, RowInit<T> init) {
    if constexpr (R > 0) {
        if (rows == R)
            gemm_edge_tile<T, R, ACT>(C, ldc, A, rs_a, cs_a, B, ldb, bias, nc, K, accumulate,
                                      init);
        else
            gemm_edge_tail_rows<T, R - 1, ACT>(rows, C, ldc, A, rs_a, cs_a, B, ldb, bias, nc, K,
                                               accumulate, init);
    }
}

// The last nc < W columns of C, in tiles of 2*MR rows.
template <typename T, Activation ACT>
void gemm_edge_columns(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B,
                       int64_t ldb, const T* bias, int64_t M, int64_t nc, int64_t K,
                       bool accumulate, RowInit<T> init = {}) {
    constexpr int MR = tile_rows<T>();
    const int n = static_cast<int>(nc);
    int64_t i = 0;
    for (; i + 2 * MR <= M; i += 2 * MR)
        gemm_edge_tile<T, 2 * MR, ACT>(C + i * ldc, ldc, A + i * rs_a, rs_a, cs_a, B, ldb, bias, n,
                                       K, accumulate, init.at(i, 0));
    if (i < M)
        gemm_edge_tail_rows<T, 2 * MR - 1, ACT>(M - i, C + i * ldc, ldc, A + i * rs_a, rs_a, cs_a,
                                                B, ldb, bias, n, K, accumulate, init.at(i, 0));
}

// Columns [0, N) of C for the k range of one call: panels of NV vectors, then of two (in row
// tiles of PAIR_ROWS), then of one vector, then the last N mod W columns (gemm_edge_columns);
// `runs` runs of k each; the initial sums from `init`'s rows when it has them (gemm_rows).
template <typename T, Activation ACT, bool DELTA = false, int PAIR_ROWS = tile_rows<T>()>
void gemm_panels(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B,
                 int64_t ldb, const T* bias, int64_t M, int64_t N, int64_t K, bool accumulate,
                 Runs runs = {}, DeltaEpilogue<T> de = {}, RowInit<T> init = {}) {
    constexpr int MR = tile_rows<T>();
    constexpr int W = vec_width<T>();
    constexpr int NV = tile_vectors<T>();
    int64_t j = 0;
    // The delta epilogue of the tile whose rows start at i, columns at j.
    auto row_de = [&](int64_t i) {
        DeltaEpilogue<T> d = de;
        if constexpr (DELTA) d.y = de.y + i * de.ldy + j;
        return d;
    };
    // Column panels outermost so a panel of B (K x NV*W) stays in L1 across row tiles.
    for (; j + NV * W <= N; j += NV * W) {
        const T* bj = bias ? bias + j : nullptr;
        int64_t i = 0;
        for (; i + MR <= M; i += MR)
            gemm_tile<T, MR, NV, ACT, DELTA>(C + i * ldc + j, ldc, A + i * rs_a, rs_a, cs_a,
                                             B + j, ldb, bj, K, accumulate, runs, row_de(i),
                                             init.at(i, j));
        if (i < M)
            gemm_tail_rows<T, MR - 1, NV, ACT, DELTA>(M - i, C + i * ldc + j, ldc, A + i * rs_a,
                                                      rs_a, cs_a, B + j, ldb, bj, K, accumulate,
                                                      runs, row_de(i), init.at(i, j));
    }
    // Two vectors left (H = 32 with 512-bit vectors): an MR x 2 tile, two multiply-adds per
    // broadcast of A (as 2*MR x 1 tiles, one: the AVX-512 forward at H = 32 was 1.15-1.2x
    // slower than AVX2's, now within 1-3 %).
    for (; j + 2 * W <= N; j += 2 * W) {
        const T* bj = bias ? bias + j : nullptr;
        int64_t i = 0;
        for (; i + PAIR_ROWS <= M; i += PAIR_ROWS)
            gemm_tile<T, PAIR_ROWS, 2, ACT, DELTA>(C + i * ldc + j, ldc, A + i * rs_a, rs_a,
                                                   cs_a, B + j, ldb, bj, K, accumulate, runs,
                                                   row_de(i), init.at(i, j));
        if (i < M)
            gemm_tail_rows<T, PAIR_ROWS - 1, 2, ACT, DELTA>(M - i, C + i * ldc + j, ldc,
                                                            A + i * rs_a, rs_a, cs_a, B + j, ldb,
                                                            bj, K, accumulate, runs, row_de(i),
                                                            init.at(i, j));
    }
    for (; j + W <= N; j += W) {
        const T* bj = bias ? bias + j : nullptr;
        int64_t i = 0;
        for (; i + 2 * MR <= M; i += 2 * MR)
            gemm_tile<T, 2 * MR, 1, ACT, DELTA>(C + i * ldc + j, ldc, A + i * rs_a, rs_a, cs_a,
                                                B + j, ldb, bj, K, accumulate, runs, row_de(i),
                                                init.at(i, j));
        if (i < M)
            gemm_tail_rows<T, 2 * MR - 1, 1, ACT, DELTA>(M - i, C + i * ldc + j, ldc,
                                                         A + i * rs_a, rs_a, cs_a, B + j, ldb, bj,
                                                         K, accumulate, runs, row_de(i),
                                                         init.at(i, j));
    }
    if (j == N) return;
    // Edge columns run by run: C holds the sums between runs, the same bits (several runs
    // come only from gemm_runs, with ACT = Linear). With the delta epilogue: the product, then
    // the derivative element by element, as step_delta does for these columns.
    constexpr Activation EDGE_ACT = DELTA ? Activation::Linear : ACT;
    for (int64_t o = 0; o < runs.count; ++o)
        gemm_edge_columns<T, EDGE_ACT>(C + j, ldc, A + o * runs.a, rs_a, cs_a,
                                       B + o * runs.b + j, ldb,
                                       o ? nullptr : (bias ? bias + j : nullptr), M, N - j, K,
                                       o ? true : accumulate, o ? RowInit<T>{} : init.at(0, j));
    if constexpr (DELTA)
        for (int64_t i = 0; i < M; ++i)
            for (int64_t c = j; c < N; ++c)
                C[i * ldc + c] *= derivative(de.y[i * de.ldy + c], ACT);
}

// gemm, or with `rows` (M row pointers) gemm_rows.
template <typename T, Activation ACT>
void gemm_with(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B,
               int64_t ldb, const T* bias, int64_t M, int64_t N, int64_t K, bool accumulate,
               const T* const* rows = nullptr) {
    // k in blocks whose panel of B fits L1 (about 16 KB). Partial sums go through C exactly,
    // so every element still accumulates in plain k order; the activation is applied in
    // registers by the last block.
    constexpr int64_t KC = 16384 / (tile_cols<T>() * static_cast<int64_t>(sizeof(T)));
    for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += KC) {
        const int64_t kc = std::min<int64_t>(KC, K - k0);
        const bool last = k0 + KC >= K;
        const T* bk = k0 == 0 ? bias : nullptr;
        const bool acc = k0 == 0 ? accumulate : true;
        const RowInit<T> init{k0 == 0 ? rows : nullptr, 0};
        if (last)
            gemm_panels<T, ACT>(C, ldc, A + k0 * cs_a, rs_a, cs_a, B + k0 * ldb, ldb, bk, M, N,
                                kc, acc, Runs{}, DeltaEpilogue<T>{}, init);
        else
            gemm_panels<T, Activation::Linear>(C, ldc, A + k0 * cs_a, rs_a, cs_a, B + k0 * ldb,
                                               ldb, bk, M, N, kc, acc, Runs{},
                                               DeltaEpilogue<T>{}, init);
    }
}

template <typename T, Activation ACT>
void gemv_with(T* C, const T* A, int64_t cs_a, const T* B, int64_t ldb, const T* bias, int64_t N,
               int64_t K, bool accumulate) {
    constexpr int W = vec_width<T>();
    constexpr int NV = tile_vectors<T>();
    int64_t j = 0;
    for (; j + NV * W <= N; j += NV * W)
        row_tile_chained<T, NV, ACT>(C + j, A, cs_a, B + j, ldb, bias ? bias + j : nullptr, K,
                                     accumulate);
    if (j + 2 * W <= N) {
        row_tile_chained<T, 2, ACT>(C + j, A, cs_a, B + j, ldb, bias ? bias + j : nullptr, K,
                                    accumulate);
        j += 2 * W;
    }
    for (; j + W <= N; j += W)
        row_tile_chained<T, 1, ACT>(C + j, A, cs_a, B + j, ldb, bias ? bias + j : nullptr, K,
                                    accumulate);
    if (j < N)
        gemm_edge_columns<T, ACT>(C + j, 0, A, 0, cs_a, B + j, ldb, bias ? bias + j : nullptr, 1,
                                  N - j, K, accumulate);
}

template <typename T>
void gemv(T* C, const T* A, int64_t cs_a, const T* B, int64_t ldb, const T* bias, int64_t N,
          int64_t K, bool accumulate, Activation act) {
    with_activation(act, [&](auto a) {
        gemv_with<T, decltype(a)::value>(C, A, cs_a, B, ldb, bias, N, K, accumulate);
    });
}

// row_tile_chained with every size known at compile time: PV_ vectors of columns, K = N rows
// of B (row stride N). The loops unroll completely and every accumulator stays in a register;
// with runtime sizes GCC kept the accumulators in memory between the chained loop and its
// remainder, and row_tile_chained called with constant sizes was still 4-13 % slower at
// H = 24 and 32 (float32, AVX2). Always inlined, its pairwise sums unrolled: with 512-bit
// vectors GCC made it an out-of-line call per panel and step, its sums a loop through the
// stack (a lone sample at H = 32: 0.084 -> 0.076 ms for 1000 steps).
template <typename T, int PV_, int N, Activation ACT>
__attribute__((always_inline)) inline void fixed_row_tile(T* __restrict C, const T* __restrict A,
                                                          const T* __restrict B) {
    using V = typename Vec<T>::type;
    constexpr int W = vec_width<T>();
    constexpr int CH = PV_ >= 8 ? 1 : 8 / PV_;  // as row_tile_chained
    constexpr int CHAINED = N - N % CH;         // k < CHAINED: chain k % CH; the rest: chain 0
    V acc[CH][PV_];
    for (int v = 0; v < PV_; ++v) {
        acc[0][v] = load(C + v * W);
        for (int u = 1; u < CH; ++u) acc[u][v] = V{};
    }
#pragma GCC unroll 128
    for (int k = 0; k < N; ++k) {
        const V a = splat<T>(A[k]);
        const int u = k < CHAINED ? k % CH : 0;
        for (int v = 0; v < PV_; ++v) acc[u][v] += a * load(B + k * N + v * W);
    }
#pragma GCC unroll 8
    for (int v = 0; v < PV_; ++v) {
#pragma GCC unroll 8
        for (int step = 1; step < CH; step *= 2)  // pairwise, in a fixed order
#pragma GCC unroll 8
            for (int u = 0; u + step < CH; u += 2 * step) acc[u][v] += acc[u + step][v];
        store(C + v * W, activation_vec<T>(acc[0][v], ACT));
    }
}

// gemv_steps for a width of NV_ vectors known at compile time: gemv_with's panels (of
// tile_vectors, then at most one of two vectors, then single vectors) as fixed_row_tile, the
// same arithmetic. H = 32 float32 (AVX2): 1.2x faster per step than the runtime-sized loops.
template <typename T, int NV_, Activation ACT>
void fixed_width_steps(T* C, int64_t ldc, const T* A, const T* B, int64_t steps) {
    constexpr int W = vec_width<T>();
    constexpr int NV = tile_vectors<T>();
    constexpr int N = NV_ * W;
    constexpr int PANELS = NV_ / NV;
    constexpr bool PAIR = NV_ - PANELS * NV >= 2;  // a panel of two vectors after them
    for (int64_t s = 0; s < steps; ++s) {
        T* row = C + s * ldc;
        const T* prev = s ? row - ldc : A;
        for (int j = 0; j < PANELS; ++j)
            fixed_row_tile<T, NV, N, ACT>(row + j * NV * W, prev, B + j * NV * W);
        if constexpr (PAIR)
            fixed_row_tile<T, 2, N, ACT>(row + PANELS * NV * W, prev, B + PANELS * NV * W);
        for (int j = PANELS * NV + (PAIR ? 2 : 0); j < NV_; ++j)
            fixed_row_tile<T, 1, N, ACT>(row + j * W, prev, B + j * W);
    }
}

// gemv_with step after step in one loop: the activation's constants stay in registers and no
// call or spill separates two steps of the latency-bound recurrence; widths of 1 to 4 vectors
// take fixed_width_steps. A nullptr A: the first step starts from zeros (only the
// activation).
template <typename T, Activation ACT>
void gemv_steps_with(T* C, int64_t ldc, const T* A, const T* B, int64_t N, int64_t steps) {
    constexpr int W = vec_width<T>();
    if (!A) {
        activation_forward<T>(C, N, ACT);
        if (steps == 1) return;
        A = C;
        C += ldc;
        --steps;
    }
    switch (N % W ? 0 : N / W) {
        case 1: return fixed_width_steps<T, 1, ACT>(C, ldc, A, B, steps);
        case 2: return fixed_width_steps<T, 2, ACT>(C, ldc, A, B, steps);
        case 3: return fixed_width_steps<T, 3, ACT>(C, ldc, A, B, steps);
        case 4: return fixed_width_steps<T, 4, ACT>(C, ldc, A, B, steps);
        default: break;
    }
    for (int64_t s = 0; s < steps; ++s) {
        T* row = C + s * ldc;
        gemv_with<T, ACT>(row, s ? row - ldc : A, 1, B, N, nullptr, N, N, true);
    }
}

template <typename T>
void gemv_steps(T* C, int64_t ldc, const T* A, const T* B, int64_t N, int64_t steps,
                Activation act) {
    with_activation(act, [&](auto a) {
        gemv_steps_with<T, decltype(a)::value>(C, ldc, A, B, N, steps);
    });
}

template <typename T>
void gemm(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B, int64_t ldb,
          const T* bias, int64_t M, int64_t N, int64_t K, bool accumulate, Activation act) {
    with_activation(act, [&](auto a) {
        gemm_with<T, decltype(a)::value>(C, ldc, A, rs_a, cs_a, B, ldb, bias, M, N, K,
                                         accumulate);
    });
}

// A step whose input rows are read where they are (IsaKernels::gemm_rows).
template <typename T>
void gemm_rows(T* C, int64_t ldc, const T* const* rows, const T* A, int64_t rs_a, const T* B,
               int64_t ldb, const T* bias, int64_t M, int64_t N, int64_t K, Activation act) {
    with_activation(act, [&](auto a) {
        gemm_with<T, decltype(a)::value>(C, ldc, A, rs_a, 1, B, ldb, bias, M, N, K, false, rows);
    });
}

// Runs of k added to C one after another, each run's products in k order (IsaKernels::gemm_runs).
// Rows of two 512-bit vectors (the lecture model's H = 32 float32 weight gradient) go in tiles
// of 8 rows, 16 accumulators, instead of gemm_panels' 6 (5 tiles of 6 and one of 2 for 32
// rows): the lecture-model backward 1.07-1.12x in two tools/ab_builds.py runs, 0.98-1.03x in a
// third on a busy host; the same bits (each element's sum does not depend on the tile).
template <typename T>
void gemm_runs(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, int64_t run_a,
               const T* B, int64_t ldb, int64_t run_b, int64_t M, int64_t N, int64_t K,
               int64_t runs) {
    if (runs <= 0 || K <= 0) return;
    const Runs r{runs, run_a, run_b};
    if constexpr (kVecBytes == 64) {
        if (N == 2 * vec_width<T>())
            return gemm_panels<T, Activation::Linear, false, 8>(C, ldc, A, rs_a, cs_a, B, ldb,
                                                                nullptr, M, N, K, true, r);
    }
    gemm_panels<T, Activation::Linear>(C, ldc, A, rs_a, cs_a, B, ldb, nullptr, M, N, K, true, r);
}

// The backward step's product and the next delta in one pass (IsaKernels::gemm_delta).
template <typename T, Activation ACT>
void gemm_delta_with(T* delta, int64_t ldd, const T* A, int64_t rs_a, const T* B, int64_t ldb,
                     const T* Y, int64_t ldy, int64_t M, int64_t N, int64_t K, int64_t y_ahead,
                     int64_t delta_ahead) {
    gemm_panels<T, ACT, true>(delta, ldd, A, rs_a, 1, B, ldb, nullptr, M, N, K, false, Runs{},
                              DeltaEpilogue<T>{Y, ldy, y_ahead, delta_ahead});
}

template <typename T>
void gemm_delta(T* delta, int64_t ldd, const T* A, int64_t rs_a, const T* B, int64_t ldb,
                const T* Y, int64_t ldy, int64_t M, int64_t N, int64_t K, int64_t y_ahead,
                int64_t delta_ahead, Activation act) {
    with_activation(act, [&](auto a) {
        gemm_delta_with<T, decltype(a)::value>(delta, ldd, A, rs_a, B, ldb, Y, ldy, M, N, K,
                                               y_ahead, delta_ahead);
    });
}

template <typename T>
const IsaKernels<T>* table() {
    // mr: every row tile used (MR, 2*MR and their tails) starts at a multiple of 2*MR when
    // callers split rows in multiples of it, so no row's arithmetic depends on the split.
    static const IsaKernels<T> t{FASTRNN_ISA_NAME, 2 * tile_rows<T>(), tile_cols<T>(),
                                 vec_width<T>(), &gemm<T>, &gemm_rows<T>, &gemm_runs<T>,
                                 &gemv<T>, &gemv_steps<T>, &activation_forward<T>,
                                 &step_delta<T>, &gemm_delta<T>, &scatter_rows<T>};
    return &t;
}

}  // namespace

const IsaKernels<float>* kernels_f32() { return table<float>(); }
const IsaKernels<double>* kernels_f64() { return table<double>(); }

}  // namespace FASTRNN_ISA_NS
}  // namespace fastrnn
