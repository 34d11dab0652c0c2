// eval/ceilings.h — what a device can do at most: copy bandwidth and FMA throughput.
//
// The plausibility stage (eval/plausibility.h) compares a candidate's achieved bytes/s and
// FLOP/s against these. They are measured once per device by a small probe program compiled
// with the backend's own toolchain and run in a sandboxed child, then cached as JSON under
// cache_dir/ceilings/<hash of the device id>.json; later calls (in any process) read the file.
//
//   cpu:  an OpenMP copy over 2 x 256 MiB (bytes read + written), best of several; f32 FMA
//         chains in SIMD registers on every thread (2 FLOPs per FMA lane), best of several.
//   opencl, sycl: a device-to-device buffer copy (2x bytes) and float4 FMA chains, host clock.
//   cuda: cudaMemcpy device-to-device of up to 1 GiB (2x bytes), best of several; an f32 FMA
//         kernel filling every SM, best of several. Device 0 in PCI bus order.
//
// A probe measures what a good program achieves, so these are lower bounds of the true peaks;
// the plausibility margins account for that. Thread-safe: concurrent callers in one process
// wait for one measurement; separate processes may both measure, and one file wins.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "task/task.h"

namespace kf::eval {

struct DeviceCeilings {
  std::string backend;      // "cpu", "cuda"
  std::string device_id;    // "cpu|<model>|<n> threads", "cuda|<name>|<uuid>|<pci bus id>"
  std::string device_name;  // "AMD EPYC 9654 96-Core Processor", "NVIDIA H100 80GB HBM3"
  double copy_gbps = 0;     // GB/s (1e9 bytes), bytes read + bytes written
  double flops_gflops = 0;  // GFLOP/s (1e9), f32 FMA = 2 FLOPs
  int compute_units = 0;    // SMs of a GPU, hardware threads of a CPU; 0 when unknown
  /// Launch limits a tuner checks before compiling (tune/space.h); 0 when there is none (cpu)
  /// or it is unknown. cuda: maxThreadsPerBlock and sharedMemPerBlock (static shared memory);
  /// opencl: CL_DEVICE_MAX_WORK_GROUP_SIZE and CL_DEVICE_LOCAL_MEM_SIZE.
  int max_threads_per_block = 0;
  std::int64_t max_shared_bytes_per_block = 0;
  std::string method;       // how it was measured, one line
  std::string measured_at;  // ISO 8601 UTC, "2025-01-31T12:00:00Z"

  core::Json ToJson() const;
  /// kParse naming the field that is missing or of the wrong type.
  static core::Expected<DeviceCeilings> FromJson(const core::Json& j);
};

/// This machine's cpu, measured on the first call (a few seconds) and cached afterwards.
/// kToolchain when g++ is missing or the probe fails (its output is in the message).
core::Expected<DeviceCeilings> CpuCeilings(const std::filesystem::path& cache_dir);
/// This machine's cpu as CpuCeilings names it (backend, device_id, device_name), measuring nothing.
DeviceCeilings CpuIdentity();

/// CUDA device 0 (PCI bus order, or the first of CUDA_VISIBLE_DEVICES), measured on the first
/// call and cached. kToolchain when nvcc or a GPU is missing, or the probe fails.
core::Expected<DeviceCeilings> CudaCeilings(const std::filesystem::path& cache_dir);

/// The ceilings of the device a task's backend runs on (cpu or cuda); kToolchain for backends
/// without a probe yet, so the caller can skip the plausibility stage with a note.
/// The selected OpenCL device ($KF_OPENCL_DEVICE); kToolchain without OpenCL.
core::Expected<DeviceCeilings> OpenClCeilings(const std::filesystem::path& cache_dir);

/// The device the SYCL runtime's default selector picks; kToolchain without a SYCL compiler.
core::Expected<DeviceCeilings> SyclCeilings(const std::filesystem::path& cache_dir);

core::Expected<DeviceCeilings> CeilingsFor(task::Backend backend, const std::filesystem::path& cache_dir);

/// Every device measured so far under cache_dir, sorted by backend then device id, for
/// `kfoundry devices`. Files that do not parse are skipped with a warning in the log.
std::vector<DeviceCeilings> CachedCeilings(const std::filesystem::path& cache_dir);

/// Where the ceilings of `device_id` are cached.
std::filesystem::path CeilingsCacheFile(const std::filesystem::path& cache_dir, const std::string& device_id);

}  // namespace kf::eval
