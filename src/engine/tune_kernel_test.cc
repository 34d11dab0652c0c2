// Tuning a parameterized cpu kernel end to end: real compiles, the real correctness check and
// timing, the tuning cache on disk, and the exported dispatch header compiled by g++.
#include "engine/tune_kernel.h"

#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/subprocess.h"
#include "task/task.h"

namespace kf::engine {
namespace {

namespace fs = std::filesystem;

// Configurations: UNROLL 3 does not compile; UNROLL 4 with VEC 8 skips the work (the fastest
// wrong answer); `n % VEC == 0` allows VEC 8 only for n = 4096, so the shapes tune apart.
constexpr const char* kKernel = R"(// @param UNROLL: 1, 2, 3, 4
// @param VEC: 1, 8
// @constraint n % VEC == 0
#include <cstdint>
#if UNROLL == 3
#error "UNROLL 3 is not supported"
#endif
void scale(const float* x, float* y, int32_t n) {
#if UNROLL == 4 && VEC == 8
  (void)x; (void)y; (void)n;
#else
  for (int32_t i = 0; i < n; i += VEC * UNROLL) {
    for (int32_t v = 0; v < VEC * UNROLL && i + v < n; ++v) y[i + v] = 2.0f * x[i + v];
  }
#endif
}
)";

class TuneKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = core::MakeUniqueDir(fs::temp_directory_path(), "kf_tune_kernel_test");
    ASSERT_TRUE(dir.ok()) << dir.error().ToString();
    dir_ = *dir;
    ASSERT_TRUE(core::WriteFileAtomic(dir_ / "task" / "task.yaml", R"(name: scale
description: y = 2 x.
backend: cpu
entry: scale
args:
  - {name: x, role: input, dtype: f32, shape: [n]}
  - {name: y, role: output, dtype: f32, shape: [n]}
  - {name: n, role: scalar, dtype: i32}
shapes:
  - {n: 4096}
  - {n: 1001}
tolerance: {atol: 1.0e-6, rtol: 1.0e-6}
reference: reference.cpp
timing: {warmup: 1, min_trials: 3, max_trials: 5, max_seconds: 0.1}
)").ok());
    ASSERT_TRUE(core::WriteFileAtomic(dir_ / "task" / "reference.cpp",
                                      "#include <cstdint>\nvoid scale_reference(const float* x, float* y, int32_t n) "
                                      "{ for (int32_t i = 0; i < n; ++i) y[i] = 2.0f * x[i]; }\n")
                    .ok());
    auto task = task::LoadTask(dir_ / "task");
    ASSERT_TRUE(task.ok()) << task.error().ToString();
    task_ = *task;
    options_.eval.cache_dir = dir_ / "cache";
    options_.eval.work_dir = dir_ / "work";
    options_.compile_workers = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  task::Task task_;
  TuneKernelOptions options_;
};

TEST_F(TuneKernelTest, TunesEachShapeOnItsOwnSpaceAndCachesEveryConfiguration) {
  auto report = TuneKernel(task_, kKernel, "scale.cpp", options_);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->groups.size(), 2u) << "n = 1001 allows only VEC 1";
  EXPECT_EQ(report->groups[0].shapes, std::vector<std::size_t>{0});
  EXPECT_EQ(report->groups[0].points.size(), 8u);
  EXPECT_EQ(report->groups[1].points.size(), 4u);
  EXPECT_EQ(report->searcher, "exhaustive");
  for (const TuneGroup& g : report->groups) {
    EXPECT_EQ(g.trace.trials.size(), g.points.size());
    EXPECT_EQ(g.trace.stop_reason, "space exhausted");
    ASSERT_TRUE(g.default_outcome.has_value());
    EXPECT_TRUE(g.default_outcome->passed) << g.default_outcome->status << " " << g.default_outcome->message;
    for (const auto& [point, outcome] : g.trace.trials) {
      const tune::Config& c = g.points[point];
      if (c[0] == 3) {
        EXPECT_EQ(outcome.status, "compile_error") << report->space.Label(c);
      } else if (c[0] == 4 && c[1] == 8) {
        EXPECT_EQ(outcome.status, "wrong_value") << report->space.Label(c);
      } else {
        EXPECT_TRUE(outcome.passed) << report->space.Label(c) << ": " << outcome.status << " " << outcome.message;
        EXPECT_EQ(outcome.shape_ms.size(), g.shapes.size());
      }
    }
  }
  // 12 configurations over the two groups; each group's default was timed first and then
  // proposed again by the exhaustive searcher, which found it in the cache.
  EXPECT_EQ(report->timed, 12);
  EXPECT_EQ(report->cached, 2);
  ASSERT_EQ(report->table.entries.size(), 2u);
  EXPECT_EQ(report->table.entries[0].shape_label, task_.shapes[0].label);
  EXPECT_EQ(report->table.entries[1].shape_label, task_.shapes[1].label);
  EXPECT_EQ(report->table.entries[1].config[1], 1) << "n = 1001 cannot use VEC 8";
  for (const tune::DispatchEntry& e : report->table.entries) {
    EXPECT_NE(e.config, (tune::Config{4, 8})) << "the fast wrong configuration never wins";
    EXPECT_NE(e.config[0], 3);
    EXPECT_GT(e.median_ms, 0);
    EXPECT_GT(e.default_ms, 0);
    EXPECT_LE(e.median_ms, e.default_ms) << "the default was a candidate too";
  }
  ASSERT_TRUE(report->best.has_value());
  EXPECT_NE(report->best_source.find("#define UNROLL"), std::string::npos);

  // The second tune of the same kernel times nothing: every outcome comes from the cache.
  auto again = TuneKernel(task_, kKernel, "scale.cpp", options_);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->timed, 0);
  EXPECT_EQ(again->cached, 14);
  ASSERT_EQ(again->table.entries.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(again->table.entries[i].config, report->table.entries[i].config);
    EXPECT_DOUBLE_EQ(again->table.entries[i].median_ms, report->table.entries[i].median_ms);
  }
  // A changed kernel is a different configuration: it is timed.
  options_.stop.max_evaluations = 1;
  auto changed = TuneKernel(task_, std::string(kKernel) + "// changed\n", "scale.cpp", options_);
  ASSERT_TRUE(changed.ok()) << changed.error().ToString();
  EXPECT_GT(changed->timed, 0);
}

TEST_F(TuneKernelTest, TheDispatchHeaderCompilesAndPicksTheNearestTunedShape) {
  tune::DispatchTable t;
  t.entry = "scale";
  t.device_name = "test cpu";
  t.device_id = "cpu|test";
  t.param_names = {"UNROLL", "VEC"};
  t.scalar_names = {"n", "d"};  // d: a scalar named like the distance a naive header would keep
  t.entries = {{"n=4096,d=64", {{"n", 4096}, {"d", 64}}, {2, 8}, 0.01, 0.02},
               {"n=1001,d=64", {{"n", 1001}, {"d", 64}}, {4, 1}, 0.005, 0.006}};
  ASSERT_TRUE(core::WriteFileAtomic(dir_ / "scale_tuned.h", tune::DispatchHeader(t)).ok());
  ASSERT_TRUE(core::WriteFileAtomic(dir_ / "main.cpp", R"(#include "scale_tuned.h"
#include <cstdio>
#include <initializer_list>
int main() {
  for (double n : {4096.0, 1001.0, 1e6, 900.0, 2500.0}) {
    kf_tuned_scale::Config c = kf_tuned_scale::Dispatch(n, 64);
    std::printf("%g:%lld,%lld\n", n, c.UNROLL, c.VEC);
  }
}
)").ok());
  auto run = [&](std::vector<std::string> argv) {
    core::SubprocessSpec spec;
    spec.argv = std::move(argv);
    spec.working_dir = dir_;
    return core::RunSandboxed(spec);
  };
  auto built = run({"g++", "-std=c++17", "-Wall", "-Werror", "-o", (dir_ / "main").string(), (dir_ / "main.cpp").string()});
  ASSERT_TRUE(built.ok()) << built.error().ToString();
  ASSERT_EQ(built->exit_code, 0) << built->stderr_text;
  auto ran = run({(dir_ / "main").string()});
  ASSERT_TRUE(ran.ok()) << ran.error().ToString();
  // 2500 is nearer 4096 than 1001 in log2 (0.71 against 1.32).
  EXPECT_EQ(ran->stdout_text, "4096:2,8\n1001:4,1\n1e+06:2,8\n900:4,1\n2500:2,8\n");
  auto back = tune::DispatchTable::FromJson(t.ToJson());
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->ToJson(), t.ToJson());
}

TEST_F(TuneKernelTest, AnUntunedEvaluationRunsTheDefaultConfiguration) {
  auto evaluator = eval::MakeEvaluator(task_, options_.eval);
  ASSERT_TRUE(evaluator.ok()) << evaluator.error().ToString();
  eval::EvalResult r = (*evaluator)->Evaluate(kKernel);
  EXPECT_EQ(r.status, eval::Status::kPassed) << r.message << "\n" << r.log;
  EXPECT_EQ(r.configuration.rfind("UNROLL=1 VEC=1 (the default", 0), 0u) << r.configuration;
  EXPECT_NE(eval::FeedbackText(r).find("configuration: UNROLL=1 VEC=1"), std::string::npos) << eval::FeedbackText(r);
  // The default is the first listed value: listing the failing one first makes it fail.
  std::string failing = kKernel;
  failing.replace(failing.find("1, 2, 3, 4"), 10, "3, 1, 2, 4");
  EXPECT_EQ((*evaluator)->Evaluate(failing).status, eval::Status::kCompileError);
  eval::EvalResult bad = (*evaluator)->Evaluate(std::string("// @param VEC: 1..\n") + kKernel);
  EXPECT_EQ(bad.status, eval::Status::kStaticRejected);
  EXPECT_NE(bad.message.find(":1: @param VEC"), std::string::npos) << bad.message;
}

TEST_F(TuneKernelTest, DeclarationErrorsAndEmptySpacesAreReportedBeforeAnythingCompiles) {
  auto bad = TuneKernel(task_, "// @param UNROLL: 1, two\nvoid scale();\n", "bad.cpp", options_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, core::ErrorCode::kValidation);
  EXPECT_NE(bad.error().message.find("bad.cpp:1:"), std::string::npos) << bad.error().message;
  auto none = TuneKernel(task_, "void scale();\n", "plain.cpp", options_);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("declares no parameters"), std::string::npos) << none.error().message;
  auto empty = TuneKernel(task_, "// @param VEC: 3, 5\n// @constraint n % VEC == 0\nvoid scale();\n", "odd.cpp", options_);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("n % VEC == 0 (line 2) is false"), std::string::npos) << empty.error().message;
  EXPECT_FALSE(fs::exists(dir_ / "cache")) << "nothing was measured, compiled or timed";
}

}  // namespace
}  // namespace kf::engine
