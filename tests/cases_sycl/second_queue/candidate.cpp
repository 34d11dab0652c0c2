// Submits the work to a queue of its own and never waits: the harness's wait would not cover it.
#include <sycl/sycl.hpp>

#include <cstdint>

void vec_scale(sycl::queue& queue, const float* x, float* y, int32_t n) {
  static sycl::queue side;
  side.parallel_for(sycl::range<1>(static_cast<std::size_t>(n)), [=](sycl::id<1> i) { y[i] = 2.5f * x[i]; });
}
