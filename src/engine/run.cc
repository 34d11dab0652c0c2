#include "engine/run.h"

#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <variant>

#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "engine/tune_kernel.h"
#include "exec/executor.h"
#include "prompt/meta_prompt.h"
#include "prompt/prompt.h"
#include "search/descriptor.h"
#include "search/code_text.h"
#include "search/strategy.h"
#include "tune/space.h"

namespace kf::engine {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorCode;
using core::Expected;
using core::Json;

core::Json RunOptions::ToJson() const {
  Json j = {{"task_dir", task_dir.string()},   {"run_dir", run_dir.string()},
            {"strategy", strategy},            {"meta_prompts", meta_prompts},
            {"archive", archive.ToJson()},     {"prompt_evolve_every", prompt_evolve_every},
            {"max_iterations", max_iterations}, {"max_cost_usd", max_cost_usd},
            {"llm_concurrency", llm_concurrency}, {"compile_workers", compile_workers},
            {"temperature", temperature},      {"max_tokens", max_tokens},
            {"seed", seed},                    {"history", history}};
  if (!models.models.empty()) j["models"] = models.ToJson();
  if (timeout_seconds) j["timeout_seconds"] = *timeout_seconds;
  j["profile"] = profile;
  j["sanitize"] = sanitize;
  j["tune_budget"] = tune_budget;
  return j;
}

core::Expected<RunOptions> RunOptions::FromJson(const core::Json& j) {
  try {
    RunOptions o;
    o.task_dir = j.at("task_dir").get<std::string>();
    o.run_dir = j.at("run_dir").get<std::string>();
    o.strategy = j.at("strategy").get<std::string>();
    o.meta_prompts = j.value("meta_prompts", o.meta_prompts);
    if (j.contains("archive")) {
      KF_TRY(o.archive, search::ArchiveOptions::FromJson(j.at("archive")));
    }
    o.prompt_evolve_every = j.value("prompt_evolve_every", o.prompt_evolve_every);
    o.max_iterations = j.at("max_iterations").get<int>();
    o.max_cost_usd = j.at("max_cost_usd").get<double>();
    o.llm_concurrency = j.at("llm_concurrency").get<int>();
    o.compile_workers = j.at("compile_workers").get<int>();
    if (j.contains("models")) {
      KF_TRY(o.models, llm::EnsembleSpec::FromJson(j.at("models")));
    } else if (std::string model = j.value("model", ""); !model.empty()) {
      KF_TRY(o.models, llm::ParseModelList(model));  // runs stored before ensembles
    }
    o.temperature = j.at("temperature").get<double>();
    o.max_tokens = j.at("max_tokens").get<int>();
    o.seed = j.at("seed").get<std::uint64_t>();
    o.history = j.at("history").get<int>();
    if (j.contains("timeout_seconds")) o.timeout_seconds = j.at("timeout_seconds").get<double>();
    o.profile = j.value("profile", false);
    o.sanitize = j.value("sanitize", false);
    o.tune_budget = j.value("tune_budget", o.tune_budget);
    return o;
  } catch (const Json::exception& e) {
    return core::MakeError(ErrorCode::kParse, fmt::format("stored run options are incomplete: {}", e.what()));
  }
}

namespace {

constexpr const char* kPending = "pending";
constexpr const char* kMutationOrigin = "mutation";

/// What the loop knows about one candidate (the store holds the full record).
struct CandidateInfo {
  std::int64_t id = 0;
  std::optional<std::int64_t> parent_id;
  std::string code;
  std::string novelty_hash;  // of search::NormalizedForNovelty: equal for renamed or reformatted code
  std::string status = kPending;
  double fitness = 0;
  double speedup = 0;
  std::string feedback;  // eval::FeedbackText of its result, for the next prompt
  std::vector<int> cell;  // descriptor levels
  std::optional<int> island;
  std::optional<std::int64_t> prompt_id;
  std::optional<std::int64_t> llm_call_id;
  std::string model;
  bool duplicate = false;  // same code as an earlier candidate, never evaluated
  bool seed = false;       // one of the task's seeds

  /// The loop's view of a stored row, without what the loop derives (novelty hash, cell,
  /// feedback).
  static CandidateInfo FromRow(const store::CandidateRow& row) {
    CandidateInfo c;
    c.id = row.id;
    c.parent_id = row.parent_id;
    c.code = row.code;
    c.status = row.status.empty() ? kPending : row.status;
    c.fitness = row.fitness;
    c.speedup = row.speedup;
    c.island = row.island;
    c.prompt_id = row.prompt_id;
    c.llm_call_id = row.llm_call_id;
    c.model = row.model;
    c.duplicate = row.extraction.find(store::kDuplicateMark) != std::string::npos;
    c.seed = row.origin == "seed";
    return c;
  }

  bool Evaluated() const { return status != kPending && !duplicate; }
  search::Evaluated ForSearch() const {
    return search::Evaluated{id, parent_id, cell, fitness, status == "passed", island, seed};
  }
};

/// The descriptor as stored with the candidate: the cell and each axis's level and evidence.
Json DescriptorJson(const search::CodeDescriptor& d) {
  Json j = {{"cell", d.Levels()}};
  for (search::Axis axis : {search::Axis::kMemory, search::Axis::kCompute, search::Axis::kParallelism}) {
    const search::AxisLevel& level = d.At(axis);
    j[std::string(search::AxisName(axis))] = {{"level", level.level}, {"evidence", level.evidence}};
  }
  return j;
}

/// The profile metrics an archive axis may use, and where each sits in a kernel's profile.
struct ProfileAxisMetric {
  std::string_view name;
  double (*read)(const eval::KernelProfile&);
};
constexpr ProfileAxisMetric kProfileAxisMetrics[] = {
    {"dram_throughput_pct", [](const eval::KernelProfile& k) { return k.dram_throughput_pct; }},
    {"compute_throughput_pct", [](const eval::KernelProfile& k) { return k.compute_throughput_pct; }},
    {"achieved_occupancy_pct", [](const eval::KernelProfile& k) { return k.achieved_occupancy_pct; }},
    {"registers_per_thread", [](const eval::KernelProfile& k) { return double(k.registers_per_thread); }},
    {"shared_memory_bytes", [](const eval::KernelProfile& k) { return double(k.shared_memory_bytes); }},
};

const ProfileAxisMetric* FindProfileAxisMetric(std::string_view name) {
  for (const ProfileAxisMetric& m : kProfileAxisMetrics) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

/// A profile metric over the candidate's kernels, weighted by their durations; nullopt when it
/// was not profiled (or the metric is unknown).
std::optional<double> ProfileMetric(const eval::EvalResult& r, const std::string& metric) {
  const ProfileAxisMetric* m = FindProfileAxisMetric(metric);
  if (m == nullptr) return std::nullopt;
  double weighted = 0, total_us = 0;
  for (const eval::KernelProfile& k : r.profile) {
    const double w = std::max(k.duration_us, 1e-3);
    weighted += w * m->read(k);
    total_us += w;
  }
  if (total_us == 0) return std::nullopt;
  return weighted / total_us;
}

/// What a sample cost the model statistics: llm::BanditCostUsd, never negative (a server's
/// numbers are not trusted).
double SampleCost(const llm::Completion& c) { return std::max(0.0, llm::BanditCostUsd(c)); }

/// Larger extracted code is an unusable reply: a kernel this long is not a kernel, and the
/// descriptor and novelty passes run on the loop's thread.
constexpr std::size_t kMaxCandidateBytes = 256 * 1024;
/// Larger prompt-engineer replies are rejected unread.
constexpr std::size_t kMaxEngineerReplyBytes = 64 * 1024;

enum class Purpose { kKernel, kPromptEngineer };

struct LlmDone {
  Purpose purpose = Purpose::kKernel;
  int iteration = 0;
  std::size_t arm = 0;  // the model (RunOptions::models index)
  search::SamplePlan plan;
  std::optional<std::int64_t> prompt_id;  // kernel: the meta-prompt used; engineer: the one edited
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

/// LLM requests run on a few long-lived threads, one per request slot, each reply posted as an
/// event. (A thread per request cost more than everything else the loop does per sample.)
class RequestPool {
 public:
  RequestPool(int threads, std::vector<std::shared_ptr<llm::LlmClient>> clients, std::shared_ptr<EventQueue> events)
      : shared_(std::make_shared<Shared>()) {
    shared_->clients = std::move(clients);
    shared_->events = std::move(events);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([shared = shared_] { Work(*shared); });
  }
  ~RequestPool() { Close(/*join=*/true); }

  void Submit(LlmDone job) {
    {
      std::lock_guard lock(shared_->mu);
      shared_->jobs.push_back(std::move(job));
    }
    shared_->cv.notify_one();
  }

  /// Stops the workers once the queue is empty. `join` false: workers still inside a request are
  /// left to finish on their own (they share ownership of the clients and the event queue).
  void Close(bool join) {
    {
      std::lock_guard lock(shared_->mu);
      shared_->closing = true;
    }
    shared_->cv.notify_all();
    for (std::thread& t : threads_) {
      if (join) {
        t.join();
      } else {
        t.detach();
      }
    }
    threads_.clear();
  }

 private:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<LlmDone> jobs;
    bool closing = false;
    std::vector<std::shared_ptr<llm::LlmClient>> clients;
    std::shared_ptr<EventQueue> events;
  };

  static void Work(Shared& shared) {
    for (;;) {
      LlmDone job;
      {
        std::unique_lock lock(shared.mu);
        shared.cv.wait(lock, [&] { return shared.closing || !shared.jobs.empty(); });
        if (shared.jobs.empty()) return;
        job = std::move(shared.jobs.front());
        shared.jobs.pop_front();
      }
      job.completion = shared.clients[job.arm]->Complete(job.request);
      shared.events->Push(std::move(job));
    }
  }

  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
};

std::string PromptJson(const llm::CompletionRequest& r) {
  Json messages = Json::array();
  for (const auto& m : r.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  return Json{{"system", r.system}, {"messages", messages}}.dump();
}

bool IsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::string RngState(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

// Keys of the search state in the store.
constexpr const char* kStrategyKey = "strategy";
constexpr const char* kTallyKey = "tally";
constexpr const char* kPromptsKey = "prompts";
constexpr const char* kModelsKey = "models";
constexpr const char* kRngKey = "rng";
constexpr const char* kAppliedKey = "evaluations";  // how many evaluations the snapshot includes

/// The search snapshot is written with an evaluation once this many evaluations or this much time
/// passed since the last one (and always at prompt edits and stops). Building and writing it was
/// a third of the loop's cost per evaluation. A run resumed after a crash replays the verdicts
/// recorded since (search::Strategy::Record is deterministic), so no verdict is lost; what
/// sampling changed since (island rotation, a due migration, prompt uses, the generator) starts
/// again from the snapshot.
constexpr int kSnapshotEvery = 16;
constexpr std::chrono::seconds kSnapshotInterval{5};

}  // namespace

struct Run::State {
  RunOptions options;
  task::Task task;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<eval::Evaluator> evaluator;
  std::vector<std::shared_ptr<llm::LlmClient>> llms;
  std::unique_ptr<exec::Executor> executor;
  std::shared_ptr<EventQueue> queue = std::make_shared<EventQueue>();
  std::filesystem::path cache_dir;
  std::optional<TuneDevice> tune_device;  // asked on the first parameterized candidate or mutation
  std::map<std::int64_t, std::thread> tunings;  // by candidate: each ends by posting its verdict
  /// No LLM, and seeds that declare parameters: children are their parents' kernels with other
  /// parameter values (MutateConfigurations).
  bool evolves_configurations = false;
  bool configurations_exhausted = false;  // no untried allowed configuration was found
  std::map<std::string, tune::ParamSpace> spaces;  // by declared source, parsed once
  std::int64_t run_id = 0;

  // The search: where the next samples come from, and what it learned.
  std::unique_ptr<search::Strategy> strategy;
  /// Every evaluated candidate on one island: QD score and coverage alike for every strategy.
  std::unique_ptr<search::Archive> tally;
  std::optional<prompt::MetaPromptPopulation> prompts;  // map-elites with meta-prompts
  std::optional<llm::ModelPicker> picker;
  std::mt19937_64 rng;

  std::map<std::int64_t, CandidateInfo> candidates;
  std::map<std::int64_t, std::vector<std::int64_t>> children_of;  // in id order
  std::map<std::string, std::int64_t> by_novelty;  // novelty hash -> first candidate with that code
  std::map<std::string, int> status_counts;
  std::map<std::int64_t, double> costs_pending;  // candidate -> its sample's cost, until its verdict reaches the picker
  std::optional<std::int64_t> best_id;
  int evaluated = 0;
  int iterations_started = 0;  // kernel requests issued, including those recorded before a resume
  int llm_in_flight = 0;       // kernel requests
  bool engineer_in_flight = false;
  int evals_in_flight = 0;
  int prompt_edits = 0;
  double cost_usd = 0;
  double elapsed_before_s = 0;  // wall time of earlier processes of this run (from its metrics)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  double started_cpu_ms = 0;
  double wait_ms = 0;  // the loop's time blocked on the event queue
  double steady_ms = 0;  // RunSummary::steady_ms
  std::unique_ptr<RequestPool> requests;  // null when no LLM is configured
  std::optional<Error> fatal;
  const std::atomic<bool>* stop = nullptr;
  bool progress_shown = false;
  int snapshot_evaluations = 0;  // evaluations included in the last snapshot written
  std::chrono::steady_clock::time_point snapshot_at = std::chrono::steady_clock::now();

  // --- stages -------------------------------------------------------------------------------
  Expected<void> StartSearch();
  Expected<void> RecordNewSearch();
  Expected<void> RestoreFromStore();
  void ResubmitPending();
  Expected<void> EvaluateSeeds();
  void EvolvePrompts();
  void RequestChildren();
  void MutateConfigurations();
  /// A seed as it is recorded: with its default configuration when configurations evolve.
  std::string SeedCode(const std::string& source);
  /// The declared space of an instantiated kernel, parsed once per source; nullptr when it has none.
  const tune::ParamSpace* SpaceOf(const std::string& declared);
  /// A child of `parent_code` (an instantiated kernel): one or two parameters moved, allowed on
  /// every shape and on the device, and not tried before; nullopt when none is found.
  std::optional<std::string> MutatedCode(const std::string& parent_code);
  void HandleEvent(Event event);
  void HandleKernelReply(LlmDone done);
  void HandleEngineerReply(LlmDone done);
  void HandleEvalDone(EvalDone done);
  void FinishInFlight();
  Expected<void> SaveSearch();
  Expected<void> ExportBest();
  RunSummary Summarize(std::string stop_reason) const;

  // --- helpers ------------------------------------------------------------------------------
  bool StopRequested() const { return stop != nullptr && stop->load(); }
  bool CanRequest() const;
  bool SampleSlotFree() const;
  std::string BudgetReason() const;
  std::optional<Event> WaitForEvent(std::chrono::milliseconds wait);
  prompt::RefineInput KernelPromptInput(const search::SamplePlan& plan) const;
  void Send(LlmDone job);
  /// The call's row; its cost is added to the run's.
  store::LlmCallRow AccountCall(const LlmDone& done, const std::string& error);
  /// Stores the candidate (with the call that wrote it, in one transaction), registers it, and
  /// submits it unless its code is a duplicate.
  Expected<std::int64_t> AddCandidate(store::CandidateRow row, std::optional<store::LlmCallRow> call = {});
  void Submit(const CandidateInfo& c);
  void SetStatus(CandidateInfo& c, const std::string& status);
  void SetProfileLevels(CandidateInfo& c, const eval::EvalResult& r) const;
  /// The search takes a verdict: strategy, tally, the prompt's credit (unless `credit_prompt` is
  /// false: a restored population already has it) and the model statistics.
  void Learn(const CandidateInfo& c, bool credit_prompt = true);
  /// The cost of the candidate's sample, held until its verdict reaches the model statistics.
  Expected<void> HoldSampleCost(const CandidateInfo& c);
  std::optional<std::size_t> ArmOf(const std::string& model) const;
  std::string NoveltyHash(const std::string& code) const;
  /// The archive cell of code at these levels: the code axes, then the profile axes at 0 until
  /// the candidate's profile sets them.
  std::vector<int> CellOf(const std::array<int, 3>& code_levels) const;
  /// The search's state; the generator's (6 KB of text) only with `rng`: it is saved at clean
  /// stops and prompt edits, so a run resumed after a crash draws again from an earlier point.
  /// Counts as the snapshot written (kSnapshotEvery), so call it only to write what it returns.
  store::SearchUpdate SearchSnapshot(bool rng);
  void UpdateBest(const CandidateInfo& c);
  /// `metrics`: the tally's, when the caller has them already.
  void ShowProgress(const std::string& event_line, std::optional<search::ArchiveMetrics> metrics = {});
};

bool EvolvesConfigurations(const task::Task& task, bool llm_configured) {
  return !llm_configured && task.backend != task::Backend::kTorch &&
         std::any_of(task.seeds.begin(), task.seeds.end(),
                     [](const task::Task::Seed& seed) { return tune::DeclaresParams(seed.source); });
}

Run::Run(std::unique_ptr<State> state) : s_(std::move(state)) {}
Run::~Run() {
  if (s_) s_->FinishInFlight();
}

namespace {
/// The state both a new and a resumed run start from.
std::unique_ptr<Run::State> MakeState(std::int64_t run_id, RunOptions options, task::Task task, RunDeps deps);
}  // namespace

Expected<std::unique_ptr<Run>> Run::Start(RunOptions options, task::Task task, RunDeps deps) {
  KF_CHECK(deps.store && (deps.evaluator || deps.executor)) << "a run needs a store and an evaluator or executor";
  KF_CHECK(deps.llms.empty() || deps.llms.size() == options.models.models.size()) << "one client per model";
  store::RunRow row;
  row.name = options.run_dir.filename().string();
  row.task_dir = task.dir.string();
  row.task_name = task.name;
  row.task_hash = task.content_hash;
  row.strategy = options.strategy;
  row.config_json = options.ToJson().dump();
  row.state = "running";
  auto state = MakeState(/*run_id=*/0, std::move(options), std::move(task), std::move(deps));
  KF_TRY_VOID(state->StartSearch());      // the strategy, the meta-prompts' seeds, the model picker (validated before anything is written)
  KF_TRY(state->run_id, state->store->CreateRun(row));
  KF_TRY_VOID(state->RecordNewSearch());  // the seed prompts (lineage roots) and the first snapshot
  return std::unique_ptr<Run>(new Run(std::move(state)));
}

Expected<std::unique_ptr<Run>> Run::Resume(task::Task task, RunDeps deps, std::optional<int> max_iterations,
                                           std::optional<double> max_cost_usd) {
  KF_CHECK(deps.store && (deps.evaluator || deps.executor)) << "a run needs a store and an evaluator or executor";
  KF_TRY(store::RunRow row, deps.store->LoadRun());
  KF_TRY(Json config, core::ParseJson(row.config_json, "the stored run options"));
  KF_TRY(RunOptions options, RunOptions::FromJson(config));
  KF_CHECK(deps.llms.empty() || deps.llms.size() == options.models.models.size()) << "one client per model";
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
  state->llms = std::move(deps.llms);
  state->cache_dir = deps.cache_dir.empty() ? core::DefaultCacheDir() : deps.cache_dir;
  if (deps.tune_device) state->tune_device = TuneDeviceFrom(*deps.tune_device);
  state->evolves_configurations = EvolvesConfigurations(state->task, !state->llms.empty());
  state->rng.seed(state->options.seed);
  state->executor = deps.executor ? std::move(deps.executor)
                                   : exec::MakeLocalExecutor(*state->evaluator, state->options.compile_workers);
  if (!state->llms.empty()) {
    // One thread per kernel request slot, and one for the prompt engineer.
    state->requests = std::make_unique<RequestPool>(std::max(1, state->options.llm_concurrency) + 1, state->llms,
                                                    state->queue);
  }
  return state;
}
}  // namespace

Expected<RunSummary> Run::Execute(const std::atomic<bool>* stop) {
  State& s = *s_;
  s.stop = stop;
  s.started = std::chrono::steady_clock::now();
  s.started_cpu_ms = ThreadCpuMs();
  s.ResubmitPending();                 // candidates recorded but not evaluated when the run died
  KF_TRY_VOID(s.EvaluateSeeds());      // the task's seeds are the first parents
  const auto steady_from = std::chrono::steady_clock::now();
  const double waited_before = s.wait_ms;
  while (!s.fatal && !s.StopRequested()) {
    s.EvolvePrompts();                 // every few samples, a prompt engineer rewrites one meta-prompt
    s.RequestChildren();               // plan samples (parent, inspirations, meta-prompt, model) and send them
    s.MutateConfigurations();          // no LLM: children are their parents' kernels with other parameter values
    if (s.llm_in_flight == 0 && !s.engineer_in_flight && s.evals_in_flight == 0 && !s.CanRequest()) break;
    if (auto event = s.WaitForEvent(std::chrono::milliseconds(100))) s.HandleEvent(std::move(*event));
  }
  s.steady_ms = MsSince(steady_from) - (s.wait_ms - waited_before);
  std::string reason = s.fatal ? "error" : s.StopRequested() ? "interrupted" : s.BudgetReason();
  s.FinishInFlight();                  // wait for (or, when stopping, cancel) in-flight work
  if (!s.fatal) KF_TRY_VOID(s.SaveSearch());  // what the last samples changed, for --resume
  KF_TRY_VOID(s.ExportBest());         // best.cpp and best.json beside the database
  KF_TRY_VOID(s.store->SetRunState(s.run_id, reason == "interrupted" ? "interrupted" : s.fatal ? "failed" : "finished"));
  if (s.progress_shown) std::fputc('\n', stderr);
  if (s.fatal) return *s.fatal;
  return s.Summarize(reason);
}

// --- stages ---------------------------------------------------------------------------------

Expected<void> Run::State::StartSearch() {
  KF_TRY(strategy, search::MakeStrategy(options.strategy, options.archive));
  search::ArchiveOptions one_island = options.archive;
  one_island.islands = 1;
  one_island.population_size = 0;
  tally = std::make_unique<search::Archive>(one_island);
  if (!llms.empty()) picker.emplace(options.models);
  if (options.strategy == "map-elites" && options.meta_prompts && !llms.empty()) {
    prompt::MetaPromptOptions meta;
    meta.evolve_every = options.prompt_evolve_every;
    KF_TRY(prompts, prompt::MetaPromptPopulation::Create(prompt::SeedPrompts(task.backend), meta));
  }
  return core::Ok();
}

Expected<void> Run::State::RecordNewSearch() {
  if (prompts) {
    for (const prompt::MetaPromptEntry& e : prompts->prompts()) {
      KF_TRY_VOID(store->InsertPrompt(store::PromptRow{0, run_id, e.id, std::nullopt, std::nullopt, "seed",
                                                       prompt::SectionsToJson(e.prompt).dump(), ""}));
    }
  }
  return SaveSearch();
}

Expected<void> Run::State::RestoreFromStore() {
  KF_TRY(store::Store::CallTotals calls, store->LlmCallTotals(run_id));
  cost_usd = calls.cost_usd;
  iterations_started = calls.kernel_calls;  // and below, the configuration mutations
  KF_TRY(std::vector<store::CandidateRow> rows, store->Candidates(run_id));
  // A stored population is lean: its prompts' credits follow from the candidates' verdicts.
  prompt::MetaPromptPopulation::KeptRecords kept;
  for (const auto& row : rows) {
    if (row.origin == kMutationOrigin) ++iterations_started;
    CandidateInfo c = CandidateInfo::FromRow(row);
    c.novelty_hash = NoveltyHash(row.code);
    auto descriptor = core::ParseJson(row.descriptor_json, "a stored descriptor");
    std::array<int, 3> levels{};
    if (descriptor.ok() && descriptor->is_object() && descriptor->contains("cell") && (*descriptor)["cell"].is_array() &&
        (*descriptor)["cell"].size() == levels.size() &&
        std::all_of((*descriptor)["cell"].begin(), (*descriptor)["cell"].end(), [](const Json& l) {
          return l.is_number_integer() && l.get<int>() >= 0 && l.get<int>() <= search::kMaxLevel;
        })) {
      levels = (*descriptor)["cell"].get<std::array<int, 3>>();
    } else {  // a run stored before descriptors, or a damaged row: describe the code again
      levels = search::DescribeCode(row.code, task.backend).Levels();
    }
    c.cell = CellOf(levels);
    if (c.status == kPending) KF_TRY_VOID(HoldSampleCost(c));
    if (c.Evaluated()) {
      KF_TRY(std::vector<store::EvaluationRow> evals, store->Evaluations(row.id));
      if (!evals.empty()) {
        auto j = core::ParseJson(evals.back().result_json, "a stored evaluation");
        if (j.ok()) {
          auto r = eval::EvalResult::FromJson(*j);
          if (r.ok()) {
            c.feedback = eval::FeedbackText(*r);
            SetProfileLevels(c, *r);
          }
        }
      }
      ++evaluated;
    }
    ++status_counts[c.duplicate ? std::string("duplicate") : c.status];
    if (!c.duplicate) by_novelty.emplace(c.novelty_hash, c.id);
    candidates[c.id] = c;
    if (c.parent_id) children_of[*c.parent_id].push_back(c.id);
    if (c.prompt_id && c.status != kPending) kept.credits[*c.prompt_id].push_back({c.id, c.fitness, c.status});
    UpdateBest(c);
  }
  KF_TRY(std::vector<store::MetricsRow> metrics, store->Metrics(run_id));
  if (!metrics.empty()) elapsed_before_s = metrics.back().elapsed_s;

  // The search as its last evaluation left it; a run stored before search state existed is
  // rebuilt by replaying its verdicts in order.
  KF_TRY_VOID(StartSearch());
  KF_TRY(std::vector<store::SearchStateEntry> state, store->SearchState(run_id));
  std::map<std::string, Json> saved;
  for (const auto& e : state) {
    KF_TRY(Json j, core::ParseJson(e.json, fmt::format("the stored search state '{}'", e.key)));
    saved[e.key] = std::move(j);
  }
  if (saved.count(kRngKey) && !saved[kRngKey].is_string()) {
    return core::MakeError(ErrorCode::kParse, "the stored search state 'rng' is not a string; the database is damaged");
  }
  if (saved.count(kStrategyKey) && saved.count(kTallyKey)) {
    KF_TRY(strategy, search::RestoreStrategy(saved[kStrategyKey]));
    KF_TRY(search::Archive t, search::Archive::FromJson(saved[kTallyKey]));
    tally = std::make_unique<search::Archive>(std::move(t));
  } else {
    for (const auto& [id, c] : candidates) {
      if (c.Evaluated()) Learn(c);
    }
  }
  if (prompts && saved.count(kPromptsKey)) {
    // The snapshot is lean: texts are in the prompts table, credits were gathered above.
    KF_TRY(std::vector<store::PromptRow> prompt_rows, store->Prompts(run_id));
    for (const store::PromptRow& row : prompt_rows) {
      KF_TRY(Json sections, core::ParseJson(row.sections_json, "a stored meta-prompt"));
      KF_TRY(kept.texts[row.prompt_id], prompt::SectionsFromJson(sections));
    }
    KF_TRY(prompts, prompt::MetaPromptPopulation::FromJson(saved[kPromptsKey], kept));
  }
  if (picker && saved.count(kModelsKey)) {
    KF_TRY(llm::ModelPicker p, llm::ModelPicker::FromJson(saved[kModelsKey]));
    // A run resumed with another ensemble keeps the new one and starts its statistics afresh.
    if (p.Spec() == options.models) picker.emplace(std::move(p));
  }
  if (saved.count(kStrategyKey) && saved.count(kTallyKey)) {
    // Verdicts recorded after the snapshot (the run stopped without saving one): replayed in the
    // order they arrived, as the loop took them. Prompt credits already follow from the store.
    // A snapshot without the count (an older run) was written with every evaluation.
    std::size_t applied = 0;
    KF_TRY(std::vector<std::int64_t> order, store->EvaluationOrder(run_id));
    if (!saved.count(kAppliedKey)) {
      applied = order.size();
    } else if (const Json& a = saved[kAppliedKey]; a.is_number_integer() && a.get<std::int64_t>() >= 0) {
      applied = static_cast<std::size_t>(a.get<std::int64_t>());
    } else {
      return core::MakeError(ErrorCode::kParse,
                             "the stored search state 'evaluations' is not a count; the database is damaged");
    }
    for (std::size_t i = applied; i < order.size(); ++i) {
      const CandidateInfo& c = candidates.at(order[i]);
      if (!c.Evaluated()) continue;
      KF_TRY_VOID(HoldSampleCost(c));
      Learn(c, /*credit_prompt=*/false);
    }
    if (order.size() > applied) core::LogInfo("replayed {} verdicts recorded after the last snapshot", order.size() - applied);
  }
  snapshot_evaluations = evaluated;
  if (saved.count(kRngKey)) {
    std::istringstream in(saved[kRngKey].get<std::string>());
    in >> rng;
  }
  core::LogInfo("resuming run {}: {} LLM calls, {} candidates, best {}", options.run_dir.string(),
                calls.kernel_calls + calls.engineer_calls,
                rows.size(), best_id ? fmt::format("#{} at {:.2f}x", *best_id, candidates[*best_id].speedup) : "none");
  return core::Ok();
}

void Run::State::ResubmitPending() {
  if (!status_counts.count(std::string(kPending))) return;  // the usual case, without a walk over every candidate
  for (const auto& [id, c] : candidates) {
    if (c.status == kPending) Submit(c);
  }
}

Expected<void> Run::State::EvaluateSeeds() {
  // Each seed once, also when a killed run had recorded only some of them.
  // Seeds are recorded before the first sample is requested, so they lead the id order.
  std::set<std::string> recorded;
  for (const auto& [id, c] : candidates) {
    if (!c.seed) break;
    recorded.insert(c.code);
  }
  for (const auto& seed : task.seeds) {
    std::string code = SeedCode(seed.source);
    if (recorded.count(code)) continue;
    store::CandidateRow row;
    row.run_id = run_id;
    row.origin = "seed";
    row.extraction = "seed:" + seed.file;
    row.code = std::move(code);
    KF_TRY(std::int64_t id, AddCandidate(row));
    (void)id;
  }
  // Every prompt needs a parent with feedback, so the seeds finish before the first request.
  while (evals_in_flight > 0 && !StopRequested() && !fatal) {
    if (auto event = WaitForEvent(std::chrono::milliseconds(100))) HandleEvent(std::move(*event));
  }
  return core::Ok();
}

void Run::State::EvolvePrompts() {
  if (!prompts || engineer_in_flight || !CanRequest() || !prompts->ShouldEvolve()) return;
  const std::int64_t id = prompts->PickForEvolution(rng);
  // What the prompt's kernels did, for the engineer to learn from.
  std::vector<prompt::ChildOutcome> outcomes;
  for (const prompt::ChildRecord& child : prompts->Find(id)->history) {
    auto it = candidates.find(child.candidate_id);
    if (it == candidates.end()) continue;
    const CandidateInfo& c = it->second;
    prompt::ChildOutcome o;
    o.status = c.status;
    o.fitness = c.fitness;
    if (c.status == "passed") o.speedup = c.speedup;
    o.feedback = c.feedback.substr(0, c.feedback.find('\n'));
    outcomes.push_back(std::move(o));
  }
  auto engineer_prompt = prompts->BuildEngineerPrompt(id, task, outcomes);
  if (!engineer_prompt.ok()) {
    fatal = engineer_prompt.error();  // the id was just picked from the population: a bug
    return;
  }
  LlmDone job;
  job.purpose = Purpose::kPromptEngineer;
  job.iteration = iterations_started;
  job.arm = 0;
  job.prompt_id = id;
  job.request.system = engineer_prompt->system;
  job.request.messages = {{"user", engineer_prompt->user}};
  job.request.temperature = options.temperature;
  job.request.max_tokens = options.max_tokens;
  engineer_in_flight = true;
  Send(std::move(job));
}

void Run::State::RequestChildren() {
  while (!llms.empty() && CanRequest() && SampleSlotFree()) {
    LlmDone job;
    job.purpose = Purpose::kKernel;
    job.plan = strategy->Plan(rng);
    prompt::RefineInput input = KernelPromptInput(job.plan);
    if (prompts) {
      job.prompt_id = prompts->Select(rng);
      input.instructions = prompt::InstructionSections(prompts->Find(*job.prompt_id)->prompt);
    }
    prompt::Prompt p = prompt::BuildRefinePrompt(input);
    job.iteration = iterations_started++;
    job.arm = picker->Pick(rng);
    const llm::ModelSpec& model = options.models.models[job.arm];
    if (job.plan.parent_id) job.parent_code = candidates.at(*job.plan.parent_id).code;
    job.request.system = p.system;
    job.request.messages = {{"user", p.user}};
    job.request.temperature = model.temperature.value_or(options.temperature);
    job.request.max_tokens = model.max_tokens.value_or(options.max_tokens);
    core::LogDebug("sample {}: parent {} ({}), island {}, model {}", job.iteration + 1,
                   job.plan.parent_id ? fmt::format("#{}", *job.plan.parent_id) : "none", job.plan.how,
                   job.plan.island ? std::to_string(*job.plan.island) : "-", model.model);
    ++llm_in_flight;
    Send(std::move(job));
  }
}

void Run::State::HandleEvent(Event event) {
  if (auto* l = std::get_if<LlmDone>(&event)) {
    if (l->purpose == Purpose::kKernel) {
      HandleKernelReply(std::move(*l));
    } else {
      HandleEngineerReply(std::move(*l));
    }
  } else {
    HandleEvalDone(std::move(std::get<EvalDone>(event)));
  }
}

void Run::State::HandleKernelReply(LlmDone done) {
  --llm_in_flight;
  if (!done.completion.ok() && done.completion.error().code == ErrorCode::kCancelled) {
    --iterations_started;  // never answered: the budget gets it back on --resume
    picker->Cancel(done.arm);
    return;
  }
  prompt::Extraction extraction;
  std::string error;
  if (done.completion.ok()) {
    extraction = prompt::ExtractCode(done.completion->text, done.parent_code);
    if (!extraction.ok()) {
      error = fmt::format("reply unusable ({}): {}", prompt::ExtractKindName(extraction.kind), extraction.error);
    } else if (extraction.code.size() > kMaxCandidateBytes) {
      error = fmt::format("reply unusable: the code is {} KiB; the limit is {} KiB", extraction.code.size() / 1024,
                          kMaxCandidateBytes / 1024);
    }
  } else {
    error = core::Redact(done.completion.error().ToString());
  }
  store::LlmCallRow call = AccountCall(done, error);
  if (!error.empty()) {
    if (auto stored = store->InsertLlmCall(call); !stored.ok()) {
      fatal = stored.error();
      return;
    }
    // No candidate: the model earned nothing for its cost.
    picker->Record(done.arm, 0, done.completion.ok() ? SampleCost(*done.completion) : 0.0);
    if (!done.completion.ok()) {
      const Error& e = done.completion.error();
      ShowProgress(fmt::format("iteration {}: LLM call failed: {}", done.iteration + 1, core::Redact(e.message)));
      // Retrying cannot fix bad credentials or a wrong model name: stop instead of burning the budget.
      if (e.code == ErrorCode::kAuth || e.code == ErrorCode::kInvalidArgument || e.code == ErrorCode::kNotFound) fatal = e;
    } else {
      ShowProgress(fmt::format("iteration {}: {}", done.iteration + 1, error));
    }
    return;
  }
  store::CandidateRow row;
  row.run_id = run_id;
  row.parent_id = done.plan.parent_id;
  row.iteration = done.iteration;
  row.origin = "llm";
  row.code = extraction.code;
  row.extraction = std::string(prompt::ExtractKindName(extraction.kind));
  row.island = done.plan.island;
  row.prompt_id = done.prompt_id;
  row.model = options.models.models[done.arm].model;
  auto id = AddCandidate(row, std::move(call));
  if (!id.ok()) {
    fatal = id.error();
    return;
  }
  const CandidateInfo& c = candidates.at(*id);
  if (c.duplicate) {
    // Nothing new was learned: the model's sample earned nothing; the prompt is credited
    // with what its kernel is worth.
    picker->Record(done.arm, 0, SampleCost(*done.completion));
    if (prompts && c.prompt_id) (void)prompts->Credit(*c.prompt_id, c.id, c.fitness, c.status);
  } else {
    costs_pending[c.id] = SampleCost(*done.completion);
  }
}

void Run::State::HandleEngineerReply(LlmDone done) {
  engineer_in_flight = false;
  if (!done.completion.ok() && done.completion.error().code == ErrorCode::kCancelled) return;
  std::string error;
  Expected<std::int64_t> child = core::MakeError(ErrorCode::kInternal, "no reply");
  if (done.completion.ok() && done.completion->text.size() > kMaxEngineerReplyBytes) {
    error = fmt::format("prompt edit rejected: the reply is {} KiB; the limit is {} KiB",
                        done.completion->text.size() / 1024, kMaxEngineerReplyBytes / 1024);
  } else if (done.completion.ok()) {
    child = prompts->ApplyEdit(*done.prompt_id, done.completion->text);
    if (!child.ok()) error = "prompt edit rejected: " + child.error().message;
  } else {
    error = core::Redact(done.completion.error().ToString());
  }
  auto call_id = store->InsertLlmCall(AccountCall(done, error));
  if (!call_id.ok()) {
    fatal = call_id.error();
    return;
  }
  if (!child.ok()) {
    ShowProgress(fmt::format("prompt engineer on meta-prompt {}: {}", *done.prompt_id, error.substr(0, 160)));
    return;
  }
  ++prompt_edits;
  const prompt::MetaPromptEntry* entry = prompts->Find(*child);
  auto inserted = store->InsertPrompt(store::PromptRow{0, run_id, *child, done.prompt_id, *call_id, "engineer",
                                                       prompt::SectionsToJson(entry->prompt).dump(), ""},
                                      SearchSnapshot(/*rng=*/true));
  if (!inserted.ok()) {
    fatal = inserted.error();
    return;
  }
  ShowProgress(fmt::format("prompt engineer rewrote meta-prompt {} as {}", *done.prompt_id, *child));
}

void Run::State::HandleEvalDone(EvalDone done) {
  --evals_in_flight;
  if (auto tuning = tunings.find(done.candidate_id); tuning != tunings.end()) {
    tuning->second.join();  // it posted this verdict as its last act
    tunings.erase(tuning);
  }
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
  SetStatus(c, row.status);
  c.fitness = done.result.Fitness();
  c.speedup = done.result.status == eval::Status::kPassed ? done.result.speedup : 0.0;
  c.feedback = eval::FeedbackText(done.result);
  SetProfileLevels(c, done.result);
  ++evaluated;
  Learn(c);  // the search takes the verdict before it is stored, so the snapshot includes it
  UpdateBest(c);
  store::SearchUpdate update;
  if (evaluated - snapshot_evaluations >= kSnapshotEvery ||
      std::chrono::steady_clock::now() - snapshot_at >= kSnapshotInterval) {
    update = SearchSnapshot(/*rng=*/false);
  }
  const search::ArchiveMetrics m = tally->Metrics();
  update.metrics = store::MetricsRow{0, run_id, evaluated, m.qd_score, m.coverage, m.best_fitness,
                                     best_id ? candidates.at(*best_id).speedup : 0.0, cost_usd,
                                     elapsed_before_s + MsSince(started) / 1000, ""};
  auto recorded = store->RecordEvaluation(row, c.fitness, c.speedup, update);
  if (!recorded.ok()) {
    fatal = recorded.error();
    return;
  }
  std::string line = fmt::format("candidate #{}: {}", c.id, row.status);
  if (done.result.status == eval::Status::kPassed) line += fmt::format(" {:.2f}x", c.speedup);
  else if (!done.result.message.empty()) line += " - " + done.result.message.substr(0, 120);
  ShowProgress(line, m);
}

void Run::State::FinishInFlight() {
  // Replies still on the wire are waited for (their cost is real and gets recorded), but a
  // stopping run is not held hostage to a slow API. A reply may submit one more evaluation, so
  // drain until nothing is left.
  const auto deadline =
      std::chrono::steady_clock::now() + (StopRequested() ? std::chrono::seconds(5) : std::chrono::hours(1));
  for (;;) {
    if (executor) executor->Drain();
    while (auto event = queue->Pop(std::chrono::milliseconds(0))) HandleEvent(std::move(*event));
    const bool replies_due = llm_in_flight > 0 || engineer_in_flight;
    if (evals_in_flight == 0 && (!replies_due || std::chrono::steady_clock::now() >= deadline)) break;
    // Tunings post their verdicts from their own threads, past the executor's Drain.
    if (replies_due || evals_in_flight > 0) {
      if (auto event = queue->Pop(std::chrono::milliseconds(100))) HandleEvent(std::move(*event));
    }
  }
  for (auto& [id, t] : tunings) t.join();  // each has posted its verdict, handled above
  tunings.clear();
  if (!requests) return;
  requests->Close(/*join=*/llm_in_flight == 0 && !engineer_in_flight);
  requests.reset();
}

Expected<void> Run::State::SaveSearch() { return store->SaveSearch(run_id, SearchSnapshot(/*rng=*/true)); }

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
  // A tuned kernel is exported with its best configuration filled in, ready to compile.
  std::string code = best.code;
  if (tune::DeclaresParams(code) && result.is_object() && result.value("configuration", "") != "") {
    const tune::ParamSpace* space = SpaceOf(code);
    auto config = space ? space->ParseLabel(result["configuration"].get<std::string>()) : std::nullopt;
    if (config) code = space->Instantiate(code, *config);
  }
  KF_TRY_VOID(core::WriteFileAtomic(options.run_dir / ("best" + ext.string()), code));
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
  s.evaluated = evaluated;
  auto passed = status_counts.find("passed");
  s.passed = passed == status_counts.end() ? 0 : passed->second;
  s.cost_usd = cost_usd;
  s.best_candidate_id = best_id;
  if (best_id) s.best_speedup = candidates.at(*best_id).speedup;
  s.stop_reason = std::move(stop_reason);
  const search::ArchiveMetrics m = tally->Metrics();
  s.qd_score = m.qd_score;
  s.coverage = m.coverage;
  s.prompt_edits = prompt_edits;
  s.wall_ms = MsSince(started);
  s.engine_ms = s.wall_ms - wait_ms;
  s.engine_cpu_ms = ThreadCpuMs() - started_cpu_ms;
  s.steady_ms = steady_ms;
  return s;
}

// --- helpers --------------------------------------------------------------------------------

bool Run::State::CanRequest() const {
  return (!llms.empty() || evolves_configurations) && !fatal && !StopRequested() && BudgetReason().empty();
}

bool Run::State::SampleSlotFree() const {
  const int concurrency = std::max(1, options.llm_concurrency);
  // A mutation is ready at once: keep the compile pool fed, the device one candidate at a time.
  if (evolves_configurations) return evals_in_flight < 2 * concurrency;
  // A strategy that learns from each verdict frees a slot only once the child it produced has
  // been evaluated: with concurrency 1 this is the classic refine loop. The others keep
  // `concurrency` requests on the wire and at most as many children again waiting for verdicts.
  if (strategy->WaitsForVerdicts()) return llm_in_flight + evals_in_flight < concurrency;
  return llm_in_flight < concurrency && llm_in_flight + evals_in_flight < 2 * concurrency;
}

std::string Run::State::BudgetReason() const {
  if (llms.empty() && !evolves_configurations) return "no llm";
  if (configurations_exhausted) return "every allowed configuration tried";
  if (iterations_started >= options.max_iterations) return "iteration budget";
  if (options.max_cost_usd > 0 && cost_usd >= options.max_cost_usd) return "cost budget";
  return "";
}

std::optional<Event> Run::State::WaitForEvent(std::chrono::milliseconds wait) {
  const auto t0 = std::chrono::steady_clock::now();
  auto event = queue->Pop(wait);
  wait_ms += MsSince(t0);
  return event;
}

void Run::State::MutateConfigurations() {
  while (evolves_configurations && CanRequest() && SampleSlotFree()) {
    // A parent may have nothing left to try (or declare nothing): plan again, a few times.
    search::SamplePlan plan;
    std::optional<std::string> child;
    for (int attempt = 0; attempt < 8 && !child; ++attempt) {
      plan = strategy->Plan(rng);
      if (!plan.parent_id) break;  // no seed got a verdict to start from
      child = MutatedCode(candidates.at(*plan.parent_id).code);
    }
    if (!child) {
      configurations_exhausted = true;
      return;
    }
    store::CandidateRow row;
    row.run_id = run_id;
    row.parent_id = plan.parent_id;
    row.iteration = iterations_started++;
    row.origin = kMutationOrigin;
    row.extraction = "parameters";
    row.code = std::move(*child);
    if (auto added = AddCandidate(std::move(row)); !added.ok()) {
      fatal = added.error();
      return;
    }
  }
}

std::string Run::State::SeedCode(const std::string& source) {
  if (!evolves_configurations) return source;
  const tune::ParamSpace* space = SpaceOf(source);
  // A declaration error is left for the evaluator, which rejects the seed saying where.
  return space ? space->Instantiate(source, space->Default()) : source;
}

const tune::ParamSpace* Run::State::SpaceOf(const std::string& declared) {
  auto it = spaces.find(declared);
  if (it == spaces.end()) {
    auto space = tune::ParamSpace::Parse(declared, "seed", task::ScalarNames(task));
    it = spaces.emplace(declared, space.ok() ? std::move(*space) : tune::ParamSpace()).first;
  }
  return it->second.empty() ? nullptr : &it->second;
}

std::optional<std::string> Run::State::MutatedCode(const std::string& parent_code) {
  const std::string declared = tune::Uninstantiate(parent_code);
  const tune::ParamSpace* space = SpaceOf(declared);
  if (!space) return std::nullopt;
  const std::optional<tune::Config> current = space->ValuesIn(parent_code);
  if (!current) return std::nullopt;
  if (!tune_device) tune_device = DescribeTuneDevice(task, cache_dir);
  auto allowed = [&](const tune::Config& c) {
    return !ViolationOnSomeShape(task, *space, tune_device->limits, c).has_value();
  };
  auto untried = [&](const tune::Config& c, std::string& code) {
    code = space->Instantiate(declared, c);
    return !by_novelty.count(NoveltyHash(code));
  };
  // Mostly small steps (one parameter to a neighbouring value), sometimes a jump, so the search
  // climbs from good configurations without getting stuck beside them.
  const auto& params = space->params();
  std::string code;
  for (int attempt = 0; attempt < 64; ++attempt) {
    tune::Config child = *current;
    const int moves = std::uniform_real_distribution<double>(0, 1)(rng) < 0.7 ? 1 : 2;
    for (int m = 0; m < moves; ++m) {
      const std::size_t k = std::uniform_int_distribution<std::size_t>(0, params.size() - 1)(rng);
      const auto& values = params[k].values;
      if (values.size() < 2) continue;
      std::vector<std::int64_t> sorted = values;
      std::sort(sorted.begin(), sorted.end());
      const auto at = static_cast<std::size_t>(std::find(sorted.begin(), sorted.end(), child[k]) - sorted.begin());
      std::size_t next = at;
      if (std::uniform_real_distribution<double>(0, 1)(rng) < 0.7) {
        next = (at == 0 || (at + 1 < sorted.size() && rng() % 2)) ? at + 1 : at - 1;
      } else {
        while (next == at) next = std::uniform_int_distribution<std::size_t>(0, sorted.size() - 1)(rng);
      }
      child[k] = sorted[next];
    }
    if (child != *current && allowed(child) && untried(child, code)) return code;
  }
  // Around this parent everything near was tried: any allowed configuration not tried yet.
  auto points = PointsOnEveryShape(task, *space, tune_device->limits);
  if (!points.ok()) return std::nullopt;
  std::shuffle(points->begin(), points->end(), rng);
  for (const tune::Config& c : *points) {
    if (untried(c, code)) return code;
  }
  return std::nullopt;
}

prompt::RefineInput Run::State::KernelPromptInput(const search::SamplePlan& plan) const {
  prompt::RefineInput input;
  input.task = &task;
  input.search_notes = plan.notes;
  if (!plan.parent_id) return input;
  const CandidateInfo& parent = candidates.at(*plan.parent_id);
  input.parent = {parent.code, parent.feedback};
  input.ask_for_parameters = parent.status == "passed" && options.tune_budget > 0 &&
                             task.backend != task::Backend::kTorch && !tune::DeclaresParams(parent.code);
  // The parent's most recent children, so the model does not repeat an attempt that failed.
  // Walked from the newest, so a parent with thousands of children costs no more than one.
  std::vector<const CandidateInfo*> recent;
  const std::size_t keep = plan.show_history ? static_cast<std::size_t>(std::max(0, options.history)) : 0;
  if (auto kids = children_of.find(parent.id); kids != children_of.end()) {
    for (auto id = kids->second.rbegin(); id != kids->second.rend() && recent.size() < keep; ++id) {
      if (candidates.at(*id).Evaluated()) recent.push_back(&candidates.at(*id));
    }
  }
  for (auto c = recent.rbegin(); c != recent.rend(); ++c) input.history.push_back({(*c)->code, (*c)->feedback});
  for (std::int64_t id : plan.inspiration_ids) {
    const CandidateInfo& c = candidates.at(id);
    std::string verdict = c.status == "passed" ? fmt::format("passed at {:.2f}x", c.speedup) : c.status;
    input.inspirations.push_back({fmt::format("cell {}, {}", tally->CellLabel(c.cell), verdict), {c.code, ""}});
  }
  return input;
}

void Run::State::Send(LlmDone job) { requests->Submit(std::move(job)); }

store::LlmCallRow Run::State::AccountCall(const LlmDone& done, const std::string& error) {
  const llm::LlmClient& client = *llms[done.arm];
  store::LlmCallRow call;
  call.run_id = run_id;
  call.iteration = done.iteration;
  call.provider = client.Config().provider == llm::Provider::kAnthropic ? "anthropic" : "openai";
  call.model = client.Config().model;
  call.prompt_json = PromptJson(done.request);
  call.purpose = done.purpose == Purpose::kKernel ? "kernel" : "prompt_engineer";
  call.prompt_id = done.prompt_id;
  call.error = error;
  if (done.completion.ok()) {
    const llm::Completion& c = *done.completion;
    call.model = c.model.empty() ? call.model : c.model;
    call.response = c.text;
    call.input_tokens = c.usage.input_tokens;
    call.output_tokens = c.usage.output_tokens;
    call.cost_usd = std::max(0.0, c.cost_usd);
    call.latency_ms = c.latency_ms;
    call.attempts = c.attempts;
  }
  cost_usd += call.cost_usd;
  return call;
}

Expected<std::int64_t> Run::State::AddCandidate(store::CandidateRow row, std::optional<store::LlmCallRow> call) {
  row.code_hash = core::Sha256Hex(row.code);
  const search::CodeDescriptor descriptor = search::DescribeCode(row.code, task.backend);
  row.descriptor_json = DescriptorJson(descriptor).dump();
  const std::string novelty_hash = NoveltyHash(row.code);
  // Code equal to an earlier candidate's up to names, comments and layout is never evaluated
  // again: it inherits the verdict of its first occurrence.
  auto dup = by_novelty.find(novelty_hash);
  const bool duplicate = dup != by_novelty.end();
  if (duplicate) {
    const CandidateInfo& first = candidates.at(dup->second);
    row.status = first.status == kPending ? "duplicate" : first.status;
    row.fitness = first.fitness;
    row.speedup = first.speedup;
    row.extraction += fmt::format("{}{})", store::kDuplicateMark, first.id);
  }
  if (call) {
    KF_TRY(store::Store::SampleIds ids, store->InsertSample(*call, row));
    row.id = *ids.candidate_id;
    row.llm_call_id = ids.call_id;
  } else {
    KF_TRY(row.id, store->InsertCandidate(row));
  }
  CandidateInfo c = CandidateInfo::FromRow(row);
  c.novelty_hash = novelty_hash;
  c.cell = CellOf(descriptor.Levels());
  if (duplicate) c.feedback = candidates.at(dup->second).feedback;
  ++status_counts[duplicate ? std::string("duplicate") : c.status];
  candidates[c.id] = c;
  if (c.parent_id) children_of[*c.parent_id].push_back(c.id);
  if (duplicate) {
    ShowProgress(fmt::format("candidate #{}: same code as #{}, not evaluated again", c.id, dup->second));
  } else {
    by_novelty.emplace(novelty_hash, c.id);
    Submit(c);
  }
  return c.id;
}

void Run::State::Submit(const CandidateInfo& c) {
  ++evals_in_flight;
  if (options.tune_budget > 0 && task.backend != task::Backend::kTorch && tune::DeclaresParams(c.code)) {
    // A parameterized kernel enters the archive with its best configuration's verdict. Its
    // trials go to the same executor (compiles in parallel, one measurement at a time) from a
    // thread of its own, so the loop goes on meanwhile.
    if (!tune_device) tune_device = DescribeTuneDevice(task, cache_dir);
    TuneCandidateOptions tuning;
    tuning.budget = options.tune_budget;
    tuning.seed = options.seed + static_cast<std::uint64_t>(c.id);
    tuning.cache_dir = cache_dir;
    tuning.cancel = stop;
    tuning.in_flight = std::max(2, options.compile_workers);
    tuning.eval.seed = options.seed;  // the CLI builds the run's evaluator from the same options
    tuning.eval.timeout_seconds = options.timeout_seconds;
    tuning.eval.profile = options.profile;
    tuning.eval.sanitize = options.sanitize;
    tunings.emplace(c.id, std::thread([this, id = c.id, code = c.code, device = *tune_device, tuning, queue = queue] {
      queue->Push(EvalDone{id, TuneCandidate(task, code, *executor, device, tuning)});
    }));
    return;
  }
  executor->Submit({c.id, c.code}, [queue = queue](std::int64_t id, eval::EvalResult r) {
    queue->Push(EvalDone{id, std::move(r)});
  });
}

void Run::State::SetStatus(CandidateInfo& c, const std::string& status) {
  if (--status_counts[c.status] == 0) status_counts.erase(c.status);
  c.status = status;
  ++status_counts[status];
}

void Run::State::SetProfileLevels(CandidateInfo& c, const eval::EvalResult& r) const {
  const std::size_t first = c.cell.size() - options.archive.profile_axes.size();
  for (std::size_t k = 0; k < options.archive.profile_axes.size(); ++k) {
    const search::ProfileAxis& axis = options.archive.profile_axes[k];
    c.cell[first + k] = axis.LevelOf(ProfileMetric(r, axis.metric));
  }
}

Expected<void> Run::State::HoldSampleCost(const CandidateInfo& c) {
  if (!c.llm_call_id || c.model.empty()) return core::Ok();
  KF_TRY(store::LlmCallRow call, store->LlmCall(*c.llm_call_id));
  llm::Completion sample;
  sample.usage = {call.input_tokens, call.output_tokens};
  sample.cost_usd = call.cost_usd;
  sample.priced = call.cost_usd > 0;
  costs_pending[c.id] = SampleCost(sample);
  return core::Ok();
}

void Run::State::Learn(const CandidateInfo& c, bool credit_prompt) {
  std::optional<search::Evaluated> parent;
  double parent_fitness = 0;
  if (c.parent_id) {
    const CandidateInfo& p = candidates.at(*c.parent_id);
    if (p.Evaluated()) {
      parent = p.ForSearch();
      parent_fitness = p.fitness;
    }
  }
  strategy->Record(c.ForSearch(), parent);
  tally->Insert(0, search::Member{c.id, c.cell, c.fitness, c.status == "passed"});
  if (credit_prompt && prompts && c.prompt_id) {
    // A prompt dropped from the population while its kernel was evaluated gets no credit.
    (void)prompts->Credit(*c.prompt_id, c.id, c.fitness, c.status);
  }
  if (picker && !c.model.empty()) {
    if (auto arm = ArmOf(c.model)) {
      auto cost = costs_pending.find(c.id);
      picker->Record(*arm, std::max(0.0, c.fitness - parent_fitness), cost == costs_pending.end() ? 0 : cost->second);
      if (cost != costs_pending.end()) costs_pending.erase(cost);
    }
  }
}

std::string Run::State::NoveltyHash(const std::string& code) const {
  // The names the harness looks up keep their spelling: code that defines another name is not
  // the same kernel, whatever else it shares.
  std::vector<std::string> kept = {task.entry};
  if (task.backend == task::Backend::kTorch) kept.push_back("ModelNew");
  return core::Sha256Hex(search::NormalizedForNovelty(code, task.backend, kept));
}

std::vector<int> Run::State::CellOf(const std::array<int, 3>& code_levels) const {
  std::vector<int> cell(code_levels.begin(), code_levels.end());
  cell.resize(cell.size() + options.archive.profile_axes.size(), 0);
  return cell;
}

std::optional<std::size_t> Run::State::ArmOf(const std::string& model) const {
  for (std::size_t i = 0; i < options.models.models.size(); ++i) {
    if (options.models.models[i].model == model) return i;
  }
  return std::nullopt;
}

store::SearchUpdate Run::State::SearchSnapshot(bool with_rng) {
  snapshot_evaluations = evaluated;
  snapshot_at = std::chrono::steady_clock::now();
  store::SearchUpdate u;
  u.state.push_back({kAppliedKey, std::to_string(evaluated)});
  u.state.push_back({kStrategyKey, strategy->Serialize()});
  u.state.push_back({kTallyKey, tally->Serialize()});
  // The prompts' texts are in the prompts table, written once when each prompt was made, and
  // their credits follow from the candidates' verdicts (RestoreFromStore).
  if (prompts) u.state.push_back({kPromptsKey, prompts->ToJson(/*lean=*/true).dump()});
  if (picker) u.state.push_back({kModelsKey, picker->ToJson().dump()});
  if (with_rng) u.state.push_back({kRngKey, Json(RngState(rng)).dump()});
  return u;
}

void Run::State::UpdateBest(const CandidateInfo& c) {
  if (c.status != "passed") return;
  if (!best_id || c.fitness > candidates.at(*best_id).fitness) best_id = c.id;
}

void Run::State::ShowProgress(const std::string& event_line, std::optional<search::ArchiveMetrics> metrics) {
  std::string statuses;
  for (const auto& [status, n] : status_counts) statuses += fmt::format(" {} {}", status, n);
  std::string best = best_id ? fmt::format("{:.2f}x", candidates.at(*best_id).speedup) : "-";
  const search::ArchiveMetrics m = metrics ? *metrics : tally->Metrics();
  std::string line = fmt::format("[iter {}/{}]{} | best {} | cells {} ({:.0f}% passing) | ${:.4f} | in flight {} llm, {} eval",
                                 iterations_started, options.max_iterations, statuses, best, m.cells_filled,
                                 100 * m.coverage, cost_usd, llm_in_flight, evals_in_flight);
  if (IsTerminal() && core::GetLogLevel() <= core::LogLevel::kInfo) {
    // One live line on a terminal, rewritten in place.
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    progress_shown = true;
  } else {
    core::LogInfo("{} | {}", event_line, line);
  }
}

bool IsProfileAxisMetric(std::string_view name) { return FindProfileAxisMetric(name) != nullptr; }

std::string ProfileAxisMetricNames() {
  std::vector<std::string_view> names;
  for (const ProfileAxisMetric& m : kProfileAxisMetrics) names.push_back(m.name);
  return fmt::format("{}", fmt::join(names, ", "));
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
