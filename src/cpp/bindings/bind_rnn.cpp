// Bindings of the SimpleRNN kernels: validate, allocate outputs (GIL held), release the GIL,
// compute, return.

#include <optional>
#include <string>

#include "checks.hpp"
#include "fastrnn/kernels.hpp"

namespace fastrnn::bindings {

namespace {

struct RnnArgs {
    py::array x;
    std::optional<py::array> kernel;  // None: x is already projected (B, T, H), or a (V, H)
                                      // table of projected rows with token_ids
    std::optional<py::array> token_ids;  // (B, T) int64 rows of x, only without a kernel
    py::array recurrent_kernel;
    std::optional<py::array> bias, initial_state, mask, input_dropout_mask, recurrent_dropout_mask;
    std::string activation;
    bool go_backwards, zero_output_for_mask;
    int threads;
    bool time_major;  // backward: the forward call returned time-major states (see forward)
};

// Checks every argument against x's and kernel's shapes and fills the kernel problem.
// `backward`: with projected inputs the backward pass never reads x, so x may be an empty
// (B, T, 0) stand-in that only gives the batch and time sizes.
template <typename T>
SimpleRnnProblem<T> problem(const RnnArgs& a, bool has_bias, bool backward) {
    require<T>(a.recurrent_kernel, "recurrent_kernel", {-1, -1});
    const int64_t H = a.recurrent_kernel.shape(1);
    int64_t F = H;
    if (a.kernel) {
        require<T>(*a.kernel, "kernel", {-1, H});
        F = a.kernel->shape(0);
        if (a.token_ids) throw std::invalid_argument("token_ids needs kernel=None (a projected table)");
    } else if (a.input_dropout_mask) {
        throw std::invalid_argument("input_dropout_mask needs a kernel (inputs not projected)");
    }
    int64_t B, T_, V = 0;
    if (a.token_ids) {  // x: the (V, H) table; in the backward pass a (V, 0) stand-in
        require<T>(a.x, "x", {-1, backward ? -1 : H});
        V = a.x.shape(0);
        check_ids(*a.token_ids, "token_ids", V);
        B = a.token_ids->shape(0);
        T_ = a.token_ids->shape(1);
    } else {
        require<T>(a.x, "x", {-1, -1, (backward && !a.kernel) ? -1 : F});
        B = a.x.shape(0);
        T_ = a.x.shape(1);
    }
    if (B == 0 || T_ == 0 || H == 0)
        throw std::invalid_argument("x must have at least one sample and one step, kernel one unit");
    require<T>(a.recurrent_kernel, "recurrent_kernel", {H, H});
    if (a.bias && has_bias) require<T>(*a.bias, "bias", {H});
    if (a.initial_state) require<T>(*a.initial_state, "initial_state", {B, H});
    if (a.mask) require<uint8_t>(*a.mask, "mask", {B, T_});
    if (a.input_dropout_mask) require<T>(*a.input_dropout_mask, "input_dropout_mask", {B, F});
    if (a.recurrent_dropout_mask)
        require<T>(*a.recurrent_dropout_mask, "recurrent_dropout_mask", {B, H});
    SimpleRnnProblem<T> p;
    p.B = B; p.T = T_; p.F = F; p.H = H;
    p.x = static_cast<const T*>(a.x.data());
    p.kernel = data_or_null<T>(a.kernel);
    p.projected_inputs = !a.kernel.has_value();
    p.token_ids = data_or_null<int64_t>(a.token_ids);
    p.V = V;
    p.recurrent_kernel = static_cast<const T*>(a.recurrent_kernel.data());
    p.bias = has_bias ? data_or_null<T>(a.bias) : nullptr;
    p.initial_state = data_or_null<T>(a.initial_state);
    p.mask = data_or_null<uint8_t>(a.mask);
    p.input_dropout_mask = data_or_null<T>(a.input_dropout_mask);
    p.recurrent_dropout_mask = data_or_null<T>(a.recurrent_dropout_mask);
    if (!parse_activation(a.activation, p.activation))
        throw std::invalid_argument("activation must be tanh, relu, sigmoid or linear. Received: " + a.activation);
    p.go_backwards = a.go_backwards;
    p.zero_output_for_mask = a.zero_output_for_mask;
    p.threads = checked_threads(a.threads);
    return p;
}

// The weights, the initial state, the dropout masks and a table of projected rows must be
// finite: one NaN there spreads to every later step of every sample. (x itself is not checked:
// a NaN input only reaches the outputs it feeds.)
template <typename T>
void require_finite_parameters(const RnnArgs& a) {
    if (a.kernel) require_finite<T>(*a.kernel, "kernel");
    require_finite<T>(a.recurrent_kernel, "recurrent_kernel");
    if (a.bias) require_finite<T>(*a.bias, "bias");
    if (a.initial_state) require_finite<T>(*a.initial_state, "initial_state");
    if (a.input_dropout_mask) require_finite<T>(*a.input_dropout_mask, "input_dropout_mask");
    if (a.recurrent_dropout_mask)
        require_finite<T>(*a.recurrent_dropout_mask, "recurrent_dropout_mask");
    if (a.token_ids) require_finite<T>(a.x, "x");
}

// Problems whose states may be time-major: projected inputs, more than one sample.
template <typename T>
bool time_major_allowed(const SimpleRnnProblem<T>& p) {
    return p.projected_inputs && p.B > 1;
}

// Without outputs (only the final state is wanted) the states of projected inputs are laid
// out time-major, (T, time_major_step_stride): each step's rows contiguous, faster to run
// through. The returned flag tells the backward call which layout it gets back.
template <typename T>
py::tuple forward(const RnnArgs& a, bool with_outputs) {
    SimpleRnnProblem<T> p = problem<T>(a, true, false);
    require_finite_parameters<T>(a);
    const bool time_major = !with_outputs && time_major_allowed(p);
    if (time_major) p.time_major_step = time_major_step_stride(p);
    const bool shared = with_outputs && !p.mask && !p.go_backwards;
    py::array_t<T> states = time_major ? py::array_t<T>({p.T, p.time_major_step})
                                       : py::array_t<T>({p.B, p.T, p.H});
    py::object outputs = py::none();
    T* out = nullptr;
    if (shared) {
        outputs = states;
        out = states.mutable_data();
    } else if (with_outputs) {
        py::array_t<T> o({p.B, p.T, p.H});
        out = o.mutable_data();
        outputs = o;
    }
    py::array_t<T> final_state({p.B, p.H});
    T* st = states.mutable_data();
    T* fin = final_state.mutable_data();
    {
        // Safe: the kernel touches only the buffers above, which these handles keep alive.
        py::gil_scoped_release release;
        simple_rnn_forward<T>(p, out, fin, st);
    }
    return py::make_tuple(outputs, final_state, states, time_major);
}

template <typename T>
py::tuple backward(const RnnArgs& a, bool has_bias, const py::array& states,
                   const std::optional<py::array>& d_outputs,
                   const std::optional<py::array>& d_final_state) {
    SimpleRnnProblem<T> p = problem<T>(a, has_bias, true);
    if (a.time_major) {
        if (!time_major_allowed(p))
            throw std::invalid_argument("time_major_states needs projected inputs and B > 1");
        if (d_outputs)
            throw std::invalid_argument("d_outputs must be None with time-major states (the "
                                        "forward call returned no outputs)");
        p.time_major_step = time_major_step_stride(p);
        require<T>(states, "states", {p.T, p.time_major_step});
    } else {
        require<T>(states, "states", {p.B, p.T, p.H});
    }
    if (d_outputs) require<T>(*d_outputs, "d_outputs", {p.B, p.T, p.H});
    if (d_final_state) require<T>(*d_final_state, "d_final_state", {p.B, p.H});
    py::array_t<T> dx = p.token_ids ? py::array_t<T>({p.V, p.H}) : py::array_t<T>({p.B, p.T, p.F});
    py::array_t<T> drec({p.H, p.H}), dh0({p.B, p.H});
    std::optional<py::array_t<T>> dkernel;
    if (!p.projected_inputs) dkernel.emplace(py::array_t<T>({p.F, p.H}));
    std::optional<py::array_t<T>> dbias;
    if (has_bias) dbias.emplace(py::array_t<T>({p.H}));
    T* dx_p = dx.mutable_data();
    T* dk_p = dkernel ? dkernel->mutable_data() : nullptr;
    T* dr_p = drec.mutable_data();
    T* db_p = dbias ? dbias->mutable_data() : nullptr;
    T* dh_p = dh0.mutable_data();
    const T* st = static_cast<const T*>(states.data());
    const T* dout = data_or_null<T>(d_outputs);
    const T* dfin = data_or_null<T>(d_final_state);
    {
        // Safe: only raw buffers owned by live arrays are touched.
        py::gil_scoped_release release;
        simple_rnn_backward<T>(p, st, dout, dfin, dx_p, dk_p, dr_p, db_p, dh_p);
    }
    py::object db = dbias ? py::object(*dbias) : py::object(py::none());
    py::object dk = dkernel ? py::object(*dkernel) : py::object(py::none());
    return py::make_tuple(dx, dk, drec, db, dh0);
}

// The computation dtype: the kernel's, or the recurrent kernel's without a kernel.
bool is_float64(const std::optional<py::array>& kernel, const py::array& recurrent_kernel) {
    const py::array& w = kernel ? *kernel : recurrent_kernel;
    if (has_dtype<double>(w)) return true;
    if (has_dtype<float>(w)) return false;
    throw py::type_error(std::string(kernel ? "kernel" : "recurrent_kernel") +
                         " must be float32 or float64. Received: dtype=" +
                         py::str(w.dtype()).cast<std::string>());
}

}  // namespace

void register_rnn(py::module_& m) {
    m.def(
        "simple_rnn_forward",
        [](py::array x, std::optional<py::array> kernel, py::array recurrent_kernel,
           std::optional<py::array> bias,
           std::optional<py::array> initial_state, std::optional<py::array> mask,
           std::optional<py::array> input_dropout_mask,
           std::optional<py::array> recurrent_dropout_mask, std::string activation,
           bool go_backwards, bool zero_output_for_mask, int num_threads,
           std::optional<py::array> token_ids, bool with_outputs) {
            RnnArgs a{x, kernel, token_ids, recurrent_kernel, bias, initial_state, mask,
                      input_dropout_mask, recurrent_dropout_mask, activation, go_backwards,
                      zero_output_for_mask, num_threads, false};
            return is_float64(kernel, recurrent_kernel) ? forward<double>(a, with_outputs)
                                                        : forward<float>(a, with_outputs);
        },
        py::arg("x"), py::arg("kernel").none(true), py::arg("recurrent_kernel"),
        py::arg("bias").none(true),
        py::arg("initial_state").none(true), py::arg("mask").none(true),
        py::arg("input_dropout_mask").none(true), py::arg("recurrent_dropout_mask").none(true),
        py::arg("activation"), py::arg("go_backwards"), py::arg("zero_output_for_mask"),
        py::arg("num_threads"), py::arg("token_ids").none(true) = py::none(),
        py::arg("with_outputs") = true,
        "SimpleRNN forward pass. Returns (outputs (B,T,H) or None without with_outputs,\n"
        "final_state (B,H), states, time_major): states are (T, S >= B*H) when time_major, else\n"
        "(B,T,H). All float arrays share the kernel's dtype and are C-contiguous; mask is\n"
        "uint8 (B,T); token_ids int64 (B,T) make x a (V,H) table of projected rows (kernel None).");
    m.def(
        "simple_rnn_backward",
        [](py::array x, std::optional<py::array> kernel, py::array recurrent_kernel, bool has_bias,
           std::optional<py::array> initial_state, std::optional<py::array> mask,
           std::optional<py::array> input_dropout_mask,
           std::optional<py::array> recurrent_dropout_mask, py::array states,
           std::optional<py::array> d_outputs, std::optional<py::array> d_final_state,
           std::string activation, bool go_backwards, bool zero_output_for_mask,
           int num_threads, std::optional<py::array> token_ids, bool time_major_states) {
            RnnArgs a{x, kernel, token_ids, recurrent_kernel, std::nullopt, initial_state, mask,
                      input_dropout_mask, recurrent_dropout_mask, activation, go_backwards,
                      zero_output_for_mask, num_threads, time_major_states};
            return is_float64(kernel, recurrent_kernel)
                       ? backward<double>(a, has_bias, states, d_outputs, d_final_state)
                       : backward<float>(a, has_bias, states, d_outputs, d_final_state);
        },
        py::arg("x"), py::arg("kernel").none(true), py::arg("recurrent_kernel"), py::arg("has_bias"),
        py::arg("initial_state").none(true), py::arg("mask").none(true),
        py::arg("input_dropout_mask").none(true), py::arg("recurrent_dropout_mask").none(true),
        py::arg("states"), py::arg("d_outputs").none(true), py::arg("d_final_state").none(true),
        py::arg("activation"), py::arg("go_backwards"), py::arg("zero_output_for_mask"),
        py::arg("num_threads"), py::arg("token_ids").none(true) = py::none(),
        py::arg("time_major_states") = false,
        "Backpropagation through time (time_major_states: the forward call's time_major).\n"
        "Returns (dx, dkernel, drecurrent_kernel, dbias or None, dinitial_state); with\n"
        "token_ids dx is the (V,H) gradient of the table.");
}

}  // namespace fastrnn::bindings
