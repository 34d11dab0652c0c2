// expect: memory_opt=0 compute_opt=2 parallelism_opt=2
// One sub-group of 32 per row: online softmax per work-item (running max, rescaled sum), then
// sub-group reductions combine the lanes. No local memory, no work-group barrier.
#include <sycl/sycl.hpp>

#include <cstdint>
#include <limits>

void row_softmax(sycl::queue& queue, const float* x, float* y, int32_t rows, int32_t cols) {
  constexpr std::size_t kLanes = 32;
  queue.parallel_for(sycl::nd_range<1>(static_cast<std::size_t>(rows) * kLanes, kLanes),
                     [=](sycl::nd_item<1> it) [[sycl::reqd_sub_group_size(32)]] {
    const sycl::sub_group sg = it.get_sub_group();
    const std::size_t row = it.get_group(0);
    const int32_t lane = static_cast<int32_t>(sg.get_local_linear_id());
    const float* in = x + row * cols;
    float m = -std::numeric_limits<float>::infinity();
    float s = 0.0f;
    for (int32_t c = lane; c < cols; c += kLanes) {
      const float m_next = sycl::fmax(m, in[c]);
      s = s * sycl::exp(m - m_next) + sycl::exp(in[c] - m_next);
      m = m_next;
    }
    const float row_max = sycl::reduce_over_group(sg, m, sycl::maximum<float>());
    const float row_sum = sycl::reduce_over_group(sg, s * sycl::exp(m - row_max), sycl::plus<float>());
    for (int32_t c = lane; c < cols; c += kLanes) y[row * cols + c] = sycl::exp(in[c] - row_max) / row_sum;
  });
}
