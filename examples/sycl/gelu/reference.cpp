#include <sycl/sycl.hpp>

#include <cstdint>

// One work-item per element, straight from the formula (float: some SYCL GPUs have no fp64).
void gelu_reference(sycl::queue& queue, const float* x, float* y, int32_t n) {
  queue.parallel_for(sycl::range<1>(static_cast<std::size_t>(n)), [=](sycl::id<1> i) {
    const float v = x[i];
    const float k = 0.7978845608028654f;  // sqrt(2 / pi)
    y[i] = 0.5f * v * (1.0f + sycl::tanh(k * (v + 0.044715f * v * v * v)));
  });
}
