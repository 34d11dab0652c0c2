// engine/tune_kernel.h — tuning one parameterized kernel on this machine's device.
//
// The configurations a candidate declares (tune/space.h) are checked against the device's
// limits before anything compiles, then searched (tune/tuner.h) with every configuration
// evaluated through the task's own evaluation cascade: static checks, a compile on the
// executor's pool, correctness on fresh inputs, timing. Shapes whose constraints allow
// different configurations are tuned apart, each with an evaluator of its own.
//
// Outcomes are cached under cache_dir/tune/, keyed by the instantiated source, the task's
// content hash, the shapes and the device, so no configuration is timed twice, across runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/ceilings.h"
#include "eval/evaluator.h"
#include "task/task.h"
#include "tune/space.h"
#include "tune/tuner.h"

namespace kf::exec {
class Executor;
}

namespace kf::engine {

/// The device tuning runs on: its identity (keys the cache and names the dispatch table) and
/// launch limits. A cpu has none and costs nothing; for a GPU this measures the device's
/// ceilings on first use (seconds), cached afterwards; without them the limits are unknown
/// and not checked (a warning says so).
struct TuneDevice {
  std::string id, name;
  tune::Environment limits;  // limits only
};
TuneDevice DescribeTuneDevice(const task::Task& task, const std::filesystem::path& cache_dir);
/// A device as measured elsewhere (a remote worker's advertised ceilings).
TuneDevice TuneDeviceFrom(const eval::DeviceCeilings& ceilings);

struct TuneKernelOptions {
  /// nullopt: tune::DefaultSearcher for the size of the space.
  std::optional<tune::SearcherKind> searcher;
  tune::StopCondition stop;
  std::uint64_t seed = 1;
  int compile_workers = 0;  // <= 0: one per hardware thread
  bool use_cache = true;
  /// cache_dir (tuning cache, compile cache, ceilings) and the rest of the evaluator's options.
  eval::EvaluatorOptions eval;
};

/// The configurations of the shapes that share one valid space.
struct TuneGroup {
  std::vector<std::size_t> shapes;         // indices into task.shapes
  std::vector<tune::Config> points;        // the valid configurations for those shapes
  tune::SearchTrace trace;                 // the searcher's trials (the default's trial apart)
  std::optional<tune::Outcome> default_outcome;  // the default configuration, when it is valid
};

struct TuneReport {
  tune::ParamSpace space;
  std::string searcher;        // the searcher's name
  std::vector<TuneGroup> groups;
  tune::DispatchTable table;   // one entry per shape that has a passing configuration
  int timed = 0;               // configurations evaluated now
  int cached = 0;              // configurations read back from the cache
  double seconds = 0;
  /// The best configuration over every shape of the first group with a passing one, and the
  /// source instantiated with it; empty when nothing passed.
  std::optional<tune::Config> best;
  std::string best_source;
};

/// kValidation for a malformed declaration (file:line), kInvalidArgument when the source
/// declares nothing or no configuration is allowed on this device (naming why the default is
/// not), kToolchain/kValidation from building evaluators. Failing configurations are data.
core::Expected<TuneReport> TuneKernel(const task::Task& task, const std::string& source, const std::string& file_label,
                                      const TuneKernelOptions& options);

/// Why `config` is not allowed on some shape of the task under `limits` ("n=1001: n % VEC == 0
/// (line 3) is false"), or nullopt when every shape allows it.
std::optional<std::string> ViolationOnSomeShape(const task::Task& task, const tune::ParamSpace& space,
                                                const tune::Environment& limits, const tune::Config& config);
/// The configurations every shape allows under `limits` (the loop's verdicts cover all shapes at
/// once); kInvalidArgument when the space is too large to list.
core::Expected<std::vector<tune::Config>> PointsOnEveryShape(const task::Task& task, const tune::ParamSpace& space,
                                                             const tune::Environment& limits);

struct TuneCandidateOptions {
  int budget = 16;  // configurations tried besides the default
  std::uint64_t seed = 1;
  std::filesystem::path cache_dir;
  const std::atomic<bool>* cancel = nullptr;
  int in_flight = 2;
  /// The options the executor's evaluator was built with, for the cache key (seed, timeout,
  /// profile, sanitize).
  eval::EvaluatorOptions eval;
};

/// Tunes a candidate the search produced, on the run's executor, every shape at once (the loop's
/// verdicts cover all shapes), among the configurations every shape allows: the default first,
/// then the default searcher within `budget`. Returns the best configuration's verdict with
/// `configuration` and `tuning` (the configurations tried and their medians) set, or, when none
/// passed, the default's (else the first tried) failing verdict with `tuning` saying what the
/// others did. A declaration error or an empty space is a static_rejected verdict. Blocking:
/// call it off the loop's thread.
eval::EvalResult TuneCandidate(const task::Task& task, const std::string& source, exec::Executor& executor,
                               const TuneDevice& device, const TuneCandidateOptions& options);

}  // namespace kf::engine
