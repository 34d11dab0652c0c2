#include "eval/cuda_backend.h"

#include <fmt/format.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <sstream>

namespace kf::eval {

namespace fs = std::filesystem;

namespace {

core::Expected<CudaDevice> DetectGpuOnce() {
  const std::string smi = FindInPath("nvidia-smi");
  if (smi.empty()) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           "nvidia-smi not found in PATH: cuda tasks need an NVIDIA GPU with its driver installed");
  }
  std::vector<std::string> argv{smi, "--query-gpu=compute_cap,name,uuid,pci.bus_id", "--format=csv,noheader"};
  // The runner uses device 0 of what CUDA sees; ask nvidia-smi about that same device.
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible != nullptr && *visible != '\0') {
    const std::string first = std::string(visible).substr(0, std::string(visible).find(','));
    argv.push_back("--id=" + first);
  }
  KF_TRY(auto run, RunTool(argv, fs::temp_directory_path(), nullptr, std::chrono::seconds(30)));
  const std::string line = Trim(run.stdout_text.substr(0, run.stdout_text.find('\n')));
  std::vector<std::string> fields;
  for (std::size_t start = 0; start <= line.size();) {
    std::size_t comma = line.find(',', start);
    if (comma == std::string::npos) comma = line.size();
    fields.push_back(Trim(line.substr(start, comma - start)));
    start = comma + 1;
  }
  if (!run.Succeeded() || fields.size() != 4) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("no usable NVIDIA GPU: `nvidia-smi --query-gpu=compute_cap,name,uuid,pci.bus_id` {}: {}",
                                       run.Describe(), Trim(run.stdout_text + run.stderr_text).substr(0, 400)));
  }
  CudaDevice gpu;
  for (char c : fields[0]) {
    if (c >= '0' && c <= '9') gpu.sm += c;
  }
  gpu.name = fields[1];
  gpu.uuid = fields[2];
  gpu.pci_bus_id = fields[3];
  if (gpu.sm.size() < 2) {
    return core::MakeError(core::ErrorCode::kToolchain, fmt::format("cannot read the compute capability from `{}`", line));
  }
  return gpu;
}

}  // namespace

core::Expected<CudaDevice> DetectCudaDevice() {
  static std::once_flag once;
  static std::optional<core::Expected<CudaDevice>> detected;
  std::call_once(once, [] { detected = DetectGpuOnce(); });
  return *detected;
}

std::vector<std::string> CudaArchFlags(std::string_view sm, std::string_view source) {
  // The arch-specific target (sm_90a) is what wgmma and setmaxnreg need; those appear in
  // inline-asm strings, so the raw text is searched. A mention in a comment only selects the
  // arch-specific variant of the very same device, which is harmless.
  const bool arch_specific = std::stoi(std::string(sm)) >= 90 &&
                             (source.find("wgmma") != std::string_view::npos ||
                              source.find("setmaxnreg") != std::string_view::npos);
  if (arch_specific) return {fmt::format("-gencode=arch=compute_{0}a,code=sm_{0}a", sm)};
  return {fmt::format("-arch=sm_{}", sm)};
}

core::Expected<Toolchain> DetectCudaToolchain() {
  static std::once_flag once;
  static std::optional<core::Expected<Toolchain>> detected;
  std::call_once(once, [] {
    detected = []() -> core::Expected<Toolchain> {
      Toolchain tc;
      tc.backend = "cuda";
      tc.compiler = FindInPath("nvcc");
      if (tc.compiler.empty() && fs::exists("/usr/local/cuda/bin/nvcc")) tc.compiler = "/usr/local/cuda/bin/nvcc";
      if (tc.compiler.empty()) {
        return core::MakeError(core::ErrorCode::kToolchain,
                               "nvcc not found in PATH or /usr/local/cuda/bin: install the CUDA toolkit to evaluate "
                               "cuda kernels");
      }
      KF_TRY(auto version, RunTool({tc.compiler, "--version"}, fs::temp_directory_path(), nullptr));
      if (!version.Succeeded()) {
        return core::MakeError(core::ErrorCode::kToolchain,
                               fmt::format("{} --version {}: {}", tc.compiler, version.Describe(), version.stderr_text));
      }
      std::istringstream lines(version.stdout_text);
      for (std::string line; std::getline(lines, line);) {
        if (line.find("release") != std::string::npos) tc.version = Trim(line);
      }
      KF_TRY(CudaDevice gpu, DetectCudaDevice());
      tc.target = fmt::format("sm_{} ({})", gpu.sm, gpu.name);
      tc.compile_flags = {"-std=c++20", "-O3", "-lineinfo", "-x", "cu"};
      tc.source_flags = [sm = gpu.sm](std::string_view source) { return CudaArchFlags(sm, source); };
      tc.source_extension = ".cu";
      tc.compile_timeout = std::chrono::seconds(180);
      tc.limits_address_space = false;
      tc.runner_env = {{"MALLOC_ARENA_MAX", "2"}, {"CUDA_DEVICE_ORDER", "PCI_BUS_ID"}};
      tc.id = fmt::format("{}\n{}\n{}\n", tc.compiler, tc.version, tc.target);
      for (const auto& f : tc.compile_flags) tc.id += f + " ";
      return tc;
    }();
  });
  return *detected;
}

}  // namespace kf::eval
