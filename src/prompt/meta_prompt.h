// prompt/meta_prompt.h — the meta-prompt population: the prompt's instruction sections evolve
// alongside the kernels.
//
// A MetaPrompt is four text sections (optimization philosophy, strategies, common pitfalls,
// analysis guidance) shown as the guidance of the kernel prompt (RefineInput::instructions). The
// population picks one per kernel request (softmax over fitness with a usage penalty and a youth
// bonus, mixed with uniform picks), is credited with the fitness of the kernels each prompt
// produced, and every few samples asks an LLM acting as prompt engineer to rewrite one prompt with
// SEARCH/REPLACE edits against its sections document. It serializes to JSON for resume.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "prompt/prompt.h"
#include "task/task.h"

namespace kf::prompt {

enum class Section { kPhilosophy, kStrategies, kPitfalls, kAnalysis };
inline constexpr std::size_t kSectionCount = 4;
inline constexpr std::array<Section, kSectionCount> kSections = {Section::kPhilosophy, Section::kStrategies,
                                                                 Section::kPitfalls, Section::kAnalysis};
std::string_view SectionName(Section s);   // "philosophy", "strategies", "pitfalls", "analysis"
std::string_view SectionTitle(Section s);  // "Optimization philosophy", "Strategies", "Common pitfalls", ...

/// The longest section text the population accepts, in characters.
inline constexpr std::size_t kMaxSectionChars = 8000;

/// The instruction sections of a prompt. In a population every section is non-empty, at most
/// kMaxSectionChars long, trimmed, and holds no line that reads as a section header ("## ...").
struct MetaPrompt {
  std::array<std::string, kSectionCount> sections;  // indexed by Section

  std::string& operator[](Section s) { return sections[static_cast<std::size_t>(s)]; }
  const std::string& operator[](Section s) const { return sections[static_cast<std::size_t>(s)]; }
  bool operator==(const MetaPrompt&) const = default;
};

/// The sections document the prompt engineer edits: for each section in order a header line
/// "## <name>" then its text, sections separated by a blank line, ending with a newline.
std::string RenderSections(const MetaPrompt& prompt);

/// Parses a sections document. It must hold exactly the headers "## philosophy", "## strategies",
/// "## pitfalls", "## analysis", once each and in that order, with nothing but blank lines before
/// the first; a header is any line that starts with "## " once trimmed. Each section's text is
/// trimmed. Fails (kParse) with every problem found: missing, renamed, added, repeated or reordered
/// sections, text before the first header, an empty section, a section over kMaxSectionChars.
/// ParseSections(RenderSections(p)) == p for every prompt of a population.
core::Expected<MetaPrompt> ParseSections(std::string_view document);

/// The sections as a JSON object {"philosophy": text, ...}, as the population saves them.
core::Json SectionsToJson(const MetaPrompt& prompt);
/// Reads SectionsToJson's object; kParse naming the missing or mistyped section.
core::Expected<MetaPrompt> SectionsFromJson(const core::Json& json);

/// (title, text) per section in order, for RefineInput::instructions.
std::vector<std::pair<std::string, std::string>> InstructionSections(const MetaPrompt& prompt);

/// Hand-written starting prompts for a backend's language, at least one, all valid and distinct.
/// Torch seeds assume KernelBench form: ModelNew running CUDA kernels built with load_inline.
std::vector<MetaPrompt> SeedPrompts(task::Backend backend);

struct MetaPromptOptions {
  double temperature = 1.0;    // softmax temperature over scores; > 0
  double uniform_share = 0.2;  // chance that Select picks uniformly at random; in [0, 1]
  double usage_penalty = 0.3;  // score -= usage_penalty * log(1 + uses); >= 0
  double youth_bonus = 1.0;    // score += youth_bonus while the prompt is young; >= 0
  int youth_samples = 10;      // a prompt is young for this many samples after it was added; >= 0
  int evolve_every = 8;        // samples between prompt-engineer steps; 0 turns evolution off
  int max_size = 12;           // most prompts kept; >= 2 (the best and the newest are never dropped)

  bool operator==(const MetaPromptOptions&) const = default;
};

/// One kernel a prompt produced, as credited.
struct ChildRecord {
  std::int64_t candidate_id = 0;
  double fitness = 0;
  std::string status;  // the evaluation status: "passed", "compile_error", ...

  bool operator==(const ChildRecord&) const = default;
};

/// Kernels remembered per prompt (the highest candidate ids); older ones survive only in the counts.
inline constexpr std::size_t kMaxChildHistory = 50;
/// A prompt needs this many credited kernels before PickForEvolution prefers it (see there).
inline constexpr std::int64_t kMinChildrenToEvolve = 3;

/// A prompt of the population with its lineage and record.
struct MetaPromptEntry {
  std::int64_t id = 0;                     // assigned by the population, increasing from 1
  std::optional<std::int64_t> parent_id;   // unset for seeds
  std::int64_t seed_id = 0;                // the seed its lineage starts from; its own id for a seed
  MetaPrompt prompt;
  std::int64_t created_at_sample = 0;      // the population's sample counter when it was added
  std::int64_t uses = 0;                   // times Select picked it
  std::optional<double> fitness;           // best fitness credited; unset until the first credit
  std::vector<ChildRecord> history;        // the kMaxChildHistory newest credited kernels, by candidate id
  std::int64_t children = 0;               // kernels credited in all
  std::map<std::string, std::int64_t> status_counts;  // kernels credited per status

  bool operator==(const MetaPromptEntry&) const = default;
};

/// One kernel a prompt produced, summarized by the caller for the prompt engineer (the population
/// keeps only candidate ids, not code or feedback).
struct ChildOutcome {
  std::string status;             // "passed", "wrong_value", ...
  double fitness = 0;
  std::optional<double> speedup;  // over the baseline, when measured
  std::string feedback;           // shown on one line, cut when long
};

/// The meta-prompt population. Not thread-safe: the engine calls it from its loop only. Every
/// mutating call either succeeds or leaves the population unchanged.
///
/// Selection score of a prompt: f - usage_penalty * log(1 + uses) + (young ? youth_bonus : 0),
/// where f is its fitness, or for a prompt not yet credited the mean fitness of the credited
/// prompts (0 when there are none), and a prompt is young while fewer than youth_samples samples
/// were drawn since it was added.
///
/// Bound: when an edit makes the population exceed max_size, prompts are dropped one at a time,
/// lowest eviction score first (the selection score without the usage penalty, since usage is an
/// exploration device and not a quality signal; ties drop the older). Never dropped: the prompt
/// just added and the best prompt (highest fitness, ties to the lower id). Also kept while any
/// other prompt can go: the last surviving prompt of each seed's lineage, so every starting
/// strategy stays represented.
class MetaPromptPopulation {
 public:
  /// A population of the given seeds (ids 1, 2, ... in order, created at sample 0). Seed texts
  /// are trimmed per section. Fails (kInvalidArgument) for invalid options, no seeds, more seeds
  /// than max_size, a seed that ParseSections would reject, or two seeds equal up to whitespace.
  static core::Expected<MetaPromptPopulation> Create(std::vector<MetaPrompt> seeds,
                                                     MetaPromptOptions options = {});

  const MetaPromptOptions& options() const { return options_; }
  /// The prompts in id order; never empty.
  const std::vector<MetaPromptEntry>& prompts() const { return prompts_; }
  /// The prompt with that id, or nullptr when there is none (never added, or dropped). The
  /// pointer, like prompts(), is valid until the next call that changes the population.
  const MetaPromptEntry* Find(std::int64_t id) const;
  /// The prompt with the highest fitness (ties to the lower id); unset until a credit.
  std::optional<std::int64_t> BestId() const;
  /// Select calls so far.
  std::int64_t samples() const { return samples_; }

  /// The chance that the next Select picks each prompt, in prompts() order; sums to 1.
  std::vector<double> SelectionProbabilities() const;
  /// Picks the prompt for the next kernel request: with probability uniform_share uniformly,
  /// otherwise by softmax over selection scores at the configured temperature. Counts a use of the
  /// chosen prompt and a sample of the population. Returns its id.
  std::int64_t Select(std::mt19937_64& rng);

  /// Records that the prompt produced this candidate with this fitness and evaluation status, and
  /// raises the prompt's fitness to it when higher. Fails with kNotFound when the prompt is not in
  /// the population (it may have been dropped while its kernel was evaluated; the caller may ignore
  /// that) and with kInvalidArgument for a non-finite fitness.
  core::Expected<void> Credit(std::int64_t prompt_id, std::int64_t candidate_id, double fitness,
                              std::string_view status);

  /// True when evolution is on, at least evolve_every samples were drawn since the last
  /// PickForEvolution, and some prompt has a credited kernel to learn from.
  bool ShouldEvolve() const;
  /// Picks the prompt the engineer rewrites and starts the next evolve_every-sample period
  /// (whatever the edit's outcome, so a failing engineer cannot stall the search). Among prompts
  /// with at least kMinChildrenToEvolve credited kernels: softmax over fitness at the configured
  /// temperature; when there are none, the prompt with the most credited kernels (then the most
  /// used, then the lower id).
  std::int64_t PickForEvolution(std::mt19937_64& rng);

  /// The prompt-engineer request for one prompt: its sections document, its record, and the
  /// caller's summaries of the kernels it produced (the most recent last; only the last few are
  /// shown). The reply is meant for ApplyEdit. Deterministic. Fails (kNotFound) for an unknown id.
  core::Expected<Prompt> BuildEngineerPrompt(std::int64_t prompt_id, const task::Task& task,
                                             const std::vector<ChildOutcome>& outcomes) const;

  /// Applies the engineer's SEARCH/REPLACE blocks to the prompt's sections document and adds the
  /// result as a child (parent set, created now), dropping prompts beyond max_size (see the class
  /// comment). Returns the child's id. On failure the population is unchanged and the error says
  /// why: kNotFound for an unknown id; kParse for a reply without blocks, a malformed block, a
  /// SEARCH that does not match exactly once, or a result ParseSections rejects; kValidation when
  /// the result equals an existing prompt up to whitespace (duplicates are never added).
  core::Expected<std::int64_t> ApplyEdit(std::int64_t prompt_id, std::string_view reply);

  /// Everything, options and counters included: FromJson(ToJson()) gives an equal population, and
  /// the same draws from the same generator state. A `lean` document leaves out what a caller can
  /// keep elsewhere and hand back to FromJson as KeptRecords: the prompts' texts (they never change
  /// once a prompt exists) and their credits (fitness, history and counts follow from the credited
  /// kernels). The engine's store keeps both in its tables, so its snapshots stay small and do not
  /// grow with the run.
  core::Json ToJson(bool lean = false) const;
  /// What a lean ToJson leaves out, supplied by the caller.
  struct KeptRecords {
    std::map<std::int64_t, MetaPrompt> texts;                  // sections by prompt id
    std::map<std::int64_t, std::vector<ChildRecord>> credits;  // every credited kernel by prompt id, any order
  };
  /// Reads what ToJson wrote. A prompt written lean takes its sections and credits from `kept`
  /// (by id; a prompt without credits there has none). Fails (kParse) naming the first missing or
  /// mistyped field or the prompt whose sections are missing, or (kInvalidArgument) an
  /// inconsistent population: invalid options or sections, no prompts, ids not increasing or not
  /// below next_id, a non-finite credited fitness.
  static core::Expected<MetaPromptPopulation> FromJson(const core::Json& json, const KeptRecords& kept = {});

 private:
  MetaPromptPopulation() = default;

  /// The fitness assumed for prompts not yet credited: the mean of the credited ones, else 0.
  double PriorFitness() const;
  /// Fitness (or the prior) plus the youth bonus while young: the eviction score.
  double BaseScore(const MetaPromptEntry& entry, double prior) const;
  /// BaseScore minus the usage penalty, per prompt in prompts() order.
  std::vector<double> SelectionScores() const;
  void DropBeyondBound(std::int64_t newest_id);
  /// Adds one credited kernel to the entry's record (see Credit); kInvalidArgument, and the
  /// entry unchanged, for a non-finite fitness.
  static core::Expected<void> AddCredit(MetaPromptEntry& entry, ChildRecord child);

  MetaPromptOptions options_;
  std::vector<MetaPromptEntry> prompts_;
  std::int64_t next_id_ = 1;
  std::int64_t samples_ = 0;
  std::int64_t last_evolution_sample_ = 0;
};

}  // namespace kf::prompt
