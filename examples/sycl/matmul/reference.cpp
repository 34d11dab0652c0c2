#include <sycl/sycl.hpp>

#include <cstdint>

// One work-item per output element, in order: slow, obviously correct.
void matmul_reference(sycl::queue& queue, const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  queue.parallel_for(sycl::range<2>(static_cast<std::size_t>(m), static_cast<std::size_t>(n)), [=](sycl::id<2> id) {
    const std::size_t i = id[0], j = id[1];
    float acc = 0.0f;
    for (int32_t p = 0; p < k; ++p) acc += a[i * k + p] * b[static_cast<std::size_t>(p) * n + j];
    c[i * n + j] = acc;
  });
}
