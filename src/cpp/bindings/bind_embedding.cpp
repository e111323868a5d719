// Bindings of the embedding gather / scatter-add kernels. Ids are range-checked here, with
// the GIL held, before any kernel reads memory through them.

#include <algorithm>
#include <string>

#include "checks.hpp"
#include "fastrnn/kernels.hpp"

namespace fastrnn::bindings {

namespace {

template <typename T>
py::array_t<T> forward(const py::array& ids, const py::array& emb, int threads) {
    threads = checked_threads(threads);
    require<T>(emb, "embeddings", {-1, -1});
    const int64_t V = emb.shape(0), D = emb.shape(1);
    check_ids(ids, "ids", V);
    const int64_t B = ids.shape(0), T_ = ids.shape(1);
    py::array_t<T> out({B, T_, D});
    T* o = out.mutable_data();
    const int64_t* id = static_cast<const int64_t*>(ids.data());
    const T* e = static_cast<const T*>(emb.data());
    {
        py::gil_scoped_release release;  // only raw buffers of live arrays are touched
        embedding_forward<T>(o, id, e, B * T_, V, D, threads);
    }
    return out;
}

template <typename T>
py::array_t<T> backward(const py::array& ids, const py::array& d_out, int64_t V, int threads) {
    threads = checked_threads(threads);
    if (V <= 0) throw std::invalid_argument("input_dim must be >= 1");
    check_ids(ids, "ids", V);
    const int64_t B = ids.shape(0), T_ = ids.shape(1);
    require<T>(d_out, "d_outputs", {B, T_, -1});
    const int64_t D = d_out.shape(2);
    py::array_t<T> grad({V, D});
    T* g = grad.mutable_data();
    const int64_t* id = static_cast<const int64_t*>(ids.data());
    const T* d = static_cast<const T*>(d_out.data());
    {
        py::gil_scoped_release release;  // only raw buffers of live arrays are touched
        embedding_backward<T>(g, id, d, B * T_, V, D, threads);
    }
    return grad;
}

template <typename T>
py::array_t<T> product(const py::array& a, const py::array& b, bool transpose_a, int threads) {
    threads = checked_threads(threads);
    require<T>(a, "a", {-1, -1});
    const int64_t M = transpose_a ? a.shape(1) : a.shape(0);
    const int64_t K = transpose_a ? a.shape(0) : a.shape(1);
    require<T>(b, "b", {K, -1});
    const int64_t N = b.shape(1);
    py::array_t<T> out({M, N});
    T* o = out.mutable_data();
    const T* pa = static_cast<const T*>(a.data());
    const T* pb = static_cast<const T*>(b.data());
    {
        py::gil_scoped_release release;  // only raw buffers of live arrays are touched
        if (K == 0) std::fill(o, o + M * N, T(0));
        else matmul<T>(o, pa, pb, M, N, K, transpose_a, threads);
    }
    return out;
}

}  // namespace

void register_embedding(py::module_& m) {
    m.def(
        "token_ids_in_range",
        [](py::array ids, int64_t input_dim) {
            require<int64_t>(ids, "ids", {-1, -1});
            return ids_in_range(static_cast<const int64_t*>(ids.data()), ids.size(), input_dim);
        },
        py::arg("ids"), py::arg("input_dim"),
        "Whether every id of a C-contiguous int64 (B,T) array is in [0, input_dim): one "
        "vectorized pass (NumPy's min and max are two).");
    m.def(
        "matmul",
        [](py::array a, py::array b, bool transpose_a, int num_threads) -> py::array {
            if (has_dtype<double>(a)) return product<double>(a, b, transpose_a, num_threads);
            return product<float>(a, b, transpose_a, num_threads);
        },
        py::arg("a"), py::arg("b"), py::arg("transpose_a"), py::arg("num_threads"),
        "op(a) @ b with op(a) = a or a.T; C-contiguous 2-D arrays of one float dtype.");
    m.def(
        "embedding_forward",
        [](py::array ids, py::array embeddings, int num_threads) -> py::array {
            if (has_dtype<double>(embeddings)) return forward<double>(ids, embeddings, num_threads);
            return forward<float>(ids, embeddings, num_threads);
        },
        py::arg("ids"), py::arg("embeddings"), py::arg("num_threads"),
        "Gather: ids int64 (B,T), embeddings (V,D) -> (B,T,D).");
    m.def(
        "embedding_backward",
        [](py::array ids, py::array d_outputs, int64_t input_dim, int num_threads) -> py::array {
            if (has_dtype<double>(d_outputs)) return backward<double>(ids, d_outputs, input_dim, num_threads);
            return backward<float>(ids, d_outputs, input_dim, num_threads);
        },
        py::arg("ids"), py::arg("d_outputs"), py::arg("input_dim"), py::arg("num_threads"),
        "Scatter-add: ids int64 (B,T), d_outputs (B,T,D) -> dense gradient (input_dim, D).");
}

}  // namespace fastrnn::bindings
