// Naive GELU: one element at a time, single thread.
#include <cmath>
#include <cstdint>

void gelu(const float* x, float* y, int32_t n) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  for (int32_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v)));
  }
}
