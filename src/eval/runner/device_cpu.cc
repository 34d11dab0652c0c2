// kfoundry runner, cpu device: appended to runner_main.cc (it uses that file's helpers).
// The entry gets host pointers straight into the shared mappings (no copies), calls are timed
// with steady_clock, and caches are flushed with clflush over the call's buffers.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

void KfDeviceInit() {}

void* KfDeviceMirror(unsigned char* host, std::size_t) { return host; }
void* KfDeviceView(void* mirror, std::size_t offset, std::size_t, std::size_t) { return static_cast<unsigned char*>(mirror) + offset; }
void KfDeviceWriteBack(unsigned char*, void*, std::size_t) {}
void KfDeviceFreeMirror(void*) {}

void* KfDeviceAlloc(std::size_t bytes) {
  void* b = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (b == nullptr) KfDie("out of memory for timing buffers");
  return b;
}
void KfDeviceFree(void* buffer) { std::free(buffer); }
void KfDeviceUpload(void* buffer, const void* host, std::size_t bytes) { std::memcpy(buffer, host, bytes); }
void KfDeviceDownload(void* host, const void* buffer, std::size_t bytes) { std::memcpy(host, buffer, bytes); }


#if !defined(__x86_64__) && !defined(__i386__)
namespace {

std::size_t KfLastLevelCacheBytes() {
  std::size_t best = 0;
  for (int i = 0; i < 8; ++i) {
    std::string p = KfFormat("/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    FILE* f = std::fopen(p.c_str(), "r");
    if (f == nullptr) continue;
    unsigned long v = 0;
    char unit = 0;
    if (std::fscanf(f, "%lu%c", &v, &unit) >= 1) {
      std::size_t b = v * (unit == 'K' ? 1024UL : unit == 'M' ? 1024UL * 1024 : 1UL);
      if (b > best) best = b;
    }
    std::fclose(f);
  }
  return best > 0 ? best : 64UL << 20;
}

}  // namespace
#endif

void KfDeviceFlush(const std::vector<std::pair<void*, std::size_t>>& buffers) {
#if defined(__x86_64__) || defined(__i386__)
  for (const auto& [b, n] : buffers) {
    auto* p = static_cast<unsigned char*>(b);
    for (std::size_t i = 0; i < n; i += 64) {
#if defined(__CLFLUSHOPT__)
      _mm_clflushopt(p + i);
#else
      _mm_clflush(p + i);
#endif
    }
  }
  _mm_mfence();
#else
  (void)buffers;
  static std::vector<unsigned char> scratch(2 * KfLastLevelCacheBytes());
  for (std::size_t i = 0; i < scratch.size(); i += 64) scratch[i] = static_cast<unsigned char>(scratch[i] + 1);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

double KfDeviceCall(void* const* buffers, const double* scalars) {
  const auto t0 = KfClock::now();
  kf_call_entry(buffers, scalars);
  return KfMs(t0, KfClock::now());
}
