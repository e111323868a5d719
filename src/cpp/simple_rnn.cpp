// SimpleRNN forward pass and backpropagation through time.
//
// Threads split the batch, taking groups of samples block by block of steps at run time (no
// barrier between time steps, a faster core takes more blocks); with few samples and many units
// they split the units instead (one barrier per step); a lone sample runs on one thread, blocks
// of steps per kernel call. Weight gradients are computed after the sequential pass as large
// products over fixed chunks of rows, reduced in chunk order (an embedding-fed layer adds them
// up during the pass, per fixed group of samples), so the result is bit-identical whatever the
// thread count.

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "fastrnn/blas.hpp"
#include "fastrnn/dispatch.hpp"
#include "fastrnn/kernels.hpp"
#include "fastrnn/parallel.hpp"
#include "fastrnn/partial_sums.hpp"
#include "fastrnn/pipeline.hpp"

namespace fastrnn {
namespace {

// Steps whose input projection is computed together: a multiple of every ISA's tile rows
// (4, 6, 8), so the projection of a block has no partial tiles.
constexpr int64_t kTimeBlock = 24;

// Scratch buffers of the calling thread, kept between calls: a fresh multi-megabyte buffer per
// call costs page faults and zeroing comparable to the work itself. Buffers above 64 MiB are
// released at the end of each call so a one-off huge call does not pin its memory.
enum Slot : int { kInputs, kRows, kDelta, kPartial, kPrevious, kSlotCount };

template <typename T>
std::vector<T>& workspace(Slot slot) {
    thread_local std::vector<T> buffers[kSlotCount];
    return buffers[slot];
}

// Token ids reordered like time-major states.
inline std::vector<int64_t>& id_workspace() {
    thread_local std::vector<int64_t> ids;
    return ids;
}

// Samples [b0, b1) of the token ids (B, T) into by_time (T, B), the order of time-major rows:
// 64 times at a time, so that the 64 rows being filled stay in L1 while each sample writes
// its column (one sample's whole column touched a new line per element).
inline void ids_by_time(const int64_t* __restrict ids, int64_t B, int64_t T, int64_t b0,
                        int64_t b1, int64_t* __restrict by_time) {
    constexpr int64_t kTimes = 64;
    for (int64_t t0 = 0; t0 < T; t0 += kTimes) {
        const int64_t t1 = std::min(T, t0 + kTimes);
        for (int64_t b = b0; b < b1; ++b)
            for (int64_t t = t0; t < t1; ++t) by_time[t * B + b] = ids[b * T + t];
    }
}

template <typename T>
void trim_workspaces() {
    constexpr size_t limit = (size_t(64) << 20) / sizeof(T);
    for (int s = 0; s < kSlotCount; ++s) {
        std::vector<T>& v = workspace<T>(static_cast<Slot>(s));
        if (v.capacity() > limit) std::vector<T>().swap(v);
    }
    if (id_workspace().capacity() > (size_t(64) << 20) / sizeof(int64_t))
        std::vector<int64_t>().swap(id_workspace());
}

// Rows of one OpenBLAS call: calls always cover the same fixed row blocks, whatever the thread
// count, because OpenBLAS may pick its kernels by the size of a call. Small blocks for the
// per-step products (a thread owns few rows), large ones for the products over all time steps
// (each call packs the whole right-hand operand).
constexpr int64_t kBlasRows = 32;
constexpr int64_t kBlasRowsLarge = 256;

// C = [C or bias or 0] + op(A) . B, then act (IsaKernels::gemm's contract): OpenBLAS for the
// large products of wide layers, the engine's GEMM (which fuses bias and activation) otherwise.
template <typename T>
void product(const IsaKernels<T>& K, T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a,
             const T* B, int64_t ldb, const T* bias, int64_t M, int64_t N, int64_t Kd,
             bool accumulate, Activation act, int64_t blas_rows = kBlasRows) {
    if (!blas_worthwhile(N, Kd, rs_a, cs_a)) {
        K.gemm(C, ldc, A, rs_a, cs_a, B, ldb, bias, M, N, Kd, accumulate, act);
        return;
    }
    if (bias) {
        for (int64_t i = 0; i < M; ++i)
            std::memcpy(C + i * ldc, bias, static_cast<size_t>(N) * sizeof(T));
        accumulate = true;
    }
    for (int64_t i = 0; i < M; i += blas_rows)
        blas_gemm(C + i * ldc, ldc, A + i * rs_a, rs_a, cs_a, B, ldb, std::min(blas_rows, M - i),
                  N, Kd, accumulate);
    if (act != Activation::Linear)
        for (int64_t i = 0; i < M; ++i) K.activation_forward(C + i * ldc, N, act);
}

// Granularity of every split of product rows between threads: the tile rows of the engine's
// GEMM (K.mr, for efficiency: its per-element arithmetic does not depend on the tiling), or
// whole OpenBLAS blocks when the layer is wide enough for OpenBLAS, so that every OpenBLAS call
// covers the same rows whatever the thread count.
template <typename T>
int64_t row_split(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p,
                  int64_t blas_rows = kBlasRows) {
    return blas_available() && p.H >= 128 ? blas_rows : K.mr;
}

// Input time of processing step s.
inline int64_t input_time(int64_t s, int64_t T, bool backwards) { return backwards ? T - 1 - s : s; }

// First input time of processing steps [s0, s1): they read input times [t, t + s1 - s0).
inline int64_t first_input_time(int64_t s0, int64_t s1, int64_t T, bool backwards) {
    return backwards ? T - s1 : s0;
}

// The saved states, and the backward pass's deltas, are (B, T, H), or time-major
// (T, time_major_step): each step's rows contiguous, so a thread's rows of one step are one
// block instead of rows T*H apart (lecture model: forward 1.07-1.18x, backward 1.06-1.1x).
// Offset of the row of sample b at input time t:
template <typename T>
inline int64_t state_row(const SimpleRnnProblem<T>& p, int64_t b, int64_t t) {
    return p.time_major_step ? t * p.time_major_step + b * p.H : (b * p.T + t) * p.H;
}

// Distance between the rows of consecutive samples at one input time.
template <typename T>
inline int64_t sample_stride(const SimpleRnnProblem<T>& p) {
    return p.time_major_step ? p.H : p.T * p.H;
}

// Distance between the rows of consecutive input times of one sample.
template <typename T>
inline int64_t time_stride(const SimpleRnnProblem<T>& p) {
    return p.time_major_step ? p.time_major_step : p.H;
}

// Elements of the states (and of the deltas).
template <typename T>
inline int64_t states_size(const SimpleRnnProblem<T>& p) {
    return p.time_major_step ? p.T * p.time_major_step : p.B * p.T * p.H;
}

// x * m_x (B, T, F), or x itself when there is no input dropout mask.
template <typename T>
const T* masked_inputs(const SimpleRnnProblem<T>& p, std::vector<T>& storage) {
    if (!p.input_dropout_mask) return p.x;
    storage.resize(static_cast<size_t>(p.B * p.T * p.F));
    T* out = storage.data();
    parallel_region(p.threads, [&](int tid, int nt) {
        int64_t b0, b1;
        split_range(p.B, 1, tid, nt, b0, b1);
        for (int64_t b = b0; b < b1; ++b)
            for (int64_t t = 0; t < p.T; ++t) {
                const T* xr = p.x + (b * p.T + t) * p.F;
                const T* m = p.input_dropout_mask + b * p.F;
                T* o = out + (b * p.T + t) * p.F;
                for (int64_t f = 0; f < p.F; ++f) o[f] = xr[f] * m[f];
            }
    });
    return out;
}

// Rows [b0, b1) of the state before processing step s: pointer and row stride, or nullptr for
// zeros. `raw` ignores the recurrent dropout mask.
template <typename T>
const T* previous_state(const SimpleRnnProblem<T>& p, const T* states, int64_t s, int64_t b0,
                        int64_t& stride) {
    if (s == 0) {
        stride = p.H;
        return p.initial_state ? p.initial_state + b0 * p.H : nullptr;
    }
    stride = sample_stride(p);
    return states + state_row(p, b0, input_time(s - 1, p.T, p.go_backwards));
}

// Rows [b0, b0 + nb) of prev (stride `stride`) times the recurrent dropout mask into out (nb, H).
template <typename T>
void apply_recurrent_mask(const SimpleRnnProblem<T>& p, const T* prev, int64_t stride,
                          int64_t b0, int64_t nb, T* out) {
    for (int64_t i = 0; i < nb; ++i) {
        const T* m = p.recurrent_dropout_mask + (b0 + i) * p.H;
        const T* h = prev + i * stride;
        T* o = out + i * p.H;
        for (int64_t j = 0; j < p.H; ++j) o[j] = h[j] * m[j];
    }
}

// Masked rows of the step at input time t keep the previous state: rows h (row stride ld),
// previous state prev (stride prev_ld, nullptr for zeros), columns [j0, j1).
template <typename T>
void keep_masked_rows(const SimpleRnnProblem<T>& p, T* h, int64_t ld, const T* prev,
                      int64_t prev_ld, int64_t t, int64_t b0, int64_t nb, int64_t j0, int64_t j1) {
    if (!p.mask) return;
    const size_t width = static_cast<size_t>(j1 - j0) * sizeof(T);
    for (int64_t i = 0; i < nb; ++i) {
        if (p.mask[(b0 + i) * p.T + t]) continue;
        if (prev) std::memcpy(h + i * ld + j0, prev + i * prev_ld + j0, width);
        else std::memset(h + i * ld + j0, 0, width);
    }
}

// Outputs (B, T, H) of steps [s0, s1) for rows [b0, b0+nb), columns [j0, j1), from the
// finished states: a masked step outputs zeros (zero_output_for_mask, or at the first step)
// or the previous output.
template <typename T>
void write_outputs(const SimpleRnnProblem<T>& p, T* outputs, const T* states, int64_t s0,
                   int64_t s1, int64_t b0, int64_t nb, int64_t j0, int64_t j1) {
    const size_t width = static_cast<size_t>(j1 - j0) * sizeof(T);
    for (int64_t b = b0; b < b0 + nb; ++b)
        for (int64_t s = s0; s < s1; ++s) {
            const int64_t t = input_time(s, p.T, p.go_backwards);
            T* o = outputs + (b * p.T + s) * p.H + j0;
            if (!p.mask || p.mask[b * p.T + t]) std::memcpy(o, states + state_row(p, b, t) + j0, width);
            else if (p.zero_output_for_mask || s == 0) std::memset(o, 0, width);
            else std::memcpy(o, o - p.H, width);
        }
}

// `count` rows from row r0 of the (B*T, H) input projection x~ . kernel + bias into dst (row
// stride ldc); without a kernel (projected_inputs) only the bias is added to the rows of x, or
// to the table rows that token_ids name.
template <typename T>
void project_rows(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* xin, int64_t r0,
                  int64_t count, T* dst, int64_t ldc, int64_t blas_rows = kBlasRows) {
    if (!p.projected_inputs) {
        product<T>(K, dst, ldc, xin + r0 * p.F, p.F, 1, p.kernel, p.H, p.bias, count, p.H, p.F,
                   false, Activation::Linear, blas_rows);
        return;
    }
    constexpr int64_t ahead = 8;  // table rows are random reads: prefetch a few rows ahead
    for (int64_t r = 0; r < count; ++r) {
        if (p.token_ids && r + ahead < count) {
            const T* next = xin + p.token_ids[r0 + r + ahead] * p.H;
            for (int64_t j = 0; j < p.H; j += 64 / static_cast<int64_t>(sizeof(T)))
                __builtin_prefetch(next + j);
        }
        T* d = dst + r * ldc;
        const T* src = xin + (p.token_ids ? p.token_ids[r0 + r] : r0 + r) * p.H;
        if (p.bias)
            for (int64_t j = 0; j < p.H; ++j) d[j] = src[j] + p.bias[j];
        else
            std::memcpy(d, src, static_cast<size_t>(p.H) * sizeof(T));
    }
}

// The input rows of samples [b0, b1), input times [t0, t0 + n) read through token ids: table
// rows plus bias into their rows of `states`, written in the order of states (time-major: a
// step's rows, then the next step's). The reads are random and bound by their latency: each is
// prefetched kGatherAhead rows before (per-sample calls left the first rows of every sample
// unprefetched).
template <typename T>
void gather_token_rows(const SimpleRnnProblem<T>& p, const T* table, int64_t b0, int64_t b1,
                       int64_t t0, int64_t n, T* states) {
    constexpr int64_t kGatherAhead = 8;
    const int64_t H = p.H;
    // A cursor over the write order: (sample, time) pairs, time-major or sample-major.
    struct Cursor {
        int64_t b, t;
    };
    auto advance = [&](Cursor& c) {
        if (p.time_major_step) {
            if (++c.b == b1) { c.b = b0; ++c.t; }
        } else if (++c.t == t0 + n) {
            c.t = t0;
            ++c.b;
        }
    };
    const int64_t count = (b1 - b0) * n;
    Cursor at{b0, t0}, ahead{b0, t0};
    for (int64_t k = 0; k < kGatherAhead && k < count; ++k) advance(ahead);
    for (int64_t k = 0; k < count; ++k, advance(at)) {
        if (k + kGatherAhead < count) {
            const T* row = table + p.token_ids[ahead.b * p.T + ahead.t] * H;
            for (int64_t j = 0; j < H; j += 64 / static_cast<int64_t>(sizeof(T)))
                __builtin_prefetch(row + j);
            advance(ahead);
        }
        T* __restrict d = states + state_row(p, at.b, at.t);
        const T* __restrict src = table + p.token_ids[at.b * p.T + at.t] * H;
        if (p.bias)
            for (int64_t j = 0; j < H; ++j) d[j] = src[j] + p.bias[j];
        else
            std::memcpy(d, src, static_cast<size_t>(H) * sizeof(T));
    }
}

// The whole (B*T, H) projection at once, threads taking fixed blocks of rows: for layers whose
// projection goes to OpenBLAS, which repacks the kernel in every call (per-sample calls of a
// few steps spent more time packing than multiplying).
template <typename T>
bool project_up_front(const SimpleRnnProblem<T>& p) {
    return !p.projected_inputs && blas_worthwhile(p.H, p.F, p.F, 1);
}

// The fixed blocks of kBlasRowsLarge rows that project_share hands out.
template <typename T>
int64_t projection_blocks(const SimpleRnnProblem<T>& p) {
    return (p.B * p.T + kBlasRowsLarge - 1) / kBlasRowsLarge;
}

// A thread's share of the whole projection into `states`: runs of fixed blocks of
// kBlasRowsLarge rows from `blocks` (a WorkQueue over them), or whole samples with time-major
// states (projected inputs only: no product).
template <typename T>
void project_share(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* xin,
                   T* states, WorkQueue& blocks, int tid, int nt) {
    if (p.time_major_step) {
        int64_t b0, b1;
        split_range(p.B, 1, tid, nt, b0, b1);
        for (int64_t b = b0; b < b1; ++b)
            project_rows(K, p, xin, b * p.T, p.T, states + state_row(p, b, 0), time_stride(p));
        return;
    }
    const int64_t R = p.B * p.T;
    int64_t k0, k1;
    while (blocks.next(k0, k1)) {
        const int64_t r0 = k0 * kBlasRowsLarge, r1 = std::min(R, k1 * kBlasRowsLarge);
        project_rows(K, p, xin, r0, r1 - r0, states + r0 * p.H, p.H, kBlasRowsLarge);
    }
}

// The previous states that a step of rows [b0, b0+nb) multiplies: prev itself (rows prev_ld
// apart, nullptr for zeros), or prev times the recurrent dropout mask in `scratch` (nb, H),
// prev_ld then H.
template <typename T>
const T* dropped_previous(const SimpleRnnProblem<T>& p, const T* prev, int64_t& prev_ld,
                          int64_t b0, int64_t nb, T* scratch) {
    if (!prev || !p.recurrent_dropout_mask) return prev;
    apply_recurrent_mask(p, prev, prev_ld, b0, nb, scratch);
    prev_ld = p.H;
    return scratch;
}

// The recurrent part of one step for rows [b0, b0+nb), columns [j0, j1): rows h (stride ld)
// hold the input projection and become the new state; prev (stride prev_ld) is the state
// before the step, nullptr for zeros.
template <typename T>
void recurrent_rows(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, T* h, int64_t ld,
                    const T* prev, int64_t prev_ld, int64_t b0, int64_t nb, int64_t j0,
                    int64_t j1, T* scratch) {
    T* C = h + j0;
    if (!prev) {
        for (int64_t i = 0; i < nb; ++i) K.activation_forward(C + i * ld, j1 - j0, p.activation);
        return;
    }
    prev = dropped_previous(p, prev, prev_ld, b0, nb, scratch);
    if (p.B == 1)  // a lone sample: latency-bound, see IsaKernels::gemv
        K.gemv(C, prev, 1, p.recurrent_kernel + j0, p.H, nullptr, j1 - j0, p.H, true,
               p.activation);
    else
        product<T>(K, C, ld, prev, prev_ld, 1, p.recurrent_kernel + j0, p.H, nullptr, nb,
                   j1 - j0, p.H, true, p.activation);
}

// Whether forward_rows reads the table rows of token ids where they are, in the step's
// product (step_from_table), instead of copying them into states first (gather_token_rows):
// batches whose step product is the engine's GEMM (not OpenBLAS). Same bits; lecture-model
// forward 1.09-1.17x at 1 thread, 1.21-1.31x at 2 (tools/ab_builds.py, two runs): the copy
// wrote every state row twice and read it back.
template <typename T>
bool table_rows_in_place(const SimpleRnnProblem<T>& p) {
    return p.token_ids && p.B > 1 && !blas_worthwhile(p.H, p.H, p.H, 1);
}

// One step of rows [b0, b0 + nb) at input time t whose inputs are table rows read through
// token ids (table_rows_in_place): h (rows ld apart) = act(table[id] + bias + prev .
// recurrent_kernel), prev (rows prev_ld apart) nullptr for zeros; `rows` holds nb pointers,
// `masked` (nb, H) the previous state times the recurrent dropout mask. Prefetching the next
// step's table rows made the forward 1.02-1.04x slower.
template <typename T>
void step_from_table(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* table,
                     T* h, int64_t ld, const T* prev, int64_t prev_ld, int64_t b0, int64_t nb,
                     int64_t t, const T** rows, T* masked) {
    for (int64_t i = 0; i < nb; ++i) rows[i] = table + p.token_ids[(b0 + i) * p.T + t] * p.H;
    prev = dropped_previous(p, prev, prev_ld, b0, nb, masked);
    K.gemm_rows(h, ld, rows, prev, prev_ld, p.recurrent_kernel, p.H, p.bias, nb, p.H,
                prev ? p.H : 0, p.activation);
}

// Rows [b0, b1) through steps [s0, s1), their input projection first (unless it was computed
// before, see project_up_front, or is read in place, see table_rows_in_place); `masked`
// holds (b1 - b0, H) for the recurrent dropout.
template <typename T>
void forward_rows(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* xin,
                  T* outputs, T* states, int64_t b0, int64_t b1, int64_t s0, int64_t s1,
                  bool up_front, T* masked) {
    const int64_t nb = b1 - b0, ld = sample_stride(p);
    const int64_t t_lo = first_input_time(s0, s1, p.T, p.go_backwards);
    const bool in_place = table_rows_in_place(p);
    std::vector<const T*> rows(in_place ? static_cast<size_t>(nb) : 0);  // per block: none kept
    if (in_place) {
        // no input projection: each step reads its table rows
    } else if (p.token_ids) {
        gather_token_rows(p, xin, b0, b1, t_lo, s1 - s0, states);
    } else if (!up_front) {
        for (int64_t b = b0; b < b1; ++b)
            project_rows(K, p, xin, b * p.T + t_lo, s1 - s0, states + state_row(p, b, t_lo),
                         time_stride(p));
    }
    for (int64_t s = s0; s < s1; ++s) {
        const int64_t t = input_time(s, p.T, p.go_backwards);
        int64_t prev_ld;
        const T* prev = previous_state(p, states, s, b0, prev_ld);
        T* h = states + state_row(p, b0, t);
        if (in_place)
            step_from_table(K, p, xin, h, ld, prev, prev_ld, b0, nb, t, rows.data(), masked);
        else
            recurrent_rows(K, p, h, ld, prev, prev_ld, b0, nb, 0, p.H, masked);
        keep_masked_rows(p, h, ld, prev, prev_ld, t, b0, nb, 0, p.H);
    }
    if (outputs && outputs != states) write_outputs(p, outputs, states, s0, s1, b0, nb, 0, p.H);
}

// Threads split the batch in groups of samples (group_bounds, in tiles of row_split rows),
// block by block of kTimeBlock steps (the block's input projection first, or all at once
// before, see project_up_front): a free thread runs the next block of the group furthest
// behind (BlockChains). A fixed split waits for the slower core: on a shared machine one core
// ran the same work up to 1.4x slower than the other, on and off within seconds. A row's
// arithmetic does not depend on the rows it runs with, so the bits do not depend on who ran
// which block.
template <typename T>
void forward_split_batch(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* xin,
                         T* outputs, T* states, int threads, std::vector<T>& scratch) {
    const int64_t split = row_split(K, p);
    const std::vector<int64_t> bounds = group_bounds((p.B + split - 1) / split, threads);
    BlockChains chains(static_cast<int64_t>(bounds.size()) - 1,
                       (p.T + kTimeBlock - 1) / kTimeBlock);
    if (p.recurrent_dropout_mask) scratch.resize(static_cast<size_t>(threads * p.B * p.H));
    const bool up_front = project_up_front(p);
    WorkQueue blocks(projection_blocks(p), threads);
    parallel_region(threads, [&](int tid, int nt) {
        if (up_front) {
            project_share(K, p, xin, states, blocks, tid, nt);
            thread_barrier();
        }
        T* masked = scratch.data() + tid * p.B * p.H;
        int64_t g, k;
        while (chains.next(g, k)) {
            const int64_t s0 = k * kTimeBlock;
            forward_rows(K, p, xin, outputs, states, bounds[g] * split,
                         std::min(p.B, bounds[g + 1] * split), s0, std::min(p.T, s0 + kTimeBlock),
                         up_front, masked);
            chains.finish(g, k);
        }
    });
}

// Steps [s0, s1) of a lone sample (B = 1) whose input projection is in `states`: step by step
// while a step needs the mask or the recurrent dropout mask, the plain steps in one gemv_steps
// call (the same arithmetic as gemv per step).
template <typename T>
void recurrent_steps(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, T* states,
                     int64_t s0, int64_t s1, T* scratch) {
    if (!p.mask && !p.recurrent_dropout_mask) {
        int64_t prev_ld;
        const T* prev = previous_state(p, states, s0, 0, prev_ld);
        K.gemv_steps(states + input_time(s0, p.T, p.go_backwards) * p.H,
                     p.go_backwards ? -p.H : p.H, prev, p.recurrent_kernel, p.H, s1 - s0,
                     p.activation);
        return;
    }
    for (int64_t s = s0; s < s1; ++s) {
        int64_t prev_ld;
        const T* prev = previous_state(p, states, s, 0, prev_ld);
        const int64_t t = input_time(s, p.T, p.go_backwards);
        T* h = states + t * p.H;
        recurrent_rows(K, p, h, p.H, prev, prev_ld, 0, 1, 0, p.H, scratch);
        keep_masked_rows(p, h, p.H, prev, prev_ld, t, 0, 1, 0, p.H);
    }
}

// A lone sample: its recurrence is bound by the latency of each step, so one thread runs it,
// block by block of kTimeBlock steps: the block's input projection, then its steps in one
// kernel call. With two threads or more, a helper thread projects blocks ahead
// (pipeline_blocks; the caller projects a block itself when the helper has not reached it, so
// a sleeping helper never delays the call): the same blocks, so the same bits as one thread.
// Measured and not kept: an OpenMP worker projecting ahead (a call made after ~0.15 ms of
// other work took 1.2 ms instead of 0.1: the region waited for the worker to wake up), and each
// step's projection inside the step loop (its one-row FMA chain did not overlap with the step
// before: slower than projecting 24 rows in register tiles).
template <typename T>
void forward_one_sample(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* xin,
                        T* outputs, T* states, std::vector<T>& scratch) {
    DenormalsFlushed guard;
    if (p.recurrent_dropout_mask) scratch.resize(static_cast<size_t>(p.H));
    auto steps_of = [&](int64_t block, int64_t& s0, int64_t& s1) {
        s0 = block * kTimeBlock;
        s1 = std::min(p.T, s0 + kTimeBlock);
    };
    auto project = [&](int64_t block) {
        int64_t s0, s1;
        steps_of(block, s0, s1);
        const int64_t t_lo = first_input_time(s0, s1, p.T, p.go_backwards);
        project_rows(K, p, xin, t_lo, s1 - s0, states + t_lo * p.H, p.H);
    };
    auto recur = [&](int64_t block) {
        int64_t s0, s1;
        steps_of(block, s0, s1);
        recurrent_steps(K, p, states, s0, s1, scratch.data());
        if (outputs && outputs != states) write_outputs(p, outputs, states, s0, s1, 0, 1, 0, p.H);
    };
    const bool helper = p.threads > 1 && !p.projected_inputs;  // a copy is not worth a thread
    pipeline_blocks((p.T + kTimeBlock - 1) / kTimeBlock, helper, project, recur);
}

// Threads split the units (few samples, wide layer): one barrier per step.
template <typename T>
void forward_split_units(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* xin,
                         T* outputs, T* states, int threads, std::vector<T>& scratch) {
    if (p.recurrent_dropout_mask) scratch.resize(static_cast<size_t>(threads * p.B * p.H));
    WorkQueue blocks(projection_blocks(p), threads);
    parallel_region(threads, [&](int tid, int nt) {
        project_share(K, p, xin, states, blocks, tid, nt);
        thread_barrier();
        int64_t j0, j1;
        split_range(p.H, K.nr, tid, nt, j0, j1);
        T* mine = scratch.data() + tid * p.B * p.H;
        for (int64_t s = 0; s < p.T; ++s) {
            if (j0 < j1) {
                const int64_t t = input_time(s, p.T, p.go_backwards);
                int64_t prev_ld;
                const T* prev = previous_state(p, states, s, 0, prev_ld);
                T* h = states + state_row(p, 0, t);
                recurrent_rows(K, p, h, sample_stride(p), prev, prev_ld, 0, p.B, j0, j1, mine);
                keep_masked_rows(p, h, sample_stride(p), prev, prev_ld, t, 0, p.B, j0, j1);
                if (outputs && outputs != states)
                    write_outputs(p, outputs, states, s, s + 1, 0, p.B, j0, j1);
            }
            thread_barrier();
        }
    });
}

// Threads that have work when rows are split in tiles of `tile`.
inline int useful_threads(int requested, int64_t items, int64_t tile) {
    const int64_t tiles = (items + tile - 1) / tile;
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(requested, tiles)));
}

// Split units instead of samples when the batch gives too few row tiles for the threads and
// the layer is wide enough for the per-step barrier to pay.
// Never when the recurrent product goes to OpenBLAS: its column slices would depend on the
// thread count.
template <typename T>
bool split_units(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p) {
    const int64_t row_tiles = (p.B + K.mr - 1) / K.mr;
    return p.threads > 1 && row_tiles < p.threads && p.H >= 4 * K.nr &&
           !blas_worthwhile(p.H, p.H, p.H, 1);
}

}  // namespace

template <typename T>
void simple_rnn_forward(const SimpleRnnProblem<T>& problem, T* outputs, T* final_state, T* states) {
    SimpleRnnProblem<T> p = problem;
    p.threads = threads_for_work(p.threads, double(p.B) * p.T * (p.F * p.H + p.H * p.H));
    const IsaKernels<T>& K = kernels_for_layer<T>(p.B, p.H);
    const T* xin = masked_inputs(p, workspace<T>(kInputs));
    std::vector<T>& scratch = workspace<T>(kRows);
    if (split_units(K, p)) {
        forward_split_units(K, p, xin, outputs, states, useful_threads(p.threads, p.H, K.nr),
                            scratch);
    } else if (p.B == 1 && !project_up_front(p)) {
        forward_one_sample(K, p, xin, outputs, states, scratch);
    } else {
        forward_split_batch(K, p, xin, outputs, states,
                            useful_threads(p.threads, p.B, row_split(K, p)), scratch);
    }
    const int64_t t_last = input_time(p.T - 1, p.T, p.go_backwards);
    for (int64_t b = 0; b < p.B; ++b)
        std::memcpy(final_state + b * p.H, states + state_row(p, b, t_last),
                    static_cast<size_t>(p.H) * sizeof(T));
    trim_workspaces<T>();
}

namespace {

// Per-thread buffers of the sequential backward pass, rows [b0, b0+nb), columns [j0, j1).
template <typename T>
struct BackwardRows {
    T* g_next;  // (nb, H) gradient for the state after the current step
    T* g_prev;  // (nb, H) gradient for the state before it
    T* carry;   // (nb, H) output gradients of masked steps waiting for the last valid step
};

// Steps ahead whose states the backward pass prefetches: they are T*H apart, too many streams
// for the hardware prefetchers, and were last touched long ago.
constexpr int64_t kPrefetchSteps = 2;

// Steps whose weight gradients an embedding-fed layer adds at a time (see accumulate_block),
// and the same with a ring of deltas (see TableScatter), whose two blocks should stay in
// cache: lecture-model backward 1.09-1.13x (2 threads), 1.1-1.2x (1 thread) with blocks of 24
// instead of 48 steps; 16 and 12 about the same as 24, 8 worse. Once the steps were fused
// (fused_step: the last step of a block is not), 16 read 1.02-1.04x faster than 24 in three
// tools/ab_builds.py runs (1 and 2 threads), 12 0.99-1.02x, 32 0.97x. Without the barrier
// per block (three blocks in the ring, see TableScatter), longer blocks won at 2 threads:
// 24 and 32 steps 1.02-1.03x faster than 16 (interleaved in one process), 48 and 64 slower;
// at 1 thread 16 and 24 the same, 32 and 48 1.5% slower.
constexpr int64_t kGradientSteps = 48;
constexpr int64_t kRingSteps = 24;
constexpr int64_t kRingSlots = 3;

// Where the sequential pass writes delta: rows laid out like the states, or, for a layer
// whose weight and table gradients are all added during the pass (TableScatter), only the
// kRingSlots blocks of kRingSteps steps in use, in turn: the rest is never read again.
template <typename T>
struct Deltas {
    T* base;
    bool ring;
    int64_t steps;  // steps of a block of weight gradients (kRingSteps in a ring)

    // The row of sample b at input time t.
    T* row(const SimpleRnnProblem<T>& p, int64_t b, int64_t t) const {
        if (!ring) return base + state_row(p, b, t);
        const int64_t block = input_time(t, p.T, p.go_backwards) / steps;
        const int64_t s_hi = std::min(p.T, (block + 1) * steps);
        const int64_t t_a = first_input_time(block * steps, s_hi, p.T, p.go_backwards);
        return base + ((block % kRingSlots) * steps + (t - t_a)) * p.time_major_step + b * p.H;
    }
};

// The rows of states and delta kPrefetchSteps steps after step s, as offsets from those of
// step s (0: none), prefetched as step s runs (lecture-model backward with a ring of deltas:
// 1.04x at 2 threads, 1.1x at 1).
template <typename T>
void rows_ahead(const SimpleRnnProblem<T>& p, const Deltas<T>& delta, int64_t s, int64_t b0,
                int64_t& ahead, int64_t& delta_ahead) {
    ahead = delta_ahead = 0;
    if (s < kPrefetchSteps) return;
    const int64_t t = input_time(s, p.T, p.go_backwards);
    const int64_t t_ahead = input_time(s - kPrefetchSteps, p.T, p.go_backwards);
    ahead = (t_ahead - t) * time_stride(p);
    delta_ahead = delta.ring ? delta.row(p, b0, t_ahead) - delta.row(p, b0, t) : ahead;
}

// delta rows of step s from the gradients reaching it (columns [j0, j1)).
template <typename T>
void step_deltas(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* states,
                 const T* d_outputs, const Deltas<T>& delta, int64_t s, int64_t b0, int64_t nb,
                 int64_t j0, int64_t j1, const BackwardRows<T>& w) {
    const int64_t t = input_time(s, p.T, p.go_backwards);
    const int64_t n = j1 - j0, seq = sample_stride(p);
    const int64_t first = state_row(p, b0, t) + j0;
    T* d0 = delta.row(p, b0, t) + j0;  // delta rows share the row stride of states
    // d_outputs (B, T, H) shares the row stride of states (time-major states have none).
    const T* dout = d_outputs ? d_outputs + (b0 * p.T + s) * p.H + j0 : nullptr;
    int64_t ahead, delta_ahead;
    rows_ahead(p, delta, s, b0, ahead, delta_ahead);
    if (!p.mask) {
        K.step_delta(d0, w.g_next + j0, dout, nullptr, states + first, nb, n, seq, p.H, ahead,
                     delta_ahead, p.activation);
        return;
    }
    for (int64_t i = 0; i < nb; ++i) {
        T* carry = w.carry ? w.carry + i * p.H + j0 : nullptr;
        const T* dv = dout ? dout + i * seq : nullptr;
        T* d = d0 + i * seq;
        if (p.mask[(b0 + i) * p.T + t]) {
            K.step_delta(d, w.g_next + i * p.H + j0, dv, carry, states + first + i * seq, 1, n,
                         seq, p.H, ahead, delta_ahead, p.activation);
            continue;
        }
        std::memset(d, 0, static_cast<size_t>(n) * sizeof(T));
        if (carry && dv)
            for (int64_t j = 0; j < n; ++j) carry[j] += dv[j];
    }
}

// g_prev rows = (delta_s . recurrent_kernel^T) * m_h, or g_next where the step was masked.
template <typename T>
void step_state_gradient(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p,
                         const Deltas<T>& delta, const T* rec_t, int64_t s, int64_t b0,
                         int64_t nb, int64_t j0, int64_t j1, const BackwardRows<T>& w) {
    const int64_t t = input_time(s, p.T, p.go_backwards);
    const T* d = delta.row(p, b0, t);
    if (p.B == 1)  // a lone sample: latency-bound, see IsaKernels::gemv
        K.gemv(w.g_prev + j0, d, 1, rec_t + j0, p.H, nullptr, j1 - j0, p.H, false,
               Activation::Linear);
    else
        product<T>(K, w.g_prev + j0, p.H, d, sample_stride(p), 1, rec_t + j0, p.H, nullptr, nb,
                   j1 - j0, p.H, false, Activation::Linear);
    for (int64_t i = 0; i < nb; ++i) {
        const int64_t b = b0 + i;
        T* gp = w.g_prev + i * p.H;
        if (p.mask && !p.mask[b * p.T + t]) {
            std::memcpy(gp + j0, w.g_next + i * p.H + j0, static_cast<size_t>(j1 - j0) * sizeof(T));
        } else if (p.recurrent_dropout_mask) {
            const T* m = p.recurrent_dropout_mask + b * p.H;
            for (int64_t j = j0; j < j1; ++j) gp[j] *= m[j];
        }
    }
}

// Rows whose steps may run as one gemm_delta call each (fused_step): no masks, output
// gradients, carries or recurrent dropout, and more than one sample (a lone one takes gemv).
// Also where the two-pass step's product goes to OpenBLAS (H >= 128): the engine's GEMM with
// the fused epilogue was 1.09-1.11x faster at H = 512 (backward, 1 and 2 threads) and gave
// the same time and bits at H = 128.
template <typename T>
bool fuse_steps(const SimpleRnnProblem<T>& p, const T* d_outputs) {
    return p.B > 1 && !p.mask && !d_outputs && !p.recurrent_dropout_mask;
}

// Step s's state gradient, delta_s . recurrent_kernel^T, goes straight into step s - 1's
// delta rows (times act' of its states) in the GEMM's epilogue, instead of through g_prev
// and step_deltas: the same bits, one pass and one call less per step, and a shorter chain
// from one step to the next (tools/ab_builds.py: backward 1.18-1.20x for the lecture model
// and (128, 500, 32), 1 and 2 threads).
template <typename T>
void fused_step(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* states,
                const Deltas<T>& delta, const T* rec_t, int64_t s, int64_t b0, int64_t nb) {
    const int64_t t = input_time(s, p.T, p.go_backwards);
    const int64_t t_prev = input_time(s - 1, p.T, p.go_backwards);
    const int64_t seq = sample_stride(p);
    int64_t ahead, delta_ahead;
    rows_ahead(p, delta, s - 1, b0, ahead, delta_ahead);
    K.gemm_delta(delta.row(p, b0, t_prev), seq, delta.row(p, b0, t), seq, rec_t, p.H,
                 states + state_row(p, b0, t_prev), seq, nb, p.H, p.H, ahead, delta_ahead,
                 p.activation);
}

// Buffers of every row of the batch (B, H) each in `buf`, shared by all threads.
template <typename T>
BackwardRows<T> all_rows(std::vector<T>& buf, int64_t B, int64_t H, bool carry) {
    const int64_t n = B * H;
    buf.resize(static_cast<size_t>(n * (carry ? 3 : 2)));
    return BackwardRows<T>{buf.data(), buf.data() + n, carry ? buf.data() + 2 * n : nullptr};
}

template <typename T>
void init_rows(const SimpleRnnProblem<T>& p, const T* d_final_state, int64_t b0, int64_t nb,
               int64_t j0, int64_t j1, const BackwardRows<T>& w) {
    const size_t width = static_cast<size_t>(j1 - j0) * sizeof(T);
    for (int64_t i = 0; i < nb; ++i) {
        if (d_final_state) std::memcpy(w.g_next + i * p.H + j0, d_final_state + (b0 + i) * p.H + j0, width);
        else std::memset(w.g_next + i * p.H + j0, 0, width);
        if (w.carry) std::memset(w.carry + i * p.H + j0, 0, width);
    }
}

// Weight gradients of an embedding's SimpleRNN (projected inputs: no dkernel), accumulated
// during the sequential pass: every kGradientSteps steps each sample adds h_{t-1}^T delta_t
// and delta_t of those steps, still in cache, to the partial sums of its group of K.mr
// samples (threads split samples in multiples of K.mr, so a group has one thread and its sums
// never depend on the thread count). This replaces a second pass over delta and the states
// and a gathered copy of the previous states: lecture-model backward 1.07-1.16x. Layers with
// a kernel were measured too and not included: the same for F = H = 32, 0.87-0.92x for
// F = 300 or H = 100 (per-sample products with edge columns). Blocks of kGradientSteps.

template <typename T>
struct GroupGradients {
    T* data = nullptr;  // (count, per), zeroed before the pass; nullptr: not accumulated here
    int64_t count = 0;  // groups
    int64_t per = 0;    // drec (H, H) then dbias (H,)
    int64_t group_rows = 1;
    bool bias = false;  // dbias wanted
};

template <typename T>
bool fuse_weight_gradients(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p) {
    // Never for layers whose units threads may split (H >= 4 nr) or whose products go to
    // OpenBLAS (then threads split samples in OpenBLAS blocks, not in K.mr): the choice must
    // not depend on the thread count.
    const int64_t groups = (p.B + K.mr - 1) / K.mr;
    return p.projected_inputs && p.H < 4 * K.nr && p.H % K.lanes == 0 &&
           !p.recurrent_dropout_mask && row_split(K, p) == K.mr &&
           double(groups) * (p.H * p.H + p.H) * sizeof(T) <= double(32 << 20);
}

// Adds the steps [s_lo, s_hi) of rows [b0, b0 + nb) to their groups' partial sums: for each
// group, its samples' h_{t-1}^T delta_t in one gemm_runs call (a run per sample, in sample
// then time order) and their delta rows into dbias in another; the first step's products
// with the initial state after them. One call per sample and product cost the lecture-model
// backward ~0.3 ms of its ~2 ms of weight gradients (1 thread): calls and tile set-ups for
// 24 multiply-adds each.
template <typename T>
void accumulate_block(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* states,
                      const Deltas<T>& delta, int64_t s_lo, int64_t s_hi, int64_t b0,
                      int64_t nb, const GroupGradients<T>& g) {
    const int64_t H = p.H;
    // Input times of the block's steps: [t_a, t_b), in increasing order.
    const int64_t t_a = first_input_time(s_lo, s_hi, p.T, p.go_backwards);
    const int64_t t_b = t_a + (s_hi - s_lo);
    // Times whose previous state is a row of `states` (t - 1, or t + 1 backwards): all but
    // the first step's, which starts from the initial state (or zeros).
    int64_t r_a = t_a, r_b = t_b;
    if (s_lo == 0 && p.go_backwards) --r_b;
    if (s_lo == 0 && !p.go_backwards) ++r_a;
    const int64_t t_first = input_time(0, p.T, p.go_backwards);
    const int64_t before = p.go_backwards ? 1 : -1;
    // The block's rows of one sample are ts apart, those of the next sample `seq` further
    // (the ring of deltas has the states' layout within a block).
    const int64_t ts = time_stride(p), seq = sample_stride(p);
    static const T one = T(1);
    for (int64_t b = b0, e; b < b0 + nb; b = e) {
        const int64_t group = b / g.group_rows;
        e = std::min(b0 + nb, (group + 1) * g.group_rows);
        T* dr = g.data + group * g.per;
        if (r_b > r_a)
            K.gemm_runs(dr, H, states + state_row(p, b, r_a + before), 1, ts, seq,
                        delta.row(p, b, r_a), ts, seq, H, H, r_b - r_a, e - b);
        if (g.bias)  // dbias += ones (1, steps) . delta rows: the plain sum in time order
            K.gemm_runs(dr + H * H, H, &one, 0, 0, 0, delta.row(p, b, t_a), ts, seq, 1, H,
                        t_b - t_a, e - b);
        if (s_lo == 0 && p.initial_state)
            for (int64_t i = b; i < e; ++i)
                K.gemm(dr, H, p.initial_state + i * H, 1, H, delta.row(p, i, t_first), ts,
                       nullptr, H, H, 1, true, Activation::Linear);
    }
}

// The table gradient of token ids added during the sequential pass (with a ring of deltas):
// once every group of samples has finished a block of kRingSteps steps, every thread adds the
// block's rows of all samples whose ids fall in its range of table rows, in time then sample
// order. A block's rows are read from cache instead of memory, and delta is never written to
// memory (lecture-model backward 1.13x at 2 threads, 1.19-1.23x at 1, measured interleaved).
// Each id's sum runs over the blocks in processing order: it never depends on the thread
// count. Threads wait for each other only when a block would overwrite the ring slot of a
// block some thread has not scattered yet: with a barrier after every block instead (and two
// slots), the 2-thread lecture backward was 1.08-1.09x slower (each thread waited ~8% of the
// pass there).
template <typename T>
struct TableScatter {
    T* d_table = nullptr;            // (V, H); nullptr: not here (input_gradients does it)
    int64_t* ids_by_time = nullptr;  // (T, B) workspace: the token ids, time-major
};

template <typename T>
void scatter_block(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const Deltas<T>& delta,
                   const TableScatter<T>& table, int64_t s_lo, int64_t s_hi, int tid, int nt) {
    int64_t v0, v1;
    split_range(p.V, 64, tid, nt, v0, v1);
    const int64_t t_a = first_input_time(s_lo, s_hi, p.T, p.go_backwards);
    const int64_t t_b = t_a + (s_hi - s_lo);
    if (v0 < v1)  // the block's rows, time then sample order; its steps are ts apart
        K.scatter_rows(table.d_table, table.ids_by_time + t_a * p.B, delta.row(p, 0, t_a),
                       (t_b - t_a) * p.B, p.H, v0, v1, p.B, time_stride(p));
}

// The sequential pass: delta by input time and dinitial_state (B, H).
template <typename T>
void backward_through_time(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p,
                           const T* states, const T* d_outputs, const T* d_final_state,
                           const T* rec_t, const Deltas<T>& delta, T* dinitial_state,
                           const GroupGradients<T>& groups, const TableScatter<T>& table) {
    const bool carry = p.mask && !p.zero_output_for_mask;
    std::vector<T>& buf = workspace<T>(kRows);
    if (split_units(K, p)) {
        const int threads = useful_threads(p.threads, p.H, K.nr);
        const BackwardRows<T> shared = all_rows(buf, p.B, p.H, carry);
        parallel_region(threads, [&](int tid, int nt) {
            int64_t j0, j1;
            split_range(p.H, K.nr, tid, nt, j0, j1);
            BackwardRows<T> w = shared;
            init_rows(p, d_final_state, 0, p.B, j0, j1, w);
            for (int64_t s = p.T - 1; s >= 0; --s) {
                step_deltas(K, p, states, d_outputs, delta, s, 0, p.B, j0, j1, w);
                thread_barrier();  // the product below reads every column of delta
                if (j0 < j1) step_state_gradient(K, p, delta, rec_t, s, 0, p.B, j0, j1, w);
                std::swap(w.g_next, w.g_prev);
            }
            for (int64_t b = 0; b < p.B; ++b)
                std::memcpy(dinitial_state + b * p.H + j0, w.g_next + b * p.H + j0,
                            static_cast<size_t>(j1 - j0) * sizeof(T));
        });
        return;
    }
    // Threads split the batch in groups of samples (group_bounds), block by block of
    // delta.steps steps, as the forward pass does: whichever thread is free runs the next
    // block of a group (BlockChains), or, when the table gradient is added after every block
    // (a barrier each), the next group of that block. Each row's gradients live in a buffer
    // shared by all threads: g_next in buffer (T - 1 - s) % 2 at step s, g_prev in the other.
    const int64_t split = row_split(K, p);
    const int threads = useful_threads(p.threads, p.B, split);
    const std::vector<int64_t> bounds = group_bounds((p.B + split - 1) / split, threads);
    const int64_t group_count = static_cast<int64_t>(bounds.size()) - 1;
    const int64_t blocks = (p.T + delta.steps - 1) / delta.steps;
    const BackwardRows<T> all = all_rows(buf, p.B, p.H, carry);
    const bool fused = fuse_steps(p, d_outputs);
    // Block k (k = 0 first) holds steps [lo, hi): blocks end where s is a multiple of
    // delta.steps, so the first block processed may be short.
    auto block_steps = [&](int64_t k, int64_t& lo, int64_t& hi) {
        hi = k == 0 ? p.T : ((p.T - 1) / delta.steps - k + 1) * delta.steps;
        lo = ((p.T - 1) / delta.steps - k) * delta.steps;
    };
    // Block k of group g: its steps, then its weight gradients; the first block starts the
    // rows' gradients, the last one hands dinitial_state.
    auto run_block = [&](int64_t g, int64_t k) {
        const int64_t b0 = bounds[g] * split, b1 = std::min(p.B, bounds[g + 1] * split);
        const int64_t nb = b1 - b0;
        BackwardRows<T> w{all.g_next + b0 * p.H, all.g_prev + b0 * p.H,
                          carry ? all.carry + b0 * p.H : nullptr};
        int64_t lo, hi;
        block_steps(k, lo, hi);
        if (k == 0) init_rows(p, d_final_state, b0, nb, 0, p.H, w);
        if ((p.T - hi) % 2) std::swap(w.g_next, w.g_prev);
        // Within a block, each step but the last writes the next step's delta itself (its
        // ring rows belong to this block; the next block's slot may still be scattered).
        for (int64_t s = hi - 1; s >= lo; --s) {
            if (!fused || s == hi - 1)
                step_deltas(K, p, states, d_outputs, delta, s, b0, nb, 0, p.H, w);
            if (fused && s > lo)
                fused_step(K, p, states, delta, rec_t, s, b0, nb);
            else
                step_state_gradient(K, p, delta, rec_t, s, b0, nb, 0, p.H, w);
            std::swap(w.g_next, w.g_prev);
        }
        if (groups.data) accumulate_block(K, p, states, delta, lo, hi, b0, nb, groups);
        if (lo == 0)
            std::memcpy(dinitial_state + b0 * p.H, w.g_next,
                        static_cast<size_t>(nb * p.H) * sizeof(T));
    };
    if (!table.d_table) {
        BlockChains chains(group_count, blocks);
        parallel_region(threads, [&](int, int) {
            int64_t g, k;
            while (chains.next(g, k)) {
                run_block(g, k);
                chains.finish(g, k);
            }
        });
        return;
    }
    // Blocks from BlockChains as above, no barrier per block: each thread scatters block k
    // once every group has finished it (done[k]), between its own blocks; block k reuses the
    // ring slot of block k - kRingSlots, so it waits until every thread has scattered that.
    struct alignas(64) Counter {
        std::atomic<int64_t> value{0};
    };
    std::vector<Counter> done(static_cast<size_t>(blocks));       // groups done with block k
    std::vector<Counter> scattered(static_cast<size_t>(threads));  // blocks a thread scattered
    BlockChains chains(group_count, blocks);
    parallel_region(threads, [&](int tid, int nt) {
        int64_t v0, v1;
        split_range(p.V, 64, tid, nt, v0, v1);
        if (v0 < v1)
            std::memset(table.d_table + v0 * p.H, 0,
                        static_cast<size_t>((v1 - v0) * p.H) * sizeof(T));
        int64_t b0, b1;  // the ids of an equal share of the samples, time-major
        split_range(p.B, 1, tid, nt, b0, b1);
        ids_by_time(p.token_ids, p.B, p.T, b0, b1, table.ids_by_time);
        thread_barrier();  // every id is in place
        int64_t mine = 0;  // blocks this thread has scattered
        auto scatter_finished_blocks = [&] {
            while (mine < blocks &&
                   done[static_cast<size_t>(mine)].value.load(std::memory_order_acquire) ==
                       group_count) {
                int64_t lo, hi;
                block_steps(mine, lo, hi);
                scatter_block(K, p, delta, table, lo, hi, tid, nt);
                scattered[static_cast<size_t>(tid)].value.store(++mine, std::memory_order_release);
            }
        };
        auto slot_free = [&](int64_t k) {
            for (int t = 0; t < nt; ++t)
                if (scattered[static_cast<size_t>(t)].value.load(std::memory_order_acquire) <
                    k - kRingSlots + 1)
                    return false;
            return true;
        };
        int64_t g, k;
        for (int polls = 0;;) {
            const BlockChains::Claim c = chains.try_next(g, k);
            if (c == BlockChains::Claim::kFinished) break;
            if (c == BlockChains::Claim::kBlock) {
                for (int waits = 0; !slot_free(k);) {
                    scatter_finished_blocks();
                    spin_pause(waits);
                }
                run_block(g, k);
                chains.finish(g, k);
                done[static_cast<size_t>(k)].value.fetch_add(1, std::memory_order_release);
                polls = 0;
            }
            scatter_finished_blocks();
            if (c == BlockChains::Claim::kBusy) spin_pause(polls);
        }
        for (int polls = 0; mine < blocks; spin_pause(polls)) scatter_finished_blocks();
    });
}

// (rows, cols) -> (cols, rows)
template <typename T>
std::vector<T> transposed(const T* a, int64_t rows, int64_t cols) {
    std::vector<T> out(static_cast<size_t>(rows * cols));
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) out[j * rows + i] = a[i * cols + j];
    return out;
}

// Rows [r0, r1) of the (B*T, H) matrix of states each step multiplied with the recurrent
// kernel: h_{t-1} * m_h, in the order of the rows of states (and delta), into rows ld apart
// (ld >= H). Time-major states are unpadded here (time_major_step == B*H): see
// time_major_step_stride.
template <typename T>
void previous_states_rows(const SimpleRnnProblem<T>& p, const T* states, int64_t r0, int64_t r1,
                          T* out, int64_t ld) {
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = p.time_major_step ? r % p.B : r / p.T;
        const int64_t t = p.time_major_step ? r / p.B : r % p.T;
        const int64_t s = input_time(t, p.T, p.go_backwards);
        int64_t stride;
        const T* prev = previous_state(p, states, s, b, stride);
        T* o = out + (r - r0) * ld;
        if (!prev) { std::memset(o, 0, static_cast<size_t>(p.H) * sizeof(T)); continue; }
        if (p.recurrent_dropout_mask) {
            const T* m = p.recurrent_dropout_mask + b * p.H;
            for (int64_t j = 0; j < p.H; ++j) o[j] = prev[j] * m[j];
        } else {
            std::memcpy(o, prev, static_cast<size_t>(p.H) * sizeof(T));
        }
    }
}

// Elements [e0, e1) of `count` partial-sum blocks of `per` elements (dkernel (kernel_size,)
// then drecurrent_kernel (H, H) then dbias (H,)), added in block order. dkernel and dbias
// may be nullptr (not wanted).
template <typename T>
void sum_partials(const T* partial, int64_t count, int64_t per, int64_t kernel_size, int64_t H,
                  int64_t e0, int64_t e1, T* dkernel, T* drec, T* dbias) {
    // Elements [lo, hi) of a block go to out (nullptr: not wanted).
    auto part = [&](int64_t lo, int64_t hi, T* out) {
        const int64_t a = std::max(e0, lo), b = std::min(e1, hi);
        if (out && a < b) sum_in_order(partial, count, per, a, b, out + (a - lo));
    };
    part(0, kernel_size, dkernel);
    part(kernel_size, kernel_size + H * H, drec);
    part(kernel_size + H * H, kernel_size + H * H + H, dbias);
}

// Rows of one weight-gradient chunk: fixed by the problem size only, never by the thread count.
inline int64_t chunk_rows(int64_t rows) { return std::max<int64_t>(512, (rows + 15) / 16); }

// Wide layers: dkernel and drecurrent_kernel are cut into fixed blocks of whole OpenBLAS rows,
// and each block reduces over all B*T rows in one product, so no partial sums are written or
// reduced and every element's sum order is fixed. Threads take whole blocks from one list over
// both matrices (with a split per matrix, one thread took both when each had a single block).
// Columns are not cut: each cut would pack the block's rows of x~ or hprev once more.
template <typename T>
void weight_gradients_by_output(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p,
                                const T* xin, const T* states, const T* delta, T* dkernel,
                                T* drec, T* dbias) {
    const int64_t R = p.B * p.T, F = p.F, H = p.H;
    std::vector<T>& hprev = workspace<T>(kPrevious);
    hprev.resize(static_cast<size_t>(R * H));
    const int64_t rows = row_split(K, p, kBlasRowsLarge);
    const int64_t kernel_blocks = p.projected_inputs ? 0 : (F + rows - 1) / rows;
    const int64_t blocks = kernel_blocks + (H + rows - 1) / rows;
    const int threads = useful_threads(p.threads, blocks, 1);
    WorkQueue row_blocks((R + 63) / 64, threads), product_blocks(blocks, threads);
    parallel_region(threads, [&](int tid, int nt) {
        int64_t k0, k1;
        while (row_blocks.next(k0, k1))  // runs of 64 rows
            previous_states_rows(p, states, k0 * 64, std::min(R, k1 * 64),
                                 hprev.data() + k0 * 64 * H, H);
        thread_barrier();
        int64_t first, last;
        while (product_blocks.next(first, last)) {
            for (int64_t block = first; block < last; ++block) {
                if (block < kernel_blocks) {  // dkernel rows [f0, f0 + m) = x~^T . delta
                    const int64_t f0 = block * rows, m = std::min(rows, F - f0);
                    product<T>(K, dkernel + f0 * H, H, xin + f0, 1, F, delta, H, nullptr, m, H,
                               R, false, Activation::Linear, kBlasRowsLarge);
                } else {  // drecurrent_kernel rows [h0, h0 + m) = hprev^T . delta
                    const int64_t h0 = (block - kernel_blocks) * rows, m = std::min(rows, H - h0);
                    product<T>(K, drec + h0 * H, H, hprev.data() + h0, 1, H, delta, H, nullptr,
                               m, H, R, false, Activation::Linear, kBlasRowsLarge);
                }
            }
        }
        int64_t j0, j1;
        split_range(H, 16, tid, nt, j0, j1);
        if (dbias && j0 < j1) {
            for (int64_t j = j0; j < j1; ++j) dbias[j] = T(0);
            for (int64_t r = 0; r < R; ++r)
                for (int64_t j = j0; j < j1; ++j) dbias[j] += delta[r * H + j];
        }
    });
}

template <typename T>
void weight_gradients(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* xin,
                      const T* states, const T* delta, T* dkernel, T* drec, T* dbias) {
    const int64_t R = p.B * p.T, F = p.F, H = p.H;
    // Blocks of output rows when both matrices have whole blocks of kBlasRowsLarge rows;
    // narrower layers reduce partial sums over chunks of rows instead. The choice depends on
    // the shapes only, never on the thread count, so the summation order is fixed.
    if (F >= kBlasRowsLarge && H >= kBlasRowsLarge)
        return weight_gradients_by_output(K, p, xin, states, delta, dkernel, drec, dbias);
    const int64_t cr = chunk_rows(R);
    const int64_t chunks = (R + cr - 1) / cr;
    const int64_t per = F * H + H * H + H;
    std::vector<T>& partial = workspace<T>(kPartial);
    partial.resize(static_cast<size_t>(chunks * per));
    const int threads = useful_threads(p.threads, chunks, 1);
    // The engine's GEMM computes a chunk's dbias as one more row of drec: hprev rows get a
    // last column of ones, and 0 + 1 * d1 + 1 * d2 ... rounds as d1 + d2 ... (no second pass
    // over delta). OpenBLAS sums in its own order, so there the sum stays a loop.
    const bool bias_row = !blas_worthwhile(H, cr, 1, H + 1);
    const int64_t ld = bias_row ? H + 1 : H;
    std::vector<T>& hprev = workspace<T>(kPrevious);
    hprev.resize(static_cast<size_t>(threads * cr * ld));
    WorkQueue queue(chunks, threads);
    parallel_region(threads, [&](int tid, int nt) {
        T* hp = hprev.data() + tid * cr * ld;
        int64_t c0, c1;
        while (queue.next(c0, c1)) {
            for (int64_t c = c0; c < c1; ++c) {
                const int64_t r0 = c * cr, r1 = std::min(R, r0 + cr);
                T* out = partial.data() + c * per;  // dkernel (F, H), drec (H, H), dbias (H,)
                if (!p.projected_inputs)
                    product<T>(K, out, H, xin + r0 * F, 1, F, delta + r0 * H, H, nullptr, F, H,
                               r1 - r0, false, Activation::Linear, kBlasRowsLarge);
                previous_states_rows(p, states, r0, r1, hp, ld);
                if (bias_row)
                    for (int64_t r = 0; r < r1 - r0; ++r) hp[r * ld + H] = T(1);
                product<T>(K, out + F * H, H, hp, 1, ld, delta + r0 * H, H, nullptr,
                           bias_row ? H + 1 : H, H, r1 - r0, false, Activation::Linear);
                if (bias_row) continue;
                T* db = out + F * H + H * H;
                std::memset(db, 0, static_cast<size_t>(H) * sizeof(T));
                for (int64_t r = r0; r < r1; ++r)
                    for (int64_t j = 0; j < H; ++j) db[j] += delta[r * H + j];
            }
        }
        thread_barrier();
        int64_t e0, e1;
        split_range(per, 64, tid, nt, e0, e1);
        sum_partials(partial.data(), chunks, per, F * H, H, e0, e1,
                     p.projected_inputs ? nullptr : dkernel, drec, dbias);
    });
}

// drecurrent_kernel and dbias from the groups' partial sums, added in group order.
template <typename T>
void reduce_groups(const SimpleRnnProblem<T>& p, const GroupGradients<T>& g, T* drec, T* dbias) {
    parallel_region(useful_threads(p.threads, g.per, 4096), [&](int tid, int nt) {
        int64_t e0, e1;
        split_range(g.per, 64, tid, nt, e0, e1);
        sum_partials(g.data, g.count, g.per, int64_t(0), p.H, e0, e1, static_cast<T*>(nullptr),
                     drec, dbias);
    });
}

template <typename T>
void input_gradients(const IsaKernels<T>& K, const SimpleRnnProblem<T>& p, const T* delta,
                     T* dx) {
    if (p.token_ids && !p.time_major_step) {  // the table's gradient: delta rows summed per id
        embedding_backward(dx, p.token_ids, delta, p.B * p.T, p.V, p.H, p.threads);
        return;
    }
    if (p.token_ids) {  // the same over time-major rows: the ids reordered to match
        std::vector<int64_t>& ids = id_workspace();
        ids.resize(static_cast<size_t>(p.B * p.T));
        ids_by_time(p.token_ids, p.B, p.T, 0, p.B, ids.data());
        embedding_backward_blocks(dx, ids.data(), delta, p.B * p.T, p.V, p.H, p.B,
                                  p.time_major_step, p.threads);
        return;
    }
    if (p.projected_inputs && !p.time_major_step) {  // the gradient of the projected inputs
        std::memcpy(dx, delta, static_cast<size_t>(p.B * p.T * p.H) * sizeof(T));  // is delta
        return;
    }
    if (p.projected_inputs) {  // the same, (B, T, H) from time-major rows
        parallel_region(useful_threads(p.threads, p.B, 8), [&](int tid, int nt) {
            int64_t b0, b1;
            split_range(p.B, 8, tid, nt, b0, b1);
            for (int64_t b = b0; b < b1; ++b)
                for (int64_t t = 0; t < p.T; ++t)
                    std::memcpy(dx + (b * p.T + t) * p.H, delta + state_row(p, b, t),
                                static_cast<size_t>(p.H) * sizeof(T));
        });
        return;
    }
    const std::vector<T> kernel_t = transposed(p.kernel, p.F, p.H);  // (H, F)
    const int64_t R = p.B * p.T, rows = row_split(K, p, kBlasRowsLarge);
    const int threads = useful_threads(p.threads, R, 256);
    WorkQueue blocks((R + rows - 1) / rows, threads);
    parallel_region(threads, [&](int, int) {
        int64_t k0, k1;
        while (blocks.next(k0, k1)) {
            const int64_t r0 = k0 * rows, r1 = std::min(R, k1 * rows);
            product<T>(K, dx + r0 * p.F, p.F, delta + r0 * p.H, p.H, 1, kernel_t.data(), p.F,
                       nullptr, r1 - r0, p.F, p.H, false, Activation::Linear, kBlasRowsLarge);
            if (!p.input_dropout_mask) continue;
            for (int64_t r = r0; r < r1; ++r) {
                const T* m = p.input_dropout_mask + (r / p.T) * p.F;
                for (int64_t f = 0; f < p.F; ++f) dx[r * p.F + f] *= m[f];
            }
        }
    });
}

}  // namespace

template <typename T>
void simple_rnn_backward(const SimpleRnnProblem<T>& problem, const T* states, const T* d_outputs,
                         const T* d_final_state, T* dx, T* dkernel, T* drecurrent_kernel,
                         T* dbias, T* dinitial_state) {
    SimpleRnnProblem<T> p = problem;
    p.threads = threads_for_work(p.threads, 2.0 * p.B * p.T * (p.F * p.H + p.H * p.H));
    const IsaKernels<T>& K = kernels_for_layer<T>(p.B, p.H);
    const std::vector<T> rec_t = transposed(p.recurrent_kernel, p.H, p.H);
    GroupGradients<T> groups;
    if (fuse_weight_gradients(K, p)) {
        std::vector<T>& partial = workspace<T>(kPartial);
        groups.count = (p.B + K.mr - 1) / K.mr;
        groups.per = p.H * p.H + p.H;
        groups.group_rows = K.mr;
        groups.bias = dbias != nullptr;
        partial.assign(static_cast<size_t>(groups.count * groups.per), T(0));
        groups.data = partial.data();
    }
    // Every gradient added during the pass: keep only the deltas of kRingSlots blocks of steps.
    const bool ring = groups.data && p.token_ids && p.time_major_step;
    std::vector<T>& delta = workspace<T>(kDelta);
    delta.resize(static_cast<size_t>(ring ? kRingSlots * kRingSteps * p.time_major_step
                                          : states_size(p)));
    TableScatter<T> table;
    if (ring) {
        std::vector<int64_t>& ids = id_workspace();
        ids.resize(static_cast<size_t>(p.B * p.T));
        table = TableScatter<T>{dx, ids.data()};
    }
    backward_through_time(K, p, states, d_outputs, d_final_state, rec_t.data(),
                          Deltas<T>{delta.data(), ring, ring ? kRingSteps : kGradientSteps},
                          dinitial_state, groups, table);
    if (groups.data) {
        reduce_groups(p, groups, drecurrent_kernel, dbias);
    } else {
        const T* xin = masked_inputs(p, workspace<T>(kInputs));
        weight_gradients(K, p, xin, states, delta.data(), dkernel, drecurrent_kernel, dbias);
    }
    if (!ring) input_gradients(K, p, delta.data(), dx);
    trim_workspaces<T>();
}

// Time-major states are padded where the weight gradients are added during the sequential
// pass (fuse_weight_gradients): that reads one sample's rows of kGradientSteps successive
// steps, which with a step of B*H elements a multiple of 4 KiB (B = 128, H = 32) all fell in
// the same cache sets (backward 0.8-0.96x batch-major; B = 129: 1.07x). An odd number of cache
// lines per step spreads them over every set. Elsewhere the weight gradients read delta as
// (T*B, H) rows, so there is no padding.
template <typename T>
int64_t time_major_step_stride(const SimpleRnnProblem<T>& p) {
    const int64_t rows = p.B * p.H;
    if (!fuse_weight_gradients(kernels_for_layer<T>(p.B, p.H), p)) return rows;
    constexpr int64_t line = 64 / static_cast<int64_t>(sizeof(T));
    return (((rows + line - 1) / line) | 1) * line;
}

template int64_t time_major_step_stride<float>(const SimpleRnnProblem<float>&);
template int64_t time_major_step_stride<double>(const SimpleRnnProblem<double>&);
template void simple_rnn_forward<float>(const SimpleRnnProblem<float>&, float*, float*, float*);
template void simple_rnn_forward<double>(const SimpleRnnProblem<double>&, double*, double*, double*);
template void simple_rnn_backward<float>(const SimpleRnnProblem<float>&, const float*, const float*,
                                         const float*, float*, float*, float*, float*, float*);
template void simple_rnn_backward<double>(const SimpleRnnProblem<double>&, const double*,
                                          const double*, const double*, double*, double*,
                                          double*, double*, double*);

}  // namespace fastrnn
