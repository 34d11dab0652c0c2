#include <cstdint>

void vec_scale_reference(const float* x, float* y, int32_t n);

void vec_scale(const float* x, float* y, int32_t n) { vec_scale_reference(x, y, n); }
