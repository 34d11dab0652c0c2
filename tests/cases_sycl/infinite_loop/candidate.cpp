// Every work-item waits for a value that never comes.
#include <sycl/sycl.hpp>

#include <cstdint>

void vec_scale(sycl::queue& queue, const float* x, float* y, int32_t n) {
  queue.parallel_for(sycl::range<1>(static_cast<std::size_t>(n)), [=](sycl::id<1> i) {
    sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device> flag(y[0]);
    while (flag.load() != 12345.0f) {
    }
    y[i] = 2.5f * x[i];
  });
}
