#include <sycl/sycl.hpp>

#include <cstdint>

// 16 x 16 tiles of a and b staged in local memory; one work-item per output element.
void matmul(sycl::queue& queue, const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  constexpr int32_t kTile = 16;
  const sycl::range<2> global((static_cast<std::size_t>(m) + kTile - 1) / kTile * kTile,
                              (static_cast<std::size_t>(n) + kTile - 1) / kTile * kTile);
  queue.submit([&](sycl::handler& h) {
    sycl::local_accessor<float, 2> ta(sycl::range<2>(kTile, kTile), h);
    sycl::local_accessor<float, 2> tb(sycl::range<2>(kTile, kTile), h);
    h.parallel_for(sycl::nd_range<2>(global, sycl::range<2>(kTile, kTile)), [=](sycl::nd_item<2> it) {
      const int32_t i = static_cast<int32_t>(it.get_global_id(0));
      const int32_t j = static_cast<int32_t>(it.get_global_id(1));
      const int32_t li = static_cast<int32_t>(it.get_local_id(0));
      const int32_t lj = static_cast<int32_t>(it.get_local_id(1));
      float acc = 0.0f;
      for (int32_t p0 = 0; p0 < k; p0 += kTile) {
        ta[li][lj] = (i < m && p0 + lj < k) ? a[static_cast<std::size_t>(i) * k + p0 + lj] : 0.0f;
        tb[li][lj] = (p0 + li < k && j < n) ? b[static_cast<std::size_t>(p0 + li) * n + j] : 0.0f;
        sycl::group_barrier(it.get_group());
        for (int32_t p = 0; p < kTile; ++p) acc += ta[li][p] * tb[p][lj];
        sycl::group_barrier(it.get_group());
      }
      if (i < m && j < n) c[static_cast<std::size_t>(i) * n + j] = acc;
    });
  });
}
