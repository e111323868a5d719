// Embedding gather and its scatter-add gradient.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "fastrnn/kernels.hpp"
#include "fastrnn/dispatch.hpp"
#include "fastrnn/parallel.hpp"

namespace fastrnn {

template <typename T>
void embedding_forward(T* out, const int64_t* ids, const T* embeddings, int64_t N, int64_t V,
                       int64_t D, int threads) {
    (void)V;
    const int nt = threads_for_work(threads, 4.0 * N * D);  // a copy: cheap per element
    parallel_region(nt, [&](int tid, int count) {
        int64_t r0, r1;
        split_range(N, 64, tid, count, r0, r1);
        for (int64_t r = r0; r < r1; ++r)
            std::memcpy(out + r * D, embeddings + ids[r] * D, static_cast<size_t>(D) * sizeof(T));
    });
}

// Each thread owns a range of vocabulary rows and adds, in position order, every gradient row
// whose id falls in it: no atomics, and the sum order never depends on the thread count.
template <typename T>
void embedding_backward_blocks(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t N,
                               int64_t V, int64_t D, int64_t block_rows, int64_t block_stride,
                               int threads) {
    const int nt = threads_for_work(threads, 4.0 * N * D);
    parallel_region(nt, [&](int tid, int count) {
        int64_t v0, v1;
        split_range(V, 64, tid, count, v0, v1);
        if (v0 >= v1) return;
        std::memset(d_embeddings + v0 * D, 0, static_cast<size_t>((v1 - v0) * D) * sizeof(T));
        active_kernels<T>().scatter_rows(d_embeddings, ids, d_out, N, D, v0, v1, block_rows,
                                         block_stride);
    });
}

template <typename T>
void embedding_backward(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t N,
                        int64_t V, int64_t D, int threads) {
    embedding_backward_blocks(d_embeddings, ids, d_out, N, V, D, std::max<int64_t>(N, 1),
                              N * D, threads);
}

template void embedding_forward<float>(float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int);
template void embedding_forward<double>(double*, const int64_t*, const double*, int64_t, int64_t, int64_t, int);
template void embedding_backward<float>(float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int);
template void embedding_backward<double>(double*, const int64_t*, const double*, int64_t, int64_t, int64_t, int);
template void embedding_backward_blocks<float>(float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int);
template void embedding_backward_blocks<double>(double*, const int64_t*, const double*, int64_t, int64_t, int64_t, int64_t, int64_t, int);

}  // namespace fastrnn
