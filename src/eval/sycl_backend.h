// eval/sycl_backend.h — the sycl toolchain: icpx -fsycl (oneAPI DPC++) or AdaptiveCpp's acpp.
//
// The compiler is $KF_SYCL_COMPILER when set (a path or a name in PATH), else icpx, else acpp,
// found in PATH. $KF_SYCL_FLAGS adds flags to every compile (whitespace-separated), e.g.
// "-fsycl-targets=nvptx64-nvidia-cuda" for icpx or "--acpp-targets=cuda:sm_90" for acpp; for
// acpp, $ACPP_TARGETS is passed on as --acpp-targets so it is part of the cache key. The device
// is what the SYCL runtime's default selector picks (steer it with ONEAPI_DEVICE_SELECTOR for
// icpx, ACPP_VISIBILITY_MASK for acpp); a small query program, built once per toolchain and
// cached, names it, and its name, platform and driver go into every cache key. The runner
// (src/eval/runner/device_sycl.cc) gives the entry an in-order sycl::queue and USM device
// pointers. Internal to the eval module.
#pragma once

#include <filesystem>
#include <string>

#include "core/error.h"
#include "eval/builder.h"

namespace kf::eval {

/// The device sycl runners use, as the SYCL runtime describes it.
struct SyclDevice {
  std::string name;      // "NVIDIA H100 80GB HBM3", "AdaptiveCpp OpenMP host device"
  std::string platform;  // "NVIDIA CUDA BACKEND", "OpenMP"
  std::string driver;    // driver version
  std::string type;      // "gpu", "cpu", "accelerator"
  int compute_units = 0;
  std::uint64_t global_mem_bytes = 0;
};

/// The compiler and flags without the device (no program is run); kToolchain when no SYCL
/// compiler is found, naming what was looked for. Thread-safe, detected once per process.
core::Expected<Toolchain> DetectSyclCompiler();

/// The device the default selector picks, found once per process by running the query program
/// (built under cache_dir/sycl). kToolchain when it does not build or run.
core::Expected<SyclDevice> DetectSyclDevice(const std::filesystem::path& cache_dir);

/// The full toolchain: the compiler's, with the device in its target and cache key, and the
/// runner environment (AdaptiveCpp's kernel cache under cache_dir).
core::Expected<Toolchain> DetectSyclToolchain(const std::filesystem::path& cache_dir);

}  // namespace kf::eval
