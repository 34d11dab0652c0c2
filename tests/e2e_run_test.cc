// End to end: the real kfoundry binary, a real OpenAI-compatible HTTP server scripted with a
// sequence of kernels, real compiles and sandboxed runs, and the run's real SQLite database.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "core/fs.h"
#include "core/json.h"
#include "core/subprocess.h"
#include "store/store.h"

namespace kf {
namespace {

namespace fs = std::filesystem;
const char* kSecret = "sk-e2e-secret-0123456789";

const char* kBroken = R"(#include <cstdint>
void scale(const float* x, float* y, int32_t n) { this does not compile; }
)";
const char* kCorrectSlowish = R"(#include <cstdint>
void scale(const float* x, float* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) {
    volatile float v = 0.0f;
    for (int rep = 0; rep < 16; ++rep) v = 2.0f * x[i] + 1.0f;
    y[i] = v;
  }
}
)";
const char* kFast = R"(#include <cstdint>
void scale(const float* x, float* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] = 2.0f * x[i] + 1.0f;
}
)";

/// What a scripted server answers to the k-th request (0-based), given the request's system and
/// user messages.
using Answer = std::function<std::string(int k, const std::string& system, const std::string& user)>;

/// An OpenAI-compatible chat server answering by script. Optionally slow, to be killed mid-run.
class ScriptedServer {
 public:
  /// The replies in order; past the script, distinct correct kernels.
  ScriptedServer(std::vector<std::string> replies, int delay_ms)
      : ScriptedServer(
            [replies = std::move(replies)](int k, const std::string&, const std::string&) {
              if (k < static_cast<int>(replies.size())) return replies[k];
              return "```cpp\n#include <cstdint>\nvoid scale(const float* x, float* y, int32_t n) {\n"
                     "  for (int32_t i = 0; i < n; ++i) y[i] = 2.0f * x[i] + 1.0f + 0.0f * " +
                     std::to_string(k) + ".0f;\n}\n```\n";
            },
            delay_ms) {}

  ScriptedServer(Answer answer, int delay_ms) : answer_(std::move(answer)), delay_ms_(delay_ms) {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      std::string auth = req.get_header_value("Authorization");
      std::string system, user;
      if (auto request = core::ParseJson(req.body, "request"); request.ok() && request->contains("messages")) {
        for (const auto& m : (*request)["messages"]) (m["role"] == "system" ? system : user) = m["content"].get<std::string>();
      }
      int k;
      std::string text;
      {
        std::lock_guard lock(mu_);
        k = requests_++;
        auth_ok_ = auth_ok_ && auth == std::string("Bearer ") + kSecret;
        text = answer_(k, system, user);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      core::Json body = {{"id", "chatcmpl-" + std::to_string(k)},
                         {"object", "chat.completion"},
                         {"model", "scripted-model"},
                         {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}}},
                         {"usage", {{"prompt_tokens", 1200}, {"completion_tokens", 300}, {"total_tokens", 1500}}}};
      res.set_content(body.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ScriptedServer() {
    server_.stop();
    thread_.join();
  }
  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  bool AuthOk() {
    std::lock_guard lock(mu_);
    return auth_ok_;
  }

 private:
  httplib::Server server_;
  Answer answer_;
  int delay_ms_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  int requests_ = 0;
  bool auth_ok_ = true;
};

std::string Fenced(const std::string& code) { return "Here is the improved kernel.\n\n```cpp\n" + code + "```\n"; }

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = core::MakeUniqueDir(fs::temp_directory_path() / "kf-e2e", "e");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    run_dir_ = dir_ / "run";
  }
  void TearDown() override { fs::remove_all(dir_); }

  core::SubprocessSpec Kfoundry(std::vector<std::string> args, const ScriptedServer& server) {
    core::SubprocessSpec spec;
    spec.argv = {std::string(KF_BINARY_DIR) + "/kfoundry"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.working_dir = dir_;
    spec.env = {{"OPENAI_BASE_URL", server.BaseUrl()}, {"OPENAI_API_KEY", kSecret},
                {"KF_CACHE_DIR", (dir_ / "cache").string()}, {"KF_LOG", "info"}};
    spec.limits.wall_timeout = std::chrono::minutes(4);
    spec.limits.address_space_bytes = 0;
    spec.limits.output_cap_bytes = 4 << 20;
    return spec;
  }
  std::vector<std::string> StartArgs(int budget) {
    return {"run", std::string(KF_SOURCE_DIR) + "/tests/e2e/slow_scale", "--run-dir", run_dir_.string(),
            "--model", "scripted-model", "--budget", std::to_string(budget), "--concurrency", "1", "-j", "2"};
  }
  std::unique_ptr<store::Store> OpenDb() {
    auto s = store::OpenStore(run_dir_ / "kfoundry.db");
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return std::move(*s);
  }

  fs::path dir_, run_dir_;
};

TEST_F(EndToEnd, RunRecordsEveryCandidateAndExportsTheFastest) {
  ScriptedServer server({Fenced(kBroken), Fenced(kCorrectSlowish), Fenced(kFast)}, 0);
  auto r = core::RunSandboxed(Kfoundry(StartArgs(3), server));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->Succeeded()) << r->Describe() << "\n" << r->stdout_text << r->stderr_text;
  EXPECT_EQ(server.Requests(), 3);
  EXPECT_TRUE(server.AuthOk());

  auto db = OpenDb();
  auto rows = db->Candidates(1);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].origin, "seed");
  EXPECT_EQ((*rows)[0].status, "passed");
  EXPECT_EQ((*rows)[1].status, "compile_error");
  EXPECT_EQ((*rows)[2].status, "passed");
  EXPECT_EQ((*rows)[3].status, "passed");
  EXPECT_GT((*rows)[2].speedup, (*rows)[0].speedup);
  EXPECT_GT((*rows)[3].speedup, (*rows)[2].speedup);
  for (const auto& c : *rows) EXPECT_EQ(db->Evaluations(c.id)->size(), 1u) << "candidate " << c.id;
  auto calls = db->LlmCalls(1);
  ASSERT_EQ(calls->size(), 3u);
  EXPECT_EQ((*calls)[0].input_tokens, 1200);
  EXPECT_EQ((*calls)[0].output_tokens, 300);
  EXPECT_EQ(db->LoadRun()->state, "finished");

  auto best = core::ReadFile(run_dir_ / "best.cpp");
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(*best, kFast);
  auto best_json = core::ReadFile(run_dir_ / "best.json");
  ASSERT_TRUE(best_json.ok());
  EXPECT_EQ(core::ParseJson(*best_json, "best.json")->at("candidate_id").get<int>(), (*rows)[3].id);

  // The key reaches the server and nothing else.
  for (const auto& f : fs::recursive_directory_iterator(run_dir_)) {
    if (!f.is_regular_file()) continue;
    auto bytes = core::ReadFile(f.path());
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(bytes->find(kSecret), std::string::npos) << f.path();
  }
  EXPECT_EQ(r->stderr_text.find(kSecret), std::string::npos);
  EXPECT_EQ(r->stdout_text.find(kSecret), std::string::npos);
}

// A suite (here two copies of the task, as an imported KernelBench level would be): one run per
// task under the root, the field's numbers over each task's best candidate, and a resume that
// continues every task's run with the larger budget.
TEST_F(EndToEnd, SuiteRunEvolvesEveryTaskAndReportsFastP) {
  for (const char* group : {"group_a", "group_b"}) {
    fs::create_directories(dir_ / "suite" / group);
    fs::copy(fs::path(KF_SOURCE_DIR) / "tests/e2e/slow_scale", dir_ / "suite" / group / "slow_scale",
             fs::copy_options::recursive);
  }
  // Task a: a broken kernel, then the fast one; task b: the scripted server's distinct correct kernels.
  ScriptedServer server({Fenced(kBroken), Fenced(kFast)}, 0);
  auto r = core::RunSandboxed(Kfoundry({"run", (dir_ / "suite").string(), "--run-dir", run_dir_.string(), "--model",
                                        "scripted-model", "--budget", "2", "--concurrency", "1", "-j", "2"},
                                       server));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->Succeeded()) << r->Describe() << "\n" << r->stdout_text << r->stderr_text;
  EXPECT_EQ(server.Requests(), 4);
  for (const char* group : {"group_a", "group_b"}) {
    auto db = store::OpenStore(run_dir_ / group / "slow_scale" / "kfoundry.db");
    ASSERT_TRUE(db.ok()) << group;
    EXPECT_EQ((*db)->LlmCalls(1)->size(), 2u) << group;
    EXPECT_EQ((*db)->LoadRun()->state, "finished") << group;
  }
  auto best_a = core::ReadFile(run_dir_ / "group_a" / "slow_scale" / "best.cpp");
  ASSERT_TRUE(best_a.ok());
  EXPECT_EQ(*best_a, kFast);

  auto report = core::ReadFile(run_dir_ / "report.json");
  ASSERT_TRUE(report.ok());
  auto j = core::ParseJson(*report, "report.json");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->at("overall").at("problems").get<int>(), 2);
  EXPECT_EQ(j->at("overall").at("correct").get<int>(), 2);
  EXPECT_EQ(j->at("groups").size(), 2u);
  EXPECT_EQ(j->at("problems").at(0).at("task").get<std::string>(), "group_a/slow_scale");
  EXPECT_EQ(j->at("problems").at(0).at("status").get<std::string>(), "passed");
  EXPECT_NE(r->stdout_text.find("overall         2 problems  correct 100.0%"), std::string::npos) << r->stdout_text;

  // A second start in the same place is refused; a resume adds one iteration to each task.
  auto again = core::RunSandboxed(Kfoundry({"run", (dir_ / "suite").string(), "--run-dir", run_dir_.string()}, server));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 2);
  EXPECT_NE(again->stderr_text.find("already holds a suite run"), std::string::npos) << again->stderr_text;
  auto resumed = core::RunSandboxed(Kfoundry({"run", "--resume", run_dir_.string(), "--budget", "3"}, server));
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE(resumed->Succeeded()) << resumed->Describe() << "\n" << resumed->stdout_text << resumed->stderr_text;
  EXPECT_EQ(server.Requests(), 6);
  for (const char* group : {"group_a", "group_b"}) {
    auto db = store::OpenStore(run_dir_ / group / "slow_scale" / "kfoundry.db");
    ASSERT_TRUE(db.ok()) << group;
    EXPECT_EQ((*db)->LlmCalls(1)->size(), 3u) << group;
  }
}

TEST_F(EndToEnd, KilledRunResumesWithoutLosingOrRepeatingEvaluations) {
  ScriptedServer server({Fenced(kCorrectSlowish)}, 400);
  std::atomic<bool> kill{false};
  core::SubprocessSpec first = Kfoundry(StartArgs(6), server);
  first.cancel = &kill;  // SIGKILL to the whole process group: no chance to clean up
  core::Expected<core::SubprocessResult> first_result = core::MakeError(core::ErrorCode::kInternal, "not run");
  std::thread runner([&] { first_result = core::RunSandboxed(first); });

  // Kill once at least two LLM children have verdicts.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  int evaluated_children = 0;
  while (std::chrono::steady_clock::now() < deadline && evaluated_children < 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!fs::exists(run_dir_ / "kfoundry.db")) continue;
    auto s = store::OpenStore(run_dir_ / "kfoundry.db");
    if (!s.ok()) continue;
    auto rows = (*s)->Candidates(1);
    if (!rows.ok()) continue;
    evaluated_children = 0;
    for (const auto& c : *rows) evaluated_children += c.origin == "llm" && c.status != "pending";
  }
  kill = true;
  runner.join();
  ASSERT_TRUE(first_result.ok());
  ASSERT_EQ(first_result->outcome, core::SubprocessResult::Outcome::kCancelled);
  ASSERT_GE(evaluated_children, 2);

  std::map<std::int64_t, std::string> before;  // candidate -> stored evaluation
  {
    auto db = OpenDb();
    auto rows = db->Candidates(1);
    ASSERT_TRUE(rows.ok());
    for (const auto& c : *rows) {
      auto evals = db->Evaluations(c.id);
      if (!evals->empty()) before[c.id] = evals->front().result_json;
    }
  }
  int requests_before = server.Requests();

  auto second = core::RunSandboxed(Kfoundry({"run", "--resume", run_dir_.string()}, server));
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->Succeeded()) << second->Describe() << "\n" << second->stdout_text << second->stderr_text;

  auto db = OpenDb();
  auto rows = db->Candidates(1);
  auto calls = db->LlmCalls(1);
  EXPECT_EQ(calls->size(), 6u) << "the budget counts calls across both processes";
  EXPECT_LE(server.Requests() - requests_before, 6 - static_cast<int>(before.size()) + 1);
  for (const auto& c : *rows) {
    auto evals = db->Evaluations(c.id);
    ASSERT_EQ(evals->size(), 1u) << "candidate " << c.id << " must be evaluated exactly once";
    if (before.count(c.id)) {
      EXPECT_EQ(evals->front().result_json, before[c.id]) << "evaluation of " << c.id << " kept";
    }
    EXPECT_NE(c.status, "pending");
  }
  for (const auto& [id, json] : before) {
    EXPECT_TRUE(std::any_of(rows->begin(), rows->end(), [&](const auto& c) { return c.id == id; }));
  }
  EXPECT_EQ(db->LoadRun()->state, "finished");
  EXPECT_TRUE(fs::exists(run_dir_ / "best.cpp"));
}

TEST_F(EndToEnd, CtrlCStopsPromptlyWithEverythingSavedAndResumes) {
  ScriptedServer server({Fenced(kCorrectSlowish)}, 4000);  // slow replies: Ctrl-C lands mid-request
  // bash starts kfoundry and sends it SIGINT once the test creates the file `go`.
  core::SubprocessSpec spec = Kfoundry({}, server);
  spec.argv = {"/bin/bash", "-c", "\"$0\" \"$@\" & pid=$!; while [ ! -e go ]; do sleep 0.05; done; "
                                  "kill -INT $pid; wait $pid",
               std::string(KF_BINARY_DIR) + "/kfoundry"};
  for (const std::string& a : StartArgs(4)) spec.argv.push_back(a);
  core::Expected<core::SubprocessResult> r = core::MakeError(core::ErrorCode::kInternal, "not run");
  std::chrono::steady_clock::time_point stopped_at;
  std::thread runner([&] {
    r = core::RunSandboxed(spec);
    stopped_at = std::chrono::steady_clock::now();
  });
  // Interrupt once the seed has its verdict and the first LLM request is on the wire.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  bool seed_done = false;
  while (!seed_done && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (server.Requests() < 1 || !fs::exists(run_dir_ / "kfoundry.db")) continue;
    auto s = store::OpenStore(run_dir_ / "kfoundry.db");
    if (!s.ok()) continue;
    auto rows = (*s)->Candidates(1);
    seed_done = rows.ok() && !rows->empty() && rows->front().status == "passed";
  }
  ASSERT_TRUE(core::WriteFileAtomic(dir_ / "go", "").ok());
  const auto interrupted_at = std::chrono::steady_clock::now();
  runner.join();
  ASSERT_TRUE(seed_done);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 130) << r->stdout_text << r->stderr_text;
  EXPECT_LT(std::chrono::duration<double>(stopped_at - interrupted_at).count(), 3.0)
      << "an in-flight LLM request must not delay the stop";
  EXPECT_NE(r->stdout_text.find("kfoundry run --resume"), std::string::npos) << r->stdout_text;
  {
    auto db = OpenDb();
    EXPECT_EQ(db->LoadRun()->state, "interrupted");
    EXPECT_EQ(db->LlmCalls(1)->size(), 0u) << "the interrupted request was never answered";
  }
  auto second = core::RunSandboxed(Kfoundry({"run", "--resume", run_dir_.string()}, server));
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->Succeeded()) << second->stdout_text << second->stderr_text;
  auto db = OpenDb();
  EXPECT_EQ(db->LlmCalls(1)->size(), 4u);
  auto rows = db->Candidates(1);
  ASSERT_TRUE(rows.ok());
  for (const auto& c : *rows) EXPECT_EQ(db->Evaluations(c.id)->size(), 1u) << "candidate " << c.id;
  EXPECT_EQ(db->LoadRun()->state, "finished");
}

TEST_F(EndToEnd, NoLlmConfiguredEvaluatesTheSeedAndSaysHowToConnect) {
  core::SubprocessSpec spec;
  // A relative run directory: children work in their own directories, so paths must be made absolute.
  spec.argv = {std::string(KF_BINARY_DIR) + "/kfoundry", "run", std::string(KF_SOURCE_DIR) + "/tests/e2e/slow_scale",
               "--run-dir", "run"};
  spec.working_dir = dir_;
  spec.inherit_env = false;
  spec.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", dir_.string()}, {"KF_CACHE_DIR", (dir_ / "cache").string()}};
  spec.limits.wall_timeout = std::chrono::minutes(2);
  spec.limits.address_space_bytes = 0;
  auto r = core::RunSandboxed(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Succeeded()) << r->stdout_text << r->stderr_text;
  EXPECT_NE(r->stdout_text.find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_NE(r->stdout_text.find("best: candidate #1"), std::string::npos) << r->stdout_text;
  auto db = OpenDb();
  ASSERT_EQ(db->Candidates(1)->size(), 1u);
  EXPECT_EQ(db->Candidates(1)->front().status, "passed");
}


/// Answers both kinds of prompt a map-elites run sends: kernel prompts with correct kernels in
/// three optimization styles (serial, OpenMP threads, threads with SIMD and FMA), each distinct,
/// and prompt-engineer prompts with a SEARCH/REPLACE edit of the first line of the pitfalls
/// section shown. Counts the engineer's requests in `engineer` (called under the server's lock).
Answer SearchAnswers(std::shared_ptr<int> engineer) {
  auto kernels = std::make_shared<int>(0);
  return [engineer, kernels](int, const std::string& system, const std::string& user) {
    if (system.find("prompt engineer") != std::string::npos) {
      ++*engineer;
      const std::string header = "## pitfalls\n";
      const auto at = user.find(header);
      const auto end = user.find('\n', at + header.size());
      const std::string line = at == std::string::npos ? "" : user.substr(at + header.size(), end - at - header.size());
      return "Edits:\n<<<<<<< SEARCH\n" + line + "\n=======\n" + line + "\n- E2E-ENGINEER-EDIT " +
             std::to_string(*engineer) + ": handle n not divisible by the vector width.\n>>>>>>> REPLACE\n";
    }
    const int k = ++*kernels;
    const std::string tweak = " + 0.0f * " + std::to_string(k) + ".0f";
    const char* style[] = {"", "#pragma omp parallel for\n", "#pragma omp parallel for simd\n"};
    const std::string body_line = k % 3 == 2 ? "y[i] = std::fma(x[i], 2.0f, 1.0f" + tweak + ");"
                                             : "y[i] = 2.0f * x[i] + 1.0f" + tweak + ";";
    return "```cpp\n#include <cmath>\n#include <cstdint>\nvoid scale(const float* x, float* y, int32_t n) {\n" +
           std::string(style[k % 3]) + "  for (int32_t i = 0; i < n; ++i) " + body_line + "\n}\n```\n";
  };
}

TEST_F(EndToEnd, MapElitesFillsCellsEvolvesPromptsAndComparesWithRefine) {
  auto engineer_requests = std::make_shared<int>(0);
  ScriptedServer server(SearchAnswers(engineer_requests), 0);
  auto run = [&](const fs::path& run_dir, std::vector<std::string> extra) {
    std::vector<std::string> args = {"run",     std::string(KF_SOURCE_DIR) + "/tests/e2e/slow_scale",
                                     "--run-dir", run_dir.string(), "--model", "search-model", "--budget", "9",
                                     "--concurrency", "2", "-j", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return core::RunSandboxed(Kfoundry(args, server));
  };
  auto evolved = run(run_dir_, {"--islands", "2", "--prompt-evolve-every", "3"});
  ASSERT_TRUE(evolved.ok());
  ASSERT_TRUE(evolved->Succeeded()) << evolved->Describe() << "\n" << evolved->stdout_text << evolved->stderr_text;
  EXPECT_NE(evolved->stdout_text.find("search: map-elites"), std::string::npos) << evolved->stdout_text;

  auto db = OpenDb();
  auto rows = db->Candidates(1);
  ASSERT_TRUE(rows.ok());
  std::set<std::string> cells;
  int children = 0;
  for (const auto& c : *rows) {
    auto d = core::ParseJson(c.descriptor_json, "descriptor");
    ASSERT_TRUE(d.ok()) << c.descriptor_json;
    if (c.status == "passed") cells.insert((*d)["cell"].dump());
    if (c.origin != "llm") continue;
    ++children;
    EXPECT_EQ(c.status, "passed") << c.code;
    ASSERT_TRUE(c.parent_id.has_value()) << "candidate " << c.id << " names its parent";
    EXPECT_TRUE(c.prompt_id.has_value());
    EXPECT_TRUE(c.island == 0 || c.island == 1);
  }
  EXPECT_EQ(children, 9);
  EXPECT_GE(cells.size(), 3u) << "serial, threaded and threaded-SIMD kernels sit in different cells";
  auto metrics = db->Metrics(1);
  ASSERT_TRUE(metrics.ok());
  ASSERT_FALSE(metrics->empty());
  EXPECT_GE(metrics->back().coverage, 3.0 / 64);
  // Prompts evolved: the engineer's edits are stored as children of the prompts they edited.
  EXPECT_GE(*engineer_requests, 2);  // the runs have ended: nothing else touches it
  auto prompts = db->Prompts(1);
  ASSERT_TRUE(prompts.ok());
  int edited = 0;
  for (const auto& p : *prompts) {
    if (p.origin != "engineer") continue;
    ++edited;
    EXPECT_TRUE(p.parent_prompt_id.has_value());
    EXPECT_NE(p.sections_json.find("E2E-ENGINEER-EDIT"), std::string::npos);
  }
  EXPECT_GE(edited, 2);
  auto calls = db->LlmCalls(1);
  int engineer_calls = 0;
  for (const auto& c : *calls) engineer_calls += c.purpose == "prompt_engineer";
  EXPECT_EQ(engineer_calls, *engineer_requests);

  // The same budget with refine, then both side by side.
  const fs::path refine_dir = dir_ / "refine";
  auto refined = run(refine_dir, {"--strategy", "refine"});
  ASSERT_TRUE(refined.ok());
  ASSERT_TRUE(refined->Succeeded()) << refined->stdout_text << refined->stderr_text;
  core::SubprocessSpec compare;
  compare.argv = {std::string(KF_BINARY_DIR) + "/kfoundry", "compare", run_dir_.string(), refine_dir.string(),
                  "--target", "0.5,1000", "--json"};
  compare.working_dir = dir_;
  compare.limits.wall_timeout = std::chrono::minutes(1);
  compare.limits.address_space_bytes = 0;
  auto out = core::RunSandboxed(compare);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  ASSERT_TRUE(out->Succeeded()) << out->stderr_text;
  auto j = core::ParseJson(out->stdout_text, "compare --json");
  ASSERT_TRUE(j.ok()) << out->stdout_text;
  ASSERT_EQ(j->size(), 2u);
  EXPECT_EQ((*j)[0]["strategy"], "map-elites");
  EXPECT_EQ((*j)[1]["strategy"], "refine");
  EXPECT_EQ((*j)[0]["kernel_calls"], 9);
  EXPECT_EQ((*j)[1]["kernel_calls"], 9);
  EXPECT_EQ((*j)[1]["engineer_calls"], 0);
  EXPECT_GE((*j)[0]["cells"].get<int>(), 3);
  // The slow seed is far below 0.5x of the reference and the children about as fast as it: the
  // first child at 0.5x or more is the target's candidate, and the calls counted are those up to
  // the one that wrote it. Nothing reaches 1000x.
  const fs::path dirs[2] = {run_dir_, refine_dir};
  for (int k = 0; k < 2; ++k) {
    auto s = store::OpenStore(dirs[k] / "kfoundry.db");
    ASSERT_TRUE(s.ok());
    std::optional<store::CandidateRow> first;
    auto rows = (*s)->Candidates(1);
    auto calls = (*s)->LlmCalls(1);
    ASSERT_TRUE(rows.ok() && calls.ok());
    for (const auto& c : *rows) {
      if (!first && c.status == "passed" && c.speedup >= 0.5) first = c;
    }
    ASSERT_TRUE(first.has_value()) << out->stdout_text;
    ASSERT_TRUE(first->llm_call_id.has_value());
    int calls_until = 0;
    for (const auto& call : *calls) calls_until += call.id <= *first->llm_call_id;
    EXPECT_EQ((*j)[k]["targets"][0]["candidate_id"], first->id) << out->stdout_text;
    EXPECT_EQ((*j)[k]["targets"][0]["llm_calls"], calls_until) << out->stdout_text;
    EXPECT_TRUE((*j)[k]["targets"][1]["llm_calls"].is_null());
  }
}

}  // namespace
}  // namespace kf
