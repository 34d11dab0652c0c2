#include "eval/eval_result.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace kf::eval {
namespace {

const std::vector<Status> kAllStatuses = {Status::kStaticRejected, Status::kCompileError, Status::kRuntimeError,
                                          Status::kTimeout,        Status::kWrongShape,   Status::kWrongValue,
                                          Status::kImplausible,    Status::kPassed};

EvalResult PassedResult() {
  EvalResult r;
  r.status = Status::kPassed;
  r.message = "all 2 shapes correct";
  r.timings = {
      {.shape_label = "rows=4096,cols=1024", .trials = 40, .median_ms = 1.25, .min_ms = 1.2, .cv = 0.021,
       .reference_median_ms = 5.0, .speedup = 4.0, .achieved_gbps = 26.8, .achieved_gflops = 16.75,
       .bandwidth_fraction = 0.4125, .compute_fraction = 0.0625},
      {.shape_label = "rows=1000,cols=3001", .trials = 25, .median_ms = 0.5, .min_ms = 0.49, .cv = 0.05,
       .reference_median_ms = 1.5, .speedup = 3.0},
  };
  r.speedup = std::sqrt(12.0);
  r.median_ms = std::sqrt(1.25 * 0.5);
  r.phases = {.static_ms = 0.4, .compile_ms = 812.5, .compile_cached = true, .correctness_ms = 120.25,
              .timing_ms = 900.5, .kernel_ms = 60.125, .flush_ms = 12.5, .total_ms = 1833.75};
  r.code_hash = std::string(64, 'a');
  return r;
}

EvalResult WrongValueResult() {
  EvalResult r;
  r.status = Status::kWrongValue;
  r.message = "output 'y' differs from the reference for shape rows=4096,cols=1024";
  r.log = "harness: trial 0 done\n";
  r.mismatch = Mismatch{.arg = "y",
                        .shape_label = "rows=4096,cols=1024",
                        .trial = 1,
                        .bad_count = 1024,
                        .total = 4194304,
                        .first_bad_index = 1041,
                        .first_bad_coord = {1, 17},
                        .expected = 0.25,
                        .actual = std::numeric_limits<double>::quiet_NaN(),
                        .max_abs_error = 0.75,
                        .max_rel_error = std::numeric_limits<double>::infinity(),
                        .kind = "value"};
  r.phases.total_ms = 10;
  r.code_hash = "abc";
  return r;
}

/// A g++ log: many warnings first, then errors, each with gcc's context lines.
std::string CompilerLog(int warnings, int errors) {
  std::string log;
  for (int i = 0; i < warnings; ++i) {
    log += "cand.cc:" + std::to_string(i + 1) + ":5: warning: unused variable 'tmp" + std::to_string(i) +
           "' [-Wunused-variable]\n    | int tmp;\n    |     ^~~\n";
  }
  for (int i = 0; i < errors; ++i) {
    log += "cand.cc: In function 'void row_softmax(const float*, float*, int, int)':\n";
    log += "cand.cc:" + std::to_string(100 + i) + ":3: error: 'undeclared_" + std::to_string(i) +
           "' was not declared in this scope\n";
    log += "  " + std::to_string(100 + i) + " |   undeclared_" + std::to_string(i) + "(x);\n      |   ^~~~~~~~~~~\n";
  }
  return log;
}

bool IsValidUtf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------

TEST(Status, NamesAreExactlyThoseOfTheDesign) {
  std::vector<std::string> names;
  for (Status s : kAllStatuses) names.emplace_back(StatusName(s));
  EXPECT_EQ(names, (std::vector<std::string>{"static_rejected", "compile_error", "runtime_error", "timeout",
                                             "wrong_shape", "wrong_value", "implausible", "passed"}));
}

TEST(Status, ParsesEveryNameBack) {
  for (Status s : kAllStatuses) {
    auto parsed = ParseStatus(StatusName(s));
    ASSERT_TRUE(parsed.ok()) << StatusName(s);
    EXPECT_EQ(*parsed, s);
  }
}

TEST(Status, RejectsUnknownNamesListingTheValidOnes) {
  for (const char* bad : {"", "PASSED", "pass", "wrong value", "passed "}) {
    auto parsed = ParseStatus(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().code, core::ErrorCode::kParse);
    EXPECT_TRUE(Contains(parsed.error().message, "static_rejected")) << parsed.error().message;
  }
}

TEST(Status, LevelsFollowThePaper) {
  std::vector<int> levels;
  for (Status s : kAllStatuses) levels.push_back(StatusLevel(s));
  EXPECT_EQ(levels, (std::vector<int>{0, 1, 2, 2, 3, 4, 4, 5}));
}

TEST(Fitness, AddsTheSpeedupOnlyForPassedCandidates) {
  EvalResult passed = PassedResult();
  EXPECT_DOUBLE_EQ(passed.Fitness(), 5 + std::sqrt(12.0));
  EvalResult implausible = passed;
  implausible.status = Status::kImplausible;  // a celebrated-looking speedup is not credited
  EXPECT_DOUBLE_EQ(implausible.Fitness(), 4);
  EvalResult broken = passed;
  broken.speedup = std::numeric_limits<double>::quiet_NaN();
  EXPECT_DOUBLE_EQ(broken.Fitness(), 5);
  EXPECT_LT(WrongValueResult().Fitness(), PassedResult().Fitness());
}

// ---------------------------------------------------------------------------------------------

void ExpectSame(const EvalResult& a, const EvalResult& b) {
  EXPECT_EQ(a.ToJson().dump(), b.ToJson().dump());
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.log, b.log);
  EXPECT_EQ(a.code_hash, b.code_hash);
  EXPECT_EQ(a.speedup, b.speedup);
  EXPECT_EQ(a.median_ms, b.median_ms);
  ASSERT_EQ(a.timings.size(), b.timings.size());
  for (std::size_t i = 0; i < a.timings.size(); ++i) {
    EXPECT_EQ(a.timings[i].shape_label, b.timings[i].shape_label);
    EXPECT_EQ(a.timings[i].trials, b.timings[i].trials);
    EXPECT_EQ(a.timings[i].median_ms, b.timings[i].median_ms);
    EXPECT_EQ(a.timings[i].min_ms, b.timings[i].min_ms);
    EXPECT_EQ(a.timings[i].cv, b.timings[i].cv);
    EXPECT_EQ(a.timings[i].reference_median_ms, b.timings[i].reference_median_ms);
    EXPECT_EQ(a.timings[i].speedup, b.timings[i].speedup);
    EXPECT_EQ(a.timings[i].achieved_gbps, b.timings[i].achieved_gbps);
    EXPECT_EQ(a.timings[i].achieved_gflops, b.timings[i].achieved_gflops);
    EXPECT_EQ(a.timings[i].bandwidth_fraction, b.timings[i].bandwidth_fraction);
    EXPECT_EQ(a.timings[i].compute_fraction, b.timings[i].compute_fraction);
  }
  EXPECT_EQ(a.phases.static_ms, b.phases.static_ms);
  EXPECT_EQ(a.phases.compile_ms, b.phases.compile_ms);
  EXPECT_EQ(a.phases.compile_cached, b.phases.compile_cached);
  EXPECT_EQ(a.phases.correctness_ms, b.phases.correctness_ms);
  EXPECT_EQ(a.phases.timing_ms, b.phases.timing_ms);
  EXPECT_EQ(a.phases.kernel_ms, b.phases.kernel_ms);
  EXPECT_EQ(a.phases.flush_ms, b.phases.flush_ms);
  EXPECT_EQ(a.phases.total_ms, b.phases.total_ms);
  ASSERT_EQ(a.mismatch.has_value(), b.mismatch.has_value());
  if (a.mismatch) {
    const Mismatch &x = *a.mismatch, &y = *b.mismatch;
    EXPECT_EQ(x.arg, y.arg);
    EXPECT_EQ(x.shape_label, y.shape_label);
    EXPECT_EQ(x.trial, y.trial);
    EXPECT_EQ(x.bad_count, y.bad_count);
    EXPECT_EQ(x.total, y.total);
    EXPECT_EQ(x.first_bad_index, y.first_bad_index);
    EXPECT_EQ(x.first_bad_coord, y.first_bad_coord);
    EXPECT_TRUE(x.expected == y.expected || (std::isnan(x.expected) && std::isnan(y.expected)));
    EXPECT_TRUE(x.actual == y.actual || (std::isnan(x.actual) && std::isnan(y.actual)));
    EXPECT_EQ(x.max_abs_error, y.max_abs_error);
    EXPECT_EQ(x.max_rel_error, y.max_rel_error);
    EXPECT_EQ(x.kind, y.kind);
  }
}

TEST(EvalResultJson, RoundTripsEveryFieldOfAPassedResult) {
  EvalResult r = PassedResult();
  auto back = EvalResult::FromJson(core::Json::parse(r.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  ExpectSame(r, *back);
}

TEST(EvalResultJson, RoundTripsTheProfileAndShowsItInFeedback) {
  EvalResult r = PassedResult();
  KernelProfile k;
  k.kernel_name = "softmax_kernel(const float*, float*, int, int)";
  k.duration_us = 41.5;
  k.dram_throughput_pct = 82;
  k.compute_throughput_pct = 12;
  k.achieved_occupancy_pct = 64;
  k.registers_per_thread = 40;
  k.shared_memory_bytes = 8192;
  k.block_size = "(256, 1, 1)";
  k.grid_size = "(4096, 1, 1)";
  r.profile = {k};
  auto back = EvalResult::FromJson(core::Json::parse(r.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  ASSERT_EQ(back->profile.size(), 1u);
  EXPECT_EQ(back->profile[0].kernel_name, k.kernel_name);
  EXPECT_EQ(back->profile[0].shared_memory_bytes, 8192);
  const std::string feedback = FeedbackText(*back);
  EXPECT_NE(feedback.find("softmax_kernel"), std::string::npos) << feedback;
  EXPECT_NE(feedback.find("memory-bound"), std::string::npos) << feedback;
}

TEST(EvalResultJson, ResultsStoredWithoutAProfileStillLoad) {
  core::Json j = PassedResult().ToJson();
  j.erase("profile");
  auto back = EvalResult::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(back->profile.empty());
}

TEST(EvalResultJson, RoundTripsATunedConfigurationAndShowsItInFeedback) {
  EvalResult r = PassedResult();
  r.configuration = "BLOCK=256 VEC=4";
  r.tuning = "tuned over 3 configurations:\n  BLOCK=256 VEC=4  0.1 ms\n";
  auto back = EvalResult::FromJson(core::Json::parse(r.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->configuration, r.configuration);
  EXPECT_EQ(back->tuning, r.tuning);
  const std::string feedback = FeedbackText(*back);
  EXPECT_NE(feedback.find("configuration: BLOCK=256 VEC=4"), std::string::npos) << feedback;
  EXPECT_NE(feedback.find("tuned over 3 configurations"), std::string::npos) << feedback;
  core::Json old = PassedResult().ToJson();
  old.erase("configuration");
  old.erase("tuning");
  auto stored_before = EvalResult::FromJson(old);
  ASSERT_TRUE(stored_before.ok()) << stored_before.error().ToString();
  EXPECT_TRUE(stored_before->configuration.empty());
}

TEST(EvalResultJson, RoundTripsAMismatchWithNanAndInfinity) {
  EvalResult r = WrongValueResult();
  auto back = EvalResult::FromJson(core::Json::parse(r.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  ASSERT_TRUE(back->mismatch.has_value());
  EXPECT_TRUE(std::isnan(back->mismatch->actual));
  EXPECT_TRUE(std::isinf(back->mismatch->max_rel_error));
  ExpectSame(r, *back);
}

TEST(EvalResultJson, NamesTheMissingField) {
  struct Case {
    std::vector<std::string> path;
    std::string named;
  };
  for (const Case& c : std::vector<Case>{{{"status"}, "'status'"},
                                          {{"phases", "compile_ms"}, "'phases.compile_ms'"},
                                          {{"mismatch", "first_bad_coord"}, "'mismatch.first_bad_coord'"},
                                          {{"code_hash"}, "'code_hash'"}}) {
    core::Json j = WrongValueResult().ToJson();
    core::Json* parent = &j;
    for (std::size_t i = 0; i + 1 < c.path.size(); ++i) parent = &(*parent)[c.path[i]];
    parent->erase(c.path.back());
    auto back = EvalResult::FromJson(j);
    ASSERT_FALSE(back.ok()) << c.named;
    EXPECT_EQ(back.error().code, core::ErrorCode::kParse);
    EXPECT_TRUE(Contains(back.error().message, "missing field " + c.named)) << back.error().message;
  }
}

TEST(EvalResultJson, ReadsResultsStoredBeforeThroughputFieldsExisted) {
  core::Json j = PassedResult().ToJson();
  for (const char* key : {"achieved_gbps", "achieved_gflops", "bandwidth_fraction", "compute_fraction"}) {
    j["timings"][0].erase(key);
  }
  auto back = EvalResult::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->timings[0].achieved_gbps, 0);
  EXPECT_EQ(back->timings[0].compute_fraction, 0);
  EXPECT_EQ(back->timings[0].median_ms, 1.25);

  j["timings"][1]["achieved_gbps"] = "lots";
  back = EvalResult::FromJson(j);
  ASSERT_FALSE(back.ok());
  EXPECT_TRUE(Contains(back.error().message, "'timings[1].achieved_gbps' is a string")) << back.error().message;
}

TEST(EvalResultJson, NamesAFieldOfTheWrongType) {
  core::Json j = PassedResult().ToJson();
  j["timings"][1]["median_ms"] = "fast";
  auto back = EvalResult::FromJson(j);
  ASSERT_FALSE(back.ok());
  EXPECT_TRUE(Contains(back.error().message, "'timings[1].median_ms' is a string")) << back.error().message;

  core::Json k = WrongValueResult().ToJson();
  k["mismatch"]["first_bad_coord"][1] = 1.5;
  back = EvalResult::FromJson(k);
  ASSERT_FALSE(back.ok());
  EXPECT_TRUE(Contains(back.error().message, "'mismatch.first_bad_coord[1]'")) << back.error().message;
}

TEST(EvalResultJson, RejectsAnUnknownStatusAndANonObject) {
  core::Json j = PassedResult().ToJson();
  j["status"] = "great";
  auto back = EvalResult::FromJson(j);
  ASSERT_FALSE(back.ok());
  EXPECT_TRUE(Contains(back.error().message, "'great'")) << back.error().message;
  EXPECT_FALSE(EvalResult::FromJson(core::Json::array()).ok());
}

TEST(EvalResultJson, TreatsANullMismatchAsNone) {
  core::Json j = PassedResult().ToJson();
  ASSERT_TRUE(j["mismatch"].is_null());
  auto back = EvalResult::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_FALSE(back->mismatch.has_value());
}

// ---------------------------------------------------------------------------------------------

TEST(FeedbackText, KeepsTheFirstCompilerErrorsWithinTheBudget) {
  EvalResult r;
  r.status = Status::kCompileError;
  r.message = "g++ failed with exit status 1";
  r.log = CompilerLog(/*warnings=*/200, /*errors=*/30);
  ASSERT_GT(r.log.size(), 10000u);
  std::string text = FeedbackText(r, 1500);
  EXPECT_LE(text.size(), 1500u);
  EXPECT_TRUE(Contains(text, "status: compile_error")) << text;
  EXPECT_TRUE(Contains(text, "g++ failed")) << text;
  EXPECT_TRUE(Contains(text, "cand.cc:100:3: error: 'undeclared_0' was not declared")) << text;
  EXPECT_TRUE(Contains(text, "  100 |   undeclared_0(x);")) << text;  // its context
  EXPECT_FALSE(Contains(text, "undeclared_29")) << text;               // later errors give way
  EXPECT_FALSE(Contains(text, "tmp150")) << text;                      // so do warnings
  EXPECT_TRUE(Contains(text, " more lines]")) << text;
}

TEST(FeedbackText, KeepsAShortCompilerLogWhole) {
  EvalResult r;
  r.status = Status::kCompileError;
  r.log = CompilerLog(2, 1);
  std::string text = FeedbackText(r);
  EXPECT_TRUE(Contains(text, r.log)) << text;
  EXPECT_FALSE(Contains(text, "more lines]")) << text;
}

TEST(FeedbackText, ReportsTheMismatch) {
  std::string text = FeedbackText(WrongValueResult());
  for (const char* part : {"status: wrong_value", "y: 1024 of 4194304 elements differ", "shape rows=4096,cols=1024",
                           "trial 1", "flat index 1041", "coordinate [1, 17]", "expected 0.25, got nan",
                           "max abs error 0.75", "max rel error inf"}) {
    EXPECT_TRUE(Contains(text, part)) << "missing '" << part << "' in:\n" << text;
  }
}

TEST(FeedbackText, ShowsTheTailOfARuntimeErrorsStderr) {
  EvalResult r;
  r.status = Status::kRuntimeError;
  r.message = "killed by SIGSEGV (segmentation fault)";
  for (int i = 0; i < 500; ++i) r.log += "progress line " + std::to_string(i) + "\n";
  r.log += "AddressSanitizer: heap-buffer-overflow in row_softmax\n";
  std::string text = FeedbackText(r, 800);
  EXPECT_LE(text.size(), 800u);
  EXPECT_TRUE(Contains(text, "SIGSEGV")) << text;
  EXPECT_TRUE(Contains(text, "heap-buffer-overflow")) << text;
  EXPECT_FALSE(Contains(text, "progress line 0\n")) << text;
  EXPECT_TRUE(Contains(text, " earlier lines]")) << text;
}

TEST(FeedbackText, ShowsPerShapeTimingsAndTheGeomeanForPassed) {
  std::string text = FeedbackText(PassedResult());
  for (const char* part : {"status: passed", "speedup 3.46x (geomean over 2 shapes)", "rows=4096,cols=1024",
                           "rows=1000,cols=3001", "1.250", "5.000", "0.49", "4.00x", "3.00x", "2.1%", "% peak",
                           "41.2%"}) {
    EXPECT_TRUE(Contains(text, part)) << "missing '" << part << "' in:\n" << text;
  }
}

TEST(FeedbackText, LeavesOutThroughputColumnsUntilTheyAreMeasured) {
  EvalResult r = PassedResult();
  for (ShapeTiming& t : r.timings) t.achieved_gbps = t.achieved_gflops = t.bandwidth_fraction = t.compute_fraction = 0;
  std::string text = FeedbackText(r);
  EXPECT_FALSE(Contains(text, "% peak")) << text;
  EXPECT_TRUE(Contains(text, "4.00x")) << text;
}

TEST(FeedbackText, NeverExceedsTheBudgetAndNeverSplitsACharacter) {
  EvalResult compile;
  compile.status = Status::kCompileError;
  compile.message = "g++ failed: “smart quotes” in the message";
  compile.log = CompilerLog(50, 50);
  for (int i = 0; i < 40; ++i) compile.log += "cand.cc:1:1: error: ‘x’ — ünïcödé " + std::string(500, 'z') + "\n";
  EvalResult runtime = WrongValueResult();
  runtime.status = Status::kRuntimeError;
  runtime.log = std::string(3000, 'e') + "\n→ done\n";
  for (const EvalResult& r : {compile, runtime, WrongValueResult(), PassedResult()}) {
    for (std::size_t max_chars : {0, 1, 7, 40, 99, 100, 250, 701, 1000, 2500, 6000}) {
      std::string text = FeedbackText(r, max_chars);
      EXPECT_LE(text.size(), max_chars) << StatusName(r.status);
      EXPECT_TRUE(IsValidUtf8(text)) << StatusName(r.status) << " at " << max_chars;
    }
  }
}

// ---------------------------------------------------------------------------------------------

TEST(HumanVerdict, PassedShowsSpeedupTableAndPhaseTimes) {
  std::string text = HumanVerdict(PassedResult());
  EXPECT_EQ(text.rfind("PASSED  speedup 3.46x (geomean over 2 shapes)\n", 0), 0u) << text;
  EXPECT_TRUE(Contains(text, "rows=1000,cols=3001")) << text;
  EXPECT_TRUE(Contains(text, "reference ms")) << text;
  EXPECT_TRUE(Contains(text, "GB/s")) << text;
  EXPECT_TRUE(Contains(text, "26.8     41.2%      16.75       6.2%")) << text;
  EXPECT_TRUE(Contains(text, "static 0.4 ms | compile 812.5 ms (cached) | correctness 120.2 ms | "
                             "timing 900.5 ms | total 1833.8 ms"))
      << text;
}

TEST(HumanVerdict, WrongValueLeadsWithTheMismatch) {
  std::string text = HumanVerdict(WrongValueResult());
  EXPECT_EQ(text.rfind("WRONG_VALUE  y: 1024 of 4194304 elements differ\n", 0), 0u) << text;
  EXPECT_TRUE(Contains(text, "expected 0.25, got nan")) << text;
  EXPECT_TRUE(Contains(text, "output 'y' differs")) << text;
  EXPECT_TRUE(Contains(text, "total 10.000 ms")) << text;
}

TEST(HumanVerdict, CompileErrorShowsTheFirstErrors) {
  EvalResult r;
  r.status = Status::kCompileError;
  r.message = "g++ failed with exit status 1";
  r.log = CompilerLog(500, 100);
  std::string text = HumanVerdict(r);
  EXPECT_EQ(text.rfind("COMPILE_ERROR  g++ failed with exit status 1\n", 0), 0u) << text;
  EXPECT_TRUE(Contains(text, "'undeclared_0' was not declared")) << text;
  EXPECT_LT(text.size(), 6000u);
}

}  // namespace
}  // namespace kf::eval
