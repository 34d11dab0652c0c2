// kfoundry runner, cuda device: appended to runner_main.cc (it uses that file's helpers).
// Buffers are cudaMalloc memory (never managed), filled and read back with explicit copies.
// Every CUDA call is checked; an error (a sticky one such as an illegal address poisons the
// context for good) ends the runner with "CUDA error: <what>", and the parent adds where it
// happened. The entry runs on the legacy default stream; a call is timed with events around
// it, cross-checked against the host clock from before the start event to after the device is
// idle, so work moved to another stream, or left running, cannot escape the measurement.
#include <cuda_runtime.h>

namespace {

cudaEvent_t kf_start = nullptr, kf_stop = nullptr;
void* kf_l2_scratch = nullptr;
std::size_t kf_l2_scratch_bytes = 0;
int* kf_l2_sink = nullptr;
int kf_flush_blocks = 0;

// Reads the scratch buffer: every line of L2 is replaced by a clean one, so the timed call
// neither hits the previous call's data nor pays for writing back dirty lines a memset would
// leave behind.
__global__ void kf_l2_flush_kernel(const int4* p, std::size_t n, int* sink) {
  int acc = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int4 v = p[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x7fffffff) *sink = acc;  // never true for the zero-filled buffer; keeps the loads
}

void KfCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  KfDie(KfFormat("CUDA error: %s (%s, in %s)", cudaGetErrorString(err), cudaGetErrorName(err), what));
}

}  // namespace

void KfDeviceInit() {
  KfCuda(cudaSetDevice(0), "cudaSetDevice(0)");
  KfCuda(cudaFree(nullptr), "creating the CUDA context");
  KfCuda(cudaEventCreate(&kf_start), "cudaEventCreate");
  KfCuda(cudaEventCreate(&kf_stop), "cudaEventCreate");
  int l2_bytes = 0;
  KfCuda(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, 0), "cudaDeviceGetAttribute(L2 size)");
  kf_l2_scratch_bytes = 2 * static_cast<std::size_t>(l2_bytes > 0 ? l2_bytes : 64 << 20);
  KfCuda(cudaMalloc(&kf_l2_scratch, kf_l2_scratch_bytes), "cudaMalloc(L2 flush buffer)");
  KfCuda(cudaMemset(kf_l2_scratch, 0, kf_l2_scratch_bytes), "cudaMemset(L2 flush buffer)");
  KfCuda(cudaMalloc(&kf_l2_sink, sizeof(int)), "cudaMalloc(L2 flush sink)");
  int sms = 0;
  KfCuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), "cudaDeviceGetAttribute(SM count)");
  kf_flush_blocks = 4 * (sms > 0 ? sms : 80);
}

void* KfDeviceAlloc(std::size_t bytes) {
  void* b = nullptr;
  KfCuda(cudaMalloc(&b, bytes > 0 ? bytes : 1), "cudaMalloc");
  return b;
}
void KfDeviceFree(void* buffer) { KfCuda(cudaFree(buffer), "cudaFree"); }
void KfDeviceUpload(void* buffer, const void* host, std::size_t bytes) {
  KfCuda(cudaMemcpy(buffer, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to the device");
}
void KfDeviceDownload(void* host, const void* buffer, std::size_t bytes) {
  KfCuda(cudaMemcpy(host, buffer, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy from the device");
}

void* KfDeviceMirror(unsigned char* host, std::size_t bytes) {
  void* d = KfDeviceAlloc(bytes);
  KfDeviceUpload(d, host, bytes);
  return d;
}
void* KfDeviceView(void* mirror, std::size_t offset, std::size_t, std::size_t) { return static_cast<unsigned char*>(mirror) + offset; }
void KfDeviceWriteBack(unsigned char* host, void* mirror, std::size_t bytes) {
  KfDeviceDownload(host, mirror, bytes);
}
void KfDeviceFreeMirror(void* mirror) { KfDeviceFree(mirror); }

void KfDeviceFlush(const std::vector<std::pair<void*, std::size_t>>&) {
  // Reading twice the L2 size evicts every line the previous call left behind (its dirty
  // outputs are written back now, outside the timed region).
  kf_l2_flush_kernel<<<kf_flush_blocks, 512, 0, cudaStreamLegacy>>>(static_cast<const int4*>(kf_l2_scratch),
                                                                     kf_l2_scratch_bytes / sizeof(int4), kf_l2_sink);
  KfCuda(cudaGetLastError(), "launching the L2 flush");
  KfCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize after the L2 flush");
}

double KfDeviceCall(void* const* buffers, const double* scalars) {
  KfCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize before the call");
  const auto host_start = KfClock::now();
  KfCuda(cudaEventRecord(kf_start, cudaStreamLegacy), "cudaEventRecord(start)");
  kf_call_entry(buffers, scalars);
  KfCuda(cudaGetLastError(), "the entry function (a launch it made failed)");
  KfCuda(cudaEventRecord(kf_stop, cudaStreamLegacy), "cudaEventRecord(stop)");
  KfCuda(cudaDeviceSynchronize(), "the entry function's device work");
  const double host_ms = KfMs(host_start, KfClock::now());
  float event_ms = 0;
  KfCuda(cudaEventElapsedTime(&event_ms, kf_start, kf_stop), "cudaEventElapsedTime");
  // Events see only the default stream; when the host waited clearly longer than they claim,
  // work ran elsewhere (another stream, still running at return) and the host time counts.
  if (host_ms > 1.1 * event_ms + 0.020) return host_ms;
  return event_ms;
}
