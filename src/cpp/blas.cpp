// OpenBLAS bridge: the engine's own register-tiled GEMM wins small and medium products (it fuses
// the bias and the activation); OpenBLAS's hand-tuned SGEMM wins the large ones (hidden sizes of
// a few hundred), so those go to it.

#include "fastrnn/blas.hpp"

#include <cstdlib>
#include <string>

#ifdef FASTRNN_HAVE_OPENBLAS
#include <cblas.h>

#include <mutex>
#endif

namespace fastrnn {

bool blas_available() {
#ifdef FASTRNN_HAVE_OPENBLAS
    // FASTRNN_BLAS=0 turns it off (read once), e.g. to compare with the engine's own GEMM.
    static const bool enabled = [] {
        const char* env = std::getenv("FASTRNN_BLAS");
        return !(env && std::string(env) == "0");
    }();
    return enabled;
#else
    return false;
#endif
}

bool blas_worthwhile(int64_t N, int64_t K, int64_t rs_a, int64_t cs_a) {
    return blas_available() && K >= 128 && N >= 128 && (cs_a == 1 || rs_a == 1);
}

template <typename T>
void blas_gemm(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B,
               int64_t ldb, int64_t M, int64_t N, int64_t K, bool accumulate) {
#ifdef FASTRNN_HAVE_OPENBLAS
    // One OpenBLAS thread per call: the engine's threads already split the work. Checked at
    // every call because threadpoolctl (or OPENBLAS_NUM_THREADS) may change the setting.
    if (scipy_openblas_get_num_threads() != 1) {
        static std::mutex guard;
        std::lock_guard<std::mutex> lock(guard);
        scipy_openblas_set_num_threads(1);
    }
    const bool trans = cs_a != 1;  // A stored (K, M) row-major
    const CBLAS_TRANSPOSE ta = trans ? CblasTrans : CblasNoTrans;
    const blasint lda = static_cast<blasint>(trans ? cs_a : rs_a);
    const T beta = accumulate ? T(1) : T(0);
    if constexpr (sizeof(T) == 4)
        scipy_cblas_sgemm(CblasRowMajor, ta, CblasNoTrans, static_cast<blasint>(M),
                          static_cast<blasint>(N), static_cast<blasint>(K), 1.0f, A, lda, B,
                          static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
    else
        scipy_cblas_dgemm(CblasRowMajor, ta, CblasNoTrans, static_cast<blasint>(M),
                          static_cast<blasint>(N), static_cast<blasint>(K), 1.0, A, lda, B,
                          static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
#else
    (void)C; (void)ldc; (void)A; (void)rs_a; (void)cs_a; (void)B; (void)ldb; (void)M; (void)N;
    (void)K; (void)accumulate;
#endif
}

template void blas_gemm<float>(float*, int64_t, const float*, int64_t, int64_t, const float*,
                               int64_t, int64_t, int64_t, int64_t, bool);
template void blas_gemm<double>(double*, int64_t, const double*, int64_t, int64_t,
                                const double*, int64_t, int64_t, int64_t, int64_t, bool);

}  // namespace fastrnn
