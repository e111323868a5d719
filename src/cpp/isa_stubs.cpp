// Empty kernel tables for instruction sets this build does not compile (non-x86 targets).

#include "fastrnn/isa.hpp"

namespace fastrnn {
namespace isa_avx512 {
const IsaKernels<float>* kernels_f32() { return nullptr; }
const IsaKernels<double>* kernels_f64() { return nullptr; }
}  // namespace isa_avx512
namespace isa_avx2 {
const IsaKernels<float>* kernels_f32() { return nullptr; }
const IsaKernels<double>* kernels_f64() { return nullptr; }
}  // namespace isa_avx2
}  // namespace fastrnn
