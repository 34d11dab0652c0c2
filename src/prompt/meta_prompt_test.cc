#include "prompt/meta_prompt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace kf::prompt {
namespace {

/// A small prompt whose every line names its tag, so texts stay distinct and easy to edit.
MetaPrompt Tagged(const std::string& tag) {
  MetaPrompt p;
  p[Section::kPhilosophy] = "- philosophy of " + tag + "\n- correctness first";
  p[Section::kStrategies] = "- strategy of " + tag;
  p[Section::kPitfalls] = "- pitfall of " + tag;
  p[Section::kAnalysis] = "- analysis of " + tag;
  return p;
}

MetaPromptPopulation Population(std::vector<MetaPrompt> seeds, MetaPromptOptions options = {}) {
  core::Expected<MetaPromptPopulation> population = MetaPromptPopulation::Create(std::move(seeds), options);
  EXPECT_TRUE(population.ok()) << population.error().ToString();
  return std::move(population).value();
}

/// An engineer reply with one SEARCH/REPLACE block and some prose around it.
std::string Edit(const std::string& search, const std::string& replace) {
  return "Sharpen the guidance.\n<<<<<<< SEARCH\n" + search + "\n=======\n" + replace + "\n>>>>>>> REPLACE\nDone.\n";
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

/// How often each prompt id comes out of `draws` selections.
std::map<std::int64_t, double> Frequencies(MetaPromptPopulation& population, std::mt19937_64& rng, int draws) {
  std::map<std::int64_t, double> counts;
  for (int i = 0; i < draws; ++i) counts[population.Select(rng)] += 1.0 / draws;
  return counts;
}

task::Task SoftmaxTask() {
  task::Task t;
  t.name = "row_softmax";
  t.description = "Softmax over each row.";
  t.backend = task::Backend::kCuda;
  return t;
}

// ---- sections ----------------------------------------------------------------------------------

TEST(ParseSections, RoundTripsRenderedDocument) {
  const MetaPrompt p = Tagged("a");
  const std::string document = RenderSections(p);
  EXPECT_EQ(document,
            "## philosophy\n- philosophy of a\n- correctness first\n\n## strategies\n- strategy of a\n\n"
            "## pitfalls\n- pitfall of a\n\n## analysis\n- analysis of a\n");
  core::Expected<MetaPrompt> parsed = ParseSections(document);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, p);
}

TEST(ParseSections, TrimsSectionsAndAcceptsCrlf) {
  core::Expected<MetaPrompt> parsed =
      ParseSections("\r\n## philosophy\r\n\r\n  a  \r\n## strategies\r\nb\r\n## pitfalls\r\nc\r\n## analysis\r\nd");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ((*parsed)[Section::kPhilosophy], "a");
  EXPECT_EQ((*parsed)[Section::kAnalysis], "d");
}

TEST(ParseSections, RejectsReorderedSectionsAndTextBeforeTheFirstHeader) {
  core::Expected<MetaPrompt> reordered =
      ParseSections("## strategies\nb\n## philosophy\na\n## pitfalls\nc\n## analysis\nd\n");
  ASSERT_FALSE(reordered.ok());
  EXPECT_EQ(reordered.error().code, core::ErrorCode::kParse);
  EXPECT_TRUE(Contains(reordered.error().message, "'## strategies', '## philosophy', '## pitfalls'"))
      << reordered.error().message;
  core::Expected<MetaPrompt> preamble = ParseSections("Here you go:\n" + RenderSections(Tagged("a")));
  ASSERT_FALSE(preamble.ok());
  EXPECT_TRUE(Contains(preamble.error().message, "text before the first section header: \"Here you go:\""))
      << preamble.error().message;
}

TEST(InstructionSections, GivesReadableTitlesInOrder) {
  const auto sections = InstructionSections(Tagged("a"));
  ASSERT_EQ(sections.size(), kSectionCount);
  EXPECT_EQ(sections[0], std::make_pair(std::string("Optimization philosophy"), Tagged("a")[Section::kPhilosophy]));
  EXPECT_EQ(sections[1].first, "Strategies");
  EXPECT_EQ(sections[2].first, "Common pitfalls");
  EXPECT_EQ(sections[3].first, "Analysis guidance");
}

TEST(SeedPrompts, ExistForEveryBackendWithAllSectionsInTheirLanguage) {
  const std::map<task::Backend, std::string> vocabulary = {{task::Backend::kCuda, "__syncthreads"},
                                                           {task::Backend::kSycl, "group_barrier"},
                                                           {task::Backend::kOpenCl, "CLK_LOCAL_MEM_FENCE"},
                                                           {task::Backend::kCpu, "#pragma omp"},
                                                           {task::Backend::kTorch, "load_inline"}};
  for (const auto& [backend, word] : vocabulary) {
    SCOPED_TRACE(std::string(task::BackendName(backend)));
    const std::vector<MetaPrompt> seeds = SeedPrompts(backend);
    ASSERT_FALSE(seeds.empty());
    for (const MetaPrompt& seed : seeds) {
      for (Section s : kSections) EXPECT_FALSE(seed[s].empty()) << SectionName(s);
      core::Expected<MetaPrompt> parsed = ParseSections(RenderSections(seed));
      ASSERT_TRUE(parsed.ok()) << parsed.error().message;
      EXPECT_EQ(*parsed, seed) << "seeds are stored as parsed";
      EXPECT_TRUE(Contains(RenderSections(seed), word));
    }
    EXPECT_TRUE(MetaPromptPopulation::Create(seeds).ok()) << "distinct and within the default max_size";
  }
}

// ---- creation ----------------------------------------------------------------------------------

TEST(MetaPromptPopulation, NumbersSeedsInOrderAsTheirOwnLineages) {
  const MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")});
  ASSERT_EQ(population.prompts().size(), 2u);
  EXPECT_EQ(population.prompts()[0].id, 1);
  EXPECT_EQ(population.prompts()[1].id, 2);
  EXPECT_EQ(population.prompts()[1].seed_id, 2);
  EXPECT_FALSE(population.prompts()[1].parent_id.has_value());
  EXPECT_EQ(population.prompts()[1].prompt, Tagged("b"));
  EXPECT_FALSE(population.BestId().has_value());
}

TEST(MetaPromptPopulation, CreateRejectsBadOptionsAndSeeds) {
  MetaPromptOptions bad;
  bad.temperature = 0;
  bad.max_size = 1;
  core::Expected<MetaPromptPopulation> options = MetaPromptPopulation::Create({Tagged("a")}, bad);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(options.error().message, "temperature must be > 0; max_size must be >= 2"))
      << options.error().message;
  EXPECT_FALSE(MetaPromptPopulation::Create({}).ok());
  MetaPrompt spaced = Tagged("a");
  spaced[Section::kStrategies] = "-   strategy   of a";
  core::Expected<MetaPromptPopulation> duplicate = MetaPromptPopulation::Create({Tagged("a"), spaced});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_TRUE(Contains(duplicate.error().message, "seed prompt 2 equals seed prompt 1")) << duplicate.error().message;
  MetaPrompt empty = Tagged("a");
  empty[Section::kPitfalls] = " ";
  core::Expected<MetaPromptPopulation> broken = MetaPromptPopulation::Create({empty});
  ASSERT_FALSE(broken.ok());
  EXPECT_TRUE(Contains(broken.error().message, "section 'pitfalls' is empty")) << broken.error().message;
  MetaPromptOptions small;
  small.max_size = 2;
  EXPECT_FALSE(MetaPromptPopulation::Create({Tagged("a"), Tagged("b"), Tagged("c")}, small).ok());
}

// ---- credit ------------------------------------------------------------------------------------

TEST(MetaPromptPopulation, CreditReachesThePromptAndKeepsTheBestFitness) {
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")});
  ASSERT_TRUE(population.Credit(1, 100, 2.5, "passed").ok());
  ASSERT_TRUE(population.Credit(1, 101, 1.0, "wrong_value").ok());
  ASSERT_TRUE(population.Credit(2, 102, 0.5, "compile_error").ok());
  const MetaPromptEntry& a = *population.Find(1);
  EXPECT_EQ(a.fitness, 2.5);
  EXPECT_EQ(a.children, 2);
  EXPECT_EQ(a.history, (std::vector<ChildRecord>{{100, 2.5, "passed"}, {101, 1.0, "wrong_value"}}));
  EXPECT_EQ(a.status_counts, (std::map<std::string, std::int64_t>{{"passed", 1}, {"wrong_value", 1}}));
  const MetaPromptEntry& b = *population.Find(2);
  EXPECT_EQ(b.fitness, 0.5);
  EXPECT_EQ(b.history, (std::vector<ChildRecord>{{102, 0.5, "compile_error"}}));
  EXPECT_EQ(population.BestId(), 1);
}

TEST(MetaPromptPopulation, CreditForAnUnknownPromptOrNonFiniteFitnessChangesNothing) {
  MetaPromptPopulation population = Population({Tagged("a")});
  const core::Json before = population.ToJson();
  core::Expected<void> unknown = population.Credit(7, 100, 1.0, "passed");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, core::ErrorCode::kNotFound);
  core::Expected<void> nan = population.Credit(1, 100, std::nan(""), "passed");
  ASSERT_FALSE(nan.ok());
  EXPECT_EQ(nan.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(population.ToJson(), before);
}

TEST(MetaPromptPopulation, HistoryKeepsTheMostRecentKernelsAndCountsAll) {
  MetaPromptPopulation population = Population({Tagged("a")});
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(population.Credit(1, i, i == 3 ? 9.0 : 1.0, "passed").ok());
  const MetaPromptEntry& a = *population.Find(1);
  EXPECT_EQ(a.history.size(), kMaxChildHistory);
  EXPECT_EQ(a.history.front().candidate_id, 10);
  EXPECT_EQ(a.history.back().candidate_id, 59);
  EXPECT_EQ(a.children, 60);
  EXPECT_EQ(a.status_counts.at("passed"), 60);
  EXPECT_EQ(a.fitness, 9.0) << "the best survives the history's trimming";
}

TEST(MetaPromptPopulation, HistoryIsInCandidateOrderWhateverOrderVerdictsArriveIn) {
  MetaPromptPopulation in_order = Population({Tagged("a")});
  MetaPromptPopulation shuffled = Population({Tagged("a")});
  std::vector<std::int64_t> ids(70);
  std::iota(ids.begin(), ids.end(), 1);
  for (std::int64_t id : ids) ASSERT_TRUE(in_order.Credit(1, id, 0.1 * id, id % 2 ? "passed" : "compile_error").ok());
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(5));
  for (std::int64_t id : ids) ASSERT_TRUE(shuffled.Credit(1, id, 0.1 * id, id % 2 ? "passed" : "compile_error").ok());
  EXPECT_EQ(shuffled.prompts(), in_order.prompts());
  const MetaPromptEntry& a = *shuffled.Find(1);
  ASSERT_EQ(a.history.size(), kMaxChildHistory);
  EXPECT_EQ(a.history.front().candidate_id, 21);
  EXPECT_EQ(a.history.back().candidate_id, 70);
  core::Json unordered = shuffled.ToJson();
  std::swap(unordered["prompts"][0]["history"][0], unordered["prompts"][0]["history"][1]);
  auto rejected = MetaPromptPopulation::FromJson(unordered);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.error().message.find("candidate id order"), std::string::npos) << rejected.error().message;
}

// ---- editing -----------------------------------------------------------------------------------

TEST(MetaPromptPopulation, AppliesEditAsChildOfTheEditedPrompt) {
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")});
  std::mt19937_64 rng(1);
  for (int i = 0; i < 3; ++i) population.Select(rng);
  core::Expected<std::int64_t> id =
      population.ApplyEdit(2, Edit("- pitfall of b", "- pitfall of b\n- guard ragged edges"));
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, 3);
  const MetaPromptEntry& child = *population.Find(3);
  EXPECT_EQ(child.parent_id, 2);
  EXPECT_EQ(child.seed_id, 2);
  EXPECT_EQ(child.created_at_sample, 3);
  EXPECT_EQ(child.uses, 0);
  EXPECT_FALSE(child.fitness.has_value());
  MetaPrompt expected = Tagged("b");
  expected[Section::kPitfalls] = "- pitfall of b\n- guard ragged edges";
  EXPECT_EQ(child.prompt, expected);
  EXPECT_EQ(population.Find(2)->prompt, Tagged("b")) << "the parent is unchanged";
}

TEST(MetaPromptPopulation, AppliesEditsAcrossSectionBoundariesInOrder) {
  MetaPromptPopulation population = Population({Tagged("a")});
  const std::string reply =
      Edit("- strategy of a\n\n## pitfalls", "- strategy of a\n- tile in shared memory\n\n## pitfalls") +
      Edit("- analysis of a", "- compare with the roofline");
  core::Expected<std::int64_t> id = population.ApplyEdit(1, reply);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(population.Find(*id)->prompt[Section::kStrategies], "- strategy of a\n- tile in shared memory");
  EXPECT_EQ(population.Find(*id)->prompt[Section::kAnalysis], "- compare with the roofline");
}

TEST(MetaPromptPopulation, RejectsMalformedEditsAndLeavesThePopulationUnchanged) {
  struct Case {
    std::string name;
    std::string reply;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"no blocks", "The sections look fine to me.", "no SEARCH/REPLACE blocks"},
      {"fenced document instead of diffs",
       "```markdown\n## philosophy\n- new\n\n## strategies\n- s\n\n## pitfalls\n- p\n\n## analysis\n- a\n```\n",
       "no SEARCH/REPLACE blocks"},
      {"search not matching", Edit("- pitfall of nobody", "- x"), "matched 0 times in the sections document"},
      {"unclosed block", "<<<<<<< SEARCH\n- pitfall of a\n=======\n- x\n", "not closed by '>>>>>>> REPLACE'"},
      {"deleted header", Edit("## pitfalls", ""), "but the document has '## philosophy', '## strategies', "
                                                  "'## analysis'"},
      {"renamed header", Edit("## pitfalls", "## gotchas"), "'## gotchas'"},
      {"added section", Edit("- analysis of a", "- analysis of a\n\n## extra\n- more"), "'## extra'"},
      {"emptied section", Edit("- strategy of a", ""), "section 'strategies' is empty"},
      {"overlong section", Edit("- strategy of a", std::string(kMaxSectionChars + 1, 'x')),
       "more than the limit of 8000"},
  };
  MetaPromptPopulation population = Population({Tagged("a")});
  ASSERT_TRUE(population.Credit(1, 10, 3.0, "passed").ok());
  const core::Json before = population.ToJson();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    core::Expected<std::int64_t> id = population.ApplyEdit(1, c.reply);
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.error().code, core::ErrorCode::kParse);
    EXPECT_TRUE(Contains(id.error().message, "edit of meta-prompt 1 rejected: ")) << id.error().message;
    EXPECT_TRUE(Contains(id.error().message, c.why)) << id.error().message;
    EXPECT_EQ(population.ToJson(), before);
  }
}

TEST(MetaPromptPopulation, EditOfAnUnknownPromptIsNotFound) {
  MetaPromptPopulation population = Population({Tagged("a")});
  core::Expected<std::int64_t> id = population.ApplyEdit(5, Edit("- pitfall of a", "- x"));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code, core::ErrorCode::kNotFound);
}

TEST(MetaPromptPopulation, DoesNotAddDuplicatesUpToWhitespace) {
  MetaPrompt near_a = Tagged("a");
  near_a[Section::kAnalysis] = "- analysis of b";
  MetaPromptPopulation population = Population({Tagged("a"), near_a});
  const core::Json before = population.ToJson();
  core::Expected<std::int64_t> itself = population.ApplyEdit(1, Edit("- strategy of a", "-   strategy   of a  "));
  ASSERT_FALSE(itself.ok());
  EXPECT_EQ(itself.error().code, core::ErrorCode::kValidation);
  EXPECT_TRUE(Contains(itself.error().message, "equals meta-prompt 1 up to whitespace")) << itself.error().message;
  core::Expected<std::int64_t> sibling = population.ApplyEdit(1, Edit("- analysis of a", "- analysis of b"));
  ASSERT_FALSE(sibling.ok());
  EXPECT_TRUE(Contains(sibling.error().message, "equals meta-prompt 2")) << sibling.error().message;
  EXPECT_EQ(population.ToJson(), before);
}

// ---- the bound ---------------------------------------------------------------------------------

TEST(MetaPromptPopulation, DropsTheLowestScoringPromptWhenOverTheBound) {
  MetaPromptOptions options;
  options.max_size = 4;
  options.youth_samples = 0;
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")}, options);
  ASSERT_TRUE(population.Credit(1, 1, 5.0, "passed").ok());
  ASSERT_TRUE(population.Credit(2, 2, 0.0, "compile_error").ok());
  ASSERT_TRUE(population.ApplyEdit(1, Edit("- pitfall of a", "- pitfall one")).ok());  // 3
  ASSERT_TRUE(population.Credit(3, 3, 1.0, "wrong_value").ok());
  ASSERT_TRUE(population.ApplyEdit(2, Edit("- pitfall of b", "- pitfall two")).ok());  // 4
  ASSERT_TRUE(population.Credit(4, 4, 3.0, "passed").ok());
  ASSERT_TRUE(population.ApplyEdit(1, Edit("- pitfall of a", "- pitfall three")).ok());  // 5
  std::vector<std::int64_t> ids;
  for (const MetaPromptEntry& e : population.prompts()) ids.push_back(e.id);
  // Seed 2 scores lowest and its lineage lives on in prompt 4, so it goes.
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 3, 4, 5}));
}

TEST(MetaPromptPopulation, KeepsTheLastPromptOfEachSeedLineage) {
  MetaPromptOptions options;
  options.max_size = 3;
  options.youth_samples = 0;
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")}, options);
  ASSERT_TRUE(population.Credit(1, 1, 5.0, "passed").ok());
  ASSERT_TRUE(population.Credit(2, 2, 0.0, "compile_error").ok());
  ASSERT_TRUE(population.ApplyEdit(1, Edit("- pitfall of a", "- pitfall one")).ok());  // 3
  ASSERT_TRUE(population.Credit(3, 3, 4.0, "passed").ok());
  ASSERT_TRUE(population.ApplyEdit(1, Edit("- pitfall of a", "- pitfall two")).ok());  // 4
  std::vector<std::int64_t> ids;
  for (const MetaPromptEntry& e : population.prompts()) ids.push_back(e.id);
  // Prompt 2 scores lowest but is all that is left of its seed; prompt 3 goes instead.
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 2, 4}));
}

TEST(MetaPromptPopulation, StaysBoundedAndKeepsTheBestThroughManyEdits) {
  MetaPromptOptions options;
  options.max_size = 5;
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")}, options);
  std::mt19937_64 rng(7);
  std::int64_t candidate = 0;
  for (int step = 0; step < 40; ++step) {
    const std::int64_t chosen = population.Select(rng);
    const double fitness = static_cast<double>(rng() % 1000) / 100.0;
    ASSERT_TRUE(population.Credit(chosen, ++candidate, fitness, "passed").ok());
    const std::optional<std::int64_t> best = population.BestId();
    const std::string line = population.Find(chosen)->prompt[Section::kAnalysis];
    core::Expected<std::int64_t> child =
        population.ApplyEdit(chosen, Edit(line, line + "\n- idea " + std::to_string(step)));
    ASSERT_TRUE(child.ok()) << child.error().message;
    EXPECT_LE(population.prompts().size(), 5u);
    EXPECT_NE(population.Find(*best), nullptr) << "step " << step;
    EXPECT_NE(population.Find(*child), nullptr) << "step " << step;
    std::set<std::int64_t> lineages;
    for (const MetaPromptEntry& e : population.prompts()) lineages.insert(e.seed_id);
    EXPECT_EQ(lineages, (std::set<std::int64_t>{1, 2})) << "step " << step;
  }
}

// ---- selection ---------------------------------------------------------------------------------

/// Four prompts credited with the given fitness values, ids 1-4.
MetaPromptPopulation Credited(const std::vector<double>& fitness, MetaPromptOptions options) {
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b"), Tagged("c"), Tagged("d")}, options);
  for (std::size_t i = 0; i < fitness.size(); ++i) {
    EXPECT_TRUE(population.Credit(static_cast<std::int64_t>(i) + 1, 0, fitness[i], "passed").ok());
  }
  return population;
}

TEST(MetaPromptPopulation, UniformShareOfOnePicksUniformly) {
  MetaPromptOptions options;
  options.uniform_share = 1;
  MetaPromptPopulation population = Credited({0, 1, 5, 10}, options);
  std::mt19937_64 rng(42);
  const std::map<std::int64_t, double> freq = Frequencies(population, rng, 20000);
  for (std::int64_t id = 1; id <= 4; ++id) EXPECT_NEAR(freq.at(id), 0.25, 0.02) << id;
}

TEST(MetaPromptPopulation, MuchFitterPromptIsPickedMostOftenButNotAlways) {
  MetaPromptPopulation population = Credited({0, 0, 0, 8}, MetaPromptOptions{});
  std::mt19937_64 rng(42);
  const std::map<std::int64_t, double> freq = Frequencies(population, rng, 20000);
  EXPECT_GT(freq.at(4), 0.8);
  // The uniform share alone gives each prompt 0.2 / 4.
  for (std::int64_t id = 1; id <= 3; ++id) EXPECT_NEAR(freq.at(id), 0.05, 0.01) << id;
}

TEST(MetaPromptPopulation, FrequenciesFollowTheConfiguredMix) {
  MetaPromptOptions options;
  options.uniform_share = 0.5;
  options.temperature = 2;
  options.usage_penalty = 0;  // keeps the probabilities fixed while drawing
  options.youth_samples = 0;
  MetaPromptPopulation population = Credited({0, 1, 2, 3}, options);
  const std::vector<double> p = population.SelectionProbabilities();
  double total = 0;
  for (double f : {0.0, 1.0, 2.0, 3.0}) total += std::exp(f / 2);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[i], 0.5 * 0.25 + 0.5 * std::exp(i / 2.0) / total, 1e-12) << i;
  std::mt19937_64 rng(42);
  const std::map<std::int64_t, double> freq = Frequencies(population, rng, 40000);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(freq.at(i + 1), p[i], 0.01) << i;
}

TEST(MetaPromptPopulation, UsagePenaltyLowersTheChanceOfAUsedPrompt) {
  MetaPromptOptions options;
  options.uniform_share = 0;
  options.youth_samples = 0;
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")}, options);
  ASSERT_TRUE(population.Credit(1, 1, 1.0, "passed").ok());
  ASSERT_TRUE(population.Credit(2, 2, 1.0, "passed").ok());
  EXPECT_NEAR(population.SelectionProbabilities()[0], 0.5, 1e-12);
  std::mt19937_64 rng(3);
  const std::int64_t used = population.Select(rng);
  // exp(-0.3 * log(1 + 1)) against exp(0) for the unused one.
  const double expected = std::pow(2.0, -0.3) / (std::pow(2.0, -0.3) + 1);
  EXPECT_NEAR(population.SelectionProbabilities()[static_cast<std::size_t>(used - 1)], expected, 1e-12);
}

TEST(MetaPromptPopulation, YoungPromptsGetABonusUntilTheyAge) {
  MetaPromptOptions options;
  options.uniform_share = 0;
  options.usage_penalty = 0;
  options.youth_samples = 2000;
  MetaPromptPopulation population = Population({Tagged("a")}, options);
  ASSERT_TRUE(population.Credit(1, 1, 1.0, "passed").ok());
  std::mt19937_64 rng(42);
  Frequencies(population, rng, 2000);  // the seed ages
  ASSERT_TRUE(population.ApplyEdit(1, Edit("- pitfall of a", "- pitfall of a child")).ok());
  // The child has no credit yet, so it scores the mean fitness (1) plus the bonus (1).
  const double young = std::exp(1.0) / (1 + std::exp(1.0));
  EXPECT_NEAR(population.SelectionProbabilities()[1], young, 1e-12);
  EXPECT_NEAR(Frequencies(population, rng, 2000).at(2), young, 0.04);
  EXPECT_NEAR(population.SelectionProbabilities()[1], 0.5, 1e-12);
  EXPECT_NEAR(Frequencies(population, rng, 2000).at(2), 0.5, 0.04);
}

TEST(MetaPromptPopulation, SelectCountsUsesAndSamples) {
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b")});
  std::mt19937_64 rng(5);
  std::map<std::int64_t, std::int64_t> picked;
  for (int i = 0; i < 30; ++i) ++picked[population.Select(rng)];
  EXPECT_EQ(population.samples(), 30);
  EXPECT_EQ(population.Find(1)->uses, picked[1]);
  EXPECT_EQ(population.Find(2)->uses, picked[2]);
}

// ---- evolution ---------------------------------------------------------------------------------

TEST(MetaPromptPopulation, EvolutionIsDueEveryEvolveEverySamplesOnceThereIsEvidence) {
  MetaPromptOptions options;
  options.evolve_every = 3;
  MetaPromptPopulation population = Population({Tagged("a")}, options);
  std::mt19937_64 rng(1);
  EXPECT_FALSE(population.ShouldEvolve());
  for (int i = 0; i < 3; ++i) population.Select(rng);
  EXPECT_FALSE(population.ShouldEvolve()) << "no kernel credited yet";
  ASSERT_TRUE(population.Credit(1, 1, 1.0, "passed").ok());
  EXPECT_TRUE(population.ShouldEvolve());
  EXPECT_EQ(population.PickForEvolution(rng), 1);
  EXPECT_FALSE(population.ShouldEvolve());
  population.Select(rng);
  population.Select(rng);
  EXPECT_FALSE(population.ShouldEvolve());
  population.Select(rng);
  EXPECT_TRUE(population.ShouldEvolve());

  options.evolve_every = 0;
  MetaPromptPopulation off = Population({Tagged("a")}, options);
  ASSERT_TRUE(off.Credit(1, 1, 1.0, "passed").ok());
  for (int i = 0; i < 50; ++i) off.Select(rng);
  EXPECT_FALSE(off.ShouldEvolve());
}

TEST(MetaPromptPopulation, PicksForEvolutionOnlyPromptsWithEnoughChildren) {
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b"), Tagged("c")});
  for (int i = 0; i < kMinChildrenToEvolve; ++i) ASSERT_TRUE(population.Credit(1, i, 1.0, "passed").ok());
  ASSERT_TRUE(population.Credit(2, 10, 9.0, "passed").ok());
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(population.PickForEvolution(rng), 1);
}

TEST(MetaPromptPopulation, PicksTheMostCreditedPromptWhenNoneHasEnoughChildren) {
  MetaPromptPopulation population = Population({Tagged("a"), Tagged("b"), Tagged("c")});
  ASSERT_TRUE(population.Credit(3, 1, 1.0, "passed").ok());
  ASSERT_TRUE(population.Credit(3, 2, 1.0, "passed").ok());
  ASSERT_TRUE(population.Credit(2, 3, 9.0, "passed").ok());
  std::mt19937_64 rng(1);
  EXPECT_EQ(population.PickForEvolution(rng), 3);
}

TEST(MetaPromptPopulation, EngineerPromptShowsTheDocumentTheRecordAndTheOutcomes) {
  MetaPromptPopulation population = Population({Tagged("a")});
  ASSERT_TRUE(population.Credit(1, 1, 6.8, "passed").ok());
  ASSERT_TRUE(population.Credit(1, 2, 3.0, "wrong_value").ok());
  std::vector<ChildOutcome> outcomes;
  for (int i = 0; i < 40; ++i) outcomes.push_back({"compile_error", 1.0, std::nullopt, "old_" + std::to_string(i)});
  outcomes.push_back({"passed", 6.8, 1.8, "fast on\nall shapes"});
  outcomes.push_back({"wrong_value", 3.0, std::nullopt, std::string(300, 'e')});
  core::Expected<Prompt> prompt = population.BuildEngineerPrompt(1, SoftmaxTask(), outcomes);
  ASSERT_TRUE(prompt.ok()) << prompt.error().message;
  const std::string& user = prompt->user;
  EXPECT_TRUE(Contains(prompt->system, "prompt engineer")) << prompt->system;
  EXPECT_TRUE(Contains(user, "# Task: row_softmax (backend: cuda)\nSoftmax over each row.\n")) << user;
  EXPECT_TRUE(Contains(user, "```markdown\n" + RenderSections(Tagged("a")) + "```\n")) << user;
  EXPECT_TRUE(Contains(user, "2 kernels evaluated (1 passed, 1 wrong_value); best fitness 6.800.")) << user;
  EXPECT_TRUE(Contains(user, "(the 30 most recent, oldest first)")) << user;
  EXPECT_FALSE(Contains(user, ": old_11\n")) << user;
  EXPECT_TRUE(Contains(user, "- compile_error, fitness 1.000: old_12\n")) << user;
  EXPECT_TRUE(Contains(user, "- passed, fitness 6.800, speedup 1.80x: fast on all shapes\n")) << user;
  EXPECT_TRUE(Contains(user, "- wrong_value, fitness 3.000: " + std::string(240, 'e') + " ...\n")) << user;
  EXPECT_TRUE(Contains(user, "<<<<<<< SEARCH\n")) << user;
  EXPECT_TRUE(Contains(user, "'## philosophy', '## strategies', '## pitfalls', '## analysis'")) << user;
  EXPECT_EQ(population.BuildEngineerPrompt(1, SoftmaxTask(), outcomes)->user, user) << "deterministic";
  EXPECT_FALSE(population.BuildEngineerPrompt(9, SoftmaxTask(), outcomes).ok());
}

// ---- serialization -----------------------------------------------------------------------------

/// A population that has been through every kind of change.
using Credits = std::map<std::int64_t, std::vector<ChildRecord>>;

MetaPromptPopulation Exercised(std::mt19937_64& rng, Credits* credits = nullptr) {
  MetaPromptOptions options;
  options.temperature = 0.7;
  options.uniform_share = 0.3;
  options.max_size = 4;
  options.evolve_every = 5;
  MetaPromptPopulation population = Population(SeedPrompts(task::Backend::kCuda), options);
  for (int step = 0; step < 12; ++step) {
    const std::int64_t id = population.Select(rng);
    const ChildRecord child{step, 0.1 * step + 1.0 / 3.0, step % 3 ? "passed" : "wrong_value"};
    EXPECT_TRUE(population.Credit(id, child.candidate_id, child.fitness, child.status).ok());
    if (credits != nullptr) (*credits)[id].push_back(child);
    if (population.ShouldEvolve()) {
      const std::int64_t edit = population.PickForEvolution(rng);
      const std::string line = "- State in one sentence which bottleneck the change targets and why it should help.";
      EXPECT_TRUE(population.ApplyEdit(edit, Edit(line, line + "\n- idea " + std::to_string(step))).ok());
    }
  }
  return population;
}

TEST(MetaPromptPopulation, RoundTripsThroughJsonExactly) {
  std::mt19937_64 rng(11);
  MetaPromptPopulation original = Exercised(rng);
  ASSERT_GT(original.prompts().size(), 2u);
  const core::Json json = original.ToJson();
  core::Expected<core::Json> reparsed = core::ParseJson(json.dump(), "population");
  ASSERT_TRUE(reparsed.ok());
  core::Expected<MetaPromptPopulation> restored = MetaPromptPopulation::FromJson(*reparsed);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->ToJson(), json);
  EXPECT_EQ(restored->prompts(), original.prompts());
  EXPECT_EQ(restored->options(), original.options());
  EXPECT_EQ(restored->samples(), original.samples());
  EXPECT_EQ(restored->ShouldEvolve(), original.ShouldEvolve());
  // A resumed run draws what the original would have drawn.
  std::mt19937_64 rng_copy = rng;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(restored->Select(rng_copy), original.Select(rng)) << i;
}

TEST(MetaPromptPopulation, RoundTripsWithItsTextsKeptElsewhere) {
  std::mt19937_64 rng(11);
  MetaPromptPopulation::KeptRecords kept;
  const MetaPromptPopulation original = Exercised(rng, &kept.credits);
  const core::Json lean = original.ToJson(/*lean=*/true);
  EXPECT_LT(lean.dump().size(), original.ToJson().dump().size());
  EXPECT_EQ(lean.dump().find("wrong_value"), std::string::npos) << "credits are left out of a lean document";
  for (const MetaPromptEntry& e : original.prompts()) kept.texts[e.id] = e.prompt;
  // The store hands credits back in its own order.
  for (auto& [id, records] : kept.credits) std::reverse(records.begin(), records.end());
  auto restored = MetaPromptPopulation::FromJson(lean, kept);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->prompts(), original.prompts());
  EXPECT_EQ(restored->ToJson(), original.ToJson());
  MetaPromptPopulation::KeptRecords damaged = kept;
  damaged.credits.begin()->second.front().fitness = std::nan("");
  EXPECT_FALSE(MetaPromptPopulation::FromJson(lean, damaged).ok());
  kept.texts.erase(original.prompts().back().id);
  auto missing = MetaPromptPopulation::FromJson(lean, kept);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("without its sections"), std::string::npos) << missing.error().message;
}

TEST(MetaPromptPopulation, FromJsonNamesWhatIsMissingOrInconsistent) {
  std::mt19937_64 rng(11);
  const core::Json good = Exercised(rng).ToJson();

  core::Json missing = good;
  missing["prompts"][0].erase("uses");
  core::Expected<MetaPromptPopulation> m = MetaPromptPopulation::FromJson(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, core::ErrorCode::kParse);
  EXPECT_TRUE(Contains(m.error().message, "'uses'")) << m.error().message;

  core::Json reordered = good;
  std::swap(reordered["prompts"][0], reordered["prompts"][1]);
  core::Expected<MetaPromptPopulation> r = MetaPromptPopulation::FromJson(reordered);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.error().message, "ids must increase")) << r.error().message;

  core::Json emptied = good;
  emptied["prompts"][0]["sections"]["pitfalls"] = "";
  core::Expected<MetaPromptPopulation> e = MetaPromptPopulation::FromJson(emptied);
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(Contains(e.error().message, "section 'pitfalls' is empty")) << e.error().message;

  core::Json options = good;
  options["options"]["uniform_share"] = 1.5;
  EXPECT_FALSE(MetaPromptPopulation::FromJson(options).ok());
}

}  // namespace
}  // namespace kf::prompt
