// Work-groups of 64 over n rounded up, guarded at the tail.
#include <sycl/sycl.hpp>

#include <cstdint>

void vec_scale(sycl::queue& queue, const float* x, float* y, int32_t n) {
  const std::size_t global = (static_cast<std::size_t>(n) + 63) / 64 * 64;
  queue.parallel_for(sycl::nd_range<1>(global, 64), [=](sycl::nd_item<1> it) {
    const std::size_t i = it.get_global_id(0);
    if (i < static_cast<std::size_t>(n)) y[i] = 2.5f * x[i];
  });
}
