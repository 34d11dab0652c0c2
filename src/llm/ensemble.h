// llm/ensemble.h — several models in one run, and which of them serves the next request.
//
// An EnsembleSpec lists the models with their weights and optional per-model request settings;
// it comes from the command line (ParseModelList), from a YAML/JSON file (LoadEnsembleFile) or
// from a run's stored configuration (EnsembleSpec::FromJson). A ModelPicker then chooses a model
// per request: at random in proportion to the weights, or by a cost-aware UCB1 bandit that learns
// which model buys the most fitness improvement per dollar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "llm/llm_client.h"

namespace kf::llm {

/// How a ModelPicker chooses among the ensemble's models.
enum class Selection {
  kWeighted,  // "weighted": at random, in proportion to the weights (the default)
  kUcb,       // "ucb": cost-aware UCB1 on improvement per dollar; weights are not used
};

/// "weighted" or "ucb".
const char* SelectionName(Selection selection);
/// The inverse of SelectionName. Errors: kInvalidArgument naming the accepted values.
core::Expected<Selection> ParseSelection(std::string_view name);

/// One model of an ensemble. The optional settings override the run's defaults for its requests.
struct ModelSpec {
  /// "[provider:]model" as ConfigFromEnv takes it ("gpt-4.1-mini", "anthropic:claude-sonnet-4-5",
  /// "llama3:8b").
  std::string model;
  /// Relative share of requests under Selection::kWeighted; > 0 and finite.
  double weight = 1;
  std::optional<double> temperature;  // in [0, 2]
  std::optional<int> max_tokens;      // >= 1

  bool operator==(const ModelSpec&) const = default;
};

inline constexpr double kDefaultUcbExploration = 1.0;

/// A validated ensemble: at least one model, no model named twice (names compare as written, so
/// "gpt-4o" and "openai:gpt-4o" are two entries), weights > 0 and finite, ucb_exploration >= 0.
struct EnsembleSpec {
  std::vector<ModelSpec> models;
  Selection selection = Selection::kWeighted;
  /// The constant c of the UCB exploration term (see ModelPicker); ignored under kWeighted.
  double ucb_exploration = kDefaultUcbExploration;

  bool operator==(const EnsembleSpec&) const = default;

  /// The same shape as an ensemble file: {"models": [{"model", "weight", "temperature"?,
  /// "max_tokens"?}], "selection", "ucb_exploration"}.
  core::Json ToJson() const;
  /// Reads ToJson's output, validated like a file. Errors: kValidation listing every problem.
  static core::Expected<EnsembleSpec> FromJson(const core::Json& json);
};

/// Parses the command line's model list: comma-separated MODEL[@WEIGHT] items, e.g.
/// "gpt-4.1-mini@3,anthropic:claude-sonnet-4-5@1" or just "gpt-4.1-mini" (weight 1). The weight
/// is the text after the last '@', so colons inside model names ("llama3:8b", "openai:...") need
/// no escaping; a model whose name itself contains '@' (Vertex's "claude-3-5-sonnet-v2@20241022")
/// is written with an explicit weight: "claude-3-5-sonnet-v2@20241022@1". Spaces around items,
/// names and weights are ignored. Selection is kWeighted, exploration kDefaultUcbExploration.
/// Errors: kInvalidArgument listing every malformed item, with what to write instead.
core::Expected<EnsembleSpec> ParseModelList(std::string_view list);

/// Reads an ensemble file (YAML, or JSON, which YAML includes):
///
///   models:
///     - model: gpt-4.1-mini
///       weight: 3
///     - model: anthropic:claude-sonnet-4-5
///       temperature: 0.5     # optional per-model overrides
///       max_tokens: 8192
///     - llama3:8b            # a bare name is a model with weight 1
///   selection: ucb           # or weighted (the default)
///   ucb_exploration: 1.0     # optional, >= 0
///
/// Errors: kNotFound / kIo when the file cannot be read; kValidation listing every problem as
/// FILE:LINE:COLUMN with the offending entry and what to write instead.
core::Expected<EnsembleSpec> LoadEnsembleFile(const std::filesystem::path& path);

/// A sample's cost for ModelPicker::Record: the completion's cost when its model has a price;
/// otherwise (a local server, a model missing from the price table) its tokens at
/// kUnpricedPrice, so a model that costs nothing on the bill is still charged for what it
/// generates rather than looking infinitely cheap.
double BanditCostUsd(const Completion& completion);
/// Stand-in price for models without one: the cheapest hosted tier (gpt-4.1-nano's list price).
inline constexpr Price kUnpricedPrice{0.1, 0.4};
/// The least a recorded sample is taken to cost, so free samples never divide by zero.
inline constexpr double kMinSampleCostUsd = 1e-6;

/// What a ModelPicker knows about one model (arm).
struct ArmStats {
  std::int64_t samples = 0;      // outcomes recorded
  double total_improvement = 0;  // sum of recorded improvements (each clipped at 0)
  double total_cost_usd = 0;     // sum of recorded costs, as passed to Record
  std::int64_t pending = 0;      // picks whose outcome is not yet recorded or cancelled

  bool operator==(const ArmStats&) const = default;
};

/// Chooses the model (arm = index into EnsembleSpec::models) for each request.
///
/// kWeighted: arm i with probability weight_i / sum(weights).
///
/// kUcb (cost-aware UCB1). With, per arm i, s_i recorded samples, p_i pending picks,
/// R_i = total improvement, C_i = total cost:
///   n_i    = s_i + p_i,                     N = sum of n_i over all arms
///   rate_i = R_i / max(C_i, s_i * kMinSampleCostUsd)        improvement per dollar
///   v_i    = rate_i / max_j rate_j  over arms with s_j > 0  (0 when every such rate is 0;
///            1 for an arm with s_i = 0 but picks pending: optimistic until its first outcome)
///   score_i = v_i + c * sqrt(2 ln N / n_i),                 c = ucb_exploration
/// An arm with n_i = 0 is picked first (the lowest such index); otherwise the highest score wins,
/// ties going to the lowest index. Normalizing by the best rate puts v_i in [0, 1], the scale
/// UCB1's exploration term assumes, whatever the currency and fitness units. Counting pending
/// picks in n_i spreads requests issued together (before any outcome is known) across arms.
///
/// Every Pick adds one pending pick to its arm; Record or Cancel settles it.
/// Not thread-safe: the caller serializes all calls (one mutex around Pick, Record and Cancel).
class ModelPicker {
 public:
  /// `spec` must hold at least one model (every parser guarantees it).
  explicit ModelPicker(EnsembleSpec spec);

  /// The arm for the next request; adds a pending pick to it. kUcb draws nothing from rng.
  std::size_t Pick(std::mt19937_64& rng);
  /// A sample from `arm` is done: `improvement` is its fitness gain over its parent (0 for a
  /// failure or an unusable reply; negative values count as 0), `cost_usd` what it cost
  /// (BanditCostUsd). Settles one pending pick when there is one; without one (a sample drawn
  /// before a resume) the outcome still counts. improvement must be finite, cost_usd finite
  /// and >= 0.
  void Record(std::size_t arm, double improvement, double cost_usd);
  /// A pick of `arm` whose request never completed: removes its pending pick. Cancelling more
  /// than was picked is a programmer error.
  void Cancel(std::size_t arm);

  const EnsembleSpec& Spec() const { return spec_; }
  std::size_t ArmCount() const { return arms_.size(); }
  const ArmStats& Stats(std::size_t arm) const;
  /// rate_i above: recorded improvement per dollar; 0 before the arm's first outcome.
  double ImprovementPerUsd(std::size_t arm) const;

  /// {"ensemble": EnsembleSpec::ToJson(), "arms": [{"samples", "total_improvement",
  /// "total_cost_usd"}]}. Pending picks are left out: a request in flight when a run stopped
  /// never completes, so a restored picker starts with none pending and otherwise picks exactly
  /// as this one would.
  core::Json ToJson() const;
  /// Errors: kValidation naming the first malformed field.
  static core::Expected<ModelPicker> FromJson(const core::Json& json);

 private:
  std::size_t PickWeighted(std::mt19937_64& rng) const;
  std::size_t PickUcb() const;

  EnsembleSpec spec_;
  std::vector<ArmStats> arms_;
};

}  // namespace kf::llm
