// Measures what the layout of the saved states costs the lecture model's recurrence (one
// thread's share: 64 samples, T = 500, H = 32, AVX2 float32): the engine stores them
// batch-major, (B, T, H), so the rows one step reads and writes are T*H apart; time-major,
// (T, B, H), they would be contiguous. Forward: the fused step product + tanh; backward: the
// per-step delta and state-gradient product (without the weight gradients). A lead for the
// engine, not part of the build:
//
//   g++ -O3 -ffp-contract=fast -mavx2 -mfma -DFASTRNN_ISA_NS=isa_avx2 \
//       -DFASTRNN_ISA_NAME='"avx2"' -DFASTRNN_VEC_BYTES=32 -Isrc/cpp/include \
//       tools/layout_microbench.cpp -o /tmp/layout && /tmp/layout

#include "../src/cpp/isa_kernels.cpp"

#include <chrono>
#include <cstdio>
#include <random>

using namespace fastrnn;

int main() {
  _mm_setcsr(_mm_getcsr() | 0x8040);
  const IsaKernels<float>* K = fastrnn::isa_avx2::kernels_f32();
  const int64_t B = 64, T = 500, H = 32;
  std::mt19937 g(0); std::normal_distribution<float> n(0, 1);
  std::vector<float> init(B*T*H), st(B*T*H), R(H*H), dl(B*T*H), gn(B*H), gp(B*H);
  for (auto& v : init) v = n(g); for (auto& v : R) v = 0.1f*n(g);
  auto batch_major = [&]() {
    memcpy(st.data(), init.data(), st.size()*4);
    for (int64_t t = 1; t < T; ++t)
      K->gemm(st.data() + t*H, T*H, st.data() + (t-1)*H, T*H, 1, R.data(), H, nullptr, B, H, H, true, Activation::Tanh);
  };
  auto time_major = [&]() {
    memcpy(st.data(), init.data(), st.size()*4);
    for (int64_t t = 1; t < T; ++t)
      K->gemm(st.data() + t*B*H, H, st.data() + (t-1)*B*H, H, 1, R.data(), H, nullptr, B, H, H, true, Activation::Tanh);
  };
  // backward: delta = g * (1 - y^2), g_prev = delta . R^T
  auto bwd_batch = [&]() {
    for (int64_t t = T - 1; t >= 1; --t) {
      K->step_delta(dl.data() + t*H, gn.data(), nullptr, nullptr, st.data() + t*H, B, H, T*H, H, t >= 2 ? -2*H : 0, Activation::Tanh);
      K->gemm(gp.data(), H, dl.data() + t*H, T*H, 1, R.data(), H, nullptr, B, H, H, false, Activation::Linear);
      std::swap(gn, gp);
    }
  };
  auto bwd_time = [&]() {
    for (int64_t t = T - 1; t >= 1; --t) {
      K->step_delta(dl.data() + t*B*H, gn.data(), nullptr, nullptr, st.data() + t*B*H, B, H, H, H, t >= 2 ? -2*B*H : 0, Activation::Tanh);
      K->gemm(gp.data(), H, dl.data() + t*B*H, H, 1, R.data(), H, nullptr, B, H, H, false, Activation::Linear);
      std::swap(gn, gp);
    }
  };
  auto time = [&](auto f) { double best = 1e9; for (int rep = 0; rep < 40; ++rep) { auto t0 = std::chrono::steady_clock::now(); f(); auto t1 = std::chrono::steady_clock::now(); best = std::min(best, std::chrono::duration<double>(t1-t0).count()); } return best*1e3; };
  for (int i = 0; i < 3; ++i) printf("forward: batch-major %.3f ms  time-major %.3f ms | backward: batch-major %.3f ms  time-major %.3f ms\n", time(batch_major), time(time_major), time(bwd_batch), time(bwd_time));
}
