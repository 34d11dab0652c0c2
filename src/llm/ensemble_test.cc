#include "llm/ensemble.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/fs.h"

namespace kf::llm {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------
// The command line's list

TEST(ParseModelListTest, SingleModelHasWeightOne) {
  core::Expected<EnsembleSpec> spec = ParseModelList("gpt-4.1-mini");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  ASSERT_EQ(spec->models.size(), 1u);
  EXPECT_EQ(spec->models[0].model, "gpt-4.1-mini");
  EXPECT_EQ(spec->models[0].weight, 1.0);
  EXPECT_FALSE(spec->models[0].temperature);
  EXPECT_FALSE(spec->models[0].max_tokens);
  EXPECT_EQ(spec->selection, Selection::kWeighted);
  EXPECT_EQ(spec->ucb_exploration, kDefaultUcbExploration);
}

TEST(ParseModelListTest, WeightsFollowAnAtSign) {
  core::Expected<EnsembleSpec> spec = ParseModelList("gpt-4.1-mini@3, anthropic:claude-sonnet-4-5 @ 0.5");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  ASSERT_EQ(spec->models.size(), 2u);
  EXPECT_EQ(spec->models[0].model, "gpt-4.1-mini");
  EXPECT_EQ(spec->models[0].weight, 3.0);
  EXPECT_EQ(spec->models[1].model, "anthropic:claude-sonnet-4-5");
  EXPECT_EQ(spec->models[1].weight, 0.5);
}

TEST(ParseModelListTest, ColonsBelongToModelNames) {
  core::Expected<EnsembleSpec> spec = ParseModelList("llama3:8b,openai:qwen2.5-coder:32b@2");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  ASSERT_EQ(spec->models.size(), 2u);
  EXPECT_EQ(spec->models[0].model, "llama3:8b");
  EXPECT_EQ(spec->models[0].weight, 1.0);
  EXPECT_EQ(spec->models[1].model, "openai:qwen2.5-coder:32b");
  EXPECT_EQ(spec->models[1].weight, 2.0);
}

TEST(ParseModelListTest, AnAtSignInsideANameTakesAnExplicitWeight) {
  core::Expected<EnsembleSpec> spec = ParseModelList("claude-3-5-sonnet-v2@20241022@1");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  EXPECT_EQ(spec->models[0].model, "claude-3-5-sonnet-v2@20241022");
  EXPECT_EQ(spec->models[0].weight, 1.0);

  core::Expected<EnsembleSpec> bad = ParseModelList("acme@latest");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad.error().message, "'latest' after '@' is not a weight")) << bad.error().message;
  EXPECT_TRUE(Contains(bad.error().message, "acme@latest@1")) << bad.error().message;
}

TEST(ParseModelListTest, RejectsAnEmptyList) {
  core::Expected<EnsembleSpec> spec = ParseModelList("  ");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(spec.error().message, "no model given")) << spec.error().message;
}

TEST(ParseModelListTest, NamesEachBadItem) {
  struct Case {
    std::string list;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"a,,b", "item 2 is empty"},
           {"a,", "item 2 is empty"},
           {"a@0", "item 1 'a@0': weight must be a positive finite number"},
           {"a@-2", "weight must be a positive finite number (a relative share of requests), got -2"},
           {"a@inf", "got inf"},
           {"a@nan", "weight must be a positive finite number"},
           {"a@", "'' after '@' is not a weight"},
           {"a@3x", "'3x' after '@' is not a weight"},
           {"@3", "item 1 '@3': the model name is empty"},
           {"b,a,b@2", "item 3 'b@2': model 'b' is listed twice (first as item 1)"},
       }) {
    core::Expected<EnsembleSpec> spec = ParseModelList(c.list);
    ASSERT_FALSE(spec.ok()) << c.list;
    EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument) << c.list;
    EXPECT_TRUE(Contains(spec.error().message, c.expected)) << c.list << " -> " << spec.error().message;
  }
}

TEST(ParseModelListTest, ReportsEveryProblemAtOnce) {
  core::Expected<EnsembleSpec> spec = ParseModelList("a@0,,c@x");
  ASSERT_FALSE(spec.ok());
  EXPECT_TRUE(Contains(spec.error().message, "item 1")) << spec.error().message;
  EXPECT_TRUE(Contains(spec.error().message, "item 2")) << spec.error().message;
  EXPECT_TRUE(Contains(spec.error().message, "item 3")) << spec.error().message;
}

TEST(SelectionTest, NamesRoundTripAndUnknownNamesListTheChoices) {
  for (Selection s : {Selection::kWeighted, Selection::kUcb}) {
    core::Expected<Selection> parsed = ParseSelection(SelectionName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  core::Expected<Selection> bad = ParseSelection("ubc");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.error().message, "'ubc'")) << bad.error().message;
  EXPECT_TRUE(Contains(bad.error().message, "weighted")) << bad.error().message;
  EXPECT_TRUE(Contains(bad.error().message, "ucb")) << bad.error().message;
}

// ---------------------------------------------------------------------------------------------
// Ensemble files

fs::path WriteEnsemble(const std::string& text, const std::string& name = "ensemble.yaml") {
  auto dir = core::MakeUniqueDir(fs::path(testing::TempDir()) / "kf_ensemble_test", "ensemble-");
  KF_CHECK(dir.ok()) << dir.error().ToString();
  KF_CHECK(core::WriteFileAtomic(*dir / name, text).ok());
  return *dir / name;
}

// The error of loading `text`, which must fail validation.
std::string LoadError(const fs::path& path) {
  core::Expected<EnsembleSpec> spec = LoadEnsembleFile(path);
  if (spec.ok()) return "(loaded without error)";
  EXPECT_EQ(spec.error().code, ErrorCode::kValidation) << spec.error().message;
  return spec.error().message;
}

TEST(LoadEnsembleFileTest, ReadsTheDocumentedExample) {
  fs::path path = WriteEnsemble(
      "models:\n"
      "  - model: gpt-4.1-mini\n"
      "    weight: 3\n"
      "  - model: anthropic:claude-sonnet-4-5\n"
      "    weight: 1\n"
      "    temperature: 0.5\n"
      "    max_tokens: 8192\n"
      "  - llama3:8b\n"
      "selection: ucb\n"
      "ucb_exploration: 0.5\n");
  core::Expected<EnsembleSpec> spec = LoadEnsembleFile(path);
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  EnsembleSpec expected{{{"gpt-4.1-mini", 3, std::nullopt, std::nullopt},
                         {"anthropic:claude-sonnet-4-5", 1, 0.5, 8192},
                         {"llama3:8b", 1, std::nullopt, std::nullopt}},
                        Selection::kUcb,
                        0.5};
  EXPECT_EQ(*spec, expected);
}

TEST(LoadEnsembleFileTest, ReadsJsonAndDefaultsToWeighted) {
  fs::path path =
      WriteEnsemble(R"({"models": [{"model": "gpt-4o", "weight": 2}, {"model": "o3-mini"}]})", "ensemble.json");
  core::Expected<EnsembleSpec> spec = LoadEnsembleFile(path);
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  ASSERT_EQ(spec->models.size(), 2u);
  EXPECT_EQ(spec->models[0].weight, 2.0);
  EXPECT_EQ(spec->models[1].model, "o3-mini");
  EXPECT_EQ(spec->selection, Selection::kWeighted);
  EXPECT_EQ(spec->ucb_exploration, kDefaultUcbExploration);
}

TEST(LoadEnsembleFileTest, MissingFileIsNotFoundAndNamesThePath) {
  fs::path path = fs::path(testing::TempDir()) / "kf_ensemble_test" / "no-such-ensemble.yaml";
  core::Expected<EnsembleSpec> spec = LoadEnsembleFile(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Contains(spec.error().message, path.string())) << spec.error().message;
}

TEST(LoadEnsembleFileTest, SyntaxErrorsNameFileAndLine) {
  fs::path path = WriteEnsemble("models:\n  - model: [gpt-4o\n");
  std::string message = LoadError(path);
  EXPECT_TRUE(Contains(message, path.string() + ":3:")) << message;
  EXPECT_TRUE(Contains(message, "YAML syntax error")) << message;
}

TEST(LoadEnsembleFileTest, ShapeErrorsSayWhatToWrite) {
  EXPECT_TRUE(Contains(LoadError(WriteEnsemble("")), "a map with a 'models' list"));
  EXPECT_TRUE(Contains(LoadError(WriteEnsemble("selection: ucb\n")), "missing 'models'"));
  EXPECT_TRUE(Contains(LoadError(WriteEnsemble("models: []\n")), "'models' must be a non-empty list"));
  EXPECT_TRUE(Contains(LoadError(WriteEnsemble("models:\n  - [a, b]\n")), "models[0] must be a model name or a map"));
  EXPECT_TRUE(Contains(LoadError(WriteEnsemble("models:\n  - weight: 2\n")), "models[0] has no 'model'"));
}

TEST(LoadEnsembleFileTest, ReportsEveryBadEntryAtItsLine) {
  fs::path path = WriteEnsemble(
      "models:\n"                        // 1
      "  - model: gpt-4.1-mini\n"        // 2
      "    wieght: 3\n"                  // 3
      "  - model: anthropic:claude-x\n"  // 4
      "    weight: -1\n"                 // 5
      "    temperature: 7\n"             // 6
      "    max_tokens: 10.5\n"           // 7
      "  - model: gpt-4.1-mini\n"        // 8
      "selection: ubc\n"                 // 9
      "ucb_exploration: -1\n");          // 10
  std::string message = LoadError(path);
  std::string file = path.string();
  EXPECT_TRUE(Contains(message, "7 problems in " + file)) << message;
  EXPECT_TRUE(Contains(message, file + ":3:5: models[0]: unknown key 'wieght'; expected one of model, weight"))
      << message;
  EXPECT_TRUE(Contains(message, file + ":5:13: models[1] (anthropic:claude-x): weight must be a positive")) << message;
  EXPECT_TRUE(Contains(message, file + ":6:18: models[1] (anthropic:claude-x): temperature must be between 0 and 2"))
      << message;
  EXPECT_TRUE(Contains(message, file + ":7:17: models[1] (anthropic:claude-x): max_tokens must be an integer"))
      << message;
  EXPECT_TRUE(Contains(message, file + ":8:5: models[2]: model 'gpt-4.1-mini' is listed twice (first at line 2)"))
      << message;
  EXPECT_TRUE(Contains(message, file + ":9:12: unknown selection 'ubc'")) << message;
  EXPECT_TRUE(Contains(message, file + ":10:18: the ensemble: ucb_exploration must be a finite number >= 0"))
      << message;
}

TEST(LoadEnsembleFileTest, RejectsUnknownTopLevelKeysAndRepeatedKeys) {
  std::string message =
      LoadError(WriteEnsemble("models: [gpt-4o]\n"
                              "selction: ucb\n"
                              "ucb_exploration: 1\n"
                              "ucb_exploration: 2\n"));
  EXPECT_TRUE(Contains(message, ":2:1: the ensemble: unknown key 'selction'; expected one of models, selection"))
      << message;
  EXPECT_TRUE(Contains(message, ":4:1: the ensemble: key 'ucb_exploration' appears twice (first at line 3)"))
      << message;
}

TEST(EnsembleSpecTest, JsonRoundTripGivesTheSameSpec) {
  EnsembleSpec spec{{{"gpt-4.1-mini", 3, std::nullopt, std::nullopt},
                     {"anthropic:claude-sonnet-4-5", 0.1, 0.3, 4096},
                     {"qwen2.5-coder:32b", 1.0 / 3.0, std::nullopt, 16384}},
                    Selection::kUcb,
                    0.7};
  core::Expected<core::Json> reparsed = core::ParseJson(spec.ToJson().dump(), "test");
  ASSERT_TRUE(reparsed.ok());
  core::Expected<EnsembleSpec> restored = EnsembleSpec::FromJson(*reparsed);
  ASSERT_TRUE(restored.ok()) << restored.error().ToString();
  EXPECT_EQ(*restored, spec);
}

TEST(EnsembleSpecTest, FromJsonValidatesLikeAFile) {
  core::Json json = {{"models", {{{"model", "gpt-4o"}, {"weight", 0}}}}, {"selection", "weighted"}};
  core::Expected<EnsembleSpec> spec = EnsembleSpec::FromJson(json);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code, ErrorCode::kValidation);
  EXPECT_TRUE(Contains(spec.error().message, "stored ensemble")) << spec.error().message;
  EXPECT_TRUE(Contains(spec.error().message, "models[0] (gpt-4o): weight must be a positive")) << spec.error().message;
}

TEST(BanditCostUsdTest, UnpricedModelsAreChargedForTheirTokens) {
  Completion priced;
  priced.priced = true;
  priced.cost_usd = 0.25;
  priced.usage = {1'000'000, 1'000'000};
  EXPECT_DOUBLE_EQ(BanditCostUsd(priced), 0.25);

  Completion local;
  local.usage = {2'000'000, 1'000'000};
  EXPECT_DOUBLE_EQ(BanditCostUsd(local), 2 * kUnpricedPrice.input_per_mtok + kUnpricedPrice.output_per_mtok);
}

// ---------------------------------------------------------------------------------------------
// ModelPicker

EnsembleSpec Spec(std::vector<double> weights, Selection selection) {
  EnsembleSpec spec;
  for (std::size_t i = 0; i < weights.size(); ++i) spec.models.push_back({fmt::format("model-{}", i), weights[i]});
  spec.selection = selection;
  return spec;
}

TEST(ModelPickerTest, WeightedPicksFollowTheWeights) {
  ModelPicker picker(Spec({3, 1, 0.5}, Selection::kWeighted));
  std::mt19937_64 rng(42);
  constexpr int kDraws = 10'000;
  std::vector<int> counts(3);
  for (int i = 0; i < kDraws; ++i) ++counts[picker.Pick(rng)];
  EXPECT_NEAR(counts[0] / double(kDraws), 3 / 4.5, 0.02);
  EXPECT_NEAR(counts[1] / double(kDraws), 1 / 4.5, 0.02);
  EXPECT_NEAR(counts[2] / double(kDraws), 0.5 / 4.5, 0.02);
  EXPECT_EQ(picker.Stats(0).pending, counts[0]);
}

TEST(ModelPickerTest, UcbTriesUntriedArmsFirstInOrder) {
  ModelPicker picker(Spec({1, 1, 1}, Selection::kUcb));
  std::mt19937_64 rng(1);
  for (std::size_t expected = 0; expected < 3; ++expected) {
    std::size_t arm = picker.Pick(rng);
    EXPECT_EQ(arm, expected);
    // A great outcome on arm 0 must not stop the others being tried.
    picker.Record(arm, expected == 0 ? 100.0 : 0.0, 0.01);
  }
}

TEST(ModelPickerTest, PendingPicksSpreadRequestsIssuedTogether) {
  ModelPicker picker(Spec({1, 1, 1}, Selection::kUcb));
  std::mt19937_64 rng(1);
  std::vector<std::size_t> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(picker.Pick(rng));
  EXPECT_EQ(picks, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(picker.Stats(1).pending, 2);

  picker.Cancel(1);
  EXPECT_EQ(picker.Stats(1).pending, 1);
  picker.Record(1, 0.5, 0.01);
  EXPECT_EQ(picker.Stats(1).pending, 0);
  EXPECT_EQ(picker.Stats(1).samples, 1);
}

// Runs `picks` pick/record rounds, rewarding arm i with reward(i, rng) at cost_usd[i]; returns
// how often each arm was picked after the first round over all arms.
std::vector<int> RunBandit(ModelPicker& picker, int picks, const std::vector<double>& cost_usd,
                           const std::function<double(std::size_t, std::mt19937_64&)>& reward) {
  std::mt19937_64 rng(7);
  std::vector<int> counts(picker.ArmCount());
  for (int i = 0; i < picks; ++i) {
    std::size_t arm = picker.Pick(rng);
    if (i >= static_cast<int>(picker.ArmCount())) ++counts[arm];
    picker.Record(arm, reward(arm, rng), cost_usd[arm]);
  }
  return counts;
}

TEST(ModelPickerTest, UcbFavoursTenTimesTheImprovementPerDollar) {
  ModelPicker picker(Spec({1, 1}, Selection::kUcb));
  // Arm 1 improves its parent three times as often as arm 0 and by 10/3 as much.
  std::vector<int> counts = RunBandit(picker, 2000, {0.02, 0.02}, [](std::size_t arm, std::mt19937_64& rng) {
    std::bernoulli_distribution improves(arm == 1 ? 0.3 : 0.1);
    return improves(rng) ? (arm == 1 ? 1.0 : 0.3) : 0.0;
  });
  EXPECT_GT(counts[1], 0.8 * (counts[0] + counts[1])) << counts[0] << " vs " << counts[1];
  EXPECT_GT(counts[0], 0) << "exploration stopped";
  EXPECT_GT(picker.ImprovementPerUsd(1), picker.ImprovementPerUsd(0));
}

TEST(ModelPickerTest, UcbPrefersTheCheaperArmAtEqualImprovement) {
  ModelPicker picker(Spec({1, 1}, Selection::kUcb));
  std::vector<int> counts = RunBandit(picker, 1000, {0.001, 0.01}, [](std::size_t, std::mt19937_64&) { return 0.5; });
  EXPECT_GT(counts[0], 0.8 * (counts[0] + counts[1])) << counts[0] << " vs " << counts[1];
}

TEST(ModelPickerTest, FreeArmsAndNoImprovementStayFinite) {
  ModelPicker picker(Spec({1, 1, 1}, Selection::kUcb));
  // Nothing improves and nothing costs: every arm must keep being explored evenly.
  std::vector<int> counts = RunBandit(picker, 300, {0, 0, 0}, [](std::size_t, std::mt19937_64&) { return 0.0; });
  for (std::size_t arm = 0; arm < 3; ++arm) {
    EXPECT_EQ(picker.ImprovementPerUsd(arm), 0.0);
    EXPECT_GE(counts[arm], 90) << "arm " << arm;
  }

  // A free arm that improves is worth improvement / kMinSampleCostUsd per dollar, not infinity.
  ModelPicker free(Spec({1, 1}, Selection::kUcb));
  std::vector<int> free_counts = RunBandit(free, 500, {0.01, 0}, [](std::size_t, std::mt19937_64&) { return 0.5; });
  EXPECT_DOUBLE_EQ(free.ImprovementPerUsd(1), 0.5 / kMinSampleCostUsd);
  EXPECT_TRUE(std::isfinite(free.ImprovementPerUsd(0)));
  EXPECT_GT(free_counts[1], 0.8 * (free_counts[0] + free_counts[1]));
}

TEST(ModelPickerTest, NegativeImprovementCountsAsNone) {
  ModelPicker picker(Spec({1}, Selection::kUcb));
  picker.Record(0, -3.0, 0.01);
  EXPECT_EQ(picker.Stats(0).total_improvement, 0.0);
  EXPECT_EQ(picker.Stats(0).samples, 1);
  EXPECT_EQ(picker.Stats(0).pending, 0) << "a Record without a Pick (a sample from before a resume) counts";
}

TEST(ModelPickerTest, JsonRoundTripPicksIdentically) {
  for (Selection selection : {Selection::kUcb, Selection::kWeighted}) {
    ModelPicker picker(Spec({2, 1, 0.5}, selection));
    std::mt19937_64 history_rng(3);
    for (int i = 0; i < 50; ++i) {
      std::size_t arm = picker.Pick(history_rng);
      picker.Record(arm, arm == 2 ? 0.4 : 0.1, 0.001 * double(arm + 1));
    }
    picker.Pick(history_rng);  // in flight when the run stopped: not stored

    core::Expected<core::Json> stored = core::ParseJson(picker.ToJson().dump(), "test");
    ASSERT_TRUE(stored.ok());
    core::Expected<ModelPicker> restored = ModelPicker::FromJson(*stored);
    ASSERT_TRUE(restored.ok()) << restored.error().ToString();
    EXPECT_EQ(restored->Spec(), picker.Spec());
    for (std::size_t arm = 0; arm < 3; ++arm) {
      EXPECT_EQ(restored->Stats(arm).samples, picker.Stats(arm).samples);
      EXPECT_EQ(restored->Stats(arm).total_improvement, picker.Stats(arm).total_improvement);
      EXPECT_EQ(restored->Stats(arm).total_cost_usd, picker.Stats(arm).total_cost_usd);
      EXPECT_EQ(restored->Stats(arm).pending, 0);
    }

    // With the lost request cancelled, both pick the same from here on.
    for (std::size_t arm = 0; arm < 3; ++arm) {
      while (picker.Stats(arm).pending > 0) picker.Cancel(arm);
    }
    std::mt19937_64 rng_a(11);
    std::mt19937_64 rng_b(11);
    for (int i = 0; i < 200; ++i) {
      std::size_t a = picker.Pick(rng_a);
      std::size_t b = restored->Pick(rng_b);
      ASSERT_EQ(a, b) << SelectionName(selection) << " pick " << i;
      picker.Record(a, 0.05 * double(i % 3), 0.002);
      restored->Record(b, 0.05 * double(i % 3), 0.002);
    }
  }
}

TEST(ModelPickerTest, FromJsonRejectsMalformedState) {
  core::Json good = ModelPicker(Spec({1, 1}, Selection::kUcb)).ToJson();
  ASSERT_TRUE(ModelPicker::FromJson(good).ok());

  core::Json short_arms = good;
  short_arms["arms"].erase(1);
  core::Expected<ModelPicker> a = ModelPicker::FromJson(short_arms);
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(Contains(a.error().message, "one entry per model (2)")) << a.error().message;

  core::Json negative = good;
  negative["arms"][1]["samples"] = -1;
  core::Expected<ModelPicker> b = ModelPicker::FromJson(negative);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.error().message, "arms[1].samples")) << b.error().message;

  core::Json bad_cost = good;
  bad_cost["arms"][0]["total_cost_usd"] = "free";
  core::Expected<ModelPicker> c = ModelPicker::FromJson(bad_cost);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(Contains(c.error().message, "arms[0].total_cost_usd")) << c.error().message;

  core::Expected<ModelPicker> d = ModelPicker::FromJson(core::Json::array());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kValidation);
}

TEST(ModelPickerDeathTest, CancelWithoutAPickIsAProgrammerError) {
  ModelPicker picker(Spec({1, 1}, Selection::kUcb));
  EXPECT_DEATH(picker.Cancel(0), "Cancel without a pending Pick");
}

}  // namespace
}  // namespace kf::llm
