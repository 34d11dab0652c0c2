// Right answer, but scales x in place first: the input is modified.
#include <sycl/sycl.hpp>

#include <cstdint>

void vec_scale(sycl::queue& queue, const float* x, float* y, int32_t n) {
  float* mutable_x = const_cast<float*>(x);
  queue.parallel_for(sycl::range<1>(static_cast<std::size_t>(n)), [=](sycl::id<1> i) {
    mutable_x[i] = 2.5f * mutable_x[i];
    y[i] = mutable_x[i];
  });
}
