// Fused optimizer steps: one pass over the weights instead of NumPy's pass per operation.
// Compiled with -ffp-contract=off: every operation is rounded as in the NumPy formula, so the
// fused step gives the same bits as the NumPy one, except that, like every engine kernel, it
// runs with subnormals flushed to zero (values below ~1e-38 in float32).

#include <cmath>

#include "fastrnn/kernels.hpp"
#include "fastrnn/parallel.hpp"

namespace fastrnn {
namespace {

// step(i0, i1) for ranges covering [0, n) on the kernels' threads (flops: arithmetic per
// element, to decide how many threads are worth it). Elementwise: any split gives the same
// bits.
template <class Step>
void for_each_range(int64_t n, double flops, int threads, Step&& step) {
    parallel_region(threads_for_work(threads, flops * n), [&](int tid, int count) {
        int64_t i0, i1;
        split_range(n, 256, tid, count, i0, i1);
        if (i0 < i1) step(i0, i1);
    });
}

// The update of `n` elements; restrict pointers and a plain loop, so that the compiler
// vectorizes it (through the captured pointers of a parallel region it did not: 3x slower).
template <typename T>
void rmsprop_elements(T* __restrict weights, T* __restrict velocity, const T* __restrict grad,
                      int64_t n, T rho, T one_minus_rho, T eps, T lr) {
    for (int64_t i = 0; i < n; ++i) {
        const T g = grad[i];
        const T v = velocity[i] * rho + (g * g) * one_minus_rho;
        velocity[i] = v;
        weights[i] -= (g * lr) / std::sqrt(v + eps);
    }
}

template <typename T>
void adam_elements(T* __restrict weights, T* __restrict momentum, T* __restrict velocity,
                   T* __restrict velocity_hat, const T* __restrict grad, int64_t n, T alpha,
                   T eps, T one_minus_beta_1, T one_minus_beta_2) {
    for (int64_t i = 0; i < n; ++i) {
        const T g = grad[i];
        const T m = momentum[i] + (g - momentum[i]) * one_minus_beta_1;
        const T v = velocity[i] + (g * g - velocity[i]) * one_minus_beta_2;
        momentum[i] = m;
        velocity[i] = v;
        T denominator = v;
        if (velocity_hat) {  // np.maximum: NaN if either is NaN
            const T h = velocity_hat[i];
            denominator = (std::isnan(h) || h > v) ? h : v;
            velocity_hat[i] = denominator;
        }
        weights[i] -= (m * alpha) / (std::sqrt(denominator) + eps);
    }
}

}  // namespace

template <typename T>
void rmsprop_update(T* weights, T* velocity, const T* grad, int64_t n, RmspropCoefficients c,
                    int threads) {
    const T rho = static_cast<T>(c.rho), one_minus_rho = static_cast<T>(c.one_minus_rho);
    const T eps = static_cast<T>(c.epsilon), lr = static_cast<T>(c.learning_rate);
    for_each_range(n, 8.0, threads, [&](int64_t i0, int64_t i1) {
        rmsprop_elements(weights + i0, velocity + i0, grad + i0, i1 - i0, rho, one_minus_rho, eps,
                         lr);
    });
}

template <typename T>
void adam_update(T* weights, T* momentum, T* velocity, T* velocity_hat, const T* grad, int64_t n,
                 AdamCoefficients c, int threads) {
    const T alpha = static_cast<T>(c.alpha), eps = static_cast<T>(c.epsilon);
    const T one_minus_beta_1 = static_cast<T>(c.one_minus_beta_1);
    const T one_minus_beta_2 = static_cast<T>(c.one_minus_beta_2);
    for_each_range(n, 12.0, threads, [&](int64_t i0, int64_t i1) {
        adam_elements(weights + i0, momentum + i0, velocity + i0,
                      velocity_hat ? velocity_hat + i0 : nullptr, grad + i0, i1 - i0, alpha, eps,
                      one_minus_beta_1, one_minus_beta_2);
    });
}

template void rmsprop_update<float>(float*, float*, const float*, int64_t, RmspropCoefficients, int);
template void rmsprop_update<double>(double*, double*, const double*, int64_t, RmspropCoefficients, int);
template void adam_update<float>(float*, float*, float*, float*, const float*, int64_t, AdamCoefficients, int);
template void adam_update<double>(double*, double*, double*, double*, const double*, int64_t, AdamCoefficients, int);

}  // namespace fastrnn
