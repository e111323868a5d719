// fastrnn._core: the private extension module. Registers each binding area.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fastrnn/blas.hpp"
#include "fastrnn/dispatch.hpp"
#include "fastrnn/parallel.hpp"
#include "fastrnn/pipeline.hpp"

namespace py = pybind11;

namespace fastrnn::bindings {
void register_rnn(py::module_& m);
void register_embedding(py::module_& m);
void register_optimizers(py::module_& m);
}  // namespace fastrnn::bindings

#ifndef FASTRNN_COMPILER
#define FASTRNN_COMPILER "unknown"
#endif

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "fastrnn's C++ kernels (private; use fastrnn.ops).";
    fastrnn::bindings::register_rnn(m);
    fastrnn::bindings::register_embedding(m);
    fastrnn::bindings::register_optimizers(m);
    m.def("simd_path", &fastrnn::simd_path, "The SIMD path in use.");
    m.def("available_simd_paths", &fastrnn::available_simd_paths,
          "SIMD paths this CPU supports, fastest first.");
    m.def(
        "set_simd_path",
        [](const std::string& name) {
            if (!fastrnn::set_simd_path(name))
                throw std::invalid_argument("SIMD path '" + name +
                                            "' is unknown or not supported by this CPU; available: " +
                                            py::str(py::cast(fastrnn::available_simd_paths())).cast<std::string>());
        },
        py::arg("name"), "Force a SIMD path: avx512, avx2 or generic.");
    m.def("openmp_enabled", &fastrnn::openmp_enabled, "Whether this build uses OpenMP.");
    m.def("blas_available", &fastrnn::blas_available,
          "Whether this build sends the large products of wide layers to OpenBLAS.");
    m.def("max_threads", &fastrnn::max_threads, "OpenMP's default thread count.");
    m.def("_set_min_work_per_thread", &fastrnn::set_min_work_per_thread, py::arg("work"),
          "Testing hook: smallest work (multiply-adds) given a thread of its own.");
    m.def("_min_work_per_thread", &fastrnn::min_work_per_thread, "Testing hook.");
    m.def("_helper_blocks_produced", &fastrnn::helper_blocks_produced,
          "Testing hook: blocks of lone-sample input projection the helper thread produced.");
    m.def("compiler", []() { return std::string(FASTRNN_COMPILER); }, "Compiler of this build.");
}
