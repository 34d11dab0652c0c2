// The torch evaluator on CPU with a real Python and PyTorch (Debian's python3-torch in CI):
// every folder tests/cases_torch/<name>/ (except _tasks) holds a candidate.py and an
// expected.yaml {task, status, message_contains}; plus the reference cache, the re-verification
// of implausible speedups and the toolchain errors. Skips with the reason where no interpreter
// can import torch.
//
// Most cases share one load_inline extension (the same C++ source, so one build for all,
// cached across cases and runs in the build tree's torch-eval-cache) and cheat around it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "backend_cases.h"
#include "core/fs.h"
#include "core/log.h"
#include "engine/suite.h"
#include "eval/evaluator.h"
#include "task/task.h"
#include "torch_python.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kCasesDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases_torch";
const fs::path kTaskDir = kCasesDir / "_tasks" / "linear_relu";
constexpr const char* kLabel = "torch-eval";

const auto* const kTorchPython = ::testing::AddGlobalTestEnvironment(new testing::TorchPython);

EvaluatorOptions Options() {
  EvaluatorOptions o;
  o.cache_dir = fs::path(KF_BINARY_DIR) / (std::string(kLabel) + "-cache");
  o.work_dir = fs::path(KF_BINARY_DIR) / (std::string(kLabel) + "-work");
  return o;
}

class TorchCase : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchCase, GetsTheExpectedVerdict) {
  testing::ExpectCaseVerdict(kCasesDir / GetParam(), "candidate.py", kLabel);
}

INSTANTIATE_TEST_SUITE_P(Cases, TorchCase, ::testing::ValuesIn(testing::Subdirs(kCasesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The finished baseline files under dir with their modification times: a changed map means a
// baseline was (re)measured. Files still being written (by tests running beside this one) are
// left out.
std::map<std::string, fs::file_time_type> Snapshot(const fs::path& dir) {
  std::map<std::string, fs::file_time_type> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files[e.path().string()] = e.last_write_time();
  }
  return files;
}

// The part of `now` that `before` has.
std::map<std::string, fs::file_time_type> SameFiles(const std::map<std::string, fs::file_time_type>& before,
                                                    const std::map<std::string, fs::file_time_type>& now) {
  std::map<std::string, fs::file_time_type> out;
  for (const auto& [file, time] : now) {
    if (before.contains(file)) out[file] = time;
  }
  return out;
}

TEST(TorchEvaluator, ReevaluationBuildsNothingAndTheReferenceRunsOnce) {
  auto task = task::LoadTask(kTaskDir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  auto source = core::ReadFile(kCasesDir / "correct" / "candidate.py");
  ASSERT_TRUE(source.ok());
  auto first = MakeEvaluator(*task, Options());
  if (!first.ok() && first.error().code == core::ErrorCode::kToolchain) GTEST_SKIP() << first.error().message;
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  // The checker timed the reference during the first measurement (or its baseline was found);
  // nothing re-times it.
  const fs::path baseline_dir = Options().cache_dir / "torch" / "baseline";
  const EvalResult cold = (*first)->Evaluate(*source);
  ASSERT_EQ(cold.status, Status::kPassed) << cold.message << "\n" << cold.log;
  const auto after_first = Snapshot(baseline_dir);
  EXPECT_FALSE(after_first.empty());

  auto second = MakeEvaluator(*task, Options());
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  const EvalResult warm = (*second)->Evaluate(*source);
  ASSERT_EQ(warm.status, Status::kPassed) << warm.message << "\n" << warm.log;
  EXPECT_TRUE(warm.phases.compile_cached);
  EXPECT_EQ(SameFiles(after_first, Snapshot(baseline_dir)), after_first);
  ASSERT_EQ(warm.timings.size(), 2u);
  EXPECT_EQ(warm.timings[0].shape_label, "square");
  EXPECT_DOUBLE_EQ(warm.timings[0].reference_median_ms, cold.timings[0].reference_median_ms);
  EXPECT_GT(warm.timings[1].reference_median_ms, 0);
  // torch 1.13 has no torch.compile: the baseline is absent, never made up.
  for (const ShapeTiming& t : warm.timings) {
    if (t.compile_median_ms == 0) {
      EXPECT_EQ(t.speedup_vs_compile, 0);
    }
  }
}

// A forward that returns its previous result when called again with the very same tensor
// object looks fast in timing (which repeats the inputs); above max_speedup the candidate is
// re-verified on fresh inputs and re-timed with fresh copies each call, which gives its honest
// (slow) time.
TEST(TorchEvaluator, ReverifiesASpeedupAboveTheTasksLimitAndReportsTheHonestTime) {
  auto task = task::LoadTask(kTaskDir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  task->torch.max_speedup = 3;
  auto source = core::ReadFile(kCasesDir / "_reverify" / "fast_on_repeated_inputs.py");
  ASSERT_TRUE(source.ok());
  auto ev = MakeEvaluator(*task, Options());
  if (!ev.ok() && ev.error().code == core::ErrorCode::kToolchain) GTEST_SKIP() << ev.error().message;
  ASSERT_TRUE(ev.ok()) << ev.error().ToString();
  const EvalResult r = (*ev)->Evaluate(*source);
  std::cout << "  verdict: " << StatusName(r.status) << ": " << r.message << "\n";
  ASSERT_EQ(r.status, Status::kPassed) << r.message << "\n" << r.log;
  EXPECT_NE(r.message.find("re-verified on fresh inputs"), std::string::npos) << r.message;
  EXPECT_LT(r.speedup, task->torch.max_speedup) << r.message;
}

// A reference that runs once but breaks while its baseline is timed: when the evaluator is made
// (the baseline is timed there, before any candidate exists) that is kValidation; in a suite,
// where the first measurement's checker times it, it is that problem's verdict, the task's
// problem, and nothing is cached for it.
TEST(TorchEvaluator, ReferenceThatFailsWhileTimedIsTheTasksProblem) {
  auto root = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "torch-eval-test", "flakyref-");
  ASSERT_TRUE(root.ok());
  const fs::path dir = *root / "suite" / "flaky";
  fs::create_directories(dir);
  fs::copy_file(kTaskDir / "task.yaml", dir / "task.yaml");
  std::string reference = *core::ReadFile(kTaskDir / "reference.py");
  // The warm-up's two calls (one per configuration) pass, and a checker's first three; then it breaks.
  reference += "\n\n_calls = [0]\n_forward = Model.forward\n\n\ndef _counted(self, x):\n    _calls[0] += 1\n"
               "    if _calls[0] > 3:\n        raise RuntimeError('the reference broke on call %d' % _calls[0])\n"
               "    return _forward(self, x)\n\n\nModel.forward = _counted\n";
  ASSERT_TRUE(core::WriteFileAtomic(dir / "reference.py", reference).ok());
  auto task = task::LoadTask(dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  auto ev = MakeEvaluator(*task, Options());
  if (!ev.ok() && ev.error().code == core::ErrorCode::kToolchain) GTEST_SKIP() << ev.error().message;
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, core::ErrorCode::kValidation);
  EXPECT_NE(ev.error().message.find("the reference broke on call 4"), std::string::npos) << ev.error().message;

  fs::create_directories(*root / "candidates");
  fs::copy_file(kCasesDir / "correct" / "candidate.py", *root / "candidates" / "flaky.py");
  engine::SuiteOptions options;
  options.evaluator = Options();
  for (int pass = 0; pass < 2; ++pass) {  // the second finds no cached baseline and fails again
    auto rows = engine::EvaluateSuite(*root / "suite", *root / "candidates", options);
    ASSERT_TRUE(rows.ok()) << rows.error().ToString();
    ASSERT_EQ(rows->size(), 1u);
    ASSERT_TRUE((*rows)[0].result) << (*rows)[0].error;
    const EvalResult& r = *(*rows)[0].result;
    EXPECT_EQ(r.status, Status::kRuntimeError) << r.message;
    EXPECT_NE(r.message.find("a problem of the task, not of the candidate"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("the reference broke on call 4"), std::string::npos) << r.message;
  }
  fs::remove_all(*root);
}

// In a suite each next measurement is staged while the one before runs: its children import
// torch and wait, the checker at its gate before it touches the device. Verdicts are those of
// unstaged measurements.
TEST(TorchSuite, EachNextMeasurementStartsAheadAndTheVerdictsHold) {
  auto root = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "torch-eval-test", "suite-");
  ASSERT_TRUE(root.ok());
  for (const char* name : {"a", "b", "c"}) {
    fs::create_directories(*root / "suite" / name);
    fs::copy(kTaskDir, *root / "suite" / name, fs::copy_options::recursive);
  }
  fs::create_directories(*root / "candidates");
  fs::copy_file(kCasesDir / "correct" / "candidate.py", *root / "candidates" / "a.py");
  fs::copy_file(kCasesDir / "wrong_value" / "candidate.py", *root / "candidates" / "b.py");
  fs::copy_file(kCasesDir / "correct" / "candidate.py", *root / "candidates" / "c.py");
  engine::SuiteOptions options;
  options.evaluator = Options();
  const core::LogLevel level = core::GetLogLevel();
  core::SetLogLevel(core::LogLevel::kDebug);
  ::testing::internal::CaptureStderr();
  auto rows = engine::EvaluateSuite(*root / "suite", *root / "candidates", options);
  const std::string log = ::testing::internal::GetCapturedStderr();
  core::SetLogLevel(level);
  ASSERT_TRUE(rows.ok()) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 3u);
  if (!(*rows)[0].result && (*rows)[0].error.find("torch") != std::string::npos) GTEST_SKIP() << (*rows)[0].error;
  const Status want[] = {Status::kPassed, Status::kWrongValue, Status::kPassed};
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE((*rows)[i].result) << (*rows)[i].error;
    EXPECT_EQ((*rows)[i].result->status, want[i]) << (*rows)[i].task << ": " << (*rows)[i].result->message;
  }
  EXPECT_GT((*rows)[2].result->speedup, 0);
  int staged = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("torch check child") == std::string::npos || line.find("let go") == std::string::npos) continue;
    ++staged;
    EXPECT_LT(line.find("waiting"), line.find("let go")) << line;
    EXPECT_LT(line.find("let go"), line.find("device ready")) << "the device before the gate: " << line;
  }
  EXPECT_EQ(staged, 2) << log;
  fs::remove_all(*root);
}

// A suite checks each reference beside its candidate's build: one that fails is that problem's
// verdict, said to be the task's problem, and the other problems are judged as usual.
TEST(TorchSuite, AReferenceThatFailsIsItsProblemsVerdict) {
  auto root = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "torch-eval-test", "suite-badref-");
  ASSERT_TRUE(root.ok());
  fs::create_directories(*root / "candidates");
  for (const char* name : {"good", "broken"}) {
    fs::create_directories(*root / "suite" / name);
    fs::copy(kTaskDir, *root / "suite" / name, fs::copy_options::recursive);
    fs::copy_file(kCasesDir / "correct" / "candidate.py", *root / "candidates" / (std::string(name) + ".py"));
  }
  std::string reference = *core::ReadFile(kTaskDir / "reference.py");
  reference.replace(reference.find("        return torch.relu"), 0, "        raise KeyError('no such weight')\n");
  ASSERT_TRUE(core::WriteFileAtomic(*root / "suite" / "broken" / "reference.py", reference).ok());
  engine::SuiteOptions options;
  options.evaluator = Options();
  auto rows = engine::EvaluateSuite(*root / "suite", *root / "candidates", options);
  ASSERT_TRUE(rows.ok()) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 2u);
  if (!(*rows)[1].result && (*rows)[1].error.find("torch") != std::string::npos) GTEST_SKIP() << (*rows)[1].error;
  ASSERT_EQ((*rows)[0].task, "broken");
  ASSERT_TRUE((*rows)[0].result) << (*rows)[0].error;
  EXPECT_EQ((*rows)[0].result->status, Status::kRuntimeError) << (*rows)[0].result->message;
  EXPECT_NE((*rows)[0].result->message.find("a problem of the task"), std::string::npos) << (*rows)[0].result->message;
  EXPECT_NE((*rows)[0].result->log.find("KeyError: 'no such weight'"), std::string::npos) << (*rows)[0].result->log;
  ASSERT_TRUE((*rows)[1].result) << (*rows)[1].error;
  EXPECT_EQ((*rows)[1].result->status, Status::kPassed) << (*rows)[1].result->message;
  fs::remove_all(*root);
}

TEST(TorchEvaluator, MissingInterpreterIsAToolchainErrorThatSaysWhatToInstall) {
  auto task = task::LoadTask(kTaskDir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  task->torch.python = "/nonexistent/python3";
  const char* saved = std::getenv("KF_PYTHON");
  const std::string restore = saved != nullptr ? saved : "";
  ::unsetenv("KF_PYTHON");
  auto ev = MakeEvaluator(*task, Options());
  if (!restore.empty()) ::setenv("KF_PYTHON", restore.c_str(), 1);
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, core::ErrorCode::kToolchain);
  EXPECT_NE(ev.error().message.find("apt-get install python3-torch"), std::string::npos) << ev.error().message;
}

TEST(TorchEvaluator, InterpreterWithoutTorchIsAToolchainError) {
  // python3 -S skips site-packages: a real interpreter that cannot import torch.
  auto dir = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "torch-eval-test", "nosite-");
  ASSERT_TRUE(dir.ok());
  const fs::path wrapper = *dir / "python-without-torch";
  ASSERT_TRUE(core::WriteFileAtomic(wrapper, "#!/bin/sh\nexec python3 -S \"$@\"\n").ok());
  fs::permissions(wrapper, fs::perms::owner_all);
  auto task = task::LoadTask(kTaskDir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  const char* saved = std::getenv("KF_PYTHON");
  const std::string restore = saved != nullptr ? saved : "";
  ::setenv("KF_PYTHON", wrapper.c_str(), 1);
  auto ev = MakeEvaluator(*task, Options());
  if (restore.empty()) {
    ::unsetenv("KF_PYTHON");
  } else {
    ::setenv("KF_PYTHON", restore.c_str(), 1);
  }
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, core::ErrorCode::kToolchain);
  EXPECT_NE(ev.error().message.find("cannot import torch"), std::string::npos) << ev.error().message;
  fs::remove_all(*dir);
}

TEST(TorchEvaluator, ReferenceThatRaisesIsAValidationErrorWithItsTraceback) {
  auto dir = core::MakeUniqueDir(fs::path(KF_BINARY_DIR) / "torch-eval-test", "badref-");
  ASSERT_TRUE(dir.ok());
  fs::copy_file(kTaskDir / "task.yaml", *dir / "task.yaml");
  ASSERT_TRUE(core::WriteFileAtomic(*dir / "reference.py",
                                    "import torch\nimport torch.nn as nn\n\n\nclass Model(nn.Module):\n"
                                    "    def __init__(self, in_features, out_features):\n        super().__init__()\n\n"
                                    "    def forward(self, x):\n        raise KeyError('no such weight')\n\n\n"
                                    "def get_inputs(batch_size=1, in_features=1):\n    return [torch.randn(batch_size)]\n\n\n"
                                    "def get_init_inputs(in_features=1, out_features=1):\n    return [1, 1]\n")
                  .ok());
  auto task = task::LoadTask(*dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EvaluatorOptions o = Options();
  o.cache_dir = *dir / "cache";
  auto ev = MakeEvaluator(*task, o);
  if (!ev.ok() && ev.error().code == core::ErrorCode::kToolchain) GTEST_SKIP() << ev.error().message;
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().code, core::ErrorCode::kValidation);
  EXPECT_NE(ev.error().message.find("KeyError: 'no such weight'"), std::string::npos) << ev.error().message;
  fs::remove_all(*dir);
}

}  // namespace
}  // namespace kf::eval
