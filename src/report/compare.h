// report/compare.h — runs side by side: what each strategy reached, and at what price.
//
// `kfoundry compare RUN_DIR...` reads each run's database and reports per run its strategy,
// models, LLM calls (kernel samples and prompt-engineer calls), cost, evaluations, best speedup,
// the archive's final coverage and QD score, and for each target speedup the LLM calls and cost
// spent until the first correct candidate at least that fast was written. Runs with the same
// budget are thereby comparable whatever strategy they used.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace kf::report {

/// What reaching one target speedup cost a run.
struct TargetReached {
  double speedup = 0;
  /// Unset when no correct candidate reached it.
  std::optional<int> llm_calls;  // every call up to and including the one that wrote it
  std::optional<double> cost_usd;
  std::optional<std::int64_t> candidate_id;
};

struct RunComparison {
  std::string run_dir;
  std::string task;
  std::string strategy;  // with " (no meta-prompts)" when map-elites ran without them
  std::string models;
  std::string state;
  int kernel_calls = 0;
  int engineer_calls = 0;
  double cost_usd = 0;
  int evaluations = 0;
  int passed = 0;
  double best_speedup = 0;
  double coverage = 0;  // of the last metrics row; 0 for a run without one
  double qd_score = 0;
  int cells = 0;        // distinct descriptor cells among evaluated candidates
  std::vector<TargetReached> targets;
};

/// Reads one run directory (its kfoundry.db). kNotFound when it holds no database; store
/// errors otherwise.
core::Expected<RunComparison> CompareRun(const std::filesystem::path& run_dir, const std::vector<double>& targets);

/// A fixed-width table, one row per run, targets as "calls / $cost" columns.
std::string ComparisonTable(const std::vector<RunComparison>& runs);
core::Json ComparisonJson(const std::vector<RunComparison>& runs);

}  // namespace kf::report
