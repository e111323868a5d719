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

// The kernels for a recurrent layer of `samples` rows of `width` units: active_kernels(),
// except on the AVX-512 path, where the AVX2 kernels were faster (AMD Zen 4, float32, 2
// threads) for widths that are not a whole number of 512-bit vectors (1.1-2.6x at H = 8, 24,
// 40, 100), for a lone sample narrower than three of them (its chained row kernels: 1.25x
// forward, 1.1x backward at H = 32) and for batches of more than one AVX2 row tile but fewer
// than two AVX-512 ones (7-23 samples: AVX2's tiles of 6 split them between threads, AVX-512's
// of 12 hardly: 1.15-1.4x at 8 and 16 samples; at 4 samples, one tile for both, AVX-512 was
// 1.08x ahead). Elsewhere the AVX-512 kernels were ahead: forward 1.03-1.17x at H = 32 from 32
// samples, 1.15-1.2x for a lone sample at H = 48 and 64; backward within 2 % at H = 32,
// 1.04-1.13x at H = 48 and 64 with 128 samples. The choice depends only on the layer's shape,
// never on the thread count, so results stay bit-identical for any thread count.
template <typename T>
const IsaKernels<T>& kernels_for_layer(int64_t samples, int64_t width);

// Name of the path in use: "avx512", "avx2" or "generic".
std::string simd_path();

// Every path this build and this CPU can run, fastest first.
std::vector<std::string> available_simd_paths();

// Forces a path; returns false (and changes nothing) when it is unknown or unsupported here.
bool set_simd_path(const std::string& name);

}  // namespace fastrnn
