// expect: memory_opt=2 compute_opt=2 parallelism_opt=3
// Layer norm, one work-group of 256 per row: each work-item accumulates sum and sum of squares
// in one pass; sub-groups reduce them, sub-group leaders write to local memory at their
// sub-group index, and after a barrier the first sub-group reduces those.
#include <sycl/sycl.hpp>

#include <cstdint>

void layernorm(sycl::queue& queue, const float* x, float* y, int32_t rows, int32_t cols) {
  constexpr std::size_t kGroup = 256;
  queue.submit([&](sycl::handler& h) {
    sycl::local_accessor<float, 1> partial_sum(sycl::range<1>(32), h);
    sycl::local_accessor<float, 1> partial_sq(sycl::range<1>(32), h);
    h.parallel_for(sycl::nd_range<1>(rows * kGroup, kGroup), [=](sycl::nd_item<1> it) {
      const auto sg = it.get_sub_group();
      const std::size_t row = it.get_group(0);
      const std::size_t lid = it.get_local_id(0);
      const float* in = x + row * cols;
      float sum = 0.0f, sq = 0.0f;
      for (std::size_t c = lid; c < static_cast<std::size_t>(cols); c += kGroup) {
        const float v = in[c];
        sum += v;
        sq += v * v;
      }
      sum = sycl::reduce_over_group(sg, sum, sycl::plus<float>());
      sq = sycl::reduce_over_group(sg, sq, sycl::plus<float>());
      const std::size_t sg_id = sg.get_group_linear_id();
      if (sg.get_local_linear_id() == 0) {
        partial_sum[sg_id] = sum;
        partial_sq[sg_id] = sq;
      }
      sycl::group_barrier(it.get_group());
      const std::size_t groups = sg.get_group_linear_range();
      float total = 0.0f, total_sq = 0.0f;
      for (std::size_t g = 0; g < groups; ++g) {
        total += partial_sum[g];
        total_sq += partial_sq[g];
      }
      const float mean = total / cols;
      const float inv_std = 1.0f / sycl::sqrt(total_sq / cols - mean * mean + 1e-5f);
      for (std::size_t c = lid; c < static_cast<std::size_t>(cols); c += kGroup) y[row * cols + c] = (in[c] - mean) * inv_std;
    });
  });
}
