// tune/tuner.h — the search over a valid space, and what it leaves: a dispatch table.
//
// RunSearch asks a searcher for configurations, hands them to a TrialRunner (the evaluator
// side, owned by the caller: the engine's tune_kernel runs them through the evaluation
// cascade, correctness included) and reports the outcomes back, keeping `in_flight` trials
// started so compiles overlap. It never times anything itself and knows nothing of code.
//
// A dispatch table holds the best configuration per shape on one device, and exports as a C++
// header whose dispatch function picks the configuration for a shape (the nearest tuned shape,
// in log2 of each scalar, for one that was not tuned).
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "tune/searcher.h"
#include "tune/space.h"

namespace kf::tune {

/// What one configuration did.
struct Outcome {
  bool passed = false;
  std::string status;             // the evaluation status ("passed", "compile_error", ...)
  std::string message;            // one line for failures
  std::vector<double> shape_ms;   // median per shape, in the task's shape order (passed only)
  double cost_ms = 0;             // geometric mean of shape_ms (passed only)
  bool cached = false;            // read back from the tuning cache, not timed now

  core::Json ToJson() const;
  static core::Expected<Outcome> FromJson(const core::Json& j);
};

class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  /// Starts `config` (point `point` of the space) and returns at once.
  virtual void Start(std::size_t point, const Config& config) = 0;
  /// Blocks until a started trial finishes; every started point comes back exactly once.
  virtual std::pair<std::size_t, Outcome> Next() = 0;
};

struct SearchOptions {
  SearcherKind searcher = SearcherKind::kBandit;
  StopCondition stop;
  std::uint64_t seed = 1;
  int in_flight = 4;  // trials started and not yet finished
  /// When set and true, no further trial is started ("cancelled").
  const std::atomic<bool>* cancel = nullptr;
};

struct SearchTrace {
  std::vector<std::pair<std::size_t, Outcome>> trials;  // in the order they finished
  std::optional<std::size_t> best;                      // index into trials: lowest cost_ms
  std::string stop_reason;  // "space exhausted", "evaluation budget", "time budget", "fraction of the space", "cancelled"
  double seconds = 0;
};

/// `points` non-empty. Stops on the first condition met; trials already started are finished.
SearchTrace RunSearch(const std::vector<Config>& points, TrialRunner& runner, const SearchOptions& options);

struct DispatchEntry {
  std::string shape_label;                 // "m=256,n=256,k=256"
  std::map<std::string, double> scalars;   // the shape's scalars
  Config config;
  double median_ms = 0;
  double default_ms = 0;                   // the default configuration's, 0 when not measured
};

struct DispatchTable {
  std::string entry;                       // the task's entry function
  std::string device_id, device_name;
  std::vector<std::string> param_names;
  std::vector<std::string> scalar_names;   // in the task's argument order
  std::vector<DispatchEntry> entries;      // one per tuned shape

  core::Json ToJson() const;
  static core::Expected<DispatchTable> FromJson(const core::Json& j);
};

/// A self-contained C++17 header: `namespace kf_tuned_<entry> { struct Config; Config
/// Dispatch(<scalars>); }`, the table as data, the device named in a comment.
std::string DispatchHeader(const DispatchTable& table);

/// The table as aligned text for a terminal: one row per shape, its configuration, its median
/// and the default configuration's.
std::string DispatchText(const DispatchTable& table);

}  // namespace kf::tune
