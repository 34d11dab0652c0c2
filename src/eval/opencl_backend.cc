#include "eval/opencl_backend.h"

#include <fmt/format.h>

#include <cstdlib>
#include <mutex>
#include <optional>

#include "eval/cpu_backend.h"
#if defined(KF_HAVE_OPENCL)
#include "eval/opencl_platform.h"
#endif

namespace kf::eval {

namespace {

core::Expected<Toolchain> DetectOnce() {
#if !defined(KF_HAVE_OPENCL)
  return core::MakeError(core::ErrorCode::kToolchain,
                         "this kfoundry was built without OpenCL: install the ICD loader and headers (Debian: "
                         "apt-get install ocl-icd-opencl-dev opencl-headers pocl-opencl-icd) and rebuild");
#else
  // The host compiler is the cpu backend's g++ (its detection already checked it runs).
  KF_TRY(Toolchain cpu, DetectCpuToolchain());
  KF_TRY(OpenClDevice device, SelectedOpenClDevice());
  Toolchain tc;
  tc.backend = "opencl";
  tc.compiler = cpu.compiler;
  tc.version = cpu.version;
  tc.target = fmt::format("{} / {} ({}, driver {})", device.platform_name, device.name, device.type,
                          device.driver_version);
  // 1.2 is what every vendor implements (NVIDIA included); a candidate that defines another
  // target version gets only a redefinition warning.
  tc.compile_flags = {"-std=c++20", "-O2", "-DCL_TARGET_OPENCL_VERSION=120"};
  tc.link_flags = {"-lOpenCL", "-ldl"};
  tc.source_extension = ".cpp";
  // GPU drivers reserve huge virtual ranges and CPU runtimes start a thread per core, so an
  // address-space limit would break the runtime rather than the candidate.
  tc.limits_address_space = false;
  tc.runner_env = OpenClChildEnv();
  tc.runner_env.emplace_back("MALLOC_ARENA_MAX", "2");
  tc.id = fmt::format("{}\n{}\n{}\n", tc.compiler, tc.version, tc.target);
  for (const auto& f : tc.compile_flags) tc.id += f + " ";
  return tc;
#endif
}

}  // namespace

core::Expected<Toolchain> DetectOpenClToolchain(const std::filesystem::path& cache_dir) {
  static std::once_flag once;
  static std::optional<core::Expected<Toolchain>> detected;
  std::call_once(once, [] { detected = DetectOnce(); });
  KF_TRY(Toolchain tc, *detected);
  // PoCL compiles kernels with LLVM on first use and caches them (default ~/.cache/pocl).
  tc.runner_env.emplace_back("POCL_CACHE_DIR", (cache_dir / "opencl" / "pocl-kernels").string());
  return tc;
}

}  // namespace kf::eval
