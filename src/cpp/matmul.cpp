// A plain matrix product on the engine's own GEMM and threads (the layers' small products, so
// that no second thread pool competes with the kernels' threads).

#include <algorithm>
#include <vector>

#include "fastrnn/dispatch.hpp"
#include "fastrnn/kernels.hpp"
#include "fastrnn/parallel.hpp"
#include "fastrnn/partial_sums.hpp"

namespace fastrnn {
namespace {

// A short, deep product (few output rows, a long sum: the embedding's weight gradient E^T . dP
// is 32 x 10000 x 32) splits its sum into fixed chunks of k instead of its rows: split by rows
// it had one or two row tiles per thread (2 threads, AVX-512: 24 and 8 rows), and each thread
// streamed all of B (2 threads, AMD Zen 4: 0.19-0.22 ms, chunked 0.125 ms; the shorter sums
// are also more accurate). The chunk size and the order in which the partial products are
// added depend only on K, so results stay bit-identical for any thread count.
constexpr int64_t kDeepMinK = 4096;
constexpr int64_t kDeepMaxRows = 64;
constexpr int64_t kDeepMaxOutput = 65536;  // elements of C (M * N)
constexpr int64_t kDeepMaxChunks = 64;     // so the partial products hold at most 64 C's

bool deep_product(int64_t M, int64_t N, int64_t K) {
    return K >= kDeepMinK && M <= kDeepMaxRows && M * N <= kDeepMaxOutput;
}

// C (M, N) = op(A) (M, K) . B (K, N) as the sum, in chunk order, of chunk products over
// k in [c * chunk, (c + 1) * chunk).
template <typename T>
void deep_matmul(const IsaKernels<T>& Kt, T* C, const T* A, int64_t rs_a, int64_t cs_a,
                 const T* B, int64_t M, int64_t N, int64_t K, int threads) {
    const int64_t chunk = std::max<int64_t>(1024, (K + kDeepMaxChunks - 1) / kDeepMaxChunks);
    const int64_t chunks = (K + chunk - 1) / chunk;
    std::vector<T> partial(static_cast<size_t>(chunks * M * N));  // (chunks, M, N)
    const int nt = static_cast<int>(
        std::min<int64_t>(threads_for_work(threads, double(M) * N * K), chunks));
    WorkQueue queue(chunks, nt);
    parallel_region(nt, [&](int, int) {
        int64_t c0, c1;
        while (queue.next(c0, c1))
            for (int64_t c = c0; c < c1; ++c) {
                const int64_t k0 = c * chunk, kc = std::min(chunk, K - k0);
                Kt.gemm(partial.data() + c * M * N, N, A + k0 * cs_a, rs_a, cs_a, B + k0 * N, N,
                        nullptr, M, N, kc, false, Activation::Linear);
            }
    });
    const int64_t elements = M * N;
    parallel_region(threads_for_work(threads, double(elements) * chunks), [&](int tid, int count) {
        int64_t e0, e1;
        split_range(elements, 64, tid, count, e0, e1);
        sum_in_order(partial.data(), chunks, elements, e0, e1, C + e0);
    });
}

}  // namespace

template <typename T>
void matmul(T* C, const T* A, const T* B, int64_t M, int64_t N, int64_t K, bool transpose_a,
            int threads) {
    const IsaKernels<T>& Kt = active_kernels<T>();
    // Element (i, k) of op(A): A[i * K + k], or A[k * M + i] when transposed.
    const int64_t rs_a = transpose_a ? 1 : K, cs_a = transpose_a ? M : 1;
    if (deep_product(M, N, K)) {
        deep_matmul(Kt, C, A, rs_a, cs_a, B, M, N, K, threads);
        return;
    }
    const int64_t tiles = (M + Kt.mr - 1) / Kt.mr;
    int nt = threads_for_work(threads, double(M) * N * K);
    if (nt > tiles) nt = static_cast<int>(tiles > 0 ? tiles : 1);
    parallel_region(nt, [&](int tid, int count) {
        int64_t r0, r1;
        split_range(M, Kt.mr, tid, count, r0, r1);
        if (r0 < r1)
            Kt.gemm(C + r0 * N, N, A + r0 * rs_a, rs_a, cs_a, B, N, nullptr, r1 - r0, N, K, false,
                    Activation::Linear);
    });
}

template void matmul<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, bool, int);
template void matmul<double>(double*, const double*, const double*, int64_t, int64_t, int64_t, bool, int);

}  // namespace fastrnn
