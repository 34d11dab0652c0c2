#include <cstdint>

// Computes the right answer but uses its input as scratch space.
void vec_scale(const float* x, float* y, int32_t n) {
  float* scratch = const_cast<float*>(x);
  for (int32_t i = 0; i < n; ++i) {
    scratch[i] = 2.5f * x[i];
    y[i] = scratch[i];
  }
}
