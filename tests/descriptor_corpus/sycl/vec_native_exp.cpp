// expect: memory_opt=1 compute_opt=1 parallelism_opt=0
// Exponential of a vector, four elements per work-item through sycl::vec loads and stores and
// the native (fast, less accurate) exp.
#include <sycl/sycl.hpp>

#include <cstdint>

void vec_exp(sycl::queue& queue, const float* x, float* y, int32_t n) {
  const std::size_t groups = static_cast<std::size_t>(n) / 4;
  queue.parallel_for(sycl::range<1>(groups), [=](sycl::id<1> id) {
    sycl::vec<float, 4> v;
    v.load(id[0], sycl::address_space_cast<sycl::access::address_space::global_space,
                                           sycl::access::decorated::no>(x));
    v = sycl::native::exp(v);
    v.store(id[0], sycl::address_space_cast<sycl::access::address_space::global_space,
                                            sycl::access::decorated::no>(y));
  });
  for (int32_t i = static_cast<int32_t>(groups * 4); i < n; ++i) {
    queue.single_task([=] { y[i] = sycl::exp(x[i]); });
  }
}
