#include <cstdint>

void vec_scale_reference(const float* x, float* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] = 2.5f * x[i];
}
