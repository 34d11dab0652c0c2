// --profile and --sanitize through the real evaluator on a GPU: Nsight Compute metrics land in
// the verdict, and compute-sanitizer findings fail a kernel that the value checks let through.
#include <gtest/gtest.h>

#include <filesystem>

#include "backend_cases.h"
#include "core/fs.h"
#include "eval/evaluator.h"
#include "task/task.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kTaskDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases_cuda" / "_tasks" / "vec_scale";

using testing::WhyNoCuda;

// Correct output, but every thread also reads just past the end of a scratch buffer it
// allocated: the read lands in the allocation's padding, so the hardware does not fault, and
// reads change nothing the value checks could see; memcheck reports them.
constexpr const char* kReadsPastScratch = R"(#include <cstdint>
__global__ void scale_kernel(const float* x, float* y, int32_t n, const float* scratch) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const float junk = scratch[1000 + threadIdx.x % 16];
  if (i < n) y[i] = junk == 1.2345e-38f ? 0.0f : 2.5f * x[i];
}
void vec_scale(const float* x, float* y, int32_t n) {
  static float* scratch = nullptr;
  if (scratch == nullptr) cudaMalloc(&scratch, 1000 * sizeof(float));
  scale_kernel<<<(n + 127) / 128, 128>>>(x, y, n, scratch);
}
)";

// Correct by luck of scheduling: threads read a neighbour's shared-memory slot with no barrier.
constexpr const char* kSharedMemoryRace = R"(#include <cstdint>
__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  __shared__ float tile[128];
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  tile[threadIdx.x] = i < n ? 2.5f * x[i] : 0.0f;
  const float mine = tile[threadIdx.x];
  const float other = tile[(threadIdx.x + 32) % 128];
  if (i < n) y[i] = mine + 0.0f * other;
}
void vec_scale(const float* x, float* y, int32_t n) { scale_kernel<<<(n + 127) / 128, 128>>>(x, y, n); }
)";

constexpr const char* kCorrect = R"(#include <cstdint>
__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2.5f * x[i];
}
void vec_scale(const float* x, float* y, int32_t n) { scale_kernel<<<(n + 127) / 128, 128>>>(x, y, n); }
)";

class GpuProfile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = WhyNoCuda(); !why.empty()) GTEST_SKIP() << why;
    auto dir = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "gpu-profile-test", "p-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  EvalResult Evaluate(const std::string& source, bool profile, bool sanitize) {
    auto task = task::LoadTask(kTaskDir);
    EXPECT_TRUE(task.ok()) << task.error().ToString();
    EvaluatorOptions o;
    o.cache_dir = dir_ / "cache";
    o.work_dir = dir_ / "work";
    o.profile = profile;
    o.sanitize = sanitize;
    auto evaluator = MakeEvaluator(*task, o);
    EXPECT_TRUE(evaluator.ok()) << evaluator.error().ToString();
    return evaluator.ok() ? (*evaluator)->Evaluate(source) : EvalResult{};
  }
  fs::path dir_;
};

TEST_F(GpuProfile, ProfileRecordsTheKernelsOfOneCall) {
  EvalResult r = Evaluate(kCorrect, /*profile=*/true, /*sanitize=*/false);
  ASSERT_EQ(r.status, Status::kPassed) << r.message << "\n" << r.log;
  ASSERT_EQ(r.profile.size(), 1u) << "one launch per call";
  EXPECT_NE(r.profile[0].kernel_name.find("scale_kernel"), std::string::npos);
  EXPECT_GT(r.profile[0].duration_us, 0.0);
  EXPECT_NE(FeedbackText(r).find("Nsight Compute"), std::string::npos);
}

TEST_F(GpuProfile, SanitizeFailsAnOutOfBoundsReadTheValueChecksMiss) {
  EvalResult plain = Evaluate(kReadsPastScratch, false, false);
  EXPECT_EQ(plain.status, Status::kPassed) << "without the sanitizer it passes: " << plain.message;
  EvalResult r = Evaluate(kReadsPastScratch, false, /*sanitize=*/true);
  EXPECT_EQ(r.status, Status::kRuntimeError) << r.message;
  EXPECT_NE(r.message.find("memcheck"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("Invalid __global__ read"), std::string::npos) << r.message;
}

TEST_F(GpuProfile, SanitizeFailsASharedMemoryRace) {
  EvalResult r = Evaluate(kSharedMemoryRace, false, /*sanitize=*/true);
  EXPECT_EQ(r.status, Status::kRuntimeError) << r.message;
  EXPECT_NE(r.message.find("racecheck"), std::string::npos) << r.message;
}

TEST_F(GpuProfile, SanitizePassesACleanKernel) {
  EvalResult r = Evaluate(kCorrect, false, /*sanitize=*/true);
  EXPECT_EQ(r.status, Status::kPassed) << r.message;
}

}  // namespace
}  // namespace kf::eval
