// The opencl evaluator end to end: every folder tests/cases_opencl/<name>/ (except _tasks) holds
// a candidate.cpp and an expected.yaml {task, status, message_contains?, sanitize?} and goes
// through the real evaluator (g++, libOpenCL, the sandboxed runner on the selected OpenCL
// device); then the seeds of examples/opencl/* must pass. message_contains is one string or a
// list of strings. A case with `sanitize: {status, message_contains?}` is evaluated a second time
// with --sanitize (oclgrind) and must get that verdict. Runs on PoCL in CI and, unchanged, on any
// other platform (KF_OPENCL_VENDOR_LIB / KF_OPENCL_DEVICE pick it); skips with the reason when
// this build or this machine has no OpenCL platform, and the --sanitize tests when oclgrind is
// not installed.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/fs.h"
#include "eval/opencl_backend.h"
#include "eval/builder.h"
#include "eval/evaluator.h"
#include "task/task.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kCasesDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases_opencl";
const fs::path kExamplesDir = fs::path(KF_SOURCE_DIR) / "examples" / "opencl";

std::vector<std::string> Subdirs(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.front() != '_') names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The cases whose expected.yaml also says what --sanitize must give.
std::vector<std::string> SanitizeCases() {
  std::vector<std::string> names;
  for (const std::string& name : Subdirs(kCasesDir)) {
    if (YAML::LoadFile((kCasesDir / name / "expected.yaml").string())["sanitize"]) names.push_back(name);
  }
  return names;
}

// One evaluator per task directory, shared by the tests of one process; an evaluator that
// cannot be made for want of OpenCL is a skip reason, any other failure an error.
struct LoadedTask {
  task::Task task;
  std::unique_ptr<Evaluator> evaluator;
  std::string skip_reason;
  std::string error;
};

LoadedTask& TaskFor(const fs::path& dir, bool sanitize = false) {
  static std::map<std::pair<fs::path, bool>, std::unique_ptr<LoadedTask>> tasks;
  const fs::path key = fs::weakly_canonical(dir);
  auto& slot = tasks[{key, sanitize}];
  if (slot) return *slot;
  slot = std::make_unique<LoadedTask>();
  auto task = task::LoadTask(key);
  if (!task.ok()) {
    slot->error = task.error().ToString();
    return *slot;
  }
  slot->task = std::move(*task);
  EvaluatorOptions o;
  o.cache_dir = fs::path(KF_BINARY_DIR) / "opencl-eval-cache";
  o.work_dir = fs::path(KF_BINARY_DIR) / "opencl-eval-work";
  o.sanitize = sanitize;
  auto ev = MakeEvaluator(slot->task, o);
  if (!ev.ok() && ev.error().code == core::ErrorCode::kToolchain) {
    slot->skip_reason = "no usable OpenCL: " + ev.error().message;
  } else if (!ev.ok()) {
    slot->error = ev.error().ToString();
  } else {
    slot->evaluator = std::move(*ev);
  }
  return *slot;
}

// One string or a list of strings.
std::vector<std::string> Strings(const YAML::Node& n) {
  if (!n) return {};
  return n.IsSequence() ? n.as<std::vector<std::string>>() : std::vector<std::string>{n.as<std::string>()};
}

// Whether the selected OpenCL device is a GPU: a race that passes by luck on a CPU runtime
// (PoCL runs a work-group's items in order) may show on one, so cases can say `status_on_gpu`.
bool DeviceIsGpu() {
  auto tc = DetectOpenClToolchain(fs::path(KF_BINARY_DIR) / "opencl-eval-cache");
  return tc.ok() && tc->target.find("(gpu, ") != std::string::npos;  // "platform / device (type, driver ...)"
}

// Checks a verdict against {status, status_on_gpu?, message_contains?}: the status (one of a
// list on a GPU when status_on_gpu is given) and every message fragment.
void ExpectVerdict(const EvalResult& r, const YAML::Node& expected) {
  const std::vector<std::string> allowed =
      expected["status_on_gpu"] && DeviceIsGpu() ? Strings(expected["status_on_gpu"]) : Strings(expected["status"]);
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), std::string(StatusName(r.status))), allowed.end())
      << "status " << StatusName(r.status) << "; message: " << r.message << "\nlog:\n" << r.log;
  if (r.status != Status::kPassed && expected["status_on_gpu"] && DeviceIsGpu()) return;  // the race showed
  std::vector<std::string> wanted;
  if (const YAML::Node m = expected["message_contains"]; m && m.IsSequence()) {
    wanted = m.as<std::vector<std::string>>();
  } else if (m) {
    wanted.push_back(m.as<std::string>());
  }
  for (const std::string& w : wanted) {
    EXPECT_NE(r.message.find(w), std::string::npos) << w << "\nmessage: " << r.message;
  }
}

class OpenClCase : public ::testing::TestWithParam<std::string> {};

TEST_P(OpenClCase, GetsTheExpectedVerdict) {
  const fs::path dir = kCasesDir / GetParam();
  const YAML::Node expected = YAML::LoadFile((dir / "expected.yaml").string());
  ASSERT_TRUE(expected["task"] && expected["status"]) << dir << "/expected.yaml needs task and status";
  auto source = core::ReadFile(dir / "candidate.cpp");
  ASSERT_TRUE(source.ok()) << source.error().ToString();
  LoadedTask& t = TaskFor(dir / expected["task"].as<std::string>());
  if (!t.skip_reason.empty()) GTEST_SKIP() << t.skip_reason;
  ASSERT_TRUE(t.error.empty()) << t.error;

  const EvalResult r = t.evaluator->Evaluate(*source);
  std::cout << "  verdict: " << StatusName(r.status) << ": " << r.message << "\n";
  ExpectVerdict(r, expected);
  if (r.status == Status::kPassed) {
    EXPECT_EQ(r.timings.size(), t.task.shapes.size());
    EXPECT_GT(r.phases.kernel_ms, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, OpenClCase, ::testing::ValuesIn(Subdirs(kCasesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The same candidate with --sanitize: oclgrind runs the runner's one correctness call of shape 0
// on its simulated device after the candidate passed on the real one.
class OpenClSanitizeCase : public ::testing::TestWithParam<std::string> {};

TEST_P(OpenClSanitizeCase, GetsTheExpectedVerdictUnderOclgrind) {
  const fs::path dir = kCasesDir / GetParam();
  const YAML::Node expected = YAML::LoadFile((dir / "expected.yaml").string());
  ASSERT_TRUE(expected["task"] && expected["sanitize"]["status"]) << dir << "/expected.yaml: sanitize needs a status";
  if (FindInPath("oclgrind").empty()) GTEST_SKIP() << "oclgrind is not installed (Debian: apt-get install oclgrind)";
  auto source = core::ReadFile(dir / "candidate.cpp");
  ASSERT_TRUE(source.ok()) << source.error().ToString();
  LoadedTask& t = TaskFor(dir / expected["task"].as<std::string>(), /*sanitize=*/true);
  if (!t.skip_reason.empty()) GTEST_SKIP() << t.skip_reason;
  ASSERT_TRUE(t.error.empty()) << t.error;

  const EvalResult r = t.evaluator->Evaluate(*source);
  std::cout << "  verdict with --sanitize (" << r.phases.total_ms << " ms): " << StatusName(r.status) << ": "
            << r.message << "\n";
  ExpectVerdict(r, expected["sanitize"]);
}

INSTANTIATE_TEST_SUITE_P(Cases, OpenClSanitizeCase, ::testing::ValuesIn(SanitizeCases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class OpenClExample : public ::testing::TestWithParam<std::string> {};

TEST_P(OpenClExample, SeedPasses) {
  const fs::path dir = kExamplesDir / GetParam();
  LoadedTask& t = TaskFor(dir);
  if (!t.skip_reason.empty()) GTEST_SKIP() << t.skip_reason;
  ASSERT_TRUE(t.error.empty()) << t.error;
  ASSERT_FALSE(t.task.seeds.empty()) << dir << " has no seed";
  const EvalResult r = t.evaluator->Evaluate(t.task.seeds.front().source);
  std::cout << "  verdict: " << StatusName(r.status) << ": " << r.message << "\n";
  for (const ShapeTiming& s : r.timings) {
    std::cout << "    " << s.shape_label << ": " << s.median_ms << " ms (reference " << s.reference_median_ms
              << " ms, speedup " << s.speedup << "x)\n";
  }
  EXPECT_EQ(r.status, Status::kPassed) << r.message << "\nlog:\n" << r.log;
  EXPECT_EQ(r.timings.size(), t.task.shapes.size());
  EXPECT_GT(r.speedup, 0);
}

INSTANTIATE_TEST_SUITE_P(Examples, OpenClExample, ::testing::ValuesIn(Subdirs(kExamplesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace kf::eval
