// Device ceilings: probe programs embedded as text, built with the backend's toolchain, run
// sandboxed, their one-line JSON report cached per device.
#include "eval/ceilings.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/subprocess.h"
#include "eval/builder.h"
#include "eval/cpu_backend.h"
#include "eval/opencl_backend.h"
#include "eval/sycl_backend.h"
#if defined(KF_HAVE_OPENCL)
#include "eval/opencl_platform.h"
#endif
#include "eval/cuda_backend.h"

namespace kf::eval {

namespace fs = std::filesystem;

namespace {

// Part of every cache key: a changed probe measures again.
constexpr std::string_view kProbeVersion = "kf-ceilings-3";  // 3: launch limits
constexpr std::chrono::seconds kProbeTimeout{120};

// The cpu probe. Buffers of 256 MiB are far beyond any last-level cache; first touch happens
// on the thread that later copies the same range (static schedule), so pages are local. The
// FMA loop keeps kAccs independent vector chains per thread, enough to cover FMA latency on
// every port; -ffp-contract=fast makes a*x+b one FMA.
constexpr std::string_view kCpuProbeSource = R"PROBE(
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif
typedef float Vec __attribute__((vector_size(kVecBytes)));
constexpr int kLanes = kVecBytes / 4;
constexpr int kAccs = 12;

static double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double CopyGbps(std::size_t bytes, int reps) {
  const std::size_t n = bytes / sizeof(double);
  double* src = static_cast<double*>(std::aligned_alloc(4096, bytes));
  double* dst = static_cast<double*>(std::aligned_alloc(4096, bytes));
  if (src == nullptr || dst == nullptr) { std::fprintf(stderr, "cannot allocate 2 x %zu bytes\n", bytes); std::exit(1); }
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; ++i) { src[i] = static_cast<double>(i); dst[i] = 0; }
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = Now();
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
    best = std::max(best, 2.0 * static_cast<double>(bytes) / (Now() - t0) / 1e9);
  }
  if (dst[n - 1] != src[n - 1] || dst[n / 2] != src[n / 2]) { std::fprintf(stderr, "copy check failed\n"); std::exit(1); }
  std::free(src);
  std::free(dst);
  return best;
}

// Each thread times short repetitions of its own chains and keeps its best; the ceiling is the
// sum of the threads' best rates. A neighbour process that takes a core for a while (the probe
// may share the machine with compiles) then costs some repetitions, not the measurement.
static double FmaGflops(long iters, int reps, float seed, std::vector<float>& sink) {
  std::vector<double> gflops(sink.size());
#pragma omp parallel
  {
    const int me = omp_get_thread_num();
    Vec acc[kAccs];
    const Vec a = Vec{} + 0.9999999f, b = Vec{} + seed;
#pragma GCC unroll 16
    for (int k = 0; k < kAccs; ++k) acc[k] = Vec{} + (seed + static_cast<float>(k + me));
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      const double t0 = Now();
      for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
        for (int k = 0; k < kAccs; ++k) acc[k] = acc[k] * a + b;
      }
      asm volatile("" : : "g"(&acc) : "memory");  // the work stays between the two clock reads
      best = std::min(best, Now() - t0);
    }
    gflops[me] = 2.0 * kLanes * kAccs * static_cast<double>(iters) / std::max(best, 1e-9) / 1e9;
    Vec s = Vec{};
    for (int k = 0; k < kAccs; ++k) s += acc[k];
    float total = 0;
    for (int l = 0; l < kLanes; ++l) total += s[l];
    sink[me] = total;
  }
  double sum = 0;
  for (double g : gflops) sum += g;
  return sum;
}

int main(int argc, char** argv) {
  const float seed = argc > 5 ? 2e-7f : 1e-7f;  // opaque to the compiler
  const int threads = omp_get_max_threads();
  std::vector<float> sink(threads);
  const double copy_gbps = CopyGbps(std::size_t{256} << 20, 8);
  // Calibrate (this also wakes every thread and core), then repetitions of about 2 ms each.
  long iters = 1 << 12;
  const double per_thread = FmaGflops(iters, 3, seed, sink) / threads;
  iters = std::max(1L, static_cast<long>(0.002 * per_thread * 1e9 / (2.0 * kLanes * kAccs)));
  const double flops_gflops = FmaGflops(iters, 50, seed, sink);
  float check = 0;
  for (float s : sink) check += s;
  std::printf("{\"copy_gbps\": %.6g, \"flops_gflops\": %.6g, \"threads\": %d, \"vector_bits\": %d, \"check\": %g}\n",
              copy_gbps, flops_gflops, threads, kVecBytes * 8, static_cast<double>(check));
  return 0;
}
)PROBE";

// The cuda probe (device 0, as the runners use). Every CUDA call is checked; a failure prints
// what failed and exits 1.
constexpr std::string_view kCudaProbeSource = R"PROBE(
#include <cuda_runtime.h>
#include <cstdio>
#include <cstring>
#include <algorithm>

#define CHECK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
  std::fprintf(stderr, "%s failed: %s\n", #x, cudaGetErrorString(e_)); return 1; } } while (0)

constexpr int kAccs = 8;

__global__ void FmaKernel(float* out, float a, float b, long iters) {
  float acc[kAccs];
#pragma unroll
  for (int k = 0; k < kAccs; ++k) acc[k] = threadIdx.x * 1e-3f + k;
#pragma unroll 16
  for (long i = 0; i < iters; ++i) {
#pragma unroll
    for (int k = 0; k < kAccs; ++k) acc[k] = fmaf(acc[k], a, b);
  }
  float s = 0;
#pragma unroll
  for (int k = 0; k < kAccs; ++k) s += acc[k];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

int main(int argc, char**) {
  cudaDeviceProp p;
  CHECK(cudaGetDeviceProperties(&p, 0));
  for (char* c = p.name; *c; ++c) if (*c == '"' || *c == '\\') *c = ' ';
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  float ms = 0;

  std::size_t free_bytes = 0, total_bytes = 0;
  CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  std::size_t bytes = std::min<std::size_t>(std::size_t{1} << 30, (free_bytes / 4) & ~std::size_t{0xFFFFF});
  char *src = nullptr, *dst = nullptr;
  CHECK(cudaMalloc(&src, bytes));
  CHECK(cudaMalloc(&dst, bytes));
  CHECK(cudaMemset(src, 1, bytes));
  CHECK(cudaMemset(dst, 0, bytes));
  CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  double copy_gbps = 0;
  for (int r = 0; r < 8; ++r) {
    CHECK(cudaEventRecord(start));
    CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    copy_gbps = std::max(copy_gbps, 2.0 * bytes / (ms * 1e-3) / 1e9);
  }
  CHECK(cudaFree(src));
  CHECK(cudaFree(dst));

  const int threads = 256;
  const int blocks = p.multiProcessorCount * std::max(1, p.maxThreadsPerMultiProcessor / threads);
  float* out = nullptr;
  CHECK(cudaMalloc(&out, sizeof(float) * threads * blocks));
  const float a = argc > 5 ? 0.5f : 0.9999999f, b = 1e-7f;  // opaque to the compiler
  long iters = 1 << 12;
  for (int calibrate = 0; calibrate < 2; ++calibrate) {
    CHECK(cudaEventRecord(start));
    FmaKernel<<<blocks, threads>>>(out, a, b, iters);
    CHECK(cudaGetLastError());
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    iters = std::max(16L, static_cast<long>(iters * 50.0 / std::max(ms, 1e-3f)));  // about 50 ms a run
  }
  float best_ms = 1e30f;
  for (int r = 0; r < 4; ++r) {
    CHECK(cudaEventRecord(start));
    FmaKernel<<<blocks, threads>>>(out, a, b, iters);
    CHECK(cudaGetLastError());
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    best_ms = std::min(best_ms, ms);
  }
  float check = 0;
  CHECK(cudaMemcpy(&check, out, sizeof check, cudaMemcpyDeviceToHost));
  CHECK(cudaFree(out));
  const double flops = 2.0 * kAccs * static_cast<double>(iters) * threads * blocks;
  std::printf("{\"name\": \"%s\", \"copy_gbps\": %.6g, \"copy_bytes\": %zu, \"flops_gflops\": %.6g, "
              "\"sms\": %d, \"max_threads_per_block\": %d, \"max_shared_bytes_per_block\": %zu, \"check\": %g}\n",
              p.name, copy_gbps, bytes, flops / (best_ms * 1e-3) / 1e9, p.multiProcessorCount, p.maxThreadsPerBlock,
              p.sharedMemPerBlock, static_cast<double>(check));
  return 0;
}
)PROBE";

// Serializes measurements in this process: two probes at once would each see half the machine.
std::mutex& MeasureMutex() {
  static std::mutex mu;
  return mu;
}

std::string NowIso8601() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// What a probe run needs: the toolchain that builds it, its flags, how its child is limited.
// The opencl probe: argv[1], argv[2] = platform and device index (the ones the runners use).
// Copy bandwidth from clEnqueueCopyBuffer (read + write bytes), FLOP/s from float4 FMA chains;
// host clock around each command and clFinish.
constexpr std::string_view kOpenClProbeSource = R"PROBE(
#include <CL/cl.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

static void Check(cl_int err, const char* what) {
  if (err != CL_SUCCESS) {
    std::fprintf(stderr, "opencl probe: %s failed with error %d\n", what, err);
    std::exit(3);
  }
}

static const char* kKernel =
    "__kernel void fma_chains(__global float* out, float a, float b) {\n"
    "  float4 x0 = (float4)(get_global_id(0)), x1 = x0 + 1.0f, x2 = x0 + 2.0f, x3 = x0 + 3.0f;\n"
    "  for (int i = 0; i < 1024; ++i) {\n"
    "    x0 = fma(x0, a, b); x1 = fma(x1, a, b); x2 = fma(x2, a, b); x3 = fma(x3, a, b);\n"
    "  }\n"
    "  out[get_global_id(0)] = dot(x0 + x1 + x2 + x3, (float4)(1.0f));\n"
    "}\n";

template <class F>
static double BestSeconds(int reps, cl_command_queue q, F enqueue) {
  enqueue();
  Check(clFinish(q), "clFinish");
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    enqueue();
    Check(clFinish(q), "clFinish");
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  cl_uint np = 0;
  Check(clGetPlatformIDs(0, nullptr, &np), "clGetPlatformIDs");
  std::vector<cl_platform_id> platforms(np);
  Check(clGetPlatformIDs(np, platforms.data(), nullptr), "clGetPlatformIDs");
  const unsigned pi = std::atoi(argv[1]), di = std::atoi(argv[2]);
  if (pi >= np) return 2;
  cl_uint nd = 0;
  Check(clGetDeviceIDs(platforms[pi], CL_DEVICE_TYPE_ALL, 0, nullptr, &nd), "clGetDeviceIDs");
  std::vector<cl_device_id> devices(nd);
  Check(clGetDeviceIDs(platforms[pi], CL_DEVICE_TYPE_ALL, nd, devices.data(), nullptr), "clGetDeviceIDs");
  if (di >= nd) return 2;
  cl_device_id dev = devices[di];
  cl_int err = 0;
  cl_context ctx = clCreateContext(nullptr, 1, &dev, nullptr, nullptr, &err);
  Check(err, "clCreateContext");
  cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err);
  Check(err, "clCreateCommandQueue");
  cl_ulong max_alloc = 0, local_bytes = 0;
  cl_uint units = 0;
  size_t max_group = 0;
  Check(clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group, nullptr), "clGetDeviceInfo");
  Check(clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local_bytes, &local_bytes, nullptr), "clGetDeviceInfo");
  Check(clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, nullptr), "clGetDeviceInfo");
  Check(clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, nullptr), "clGetDeviceInfo");

  const size_t bytes = static_cast<size_t>(std::min<cl_ulong>(cl_ulong{256} << 20, max_alloc / 2));
  cl_mem src = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, nullptr, &err);
  Check(err, "clCreateBuffer");
  cl_mem dst = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, nullptr, &err);
  Check(err, "clCreateBuffer");
  const unsigned char zero = 1;
  Check(clEnqueueFillBuffer(q, src, &zero, 1, 0, bytes, 0, nullptr, nullptr), "clEnqueueFillBuffer");
  const double copy_s = BestSeconds(6, q, [&] {
    Check(clEnqueueCopyBuffer(q, src, dst, 0, 0, bytes, 0, nullptr, nullptr), "clEnqueueCopyBuffer");
  });

  cl_program program = clCreateProgramWithSource(ctx, 1, &kKernel, nullptr, &err);
  Check(err, "clCreateProgramWithSource");
  Check(clBuildProgram(program, 1, &dev, "", nullptr, nullptr), "clBuildProgram");
  cl_kernel kernel = clCreateKernel(program, "fma_chains", &err);
  Check(err, "clCreateKernel");
  const size_t global = static_cast<size_t>(std::max<cl_uint>(units, 1)) * 16384;
  cl_mem out = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, global * sizeof(float), nullptr, &err);
  Check(err, "clCreateBuffer");
  const float a = 0.999f, b = 0.001f;
  Check(clSetKernelArg(kernel, 0, sizeof out, &out), "clSetKernelArg");
  Check(clSetKernelArg(kernel, 1, sizeof a, &a), "clSetKernelArg");
  Check(clSetKernelArg(kernel, 2, sizeof b, &b), "clSetKernelArg");
  const double fma_s = BestSeconds(4, q, [&] {
    Check(clEnqueueNDRangeKernel(q, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), "clEnqueueNDRangeKernel");
  });
  const double flops = static_cast<double>(global) * 1024 * 4 * 4 * 2;
  std::printf("{\"copy_gbps\": %.6g, \"copy_bytes\": %zu, \"flops_gflops\": %.6g, \"compute_units\": %u, "
              "\"max_threads_per_block\": %zu, \"max_shared_bytes_per_block\": %llu}\n",
              2.0 * bytes / copy_s / 1e9, bytes, flops / fma_s / 1e9, units, max_group,
              static_cast<unsigned long long>(local_bytes));
  return 0;
}
)PROBE";

// The sycl probe, on the device the default selector picks (the one the runners use). Copy
// bandwidth from a device-to-device queue.memcpy (read + write bytes), FLOP/s from float4 FMA
// chains; host clock around each submission and its wait.
constexpr std::string_view kSyclProbeSource = R"PROBE(
#include <sycl/sycl.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

template <class F>
static double BestSeconds(int reps, sycl::queue& q, F submit) {
  submit();
  q.wait_and_throw();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    submit();
    q.wait_and_throw();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int main() {
  try {
    sycl::queue q{sycl::default_selector_v, sycl::property_list{sycl::property::queue::in_order{}}};
    const sycl::device d = q.get_device();
    const unsigned units = std::max(1u, d.get_info<sycl::info::device::max_compute_units>());
    const std::size_t max_alloc = d.get_info<sycl::info::device::max_mem_alloc_size>();
    const std::size_t bytes = std::min<std::size_t>(std::size_t{256} << 20, max_alloc / 2);
    unsigned char* src = sycl::malloc_device<unsigned char>(bytes, q);
    unsigned char* dst = sycl::malloc_device<unsigned char>(bytes, q);
    if (src == nullptr || dst == nullptr) throw std::runtime_error("malloc_device failed");
    q.memset(src, 1, bytes).wait_and_throw();
    const double copy_s = BestSeconds(6, q, [&] { q.memcpy(dst, src, bytes); });

    const std::size_t global = static_cast<std::size_t>(units) * 16384;
    float* out = sycl::malloc_device<float>(global, q);
    const float a = 0.999f, b = 0.001f;
    const double fma_s = BestSeconds(4, q, [&] {
      q.parallel_for(sycl::range<1>(global), [=](sycl::id<1> id) {
        const float base = static_cast<float>(id[0]);
        sycl::float4 x0(base), x1 = x0 + 1.0f, x2 = x0 + 2.0f, x3 = x0 + 3.0f;
        const sycl::float4 va(a), vb(b);
        for (int i = 0; i < 1024; ++i) {
          x0 = sycl::fma(x0, va, vb); x1 = sycl::fma(x1, va, vb); x2 = sycl::fma(x2, va, vb); x3 = sycl::fma(x3, va, vb);
        }
        const sycl::float4 t = x0 + x1 + x2 + x3;
        out[id[0]] = t.x() + t.y() + t.z() + t.w();
      });
    });
    const double flops = static_cast<double>(global) * 1024 * 4 * 4 * 2;
    std::printf("{\"copy_gbps\": %.6g, \"copy_bytes\": %zu, \"flops_gflops\": %.6g, \"compute_units\": %u}\n",
                2.0 * bytes / copy_s / 1e9, bytes, flops / fma_s / 1e9, units);
    sycl::free(src, q);
    sycl::free(dst, q);
    sycl::free(out, q);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sycl probe: %s\n", e.what());
    return 3;
  }
  return 0;
}
)PROBE";

// Builds and runs a ceilings probe; its report must give both numbers.
core::Expected<core::Json> MeasureWithProbe(const Probe& probe, const fs::path& cache_dir, std::vector<std::string> args) {
  KF_TRY(fs::path binary, BuildProbe(probe, cache_dir / "ceilings" / std::string(kProbeVersion)));
  KF_TRY(core::Json report, RunProbe(probe, binary, std::move(args), kProbeTimeout));
  for (const char* key : {"copy_gbps", "flops_gflops"}) {
    if (report.contains(key) && report[key].is_number() && report[key].get<double>() > 0) continue;
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("the {} {} reported no positive '{}': {}", probe.toolchain.backend, probe.name,
                                       key, report.dump()));
  }
  return report;
}

// The cached ceilings of device_id, or nullopt when there are none (or they do not parse).
std::optional<DeviceCeilings> ReadCached(const fs::path& cache_dir, const std::string& device_id) {
  const fs::path file = CeilingsCacheFile(cache_dir, device_id);
  if (!fs::exists(file)) return std::nullopt;
  auto text = core::ReadFile(file);
  if (!text.ok()) return std::nullopt;
  auto json = core::ParseJson(*text, file.string());
  auto ceilings = json.ok() ? DeviceCeilings::FromJson(*json) : core::Expected<DeviceCeilings>(json.error());
  if (!ceilings.ok() || ceilings->device_id != device_id) {
    core::LogWarn("ignoring the ceilings cache {}: {}; measuring again", file.string(),
                  ceilings.ok() ? "it is for another device" : ceilings.error().message);
    return std::nullopt;
  }
  return std::move(ceilings).value();
}

// The cached ceilings of the device, or a fresh measurement by `measure`, then cached.
template <class Measure>
core::Expected<DeviceCeilings> CachedOrMeasured(const fs::path& cache_dir, const std::string& device_id,
                                                Measure measure) {
  std::lock_guard<std::mutex> lock(MeasureMutex());
  if (auto cached = ReadCached(cache_dir, device_id)) return *cached;
  KF_TRY(DeviceCeilings ceilings, measure());
  ceilings.device_id = device_id;
  ceilings.measured_at = NowIso8601();
  KF_TRY_VOID(core::WriteFileAtomic(CeilingsCacheFile(cache_dir, device_id), ceilings.ToJson().dump(2) + "\n"));
  core::LogInfo("measured {} ceilings: copy {:.4g} GB/s, {:.4g} GFLOP/s ({})", ceilings.device_name,
                ceilings.copy_gbps, ceilings.flops_gflops, ceilings.method);
  return ceilings;
}

}  // namespace

core::Json DeviceCeilings::ToJson() const {
  return {{"backend", backend},        {"device_id", device_id}, {"device_name", device_name},
          {"copy_gbps", copy_gbps},    {"flops_gflops", flops_gflops}, {"method", method},
          {"measured_at", measured_at}, {"compute_units", compute_units},
          {"max_threads_per_block", max_threads_per_block}, {"max_shared_bytes_per_block", max_shared_bytes_per_block}};
}

core::Expected<DeviceCeilings> DeviceCeilings::FromJson(const core::Json& j) {
  if (!j.is_object()) return core::MakeError(core::ErrorCode::kParse, "device ceilings: expected a JSON object");
  DeviceCeilings c;
  for (auto [key, field] : {std::pair{"backend", &DeviceCeilings::backend}, std::pair{"device_id", &DeviceCeilings::device_id},
                            std::pair{"device_name", &DeviceCeilings::device_name}, std::pair{"method", &DeviceCeilings::method},
                            std::pair{"measured_at", &DeviceCeilings::measured_at}}) {
    if (!j.contains(key) || !j[key].is_string()) {
      return core::MakeError(core::ErrorCode::kParse, fmt::format("device ceilings: field '{}' must be a string", key));
    }
    c.*field = j[key].get<std::string>();
  }
  for (auto [key, field] : {std::pair{"copy_gbps", &DeviceCeilings::copy_gbps},
                            std::pair{"flops_gflops", &DeviceCeilings::flops_gflops}}) {
    if (!j.contains(key) || !j[key].is_number() || !(j[key].get<double>() > 0)) {
      return core::MakeError(core::ErrorCode::kParse,
                             fmt::format("device ceilings: field '{}' must be a positive number", key));
    }
    c.*field = j[key].get<double>();
  }
  // Optional: caches written before the field existed stay valid.
  if (j.contains("compute_units") && j["compute_units"].is_number_integer()) c.compute_units = j["compute_units"].get<int>();
  if (j.contains("max_threads_per_block") && j["max_threads_per_block"].is_number_integer()) {
    c.max_threads_per_block = j["max_threads_per_block"].get<int>();
  }
  if (j.contains("max_shared_bytes_per_block") && j["max_shared_bytes_per_block"].is_number_integer()) {
    c.max_shared_bytes_per_block = j["max_shared_bytes_per_block"].get<std::int64_t>();
  }
  return c;
}

fs::path CeilingsCacheFile(const fs::path& cache_dir, const std::string& device_id) {
  core::Sha256 key;
  key.Field(kProbeVersion).Field(device_id);
  return cache_dir / "ceilings" / (key.HexDigest().substr(0, 32) + ".json");
}

namespace {
/// A probe's report as ceilings; RunProbe has checked both numbers are positive.
DeviceCeilings FromReport(std::string backend, std::string device_name, const core::Json& report,
                          const char* units_key, std::string method) {
  DeviceCeilings c;
  c.backend = std::move(backend);
  c.device_name = std::move(device_name);
  c.copy_gbps = report["copy_gbps"].get<double>();
  c.flops_gflops = report["flops_gflops"].get<double>();
  c.compute_units = report.value(units_key, 0);
  c.max_threads_per_block = report.value("max_threads_per_block", 0);
  c.max_shared_bytes_per_block = report.value("max_shared_bytes_per_block", std::int64_t{0});
  c.method = std::move(method);
  return c;
}
}  // namespace

DeviceCeilings CpuIdentity() {
  DeviceCeilings c;
  c.backend = "cpu";
  c.device_name = CpuModel();
  c.device_id = fmt::format("cpu|{}|{} threads", c.device_name, std::max(1u, std::thread::hardware_concurrency()));
  return c;
}

core::Expected<DeviceCeilings> CpuCeilings(const fs::path& cache_dir) {
  const DeviceCeilings identity = CpuIdentity();
  const std::string& model = identity.device_name;
  const std::string& device_id = identity.device_id;
  return CachedOrMeasured(cache_dir, device_id, [&]() -> core::Expected<DeviceCeilings> {
    KF_TRY(Toolchain toolchain, DetectCpuToolchain());
    Probe probe{"ceilings probe", kCpuProbeSource, std::move(toolchain), {"-ffp-contract=fast"}};
    KF_TRY(core::Json report, MeasureWithProbe(probe, cache_dir, {}));
    return FromReport("cpu", model, report, "threads",
                      fmt::format("OpenMP copy of 2 x 256 MiB, best of 8, read+write bytes; f32 FMA chains, 12 x "
                                  "{}-bit vectors per thread, sum over {} threads of each one's best of 50",
                                  report.value("vector_bits", 0), report.value("threads", 0)));
  });
}

core::Expected<DeviceCeilings> CudaCeilings(const fs::path& cache_dir) {
  // The device is named by nvidia-smi (already asked by the toolchain's detection), so a cached
  // measurement costs no CUDA process at all.
  KF_TRY(CudaDevice gpu, DetectCudaDevice());
  const std::string device_id = fmt::format("cuda|{}|{}|{}", gpu.name, gpu.uuid, gpu.pci_bus_id);
  return CachedOrMeasured(cache_dir, device_id, [&]() -> core::Expected<DeviceCeilings> {
    KF_TRY(Toolchain toolchain, DetectCudaToolchain());
    std::vector<std::string> arch_flags = toolchain.source_flags ? toolchain.source_flags(kCudaProbeSource)
                                                                 : std::vector<std::string>{};
    Probe probe{"ceilings probe", kCudaProbeSource, std::move(toolchain), std::move(arch_flags)};
    KF_TRY(core::Json report, MeasureWithProbe(probe, cache_dir, {}));
    return FromReport("cuda", gpu.name, report, "sms",
                      fmt::format("cudaMemcpy device-to-device of {} MiB, best of 8, read+write bytes; f32 FMA "
                                  "kernel on {} SMs, best of 4",
                                  report.value("copy_bytes", std::uint64_t{0}) >> 20, report.value("sms", 0)));
  });
}

core::Expected<DeviceCeilings> OpenClCeilings(const fs::path& cache_dir) {
#if !defined(KF_HAVE_OPENCL)
  (void)cache_dir;
  return core::MakeError(core::ErrorCode::kToolchain, "this kfoundry was built without OpenCL");
#else
  KF_TRY(Toolchain toolchain, DetectOpenClToolchain(cache_dir));
  KF_TRY(OpenClDevice device, SelectedOpenClDevice());
  const std::string device_id =
      fmt::format("opencl|{}|{}|{}", device.platform_name, device.name, device.driver_version);
  return CachedOrMeasured(cache_dir, device_id, [&]() -> core::Expected<DeviceCeilings> {
    Probe probe{"ceilings probe", kOpenClProbeSource, std::move(toolchain), {}};
    KF_TRY(core::Json report, MeasureWithProbe(probe, cache_dir, {std::to_string(device.platform_index),
                                                                   std::to_string(device.device_index)}));
    const int units = report.value("compute_units", 0);
    return FromReport("opencl", fmt::format("{} / {}", device.platform_name, device.name), report, "compute_units",
                      fmt::format("clEnqueueCopyBuffer of {} MiB, best of 6, read+write bytes; float4 FMA chains "
                                  "over {} work-items, best of 4",
                                  report.value("copy_bytes", std::uint64_t{0}) >> 20, std::max(units, 1) * 16384));
  });
#endif
}

core::Expected<DeviceCeilings> SyclCeilings(const fs::path& cache_dir) {
  KF_TRY(Toolchain toolchain, DetectSyclToolchain(cache_dir));
  KF_TRY(SyclDevice device, DetectSyclDevice(cache_dir));
  const std::string device_id = fmt::format("sycl|{}|{}|{}", device.platform, device.name, device.driver);
  return CachedOrMeasured(cache_dir, device_id, [&]() -> core::Expected<DeviceCeilings> {
    Probe probe{"ceilings probe", kSyclProbeSource, std::move(toolchain), {}};
    KF_TRY(core::Json report, MeasureWithProbe(probe, cache_dir, {}));
    return FromReport("sycl", fmt::format("{} / {}", device.platform, device.name), report, "compute_units",
                      fmt::format("device-to-device queue.memcpy of {} MiB, best of 6, read+write bytes; float4 FMA "
                                  "chains over {} work-items, best of 4",
                                  report.value("copy_bytes", std::uint64_t{0}) >> 20,
                                  std::max(device.compute_units, 1) * 16384));
  });
}

core::Expected<DeviceCeilings> CeilingsFor(task::Backend backend, const fs::path& cache_dir) {
  switch (backend) {
    case task::Backend::kCpu: return CpuCeilings(cache_dir);
    case task::Backend::kCuda: return CudaCeilings(cache_dir);
    case task::Backend::kOpenCl: return OpenClCeilings(cache_dir);
    case task::Backend::kSycl: return SyclCeilings(cache_dir);
    default:
      return core::MakeError(core::ErrorCode::kToolchain,
                             fmt::format("no ceilings probe for backend '{}' yet; the plausibility check is skipped",
                                         task::BackendName(backend)));
  }
}

std::vector<DeviceCeilings> CachedCeilings(const fs::path& cache_dir) {
  std::vector<DeviceCeilings> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache_dir / "ceilings", ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    auto text = core::ReadFile(entry.path());
    auto json = text.ok() ? core::ParseJson(*text, entry.path().string()) : core::Expected<core::Json>(text.error());
    auto ceilings = json.ok() ? DeviceCeilings::FromJson(*json) : core::Expected<DeviceCeilings>(json.error());
    if (!ceilings.ok()) {
      core::LogWarn("skipping {}: {}", entry.path().string(), ceilings.error().message);
      continue;
    }
    out.push_back(std::move(ceilings).value());
  }
  std::sort(out.begin(), out.end(), [](const DeviceCeilings& a, const DeviceCeilings& b) {
    return std::tie(a.backend, a.device_id) < std::tie(b.backend, b.device_id);
  });
  return out;
}

}  // namespace kf::eval
