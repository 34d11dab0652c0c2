// expect: memory_opt=0 compute_opt=0 parallelism_opt=0
// One work-item per element. (A tuned version would use sycl::local_accessor tiles,
// item.barrier() and sycl::reduce_over_group over sub-groups; this one does not.)
#include <sycl/sycl.hpp>

#include <cmath>
#include <cstdint>

void gelu(sycl::queue& queue, const float* x, float* y, int32_t n) {
  queue.parallel_for(sycl::range<1>(static_cast<std::size_t>(n)), [=](sycl::id<1> id) {
    const std::size_t i = id[0];
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + sycl::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
  });
}
