#include <sycl/sycl.hpp>

#include <cstdint>

// One work-item per row, three passes: slow, obviously correct.
void row_softmax_reference(sycl::queue& queue, const float* x, float* y, int32_t rows, int32_t cols) {
  queue.parallel_for(sycl::range<1>(static_cast<std::size_t>(rows)), [=](sycl::id<1> r) {
    const float* in = x + r[0] * static_cast<std::size_t>(cols);
    float* out = y + r[0] * static_cast<std::size_t>(cols);
    float m = in[0];
    for (int32_t c = 1; c < cols; ++c) m = sycl::fmax(m, in[c]);
    float sum = 0.0f;
    for (int32_t c = 0; c < cols; ++c) sum += sycl::exp(in[c] - m);
    for (int32_t c = 0; c < cols; ++c) out[c] = sycl::exp(in[c] - m) / sum;
  });
}
