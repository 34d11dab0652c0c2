#include <cstdint>

// Takes the size as int64_t: the prototype does not match the task's entry.
void vec_scale(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 2.5f * x[i];
}
