// Argument checks for the bindings: every failure is a ValueError/TypeError that names the
// argument and gives the expected and the received shape or dtype. Shapes and dtypes are a
// backstop (fastrnn/ops.py validates them first with friendlier messages); the finiteness of
// the parameters (require_finite) is checked only here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace fastrnn::bindings {

namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
    std::ostringstream s;
    s << "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
    s << (a.ndim() == 1 ? ",)" : ")");
    return s.str();
}

// Whether a's dtype equals T's (by value: arrays from pickles carry equal but distinct dtype
// objects; non-native byte order is a different dtype).
template <typename T>
bool has_dtype(const py::array& a) {
    return a.dtype().equal(py::dtype::of<T>());
}

template <typename T>
void require_dtype(const py::array& a, const char* name) {
    if (!has_dtype<T>(a)) {
        throw py::type_error(std::string(name) + " must have dtype " +
                             py::str(py::dtype::of<T>()).cast<std::string>() + ". Received: dtype=" +
                             py::str(a.dtype()).cast<std::string>());
    }
}

inline void require_c_contiguous(const py::array& a, const char* name) {
    if (!(a.flags() & py::array::c_style))
        throw std::invalid_argument(std::string(name) + " must be C-contiguous");
}

// Requires a C-contiguous array of exactly dtype T and the given shape (-1 = any size).
template <typename T>
void require(const py::array& a, const char* name, std::initializer_list<int64_t> shape) {
    require_dtype<T>(a, name);
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    py::ssize_t i = 0;
    for (int64_t want : shape) {
        if (ok && want >= 0 && a.shape(i) != want) ok = false;
        ++i;
    }
    if (!ok) {
        std::ostringstream s;
        s << name << " must have shape (";
        i = 0;
        for (int64_t want : shape) {
            s << (i++ ? ", " : "");
            if (want >= 0) s << want; else s << "?";
        }
        s << "). Received: shape=" << shape_str(a);
        throw std::invalid_argument(s.str());
    }
    require_c_contiguous(a, name);
}

// Whether every one of the n ids is in [0, V): branch-free over every id (vectorizes), the
// sign bit of id or of V - 1 - id.
inline bool ids_in_range(const int64_t* p, py::ssize_t n, int64_t V) {
    uint64_t bad = 0;
    for (py::ssize_t i = 0; i < n; ++i)
        bad |= (static_cast<uint64_t>(p[i]) |
                (static_cast<uint64_t>(V - 1) - static_cast<uint64_t>(p[i]))) >> 63;
    return !bad;
}

// int64 (B, T) token ids, every one in [0, V): checked before any kernel reads through them.
inline void check_ids(const py::array& ids, const char* name, int64_t V) {
    require<int64_t>(ids, name, {-1, -1});
    const int64_t* p = static_cast<const int64_t*>(ids.data());
    const py::ssize_t n = ids.size();
    if (ids_in_range(p, n, V)) return;
    for (py::ssize_t i = 0; i < n; ++i)  // the first id out of range, for the message
        if (p[i] < 0 || p[i] >= V)
            throw std::invalid_argument(std::string(name) + " must be in [0, " +
                                        std::to_string(V) + "). Received: " +
                                        std::to_string(p[i]));
}

// Requires every value of a (already checked by require<T>) to be finite. No early exit, and
// the test is on the bits (all exponent bits set: NaN or Inf) with shifts and adds only, so
// that the loop vectorizes even for the SSE2 baseline (std::isfinite compiled to one scalar
// compare per value: 5 % of a lecture-model forward call, for its 10000 x 32 table).
template <typename T>
void require_finite(const py::array& a, const char* name) {
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    constexpr int mantissa = sizeof(T) == 4 ? 23 : 52;
    constexpr Bits all_ones = sizeof(T) == 4 ? 0xff : 0x7ff;  // the exponent field
    const T* p = static_cast<const T*>(a.data());
    Bits bad = 0;
    for (py::ssize_t i = 0, n = a.size(); i < n; ++i) {
        Bits bits;
        std::memcpy(&bits, p + i, sizeof(T));
        bad |= (((bits >> mantissa) & all_ones) + 1) >> (sizeof(T) == 4 ? 8 : 11);
    }
    if (bad) throw std::invalid_argument(std::string(name) + " contains NaN or Inf values");
}

// Thread count for a kernel call: >= 1, capped as a backstop (Python caps at 4x the CPUs).
inline int checked_threads(int n) {
    if (n < 1) throw std::invalid_argument("num_threads must be >= 1. Received: " + std::to_string(n));
    return n < 256 ? n : 256;
}

template <typename T>
const T* data_or_null(const std::optional<py::array>& a) {
    return a ? static_cast<const T*>(a->data()) : nullptr;
}

}  // namespace fastrnn::bindings
