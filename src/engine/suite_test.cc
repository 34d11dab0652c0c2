// Suites: fast_p and the geometric means from rows (unit), then a real suite of cpu tasks (the
// shipped gelu and row_softmax examples, copied into two groups) evaluated end to end with a
// correct, a wrong and a missing candidate.
#include "engine/suite.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/fs.h"

namespace kf::engine {
namespace {

namespace fs = std::filesystem;

SuiteRow Row(std::string task, std::string group, eval::Status status, double speedup, double vs_compile = 0) {
  SuiteRow row;
  row.task = std::move(task);
  row.group = std::move(group);
  row.candidate = "c.py";
  eval::EvalResult r;
  r.status = status;
  r.speedup = speedup;
  r.speedup_vs_compile = vs_compile;
  row.result = r;
  return row;
}

TEST(ComputeMetrics, FastPCountsCorrectProblemsFasterThanPOverAllProblems) {
  std::vector<SuiteRow> rows = {
      Row("a", "level1", eval::Status::kPassed, 0.5, 0.25),
      Row("b", "level1", eval::Status::kPassed, 1.2),
      Row("c", "level1", eval::Status::kPassed, 3.0, 1.5),
      Row("d", "level1", eval::Status::kWrongValue, 10.0),  // fast but wrong: counts for nothing
  };
  SuiteRow missing;
  missing.task = "e";
  missing.error = "no candidate";
  rows.push_back(missing);
  const SuiteMetrics m = ComputeMetrics(rows);
  EXPECT_EQ(m.problems, 5);
  EXPECT_EQ(m.correct, 3);
  EXPECT_DOUBLE_EQ(m.fast_p.at(0.0), 3.0 / 5);
  EXPECT_DOUBLE_EQ(m.fast_p.at(1.0), 2.0 / 5);
  EXPECT_DOUBLE_EQ(m.fast_p.at(1.5), 1.0 / 5);
  EXPECT_DOUBLE_EQ(m.fast_p.at(2.0), 1.0 / 5);
  EXPECT_NEAR(m.geomean_speedup, std::cbrt(0.5 * 1.2 * 3.0), 1e-12);
  EXPECT_EQ(m.with_compile_baseline, 2);
  EXPECT_NEAR(m.geomean_speedup_vs_compile, std::sqrt(0.25 * 1.5), 1e-12);
  EXPECT_DOUBLE_EQ(m.fast_p_compile.at(1.0), 1.0 / 5);
  EXPECT_EQ(ComputeMetrics({}).problems, 0);
  EXPECT_EQ(ComputeMetrics({}).geomean_speedup, 0);
}

TEST(SuiteReport, CsvAndJsonCarryEveryProblemAndTheMetricsPerGroup) {
  std::vector<SuiteRow> rows = {Row("level1/a", "level1", eval::Status::kPassed, 2.5),
                                Row("level2/b", "level2", eval::Status::kCompileError, 0)};
  rows[1].result->message = "candidate.py:3: error, \"quoted\"";
  const std::string csv = SuiteCsv(rows);
  EXPECT_EQ(csv, "task,group,status,speedup,speedup_vs_compile,median_ms,message\n"
                 "level1/a,level1,passed,2.5,,0,\n"
                 "level2/b,level2,compile_error,,,0,\"candidate.py:3: error, \"\"quoted\"\"\"\n");
  const core::Json j = SuiteJson(rows);
  EXPECT_EQ(j["problems"].size(), 2u);
  EXPECT_EQ(j["groups"]["level1"]["correct"], 1);
  EXPECT_EQ(j["groups"]["level2"]["correct"], 0);
  EXPECT_DOUBLE_EQ(j["overall"]["fast_p"]["1"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["overall"]["fast_p"]["1.5"].get<double>(), 0.5);
  const std::string table = SuiteTable(rows);
  EXPECT_NE(table.find("level1/a"), std::string::npos) << table;
  EXPECT_NE(table.find("fast_1.5"), std::string::npos) << table;
  EXPECT_NE(table.find("level2"), std::string::npos) << table;
}

void CopyTask(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

TEST(EvaluateSuite, PairsTasksWithCandidatesAndMeasuresEveryOne) {
  const fs::path root = *core::MakeUniqueDir(fs::path(::testing::TempDir()) / "kf_suite_test", "suite-");
  const fs::path examples = fs::path(KF_SOURCE_DIR) / "examples";
  CopyTask(examples / "gelu", root / "suite" / "group_a" / "gelu");
  CopyTask(examples / "row_softmax", root / "suite" / "group_a" / "row_softmax");
  CopyTask(examples / "gelu", root / "suite" / "group_b" / "gelu_again");
  fs::create_directories(root / "candidates" / "group_a");
  // gelu: the seed (correct); row_softmax: the seed with the sum doubled (wrong); gelu_again: none.
  fs::copy_file(examples / "gelu" / "seed.cpp", root / "candidates" / "group_a" / "gelu.cpp");
  std::string wrong = *core::ReadFile(examples / "row_softmax" / "seed.cpp");
  const std::size_t at = wrong.find("out[c] /= sum;");
  ASSERT_NE(at, std::string::npos) << "the row_softmax seed changed; pick another edit";
  wrong.replace(at, 14, "out[c] /= 2 * sum;");
  ASSERT_TRUE(core::WriteFileAtomic(root / "candidates" / "group_a" / "row_softmax" / "candidate.cpp", wrong).ok());

  SuiteOptions options;
  options.evaluator.cache_dir = fs::path(KF_BINARY_DIR) / "suite-test-cache";
  options.evaluator.work_dir = root / "work";
  options.compile_workers = 2;
  auto rows = EvaluateSuite(root / "suite", root / "candidates", options);
  ASSERT_TRUE(rows.ok()) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].task, "group_a/gelu");
  EXPECT_EQ((*rows)[0].group, "group_a");
  ASSERT_TRUE((*rows)[0].result) << (*rows)[0].error;
  EXPECT_EQ((*rows)[0].result->status, eval::Status::kPassed) << (*rows)[0].result->message;
  ASSERT_TRUE((*rows)[1].result) << (*rows)[1].error;
  EXPECT_EQ((*rows)[1].result->status, eval::Status::kWrongValue) << (*rows)[1].result->message;
  EXPECT_FALSE((*rows)[2].result);
  EXPECT_NE((*rows)[2].error.find("no candidate for group_b/gelu_again"), std::string::npos) << (*rows)[2].error;

  const SuiteMetrics m = ComputeMetrics(*rows);
  EXPECT_EQ(m.problems, 3);
  EXPECT_EQ(m.correct, 1);
  EXPECT_DOUBLE_EQ(m.fast_p.at(0.0), 1.0 / 3);
  EXPECT_NEAR(m.geomean_speedup, (*rows)[0].result->speedup, 1e-9);
  EXPECT_FALSE(EvaluateSuite(root / "candidates", root / "candidates", options).ok()) << "no task.yaml there";
}

}  // namespace
}  // namespace kf::engine
