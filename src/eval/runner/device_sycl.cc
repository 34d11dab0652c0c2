// kfoundry runner, sycl device: appended to runner_main.cc (it uses that file's helpers).
// Compiled at evaluation time by the SYCL compiler the toolchain found (icpx -fsycl or acpp).
// The device layer owns one in-order queue with profiling on the device the SYCL runtime's
// default selector picks (steer it with ONEAPI_DEVICE_SELECTOR for icpx, ACPP_VISIBILITY_MASK
// for AdaptiveCpp); the shim hands that queue to the entry with USM device pointers.
//
// Memory: sycl::malloc_device only (never shared or host USM), filled and read back with
// explicit copies, one allocation per data file so the parent's guard bytes follow every
// argument. Any SYCL exception, synchronous or asynchronous, ends the runner with its what().
// Timing: host steady_clock from before the entry call until queue.wait_and_throw() returns:
// the candidate submits its own work and keeps its events, so no event of ours can bracket it.
#include <sycl/sycl.hpp>

#include <exception>

namespace {

sycl::queue* kf_queue = nullptr;
unsigned char* kf_scratch = nullptr;
std::size_t kf_scratch_bytes = 0;
unsigned kf_flush_round = 0;

[[noreturn]] void KfSyclDie(const std::string& why) { KfDie("sycl: " + why); }

void KfSyclAsyncHandler(sycl::exception_list errors) {
  for (const std::exception_ptr& e : errors) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      KfSyclDie(std::string("asynchronous error in device work: ") + x.what());
    }
  }
}

/// Runs `f`; a SYCL exception ends the runner naming `what`.
template <typename F>
auto KfSycl(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const sycl::exception& e) {
    KfSyclDie(std::string(what) + " failed: " + e.what());
  }
}

}  // namespace

// The shim passes this to the entry.
sycl::queue& KfSyclQueue() { return *kf_queue; }

void KfDeviceInit() {
  KfSycl("creating the queue", [] {
    kf_queue = new sycl::queue(sycl::default_selector_v, KfSyclAsyncHandler,
                               sycl::property_list{sycl::property::queue::in_order{}});
  });
  const sycl::device device = kf_queue->get_device();
  const std::string name = device.get_info<sycl::info::device::name>();
  const std::string platform = device.get_platform().get_info<sycl::info::platform::name>();
  std::fprintf(stderr, "kfoundry runner: sycl device: %s / %s\n", platform.c_str(), name.c_str());
  // Twice the last-level cache the device reports; GPUs report their L1 or nothing, so they get
  // at least 256 MiB, more than twice the L2 of any current part. Never more than a quarter of
  // the device's memory.
  const std::uint64_t cache = device.get_info<sycl::info::device::global_mem_cache_size>();
  std::uint64_t flush = 2 * cache;
  if (device.is_gpu()) flush = std::max<std::uint64_t>(flush, 256ULL << 20);
  flush = std::min<std::uint64_t>(flush, device.get_info<sycl::info::device::global_mem_size>() / 4);
  kf_scratch_bytes = static_cast<std::size_t>(flush) / sizeof(unsigned) * sizeof(unsigned);
}

void* KfDeviceAlloc(std::size_t bytes) {
  void* b = KfSycl("sycl::malloc_device", [&] { return sycl::malloc_device(bytes > 0 ? bytes : 1, *kf_queue); });
  if (b == nullptr) KfSyclDie(KfFormat("sycl::malloc_device of %zu bytes returned null", bytes));
  return b;
}
void KfDeviceFree(void* buffer) {
  KfSycl("sycl::free", [&] { sycl::free(buffer, *kf_queue); });
}
void KfDeviceUpload(void* buffer, const void* host, std::size_t bytes) {
  if (bytes == 0) return;
  KfSycl("copying to the device", [&] { kf_queue->memcpy(buffer, host, bytes).wait_and_throw(); });
}
void KfDeviceDownload(void* host, const void* buffer, std::size_t bytes) {
  if (bytes == 0) return;
  KfSycl("copying from the device", [&] { kf_queue->memcpy(host, buffer, bytes).wait_and_throw(); });
}

void* KfDeviceMirror(unsigned char* host, std::size_t bytes) {
  void* d = KfDeviceAlloc(bytes);
  KfDeviceUpload(d, host, bytes);
  return d;
}
void* KfDeviceView(void* mirror, std::size_t offset, std::size_t, std::size_t) {
  return static_cast<unsigned char*>(mirror) + offset;
}
void KfDeviceWriteBack(unsigned char* host, void* mirror, std::size_t bytes) { KfDeviceDownload(host, mirror, bytes); }
void KfDeviceFreeMirror(void* mirror) { KfDeviceFree(mirror); }

void KfDeviceFlush(const std::vector<std::pair<void*, std::size_t>>&) {
  // A fill of a fresh value each round over twice the cache: no layer can skip it as redundant.
  if (kf_scratch_bytes == 0) return;
  if (kf_scratch == nullptr) kf_scratch = static_cast<unsigned char*>(KfDeviceAlloc(kf_scratch_bytes));
  ++kf_flush_round;
  KfSycl("the cache flush", [] {
    kf_queue->fill(reinterpret_cast<unsigned*>(kf_scratch), kf_flush_round, kf_scratch_bytes / sizeof(unsigned))
        .wait_and_throw();
  });
}

double KfDeviceCall(void* const* buffers, const double* scalars) {
  KfSycl("waiting before the call", [] { kf_queue->wait_and_throw(); });
  const auto t0 = KfClock::now();
  KfSycl("the entry function", [&] { kf_call_entry(buffers, scalars); });
  KfSycl("the entry function's device work", [] { kf_queue->wait_and_throw(); });
  return KfMs(t0, KfClock::now());
}
