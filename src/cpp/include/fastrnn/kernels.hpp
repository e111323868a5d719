// The kernel API: free functions on raw row-major contiguous arrays, outputs allocated by the
// caller. No Python here. Every function overwrites its outputs (nothing accumulates into
// caller memory), holds no randomness and gives bit-identical results for any thread count.
#pragma once

#include <cstdint>

#include "fastrnn/activation.hpp"

namespace fastrnn {

// One SimpleRNN layer applied to a batch:
//   h_t = act((x_t * m_x) . kernel + bias + (h_{t-1} * m_h) . recurrent_kernel)
// Shapes: B samples, T steps, F input features, H units.
template <typename Scalar>
struct SimpleRnnProblem {
    int64_t B = 0, T = 0, F = 0, H = 0;
    const Scalar* x = nullptr;                       // (B, T, F)
    const Scalar* kernel = nullptr;                  // (F, H); unused with projected_inputs
    const Scalar* recurrent_kernel = nullptr;        // (H, H)
    const Scalar* bias = nullptr;                    // (H,) or nullptr
    const Scalar* initial_state = nullptr;           // (B, H) or nullptr for zeros
    const uint8_t* mask = nullptr;              // (B, T), 1 = valid step; nullptr = all valid
    const Scalar* input_dropout_mask = nullptr;      // (B, F) or nullptr
    const Scalar* recurrent_dropout_mask = nullptr;  // (B, H) or nullptr
    Activation activation = Activation::Tanh;
    bool projected_inputs = false;      // x is already x . kernel (F == H), e.g. rows gathered
                                        // from an embedding table multiplied by the kernel once
    const int64_t* token_ids = nullptr;  // (B, T) with projected_inputs, or nullptr: x is then a
                                         // (V, H) table of projected rows and the input of
                                         // step t of sample b is row token_ids[b*T + t] of it
    int64_t V = 0;                       // rows of that table
    bool go_backwards = false;          // process t = T-1 .. 0
    bool zero_output_for_mask = false;  // masked steps output 0 instead of the last output
    int64_t time_major_step = 0;  // 0: states (B, T, H). Else the states (and the backward's
                                  // deltas) are time-major, (T, time_major_step): the row of
                                  // sample b at time t starts at t * time_major_step + b * H;
                                  // the value must be time_major_step_stride(problem). Only with
                                  // projected_inputs, B > 1, no outputs and no d_outputs
    int threads = 1;
};

// Forward pass.
//   outputs     (B, T, H) in processing order (position s holds the step that read
//               x_{T-1-s} when go_backwards); may alias `states` when there is neither a mask
//               nor go_backwards; nullptr (not written) with time-major states.
//   final_state (B, H) state after the last valid step.
//   states      (B, T, H), or (T, time_major_step) time-major: state after reading x_t,
//               indexed by input time t (what backward needs).
template <typename T>
void simple_rnn_forward(const SimpleRnnProblem<T>& p, T* outputs, T* final_state, T* states);

// Elements between the rows of successive steps of time-major states for this problem (its
// time_major_step field ignored): B * H, or a little more where one sample's rows of successive
// steps would otherwise share cache sets.
template <typename T>
int64_t time_major_step_stride(const SimpleRnnProblem<T>& p);

// Backpropagation through time for the forward pass that produced `states`.
//   d_outputs (B, T, H) or nullptr, processing order (nullptr with time-major states);
//   d_final_state (B, H) or nullptr.
//   Outputs: dx (B, T, F), dkernel (F, H) (unused with projected_inputs: dx is then the
//   gradient of the projected inputs; with token_ids dx is (V, H), the gradient of the table), drecurrent_kernel (H, H), dbias (H,) or nullptr,
//   dinitial_state (B, H).
template <typename T>
void simple_rnn_backward(const SimpleRnnProblem<T>& p, const T* states, const T* d_outputs,
                         const T* d_final_state, T* dx, T* dkernel, T* drecurrent_kernel,
                         T* dbias, T* dinitial_state);

// C (M, N) = op(A) . B with op(A) = A (M, K) or, with transpose_a, A^T for A (K, M); B (K, N).
// Rows of C are split between threads in whole register tiles: bit-identical for any thread
// count.
template <typename T>
void matmul(T* C, const T* A, const T* B, int64_t M, int64_t N, int64_t K, bool transpose_a,
            int threads);

// out (N, D) = embeddings[ids] with embeddings (V, D); ids (N,) must lie in [0, V).
template <typename T>
void embedding_forward(T* out, const int64_t* ids, const T* embeddings, int64_t N, int64_t V,
                       int64_t D, int threads);

// d_embeddings (V, D) = sum of d_out (N, D) rows scattered by ids (N,), in row order.
template <typename T>
void embedding_backward(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t N,
                        int64_t V, int64_t D, int threads);

// The same with d_out's rows in blocks of block_rows, block_stride elements apart
// (>= block_rows * D): row r starts at (r / block_rows) * block_stride + (r % block_rows) * D.
template <typename T>
void embedding_backward_blocks(T* d_embeddings, const int64_t* ids, const T* d_out, int64_t N,
                               int64_t V, int64_t D, int64_t block_rows, int64_t block_stride,
                               int threads);

// RMSprop's coefficients as the caller computed them in double (1 - rho included), each
// rounded once to the arrays' precision, as NumPy does with Python floats.
struct RmspropCoefficients {
    double learning_rate, rho, one_minus_rho, epsilon;
};

// One RMSprop step (Keras: eps inside the sqrt), in place, elementwise over n values:
//   velocity = velocity * rho + grad^2 * (1 - rho);  weights -= grad * lr / sqrt(velocity + eps)
// weights, velocity (n,) updated; grad (n,) read.
template <typename T>
void rmsprop_update(T* weights, T* velocity, const T* grad, int64_t n, RmspropCoefficients c,
                    int threads);

// Adam's coefficients as the caller computed them in double: alpha = lr sqrt(1 - beta_2^t) /
// (1 - beta_1^t), 1 - beta_1, 1 - beta_2, epsilon; each rounded once to the arrays' precision.
struct AdamCoefficients {
    double alpha, one_minus_beta_1, one_minus_beta_2, epsilon;
};

// One Adam step (Keras), in place, elementwise over n values:
//   m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2);  [amsgrad: v_hat = max(v_hat, v)]
//   weights -= m alpha / (sqrt(v or v_hat) + eps)
// weights, momentum, velocity (n,) updated; velocity_hat (n,) updated, or nullptr without
// amsgrad; grad (n,) read.
template <typename T>
void adam_update(T* weights, T* momentum, T* velocity, T* velocity_hat, const T* grad, int64_t n,
                 AdamCoefficients c, int threads);

}  // namespace fastrnn
