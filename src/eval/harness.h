// eval/harness.h — the parent side of the runner protocol (src/eval/runner/runner_main.cc).
//
// The runner is a generated host program: generic code plus a shim that declares the entry's
// prototype and calls it from an array of buffer pointers and scalar values. The parent lays
// out one shared data file per (shape, trial), tells the runner what to do through a plan
// file, and reads back only progress/timing records from the private result channel.
// Internal to the eval module.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "task/task.h"

namespace kf::eval {

/// Bumped whenever the runner or the layout changes; part of every cache key.
inline constexpr std::string_view kHarnessVersion = "kf-runner-6";
/// Bytes of guard pattern right after every output buffer (kKfCanaryBytes in runner_main.cc).
inline constexpr std::uint64_t kCanaryBytes = 256;
/// The descriptor number of the result channel inside the child.
inline constexpr int kResultChannelFd = 97;

/// The runner's source for `function_name` (the candidate's entry, or entry+"_reference"): the
/// generic main, the device fragment of task.backend (cpu, cuda or opencl) and the call shim.
std::string RunnerSource(const task::Task& task, std::string_view function_name);

/// Where each buffer of one shape lives inside its data file. Every buffer starts 4096-aligned;
/// output buffers (and their after-timing copies) are followed by kCanaryBytes of guard.
struct ShapeLayout {
  std::vector<std::vector<std::int64_t>> dims;  // per arg; empty for scalars
  std::vector<std::int64_t> elements;           // per arg; 0 for scalars
  std::vector<std::uint64_t> bytes;             // per arg; 0 for scalars
  std::vector<std::int64_t> offset;             // per arg; -1 for scalars
  std::vector<std::int64_t> after_offset;       // per output arg; -1 otherwise
  std::vector<double> scalars;                  // per arg; 0 for arrays
  std::uint64_t file_bytes = 0;                 // with the after-timing region
  std::uint64_t buffer_bytes = 0;               // sum of the array sizes
};

/// Fails (kValidation) when a dimension does not evaluate for this shape.
core::Expected<ShapeLayout> MakeShapeLayout(const task::Task& task, const task::Shape& shape);

/// What one runner invocation does.
struct RunPlan {
  struct Correct { int shape = 0, trial = 0; };
  struct Timing { int shape = 0; bool write_after = false; };
  std::vector<Correct> correct;
  std::vector<Timing> timing;
};

/// The plan file's text.
std::string PlanText(const task::Task& task, const std::vector<ShapeLayout>& layouts, const RunPlan& plan);

/// Name of the data file of (shape, trial) inside the data directory.
std::string DataFileName(int shape, int trial);

/// What the runner reported through its channel.
struct RunnerReport {
  bool completed = false;           // a well-formed completion marker with the right nonce
  std::string protocol_error;       // non-empty when the channel held something malformed
  std::string where;                // "correctness trial 2/3 of shape n=1000", "" before any
  std::map<int, std::vector<double>> trial_ms;  // timed trials per shape
  double kernel_ms = 0;             // correctness + warm-up + timed calls
  double flush_ms = 0;
  double correctness_ms = 0, timing_ms = 0;  // the runner's own phase wall times
};

RunnerReport ParseRunnerReport(const task::Task& task, std::string_view channel, std::string_view nonce);

/// Median, min and coefficient of variation of a non-empty sample.
struct SampleStats {
  double median = 0, min = 0, cv = 0;
};
SampleStats Summarize(std::vector<double> sample_ms);

}  // namespace kf::eval
