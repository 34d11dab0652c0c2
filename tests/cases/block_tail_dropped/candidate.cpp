#include <cstdint>

// Processes blocks of 16 and forgets the tail: right on n=1024, wrong on n=1003.
void blocked_add(const float* x, const float* y, float* z, int32_t n) {
  const int32_t blocks = n / 16;
  for (int32_t b = 0; b < blocks; ++b) {
    for (int32_t j = 0; j < 16; ++j) z[b * 16 + j] = x[b * 16 + j] + y[b * 16 + j];
  }
}
