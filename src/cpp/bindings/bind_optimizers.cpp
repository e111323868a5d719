// Bindings of the fused optimizer steps. They update the optimizer's own arrays in place, so
// every array is checked (dtype, size, contiguity, writability) before the kernel runs.

#include <initializer_list>
#include <optional>
#include <string>

#include "checks.hpp"
#include "fastrnn/kernels.hpp"

namespace fastrnn::bindings {

namespace {

// a must be a C-contiguous array of T with n elements (any shape), writable if asked.
template <typename T>
void require_buffer(const py::array& a, const char* name, py::ssize_t n, bool writable) {
    require_dtype<T>(a, name);
    if (a.size() != n)
        throw std::invalid_argument(std::string(name) + " must have " + std::to_string(n) +
                                    " elements (the weights' size). Received: shape=" +
                                    shape_str(a));
    require_c_contiguous(a, name);
    if (writable && !a.writeable())
        throw std::invalid_argument(std::string(name) + " must be writable");
}

// The arrays a step updates must not share memory with each other (n > 0 elements each).
inline void require_distinct(std::initializer_list<const void*> updated, const char* names) {
    for (auto a = updated.begin(); a != updated.end(); ++a)
        for (auto b = a + 1; b != updated.end(); ++b)
            if (*a == *b) throw std::invalid_argument(std::string(names) + " must be different arrays");
}

template <typename T>
void rmsprop(py::array weights, py::array velocity, const py::array& grad,
             RmspropCoefficients c, int threads) {
    threads = checked_threads(threads);
    const py::ssize_t n = weights.size();
    require_buffer<T>(weights, "weights", n, true);
    require_buffer<T>(velocity, "velocity", n, true);
    require_buffer<T>(grad, "grad", n, false);
    if (n > 0) require_distinct({weights.data(), velocity.data()}, "weights and velocity");
    T* w = static_cast<T*>(weights.mutable_data());
    T* v = static_cast<T*>(velocity.mutable_data());
    const T* g = static_cast<const T*>(grad.data());
    py::gil_scoped_release release;  // only raw buffers of live arrays are touched
    rmsprop_update<T>(w, v, g, n, c, threads);
}

template <typename T>
void adam(py::array weights, py::array momentum, py::array velocity,
          std::optional<py::array> velocity_hat, const py::array& grad, AdamCoefficients c,
          int threads) {
    threads = checked_threads(threads);
    const py::ssize_t n = weights.size();
    require_buffer<T>(weights, "weights", n, true);
    require_buffer<T>(momentum, "momentum", n, true);
    require_buffer<T>(velocity, "velocity", n, true);
    if (velocity_hat) require_buffer<T>(*velocity_hat, "velocity_hat", n, true);
    require_buffer<T>(grad, "grad", n, false);
    if (n > 0)
        require_distinct({weights.data(), momentum.data(), velocity.data(),
                          velocity_hat ? velocity_hat->data() : nullptr},
                         "weights, momentum, velocity and velocity_hat");
    T* w = static_cast<T*>(weights.mutable_data());
    T* mo = static_cast<T*>(momentum.mutable_data());
    T* v = static_cast<T*>(velocity.mutable_data());
    T* vh = velocity_hat ? static_cast<T*>(velocity_hat->mutable_data()) : nullptr;
    const T* g = static_cast<const T*>(grad.data());
    py::gil_scoped_release release;  // only raw buffers of live arrays are touched
    adam_update<T>(w, mo, v, vh, g, n, c, threads);
}

}  // namespace

void register_optimizers(py::module_& m) {
    m.def(
        "rmsprop_update",
        [](py::array weights, py::array velocity, py::array grad, double learning_rate,
           double rho, double epsilon, int num_threads) {
            const RmspropCoefficients c{learning_rate, rho, 1.0 - rho, epsilon};
            if (has_dtype<double>(weights)) rmsprop<double>(weights, velocity, grad, c, num_threads);
            else rmsprop<float>(weights, velocity, grad, c, num_threads);
        },
        py::arg("weights"), py::arg("velocity"), py::arg("grad"), py::arg("learning_rate"),
        py::arg("rho"), py::arg("epsilon"), py::arg("num_threads"),
        "One RMSprop step in place: velocity = rho*velocity + (1-rho)*grad^2; "
        "weights -= learning_rate*grad / sqrt(velocity + epsilon).");
    m.def(
        "adam_update",
        [](py::array weights, py::array momentum, py::array velocity,
           std::optional<py::array> velocity_hat, py::array grad, double alpha, double beta_1,
           double beta_2, double epsilon, int num_threads) {
            const AdamCoefficients c{alpha, 1.0 - beta_1, 1.0 - beta_2, epsilon};
            if (has_dtype<double>(weights))
                adam<double>(weights, momentum, velocity, velocity_hat, grad, c, num_threads);
            else
                adam<float>(weights, momentum, velocity, velocity_hat, grad, c, num_threads);
        },
        py::arg("weights"), py::arg("momentum"), py::arg("velocity"),
        py::arg("velocity_hat").none(true), py::arg("grad"), py::arg("alpha"), py::arg("beta_1"),
        py::arg("beta_2"), py::arg("epsilon"), py::arg("num_threads"),
        "One Adam step in place (Keras formula; alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t)); "
        "velocity_hat (amsgrad) may be None.");
}

}  // namespace fastrnn::bindings
