// eval/profile.h — stage 6 (optional): what Nsight Compute and the sanitizers say about a
// passing candidate.
//
// The profiler (cuda only) runs the candidate's runner under `ncu` for a single correctness call
// and keeps a small fixed metric set per kernel launch. The sanitizer passes run the same single
// call under the backend's checking tool (cuda: `compute-sanitizer` memcheck, then racecheck;
// opencl: `oclgrind`, a simulated device that checks memory accesses, races and API calls), and
// any finding fails the candidate with its report. This file builds the command lines and parses
// the tools' output; the evaluator runs them sandboxed.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "task/task.h"

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

/// One sanitizer pass over the runner's single correctness call.
enum class SanitizerTool {
  kMemcheck,   // compute-sanitizer --tool memcheck: out-of-bounds and misaligned accesses
  kRacecheck,  // compute-sanitizer --tool racecheck: shared-memory hazards
  kOclgrind,   // oclgrind --data-races --check-api: out-of-bounds accesses, races, API errors
};

/// The passes --sanitize runs for `backend`, in order; empty for backends without a tool.
std::vector<SanitizerTool> SanitizerToolsFor(task::Backend backend);

/// How verdicts and logs name the pass: "compute-sanitizer memcheck", "oclgrind".
std::string_view SanitizerToolName(SanitizerTool tool);

/// The program that runs the pass: "compute-sanitizer" or "oclgrind".
std::string_view SanitizerExecutable(SanitizerTool tool);

/// `executable`'s arguments for `tool` around the runner (`runner_argv` is appended).
std::vector<std::string> SanitizerCommand(const std::string& executable, SanitizerTool tool,
                                          const std::vector<std::string>& runner_argv);

/// Variables the runner needs under `tool`, overriding the toolchain's runner environment.
/// oclgrind preloads its own OpenCL runtime, so the runner sees one platform, "Oclgrind": the
/// device selector names it whatever KF_OPENCL_DEVICE says for normal runs.
std::vector<std::pair<std::string, std::string>> SanitizerEnv(SanitizerTool tool);

struct SanitizerReport {
  int errors = 0;      // findings; -1 when the tool's output shows it did not finish
  std::string report;  // the findings, trimmed, for the verdict
};

/// Reads a pass's combined stdout and stderr; the runner's and the kernel's own lines are left
/// out of the report.
/// - compute-sanitizer: its lines start with "========="; errors come from "ERROR SUMMARY: N
///   errors" (racecheck: "RACECHECK SUMMARY: ... (N errors"); no summary (the tool crashed or was
///   killed) is errors = -1.
/// - oclgrind: each finding is a block after a blank line, a headline ("Read-write data race at
///   local memory address 0x...", "Invalid read of size 4 at global memory address 0x...",
///   "Oclgrind - OpenCL runtime error detected") followed by tab-indented lines. errors counts the
///   blocks; the report keeps one block per kind (headline and source lines) without the LLVM IR
///   lines, with how many more there were. oclgrind prints no summary and exits with the
///   program's status, so errors is never -1: whether the run finished is the runner's to say.
SanitizerReport ParseSanitizerOutput(SanitizerTool tool, std::string_view text);

}  // namespace kf::eval
