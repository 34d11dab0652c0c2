#include <chrono>
#include <cstdint>

void vec_scale(const float* x, float* y, int32_t n) {
  auto t0 = std::chrono::steady_clock::now();
  for (int32_t i = 0; i < n; ++i) y[i] = 2.5f * x[i];
  (void)t0;
}
