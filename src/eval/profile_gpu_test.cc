// Nsight Compute and compute-sanitizer for real, on a GPU host: the parsers must understand what
// the installed tools print. Skips where there is no GPU or no tools.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/fs.h"
#include "core/subprocess.h"
#include "eval/profile.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

std::string Find(const std::string& name) {
  for (const char* dir : {"/usr/local/cuda/bin", "/usr/bin", "/usr/local/bin"}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p.string();
  }
  return "";
}

constexpr const char* kProgram = R"(#include <cstdio>
#include <cuda_runtime.h>
__global__ void scale_kernel(const float* x, float* y, int n, int extra) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n + extra) y[i] = 2.0f * x[i % n];
}
int main(int argc, char**) {
  const int n = 1 << 20;
  float *x, *y;
  cudaMalloc(&x, n * sizeof(float));
  cudaMalloc(&y, n * sizeof(float));
  scale_kernel<<<(n + 255) / 256 + 1, 256>>>(x, y, n, argc > 1 ? 256 : 0);
  cudaError_t e = cudaDeviceSynchronize();
  std::printf("done: %s\n", cudaGetErrorString(e));
  return 0;
}
)";

class ProfileGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    nvcc_ = Find("nvcc");
    ncu_ = Find("ncu");
    sanitizer_ = Find("compute-sanitizer");
    if (Find("nvidia-smi").empty() || nvcc_.empty()) GTEST_SKIP() << "no NVIDIA GPU or nvcc on this machine";
    auto dir = core::MakeUniqueDir(fs::temp_directory_path() / "kf-profile-gpu", "p");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    ASSERT_TRUE(core::WriteFileAtomic(dir_ / "prog.cu", kProgram).ok());
    auto r = Run({nvcc_, "-O2", "-lineinfo", "prog.cu", "-o", "prog"});
    ASSERT_TRUE(r.Succeeded()) << r.stderr_text;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  core::SubprocessResult Run(std::vector<std::string> argv) {
    core::SubprocessSpec spec;
    spec.argv = std::move(argv);
    spec.working_dir = dir_;
    spec.limits.wall_timeout = std::chrono::minutes(3);
    spec.limits.address_space_bytes = 0;
    spec.limits.output_cap_bytes = 1 << 20;
    auto r = core::RunSandboxed(spec);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : core::SubprocessResult{};
  }
  std::string nvcc_, ncu_, sanitizer_;
  fs::path dir_;
};

TEST_F(ProfileGpu, NsightComputeOutputParsesIntoOneProfilePerLaunch) {
  if (ncu_.empty()) GTEST_SKIP() << "ncu not installed";
  auto r = Run(NcuCommand(ncu_, {"./prog"}));
  ASSERT_TRUE(r.Succeeded()) << r.Describe() << "\n" << r.stdout_text << r.stderr_text;
  auto kernels = ParseNcuCsv(r.stdout_text);
  ASSERT_TRUE(kernels.ok()) << kernels.error().message << "\n" << r.stdout_text;
  ASSERT_EQ(kernels->size(), 1u) << r.stdout_text;
  const KernelProfile& k = kernels->front();
  EXPECT_NE(k.kernel_name.find("scale_kernel"), std::string::npos);
  EXPECT_GT(k.duration_us, 0.5);
  EXPECT_GT(k.dram_throughput_pct, 1.0);
  EXPECT_GT(k.registers_per_thread, 0);
  std::printf("%s", ProfileFeedback(*kernels).c_str());
}

TEST_F(ProfileGpu, MemcheckFindsTheOutOfBoundsWriteAndPassesTheCleanRun) {
  if (sanitizer_.empty()) GTEST_SKIP() << "compute-sanitizer not installed";
  const SanitizerTool memcheck = SanitizerTool::kMemcheck;
  auto clean = ParseSanitizerOutput(memcheck, Run(SanitizerCommand(sanitizer_, memcheck, {"./prog"})).stdout_text);
  EXPECT_EQ(clean.errors, 0) << clean.report;
  auto bad = ParseSanitizerOutput(memcheck, Run(SanitizerCommand(sanitizer_, memcheck, {"./prog", "oob"})).stdout_text);
  EXPECT_GT(bad.errors, 0) << bad.report;
  EXPECT_NE(bad.report.find("Invalid __global__ write"), std::string::npos) << bad.report;
}

}  // namespace
}  // namespace kf::eval
