#include "engine/run.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "exec/executor.h"
#include "prompt/prompt.h"

namespace kf::engine {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorCode;
using core::Expected;
using core::Json;

core::Json RunOptions::ToJson() const {
  Json j = {{"task_dir", task_dir.string()},   {"run_dir", run_dir.string()},
            {"strategy", strategy},            {"max_iterations", max_iterations},
            {"max_cost_usd", max_cost_usd},    {"llm_concurrency", llm_concurrency},
            {"compile_workers", compile_workers}, {"model", model},
            {"temperature", temperature},      {"max_tokens", max_tokens},
            {"seed", seed},                    {"history", history}};
  if (timeout_seconds) j["timeout_seconds"] = *timeout_seconds;
  j["profile"] = profile;
  j["sanitize"] = sanitize;
  return j;
}

core::Expected<RunOptions> RunOptions::FromJson(const core::Json& j) {
  try {
    RunOptions o;
    o.task_dir = j.at("task_dir").get<std::string>();
    o.run_dir = j.at("run_dir").get<std::string>();
    o.strategy = j.at("strategy").get<std::string>();
    o.max_iterations = j.at("max_iterations").get<int>();
    o.max_cost_usd = j.at("max_cost_usd").get<double>();
    o.llm_concurrency = j.at("llm_concurrency").get<int>();
    o.compile_workers = j.at("compile_workers").get<int>();
    o.model = j.at("model").get<std::string>();
    o.temperature = j.at("temperature").get<double>();
    o.max_tokens = j.at("max_tokens").get<int>();
    o.seed = j.at("seed").get<std::uint64_t>();
    o.history = j.at("history").get<int>();
    if (j.contains("timeout_seconds")) o.timeout_seconds = j.at("timeout_seconds").get<double>();
    o.profile = j.value("profile", false);
    o.sanitize = j.value("sanitize", false);
    return o;
  } catch (const Json::exception& e) {
    return core::MakeError(ErrorCode::kParse, fmt::format("stored run options are incomplete: {}", e.what()));
  }
}

namespace {

constexpr const char* kPending = "pending";

/// What the loop knows about one candidate (the store holds the full record).
struct CandidateInfo {
  std::int64_t id = 0;
  std::optional<std::int64_t> parent_id;
  std::string code;
  std::string code_hash;
  std::string status = kPending;
  double fitness = 0;
  double speedup = 0;
  std::string feedback;  // eval::FeedbackText of its result, for the next prompt

  /// The loop's view of a stored row (the store fills in "pending" for a row without status).
  static CandidateInfo FromRow(const store::CandidateRow& row) {
    CandidateInfo c;
    c.id = row.id;
    c.parent_id = row.parent_id;
    c.code = row.code;
    c.code_hash = row.code_hash;
    c.status = row.status.empty() ? kPending : row.status;
    c.fitness = row.fitness;
    c.speedup = row.speedup;
    return c;
  }
};

struct LlmDone {
  int iteration = 0;
  std::optional<std::int64_t> parent_id;
  std::string parent_code;
  llm::CompletionRequest request;
  Expected<llm::Completion> completion = core::MakeError(ErrorCode::kInternal, "not run");
};
struct EvalDone {
  std::int64_t candidate_id = 0;
  eval::EvalResult result;
};
using Event = std::variant<LlmDone, EvalDone>;

/// Events from LLM threads and executor threads, consumed by the loop's thread. Shared so a
/// request thread abandoned at shutdown can still post safely.
struct EventQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;

  void Push(Event e) {
    {
      std::lock_guard lock(mu);
      events.push_back(std::move(e));
    }
    cv.notify_all();
  }
  /// Waits up to `wait` for an event.
  std::optional<Event> Pop(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, wait, [this] { return !events.empty(); })) return std::nullopt;
    Event e = std::move(events.front());
    events.pop_front();
    return e;
  }
};

std::string PromptJson(const llm::CompletionRequest& r) {
  Json messages = Json::array();
  for (const auto& m : r.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  return Json{{"system", r.system}, {"messages", messages}}.dump();
}

bool IsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

}  // namespace

struct Run::State {
  RunOptions options;
  task::Task task;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<eval::Evaluator> evaluator;
  std::shared_ptr<llm::LlmClient> llm;
  std::unique_ptr<exec::Executor> executor;
  std::shared_ptr<EventQueue> queue = std::make_shared<EventQueue>();
  std::int64_t run_id = 0;

  std::map<std::int64_t, CandidateInfo> candidates;
  std::map<std::string, std::int64_t> by_hash;  // code hash -> first candidate with that code
  std::optional<std::int64_t> best_id;
  int iterations_started = 0;  // LLM requests issued, including those recorded before a resume
  int llm_in_flight = 0;
  int evals_in_flight = 0;
  double cost_usd = 0;
  std::vector<std::thread> llm_threads;
  std::optional<Error> fatal;
  const std::atomic<bool>* stop = nullptr;
  bool progress_shown = false;

  // --- stages -------------------------------------------------------------------------------
  Expected<void> RestoreFromStore();
  void ResubmitPending();
  Expected<void> EvaluateSeeds();
  void RequestChildren();
  void HandleEvent(Event event);
  void HandleLlmDone(LlmDone done);
  void HandleEvalDone(EvalDone done);
  void FinishInFlight();
  Expected<void> ExportBest();
  RunSummary Summarize(std::string stop_reason) const;

  // --- helpers ------------------------------------------------------------------------------
  bool StopRequested() const { return stop != nullptr && stop->load(); }
  bool CanRequest() const;
  std::string BudgetReason() const;
  Expected<std::int64_t> AddCandidate(store::CandidateRow row);
  void Submit(const CandidateInfo& c);
  const CandidateInfo* ChooseParent() const;
  void UpdateBest(const CandidateInfo& c);
  void ShowProgress(const std::string& event_line);
};

Run::Run(std::unique_ptr<State> state) : s_(std::move(state)) {}
Run::~Run() {
  if (s_) s_->FinishInFlight();
}

namespace {
/// The state both a new and a resumed run start from.
std::unique_ptr<Run::State> MakeState(std::int64_t run_id, RunOptions options, task::Task task, RunDeps deps);
}  // namespace

Expected<std::unique_ptr<Run>> Run::Start(RunOptions options, task::Task task, RunDeps deps) {
  KF_CHECK(deps.store && deps.evaluator) << "a run needs a store and an evaluator";
  store::RunRow row;
  row.name = options.run_dir.filename().string();
  row.task_dir = task.dir.string();
  row.task_name = task.name;
  row.task_hash = task.content_hash;
  row.strategy = options.strategy;
  row.config_json = options.ToJson().dump();
  row.state = "running";
  KF_TRY(std::int64_t run_id, deps.store->CreateRun(row));
  return std::unique_ptr<Run>(new Run(MakeState(run_id, std::move(options), std::move(task), std::move(deps))));
}

Expected<std::unique_ptr<Run>> Run::Resume(task::Task task, RunDeps deps, std::optional<int> max_iterations,
                                           std::optional<double> max_cost_usd) {
  KF_CHECK(deps.store && deps.evaluator) << "a run needs a store and an evaluator";
  KF_TRY(store::RunRow row, deps.store->LoadRun());
  KF_TRY(Json config, core::ParseJson(row.config_json, "the stored run options"));
  KF_TRY(RunOptions options, RunOptions::FromJson(config));
  if (row.task_hash != task.content_hash) {
    core::LogWarn("the task at {} changed since this run started; resuming with the current version",
                  task.dir.string());
  }
  if (max_iterations) options.max_iterations = *max_iterations;
  if (max_cost_usd) options.max_cost_usd = *max_cost_usd;
  auto state = MakeState(row.id, std::move(options), std::move(task), std::move(deps));
  KF_TRY_VOID(state->store->SetRunState(state->run_id, "running"));
  KF_TRY_VOID(state->RestoreFromStore());
  return std::unique_ptr<Run>(new Run(std::move(state)));
}

namespace {
std::unique_ptr<Run::State> MakeState(std::int64_t run_id, RunOptions options, task::Task task, RunDeps deps) {
  auto state = std::make_unique<Run::State>();
  state->run_id = run_id;
  state->options = std::move(options);
  state->task = std::move(task);
  state->store = std::move(deps.store);
  state->evaluator = std::move(deps.evaluator);
  state->llm = std::move(deps.llm);
  state->executor = exec::MakeLocalExecutor(*state->evaluator, state->options.compile_workers);
  return state;
}
}  // namespace

Expected<RunSummary> Run::Execute(const std::atomic<bool>* stop) {
  State& s = *s_;
  s.stop = stop;
  s.ResubmitPending();                 // candidates recorded but not evaluated when the run died
  KF_TRY_VOID(s.EvaluateSeeds());      // the task's seeds are the first parents
  while (!s.fatal && !s.StopRequested()) {
    s.RequestChildren();               // keep llm_concurrency requests in flight from the best parent
    if (s.llm_in_flight == 0 && s.evals_in_flight == 0 && !s.CanRequest()) break;  // budget spent
    if (auto event = s.queue->Pop(std::chrono::milliseconds(100))) s.HandleEvent(std::move(*event));
  }
  std::string reason = s.fatal ? "error" : s.StopRequested() ? "interrupted" : s.BudgetReason();
  s.FinishInFlight();                  // wait for (or, when stopping, cancel) in-flight work
  KF_TRY_VOID(s.ExportBest());         // best.cpp and best.json beside the database
  KF_TRY_VOID(s.store->SetRunState(s.run_id, reason == "interrupted" ? "interrupted" : s.fatal ? "failed" : "finished"));
  if (s.progress_shown) std::fputc('\n', stderr);
  if (s.fatal) return *s.fatal;
  return s.Summarize(reason);
}

// --- stages ---------------------------------------------------------------------------------

Expected<void> Run::State::RestoreFromStore() {
  KF_TRY(std::vector<store::LlmCallRow> calls, store->LlmCalls(run_id));
  iterations_started = static_cast<int>(calls.size());
  for (const auto& c : calls) cost_usd += c.cost_usd;
  KF_TRY(std::vector<store::CandidateRow> rows, store->Candidates(run_id));
  for (const auto& row : rows) {
    CandidateInfo c = CandidateInfo::FromRow(row);
    if (row.status != kPending) {
      KF_TRY(std::vector<store::EvaluationRow> evals, store->Evaluations(row.id));
      if (!evals.empty()) {
        auto j = core::ParseJson(evals.back().result_json, "a stored evaluation");
        if (j.ok()) {
          auto r = eval::EvalResult::FromJson(*j);
          if (r.ok()) c.feedback = eval::FeedbackText(*r);
        }
      }
    }
    by_hash.emplace(c.code_hash, c.id);
    candidates[c.id] = c;
    UpdateBest(c);
  }
  core::LogInfo("resuming run {}: {} LLM calls, {} candidates, best {}", options.run_dir.string(), calls.size(),
                rows.size(), best_id ? fmt::format("#{} at {:.2f}x", *best_id, candidates[*best_id].speedup) : "none");
  return core::Ok();
}

void Run::State::ResubmitPending() {
  for (const auto& [id, c] : candidates) {
    if (c.status == kPending) Submit(c);
  }
}

Expected<void> Run::State::EvaluateSeeds() {
  bool have_seeds = std::any_of(candidates.begin(), candidates.end(), [](const auto& kv) {
    return !kv.second.parent_id.has_value() && kv.second.code_hash.size() > 0;
  });
  if (!have_seeds) {
    for (const auto& seed : task.seeds) {
      store::CandidateRow row;
      row.run_id = run_id;
      row.origin = "seed";
      row.extraction = "seed:" + seed.file;
      row.code = seed.source;
      KF_TRY(std::int64_t id, AddCandidate(row));
      (void)id;
    }
  }
  // Every prompt needs a parent with feedback, so the seeds finish before the first request.
  while (evals_in_flight > 0 && !StopRequested()) {
    if (auto event = queue->Pop(std::chrono::milliseconds(100))) HandleEvent(std::move(*event));
  }
  return core::Ok();
}

void Run::State::RequestChildren() {
  // A child's verdict informs the next prompt, so a request slot frees up only once the child it
  // produced has been evaluated: with concurrency 1 this is the classic refine loop.
  while (CanRequest() && llm_in_flight + evals_in_flight < std::max(1, options.llm_concurrency)) {
    const CandidateInfo* parent = ChooseParent();
    prompt::RefineInput input;
    input.task = &task;
    if (parent != nullptr) input.parent = {parent->code, parent->feedback};
    // The parent's most recent children, so the model does not repeat an attempt that failed.
    std::vector<const CandidateInfo*> children;
    for (const auto& [id, c] : candidates)
      if (parent != nullptr && c.parent_id == parent->id && c.status != kPending) children.push_back(&c);
    std::size_t keep = std::min<std::size_t>(children.size(), static_cast<std::size_t>(std::max(0, options.history)));
    for (std::size_t i = children.size() - keep; i < children.size(); ++i)
      input.history.push_back({children[i]->code, children[i]->feedback});
    prompt::Prompt p = prompt::BuildRefinePrompt(input);

    LlmDone job;
    job.iteration = iterations_started++;
    if (parent != nullptr) {
      job.parent_id = parent->id;
      job.parent_code = parent->code;
    }
    job.request.system = p.system;
    job.request.messages = {{"user", p.user}};
    job.request.temperature = options.temperature;
    job.request.max_tokens = options.max_tokens;
    ++llm_in_flight;
    llm_threads.emplace_back([client = llm, queue = queue, job = std::move(job)]() mutable {
      job.completion = client->Complete(job.request);
      queue->Push(std::move(job));
    });
  }
}

void Run::State::HandleEvent(Event event) {
  if (auto* l = std::get_if<LlmDone>(&event)) {
    HandleLlmDone(std::move(*l));
  } else {
    HandleEvalDone(std::move(std::get<EvalDone>(event)));
  }
}

void Run::State::HandleLlmDone(LlmDone done) {
  --llm_in_flight;
  store::LlmCallRow call;
  call.run_id = run_id;
  call.iteration = done.iteration;
  call.provider = llm->Config().provider == llm::Provider::kAnthropic ? "anthropic" : "openai";
  call.model = llm->Config().model;
  call.prompt_json = PromptJson(done.request);
  prompt::Extraction extraction;
  if (done.completion.ok()) {
    const llm::Completion& c = *done.completion;
    call.model = c.model.empty() ? call.model : c.model;
    call.response = c.text;
    call.input_tokens = c.usage.input_tokens;
    call.output_tokens = c.usage.output_tokens;
    call.cost_usd = c.cost_usd;
    call.latency_ms = c.latency_ms;
    call.attempts = c.attempts;
    extraction = prompt::ExtractCode(c.text, done.parent_code);
    if (!extraction.ok()) {
      call.error = fmt::format("reply unusable ({}): {}", prompt::ExtractKindName(extraction.kind), extraction.error);
    }
  } else {
    call.error = core::Redact(done.completion.error().ToString());
  }
  if (!done.completion.ok() && done.completion.error().code == ErrorCode::kCancelled) {
    --iterations_started;  // never answered: the budget gets it back on --resume
    return;
  }
  cost_usd += call.cost_usd;
  auto call_id = store->InsertLlmCall(call);
  if (!call_id.ok()) {
    fatal = call_id.error();
    return;
  }
  if (!done.completion.ok()) {
    const Error& e = done.completion.error();
    ShowProgress(fmt::format("iteration {}: LLM call failed: {}", done.iteration + 1, core::Redact(e.message)));
    // Retrying cannot fix bad credentials or a wrong model name: stop instead of burning the budget.
    if (e.code == ErrorCode::kAuth || e.code == ErrorCode::kInvalidArgument || e.code == ErrorCode::kNotFound) fatal = e;
    return;
  }
  if (!extraction.ok()) {
    ShowProgress(fmt::format("iteration {}: {}", done.iteration + 1, call.error));
    return;
  }
  store::CandidateRow row;
  row.run_id = run_id;
  row.parent_id = done.parent_id;
  row.llm_call_id = *call_id;
  row.iteration = done.iteration;
  row.origin = "llm";
  row.code = extraction.code;
  row.extraction = std::string(prompt::ExtractKindName(extraction.kind));
  auto id = AddCandidate(row);
  if (!id.ok()) fatal = id.error();
}

void Run::State::HandleEvalDone(EvalDone done) {
  --evals_in_flight;
  auto it = candidates.find(done.candidate_id);
  KF_CHECK(it != candidates.end()) << "result for unknown candidate " << done.candidate_id;
  CandidateInfo& c = it->second;
  // Ctrl-C kills compilers and runners, which turns any stage into a failure; only a pass is
  // trusted then. The candidate stays pending and --resume evaluates it again.
  if (StopRequested() && done.result.status != eval::Status::kPassed) return;
  store::EvaluationRow row;
  row.candidate_id = c.id;
  row.status = std::string(eval::StatusName(done.result.status));
  row.result_json = done.result.ToJson().dump();
  row.total_ms = done.result.phases.total_ms;
  double fitness = done.result.Fitness();
  double speedup = done.result.status == eval::Status::kPassed ? done.result.speedup : 0.0;
  auto recorded = store->RecordEvaluation(row, fitness, speedup);
  if (!recorded.ok()) {
    fatal = recorded.error();
    return;
  }
  c.status = row.status;
  c.fitness = fitness;
  c.speedup = speedup;
  c.feedback = eval::FeedbackText(done.result);
  UpdateBest(c);
  std::string line = fmt::format("candidate #{}: {}", c.id, row.status);
  if (done.result.status == eval::Status::kPassed) line += fmt::format(" {:.2f}x", speedup);
  else if (!done.result.message.empty()) line += " - " + done.result.message.substr(0, 120);
  ShowProgress(line);
}

void Run::State::FinishInFlight() {
  if (executor) executor->Drain();
  while (auto event = queue->Pop(std::chrono::milliseconds(0))) HandleEvent(std::move(*event));
  if (llm_threads.empty()) return;
  // Replies still on the wire: wait for them (their cost is real and gets recorded), but do not
  // hold a stopping run hostage to a slow API.
  auto deadline = std::chrono::steady_clock::now() + (StopRequested() ? std::chrono::seconds(5) : std::chrono::hours(1));
  while (llm_in_flight > 0 && std::chrono::steady_clock::now() < deadline) {
    if (auto event = queue->Pop(std::chrono::milliseconds(100))) HandleEvent(std::move(*event));
  }
  if (executor) executor->Drain();
  while (auto event = queue->Pop(std::chrono::milliseconds(0))) HandleEvent(std::move(*event));
  for (auto& t : llm_threads) {
    if (llm_in_flight == 0) {
      t.join();
    } else {
      t.detach();  // it owns shared pointers to the client and the queue
    }
  }
  llm_threads.clear();
}

Expected<void> Run::State::ExportBest() {
  if (!best_id) return core::Ok();
  const CandidateInfo& best = candidates.at(*best_id);
  KF_TRY(std::vector<store::EvaluationRow> evals, store->Evaluations(best.id));
  Json result = Json::object();
  std::string verdict;
  if (!evals.empty()) {
    KF_TRY(result, core::ParseJson(evals.back().result_json, "the best candidate's evaluation"));
    auto r = eval::EvalResult::FromJson(result);
    if (r.ok()) verdict = eval::HumanVerdict(*r);
  }
  fs::path ext = task.seeds.empty() ? fs::path(task::CandidateExtension(task.backend))
                                    : fs::path(task.seeds.front().file).extension();
  KF_TRY_VOID(core::WriteFileAtomic(options.run_dir / ("best" + ext.string()), best.code));
  Json j = {{"candidate_id", best.id}, {"speedup", best.speedup}, {"fitness", best.fitness},
            {"status", best.status}, {"task", task.name}, {"result", result}};
  KF_TRY_VOID(core::WriteFileAtomic(options.run_dir / "best.json", j.dump(2) + "\n"));
  KF_TRY_VOID(core::WriteFileAtomic(options.run_dir / "best_verdict.txt", verdict));
  return core::Ok();
}

RunSummary Run::State::Summarize(std::string stop_reason) const {
  RunSummary s;
  s.iterations = iterations_started;
  s.candidates = static_cast<int>(candidates.size());
  for (const auto& [id, c] : candidates) {
    if (c.status != kPending) ++s.evaluated;
    if (c.status == "passed") ++s.passed;
  }
  s.cost_usd = cost_usd;
  s.best_candidate_id = best_id;
  if (best_id) s.best_speedup = candidates.at(*best_id).speedup;
  s.stop_reason = std::move(stop_reason);
  return s;
}

// --- helpers --------------------------------------------------------------------------------

bool Run::State::CanRequest() const {
  return llm != nullptr && !fatal && !StopRequested() && BudgetReason().empty();
}

std::string Run::State::BudgetReason() const {
  if (llm == nullptr) return "no llm";
  if (iterations_started >= options.max_iterations) return "iteration budget";
  if (options.max_cost_usd > 0 && cost_usd >= options.max_cost_usd) return "cost budget";
  return "";
}

Expected<std::int64_t> Run::State::AddCandidate(store::CandidateRow row) {
  row.code_hash = core::Sha256Hex(row.code);
  // Identical code is never evaluated twice: it inherits the verdict of its first occurrence.
  auto dup = by_hash.find(row.code_hash);
  bool duplicate = dup != by_hash.end();
  if (duplicate) {
    const CandidateInfo& first = candidates.at(dup->second);
    row.status = first.status == kPending ? "duplicate" : first.status;
    row.fitness = first.fitness;
    row.speedup = first.speedup;
    row.extraction += fmt::format(" (duplicate of #{})", first.id);
  }
  KF_TRY(row.id, store->InsertCandidate(row));
  const std::int64_t id = row.id;
  CandidateInfo c = CandidateInfo::FromRow(row);
  if (duplicate) c.feedback = candidates.at(dup->second).feedback;
  candidates[id] = c;
  if (duplicate) {
    ShowProgress(fmt::format("candidate #{}: same code as #{}, not evaluated again", id, dup->second));
  } else {
    by_hash.emplace(c.code_hash, id);
    Submit(c);
  }
  return id;
}

void Run::State::Submit(const CandidateInfo& c) {
  ++evals_in_flight;
  executor->Submit({c.id, c.code}, [queue = queue](std::int64_t id, eval::EvalResult r) {
    queue->Push(EvalDone{id, std::move(r)});
  });
}

const CandidateInfo* Run::State::ChooseParent() const {
  // refine: improve the best correct kernel; before one exists, repair the most promising.
  if (best_id) return &candidates.at(*best_id);
  const CandidateInfo* pick = nullptr;
  for (const auto& [id, c] : candidates) {
    if (c.status == kPending || c.status == "duplicate") continue;
    if (pick == nullptr || c.fitness >= pick->fitness) pick = &c;
  }
  return pick;
}

void Run::State::UpdateBest(const CandidateInfo& c) {
  if (c.status != "passed") return;
  if (!best_id || c.fitness > candidates.at(*best_id).fitness) best_id = c.id;
}

void Run::State::ShowProgress(const std::string& event_line) {
  std::map<std::string, int> counts;
  for (const auto& [id, c] : candidates) ++counts[c.status];
  std::string statuses;
  for (const auto& [status, n] : counts) statuses += fmt::format(" {} {}", status, n);
  std::string best = best_id ? fmt::format("{:.2f}x", candidates.at(*best_id).speedup) : "-";
  std::string line = fmt::format("[iter {}/{}]{} | best {} | ${:.4f} | in flight {} llm, {} eval",
                                 iterations_started, options.max_iterations, statuses, best, cost_usd,
                                 llm_in_flight, evals_in_flight);
  if (IsTerminal() && core::GetLogLevel() <= core::LogLevel::kInfo) {
    // One live line on a terminal, rewritten in place.
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    progress_shown = true;
  } else {
    core::LogInfo("{} | {}", event_line, line);
  }
}

Expected<RunOptions> LoadRunOptions(const fs::path& run_dir) {
  fs::path db = run_dir / kDbFileName;
  if (!fs::exists(db)) {
    return core::MakeError(ErrorCode::kNotFound, fmt::format("{} has no {}: is it a run directory?", run_dir.string(), kDbFileName));
  }
  KF_TRY(auto store, store::OpenStore(db));
  KF_TRY(store::RunRow row, store->LoadRun());
  KF_TRY(Json config, core::ParseJson(row.config_json, "the stored run options"));
  return RunOptions::FromJson(config);
}

}  // namespace kf::engine
