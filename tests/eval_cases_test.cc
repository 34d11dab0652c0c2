// Data-driven evaluator cases: every folder tests/cases/<name>/ (except _tasks) holds a
// candidate.cpp and an expected.yaml {task, status, message_contains?, min_speedup?}; the
// candidate goes through the real cpu evaluator (real g++, real sandboxed runner) and must get
// exactly that status. Plus the cache contract: a re-evaluation compiles nothing and the
// reference runs once per task, even across evaluator instances.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend_cases.h"
#include "core/fs.h"
#include "eval/evaluator.h"
#include "task/task.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kCasesDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases";

EvaluatorOptions Options(const fs::path& cache_dir) {
  EvaluatorOptions o;
  o.cache_dir = cache_dir;
  o.work_dir = fs::path(KF_BINARY_DIR) / "eval-cases-work";
  return o;
}

class EvalCase : public ::testing::TestWithParam<std::string> {};

TEST_P(EvalCase, GetsTheExpectedVerdict) {
  testing::ExpectCaseVerdict(kCasesDir / GetParam(), "candidate.cpp", "eval-cases");
}

INSTANTIATE_TEST_SUITE_P(Cases, EvalCase, ::testing::ValuesIn(testing::Subdirs(kCasesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Files under dir with their modification times: a changed map means something was (re)written.
std::map<std::string, fs::file_time_type> Snapshot(const fs::path& dir) {
  std::map<std::string, fs::file_time_type> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().string()] = e.last_write_time();
  }
  return files;
}

TEST(EvaluatorCache, ReevaluationCompilesNothingAndTheReferenceRunsOnce) {
  auto cache = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "eval-cache-test", "c-");
  ASSERT_TRUE(cache.ok());
  auto task = task::LoadTask(kCasesDir / "_tasks" / "vec_scale");
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  auto source = core::ReadFile(kCasesDir / "correct" / "candidate.cpp");
  ASSERT_TRUE(source.ok());

  auto first = MakeEvaluator(*task, Options(*cache));
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  // The reference runs once, when the evaluator is made: outputs for 2 shapes x 2 trials plus
  // one baseline per shape.
  const auto after_first = Snapshot(*cache / "reference");
  EXPECT_EQ(after_first.size(), 6u);
  const EvalResult cold = (*first)->Evaluate(*source);
  ASSERT_EQ(cold.status, Status::kPassed) << cold.message;
  EXPECT_FALSE(cold.phases.compile_cached);
  EXPECT_EQ(Snapshot(*cache / "reference"), after_first);

  const EvalResult warm = (*first)->Evaluate(*source);
  ASSERT_EQ(warm.status, Status::kPassed) << warm.message;
  EXPECT_TRUE(warm.phases.compile_cached);
  EXPECT_LT(warm.phases.compile_ms, 20.0);
  EXPECT_EQ(Snapshot(*cache / "reference"), after_first);

  // A new evaluator on the same cache (a second `kfoundry eval`) reuses builds and reference.
  auto second = MakeEvaluator(*task, Options(*cache));
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  const EvalResult again = (*second)->Evaluate(*source);
  ASSERT_EQ(again.status, Status::kPassed) << again.message;
  EXPECT_TRUE(again.phases.compile_cached);
  EXPECT_EQ(Snapshot(*cache / "reference"), after_first);
  EXPECT_DOUBLE_EQ(again.timings[0].reference_median_ms, cold.timings[0].reference_median_ms);
  fs::remove_all(*cache);
}

TEST(EvaluatorSetup, ReferenceThatDoesNotCompileIsAValidationError) {
  auto dir = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "eval-cache-test", "badref-");
  ASSERT_TRUE(dir.ok());
  const fs::path src = kCasesDir / "_tasks" / "vec_scale";
  fs::copy_file(src / "task.yaml", *dir / "task.yaml");
  ASSERT_TRUE(core::WriteFileAtomic(*dir / "reference.cpp",
                                    "#include <cstdint>\nvoid vec_scale_reference(const float* x, float* y, int32_t n) "
                                    "{ y[0] = x[0] * n }\n")
                  .ok());
  auto task = task::LoadTask(*dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  auto ev = MakeEvaluator(*task, Options(*dir / "cache"));
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, core::ErrorCode::kValidation);
  EXPECT_NE(ev.error().message.find("reference.cpp:2"), std::string::npos) << ev.error().message;
  fs::remove_all(*dir);
}

TEST(EvaluatorSetup, ReferenceThatCrashesIsAValidationError) {
  auto dir = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "eval-cache-test", "crashref-");
  ASSERT_TRUE(dir.ok());
  const fs::path src = kCasesDir / "_tasks" / "vec_scale";
  fs::copy_file(src / "task.yaml", *dir / "task.yaml");
  ASSERT_TRUE(core::WriteFileAtomic(*dir / "reference.cpp",
                                    "#include <cstdint>\nvoid vec_scale_reference(const float* x, float* y, int32_t n) "
                                    "{ float* p = nullptr; for (int32_t i = 0; i < n; ++i) p[i] = x[i]; (void)y; }\n")
                  .ok());
  auto task = task::LoadTask(*dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  auto ev = MakeEvaluator(*task, Options(*dir / "cache"));
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, core::ErrorCode::kValidation);
  EXPECT_NE(ev.error().message.find("SIGSEGV"), std::string::npos) << ev.error().message;
  fs::remove_all(*dir);
}

TEST(DetectToolchains, ListsTheCpuCompilerAndTheOtherBackends) {
  const auto infos = DetectToolchains();
  ASSERT_GE(infos.size(), 4u);
  EXPECT_EQ(infos[0].backend, "cpu");
  EXPECT_TRUE(infos[0].available) << infos[0].note;
  EXPECT_NE(infos[0].version.find("g++"), std::string::npos) << infos[0].version;
  for (std::size_t i = 1; i < infos.size(); ++i) {
    // cuda depends on the machine (nvcc, a GPU); either way the line must say something.
    if (infos[i].backend == "cuda") {
      EXPECT_TRUE(infos[i].available || !infos[i].note.empty()) << "an unavailable cuda must say why";
      continue;
    }
    // opencl depends on a platform (PoCL in CI); available means a chosen device is named.
    if (infos[i].backend == "opencl") {
      if (infos[i].available) {
        EXPECT_NE(infos[i].note.find(" / "), std::string::npos) << "platform / device: " << infos[i].note;
        EXPECT_NE(infos[i].note.find("driver"), std::string::npos) << infos[i].note;
      } else {
        EXPECT_NE(infos[i].note.find("OpenCL"), std::string::npos) << "an unavailable opencl must say why";
      }
      continue;
    }
    // torch depends on an interpreter with torch (python3-torch in CI); available names its version.
    if (infos[i].backend == "torch") {
      EXPECT_NE(infos[i].note.find("torch"), std::string::npos) << infos[i].note;
      if (infos[i].available) {
        EXPECT_NE(infos[i].note.find("torch.compile"), std::string::npos) << "whether the compile baseline exists";
      }
      continue;
    }
    // sycl depends on a compiler (none in Debian); available means a device is named.
    ASSERT_EQ(infos[i].backend, "sycl");
    if (infos[i].available) {
      EXPECT_NE(infos[i].note.find(" / "), std::string::npos) << "platform / device: " << infos[i].note;
    } else {
      EXPECT_NE(infos[i].note.find("no SYCL compiler"), std::string::npos) << infos[i].note;
    }
  }
  EXPECT_EQ(infos.size(), 5u) << "cpu, cuda, opencl, sycl, torch";
}

}  // namespace
}  // namespace kf::eval
