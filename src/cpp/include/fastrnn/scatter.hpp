// Internal: the per-thread part of the embedding gradient's scatter-add, shared by
// embedding_backward and the SimpleRNN backward pass that adds the table gradient of its token
// ids during the sequential pass.
#pragma once

#include <cstdint>

namespace fastrnn {

// d_embeddings rows [v0, v1) (of D values) += the rows of d_out whose ids (n,) fall in
// [v0, v1), in position order. Other rows are not touched. d_out holds blocks of block_rows
// rows of D values, block_stride elements apart: row i starts at
// (i / block_rows) * block_stride + (i % block_rows) * D.
template <typename T>
void embedding_scatter_range(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t n,
                             int64_t D, int64_t v0, int64_t v1, int64_t block_rows,
                             int64_t block_stride);

}  // namespace fastrnn
