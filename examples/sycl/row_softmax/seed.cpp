#include <sycl/sycl.hpp>

#include <cstdint>

// One work-group of 256 per row: three passes (max, sum, normalize) with group reductions.
void row_softmax(sycl::queue& queue, const float* x, float* y, int32_t rows, int32_t cols) {
  constexpr std::size_t kGroup = 256;
  queue.parallel_for(sycl::nd_range<1>(static_cast<std::size_t>(rows) * kGroup, kGroup), [=](sycl::nd_item<1> it) {
    const auto group = it.get_group();
    const std::size_t row = it.get_group(0);
    const int32_t lane = static_cast<int32_t>(it.get_local_id(0));
    const float* in = x + row * static_cast<std::size_t>(cols);
    float* out = y + row * static_cast<std::size_t>(cols);
    float m = -INFINITY;
    for (int32_t c = lane; c < cols; c += kGroup) m = sycl::fmax(m, in[c]);
    m = sycl::reduce_over_group(group, m, sycl::maximum<float>());
    float sum = 0.0f;
    for (int32_t c = lane; c < cols; c += kGroup) sum += sycl::exp(in[c] - m);
    const float inv = 1.0f / sycl::reduce_over_group(group, sum, sycl::plus<float>());
    for (int32_t c = lane; c < cols; c += kGroup) out[c] = sycl::exp(in[c] - m) * inv;
  });
}
