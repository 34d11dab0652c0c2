// Unit tests of the loop, with a fake LLM client that records prompts and a fake evaluator with
// scripted verdicts; the store is a real SQLite file.
#include "engine/run.h"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <mutex>

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
    fs::create_directories(options_.run_dir);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunDeps Deps(FakeLlmClient* llm, FakeEvaluator* evaluator) {
    RunDeps deps;
    auto store = store::OpenStore(options_.run_dir / kDbFileName);
    EXPECT_TRUE(store.ok());
    deps.store = std::move(store).value();
    deps.evaluator.reset(evaluator);
    deps.llm.reset(llm);
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

}  // namespace
}  // namespace kf::engine
