// The sycl evaluator end to end: every folder tests/cases_sycl/<name>/ goes through the real
// evaluator (the SYCL compiler found, the sandboxed runner, the default selector's device);
// then the seeds of examples/sycl/* must pass; then what one case cannot show. Skips with the
// reason where no SYCL compiler exists (Debian packages none): point KF_SYCL_COMPILER at icpx
// or acpp, or put one in PATH, to run it.
#include <gtest/gtest.h>

#include "backend_cases.h"
#include "eval/static_check.h"

namespace kf::eval {
namespace {

using testing::ExpectCaseVerdict;
using testing::ExpectSeedPasses;
using testing::Subdirs;
namespace fs = std::filesystem;

const fs::path kCasesDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases_sycl";
const fs::path kExamplesDir = fs::path(KF_SOURCE_DIR) / "examples" / "sycl";

class SyclCase : public ::testing::TestWithParam<std::string> {};

TEST_P(SyclCase, GetsTheExpectedVerdict) { ExpectCaseVerdict(kCasesDir / GetParam(), "candidate.cpp", "sycl-eval"); }

INSTANTIATE_TEST_SUITE_P(Cases, SyclCase, ::testing::ValuesIn(Subdirs(kCasesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class SyclExample : public ::testing::TestWithParam<std::string> {};

TEST_P(SyclExample, SeedPasses) { ExpectSeedPasses(kExamplesDir / GetParam(), "sycl-eval"); }

INSTANTIATE_TEST_SUITE_P(Examples, SyclExample, ::testing::ValuesIn(Subdirs(kExamplesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Without a compiler, `kfoundry devices` and every sycl test say why; the static check of sycl
// candidates needs no compiler and runs everywhere.
std::vector<std::string> SyclFindings(const std::string& body) {
  task::Task t;
  t.backend = task::Backend::kSycl;
  t.entry = "f";
  std::vector<std::string> rules;
  for (const StaticFinding& f : CheckStatic(t, "#include <sycl/sycl.hpp>\n" + body, "")) {
    rules.push_back(f.rule + " " + f.excerpt);
  }
  return rules;
}

TEST(SyclStaticCheck, OnlyTheGivenQueueMaySubmitWork) {
  EXPECT_EQ(SyclFindings("void f(sycl::queue& queue, float* y) { queue.fill(y, 0.f, 4); }"),
            std::vector<std::string>{});
  EXPECT_EQ(SyclFindings("#include <queue>\nvoid f(sycl::queue& q) { std::queue<int> w; auto& r = q; r.wait(); }"),
            std::vector<std::string>{});
  EXPECT_EQ(SyclFindings("void f(sycl::queue& q) { sycl::queue side; side.wait(); }"),
            std::vector<std::string>{"escapes_timing sycl::queue"});
  EXPECT_EQ(SyclFindings("void f(sycl::queue& q) { auto s = sycl::queue(q.get_device()); }"),
            std::vector<std::string>{"escapes_timing sycl::queue"});
  EXPECT_EQ(SyclFindings("using namespace sycl;\nvoid f(queue& q) {\n  queue side{q};\n  auto d = gpu_selector_v;\n}"),
            (std::vector<std::string>{"escapes_timing queue", "escapes_timing gpu_selector*"}));
  EXPECT_EQ(SyclFindings("void f(sycl::queue& q) { q.submit([&](sycl::handler& h) { h.host_task([] {}); }); }"),
            std::vector<std::string>{"escapes_timing host_task"});
  EXPECT_EQ(SyclFindings("#include <oneapi/mkl.hpp>\nvoid f(sycl::queue& q) {}"),
            std::vector<std::string>{"library_fallback #include <oneapi/mkl.hpp>"});
}

}  // namespace
}  // namespace kf::eval
