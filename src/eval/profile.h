// eval/profile.h — stage 6 (optional, cuda): what Nsight Compute and compute-sanitizer say
// about a passing candidate.
//
// The profiler runs the candidate's runner under `ncu` for a single correctness call and keeps a
// small fixed metric set per kernel launch; the sanitizer runs it under `compute-sanitizer`
// (memcheck, racecheck), and any finding fails the candidate with its report. This file builds
// the command lines and parses the tools' output; the evaluator runs them sandboxed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace kf::eval {

/// One kernel launch as Nsight Compute measured it.
struct KernelProfile {
  std::string kernel_name;
  double duration_us = 0;
  double dram_throughput_pct = 0;     // of peak sustained
  double compute_throughput_pct = 0;  // SM throughput, of peak sustained
  double achieved_occupancy_pct = 0;
  int registers_per_thread = 0;
  int shared_memory_bytes = 0;        // static + dynamic, per block
  std::string block_size, grid_size;  // as ncu prints them, "(256, 1, 1)"

  core::Json ToJson() const;
  static core::Expected<KernelProfile> FromJson(const core::Json& j);
};

/// The metric names requested from ncu, in a fixed order.
const std::vector<std::string>& NcuMetricNames();

/// `ncu` arguments that profile every kernel the runner launches, printing one CSV row per
/// launch (--page raw). `runner_argv` is the runner's own command line.
std::vector<std::string> NcuCommand(const std::string& ncu, const std::vector<std::string>& runner_argv);

/// Parses `ncu --csv --page raw` output: a header row naming the columns, a units row, then one
/// row per launch. Lines before the header (the runner's own output, ncu's "==PROF==" notes)
/// are skipped. kParse when no header or no metric column is found.
core::Expected<std::vector<KernelProfile>> ParseNcuCsv(std::string_view text);

/// One line per kernel for the next prompt: where the time goes and what bounds it.
std::string ProfileFeedback(const std::vector<KernelProfile>& kernels, std::size_t max_kernels = 4);

enum class SanitizerTool { kMemcheck, kRacecheck };
std::string_view SanitizerToolName(SanitizerTool tool);

/// `compute-sanitizer` arguments for `tool` around the runner.
std::vector<std::string> SanitizerCommand(const std::string& sanitizer, SanitizerTool tool,
                                          const std::vector<std::string>& runner_argv);

struct SanitizerReport {
  int errors = 0;      // from "ERROR SUMMARY: N errors"; -1 when the summary is missing
  std::string report;  // the "=========" lines, trimmed, for the verdict
};

/// Reads compute-sanitizer's output (its lines start with "========="). A missing summary (the
/// tool crashed or was killed) is errors = -1.
SanitizerReport ParseSanitizerOutput(std::string_view text);

}  // namespace kf::eval
