#include <sycl/sycl.hpp>

#include <cstdint>

// One work-item per element in work-groups of 256.
void gelu(sycl::queue& queue, const float* x, float* y, int32_t n) {
  const std::size_t count = static_cast<std::size_t>(n);
  const std::size_t global = (count + 255) / 256 * 256;
  queue.parallel_for(sycl::nd_range<1>(global, 256), [=](sycl::nd_item<1> it) {
    const std::size_t i = it.get_global_id(0);
    if (i >= count) return;
    const float v = x[i];
    const float inner = 0.7978845608f * (v + 0.044715f * v * v * v);
    y[i] = 0.5f * v * (1.0f + sycl::tanh(inner));
  });
}
