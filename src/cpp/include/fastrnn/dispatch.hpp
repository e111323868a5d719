// Run-time choice of the instruction set the kernels use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fastrnn/isa.hpp"

namespace fastrnn {

// Kernels of the instruction set in use (chosen once from the CPU, FASTRNN_SIMD, or
// set_simd_path). Safe to call from any thread.
template <typename T>
const IsaKernels<T>& active_kernels();

// The kernels for a recurrent layer whose rows hold `width` elements: active_kernels(), except
// on the AVX-512 path for rows narrower than three 512-bit vectors or not a whole number of
// them, which take the AVX2 kernels: their 256-bit tiles fit such rows with no edge columns
// and feed more multiply-adds per broadcast (measured on AMD Zen 4, float32, 2 threads: AVX2
// 1.1-2.6x faster at H = 8, 24, 40 and at H = 32 with 1-8 samples, equal at B = 128, H = 32;
// AVX-512 ahead from H = 48 with one sample and at H = 128).
template <typename T>
const IsaKernels<T>& kernels_for_width(int64_t width);

// Name of the path in use: "avx512", "avx2" or "generic".
std::string simd_path();

// Every path this build and this CPU can run, fastest first.
std::vector<std::string> available_simd_paths();

// Forces a path; returns false (and changes nothing) when it is unknown or unsupported here.
bool set_simd_path(const std::string& name);

}  // namespace fastrnn
