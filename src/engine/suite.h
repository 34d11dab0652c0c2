// engine/suite.h — many tasks at once: one candidate per task, evaluated, and the numbers the
// field reports (KernelBench's fast_p).
//
// A suite is a folder holding task packages at any depth (an imported KernelBench level, or all
// levels). EvaluateSuite pairs every task with its candidate from a candidates folder, makes
// every evaluator (references run once, cached), prepares every candidate in parallel (static
// checks and compiles), then measures one at a time, as timings need the device alone.
// Metrics: correctness rate; fast_p = the fraction of all problems that are correct and faster
// than the baseline by more than p (p = 0 counts correct ones); geometric-mean speedups over the
// correct problems, vs the reference (torch: PyTorch eager) and vs torch.compile where it was
// measured; per group (the first folder under the suite, e.g. level1) and overall.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "eval/eval_result.h"
#include "eval/evaluator.h"

namespace kf::engine {

struct SuiteRow {
  std::string task;                 // task path relative to the suite, "level1/001_Square_matrix_multiplication_"
  std::string group;                // its first folder ("level1"), or "" for tasks directly in the suite
  std::string candidate;            // the candidate file, or "" when none was found
  std::optional<eval::EvalResult> result;  // absent: no candidate, or the task could not be evaluated
  std::string error;                // why there is no result
  bool Correct() const { return result && result->status == eval::Status::kPassed; }
};

struct SuiteMetrics {
  int problems = 0;
  int correct = 0;
  std::map<double, double> fast_p;      // p -> fraction of problems, for p in {0, 1, 1.5, 2}
  std::map<double, double> fast_p_compile;  // the same against torch.compile (problems with that baseline)
  double geomean_speedup = 0;           // over correct problems; 0 when none
  double geomean_speedup_vs_compile = 0;  // over correct problems with a compile baseline; 0 when none
  int with_compile_baseline = 0;
};

/// The thresholds KernelBench reports.
const std::vector<double>& FastPThresholds();

/// Metrics over rows (every row is a problem; a row without a result is not correct).
SuiteMetrics ComputeMetrics(const std::vector<SuiteRow>& rows);

/// Task folders under `suite_dir` (holding task.yaml), sorted; the suite itself when it is one.
std::vector<std::filesystem::path> FindSuiteTasks(const std::filesystem::path& suite_dir);

/// The row of task_dir (one of FindSuiteTasks(suite_dir)) with its task path and group set.
SuiteRow SuiteRowFor(const std::filesystem::path& suite_dir, const std::filesystem::path& task_dir);

/// The candidate for a task: CANDIDATES/<task path><ext>, CANDIDATES/<task path>/candidate<ext>,
/// then CANDIDATES/<task name><ext>, with ext .py (torch), .cu (cuda) or .cpp; "" when none.
std::filesystem::path FindCandidate(const std::filesystem::path& candidates_dir, const std::string& task_path,
                                    const std::string& task_name, std::string_view extension);

struct SuiteOptions {
  eval::EvaluatorOptions evaluator;  // shared by every task
  int compile_workers = 0;           // <= 0: one per hardware thread
  const std::atomic<bool>* cancel = nullptr;
};

/// Evaluates the suite. Rows come back in task order; problems with a task or evaluator error
/// are rows with `error` set, never a failure of the whole suite. kNotFound when the folder
/// holds no task.
core::Expected<std::vector<SuiteRow>> EvaluateSuite(const std::filesystem::path& suite_dir,
                                                    const std::filesystem::path& candidates_dir,
                                                    const SuiteOptions& options);

/// The report: one line per problem, then metrics per group and overall.
std::string SuiteTable(const std::vector<SuiteRow>& rows);
/// {"problems": [...], "groups": {"level1": {...}}, "overall": {...}}.
core::Json SuiteJson(const std::vector<SuiteRow>& rows);
/// One CSV line per problem with a header: task,group,status,speedup,speedup_vs_compile,median_ms,message.
std::string SuiteCsv(const std::vector<SuiteRow>& rows);

}  // namespace kf::engine
