// The per-instruction-set kernels. The same source (isa_kernels.cpp) is compiled once per
// instruction set with its own target flags; dispatch.cpp picks one table at run time.
#pragma once

#include <cstdint>

#include "fastrnn/activation.hpp"

namespace fastrnn {

template <typename T>
struct IsaKernels {
    const char* name;
    int mr;  // split rows between threads in multiples of this, so results never depend on the split
    int nr;  // columns of the GEMM register tile
    int lanes;  // elements of T in one vector register

    // C (M, N) = init + A (M, K) . B (K, N), then C = act(C) when act != Linear.
    // init is bias (N,) broadcast over rows when bias != nullptr, else C itself when
    // accumulate, else zero. A's element (i, k) is A[i * rs_a + k * cs_a]; rows of B and C are
    // contiguous with leading dimensions ldb and ldc. Every element is accumulated in k order,
    // so a row's result does not depend on how rows are split between calls or threads.
    void (*gemm)(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B,
                 int64_t ldb, const T* bias, int64_t M, int64_t N, int64_t K, bool accumulate,
                 Activation act);

    // C (M, N) = act(rows[i] + bias + A . B): gemm whose initial sums are rows anywhere in
    // memory (row i's N values start at rows[i]; M pointers), e.g. an embedding-fed layer's
    // table rows read through token ids, not copied into C first. The same bits as copying
    // rows[i] + bias into C and gemm with accumulate. A's rows rs_a apart (contiguous); A and
    // B are not read when K = 0 (then C = act(rows + bias)); bias may be nullptr.
    void (*gemm_rows)(T* C, int64_t ldc, const T* const* rows, const T* A, int64_t rs_a,
                      const T* B, int64_t ldb, const T* bias, int64_t M, int64_t N, int64_t K,
                      Activation act);

    // C (M, N) += A_0 . B_0 + A_1 . B_1 + ... for `runs` products (M, K) . (K, N), added in
    // run then k order: A_o = A + o * run_a (elements as in gemm), B_o = B + o * run_b (rows
    // ldb apart). The same bits as `runs` gemm calls with accumulate, in one pass over C and
    // one call (the in-pass weight gradients add a group's samples, a run each).
    void (*gemm_runs)(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, int64_t run_a,
                      const T* B, int64_t ldb, int64_t run_b, int64_t M, int64_t N, int64_t K,
                      int64_t runs);

    // One row, C (1, N) = init + A (1, K) . B (K, N), then act: the same contract as gemm with
    // M = 1, but k is split into independent chains (a different summation order), which
    // hides the FMA latency. Use it only where every call for the same problem has one row
    // (a batch of one sample), so results never depend on the thread split.
    void (*gemv)(T* C, const T* A, int64_t cs_a, const T* B, int64_t ldb, const T* bias,
                 int64_t N, int64_t K, bool accumulate, Activation act);

    // A lone sample through `steps` steps of a recurrence, each gemv's arithmetic: row s of C
    // (N,) = act(C_s + C_{s-1} . B) for s in [0, steps), rows ldc apart (negative: backwards
    // in memory); C_{-1} = A (N,), or nullptr for zeros (then row 0 = act(C_0)); B (N, N)
    // row-major. One call runs a block of steps.
    void (*gemv_steps)(T* C, int64_t ldc, const T* A, const T* B, int64_t N, int64_t steps,
                       Activation act);

    // x (n,) = act(x), in place.
    void (*activation_forward)(T* x, int64_t n, Activation act);

    // One backward step for `rows` rows: delta = (g_next + dout + carry) * act'(.), the
    // derivative expressed through the activation's output y. delta, dout and y rows are
    // ld_seq apart, g_next and carry rows ld_row apart; each row has n elements. dout and carry
    // may be nullptr; carry is reset to zero after use. y_ahead and delta_ahead (elements, 0
    // for none): the offsets of the y rows a later step reads, prefetched row by row, and of
    // the delta rows it writes, prefetched for writing.
    void (*step_delta)(T* delta, const T* g_next, const T* dout, T* carry, const T* y,
                       int64_t rows, int64_t n, int64_t ld_seq, int64_t ld_row, int64_t y_ahead,
                       int64_t delta_ahead, Activation act);

    // A backward step's state gradient and the previous step's delta in one pass, for rows
    // without masks, output gradients or carries: delta (M, N) = (A (M, K) . B (K, N)) *
    // act'(Y), A's rows rs_a apart (contiguous), Y (M, N) rows ldy apart, delta's ldd. The same
    // bits as gemm (Linear) into a buffer and step_delta on it. y_ahead and delta_ahead as in
    // step_delta.
    void (*gemm_delta)(T* delta, int64_t ldd, const T* A, int64_t rs_a, const T* B, int64_t ldb,
                       const T* Y, int64_t ldy, int64_t M, int64_t N, int64_t K, int64_t y_ahead,
                       int64_t delta_ahead, Activation act);

    // d_embeddings rows [v0, v1) (of D values) += the rows of d_out whose ids (n,) fall in
    // [v0, v1), in position order; other rows are not touched. d_out holds blocks of
    // block_rows rows of D values, block_stride elements apart: row i starts at
    // (i / block_rows) * block_stride + (i % block_rows) * D. Elementwise adds: the same bits
    // on every instruction set.
    void (*scatter_rows)(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t n,
                         int64_t D, int64_t v0, int64_t v1, int64_t block_rows,
                         int64_t block_stride);
};

// One table per instruction set; each returns nullptr when the build lacks that variant.
namespace isa_avx512 { const IsaKernels<float>* kernels_f32(); const IsaKernels<double>* kernels_f64(); }
namespace isa_avx2 { const IsaKernels<float>* kernels_f32(); const IsaKernels<double>* kernels_f64(); }
namespace isa_generic { const IsaKernels<float>* kernels_f32(); const IsaKernels<double>* kernels_f64(); }

}  // namespace fastrnn
