#include <cstdint>

void blocked_add_reference(const float* x, const float* y, float* z, int32_t n) {
  for (int32_t i = 0; i < n; ++i) z[i] = x[i] + y[i];
}
