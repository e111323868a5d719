// C++ test executable for the kernels (the sanitizer target, see tools/run_sanitizers.sh).
//
// Runs SimpleRNN forward/backward and the embedding gather/scatter for many shapes (H not a
// multiple of the register tile, B = 1 with a wide layer for the unit-split path, masks,
// go_backwards, dropout masks, initial states, more than one weight-gradient chunk), on every
// SIMD path this CPU has and with 1, 2 and 3 threads (set_min_work_per_thread(1) so that
// small problems use them too). Every result is compared with a naive
// double-precision reference written here from the formulas, and results for 2 and 3 threads
// must be bit-identical to 1 thread. Every buffer is a std::vector of exactly the needed size,
// so AddressSanitizer sees any read or write past an end. Exit status: 0 = all passed.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fastrnn/dispatch.hpp"
#include "fastrnn/kernels.hpp"
#include "fastrnn/parallel.hpp"
#include "fastrnn/pipeline.hpp"

namespace {

using fastrnn::Activation;

int g_failures = 0;
int g_checks = 0;

void fail(const std::string& what) {
    ++g_failures;
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

// ------------------------------------------------------------------------ a test case

struct Case {
    int64_t B, T, F, H;
    Activation act;
    bool bias, init, mask, go_backwards, zero_output, in_drop, rec_drop;
    bool d_out, d_final;
    double w_scale;  // scale of the recurrent kernel (stability of long sequences)
};

const char* act_name(Activation a) {
    switch (a) {
        case Activation::Tanh: return "tanh";
        case Activation::Relu: return "relu";
        case Activation::Sigmoid: return "sigmoid";
        default: return "linear";
    }
}

std::string describe(const Case& c, const std::string& path, int threads, const char* dtype) {
    char buf[320];
    std::snprintf(buf, sizeof(buf),
                  "[%s %s threads=%d] B=%lld T=%lld F=%lld H=%lld act=%s bias=%d init=%d "
                  "mask=%d back=%d zero_out=%d in_drop=%d rec_drop=%d d_out=%d d_final=%d",
                  path.c_str(), dtype, threads, (long long)c.B, (long long)c.T, (long long)c.F,
                  (long long)c.H, act_name(c.act), c.bias, c.init, c.mask, c.go_backwards,
                  c.zero_output, c.in_drop, c.rec_drop, c.d_out, c.d_final);
    return buf;
}

// Inputs in double; cast to the kernel dtype before each run.
struct Data {
    std::vector<double> x, kernel, rec, bias, h0, in_drop, rec_drop, d_out, d_final;
    std::vector<uint8_t> mask;
};

Data make_data(const Case& c, uint32_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    auto fill = [&](std::vector<double>& v, int64_t n, double scale) {
        v.resize(static_cast<size_t>(n));
        for (auto& e : v) e = scale * u(gen);
    };
    Data d;
    fill(d.x, c.B * c.T * c.F, 1.0);
    fill(d.kernel, c.F * c.H, c.F ? 1.0 / std::sqrt(double(c.F)) : 1.0);
    fill(d.rec, c.H * c.H, c.w_scale / std::sqrt(double(c.H)));
    if (c.bias) fill(d.bias, c.H, 0.5);
    if (c.init) fill(d.h0, c.B * c.H, 1.0);
    if (c.mask) {
        d.mask.resize(static_cast<size_t>(c.B * c.T));
        for (int64_t b = 0; b < c.B; ++b)
            for (int64_t t = 0; t < c.T; ++t) {
                uint8_t m = (gen() % 3) != 0;
                if (b == 0) m = 0;                              // a fully masked sample
                if (b == 1 && c.B > 2) m = t >= c.T / 2;        // leading masked steps
                if (b == 2 && c.B > 3) m = t < (c.T + 1) / 2;   // trailing masked steps
                d.mask[static_cast<size_t>(b * c.T + t)] = m;
            }
    }
    auto dropout = [&](std::vector<double>& v, int64_t n) {
        v.resize(static_cast<size_t>(n));
        for (auto& e : v) e = (gen() % 4 == 0) ? 0.0 : 1.0 / 0.75;
    };
    if (c.in_drop) dropout(d.in_drop, c.B * c.F);
    if (c.rec_drop) dropout(d.rec_drop, c.B * c.H);
    if (c.d_out) fill(d.d_out, c.B * c.T * c.H, 1.0);
    if (c.d_final) fill(d.d_final, c.B * c.H, 1.0);
    return d;
}

// ------------------------------------------------------------ double-precision reference

double act_f(Activation a, double v) {
    switch (a) {
        case Activation::Tanh: return std::tanh(v);
        case Activation::Relu: return v > 0 ? v : 0.0;
        case Activation::Sigmoid: return 1.0 / (1.0 + std::exp(-v));
        default: return v;
    }
}

// Derivative expressed through the output y.
double act_d(Activation a, double y) {
    switch (a) {
        case Activation::Tanh: return 1.0 - y * y;
        case Activation::Relu: return y > 0 ? 1.0 : 0.0;
        case Activation::Sigmoid: return y * (1.0 - y);
        default: return 1.0;
    }
}

struct Reference {
    std::vector<double> outputs, final_state, states;        // forward
    std::vector<double> dx, dkernel, drec, dbias, dh0;        // backward
};

// Straight from the recurrence, one sample at a time, in processing order s; the backward
// pass is reverse-mode differentiation of exactly these statements.
Reference reference(const Case& c, const Data& d) {
    const int64_t B = c.B, T = c.T, F = c.F, H = c.H;
    Reference r;
    r.outputs.assign(static_cast<size_t>(B * T * H), 0.0);
    r.states.assign(static_cast<size_t>(B * T * H), 0.0);
    r.final_state.assign(static_cast<size_t>(B * H), 0.0);
    r.dx.assign(static_cast<size_t>(B * T * F), 0.0);
    r.dkernel.assign(static_cast<size_t>(F * H), 0.0);
    r.drec.assign(static_cast<size_t>(H * H), 0.0);
    r.dbias.assign(static_cast<size_t>(H), 0.0);
    r.dh0.assign(static_cast<size_t>(B * H), 0.0);
    auto tin = [&](int64_t s) { return c.go_backwards ? T - 1 - s : s; };
    for (int64_t b = 0; b < B; ++b) {
        // prev[s] = state before step s (H values), y[s] = activation output of step s.
        std::vector<std::vector<double>> prev(static_cast<size_t>(T + 1), std::vector<double>(H));
        std::vector<std::vector<double>> y(static_cast<size_t>(T), std::vector<double>(H));
        std::vector<std::vector<double>> xin(static_cast<size_t>(T), std::vector<double>(F));
        std::vector<std::vector<double>> hin(static_cast<size_t>(T), std::vector<double>(H));
        std::vector<char> valid(static_cast<size_t>(T));
        for (int64_t j = 0; j < H; ++j) prev[0][j] = c.init ? d.h0[b * H + j] : 0.0;
        for (int64_t s = 0; s < T; ++s) {
            const int64_t t = tin(s);
            valid[s] = !c.mask || d.mask[b * T + t];
            for (int64_t f = 0; f < F; ++f)
                xin[s][f] = d.x[(b * T + t) * F + f] * (c.in_drop ? d.in_drop[b * F + f] : 1.0);
            for (int64_t j = 0; j < H; ++j)
                hin[s][j] = prev[s][j] * (c.rec_drop ? d.rec_drop[b * H + j] : 1.0);
            for (int64_t j = 0; j < H; ++j) {
                double a = c.bias ? d.bias[j] : 0.0;
                for (int64_t f = 0; f < F; ++f) a += xin[s][f] * d.kernel[f * H + j];
                for (int64_t k = 0; k < H; ++k) a += hin[s][k] * d.rec[k * H + j];
                y[s][j] = act_f(c.act, a);
            }
            for (int64_t j = 0; j < H; ++j) {
                const double h = valid[s] ? y[s][j] : prev[s][j];
                prev[s + 1][j] = h;
                r.states[(b * T + t) * H + j] = h;
                double o;
                if (valid[s]) o = h;
                else if (c.zero_output || s == 0) o = 0.0;
                else o = r.outputs[(b * T + s - 1) * H + j];
                r.outputs[(b * T + s) * H + j] = o;
            }
        }
        for (int64_t j = 0; j < H; ++j) r.final_state[b * H + j] = prev[T][j];

        // Backward.
        std::vector<double> g(H), carry(H, 0.0), delta(H), gprev(H);
        for (int64_t j = 0; j < H; ++j) g[j] = c.d_final ? d.d_final[b * H + j] : 0.0;
        for (int64_t s = T - 1; s >= 0; --s) {
            const int64_t t = tin(s);
            for (int64_t j = 0; j < H; ++j) {
                const double gout = (c.d_out ? d.d_out[(b * T + s) * H + j] : 0.0) + carry[j];
                carry[j] = 0.0;
                if (valid[s]) g[j] += gout;
                else if (!c.zero_output && s > 0) carry[j] = gout;  // out_s = out_{s-1}
            }
            if (!valid[s]) continue;  // h_s = prev_s: g passes through unchanged
            for (int64_t j = 0; j < H; ++j) delta[j] = g[j] * act_d(c.act, y[s][j]);
            for (int64_t f = 0; f < F; ++f) {
                double acc = 0.0;
                for (int64_t j = 0; j < H; ++j) {
                    r.dkernel[f * H + j] += xin[s][f] * delta[j];
                    acc += delta[j] * d.kernel[f * H + j];
                }
                r.dx[(b * T + t) * F + f] = acc * (c.in_drop ? d.in_drop[b * F + f] : 1.0);
            }
            for (int64_t k = 0; k < H; ++k) {
                double acc = 0.0;
                for (int64_t j = 0; j < H; ++j) {
                    r.drec[k * H + j] += hin[s][k] * delta[j];
                    acc += delta[j] * d.rec[k * H + j];
                }
                gprev[k] = acc * (c.rec_drop ? d.rec_drop[b * H + k] : 1.0);
            }
            for (int64_t j = 0; j < H; ++j) r.dbias[j] += delta[j];
            g = gprev;
        }
        for (int64_t j = 0; j < H; ++j) r.dh0[b * H + j] = g[j];
    }
    return r;
}

// ------------------------------------------------------------------ running the kernels

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
    return std::vector<T>(v.begin(), v.end());
}

template <typename T>
const T* ptr_or_null(const std::vector<T>& v, bool use) { return use ? v.data() : nullptr; }

template <typename T>
struct Result {
    std::vector<T> outputs, final_state, states, dx, dkernel, drec, dbias, dh0;
};

template <typename T>
Result<T> run(const Case& c, const Data& d, int threads, bool alias_outputs) {
    // Exactly-sized copies: AddressSanitizer catches any access past an end.
    const std::vector<T> x = cast<T>(d.x), kernel = cast<T>(d.kernel), rec = cast<T>(d.rec),
                         bias = cast<T>(d.bias), h0 = cast<T>(d.h0),
                         in_drop = cast<T>(d.in_drop), rec_drop = cast<T>(d.rec_drop),
                         d_out = cast<T>(d.d_out), d_final = cast<T>(d.d_final);
    const std::vector<uint8_t> mask = d.mask;
    fastrnn::SimpleRnnProblem<T> p;
    p.B = c.B; p.T = c.T; p.F = c.F; p.H = c.H;
    p.x = x.data();
    p.kernel = kernel.data();
    p.recurrent_kernel = rec.data();
    p.bias = ptr_or_null(bias, c.bias);
    p.initial_state = ptr_or_null(h0, c.init);
    p.mask = ptr_or_null(mask, c.mask);
    p.input_dropout_mask = ptr_or_null(in_drop, c.in_drop);
    p.recurrent_dropout_mask = ptr_or_null(rec_drop, c.rec_drop);
    p.activation = c.act;
    p.go_backwards = c.go_backwards;
    p.zero_output_for_mask = c.zero_output;
    p.threads = threads;

    const size_t bth = static_cast<size_t>(c.B * c.T * c.H);
    Result<T> r;
    r.states.assign(bth, T(-7));  // garbage the kernels must overwrite
    r.final_state.assign(static_cast<size_t>(c.B * c.H), T(-7));
    if (!alias_outputs) r.outputs.assign(bth, T(-7));
    fastrnn::simple_rnn_forward<T>(p, alias_outputs ? r.states.data() : r.outputs.data(),
                                   r.final_state.data(), r.states.data());
    if (alias_outputs) r.outputs = r.states;

    r.dx.assign(static_cast<size_t>(c.B * c.T * c.F), T(-7));
    r.dkernel.assign(static_cast<size_t>(c.F * c.H), T(-7));
    r.drec.assign(static_cast<size_t>(c.H * c.H), T(-7));
    if (c.bias) r.dbias.assign(static_cast<size_t>(c.H), T(-7));
    r.dh0.assign(static_cast<size_t>(c.B * c.H), T(-7));
    fastrnn::simple_rnn_backward<T>(p, r.states.data(), ptr_or_null(d_out, c.d_out),
                                    ptr_or_null(d_final, c.d_final), r.dx.data(),
                                    r.dkernel.data(), r.drec.data(),
                                    c.bias ? r.dbias.data() : nullptr, r.dh0.data());
    return r;
}

// max |got - want| <= tol * (1 + max |want|)
template <typename T>
void compare(const std::vector<T>& got, const std::vector<double>& want, double tol,
             const std::string& what) {
    ++g_checks;
    if (got.size() != want.size()) {
        fail(what + ": size mismatch");
        return;
    }
    double scale = 0.0, err = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        scale = std::fmax(scale, std::fabs(want[i]));
        const double e = std::fabs(double(got[i]) - want[i]);
        if (!(e <= err)) { err = e; worst = i; }  // NaN counts as the worst
    }
    if (!(err <= tol * (1.0 + scale))) {
        char buf[200];
        std::snprintf(buf, sizeof(buf), ": max error %.3g at %zu (got %.9g, want %.9g, scale %.3g)",
                      err, worst, double(got[worst]), want[worst], scale);
        fail(what + buf);
    }
}

template <typename T>
void identical(const std::vector<T>& a, const std::vector<T>& b, const std::string& what) {
    ++g_checks;
    if (a.size() != b.size() ||
        (!a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) != 0))
        fail(what + ": not bit-identical to 1 thread");
}

template <typename T>
void check_case(const Case& c, uint32_t seed, const std::string& path) {
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    // Float32 errors grow with the sequence length and the width of the sums.
    const double tol = sizeof(T) == 4 ? 2e-5 * std::sqrt(double(c.T * (c.F + c.H + 1))) : 1e-11 * c.T;
    const Data d = make_data(c, seed);
    const Reference ref = reference(c, d);
    const bool alias = !c.mask && !c.go_backwards;  // what the Python binding does
    Result<T> one;
    for (int threads : {1, 2, 3}) {
        const std::string what = describe(c, path, threads, dtype);
        Result<T> r = run<T>(c, d, threads, alias);
        compare(r.outputs, ref.outputs, tol, what + " outputs");
        compare(r.final_state, ref.final_state, tol, what + " final_state");
        compare(r.states, ref.states, tol, what + " states");
        compare(r.dx, ref.dx, tol, what + " dx");
        compare(r.dkernel, ref.dkernel, tol, what + " dkernel");
        compare(r.drec, ref.drec, tol, what + " drecurrent_kernel");
        if (c.bias) compare(r.dbias, ref.dbias, tol, what + " dbias");
        compare(r.dh0, ref.dh0, tol, what + " dinitial_state");
        if (threads == 1) {
            one = r;
            if (alias) {  // the separate-outputs form must give the same numbers
                Result<T> sep = run<T>(c, d, 1, false);
                identical(sep.outputs, one.outputs, what + " separate outputs buffer");
            }
            continue;
        }
        identical(r.outputs, one.outputs, what + " outputs");
        identical(r.final_state, one.final_state, what + " final_state");
        identical(r.states, one.states, what + " states");
        identical(r.dx, one.dx, what + " dx");
        identical(r.dkernel, one.dkernel, what + " dkernel");
        identical(r.drec, one.drec, what + " drecurrent_kernel");
        identical(r.dbias, one.dbias, what + " dbias");
        identical(r.dh0, one.dh0, what + " dinitial_state");
    }
}

// Non-finite inputs must not crash or trip a sanitizer; a NaN in one sample must not reach
// the outputs of another sample in the forward pass.
template <typename T>
void check_nonfinite(const std::string& path) {
    for (double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL, 1e300}) {
        for (Activation act : {Activation::Tanh, Activation::Relu, Activation::Sigmoid,
                               Activation::Linear}) {
            Case c{5, 9, 3, 21, act, true, false, false, false, false, false, false, true, true, 0.9};
            Data d = make_data(c, 99);
            const Reference clean = reference(c, d);
            d.x[2] = bad;  // sample 0, step 0
            d.x[static_cast<size_t>((0 * c.T + 4) * c.F + 1)] = bad;
            for (int threads : {1, 3}) {
                const std::string what = describe(c, path, threads, sizeof(T) == 4 ? "float32" : "float64") +
                                         " non-finite x=" + std::to_string(bad);
                Result<T> r = run<T>(c, d, threads, true);
                std::vector<T> rest(r.outputs.begin() + c.T * c.H, r.outputs.end());
                std::vector<double> rest_ref(clean.outputs.begin() + c.T * c.H, clean.outputs.end());
                compare(rest, rest_ref, sizeof(T) == 4 ? 1e-4 : 1e-10, what + " other samples");
            }
        }
    }
}

// ------------------------------------------------------------------------- embedding

template <typename T>
void check_embedding(int64_t N, int64_t V, int64_t D, const std::string& path) {
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    std::mt19937_64 gen(static_cast<uint64_t>(N * 131 + V * 7 + D));
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<int64_t> ids(static_cast<size_t>(N));
    for (auto& i : ids) i = static_cast<int64_t>(gen() % static_cast<uint64_t>(V));
    if (N > 2) { ids[0] = 0; ids[1] = V - 1; ids[2] = V - 1; }  // both ends, a repeat
    std::vector<T> emb(static_cast<size_t>(V * D)), dout(static_cast<size_t>(N * D));
    for (auto& e : emb) e = T(u(gen));
    for (auto& e : dout) e = T(u(gen));
    std::vector<double> want_out(static_cast<size_t>(N * D)), want_grad(static_cast<size_t>(V * D), 0.0);
    for (int64_t r = 0; r < N; ++r)
        for (int64_t j = 0; j < D; ++j) {
            want_out[r * D + j] = emb[ids[r] * D + j];
            want_grad[ids[r] * D + j] += dout[r * D + j];
        }
    std::vector<T> first;
    for (int threads : {1, 2, 3}) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "[%s %s threads=%d] embedding N=%lld V=%lld D=%lld",
                      path.c_str(), dtype, threads, (long long)N, (long long)V, (long long)D);
        std::vector<T> out(static_cast<size_t>(N * D), T(-7)), grad(static_cast<size_t>(V * D), T(-7));
        fastrnn::embedding_forward<T>(out.data(), ids.data(), emb.data(), N, V, D, threads);
        fastrnn::embedding_backward<T>(grad.data(), ids.data(), dout.data(), N, V, D, threads);
        compare(out, want_out, 0.0, std::string(buf) + " forward");
        compare(grad, want_grad, sizeof(T) == 4 ? 1e-5 * std::sqrt(double(N)) : 1e-12 * N,
                std::string(buf) + " backward");
        if (threads == 1) first = grad;
        else identical(grad, first, std::string(buf) + " backward");
        // The same rows laid out in blocks of 5 rows with a gap of 3 values after each block
        // (as time-major deltas with padded steps): the gaps hold NaN and must not be read.
        const int64_t block_rows = 5, block_stride = 5 * D + 3;
        const int64_t blocks = (N + block_rows - 1) / block_rows;
        std::vector<T> blocked(static_cast<size_t>(blocks * block_stride),
                               std::numeric_limits<T>::quiet_NaN());
        for (int64_t r = 0; r < N; ++r)
            std::copy_n(&dout[r * D], D,
                        &blocked[(r / block_rows) * block_stride + (r % block_rows) * D]);
        std::vector<T> grad_blocked(static_cast<size_t>(V * D), T(-7));
        fastrnn::embedding_backward_blocks<T>(grad_blocked.data(), ids.data(), blocked.data(), N,
                                              V, D, block_rows, block_stride, threads);
        identical(grad_blocked, first, std::string(buf) + " backward, rows in blocks");
    }
}

// The fused RMSprop step against the formula in double, for n values and 1/2/3 threads.
template <typename T>
void check_rmsprop(int64_t n) {
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    std::mt19937_64 gen(static_cast<uint64_t>(n * 17 + sizeof(T)));
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    std::vector<T> w0(static_cast<size_t>(n)), v0(static_cast<size_t>(n)), g(static_cast<size_t>(n));
    for (auto& e : w0) e = T(u(gen));
    for (auto& e : v0) e = T(std::fabs(u(gen)));
    for (auto& e : g) e = T(u(gen));
    const fastrnn::RmspropCoefficients c{0.01, 0.9, 1.0 - 0.9, 1e-7};
    std::vector<double> want_w(static_cast<size_t>(n)), want_v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        want_v[i] = 0.9 * double(v0[i]) + 0.1 * double(g[i]) * double(g[i]);
        want_w[i] = double(w0[i]) - 0.01 * double(g[i]) / std::sqrt(want_v[i] + 1e-7);
    }
    std::vector<T> first;
    for (int threads : {1, 2, 3}) {
        char buf[120];
        std::snprintf(buf, sizeof(buf), "[%s threads=%d] rmsprop n=%lld", dtype, threads,
                      (long long)n);
        std::vector<T> w = w0, v = v0;
        fastrnn::rmsprop_update<T>(w.data(), v.data(), g.data(), n, c, threads);
        const double tol = sizeof(T) == 4 ? 1e-6 : 1e-14;
        compare(v, want_v, tol, std::string(buf) + " velocity");
        compare(w, want_w, tol, std::string(buf) + " weights");
        if (threads == 1) first = w;
        else identical(w, first, std::string(buf) + " weights");
    }
}

// ops.matmul's product, row-split and (K >= 4096, few rows) chunked over k, against double sums;
// the same bits for 1-3 threads.
template <typename T>
void check_matmul(int64_t M, int64_t N, int64_t K, bool transpose_a, const std::string& path) {
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    std::mt19937_64 gen(static_cast<uint64_t>(M * 131 + N * 7 + K + transpose_a));
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<T> a(static_cast<size_t>(M * K)), b(static_cast<size_t>(K * N));
    for (auto& e : a) e = T(u(gen));
    for (auto& e : b) e = T(u(gen));
    std::vector<double> want(static_cast<size_t>(M * N), 0.0);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k) {
            const double aik = transpose_a ? double(a[k * M + i]) : double(a[i * K + k]);
            for (int64_t j = 0; j < N; ++j) want[i * N + j] += aik * double(b[k * N + j]);
        }
    std::vector<T> first;
    for (int threads : {1, 2, 3}) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "[%s %s threads=%d] matmul %lldx%lldx%lld%s", path.c_str(),
                      dtype, threads, (long long)M, (long long)K, (long long)N,
                      transpose_a ? " (a transposed)" : "");
        std::vector<T> c(static_cast<size_t>(M * N), T(-7));
        fastrnn::matmul<T>(c.data(), a.data(), b.data(), M, N, K, transpose_a, threads);
        const double tol = (sizeof(T) == 4 ? 1e-6 : 1e-14) * std::sqrt(double(K));
        compare(c, want, tol, buf);
        if (threads == 1) first = c;
        else identical(c, first, buf);
    }
}

// IsaKernels::gemm_runs (C += the products of `runs` runs of k, A's rows strided like the
// states: element (i, k) of run o at o * run_a + i + k * cs_a) against the same runs as
// separate gemm calls (the same bits) and against double sums.
template <typename T>
void check_gemm_runs(int64_t M, int64_t N, int64_t K, int64_t runs, const std::string& path) {
    const fastrnn::IsaKernels<T>& kern = fastrnn::active_kernels<T>();
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    char buf[160];
    std::snprintf(buf, sizeof(buf), "[%s %s] gemm_runs %lldx%lldx%lld, %lld runs", path.c_str(),
                  dtype, (long long)M, (long long)K, (long long)N, (long long)runs);
    std::mt19937_64 gen(static_cast<uint64_t>(M * 131 + N * 7 + K * 3 + runs));
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    const int64_t cs_a = M + 3, run_a = K * cs_a + 1;  // rows of A and runs with gaps
    const int64_t ldb = N + 2, run_b = K * ldb + 5;
    std::vector<T> a(static_cast<size_t>(runs * run_a)), b(static_cast<size_t>(runs * run_b));
    std::vector<T> c0(static_cast<size_t>(M * N));
    for (auto& e : a) e = T(u(gen));
    for (auto& e : b) e = T(u(gen));
    for (auto& e : c0) e = T(u(gen));
    std::vector<double> want(c0.begin(), c0.end());
    for (int64_t o = 0; o < runs; ++o)
        for (int64_t i = 0; i < M; ++i)
            for (int64_t k = 0; k < K; ++k)
                for (int64_t j = 0; j < N; ++j)
                    want[i * N + j] += double(a[o * run_a + i + k * cs_a]) *
                                       double(b[o * run_b + k * ldb + j]);
    std::vector<T> got = c0, calls = c0;
    kern.gemm_runs(got.data(), N, a.data(), 1, cs_a, run_a, b.data(), ldb, run_b, M, N, K, runs);
    for (int64_t o = 0; o < runs; ++o)
        kern.gemm(calls.data(), N, a.data() + o * run_a, 1, cs_a, b.data() + o * run_b, ldb,
                  nullptr, M, N, K, true, Activation::Linear);
    compare(got, want, (sizeof(T) == 4 ? 1e-6 : 1e-14) * std::sqrt(double(K * runs)), buf);
    identical(got, calls, buf);
}

// IsaKernels::gemm_delta (a backward step's product with the next delta in its epilogue)
// against gemm into a buffer then step_delta (the same bits) and against double sums; rows of
// A, Y and delta with gaps, prefetch offsets within the buffers.
template <typename T>
void check_gemm_delta(int64_t M, int64_t N, Activation act, const std::string& path) {
    const fastrnn::IsaKernels<T>& kern = fastrnn::active_kernels<T>();
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    char buf[160];
    std::snprintf(buf, sizeof(buf), "[%s %s] gemm_delta %lldx%lld %s", path.c_str(), dtype,
                  (long long)M, (long long)N, act_name(act));
    std::mt19937_64 gen(static_cast<uint64_t>(M * 131 + N * 7 + static_cast<int>(act)));
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    const int64_t ld = N + 3, rows = 2 * M;  // the second half: the rows prefetched ahead
    std::vector<T> a(static_cast<size_t>(rows * ld)), b(static_cast<size_t>(N * N));
    std::vector<T> y(static_cast<size_t>(rows * ld));
    for (auto& e : a) e = T(u(gen));
    for (auto& e : b) e = T(u(gen));
    for (auto& e : y) {  // outputs the activation can give
        const double v = u(gen);
        e = T(act == Activation::Sigmoid ? 0.5 + 0.5 * v : act == Activation::Relu ? std::fabs(v) : v);
    }
    std::vector<double> want(static_cast<size_t>(M * ld), 0.0);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double g = 0.0;
            for (int64_t k = 0; k < N; ++k) g += double(a[i * ld + k]) * double(b[k * N + j]);
            const double yv = y[i * ld + j];
            const double d = act == Activation::Tanh ? 1.0 - yv * yv
                           : act == Activation::Sigmoid ? yv * (1.0 - yv)
                           : act == Activation::Relu ? (yv > 0.0 ? 1.0 : 0.0) : 1.0;
            want[i * ld + j] = g * d;
        }
    std::vector<T> got(static_cast<size_t>(rows * ld), T(0)), g(static_cast<size_t>(M * N));
    std::vector<T> two_pass = got;
    kern.gemm_delta(got.data(), ld, a.data(), ld, b.data(), N, y.data(), ld, M, N, N, M * ld,
                    M * ld, act);
    kern.gemm(g.data(), N, a.data(), ld, 1, b.data(), N, nullptr, M, N, N, false,
              Activation::Linear);
    kern.step_delta(two_pass.data(), g.data(), nullptr, nullptr, y.data(), M, N, ld, N, 0, 0, act);
    got.resize(static_cast<size_t>(M * ld));
    two_pass.resize(got.size());
    for (int64_t i = 0; i < M; ++i)  // the gaps between rows are not part of the result
        for (int64_t j = N; j < ld; ++j) got[i * ld + j] = two_pass[i * ld + j] = T(0);
    compare(got, want, (sizeof(T) == 4 ? 1e-6 : 1e-14) * std::sqrt(double(N)), buf);
    identical(got, two_pass, buf);
}

// gemm_rows (a step's initial sums read from table rows through pointers) against double
// sums, and bit-identical to copying the rows plus bias into C and gemm with accumulate;
// rows repeat, K = 0 (activation of rows + bias only) and K beyond one k block included.
template <typename T>
void check_gemm_rows(int64_t M, int64_t N, int64_t K, bool with_bias, Activation act,
                     const std::string& path) {
    const fastrnn::IsaKernels<T>& kern = fastrnn::active_kernels<T>();
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    char buf[160];
    std::snprintf(buf, sizeof(buf), "[%s %s] gemm_rows %lldx%lldx%lld%s %s", path.c_str(), dtype,
                  (long long)M, (long long)N, (long long)K, with_bias ? " bias" : "",
                  act_name(act));
    std::mt19937_64 gen(static_cast<uint64_t>(M * 131 + N * 7 + K * 3 + static_cast<int>(act)));
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    const int64_t V = 11, ld_table = N + 5, ld_a = K + 2;
    std::vector<T> table(static_cast<size_t>(V * ld_table)), bias(static_cast<size_t>(N));
    std::vector<T> a(static_cast<size_t>(M * ld_a)), b(static_cast<size_t>(K * N + 1));
    for (auto* v : {&table, &bias, &a, &b})
        for (auto& e : *v) e = T(u(gen));
    std::vector<const T*> rows(static_cast<size_t>(M));
    for (auto& r : rows) r = table.data() + static_cast<int64_t>(gen() % V) * ld_table;
    std::vector<double> want(static_cast<size_t>(M * N));
    std::vector<T> copied(static_cast<size_t>(M * N));
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            const T start = with_bias ? rows[i][j] + bias[j] : rows[i][j];
            copied[i * N + j] = start;
            double z = double(start);
            for (int64_t k = 0; k < K; ++k) z += double(a[i * ld_a + k]) * double(b[k * N + j]);
            want[i * N + j] = act == Activation::Tanh ? std::tanh(z)
                            : act == Activation::Sigmoid ? 1.0 / (1.0 + std::exp(-z))
                            : act == Activation::Relu ? std::fmax(z, 0.0) : z;
        }
    std::vector<T> got(static_cast<size_t>(M * N), T(0));
    kern.gemm_rows(got.data(), N, rows.data(), K ? a.data() : nullptr, ld_a,
                   K ? b.data() : nullptr, N, with_bias ? bias.data() : nullptr, M, N, K, act);
    kern.gemm(copied.data(), N, a.data(), ld_a, 1, b.data(), N, nullptr, M, N, K, true, act);
    compare(got, want, (sizeof(T) == 4 ? 1e-6 : 1e-14) * std::sqrt(double(K + 2)), buf);
    identical(got, copied, buf);
}

// The fused Adam step (with and without amsgrad) against the formula in double.
template <typename T>
void check_adam(int64_t n, bool amsgrad) {
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    std::mt19937_64 gen(static_cast<uint64_t>(n * 29 + sizeof(T) + amsgrad));
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    const size_t sz = static_cast<size_t>(n);
    std::vector<T> w0(sz), m0(sz), v0(sz), h0(sz), g(sz);
    for (size_t i = 0; i < sz; ++i) {
        w0[i] = T(u(gen)); m0[i] = T(u(gen)); g[i] = T(u(gen));
        v0[i] = T(std::fabs(u(gen))); h0[i] = T(std::fabs(u(gen)));
    }
    const double alpha = 0.01 * std::sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9);  // step 2
    const fastrnn::AdamCoefficients c{alpha, 1 - 0.9, 1 - 0.999, 1e-7};
    std::vector<double> want_w(sz), want_m(sz), want_v(sz);
    for (size_t i = 0; i < sz; ++i) {
        want_m[i] = double(m0[i]) + (double(g[i]) - double(m0[i])) * 0.1;
        want_v[i] = double(v0[i]) + (double(g[i]) * double(g[i]) - double(v0[i])) * (1 - 0.999);
        const double d = amsgrad ? std::max(double(h0[i]), want_v[i]) : want_v[i];
        want_w[i] = double(w0[i]) - want_m[i] * alpha / (std::sqrt(d) + 1e-7);
    }
    std::vector<T> first;
    for (int threads : {1, 2, 3}) {
        char buf[120];
        std::snprintf(buf, sizeof(buf), "[%s threads=%d] adam%s n=%lld", dtype, threads,
                      amsgrad ? " amsgrad" : "", (long long)n);
        std::vector<T> w = w0, m = m0, v = v0, h = h0;
        fastrnn::adam_update<T>(w.data(), m.data(), v.data(), amsgrad ? h.data() : nullptr,
                                g.data(), n, c, threads);
        const double tol = sizeof(T) == 4 ? 1e-6 : 1e-14;
        compare(m, want_m, tol, std::string(buf) + " momentum");
        compare(v, want_v, tol, std::string(buf) + " velocity");
        compare(w, want_w, sizeof(T) == 4 ? 1e-5 : 1e-13, std::string(buf) + " weights");
        if (threads == 1) first = w;
        else identical(w, first, std::string(buf) + " weights");
    }
}

// The same token-id problem with time-major states (no outputs): the same final state, bit for
// bit, and the same gradients up to the order of the sums; the padding between steps (where
// there is one) is never written.
template <typename T>
void check_time_major(fastrnn::SimpleRnnProblem<T> p, const std::vector<T>& fin,
                      const std::vector<T>& d_final, const std::vector<T>& d_table,
                      const std::vector<T>& drec, const std::vector<T>& dbias,
                      const std::vector<T>& dh0, const std::string& what) {
    const int64_t step = fastrnn::time_major_step_stride(p);
    if (step < p.B * p.H) fail(what + " time-major step shorter than B*H");
    p.time_major_step = step;
    std::vector<T> states(static_cast<size_t>(p.T * step), T(-7)), fin_tm(fin.size());
    fastrnn::simple_rnn_forward<T>(p, nullptr, fin_tm.data(), states.data());
    identical(fin_tm, fin, what + " time-major final state");
    for (int64_t t = 0; t < p.T; ++t)
        for (int64_t e = p.B * p.H; e < step; ++e)
            if (states[t * step + e] != T(-7)) fail(what + " time-major padding written");
    std::vector<T> dt(d_table.size(), T(-7)), dr(drec.size()), db(dbias.size()), dh(dh0.size());
    fastrnn::simple_rnn_backward<T>(p, states.data(), nullptr, d_final.data(), dt.data(), nullptr,
                                    dr.data(), db.data(), dh.data());
    const double tol = sizeof(T) == 4 ? 1e-4 : 1e-11;
    compare(dt, std::vector<double>(d_table.begin(), d_table.end()), tol, what + " time-major table gradient");
    compare(dr, std::vector<double>(drec.begin(), drec.end()), tol, what + " time-major drec");
    compare(db, std::vector<double>(dbias.begin(), dbias.end()), tol, what + " time-major dbias");
    identical(dh, dh0, what + " time-major dinitial_state");
}

// Projected inputs read through token ids must equal the same rows gathered beforehand: the
// outputs, and the table gradient equal to the gathered path's dx summed per id.
template <typename T>
void check_token_ids(int64_t B, int64_t T_, int64_t V, int64_t H, const std::string& path) {
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    std::mt19937_64 gen(static_cast<uint64_t>(B * 977 + T_ * 31 + V * 7 + H));
    std::uniform_real_distribution<double> u(-0.5, 0.5);
    const int64_t N = B * T_;
    std::vector<int64_t> ids(static_cast<size_t>(N));
    for (auto& i : ids) i = static_cast<int64_t>(gen() % static_cast<uint64_t>(V));
    if (N > 2) { ids[0] = 0; ids[1] = V - 1; ids[2] = V - 1; }  // both ends, a repeat
    std::vector<T> table(static_cast<size_t>(V * H)), rec(static_cast<size_t>(H * H)),
        bias(static_cast<size_t>(H)), gathered(static_cast<size_t>(N * H)),
        d_final(static_cast<size_t>(B * H));
    for (auto& e : table) e = T(u(gen));
    for (auto& e : rec) e = T(u(gen));
    for (auto& e : bias) e = T(u(gen));
    for (auto& e : d_final) e = T(u(gen));
    for (int64_t r = 0; r < N; ++r)
        std::memcpy(&gathered[r * H], &table[ids[r] * H], static_cast<size_t>(H) * sizeof(T));
    std::vector<T> first_out, first_grad;
    for (int threads : {1, 2, 3}) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "[%s %s threads=%d] token_ids B=%lld T=%lld V=%lld H=%lld",
                      path.c_str(), dtype, threads, (long long)B, (long long)T_, (long long)V,
                      (long long)H);
        fastrnn::SimpleRnnProblem<T> p;
        p.B = B; p.T = T_; p.F = H; p.H = H;
        p.recurrent_kernel = rec.data();
        p.bias = bias.data();
        p.projected_inputs = true;
        p.threads = threads;
        std::vector<T> out_g(static_cast<size_t>(N * H), T(-7)), fin_g(static_cast<size_t>(B * H));
        std::vector<T> out_t(static_cast<size_t>(N * H), T(-7)), fin_t(static_cast<size_t>(B * H));
        p.x = gathered.data();
        fastrnn::simple_rnn_forward<T>(p, out_g.data(), fin_g.data(), out_g.data());
        std::vector<T> dx_g(static_cast<size_t>(N * H), T(-7)), drec(static_cast<size_t>(H * H)),
            dbias(static_cast<size_t>(H)), dh0(static_cast<size_t>(B * H));
        fastrnn::simple_rnn_backward<T>(p, out_g.data(), nullptr, d_final.data(), dx_g.data(),
                                        nullptr, drec.data(), dbias.data(), dh0.data());
        p.x = table.data();
        p.token_ids = ids.data();
        p.V = V;
        fastrnn::simple_rnn_forward<T>(p, out_t.data(), fin_t.data(), out_t.data());
        std::vector<T> d_table(static_cast<size_t>(V * H), T(-7));
        fastrnn::simple_rnn_backward<T>(p, out_t.data(), nullptr, d_final.data(), d_table.data(),
                                        nullptr, drec.data(), dbias.data(), dh0.data());
        if (B > 1) check_time_major(p, fin_t, d_final, d_table, drec, dbias, dh0, buf);
        std::vector<double> want(static_cast<size_t>(V * H), 0.0);
        for (int64_t r = 0; r < N; ++r)
            for (int64_t j = 0; j < H; ++j) want[ids[r] * H + j] += dx_g[r * H + j];
        compare(out_t, std::vector<double>(out_g.begin(), out_g.end()), 0.0,
                std::string(buf) + " outputs");
        compare(d_table, want, sizeof(T) == 4 ? 1e-5 * std::sqrt(double(N)) : 1e-12 * N,
                std::string(buf) + " table gradient");
        if (threads == 1) {
            first_out = out_t;
            first_grad = d_table;
        } else {
            identical(out_t, first_out, std::string(buf) + " outputs");
            identical(d_table, first_grad, std::string(buf) + " table gradient");
        }
    }
}

// ------------------------------------------------------------------------------ pipeline

// pipeline_blocks, many jobs back to back (the helper claims blocks of some, sleeps through
// others): every block produced exactly once, with the job's values, before it is consumed,
// and consumed in order on the calling thread. `caller` tells concurrent callers apart (one
// gets the helper, the other runs alone).
void check_pipeline(int caller, int& failures) {
    for (int job = 0; job < 3000; ++job) {
        const int64_t blocks = 1 + (job * 7 + caller) % 41;
        std::vector<int> produced(static_cast<size_t>(blocks), 0);
        std::vector<int64_t> value(static_cast<size_t>(blocks), -1);
        int64_t next = 0;
        bool ok = true;
        const std::thread::id me = std::this_thread::get_id();
        fastrnn::pipeline_blocks(
            blocks, job % 5 != 0,
            [&](int64_t i) {
                ++produced[i];
                value[i] = i * 1000 + job;
            },
            [&](int64_t i) {
                ok = ok && i == next++ && produced[i] == 1 && value[i] == i * 1000 + job &&
                     std::this_thread::get_id() == me;
            });
        ok = ok && next == blocks;
        for (int n : produced) ok = ok && n == 1;
        if (!ok) {
            ++failures;
            return;
        }
        if (job % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // sleeps
    }
}

// WorkQueue: every unit handed out exactly once, in runs that never grow, with 1..4 threads
// claiming at once (std::thread, so this runs without OpenMP too).
void check_work_queue() {
    for (int threads : {1, 2, 3, 4}) {
        for (int64_t count : {0, 1, 5, 22, 1000}) {
            fastrnn::WorkQueue queue(count, threads);
            std::vector<int> taken(static_cast<size_t>(count), 0);
            std::vector<std::vector<int64_t>> runs(static_cast<size_t>(threads));
            std::vector<std::thread> pool;
            for (int t = 0; t < threads; ++t)
                pool.emplace_back([&, t] {
                    int64_t b, e;
                    while (queue.next(b, e)) {
                        runs[t].push_back(e - b);
                        for (int64_t u = b; u < e; ++u) ++taken[u];  // a unit belongs to one run
                    }
                });
            for (auto& th : pool) th.join();
            ++g_checks;
            const std::string what = "WorkQueue(" + std::to_string(count) + ", " +
                                      std::to_string(threads) + ")";
            if (std::any_of(taken.begin(), taken.end(), [](int n) { return n != 1; }))
                fail(what + ": a unit was not handed out exactly once");
            for (const auto& r : runs) {
                if (std::any_of(r.begin(), r.end(), [&](int64_t n) {
                        return n < 1 || n > queue.largest_run(); }))
                    fail(what + ": a run is empty or longer than largest_run()");
                if (!std::is_sorted(r.rbegin(), r.rend()))
                    fail(what + ": a thread's runs grew");
            }
            if (threads == 1 && count > 0 && runs[0].size() != 1)
                fail(what + ": a lone thread should take everything at once");
        }
    }
}

// BlockChains: every block of every chain handed out exactly once, a chain's blocks in order
// and never two at a time, with 1..4 threads claiming at once (std::thread, so this runs
// without OpenMP too), and try_next's busy and finished answers; group_bounds: increasing
// boundaries from 0 to the tile count.
void check_block_chains() {
    for (int threads : {1, 2, 3, 4}) {
        for (int64_t chains : {1, 2, 5}) {
            const int64_t blocks = 7;
            fastrnn::BlockChains queue(chains, blocks);
            std::vector<std::atomic<int64_t>> done(static_cast<size_t>(chains));
            for (auto& d : done) d.store(0);
            std::atomic<int> errors{0};
            std::vector<std::thread> pool;
            for (int t = 0; t < threads; ++t)
                pool.emplace_back([&] {
                    int64_t c, k;
                    while (queue.next(c, k)) {
                        // Block k must follow exactly k finished blocks of its chain.
                        if (done[c].load() != k) ++errors;
                        std::this_thread::yield();  // let another thread try to take the chain
                        done[c].store(k + 1);
                        queue.finish(c, k);
                    }
                });
            for (auto& th : pool) th.join();
            ++g_checks;
            const std::string what = "BlockChains(" + std::to_string(chains) + ", 7), " +
                                      std::to_string(threads) + " threads";
            if (errors.load()) fail(what + ": a block ran out of order or twice at once");
            for (auto& d : done)
                if (d.load() != blocks) fail(what + ": a chain did not run every block");
        }
    }
    {  // try_next never waits: busy while every unfinished chain is held
        using Claim = fastrnn::BlockChains::Claim;
        fastrnn::BlockChains queue(2, 1);
        int64_t c0 = -1, c1 = -1, k = -1, c = -1;
        const bool ok = queue.try_next(c0, k) == Claim::kBlock && k == 0 &&
                        queue.try_next(c1, k) == Claim::kBlock && k == 0 && c0 != c1 &&
                        queue.try_next(c, k) == Claim::kBusy &&
                        (queue.finish(c0, 0), queue.try_next(c, k) == Claim::kBusy) &&
                        (queue.finish(c1, 0), queue.try_next(c, k) == Claim::kFinished);
        ++g_checks;
        if (!ok) fail("BlockChains::try_next: wrong claim with held or finished chains");
    }
    for (int threads : {1, 2, 3, 16})
        for (int64_t tiles : {1, 2, 4, 22, 100}) {
            const std::vector<int64_t> b = fastrnn::group_bounds(tiles, threads);
            ++g_checks;
            bool ok = b.size() >= 2 && b.front() == 0 && b.back() == tiles;
            for (size_t i = 1; ok && i < b.size(); ++i) ok = b[i] > b[i - 1];
            if (!ok)
                fail("group_bounds(" + std::to_string(tiles) + ", " + std::to_string(threads) +
                     ") is not an increasing cover of [0, tiles]");
        }
}

void check_pipelines() {
    int alone = 0;
    check_pipeline(0, alone);
    ++g_checks;
    if (alone) fail("pipeline_blocks: a block produced twice, late, or consumed out of order");
    int failures[2] = {0, 0};
    std::thread other([&] { check_pipeline(1, failures[1]); });
    check_pipeline(0, failures[0]);
    other.join();
    ++g_checks;
    if (failures[0] || failures[1]) fail("pipeline_blocks: two concurrent callers");
}

// ------------------------------------------------------------------------------ cases

std::vector<Case> cases() {
    const Activation A[] = {Activation::Tanh, Activation::Relu, Activation::Sigmoid,
                            Activation::Linear};
    std::vector<Case> out;
    //            B   T   F   H   act   bias  init  mask  back  zero  indr  recdr dout dfin scale
    out.push_back({1, 1, 1, 1, A[0], true, false, false, false, false, false, false, true, true, 0.9});
    out.push_back({1, 1, 0, 3, A[0], true, true, false, false, false, false, false, true, true, 0.9});
    out.push_back({2, 3, 4, 5, A[3], false, true, false, false, false, false, false, true, false, 0.5});
    out.push_back({3, 17, 5, 7, A[0], true, true, true, false, false, false, false, true, true, 0.9});
    out.push_back({7, 20, 6, 17, A[1], true, false, true, true, false, true, true, true, true, 0.6});
    out.push_back({13, 33, 9, 31, A[2], true, true, true, true, true, true, true, true, false, 1.0});
    out.push_back({5, 19, 3, 33, A[0], false, false, false, true, false, false, true, false, true, 0.9});
    out.push_back({8, 16, 8, 16, A[3], true, true, false, false, false, true, false, true, true, 0.5});
    // B = 1 with a wide layer: the unit-split path (threads > row tiles, H >= 4 * nr).
    out.push_back({1, 6, 4, 300, A[0], true, true, false, false, false, false, false, true, true, 0.9});
    out.push_back({1, 5, 3, 300, A[1], true, false, true, true, false, false, true, true, true, 0.5});
    out.push_back({2, 4, 5, 257, A[2], false, true, true, false, true, true, true, true, true, 1.0});
    out.push_back({3, 7, 2, 130, A[0], true, true, true, true, false, true, true, false, true, 0.9});
    // B = 1 over several blocks of steps (the last partial): plain, backwards from an initial
    // state, and with mask and dropout (step by step).
    out.push_back({1, 53, 5, 16, A[0], true, false, false, false, false, false, false, true, true, 0.9});
    out.push_back({1, 50, 3, 11, A[2], true, true, false, true, false, true, false, true, true, 0.9});
    out.push_back({1, 49, 4, 8, A[0], false, true, true, true, true, true, true, true, true, 0.9});
    // More than one weight-gradient chunk (B * T > 512 rows) and B not a multiple of any tile.
    out.push_back({11, 53, 4, 19, A[0], true, true, true, false, false, false, false, true, true, 0.9});
    out.push_back({9, 70, 3, 12, A[3], true, false, false, true, true, true, true, true, true, 0.4});
    // Rows of three and six 512-bit vectors (float32; 6 and 12 for float64), which the AVX-512
    // path keeps (narrower rows take the AVX2 kernels): the panels of two vectors and of one,
    // row tails, a lone sample's chained rows, masked steps.
    out.push_back({5, 21, 6, 48, A[0], true, true, false, false, false, false, false, true, true, 0.9});
    out.push_back({1, 40, 5, 48, A[0], true, false, true, true, false, true, true, true, true, 0.7});
    out.push_back({1, 30, 3, 96, A[2], true, true, false, false, false, false, false, true, true, 0.8});
    out.push_back({7, 25, 4, 96, A[0], false, true, true, true, true, true, true, true, false, 0.6});
    for (Activation a : A)  // every activation on a tile-edge shape, with and without masks
        for (bool m : {false, true})
            out.push_back({6, 18, 7, 23, a, true, m, m, !m, m, m, !m, true, true, 0.8});
    return out;
}

}  // namespace

int main() {
    // The kernels skip threads for small problems; this test's problems are small, and every
    // threaded path must run, so any amount of work is worth a thread here.
    fastrnn::set_min_work_per_thread(1.0);
    const std::vector<std::string> paths = fastrnn::available_simd_paths();
    if (paths.empty()) {
        std::fprintf(stderr, "FAIL: available_simd_paths() is empty\n");
        return 1;
    }
    if (fastrnn::set_simd_path("no-such-path")) fail("set_simd_path accepted an unknown name");
    const std::vector<Case> all = cases();
    for (const std::string& path : paths) {
        if (!fastrnn::set_simd_path(path)) {
            fail("set_simd_path(" + path + ") refused an available path");
            continue;
        }
        if (fastrnn::simd_path() != path) fail("simd_path() does not report " + path);
        uint32_t seed = 1;
        for (const Case& c : all) {
            check_case<float>(c, seed, path);
            check_case<double>(c, seed, path);
            ++seed;
        }
        check_nonfinite<float>(path);
        check_nonfinite<double>(path);
        for (auto nvd : {std::vector<int64_t>{1, 1, 1}, {5, 3, 7}, {300, 50, 17},
                         {4100, 70, 3}, {5000, 129, 16}}) {
            check_embedding<float>(nvd[0], nvd[1], nvd[2], path);
            check_embedding<double>(nvd[0], nvd[1], nvd[2], path);
        }
        for (auto btvh : {std::vector<int64_t>{1, 1, 1, 1}, {3, 9, 5, 7}, {13, 40, 50, 33},
                          {1, 30, 4, 16}, {128, 7, 30, 32}, {9, 60, 20, 16}, {6, 10, 9, 64}}) {
            check_token_ids<float>(btvh[0], btvh[1], btvh[2], btvh[3], path);
            check_token_ids<double>(btvh[0], btvh[1], btvh[2], btvh[3], path);
        }
        for (auto mnk : {std::vector<int64_t>{43, 11, 17}, {32, 32, 5000}, {7, 40, 4100},
                         {50, 3, 9000}})
            for (bool transpose_a : {false, true}) {
                check_matmul<float>(mnk[0], mnk[1], mnk[2], transpose_a, path);
                check_matmul<double>(mnk[0], mnk[1], mnk[2], transpose_a, path);
            }
        for (auto mnkr : {std::vector<int64_t>{32, 32, 24, 12}, {1, 32, 23, 5}, {13, 40, 7, 3},
                          {7, 3, 1, 2}, {33, 70, 9, 4}, {64, 64, 24, 1}, {13, 32, 6, 4},
                          {9, 16, 5, 3}})
            for (int64_t runs : {mnkr[3], int64_t(0)}) {
                check_gemm_runs<float>(mnkr[0], mnkr[1], mnkr[2], runs, path);
                check_gemm_runs<double>(mnkr[0], mnkr[1], mnkr[2], runs, path);
            }
        for (auto mn : {std::vector<int64_t>{12, 32}, {1, 16}, {7, 20}, {13, 37}, {30, 64},
                        {5, 100}})
            for (Activation act : {Activation::Tanh, Activation::Relu, Activation::Sigmoid,
                                   Activation::Linear}) {
                check_gemm_delta<float>(mn[0], mn[1], act, path);
                check_gemm_delta<double>(mn[0], mn[1], act, path);
            }
        for (auto mnk : {std::vector<int64_t>{12, 32, 32}, {1, 16, 16}, {7, 20, 20},
                         {13, 37, 37}, {30, 64, 64}, {5, 100, 100}, {9, 32, 0}, {6, 48, 200}})
            for (Activation act : {Activation::Tanh, Activation::Relu, Activation::Sigmoid,
                                   Activation::Linear})
                for (bool with_bias : {true, false}) {
                    check_gemm_rows<float>(mnk[0], mnk[1], mnk[2], with_bias, act, path);
                    check_gemm_rows<double>(mnk[0], mnk[1], mnk[2], with_bias, act, path);
                }
        std::printf("path %s: done\n", path.c_str());
    }
    check_pipelines();
    check_block_chains();
    check_work_queue();
    for (int64_t n : {1, 7, 300, 100003}) {  // no SIMD path: one build for all CPUs
        check_rmsprop<float>(n);
        check_rmsprop<double>(n);
        for (bool amsgrad : {false, true}) {
            check_adam<float>(n, amsgrad);
            check_adam<double>(n, amsgrad);
        }
    }
    std::printf("%d checks, %d failures, paths:", g_checks, g_failures);
    for (const auto& p : paths) std::printf(" %s", p.c_str());
    std::printf("\n");
    return g_failures == 0 ? 0 : 1;
}
