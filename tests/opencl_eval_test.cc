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

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "backend_cases.h"
#include "core/fs.h"
#include "eval/builder.h"
#include "eval/opencl_backend.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;
using testing::ExpectCaseVerdict;
using testing::ExpectSeedPasses;
using testing::ExpectVerdict;
using testing::LoadedTask;
using testing::Subdirs;
using testing::TaskFor;

const fs::path kCasesDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases_opencl";
const fs::path kExamplesDir = fs::path(KF_SOURCE_DIR) / "examples" / "opencl";
constexpr const char* kLabel = "opencl-eval";

// The cases whose expected.yaml also says what --sanitize must give.
std::vector<std::string> SanitizeCases() {
  std::vector<std::string> names;
  for (const std::string& name : Subdirs(kCasesDir)) {
    if (YAML::LoadFile((kCasesDir / name / "expected.yaml").string())["sanitize"]) names.push_back(name);
  }
  return names;
}

// Whether the selected OpenCL device is a GPU: a race that passes by luck on a CPU runtime
// (PoCL runs a work-group's items in order) may show on one, so cases can say `status_on_gpu`.
bool DeviceIsGpu() {
  auto tc = DetectOpenClToolchain(fs::path(KF_BINARY_DIR) / (std::string(kLabel) + "-cache"));
  return tc.ok() && tc->target.find("(gpu, ") != std::string::npos;  // "platform / device (type, driver ...)"
}

class OpenClCase : public ::testing::TestWithParam<std::string> {};

TEST_P(OpenClCase, GetsTheExpectedVerdict) {
  ExpectCaseVerdict(kCasesDir / GetParam(), "candidate.cpp", kLabel, DeviceIsGpu());
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
  LoadedTask& t = TaskFor(dir / expected["task"].as<std::string>(), kLabel, /*sanitize=*/true);
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

TEST_P(OpenClExample, SeedPasses) { ExpectSeedPasses(kExamplesDir / GetParam(), kLabel); }

INSTANTIATE_TEST_SUITE_P(Examples, OpenClExample, ::testing::ValuesIn(Subdirs(kExamplesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace kf::eval
