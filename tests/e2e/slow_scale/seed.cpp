// Computes every element 64 times over: correct, and slow on purpose.
#include <cstdint>

void scale(const float* x, float* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) {
    volatile float v = 0.0f;
    for (int rep = 0; rep < 64; ++rep) v = 2.0f * x[i] + 1.0f;
    y[i] = v;
  }
}
