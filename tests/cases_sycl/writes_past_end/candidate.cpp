// Rounds the range up to 64 and forgets the tail guard: writes past the end of y.
#include <sycl/sycl.hpp>

#include <cstdint>

void vec_scale(sycl::queue& queue, const float* x, float* y, int32_t n) {
  const std::size_t global = (static_cast<std::size_t>(n) + 63) / 64 * 64;
  queue.parallel_for(sycl::range<1>(global), [=](sycl::id<1> i) { y[i] = 2.5f * x[i]; });
}
