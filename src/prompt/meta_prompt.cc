// The meta-prompt population. Sections travel as one Markdown-like document ("## name" headers)
// so that the prompt engineer's SEARCH/REPLACE edits go through the same diff machinery as kernel
// edits, and a result is accepted only when it parses back into the same four sections. Random
// draws use the generator's raw bits rather than std distributions, whose results differ between
// standard libraries, so a resumed run draws the same prompts on any toolchain.

#include "prompt/meta_prompt.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "prompt/text.h"

namespace kf::prompt {
namespace {

/// Most child outcomes shown to the prompt engineer, and the length of each one's feedback line.
constexpr std::size_t kMaxOutcomesShown = 30;
constexpr std::size_t kMaxFeedbackChars = 240;
/// Version of the JSON layout written by ToJson.
constexpr int kJsonVersion = 1;

core::Error Invalid(std::string message) {
  return core::MakeError(core::ErrorCode::kInvalidArgument, std::move(message));
}

/// A double in [0, 1) from the top 53 bits of one draw.
double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::size_t UniformIndex(std::size_t n, std::mt19937_64& rng) {
  return std::min(n - 1, static_cast<std::size_t>(Uniform01(rng) * static_cast<double>(n)));
}

/// exp((score - max) / temperature), normalized; subtracting the max keeps exp finite.
std::vector<double> Softmax(const std::vector<double>& scores, double temperature) {
  const double top = *std::max_element(scores.begin(), scores.end());
  std::vector<double> weights;
  double total = 0;
  for (double s : scores) total += weights.emplace_back(std::exp((s - top) / temperature));
  for (double& w : weights) w /= total;
  return weights;
}

std::size_t Draw(const std::vector<double>& probabilities, std::mt19937_64& rng) {
  double u = Uniform01(rng);
  for (std::size_t i = 0; i + 1 < probabilities.size(); ++i) {
    if (u < probabilities[i]) return i;
    u -= probabilities[i];
  }
  return probabilities.size() - 1;
}

/// The header's name when the trimmed line is a section header ("## name"), else nothing.
std::optional<std::string_view> HeaderName(std::string_view line) {
  line = Trim(line);
  if (line != "##" && !line.starts_with("## ")) return std::nullopt;
  return Trim(line.substr(2));
}

std::string ExpectedHeaders() {
  std::string out;
  for (Section s : kSections) out += fmt::format("{}'## {}'", out.empty() ? "" : ", ", SectionName(s));
  return out;
}

core::Expected<void> CheckOptions(const MetaPromptOptions& o) {
  std::vector<std::string> problems;
  if (!(o.temperature > 0) || !std::isfinite(o.temperature)) problems.push_back("temperature must be > 0");
  if (!(o.uniform_share >= 0 && o.uniform_share <= 1)) problems.push_back("uniform_share must be in [0, 1]");
  if (!(o.usage_penalty >= 0) || !std::isfinite(o.usage_penalty)) problems.push_back("usage_penalty must be >= 0");
  if (!(o.youth_bonus >= 0) || !std::isfinite(o.youth_bonus)) problems.push_back("youth_bonus must be >= 0");
  if (o.youth_samples < 0) problems.push_back("youth_samples must be >= 0");
  if (o.evolve_every < 0) problems.push_back("evolve_every must be >= 0 (0 turns evolution off)");
  if (o.max_size < 2) problems.push_back("max_size must be >= 2");
  if (problems.empty()) return core::Ok();
  return Invalid(fmt::format("invalid meta-prompt options: {}", fmt::join(problems, "; ")));
}

/// The form in which two prompts count as the same.
std::string Normalized(const MetaPrompt& prompt) { return CollapseWhitespace(RenderSections(prompt)); }

std::string OutcomeLine(const ChildOutcome& outcome) {
  std::string line = fmt::format("- {}, fitness {:.3f}", outcome.status.empty() ? "unknown" : outcome.status,
                                 outcome.fitness);
  if (outcome.speedup) line += fmt::format(", speedup {:.2f}x", *outcome.speedup);
  std::string feedback = CollapseWhitespace(outcome.feedback);
  if (feedback.size() > kMaxFeedbackChars) {
    std::size_t cut = kMaxFeedbackChars;
    while (cut > 0 && (static_cast<unsigned char>(feedback[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 char
    feedback = feedback.substr(0, cut) + " ...";
  }
  if (!feedback.empty()) line += ": " + feedback;
  return line + "\n";
}

std::string RecordText(const MetaPromptEntry& entry) {
  if (entry.children == 0) return "No kernel written with these sections has been evaluated yet.\n";
  std::vector<std::string> counts;
  for (const auto& [status, count] : entry.status_counts) counts.push_back(fmt::format("{} {}", count, status));
  return fmt::format("{} kernel{} evaluated ({}); best fitness {:.3f}.\n", entry.children,
                     entry.children == 1 ? "" : "s", fmt::join(counts, ", "), entry.fitness.value_or(0));
}

constexpr std::string_view kEngineerSystem =
    "You are a prompt engineer for an automated kernel-optimization system. For every request, a model is given "
    "a task, a kernel and its evaluation, plus a guidance text made of four sections, and writes a faster "
    "kernel; each kernel is compiled, checked for correctness on every test shape and timed. Fitness is 0-5 for "
    "how far a kernel got (5 = correct) plus its speedup over the baseline, so correct and fast is what counts.\n"
    "You improve the guidance so that the kernels written with it are more often correct and faster:\n"
    "- philosophy: how to approach optimizing this kind of kernel.\n"
    "- strategies: concrete techniques worth trying, most promising first.\n"
    "- pitfalls: mistakes that make kernels fail or slow, and how to avoid them.\n"
    "- analysis: how to read an evaluation and decide what to change next.\n"
    "Keep every section a short list of concrete, actionable bullet lines. Advice may be specific to this "
    "task and its backend, but never to its test shapes or data, and it must never suggest calling the "
    "reference, caching results between calls or reading clocks.\n";

}  // namespace

std::string_view SectionName(Section s) {
  switch (s) {
    case Section::kPhilosophy: return "philosophy";
    case Section::kStrategies: return "strategies";
    case Section::kPitfalls: return "pitfalls";
    case Section::kAnalysis: return "analysis";
  }
  return "unknown";
}

std::string_view SectionTitle(Section s) {
  switch (s) {
    case Section::kPhilosophy: return "Optimization philosophy";
    case Section::kStrategies: return "Strategies";
    case Section::kPitfalls: return "Common pitfalls";
    case Section::kAnalysis: return "Analysis guidance";
  }
  return "unknown";
}

std::string RenderSections(const MetaPrompt& prompt) {
  std::string out;
  for (Section s : kSections) {
    out += fmt::format("{}## {}\n{}\n", out.empty() ? "" : "\n", SectionName(s), prompt[s]);
  }
  return out;
}

core::Expected<MetaPrompt> ParseSections(std::string_view document) {
  const std::string text = NormalizeNewlines(document);
  struct Found {
    std::string name;
    std::vector<std::string_view> lines;
  };
  std::vector<Found> found;
  std::vector<std::string> problems;
  for (std::string_view line : SplitLines(text)) {
    if (std::optional<std::string_view> name = HeaderName(line)) {
      found.push_back(Found{std::string(*name), {}});
    } else if (!found.empty()) {
      found.back().lines.push_back(line);
    } else if (!Trim(line).empty() && problems.empty()) {
      problems.push_back(fmt::format("text before the first section header: {:?}", Trim(line)));
    }
  }
  const bool structure_ok =
      found.size() == kSectionCount && std::equal(found.begin(), found.end(), kSections.begin(),
                                                  [](const Found& f, Section s) { return f.name == SectionName(s); });
  if (!structure_ok) {
    std::string have;
    for (const Found& f : found) have += fmt::format("{}'## {}'", have.empty() ? "" : ", ", f.name);
    problems.push_back(fmt::format("the sections must be exactly {}, once each and in that order, but the "
                                   "document has {}; do not add, remove, rename or reorder '## ' header lines, "
                                   "and start no other line with '## '",
                                   ExpectedHeaders(), have.empty() ? std::string("none") : have));
  }
  MetaPrompt prompt;
  if (structure_ok) {
    for (std::size_t i = 0; i < kSectionCount; ++i) {
      std::string body(Trim(JoinLines(found[i].lines)));
      if (body.empty()) {
        problems.push_back(fmt::format("section '{}' is empty", found[i].name));
      } else if (body.size() > kMaxSectionChars) {
        problems.push_back(fmt::format("section '{}' has {} characters, more than the limit of {}; keep it short",
                                       found[i].name, body.size(), kMaxSectionChars));
      }
      prompt.sections[i] = std::move(body);
    }
  }
  if (!problems.empty()) {
    return core::MakeError(core::ErrorCode::kParse,
                           fmt::format("broken sections document: {}", fmt::join(problems, "; ")));
  }
  return prompt;
}

std::vector<std::pair<std::string, std::string>> InstructionSections(const MetaPrompt& prompt) {
  std::vector<std::pair<std::string, std::string>> out;
  for (Section s : kSections) out.emplace_back(std::string(SectionTitle(s)), prompt[s]);
  return out;
}

// ---- the population ----------------------------------------------------------------------------

core::Expected<MetaPromptPopulation> MetaPromptPopulation::Create(std::vector<MetaPrompt> seeds,
                                                                  MetaPromptOptions options) {
  KF_TRY_VOID(CheckOptions(options));
  if (seeds.empty()) return Invalid("a meta-prompt population needs at least one seed prompt");
  if (seeds.size() > static_cast<std::size_t>(options.max_size)) {
    return Invalid(fmt::format("{} seed prompts but max_size is {}; raise max_size or pass fewer seeds",
                               seeds.size(), options.max_size));
  }
  MetaPromptPopulation population;
  population.options_ = options;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    core::Expected<MetaPrompt> seed = ParseSections(RenderSections(seeds[i]));
    if (!seed.ok()) return Invalid(fmt::format("seed prompt {}: {}", i + 1, seed.error().message));
    for (const MetaPromptEntry& other : population.prompts_) {
      if (Normalized(other.prompt) == Normalized(*seed)) {
        return Invalid(fmt::format("seed prompt {} equals seed prompt {} up to whitespace", i + 1, other.id));
      }
    }
    MetaPromptEntry entry;
    entry.id = population.next_id_++;
    entry.seed_id = entry.id;
    entry.prompt = std::move(seed).value();
    population.prompts_.push_back(std::move(entry));
  }
  return population;
}

const MetaPromptEntry* MetaPromptPopulation::Find(std::int64_t id) const {
  auto it = std::find_if(prompts_.begin(), prompts_.end(), [id](const MetaPromptEntry& e) { return e.id == id; });
  return it == prompts_.end() ? nullptr : &*it;
}

std::optional<std::int64_t> MetaPromptPopulation::BestId() const {
  std::optional<std::int64_t> best;
  double best_fitness = 0;
  for (const MetaPromptEntry& e : prompts_) {
    if (e.fitness && (!best || *e.fitness > best_fitness)) {
      best = e.id;
      best_fitness = *e.fitness;
    }
  }
  return best;
}

double MetaPromptPopulation::PriorFitness() const {
  double sum = 0;
  int credited = 0;
  for (const MetaPromptEntry& e : prompts_) {
    if (e.fitness) {
      sum += *e.fitness;
      ++credited;
    }
  }
  return credited == 0 ? 0.0 : sum / credited;
}

double MetaPromptPopulation::BaseScore(const MetaPromptEntry& entry, double prior) const {
  const bool young = samples_ - entry.created_at_sample < options_.youth_samples;
  return entry.fitness.value_or(prior) + (young ? options_.youth_bonus : 0.0);
}

std::vector<double> MetaPromptPopulation::SelectionScores() const {
  const double prior = PriorFitness();
  std::vector<double> scores;
  for (const MetaPromptEntry& e : prompts_) {
    scores.push_back(BaseScore(e, prior) - options_.usage_penalty * std::log1p(static_cast<double>(e.uses)));
  }
  return scores;
}

std::vector<double> MetaPromptPopulation::SelectionProbabilities() const {
  std::vector<double> probabilities = Softmax(SelectionScores(), options_.temperature);
  const double uniform = 1.0 / static_cast<double>(prompts_.size());
  for (double& p : probabilities) p = options_.uniform_share * uniform + (1 - options_.uniform_share) * p;
  return probabilities;
}

std::int64_t MetaPromptPopulation::Select(std::mt19937_64& rng) {
  // Two draws rather than one over the mixed probabilities, so that uniform_share reads as "how
  // often the choice ignores the scores".
  const std::size_t index = Uniform01(rng) < options_.uniform_share
                                ? UniformIndex(prompts_.size(), rng)
                                : Draw(Softmax(SelectionScores(), options_.temperature), rng);
  ++prompts_[index].uses;
  ++samples_;
  return prompts_[index].id;
}

core::Expected<void> MetaPromptPopulation::Credit(std::int64_t prompt_id, std::int64_t candidate_id, double fitness,
                                                  std::string_view status) {
  const MetaPromptEntry* found = Find(prompt_id);
  if (found == nullptr) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           fmt::format("meta-prompt {} is not in the population (dropped after it was selected?); "
                                       "candidate {} is not credited to it",
                                       prompt_id, candidate_id));
  }
  return AddCredit(prompts_[static_cast<std::size_t>(found - prompts_.data())],
                   ChildRecord{candidate_id, fitness, std::string(status)});
}

core::Expected<void> MetaPromptPopulation::AddCredit(MetaPromptEntry& entry, ChildRecord child) {
  if (!std::isfinite(child.fitness)) {
    return Invalid(fmt::format("candidate {} has fitness {}; only finite fitness can be credited",
                               child.candidate_id, child.fitness));
  }
  // Kept in candidate id order whatever order the verdicts arrive in, so the record is a function
  // of the set of credits alone and can be rebuilt from the store.
  ++entry.children;
  ++entry.status_counts[child.status];
  entry.fitness = std::max(child.fitness, entry.fitness.value_or(child.fitness));
  auto at = std::upper_bound(entry.history.begin(), entry.history.end(), child.candidate_id,
                             [](std::int64_t id, const ChildRecord& c) { return id < c.candidate_id; });
  entry.history.insert(at, std::move(child));
  if (entry.history.size() > kMaxChildHistory) entry.history.erase(entry.history.begin());
  return core::Ok();
}

bool MetaPromptPopulation::ShouldEvolve() const {
  if (options_.evolve_every == 0 || samples_ - last_evolution_sample_ < options_.evolve_every) return false;
  return std::any_of(prompts_.begin(), prompts_.end(), [](const MetaPromptEntry& e) { return e.children > 0; });
}

std::int64_t MetaPromptPopulation::PickForEvolution(std::mt19937_64& rng) {
  last_evolution_sample_ = samples_;
  std::vector<const MetaPromptEntry*> eligible;
  std::vector<double> fitness;
  for (const MetaPromptEntry& e : prompts_) {
    if (e.children >= kMinChildrenToEvolve) {
      eligible.push_back(&e);
      fitness.push_back(*e.fitness);
    }
  }
  if (!eligible.empty()) return eligible[Draw(Softmax(fitness, options_.temperature), rng)]->id;
  // The strictest "more evidence" order wins; max_element keeps the first of equals, the lower id.
  return std::max_element(prompts_.begin(), prompts_.end(),
                          [](const MetaPromptEntry& a, const MetaPromptEntry& b) {
                            return std::pair(a.children, a.uses) < std::pair(b.children, b.uses);
                          })
      ->id;
}

core::Expected<Prompt> MetaPromptPopulation::BuildEngineerPrompt(std::int64_t prompt_id, const task::Task& task,
                                                                 const std::vector<ChildOutcome>& outcomes) const {
  const MetaPromptEntry* entry = Find(prompt_id);
  if (entry == nullptr) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           fmt::format("meta-prompt {} is not in the population (dropped?)", prompt_id));
  }
  const std::string document = RenderSections(entry->prompt);
  const std::string fence = FenceFor(document);
  Prompt prompt;
  prompt.system = std::string(kEngineerSystem);
  prompt.user = fmt::format("# Task: {} (backend: {})\n", task.name, task::BackendName(task.backend));
  if (!Trim(task.description).empty()) prompt.user += fmt::format("{}\n", Trim(task.description));
  prompt.user += fmt::format("\n## Current guidance (the sections document)\n{}markdown\n{}{}\n", fence, document,
                             fence);
  prompt.user += "\n## Record of this guidance\n" + RecordText(*entry);
  if (!outcomes.empty()) {
    const std::size_t shown = std::min(outcomes.size(), kMaxOutcomesShown);
    prompt.user += fmt::format("\n## Kernels written with it (the {} most recent, oldest first)\n", shown);
    for (std::size_t i = outcomes.size() - shown; i < outcomes.size(); ++i) prompt.user += OutcomeLine(outcomes[i]);
  }
  prompt.user += fmt::format(
      "\n## What to do\n"
      "Look for patterns: failures the guidance could have prevented (add or sharpen a pitfall), techniques "
      "that worked (promote them), advice that misled or was ignored (fix or remove it). Make one to four "
      "focused edits; keep what works.\n"
      "\n## Reply format\n"
      "Explain your reasoning in at most three sentences, then give SEARCH/REPLACE blocks against the sections "
      "document:\n"
      "<<<<<<< SEARCH\n"
      "exact lines from the document\n"
      "=======\n"
      "replacement lines\n"
      ">>>>>>> REPLACE\n"
      "Each SEARCH part must copy whole lines of the document exactly and match exactly once; blocks apply in "
      "order. Keep the header lines {} exactly as they are, in that order, add no other line starting with "
      "'## ', leave no section empty and keep each under {} characters. Do not send the whole document.\n",
      ExpectedHeaders(), kMaxSectionChars);
  return prompt;
}

core::Expected<std::int64_t> MetaPromptPopulation::ApplyEdit(std::int64_t prompt_id, std::string_view reply) {
  const MetaPromptEntry* parent = Find(prompt_id);
  if (parent == nullptr) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           fmt::format("meta-prompt {} is not in the population (dropped?); its edit is discarded",
                                       prompt_id));
  }
  auto rejected = [prompt_id](const core::Error& error) {
    return core::MakeError(error.code,
                           fmt::format("edit of meta-prompt {} rejected: {}", prompt_id, error.message));
  };
  core::Expected<std::string> edited =
      ApplySearchReplace(reply, RenderSections(parent->prompt), "the sections document");
  if (!edited.ok()) return rejected(edited.error());
  core::Expected<MetaPrompt> child = ParseSections(*edited);
  if (!child.ok()) return rejected(child.error());
  const std::string normalized = Normalized(*child);
  for (const MetaPromptEntry& e : prompts_) {
    if (Normalized(e.prompt) == normalized) {
      return rejected(core::MakeError(
          core::ErrorCode::kValidation,
          fmt::format("the result equals meta-prompt {} up to whitespace; duplicates are not added", e.id)));
    }
  }
  MetaPromptEntry entry;
  entry.id = next_id_++;
  entry.parent_id = parent->id;
  entry.seed_id = parent->seed_id;
  entry.prompt = std::move(child).value();
  entry.created_at_sample = samples_;
  const std::int64_t id = entry.id;
  prompts_.push_back(std::move(entry));
  DropBeyondBound(id);
  return id;
}

void MetaPromptPopulation::DropBeyondBound(std::int64_t newest_id) {
  while (prompts_.size() > static_cast<std::size_t>(options_.max_size)) {
    const std::optional<std::int64_t> best = BestId();
    const double prior = PriorFitness();
    auto last_of_lineage = [&](const MetaPromptEntry& e) {
      return std::count_if(prompts_.begin(), prompts_.end(),
                           [&](const MetaPromptEntry& o) { return o.seed_id == e.seed_id; }) == 1;
    };
    // Lineage protection yields when nothing else can go; the best and the newest never go, and
    // max_size >= 2 guarantees something else exists.
    for (const bool protect_lineages : {true, false}) {
      auto victim = prompts_.end();
      for (auto it = prompts_.begin(); it != prompts_.end(); ++it) {
        if (it->id == newest_id || it->id == best || (protect_lineages && last_of_lineage(*it))) continue;
        // Strictly lower only: among equals the first in id order, the older, goes.
        if (victim == prompts_.end() || BaseScore(*it, prior) < BaseScore(*victim, prior)) victim = it;
      }
      if (victim != prompts_.end()) {
        prompts_.erase(victim);
        break;
      }
    }
  }
}

core::Json SectionsToJson(const MetaPrompt& prompt) {
  core::Json sections = core::Json::object();
  for (Section s : kSections) sections[std::string(SectionName(s))] = prompt[s];
  return sections;
}

core::Expected<MetaPrompt> SectionsFromJson(const core::Json& json) {
  MetaPrompt prompt;
  for (Section s : kSections) {
    const std::string name(SectionName(s));
    if (!json.is_object() || !json.contains(name) || !json[name].is_string()) {
      return core::MakeError(core::ErrorCode::kParse, fmt::format("meta-prompt sections: '{}' is missing or not text", name));
    }
    prompt[s] = json[name].get<std::string>();
  }
  return prompt;
}

core::Json MetaPromptPopulation::ToJson(bool lean) const {
  core::Json prompts = core::Json::array();
  for (const MetaPromptEntry& e : prompts_) {
    core::Json p{
        {"id", e.id},
        {"parent_id", e.parent_id ? core::Json(*e.parent_id) : core::Json(nullptr)},
        {"seed_id", e.seed_id},
        {"sections", lean ? core::Json(nullptr) : SectionsToJson(e.prompt)},
        {"created_at_sample", e.created_at_sample},
        {"uses", e.uses},
        {"history", nullptr},
    };
    if (!lean) {
      core::Json history = core::Json::array();
      for (const ChildRecord& c : e.history) {
        history.push_back(core::Json{{"candidate_id", c.candidate_id}, {"fitness", c.fitness}, {"status", c.status}});
      }
      p["history"] = std::move(history);
      p["fitness"] = e.fitness ? core::Json(*e.fitness) : core::Json(nullptr);
      p["children"] = e.children;
      p["status_counts"] = e.status_counts;
    }
    prompts.push_back(std::move(p));
  }
  const MetaPromptOptions& o = options_;
  return core::Json{
      {"version", kJsonVersion},
      {"options",
       {{"temperature", o.temperature},
        {"uniform_share", o.uniform_share},
        {"usage_penalty", o.usage_penalty},
        {"youth_bonus", o.youth_bonus},
        {"youth_samples", o.youth_samples},
        {"evolve_every", o.evolve_every},
        {"max_size", o.max_size}}},
      {"next_id", next_id_},
      {"samples", samples_},
      {"last_evolution_sample", last_evolution_sample_},
      {"prompts", std::move(prompts)},
  };
}

core::Expected<MetaPromptPopulation> MetaPromptPopulation::FromJson(const core::Json& json, const KeptRecords& kept) {
  MetaPromptPopulation population;
  // nlohmann reports a missing or mistyped field by throwing; this is the boundary where that
  // becomes an Error naming the field.
  try {
    if (const int version = json.at("version").get<int>(); version != kJsonVersion) {
      return core::MakeError(core::ErrorCode::kParse,
                             fmt::format("meta-prompt population JSON has version {}, this build reads version {}",
                                         version, kJsonVersion));
    }
    const core::Json& o = json.at("options");
    MetaPromptOptions& options = population.options_;
    options.temperature = o.at("temperature").get<double>();
    options.uniform_share = o.at("uniform_share").get<double>();
    options.usage_penalty = o.at("usage_penalty").get<double>();
    options.youth_bonus = o.at("youth_bonus").get<double>();
    options.youth_samples = o.at("youth_samples").get<int>();
    options.evolve_every = o.at("evolve_every").get<int>();
    options.max_size = o.at("max_size").get<int>();
    population.next_id_ = json.at("next_id").get<std::int64_t>();
    population.samples_ = json.at("samples").get<std::int64_t>();
    population.last_evolution_sample_ = json.at("last_evolution_sample").get<std::int64_t>();
    for (const core::Json& p : json.at("prompts")) {
      MetaPromptEntry e;
      e.id = p.at("id").get<std::int64_t>();
      if (!p.at("parent_id").is_null()) e.parent_id = p.at("parent_id").get<std::int64_t>();
      e.seed_id = p.at("seed_id").get<std::int64_t>();
      if (p.at("sections").is_null()) {
        auto text = kept.texts.find(e.id);
        if (text == kept.texts.end()) {
          return core::MakeError(core::ErrorCode::kParse,
                                 fmt::format("meta-prompt {} was saved without its sections and none were given", e.id));
        }
        e.prompt = text->second;
      } else {
        auto sections = SectionsFromJson(p.at("sections"));
        if (!sections.ok()) {
          return core::MakeError(core::ErrorCode::kParse, fmt::format("meta-prompt {}: {}", e.id, sections.error().message));
        }
        e.prompt = std::move(*sections);
      }
      e.created_at_sample = p.at("created_at_sample").get<std::int64_t>();
      e.uses = p.at("uses").get<std::int64_t>();
      if (p.at("history").is_null()) {
        if (auto credits = kept.credits.find(e.id); credits != kept.credits.end()) {
          for (const ChildRecord& c : credits->second) {
            if (auto added = AddCredit(e, c); !added.ok()) {
              return Invalid(fmt::format("meta-prompt {}: {}", e.id, added.error().message));
            }
          }
        }
      } else {
        if (!p.at("fitness").is_null()) e.fitness = p.at("fitness").get<double>();
        for (const core::Json& c : p.at("history")) {
          e.history.push_back(ChildRecord{c.at("candidate_id").get<std::int64_t>(), c.at("fitness").get<double>(),
                                          c.at("status").get<std::string>()});
        }
        e.children = p.at("children").get<std::int64_t>();
        e.status_counts = p.at("status_counts").get<std::map<std::string, std::int64_t>>();
      }
      population.prompts_.push_back(std::move(e));
    }
  } catch (const core::Json::exception& error) {
    return core::MakeError(core::ErrorCode::kParse,
                           fmt::format("meta-prompt population JSON is not what MetaPromptPopulation::ToJson "
                                       "writes: {}",
                                       error.what()));
  }

  KF_TRY_VOID(CheckOptions(population.options_));
  std::vector<std::string> problems;
  const std::vector<MetaPromptEntry>& prompts = population.prompts_;
  if (prompts.empty()) problems.push_back("it has no prompts");
  if (prompts.size() > static_cast<std::size_t>(population.options_.max_size)) {
    problems.push_back(
        fmt::format("it has {} prompts, more than max_size {}", prompts.size(), population.options_.max_size));
  }
  if (population.last_evolution_sample_ < 0 || population.last_evolution_sample_ > population.samples_) {
    problems.push_back("last_evolution_sample is not in [0, samples]");
  }
  std::int64_t previous_id = 0;
  for (const MetaPromptEntry& e : prompts) {
    auto add = [&](std::string_view what) { problems.push_back(fmt::format("meta-prompt {}: {}", e.id, what)); };
    if (e.id <= previous_id || e.id >= population.next_id_) add("ids must increase from 1 and stay below next_id");
    previous_id = e.id;
    if (e.seed_id < 1 || e.seed_id > e.id) add("seed_id must be in [1, id]");
    if (e.parent_id && (*e.parent_id < 1 || *e.parent_id >= e.id)) add("parent_id must be in [1, id)");
    if (e.created_at_sample < 0 || e.created_at_sample > population.samples_) {
      add("created_at_sample is not in [0, samples]");
    }
    if (e.uses < 0) add("uses is negative");
    if (e.history.size() > kMaxChildHistory || static_cast<std::int64_t>(e.history.size()) > e.children) {
      add(fmt::format("history holds {} kernels; at most {} and at most children ({})", e.history.size(),
                      kMaxChildHistory, e.children));
    }
    if (!std::is_sorted(e.history.begin(), e.history.end(),
                        [](const ChildRecord& a, const ChildRecord& b) { return a.candidate_id < b.candidate_id; })) {
      add("history must be in candidate id order");
    }
    if (e.fitness.has_value() != (e.children > 0)) add("fitness must be set exactly when children > 0");
    if (core::Expected<MetaPrompt> parsed = ParseSections(RenderSections(e.prompt)); !parsed.ok()) {
      add(parsed.error().message);
    } else if (*parsed != e.prompt) {
      add("section texts must be trimmed");
    }
  }
  if (!problems.empty()) {
    return Invalid(fmt::format("inconsistent meta-prompt population: {}", fmt::join(problems, "; ")));
  }
  return population;
}

}  // namespace kf::prompt
