// Picks the instruction-set variant once, from the CPU and the FASTRNN_SIMD variable.

#include "fastrnn/dispatch.hpp"

#include <atomic>
#include <cstdlib>

namespace fastrnn {
namespace {

enum Path : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

bool cpu_has(Path p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    switch (p) {
        case kAvx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("fma") && isa_avx512::kernels_f32() != nullptr;
        case kAvx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   isa_avx2::kernels_f32() != nullptr;
        case kGeneric: return true;
    }
    return false;
#else
    return p == kGeneric;
#endif
}

const char* path_name(Path p) {
    return p == kAvx512 ? "avx512" : (p == kAvx2 ? "avx2" : "generic");
}

bool parse_path(const std::string& s, Path& out) {
    if (s == "avx512") { out = kAvx512; return true; }
    if (s == "avx2") { out = kAvx2; return true; }
    if (s == "generic") { out = kGeneric; return true; }
    return false;
}

Path best_path() {
    if (cpu_has(kAvx512)) return kAvx512;
    if (cpu_has(kAvx2)) return kAvx2;
    return kGeneric;
}

Path initial_path() {
    const char* env = std::getenv("FASTRNN_SIMD");
    Path p;
    // An unknown or unsupported FASTRNN_SIMD falls back to the best path (the Python
    // package warns about it at import).
    if (env && parse_path(env, p) && cpu_has(p)) return p;
    return best_path();
}

std::atomic<int>& current() {
    static std::atomic<int> path{initial_path()};
    return path;
}

}  // namespace

template <>
const IsaKernels<float>& active_kernels<float>() {
    switch (current().load(std::memory_order_relaxed)) {
        case kAvx512: return *isa_avx512::kernels_f32();
        case kAvx2: return *isa_avx2::kernels_f32();
        default: return *isa_generic::kernels_f32();
    }
}

template <>
const IsaKernels<double>& active_kernels<double>() {
    switch (current().load(std::memory_order_relaxed)) {
        case kAvx512: return *isa_avx512::kernels_f64();
        case kAvx2: return *isa_avx2::kernels_f64();
        default: return *isa_generic::kernels_f64();
    }
}

template <typename T>
const IsaKernels<T>& kernels_for_layer(int64_t samples, int64_t width) {
    const IsaKernels<T>& K = active_kernels<T>();
    static const bool has_avx2 = cpu_has(kAvx2);
    if (current().load(std::memory_order_relaxed) != kAvx512 || !has_avx2) return K;
    const IsaKernels<T>* avx2 = nullptr;
    if constexpr (sizeof(T) == sizeof(float)) avx2 = isa_avx2::kernels_f32();
    else avx2 = isa_avx2::kernels_f64();
    const bool lone_and_narrow = samples == 1 && width < 3 * K.lanes;
    // More row tiles than one for AVX2, fewer than two for AVX-512.
    const bool better_split = samples > avx2->mr && samples < 2 * K.mr;
    const bool avx2_ahead = width % K.lanes != 0 || lone_and_narrow || better_split;
    return avx2_ahead ? *avx2 : K;
}

template const IsaKernels<float>& kernels_for_layer<float>(int64_t, int64_t);
template const IsaKernels<double>& kernels_for_layer<double>(int64_t, int64_t);

std::string simd_path() { return path_name(static_cast<Path>(current().load())); }

std::vector<std::string> available_simd_paths() {
    std::vector<std::string> out;
    for (Path p : {kAvx512, kAvx2, kGeneric})
        if (cpu_has(p)) out.emplace_back(path_name(p));
    return out;
}

bool set_simd_path(const std::string& name) {
    Path p;
    if (!parse_path(name, p) || !cpu_has(p)) return false;
    current().store(p);
    return true;
}

}  // namespace fastrnn
