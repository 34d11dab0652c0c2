// Unit tests of the loop, with a fake LLM client that records prompts and a fake evaluator with
// scripted verdicts; the store is a real SQLite file.
#include "engine/run.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "core/fs.h"
#include "core/hash.h"

namespace kf::engine {
namespace {

namespace fs = std::filesystem;

class FakeLlmClient : public llm::LlmClient {
 public:
  explicit FakeLlmClient(std::deque<std::string> replies) : replies_(std::move(replies)) {
    config_.model = "fake-model";
  }
  core::Expected<llm::Completion> Complete(const llm::CompletionRequest& request) override {
    std::lock_guard lock(mu_);
    prompts.push_back(request.messages.back().content);
    if (replies_.empty()) return core::MakeError(core::ErrorCode::kServer, "script exhausted");
    llm::Completion c;
    c.text = replies_.front();
    replies_.pop_front();
    c.usage = {1000, 500};
    c.cost_usd = 0.01;
    c.priced = true;
    return c;
  }
  const llm::LlmConfig& Config() const override { return config_; }

  std::mutex mu_;
  std::vector<std::string> prompts;

 private:
  std::deque<std::string> replies_;
  llm::LlmConfig config_;
};

/// Verdicts by code: a source containing "SPEED=<x>" passes at x; "BROKEN" fails to compile.
class FakeEvaluator : public eval::Evaluator {
 public:
  eval::Prepared Prepare(const std::string& source) override {
    std::lock_guard lock(mu_);
    ++prepared;
    eval::Prepared p;
    p.ready = source.find("BROKEN") == std::string::npos;
    p.result.code_hash = core::Sha256Hex(source);
    if (!p.ready) {
      p.result.status = eval::Status::kCompileError;
      p.result.message = "candidate.cpp:1:1: error: BROKEN";
    }
    p.binary = source;  // smuggle the source to Measure
    return p;
  }
  eval::EvalResult Measure(const eval::Prepared& p) override {
    if (!p.ready) return p.result;
    std::lock_guard lock(mu_);
    ++measured;
    eval::EvalResult r = p.result;
    std::string source = p.binary.string();
    auto at = source.find("SPEED=");
    if (at == std::string::npos) {
      r.status = eval::Status::kWrongValue;
      r.message = "y: 3 of 10 elements differ";
      return r;
    }
    r.status = eval::Status::kPassed;
    r.speedup = std::stod(source.substr(at + 6));
    if (auto dram = source.find("DRAM="); dram != std::string::npos) {
      eval::KernelProfile k;
      k.kernel_name = "k";
      k.duration_us = 10;
      k.dram_throughput_pct = std::stod(source.substr(dram + 5));
      r.profile.push_back(k);
    }
    return r;
  }
  std::mutex mu_;
  int prepared = 0;
  int measured = 0;
};

std::string Fenced(const std::string& code) { return "Here you go:\n```cpp\n" + code + "\n```\n"; }

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = core::MakeUniqueDir(fs::temp_directory_path() / "kf-run-test", "r");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    task_.dir = dir_;
    task_.name = "toy";
    task_.entry = "toy";
    task_.content_hash = "h";
    task_.args = {{"x", task::ArgRole::kInput, task::DType::kF32, {"n"}},
                  {"y", task::ArgRole::kOutput, task::DType::kF32, {"n"}},
                  {"n", task::ArgRole::kScalar, task::DType::kI32, {}}};
    task_.seeds = {{"seed.cpp", "void toy() { /* naive */ } // SPEED=1.0"}};
    options_.task_dir = dir_;
    options_.run_dir = dir_ / "run";
    options_.strategy = "refine";  // these tests script one lineage; map-elites has its own below
    options_.models = *llm::ParseModelList("fake-model");
    fs::create_directories(options_.run_dir);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunDeps Deps(FakeLlmClient* llm, FakeEvaluator* evaluator) {
    RunDeps deps;
    auto store = store::OpenStore(options_.run_dir / kDbFileName);
    EXPECT_TRUE(store.ok());
    deps.store = std::move(store).value();
    deps.evaluator.reset(evaluator);
    deps.llms = {std::shared_ptr<llm::LlmClient>(llm)};
    return deps;
  }
  std::unique_ptr<store::Store> Reopen() {
    auto s = store::OpenStore(options_.run_dir / kDbFileName);
    EXPECT_TRUE(s.ok());
    return std::move(s).value();
  }

  fs::path dir_;
  task::Task task_;
  RunOptions options_;
};

/// Verdicts by configuration: `#define A a` and `#define B b` pass at 10 - |a - 6| - |b - 3|.
class ConfigEvaluator : public eval::Evaluator {
 public:
  eval::Prepared Prepare(const std::string& source) override {
    eval::Prepared p;
    p.ready = true;
    p.binary = source;
    return p;
  }
  eval::EvalResult Measure(const eval::Prepared& p) override {
    const std::string source = p.binary.string();
    auto value = [&](const std::string& name) {
      const auto at = source.find("#define " + name + " ");
      return at == std::string::npos ? -100 : std::stoi(source.substr(at + 9 + name.size()));
    };
    eval::EvalResult r;
    r.status = eval::Status::kPassed;
    r.speedup = 10.0 - std::abs(value("A") - 6) - std::abs(value("B") - 3);
    r.median_ms = 100.0 / std::max(0.1, r.speedup);
    r.timings = {eval::ShapeTiming{"n=1024", 10, r.median_ms, r.median_ms, 0, 100.0, r.speedup}};
    std::lock_guard lock(mu_);
    seen.push_back({value("A"), value("B")});
    return r;
  }
  std::mutex mu_;
  std::vector<std::pair<int, int>> seen;
};

constexpr const char* kParameterizedSeed =
    "// @param A: 1..8\n// @param B: 1..5\n// @constraint A + B <= 10\nvoid toy() { /* A, B */ }\n";

/// A run without an LLM on the parameterized seed, its verdicts from `evaluator` (owned by the deps).
RunDeps ConfigurationDeps(task::Task& task, RunOptions& options, const fs::path& dir, ConfigEvaluator* evaluator) {
  task.seeds = {{"seed.cpp", kParameterizedSeed}};
  task.shapes = {task::Shape{{{"n", 1024}}, {}, "n=1024"}};
  options.models = {};
  options.strategy = "map-elites";
  RunDeps deps;
  deps.store = store::OpenStore(options.run_dir / kDbFileName).value();
  deps.evaluator.reset(evaluator);
  deps.cache_dir = dir / "cache";
  return deps;
}

TEST_F(RunTest, WithoutAnLlmTheSeedsParametersEvolveThroughTheArchive) {
  auto* evaluator = new ConfigEvaluator();
  RunDeps deps = ConfigurationDeps(task_, options_, dir_, evaluator);
  options_.max_iterations = 20;
  ASSERT_TRUE(EvolvesConfigurations(task_, /*llm_configured=*/false));
  EXPECT_FALSE(EvolvesConfigurations(task_, /*llm_configured=*/true));
  auto run = Run::Start(options_, task_, std::move(deps));
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok()) << summary.error().ToString();
  EXPECT_EQ(summary->stop_reason, "iteration budget");
  EXPECT_EQ(summary->iterations, 20);
  EXPECT_EQ(summary->candidates, 21);
  // The seed ran with its default configuration (3x); the search climbed from there.
  EXPECT_EQ(evaluator->seen.front(), (std::pair<int, int>{1, 1}));
  EXPECT_GE(summary->best_speedup, 9.0);
  auto rows = Reopen()->Candidates(1);
  ASSERT_TRUE(rows.ok());
  std::set<std::string> codes;
  for (const store::CandidateRow& row : *rows) {
    EXPECT_TRUE(codes.insert(row.code).second) << "a configuration is tried once";
    EXPECT_EQ(row.origin, row.id == 1 ? "seed" : "mutation");
    EXPECT_NE(row.code.find("#define A "), std::string::npos);
    if (row.id > 1) {
      EXPECT_TRUE(row.parent_id.has_value());
    }
  }
  for (const auto& [a, b] : evaluator->seen) EXPECT_LE(a + b, 10) << "a configuration the constraint forbids ran";
  auto best = core::ReadFile(options_.run_dir / "best.cpp");
  ASSERT_TRUE(best.ok());
  EXPECT_NE(best->find("#define A "), std::string::npos) << "the best kernel is exported ready to compile";
}

TEST_F(RunTest, ConfigurationEvolutionStopsWhenEveryAllowedConfigurationRanAndResumesCounting) {
  options_.max_iterations = 5;
  {
    RunDeps deps = ConfigurationDeps(task_, options_, dir_, new ConfigEvaluator());
    auto run = Run::Start(options_, task_, std::move(deps));
    ASSERT_TRUE(run.ok()) << run.error().ToString();
    ASSERT_TRUE((*run)->Execute().ok());
  }
  auto* evaluator = new ConfigEvaluator();
  RunDeps deps = ConfigurationDeps(task_, options_, dir_, evaluator);
  auto run = Run::Resume(task_, std::move(deps), /*max_iterations=*/100, std::nullopt);
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok()) << summary.error().ToString();
  // 8 x 5 values less the 6 that break A + B <= 10: 34 configurations, the seed's among them.
  EXPECT_EQ(summary->stop_reason, "every allowed configuration tried");
  EXPECT_EQ(summary->candidates, 34);
  EXPECT_EQ(summary->iterations, 33) << "the first run's 5 mutations count on resume";
  EXPECT_EQ(evaluator->seen.size(), 28u) << "only configurations not run before";
  EXPECT_DOUBLE_EQ(summary->best_speedup, 10.0);
}

TEST_F(RunTest, AParameterizedChildIsTunedBeforeItEntersTheArchiveAndItsTimingsReachThePrompt) {
  // The seed passes and declares nothing: the first prompt asks for parameters. The reply
  // declares A and B; its verdict is its best configuration's, and the next prompt shows them.
  auto* llm = new FakeLlmClient({Fenced(kParameterizedSeed), Fenced("void toy() { /* plain */ }")});
  auto* evaluator = new ConfigEvaluator();
  task_.seeds = {{"seed.cpp", "#define A 1\n#define B 1\nvoid toy() {}\n"}};
  task_.shapes = {task::Shape{{{"n", 1024}}, {}, "n=1024"}};
  options_.max_iterations = 2;
  options_.llm_concurrency = 1;
  options_.tune_budget = 12;
  RunDeps deps = Deps(llm, nullptr);
  deps.evaluator.reset(evaluator);
  deps.cache_dir = dir_ / "cache";
  auto run = Run::Start(options_, task_, std::move(deps));
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok()) << summary.error().ToString();
  ASSERT_EQ(llm->prompts.size(), 2u);
  EXPECT_NE(llm->prompts[0].find("## Tunable parameters"), std::string::npos) << "the seed is correct and fixed";
  auto rows = Reopen()->Candidates(1);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  const store::CandidateRow& tuned = (*rows)[1];
  EXPECT_EQ(tuned.code.rfind(kParameterizedSeed, 0), 0u) << "the candidate is the kernel as written, parameters declared";
  double best_seen = 0;
  for (const auto& [a, b] : evaluator->seen) best_seen = std::max(best_seen, 10.0 - std::abs(a - 6) - std::abs(b - 3));
  EXPECT_DOUBLE_EQ(tuned.speedup, best_seen) << "its fitness is the tuned one";
  EXPECT_GT(tuned.speedup, 3.0) << "better than its default configuration";
  auto evals = Reopen()->Evaluations(tuned.id);
  ASSERT_TRUE(evals.ok());
  ASSERT_EQ(evals->size(), 1u);
  auto verdict = eval::EvalResult::FromJson(core::Json::parse(evals->front().result_json));
  ASSERT_TRUE(verdict.ok());
  EXPECT_EQ(verdict->configuration.rfind("A=", 0), 0u) << verdict->configuration;
  // The default and 12 more, one of which may be the default again (read from the cache).
  const std::size_t tried = std::count_if(evaluator->seen.begin() + 1, evaluator->seen.end(),
                                          [](const auto& ab) { return ab.first > 0; });
  EXPECT_GE(tried, 12u);
  EXPECT_LE(tried, 13u);
  const std::string count = fmt::format("tuning: {} of 34 allowed configurations tried", tried);
  EXPECT_NE(verdict->tuning.find(count), std::string::npos) << verdict->tuning;
  // The second prompt refines the tuned kernel and shows what its configurations did.
  EXPECT_NE(llm->prompts[1].find("configuration: " + verdict->configuration), std::string::npos) << llm->prompts[1];
  EXPECT_NE(llm->prompts[1].find(count), std::string::npos) << llm->prompts[1];
  EXPECT_EQ(llm->prompts[1].find("## Tunable parameters"), std::string::npos) << "it has parameters already";
  auto best = core::ReadFile(options_.run_dir / "best.cpp");
  ASSERT_TRUE(best.ok());
  EXPECT_NE(best->find("#define A "), std::string::npos) << *best;
}

TEST_F(RunTest, KeepsTheFastestCorrectKernelAndExportsIt) {
  auto* llm = new FakeLlmClient({Fenced("void toy() { BROKEN }"), Fenced("void toy() { wrong }"),
                                 Fenced("void toy() { fast } // SPEED=3.5"), Fenced("void toy() { slower } // SPEED=2.0")});
  auto* evaluator = new FakeEvaluator();
  options_.max_iterations = 4;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, evaluator));
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok()) << summary.error().ToString();
  EXPECT_EQ(summary->iterations, 4);
  EXPECT_EQ(summary->candidates, 5);  // the seed and four children
  EXPECT_EQ(summary->passed, 3);
  EXPECT_DOUBLE_EQ(summary->best_speedup, 3.5);
  EXPECT_DOUBLE_EQ(summary->cost_usd, 0.04);
  EXPECT_EQ(summary->stop_reason, "iteration budget");

  auto store = Reopen();
  auto rows = store->Candidates(1);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 5u);
  EXPECT_EQ((*rows)[0].origin, "seed");
  EXPECT_EQ((*rows)[1].status, "compile_error");
  EXPECT_EQ((*rows)[2].status, "wrong_value");
  EXPECT_EQ((*rows)[3].status, "passed");
  EXPECT_EQ(*(*rows)[4].parent_id, (*rows)[3].id) << "the fastest kernel becomes the parent";
  auto best = core::ReadFile(options_.run_dir / "best.cpp");
  ASSERT_TRUE(best.ok());
  EXPECT_NE(best->find("SPEED=3.5"), std::string::npos);
  EXPECT_EQ(store->LoadRun()->state, "finished");
}

TEST_F(RunTest, PromptCarriesTheParentAndItsFeedback) {
  auto* llm = new FakeLlmClient({Fenced("void toy() { BROKEN }"), Fenced("void toy() { x } // SPEED=2")});
  auto* evaluator = new FakeEvaluator();
  options_.max_iterations = 2;
  options_.llm_concurrency = 1;
  task_.seeds = {{"seed.cpp", "void toy() { BROKEN seed }"}};
  auto run = Run::Start(options_, task_, Deps(llm, evaluator));
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE((*run)->Execute().ok());
  ASSERT_EQ(llm->prompts.size(), 2u);
  EXPECT_NE(llm->prompts[0].find("BROKEN seed"), std::string::npos);
  EXPECT_NE(llm->prompts[0].find("candidate.cpp:1:1: error: BROKEN"), std::string::npos)
      << "the parent's compiler error is fed back";
  // The second prompt repairs the best-so-far and shows the failed sibling as history.
  EXPECT_NE(llm->prompts[1].find("void toy() { BROKEN }"), std::string::npos);
}

TEST_F(RunTest, IdenticalCodeIsNotEvaluatedTwice) {
  auto* llm = new FakeLlmClient({Fenced("void toy() { a } // SPEED=2"), Fenced("void toy() { a } // SPEED=2")});
  auto* evaluator = new FakeEvaluator();
  options_.max_iterations = 2;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, evaluator));
  ASSERT_TRUE(run.ok());
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(evaluator->prepared, 2);  // the seed and the first copy
  EXPECT_EQ(summary->passed, 2) << "a duplicate is not counted as a pass of its own";
  auto rows = Reopen()->Candidates(1);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[2].status, "passed");
  EXPECT_NE((*rows)[2].extraction.find("duplicate of"), std::string::npos);
}

TEST_F(RunTest, ReplyWithoutCodeIsRecordedAsUnusable) {
  auto* llm = new FakeLlmClient({"I would use shared memory here.", Fenced("void toy() { b } // SPEED=2")});
  auto* evaluator = new FakeEvaluator();
  options_.max_iterations = 2;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, evaluator));
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE((*run)->Execute().ok());
  auto calls = Reopen()->LlmCalls(1);
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_NE((*calls)[0].error.find("no_code"), std::string::npos) << (*calls)[0].error;
  EXPECT_TRUE((*calls)[1].error.empty());
  EXPECT_EQ(Reopen()->Candidates(1)->size(), 2u);
}

TEST_F(RunTest, CostCapStopsIssuingRequests) {
  std::deque<std::string> replies;
  for (int i = 0; i < 10; ++i) replies.push_back(Fenced("void toy() { v" + std::to_string(i) + " } // SPEED=1.5"));
  auto* llm = new FakeLlmClient(replies);
  auto* evaluator = new FakeEvaluator();
  options_.max_iterations = 10;
  options_.max_cost_usd = 0.03;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, evaluator));
  ASSERT_TRUE(run.ok());
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->stop_reason, "cost budget");
  EXPECT_EQ(summary->iterations, 3);
}

TEST_F(RunTest, ResumeReevaluatesOnlyPendingCandidatesAndKeepsCounting) {
  // A first process recorded a seed (evaluated) and one candidate it never evaluated.
  {
    auto store = Reopen();
    store::RunRow row;
    row.name = "run";
    row.task_hash = "h";
    row.strategy = "refine";
    options_.max_iterations = 1;
    row.config_json = options_.ToJson().dump();
    auto run_id = store->CreateRun(row);
    store::LlmCallRow call;
    call.run_id = *run_id;
    call.cost_usd = 0.01;
    ASSERT_TRUE(store->InsertLlmCall(call).ok());
    store::CandidateRow seed;
    seed.run_id = *run_id;
    seed.origin = "seed";
    seed.code = task_.seeds[0].source;
    auto seed_id = store->InsertCandidate(seed);
    store::EvaluationRow e;
    e.candidate_id = *seed_id;
    e.status = "passed";
    eval::EvalResult r;
    r.status = eval::Status::kPassed;
    r.speedup = 1.0;
    e.result_json = r.ToJson().dump();
    ASSERT_TRUE(store->RecordEvaluation(e, 6.0, 1.0).ok());
    store::CandidateRow child;
    child.run_id = *run_id;
    child.origin = "llm";
    child.parent_id = *seed_id;
    child.code = "void toy() { pending } // SPEED=4";
    ASSERT_TRUE(store->InsertCandidate(child).ok());
  }
  auto* llm = new FakeLlmClient({Fenced("void toy() { more } // SPEED=5")});
  auto* evaluator = new FakeEvaluator();
  auto run = Run::Resume(task_, Deps(llm, evaluator), 2, std::nullopt);
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(evaluator->prepared, 2) << "the pending child and one new child; the seed is not redone";
  EXPECT_EQ(summary->iterations, 2);
  EXPECT_DOUBLE_EQ(summary->best_speedup, 5.0);
  auto store = Reopen();
  auto rows = store->Candidates(1);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  for (const auto& c : *rows) EXPECT_EQ(store->Evaluations(c.id)->size(), 1u) << "candidate " << c.id;
}


// --- map-elites, meta-prompts, ensembles ------------------------------------------------------

/// Kernels in different optimization styles (cpu vocabulary): serial, OpenMP threads, and
/// threads with SIMD and FMA. Each is distinct code; all pass at the given speedup.
std::string Styled(int style, int k) {
  const std::string speed = std::to_string(1.0 + 0.25 * k);
  const std::string tag = " // SPEED=" + speed + " v" + std::to_string(k) + "\n";
  switch (style % 3) {
    case 0: return "void toy() { for (int i = 0; i < " + std::to_string(k + 8) + "; ++i) y[i] = x[i]; }" + tag;
    case 1: return "void toy() {\n#pragma omp parallel for\n  for (int i = 0; i < " + std::to_string(k + 8) + "; ++i) y[i] = x[i];\n}" + tag;
    default: return "void toy() {\n#pragma omp parallel for simd\n  for (int i = 0; i < " + std::to_string(k + 8) +
                    "; ++i) y[i] = std::fma(x[i], 2.0f, 1.0f);\n}" + tag;
  }
}

/// Answers kernel prompts with Styled kernels in turn and prompt-engineer prompts with a
/// SEARCH/REPLACE edit of the first line of the pitfalls section it was shown.
class ScriptedLlm : public llm::LlmClient {
 public:
  /// `first` numbers this client's kernels, so two clients never write the same one.
  explicit ScriptedLlm(std::string model = "fake-model", double cost = 0.01, int first = 1)
      : first_(first), cost_(cost) {
    config_.model = std::move(model);
  }
  core::Expected<llm::Completion> Complete(const llm::CompletionRequest& request) override {
    std::lock_guard lock(mu_);
    llm::Completion c;
    c.usage = {1000, 500};
    c.cost_usd = cost_;
    c.priced = true;
    const std::string& user = request.messages.back().content;
    if (request.system.find("prompt engineer") != std::string::npos) {
      ++engineer_prompts;
      const std::string header = "## pitfalls\n";
      auto at = user.find(header);
      if (at == std::string::npos) return core::MakeError(core::ErrorCode::kServer, "no pitfalls section shown");
      auto line_end = user.find('\n', at + header.size());
      const std::string line = user.substr(at + header.size(), line_end - at - header.size());
      c.text = "<<<<<<< SEARCH\n" + line + "\n=======\n" + line + "\n- EDITED-BY-ENGINEER " +
               std::to_string(engineer_prompts) + ": check the ragged tail.\n>>>>>>> REPLACE\n";
      return c;
    }
    kernel_prompts.push_back(user);
    const int k = first_ + static_cast<int>(kernel_prompts.size()) - 1;
    c.text = Fenced(Styled(k, k));
    return c;
  }
  const llm::LlmConfig& Config() const override { return config_; }

  std::mutex mu_;
  std::vector<std::string> kernel_prompts;
  int engineer_prompts = 0;

 private:
  int first_;
  double cost_;
  llm::LlmConfig config_;
};

TEST_F(RunTest, MapElitesFillsSeveralCellsEvolvesPromptsAndStoresTheLineage) {
  auto* llm = new ScriptedLlm();
  options_.strategy = "map-elites";
  options_.archive.islands = 2;
  options_.prompt_evolve_every = 3;
  options_.max_iterations = 9;
  options_.llm_concurrency = 1;
  RunDeps deps = Deps(nullptr, new FakeEvaluator());
  deps.llms = {std::shared_ptr<llm::LlmClient>(llm)};
  auto run = Run::Start(options_, task_, std::move(deps));
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok()) << summary.error().ToString();
  EXPECT_EQ(summary->iterations, 9);
  EXPECT_GT(summary->coverage, 1.0 / 64) << "more than one cell holds a passing kernel";
  EXPECT_GE(summary->prompt_edits, 1);
  EXPECT_GE(llm->engineer_prompts, summary->prompt_edits);

  auto store = Reopen();
  auto rows = store->Candidates(1);
  ASSERT_TRUE(rows.ok());
  std::set<std::string> cells;
  for (const auto& c : *rows) {
    auto d = core::ParseJson(c.descriptor_json, "descriptor");
    ASSERT_TRUE(d.ok()) << c.descriptor_json;
    cells.insert((*d)["cell"].dump());
    if (c.origin == "llm") {
      EXPECT_TRUE(c.parent_id.has_value()) << "every child names its parent";
      EXPECT_TRUE(c.island.has_value());
      EXPECT_TRUE(c.prompt_id.has_value());
      EXPECT_EQ(c.model, "fake-model");
    }
  }
  EXPECT_GE(cells.size(), 3u);
  // The prompt lineage: the seeds, then engineered children naming their parents and calls.
  auto prompts = store->Prompts(1);
  ASSERT_TRUE(prompts.ok());
  int engineered = 0;
  for (const auto& p : *prompts) {
    if (p.origin != "engineer") continue;
    ++engineered;
    EXPECT_TRUE(p.parent_prompt_id.has_value());
    EXPECT_TRUE(p.llm_call_id.has_value());
    EXPECT_NE(p.sections_json.find("EDITED-BY-ENGINEER"), std::string::npos);
  }
  EXPECT_EQ(engineered, summary->prompt_edits);
  auto calls = store->LlmCalls(1);
  int engineer_calls = 0;
  for (const auto& c : *calls) engineer_calls += c.purpose == "prompt_engineer";
  EXPECT_EQ(engineer_calls, llm->engineer_prompts);
  // An edited prompt is used afterwards: its text reaches a later kernel prompt.
  bool used = false;
  for (const auto& p : llm->kernel_prompts) used = used || p.find("EDITED-BY-ENGINEER") != std::string::npos;
  EXPECT_TRUE(used);
  // Metrics over time, one row per evaluation.
  auto metrics = store->Metrics(1);
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(static_cast<int>(metrics->size()), summary->evaluated);
  EXPECT_LE(metrics->front().coverage, metrics->back().coverage);
}

TEST_F(RunTest, ResumeRestoresTheArchivePromptsAndModelStatisticsExactly) {
  options_.strategy = "map-elites";
  options_.archive.islands = 3;
  options_.prompt_evolve_every = 2;
  options_.max_iterations = 6;
  options_.llm_concurrency = 2;
  std::map<std::string, std::string> saved;
  {
    RunDeps deps = Deps(nullptr, new FakeEvaluator());
    deps.llms = {std::make_shared<ScriptedLlm>()};
    auto run = Run::Start(options_, task_, std::move(deps));
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE((*run)->Execute().ok());
  }
  auto before = Reopen()->SearchState(1);
  ASSERT_TRUE(before.ok());
  for (const auto& e : *before) saved[e.key] = e.json;
  ASSERT_EQ(saved.size(), 6u);  // strategy, tally, prompts, models, rng, evaluations
  auto archive = core::ParseJson(saved["strategy"], "strategy");
  ASSERT_TRUE(archive.ok());
  EXPECT_GT((*archive)["archive"]["islands"][1]["elites"].size(), 0u) << "the seeds reached every island";

  // Resuming with the budget already spent restores and saves the search again: unchanged.
  RunDeps deps = Deps(nullptr, new FakeEvaluator());
  auto llm = std::make_shared<ScriptedLlm>();
  deps.llms = {llm};
  auto run = Run::Resume(task_, std::move(deps), std::nullopt, std::nullopt);
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(llm->kernel_prompts.size(), 0u);
  std::map<std::string, std::string> after;
  auto now = Reopen()->SearchState(1);
  ASSERT_TRUE(now.ok());
  for (const auto& e : *now) after[e.key] = e.json;
  for (const auto& [key, json] : saved) EXPECT_EQ(after[key], json) << key;
}

TEST_F(RunTest, AfterACrashTheVerdictsSinceTheLastSnapshotAreReplayed) {
  options_.strategy = "map-elites";
  options_.archive.islands = 2;
  options_.archive.migration_interval = 0;  // migrations happen when sampling, which is not replayed
  options_.prompt_evolve_every = 0;
  options_.max_iterations = 3;
  options_.llm_concurrency = 2;
  auto state = [&] {
    std::map<std::string, std::string> m;
    auto store = Reopen();
    auto entries = store->SearchState(1);
    EXPECT_TRUE(entries.ok());
    for (const auto& e : *entries) m[e.key] = e.json;
    return m;
  };
  auto execute = [&](std::optional<int> max_iterations) {
    RunDeps deps = Deps(nullptr, new FakeEvaluator());
    deps.llms = {std::make_shared<ScriptedLlm>()};
    auto run = max_iterations ? Run::Resume(task_, std::move(deps), max_iterations, std::nullopt)
                              : Run::Start(options_, task_, std::move(deps));
    ASSERT_TRUE(run.ok()) << run.error().ToString();
    ASSERT_TRUE((*run)->Execute().ok());
  };
  execute(std::nullopt);
  const std::map<std::string, std::string> early = state();
  execute(9);
  const std::map<std::string, std::string> late = state();
  ASSERT_NE(early.at("strategy"), late.at("strategy"));
  ASSERT_LT(std::stoi(early.at("evaluations")), std::stoi(late.at("evaluations")));

  // The run died after its last verdict with the early snapshot as the last one written.
  store::SearchUpdate rollback;
  for (const auto& [key, json] : early) rollback.state.push_back({key, json});
  ASSERT_TRUE(Reopen()->SaveSearch(1, rollback).ok());
  execute(9);  // no budget left: restores (replaying) and saves
  const std::map<std::string, std::string> replayed = state();
  for (const char* key : {"tally", "evaluations"}) EXPECT_EQ(replayed.at(key), late.at(key)) << key;
  // Elites, populations and moves as the live run left them; the sampling counter (island
  // rotation) restarts from the snapshot's.
  auto without_samples = [](const std::string& json) {
    core::Json j = *core::ParseJson(json, "strategy");
    j["archive"].erase("samples");
    return j;
  };
  EXPECT_EQ(without_samples(replayed.at("strategy")), without_samples(late.at("strategy")));
  EXPECT_NE(without_samples(early.at("strategy")), without_samples(late.at("strategy")));
  // The prompts' credits follow from the candidates, whatever snapshot is restored.
  auto credited = [](const std::string& json) {
    std::vector<std::pair<std::int64_t, std::int64_t>> children;
    const core::Json parsed = *core::ParseJson(json, "prompts");
    for (const auto& e : parsed.at("prompts")) {
      children.emplace_back(e.at("id").get<std::int64_t>(), e.at("uses").get<std::int64_t>());
    }
    return children;
  };
  EXPECT_EQ(credited(replayed.at("prompts")), credited(early.at("prompts"))) << "uses come from the snapshot";

  // A damaged count is reported, not guessed at.
  rollback.state = {{"evaluations", "\"many\""}};
  ASSERT_TRUE(Reopen()->SaveSearch(1, rollback).ok());
  RunDeps deps = Deps(nullptr, new FakeEvaluator());
  deps.llms = {std::make_shared<ScriptedLlm>()};
  auto damaged = Run::Resume(task_, std::move(deps), std::nullopt, std::nullopt);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.error().message.find("'evaluations' is not a count"), std::string::npos) << damaged.error().message;
}

TEST_F(RunTest, RenamedOrReformattedCodeIsNotEvaluatedAgain) {
  auto* llm = new FakeLlmClient({Fenced("void toy() { int a = 1; y[0] = a; } // SPEED=2"),
                                 Fenced("void toy()\n{\n  int b = 1;   // same kernel\n  y[0] = b;\n} // SPEED=2"),
                                 Fenced("void toy() { int a = 2; y[0] = a; } // SPEED=2")});
  auto* evaluator = new FakeEvaluator();
  options_.max_iterations = 3;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, evaluator));
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE((*run)->Execute().ok());
  EXPECT_EQ(evaluator->prepared, 3) << "the seed, the first kernel and the one with another constant";
  auto store = Reopen();
  auto rows = store->Candidates(1);
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_NE((*rows)[2].extraction.find("duplicate of #2"), std::string::npos);
  EXPECT_EQ(store->LlmCalls(1)->size(), 3u) << "the duplicate's LLM call is still recorded";
}

TEST_F(RunTest, CodeDefiningAnotherNameThanTheEntryIsNotADuplicateOfTheEntry) {
  auto* llm = new FakeLlmClient({Fenced("void toy() { helper(); } // SPEED=2"),
                                 Fenced("void not_the_entry() { helper(); } // SPEED=3")});
  auto* evaluator = new FakeEvaluator();
  options_.max_iterations = 2;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, evaluator));
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE((*run)->Execute().ok());
  EXPECT_EQ(evaluator->prepared, 3) << "both children are evaluated: only one defines the entry";
}

TEST_F(RunTest, BestOfNSamplesNeverSeeEachOther) {
  std::deque<std::string> replies;
  for (int i = 0; i < 4; ++i) replies.push_back(Fenced("void toy() { SIBLING_" + std::to_string(i) + "(); } // SPEED=2"));
  auto* llm = new FakeLlmClient(replies);
  options_.strategy = "best-of-n";
  options_.max_iterations = 4;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, new FakeEvaluator()));
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE((*run)->Execute().ok());
  ASSERT_EQ(llm->prompts.size(), 4u);
  for (const std::string& p : llm->prompts) {
    EXPECT_NE(p.find("naive"), std::string::npos) << "every sample starts from the seed";
    EXPECT_EQ(p.find("SIBLING_"), std::string::npos) << p;
  }
  auto rows = Reopen()->Candidates(1);
  for (const auto& c : *rows) {
    if (c.origin == "llm") {
      EXPECT_EQ(c.parent_id, 1);
    }
  }
}

TEST_F(RunTest, HostileRepliesAreRecordedWithoutHarm) {
  // A server reporting a negative cost, then a reply far too long to be a kernel.
  auto liar = std::make_shared<ScriptedLlm>("liar", -5.0);
  auto* llm = new FakeLlmClient({Fenced("void toy() { " + std::string(300 * 1024, ' ') + "x(); } // SPEED=2")});
  options_.models = *llm::ParseModelList("liar,fake-model");
  options_.strategy = "best-of-n";
  options_.max_iterations = 3;
  options_.max_cost_usd = 1.0;
  options_.llm_concurrency = 1;
  RunDeps deps = Deps(nullptr, new FakeEvaluator());
  deps.llms = {liar, std::shared_ptr<llm::LlmClient>(llm)};
  auto run = Run::Start(options_, task_, std::move(deps));
  ASSERT_TRUE(run.ok());
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok()) << summary.error().ToString();
  EXPECT_GE(summary->cost_usd, 0.0) << "a negative cost must not lift the spending cap";
  bool oversize_rejected = false;
  auto calls = Reopen()->LlmCalls(1);  // kept alive: a range-for over *temporary would dangle
  ASSERT_TRUE(calls.ok());
  for (const auto& c : *calls) {
    EXPECT_GE(c.cost_usd, 0.0);
    oversize_rejected = oversize_rejected || c.error.find("the limit is 256 KiB") != std::string::npos;
  }
  EXPECT_TRUE(oversize_rejected);
}

TEST_F(RunTest, AnEnsembleSpreadsSamplesOverItsModelsAndRecordsWhoWroteWhat) {
  options_.strategy = "best-of-n";
  options_.models = *llm::ParseModelList("cheap@1,dear@1");
  options_.models.selection = llm::Selection::kUcb;
  options_.max_iterations = 8;
  options_.llm_concurrency = 1;
  auto cheap = std::make_shared<ScriptedLlm>("cheap", 0.001);
  auto dear = std::make_shared<ScriptedLlm>("dear", 0.5, 100);
  RunDeps deps = Deps(nullptr, new FakeEvaluator());
  deps.llms = {cheap, dear};
  auto run = Run::Start(options_, task_, std::move(deps));
  ASSERT_TRUE(run.ok());
  auto summary = (*run)->Execute();
  ASSERT_TRUE(summary.ok());
  // Both are tried; the one with more improvement per dollar gets most of the rest.
  EXPECT_GE(dear->kernel_prompts.size(), 1u);
  EXPECT_GT(cheap->kernel_prompts.size(), dear->kernel_prompts.size());
  auto store = Reopen();
  int by_cheap = 0;
  auto rows = store->Candidates(1);
  ASSERT_TRUE(rows.ok());
  for (const auto& c : *rows) by_cheap += c.model == "cheap";
  EXPECT_EQ(by_cheap, static_cast<int>(cheap->kernel_prompts.size()));
  std::map<std::string, std::string> state;
  auto entries = store->SearchState(1);
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) state[e.key] = e.json;
  auto picker = llm::ModelPicker::FromJson(*core::ParseJson(state["models"], "models"));
  ASSERT_TRUE(picker.ok());
  EXPECT_EQ(picker->Stats(0).samples + picker->Stats(1).samples, 8);
}

TEST_F(RunTest, ProfileAxesPlaceEqualCodeByItsMeasuredBehaviour) {
  auto* llm = new FakeLlmClient({Fenced("void toy() { a } // SPEED=2 DRAM=80"), Fenced("void toy() { b } // SPEED=2 DRAM=20")});
  options_.strategy = "map-elites";
  options_.meta_prompts = false;
  options_.archive = options_.archive.WithProfileAxes({*search::ProfileAxis::Parse("dram_throughput_pct:50")});
  options_.max_iterations = 2;
  options_.llm_concurrency = 1;
  auto run = Run::Start(options_, task_, Deps(llm, new FakeEvaluator()));
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  ASSERT_TRUE((*run)->Execute().ok());
  auto state = Reopen()->SearchState(1);
  ASSERT_TRUE(state.ok());
  std::string tally;
  for (const auto& e : *state) {
    if (e.key == "tally") tally = e.json;
  }
  auto j = core::ParseJson(tally, "tally");
  ASSERT_TRUE(j.ok());
  std::set<std::string> cells;
  for (const auto& e : (*j)["islands"][0]["elites"]) cells.insert(e[3].dump());  // [id, fitness, passed, cell]
  // The seed (not profiled) and the 20% kernel at level 0, the 80% kernel at level 1.
  EXPECT_EQ(cells, (std::set<std::string>{"[0,0,0,0]", "[0,0,0,1]"}));
  EXPECT_EQ(llm->prompts.size(), 2u);
}

}  // namespace
}  // namespace kf::engine
