// expect: memory_opt=0 compute_opt=0 parallelism_opt=0
// Traps: a local accessor that is declared but never touched, a helper with sub-group
// collectives that nothing calls, an `#if 0` block with a barrier and native math.
#include <sycl/sycl.hpp>

#include <cstdint>

namespace {

float SubGroupSum(sycl::sub_group sg, float v) {
  return sycl::reduce_over_group(sg, v, sycl::plus<float>()) + sycl::shift_group_left(sg, v, 1);
}

}  // namespace

void vec_add(sycl::queue& queue, const float* a, const float* b, float* c, int32_t n) {
  queue.submit([&](sycl::handler& h) {
    sycl::local_accessor<float, 1> scratch(sycl::range<1>(256), h);
    h.parallel_for(sycl::nd_range<1>((static_cast<std::size_t>(n) + 255) / 256 * 256, 256), [=](sycl::nd_item<1> it) {
      const std::size_t i = it.get_global_id(0);
#if 0
      scratch[it.get_local_id(0)] = sycl::native::exp(a[i]);
      it.barrier(sycl::access::fence_space::local_space);
#endif
      if (i < static_cast<std::size_t>(n)) c[i] = a[i] + b[i];
    });
  });
}
