// A plain matrix product on the engine's own GEMM and threads (the layers' small products, so
// that no second thread pool competes with the kernels' threads).

#include "fastrnn/dispatch.hpp"
#include "fastrnn/kernels.hpp"
#include "fastrnn/parallel.hpp"

namespace fastrnn {

template <typename T>
void matmul(T* C, const T* A, const T* B, int64_t M, int64_t N, int64_t K, bool transpose_a,
            int threads) {
    const IsaKernels<T>& Kt = active_kernels<T>();
    // Element (i, k) of op(A): A[i * K + k], or A[k * M + i] when transposed.
    const int64_t rs_a = transpose_a ? 1 : K, cs_a = transpose_a ? M : 1;
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
