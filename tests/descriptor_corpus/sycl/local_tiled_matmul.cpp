// expect: memory_opt=2 compute_opt=1 parallelism_opt=1
// 16x16 tiles of A and B staged in work-group local memory, with barriers between the phases.
#include <sycl/sycl.hpp>

#include <cstdint>

constexpr std::size_t kTile = 16;

void matmul(sycl::queue& queue, const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  const std::size_t rows = (static_cast<std::size_t>(m) + kTile - 1) / kTile * kTile;
  const std::size_t cols = (static_cast<std::size_t>(n) + kTile - 1) / kTile * kTile;
  queue.submit([&](sycl::handler& h) {
    sycl::local_accessor<float, 2> a_tile(sycl::range<2>(kTile, kTile), h);
    sycl::local_accessor<float, 2> b_tile(sycl::range<2>(kTile, kTile), h);
    h.parallel_for(sycl::nd_range<2>({rows, cols}, {kTile, kTile}), [=](sycl::nd_item<2> it) {
      const std::size_t row = it.get_global_id(0), col = it.get_global_id(1);
      const std::size_t ly = it.get_local_id(0), lx = it.get_local_id(1);
      float acc = 0.0f;
      for (int32_t t = 0; t < k; t += kTile) {
        a_tile[ly][lx] = row < static_cast<std::size_t>(m) && t + lx < static_cast<std::size_t>(k) ? a[row * k + t + lx] : 0.0f;
        b_tile[ly][lx] = col < static_cast<std::size_t>(n) && t + ly < static_cast<std::size_t>(k) ? b[(t + ly) * n + col] : 0.0f;
        it.barrier(sycl::access::fence_space::local_space);
        for (std::size_t p = 0; p < kTile; ++p) acc = sycl::fma(a_tile[ly][p], b_tile[p][lx], acc);
        it.barrier(sycl::access::fence_space::local_space);
      }
      if (row < static_cast<std::size_t>(m) && col < static_cast<std::size_t>(n)) c[row * n + col] = acc;
    });
  });
}
