#include <sycl/sycl.hpp>

#include <cstdint>

void vec_scale(sycl::queue& queue, const float* x, float* y, int32_t n) {
  queue.parallel_for(sycl::range<1>(n), [=](sycl::id<1> i) { y[i] = 2.5f * x[i] });
}
