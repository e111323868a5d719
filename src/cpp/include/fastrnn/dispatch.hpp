// Run-time choice of the instruction set the kernels use.
#pragma once

#include <string>
#include <vector>

#include "fastrnn/isa.hpp"

namespace fastrnn {

// Kernels of the instruction set in use (chosen once from the CPU, FASTRNN_SIMD, or
// set_simd_path). Safe to call from any thread.
template <typename T>
const IsaKernels<T>& active_kernels();

// Name of the path in use: "avx512", "avx2" or "generic".
std::string simd_path();

// Every path this build and this CPU can run, fastest first.
std::vector<std::string> available_simd_paths();

// Forces a path; returns false (and changes nothing) when it is unknown or unsupported here.
bool set_simd_path(const std::string& name);

}  // namespace fastrnn
