// expect: memory_opt=3 compute_opt=3 parallelism_opt=1
// bf16 GEMM on matrix engines through the joint_matrix extension: each sub-group multiplies
// 8x16 by 16x16 tiles of A and B, staged through local memory, into a float accumulator tile.
#include <sycl/sycl.hpp>

#include <cstdint>

namespace xmx = sycl::ext::oneapi::experimental::matrix;
using bf16 = sycl::ext::oneapi::bfloat16;

constexpr std::size_t kTM = 8, kTN = 16, kTK = 16, kSg = 16;

void matmul_bf16(sycl::queue& queue, const bf16* a, const bf16* b, float* c, int32_t m, int32_t n, int32_t k) {
  queue.submit([&](sycl::handler& h) {
    sycl::local_accessor<bf16, 1> a_stage(sycl::range<1>(kTM * kTK), h);
    h.parallel_for(sycl::nd_range<2>({static_cast<std::size_t>(m) / kTM, static_cast<std::size_t>(n) / kTN * kSg}, {1, kSg}),
                   [=](sycl::nd_item<2> it) [[sycl::reqd_sub_group_size(16)]] {
      const auto sg = it.get_sub_group();
      const std::size_t tile_row = it.get_group(0), tile_col = it.get_group(1);
      xmx::joint_matrix<sycl::sub_group, bf16, xmx::use::a, kTM, kTK, xmx::layout::row_major> ma;
      xmx::joint_matrix<sycl::sub_group, bf16, xmx::use::b, kTK, kTN, xmx::layout::row_major> mb;
      xmx::joint_matrix<sycl::sub_group, float, xmx::use::accumulator, kTM, kTN> mc;
      xmx::joint_matrix_fill(sg, mc, 0.0f);
      for (int32_t kk = 0; kk < k; kk += kTK) {
        for (std::size_t e = it.get_local_id(1); e < kTM * kTK; e += kSg) {
          a_stage[e] = a[(tile_row * kTM + e / kTK) * k + kk + e % kTK];
        }
        it.barrier(sycl::access::fence_space::local_space);
        xmx::joint_matrix_load(sg, ma, a_stage.get_multi_ptr<sycl::access::decorated::no>(), kTK);
        xmx::joint_matrix_load(sg, mb, sycl::address_space_cast<sycl::access::address_space::global_space,
                                                                 sycl::access::decorated::no>(b + kk * n + tile_col * kTN), n);
        xmx::joint_matrix_mad(sg, mc, ma, mb, mc);
        it.barrier(sycl::access::fence_space::local_space);
      }
      xmx::joint_matrix_store(sg, mc, sycl::address_space_cast<sycl::access::address_space::global_space,
                                                               sycl::access::decorated::no>(c + tile_row * kTM * n + tile_col * kTN),
                              n, xmx::layout::row_major);
    });
  });
}
