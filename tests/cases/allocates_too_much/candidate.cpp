#include <cstdint>
#include <vector>

void vec_scale(const float* x, float* y, int32_t n) {
  std::vector<float> huge(static_cast<std::size_t>(64) << 30);  // 256 GiB
  for (int32_t i = 0; i < n; ++i) y[i] = 2.5f * x[i] + huge[i];
}
