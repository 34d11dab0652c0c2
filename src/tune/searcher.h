// tune/searcher.h — which configuration to time next (KTT's searcher extension point).
//
// A searcher walks a list of valid configurations (tune/space.h) and learns from their costs
// (lower is better: the geometric mean of the medians over the shapes, in ms); it never sees
// code. The tuner may ask for several points before reporting any (compiles run in parallel),
// so a searcher never proposes a point twice and does not wait for reports.
//
//   exhaustive  every point, in order                           small spaces
//   random      a uniform permutation                           a baseline
//   model       random-forest surrogate on log(cost) over the parameters' log2 values, with
//               an expected-improvement pick among unevaluated points after a random start
//   bandit      UCB1 over {random, model, local (neighbours of the best)}, rewarded by the
//               improvement each arm's points bring: the default for large spaces
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tune/space.h"

namespace kf::tune {

enum class SearcherKind { kExhaustive, kRandom, kModel, kBandit };

/// "exhaustive", "random", "model", "bandit"; kInvalidArgument listing the names otherwise.
core::Expected<SearcherKind> ParseSearcherKind(std::string_view name);
std::string_view SearcherName(SearcherKind kind);
/// Exhaustive when the space has at most kExhaustiveUpTo points and the budget (in
/// evaluations) covers all of them; bandit otherwise: walking a space in order with a budget
/// smaller than it would only ever see its first corner.
inline constexpr std::size_t kExhaustiveUpTo = 64;
SearcherKind DefaultSearcher(std::size_t points, std::size_t budget);

class Searcher {
 public:
  virtual ~Searcher() = default;
  /// The index into `points` to evaluate next; nullopt once every point has been proposed.
  virtual std::optional<std::size_t> Next() = 0;
  /// The cost of a point Next returned (finite, > 0), or nullopt when it failed (did not
  /// compile, gave wrong values, timed out). Reports may come in any order.
  virtual void Report(std::size_t point, std::optional<double> cost) = 0;
};

/// `points` must outlive the searcher and be non-empty; every Config has the same length.
/// Deterministic for a given seed and sequence of reports.
std::unique_ptr<Searcher> MakeSearcher(SearcherKind kind, const std::vector<Config>& points, std::uint64_t seed);

/// When the tuner stops; unset fields do not limit. The space running out always stops it.
struct StopCondition {
  std::optional<int> max_evaluations;  // configurations timed (cached ones included)
  std::optional<double> max_seconds;   // wall time of the tune
  std::optional<double> max_fraction;  // of the valid space, in (0, 1]
};

}  // namespace kf::tune
