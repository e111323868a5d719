// Large matrix products through OpenBLAS (the scipy-openblas32 wheel), when the build has it.
#pragma once

#include <cstdint>

namespace fastrnn {

// Whether this build links OpenBLAS.
bool blas_available();

// Whether a product goes to OpenBLAS: both wide operands (K and N of at least 128: the products
// of wide layers) and an A with unit stride along rows or columns. It never depends on M, the
// rows a thread happens to own, so the choice (and the arithmetic) is the same for any thread
// count; OpenBLAS accumulates each element in the same order whatever the row split.
bool blas_worthwhile(int64_t N, int64_t K, int64_t rs_a, int64_t cs_a);

// C (M, N) = [C or 0] + op(A) . B with row-major B (K, N) and C; op(A) element (i, k) is
// A[i * rs_a + k * cs_a] (blas_worthwhile must hold). Runs on the calling thread only (OpenBLAS's
// own threads are kept at one: the engine's threads split the work).
template <typename T>
void blas_gemm(T* C, int64_t ldc, const T* A, int64_t rs_a, int64_t cs_a, const T* B,
               int64_t ldb, int64_t M, int64_t N, int64_t K, bool accumulate);

}  // namespace fastrnn
