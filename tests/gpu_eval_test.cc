// The cuda evaluator on a real GPU: every folder tests/cases_cuda/<name>/ (except _tasks) holds
// a candidate.cu and an expected.yaml {task, status, message_contains?} and goes through the
// real evaluator (real nvcc, real sandboxed runner, real device); plus what one case cannot
// show: a sticky device error or a hung kernel ends only its own child, and work moved off the
// default stream is not timed as free. Every test skips, saying why, without nvcc or a GPU.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "backend_cases.h"
#include "core/fs.h"
#include "core/subprocess.h"
#include "eval/cuda_backend.h"
#include "eval/evaluator.h"
#include "task/task.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kCasesDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases_cuda";
const fs::path kTaskDir = kCasesDir / "_tasks" / "vec_scale";
constexpr const char* kLabel = "gpu-eval";

using testing::WhyNoCuda;

#define KF_REQUIRE_CUDA()                                                     \
  do {                                                                        \
    if (const std::string why = WhyNoCuda(); !why.empty()) GTEST_SKIP() << why; \
  } while (false)

std::string Source(const std::string& case_name) {
  auto source = core::ReadFile(kCasesDir / case_name / "candidate.cu");
  EXPECT_TRUE(source.ok()) << source.error().ToString();
  return source.ok() ? *source : std::string();
}

// One evaluator per task directory for the whole process, as a `kfoundry run` has (shared
// with the data-driven cases); callers have checked that cuda is usable.
Evaluator& EvaluatorFor(const fs::path& dir) {
  testing::LoadedTask& t = testing::TaskFor(dir, kLabel);
  if (!t.evaluator) {
    ADD_FAILURE() << t.error << t.skip_reason;
    std::abort();
  }
  return *t.evaluator;
}

EvalResult EvaluateCase(const std::string& case_name) {
  const EvalResult r = EvaluatorFor(kTaskDir).Evaluate(Source(case_name));
  std::cout << "  " << case_name << ": " << StatusName(r.status) << ": " << r.message << "\n";
  return r;
}

class CudaCase : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaCase, GetsTheExpectedVerdict) {
  KF_REQUIRE_CUDA();
  testing::ExpectCaseVerdict(kCasesDir / GetParam(), "candidate.cu", kLabel);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaCase, ::testing::ValuesIn(testing::Subdirs(kCasesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(CudaEvaluator, AStickyDeviceErrorEndsOnlyItsChild) {
  KF_REQUIRE_CUDA();
  const EvalResult bad = EvaluateCase("illegal_address");
  EXPECT_EQ(bad.status, Status::kRuntimeError);
  EXPECT_NE(bad.message.find("illegal memory access"), std::string::npos) << bad.message;
  EXPECT_NE(bad.message.find("during correctness trial 1/2 of shape n=4096"), std::string::npos) << bad.message;
  const EvalResult good = EvaluateCase("correct");
  EXPECT_EQ(good.status, Status::kPassed) << good.message;
}

// Runner processes the driver still lists as using the GPU.
std::vector<std::string> RunnersOnTheGpu() {
  core::SubprocessSpec spec;
  spec.argv = {"nvidia-smi", "--query-compute-apps=pid,process_name", "--format=csv,noheader"};
  spec.working_dir = fs::temp_directory_path();
  spec.limits.address_space_bytes = 0;
  auto run = core::RunSandboxed(spec);
  std::vector<std::string> runners;
  if (!run.ok()) return runners;
  std::istringstream lines(run->stdout_text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() >= 6 && line.rfind("runner") == line.size() - 6) runners.push_back(line);
  }
  return runners;
}

TEST(CudaEvaluator, AHungKernelIsKilledWithItsContextAndTheNextCandidateRuns) {
  KF_REQUIRE_CUDA();
  const EvalResult hung = EvaluateCase("infinite_loop");
  EXPECT_EQ(hung.status, Status::kTimeout) << hung.message;
  // The driver tears the context down with the process; give it a moment, then nothing of
  // ours may still hold the GPU.
  std::vector<std::string> left;
  for (int i = 0; i < 50; ++i) {
    left = RunnersOnTheGpu();
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(left.empty()) << "still on the GPU: " << left.front();
  const EvalResult good = EvaluateCase("correct");
  EXPECT_EQ(good.status, Status::kPassed) << good.message;
}

// The same slow kernel (each thread spins through a dependent FMA chain, about a millisecond)
// launched on the default stream, or on a private non-blocking stream the candidate leaves
// running. The stream is created through token pasting, which the static check does not see.
std::string BusyScale(bool escape) {
  std::string s = R"(#include <cstdint>
__global__ void busy_scale(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  float d = 0.0f;
  for (int k = 0; k < 200000; ++k) d = fmaf(d, 0.5f, 1e-30f);
  if (i < n) y[i] = 2.5f * x[i] + (d > 1.0f ? 1.0f : 0.0f);
}
)";
  if (!escape) {
    return s + "void vec_scale(const float* x, float* y, int32_t n) { busy_scale<<<(n + 127) / 128, 128>>>(x, y, n); }\n";
  }
  return s + R"(#define PASTE(a, b) a##b
void vec_scale(const float* x, float* y, int32_t n) {
  static cudaStream_t side = nullptr;
  if (side == nullptr) PASTE(cudaStream, CreateWithFlags)(&side, 0x01);
  busy_scale<<<(n + 127) / 128, 128, 0, side>>>(x, y, n);
}
)";
}

TEST(CudaEvaluator, WorkOnAnotherStreamIsNotTimedAsFree) {
  KF_REQUIRE_CUDA();
  Evaluator& ev = EvaluatorFor(kTaskDir);
  const EvalResult honest = ev.Evaluate(BusyScale(false));
  ASSERT_EQ(honest.status, Status::kPassed) << honest.message << "\n" << honest.log;
  const EvalResult escaping = ev.Evaluate(BusyScale(true));
  std::cout << "  default stream " << honest.median_ms << " ms, private stream: " << StatusName(escaping.status)
            << " " << escaping.median_ms << " ms\n";
  if (escaping.status == Status::kStaticRejected) return;  // the static check caught it: fine too
  ASSERT_EQ(escaping.status, Status::kPassed) << escaping.message << "\n" << escaping.log;
  ASSERT_GT(honest.median_ms, 0.1) << "the busy kernel is too fast to tell the clocks apart";
  EXPECT_GT(escaping.median_ms, 0.8 * honest.median_ms);
}

TEST(CudaEvaluator, ReevaluationIsCachedAndKeyedOnTheArchitecture) {
  KF_REQUIRE_CUDA();
  const EvalResult first = EvaluateCase("correct");
  const EvalResult again = EvaluateCase("correct");
  ASSERT_EQ(again.status, Status::kPassed) << again.message;
  EXPECT_TRUE(again.phases.compile_cached);
  auto tc = DetectCudaToolchain();
  ASSERT_TRUE(tc.ok()) << tc.error().ToString();
  EXPECT_NE(tc->id.find("sm_"), std::string::npos) << tc->id;
  EXPECT_NE(tc->id.find(tc->version), std::string::npos) << tc->id;
}

// The shipped cuda examples: their seeds must pass against their references on this GPU.
TEST(CudaExamples, SeedsPass) {
  KF_REQUIRE_CUDA();
  for (const char* name : {"gelu", "row_softmax", "matmul"}) {
    const fs::path dir = fs::path(KF_SOURCE_DIR) / "examples" / "cuda" / name;
    Evaluator& ev = EvaluatorFor(dir);
    auto seed = core::ReadFile(dir / "seed.cu");
    ASSERT_TRUE(seed.ok()) << seed.error().ToString();
    const EvalResult r = ev.Evaluate(*seed);
    std::cout << "  examples/cuda/" << name << ": " << StatusName(r.status) << ": " << r.message << "\n";
    for (const auto& t : r.timings) {
      std::cout << "    " << t.shape_label << ": median " << t.median_ms << " ms (cv " << t.cv << "), reference "
                << t.reference_median_ms << " ms\n";
    }
    EXPECT_EQ(r.status, Status::kPassed) << name << ": " << r.message << "\n" << r.log;
  }
}

TEST(CudaArchFlags, ArchSpecificTargetOnlyForWgmmaOrSetmaxnreg) {
  EXPECT_EQ(CudaArchFlags("90", "__global__ void k() {}"), std::vector<std::string>{"-arch=sm_90"});
  EXPECT_EQ(CudaArchFlags("90", "asm volatile(\"wgmma.fence.sync.aligned;\");"),
            std::vector<std::string>{"-gencode=arch=compute_90a,code=sm_90a"});
  EXPECT_EQ(CudaArchFlags("90", "asm volatile(\"setmaxnreg.inc.sync.aligned.u32 240;\");"),
            std::vector<std::string>{"-gencode=arch=compute_90a,code=sm_90a"});
  EXPECT_EQ(CudaArchFlags("80", "wgmma"), std::vector<std::string>{"-arch=sm_80"});
}

}  // namespace
}  // namespace kf::eval
