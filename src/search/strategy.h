// search/strategy.h — how the next sample's parent is chosen, per search strategy.
//
// A strategy sees every evaluated candidate (Record) and plans each sample (Plan): which
// candidate to improve, which others to show for ideas, what to tell the model about the
// search so far. The engine does everything else (prompts, LLM calls, evaluation, storage), so
// the strategies differ only here and share budgets, models and records:
//   map-elites  the archive of search/archive.h: islands, a parent mix, inspirations, and the
//               directions that helped (default; meta-prompts on unless turned off)
//   refine      iterative repair and improvement of the best candidate so far
//   best-of-n   independent samples from the first seed (or from the task alone), no feedback
//               between them
// Not thread-safe: the engine's loop thread owns it. Serialize/RestoreStrategy restore it exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "search/archive.h"

namespace kf::search {

/// An evaluated candidate as a strategy sees it.
struct Evaluated {
  std::int64_t candidate_id = 0;
  std::optional<std::int64_t> parent_id;  // none for seeds
  std::vector<int> cell;                  // descriptor levels, one per archive axis
  double fitness = 0;
  bool passed = false;
  std::optional<int> island;  // as planned for its sample; none for seeds (they go everywhere)
  bool seed = false;          // one of the task's seeds
};

struct SamplePlan {
  std::optional<std::int64_t> parent_id;  // none: write a first version from the task alone
  std::vector<std::int64_t> inspiration_ids;
  std::optional<int> island;
  std::string notes;  // about the search, for the prompt; may be empty
  std::string how;    // why this parent, for the log ("exploit", "best", "seed")
  /// Whether the prompt shows the parent's earlier children (best-of-n samples are independent).
  bool show_history = true;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string_view Name() const = 0;
  /// Plans one sample. Draws from `rng` only when the strategy is stochastic.
  virtual SamplePlan Plan(std::mt19937_64& rng) = 0;
  /// `parent`: the candidate's parent as it was recorded, when it has one.
  virtual void Record(const Evaluated& candidate, const std::optional<Evaluated>& parent) = 0;
  /// True when a sample's prompt should wait for the previous sample's verdict (refine): the
  /// engine then keeps at most `concurrency` samples between request and verdict.
  virtual bool WaitsForVerdicts() const = 0;
  /// The archive behind the strategy, for metrics (map-elites only).
  virtual const Archive* MaybeArchive() const { return nullptr; }
  /// The whole state as JSON text (saved with every evaluation).
  virtual std::string Serialize() const = 0;
};

/// Names accepted by MakeStrategy, for help texts and errors.
inline constexpr std::string_view kStrategyNames = "map-elites, refine, best-of-n";

/// kInvalidArgument for an unknown name (listing the known ones) or invalid archive options
/// (map-elites).
core::Expected<std::unique_ptr<Strategy>> MakeStrategy(std::string_view name, const ArchiveOptions& archive);
/// Restores a strategy from its Serialize() text, parsed; kParse when the JSON is not one.
core::Expected<std::unique_ptr<Strategy>> RestoreStrategy(const core::Json& j);

}  // namespace kf::search
