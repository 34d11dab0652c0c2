// Reference GELU (tanh approximation), evaluated in double and rounded once to float.
#include <cmath>
#include <cstdint>

void gelu_reference(const float* x, float* y, int32_t n) {
  const double k = std::sqrt(2.0 / M_PI);
  for (int32_t i = 0; i < n; ++i) {
    const double v = x[i];
    y[i] = static_cast<float>(0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v))));
  }
}
