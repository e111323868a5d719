// Embedding gather and its scatter-add gradient.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "fastrnn/kernels.hpp"
#include "fastrnn/scatter.hpp"
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

// dst (D,) += src (D,)
template <typename T>
inline void add_row(T* __restrict dst, const T* __restrict src, int64_t D) {
    for (int64_t j = 0; j < D; ++j) dst[j] += src[j];
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
// order; d_out holds blocks of block_rows rows of D values, block_stride apart. The
// positions of a batch whose ids are in range are listed first without a branch (random ids
// made a test per id mispredict about half the time with two threads), with their row
// offsets, then their rows added, each table row prefetched kScatterAhead rows before.
template <typename T>
void embedding_scatter_range(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t n,
                             int64_t D, int64_t v0, int64_t v1, int64_t block_rows,
                             int64_t block_stride) {
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
            if (k + kScatterAhead < m) prefetch_row(d_embeddings + ids[mine[k + kScatterAhead]] * D, D);
            add_row(d_embeddings + ids[mine[k]] * D, d_out + offsets[k], D);
        }
    }
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
        embedding_scatter_range(d_embeddings, ids, d_out, N, D, v0, v1, block_rows, block_stride);
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
template void embedding_scatter_range<float>(float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
template void embedding_scatter_range<double>(double*, const int64_t*, const double*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
template void embedding_backward_blocks<float>(float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int);
template void embedding_backward_blocks<double>(double*, const int64_t*, const double*, int64_t, int64_t, int64_t, int64_t, int64_t, int);

}  // namespace fastrnn
