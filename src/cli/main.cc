// kfoundry — the command line. Each subcommand is a thin layer over the modules:
// parse flags, build the real parts (store, evaluator, LLM client), hand them to the module.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <random>
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "core/subprocess.h"
#include "core/log.h"
#include "engine/run.h"
#include "engine/suite.h"
#include "engine/tune_kernel.h"
#include "eval/ceilings.h"
#include "eval/evaluator.h"
#include "exec/redis.h"
#include "exec/remote.h"
#include "exec/spool.h"
#ifdef KF_HAVE_OPENCL
#include "eval/opencl_platform.h"
#endif
#include "llm/ensemble.h"
#include "report/compare.h"
#include "llm/llm_client.h"
#include "search/strategy.h"
#include "store/store.h"
#include "task/import.h"
#include "task/task.h"
#include "tune/searcher.h"
#include "tune/tuner.h"

namespace fs = std::filesystem;
using namespace kf;

namespace {

// Exit codes shared by every subcommand.
constexpr int kExitOk = 0;
constexpr int kExitFailedVerdict = 1;  // eval: the candidate did not pass; run: a runtime error
constexpr int kExitUsage = 2;          // bad flags, bad task, missing toolchain
constexpr int kExitInterrupted = 130;

std::atomic<bool> g_stop{false};

void OnSignal(int) {
  if (g_stop.exchange(true)) ::_exit(kExitInterrupted);  // a second Ctrl-C: leave now
  const char msg[] = "\nkfoundry: stopping after in-flight work (Ctrl-C again to quit at once)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

void InstallSignalHandlers() {
  struct sigaction sa{};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int Fail(const core::Error& e, int code) {
  std::cerr << "kfoundry: " << core::Redact(e.message) << "\n";
  return code;
}

eval::EvaluatorOptions MakeEvaluatorOptions(std::optional<double> timeout, std::optional<std::uint64_t> seed,
                                            fs::path work_dir, bool profile, bool sanitize) {
  eval::EvaluatorOptions o;
  o.profile = profile;
  o.sanitize = sanitize;
  o.cache_dir = core::DefaultCacheDir();
  o.work_dir = std::move(work_dir);
  o.timeout_seconds = timeout;
  if (seed) o.seed = *seed;
  o.cancel = &g_stop;
  return o;
}

// ---- kfoundry worker / workers ---------------------------------------------------------------

struct WorkerArgs {
  std::string executor, spool, name;
  std::vector<std::string> tags;
  int slots = 1;
  double lease = 30;
  int max_attempts = 3;
  bool drain = false;
};

int CmdWorker(const WorkerArgs& a) {
  exec::WorkerOptions o;
  o.name = a.name.empty() ? exec::DefaultWorkerName() : a.name;
  o.slots = a.slots;
  o.lease_seconds = a.lease;
  o.max_attempts = a.max_attempts;
  o.drain = a.drain;
  o.cache_dir = core::DefaultCacheDir();
  o.work_dir = fs::temp_directory_path() / ("kfoundry-worker-" + o.name);
  o.stop = &g_stop;
  const exec::WorkerHardware hw = exec::DetectWorkerHardware();
  o.tags = a.tags.empty() ? hw.tags : a.tags;
  // Advertised to coordinators and `kfoundry workers`: measured once per machine, then cached.
  o.hardware = hw.ToJson();
  o.hardware["ceilings"] = core::Json::array();
  for (const eval::ToolchainInfo& tc : hw.toolchains) {
    if (!tc.available || (tc.backend != "cpu" && tc.backend != "cuda")) continue;
    auto c = eval::CeilingsFor(tc.backend == "cuda" ? task::Backend::kCuda : task::Backend::kCpu, o.cache_dir);
    if (c.ok()) o.hardware["ceilings"].push_back(c->ToJson());
  }
  for (const std::string& tag : o.tags) {
    if (std::find(hw.tags.begin(), hw.tags.end(), tag) == hw.tags.end()) {
      core::LogWarn("--tags {}: this machine does not detect it (it has {}); jobs for it run only on backends it has",
                    tag, fmt::join(hw.tags, ", "));
    }
  }
  core::LogInfo("worker {} serves {} with {} slot(s)", o.name, fmt::join(o.tags, ", "), o.slots);
  core::Expected<exec::WorkerSummary> summary = core::MakeError(core::ErrorCode::kInternal, "");
  if (!a.spool.empty()) {
    summary = exec::RunSpoolWorker(fs::absolute(a.spool), o);
  } else {
    auto url = exec::RedisUrl::Parse(a.executor);
    if (!url.ok()) return Fail(url.error(), kExitUsage);
    summary = exec::RunRedisWorker(*url, o);
  }
  if (!summary.ok()) return Fail(summary.error(), kExitUsage);
  std::cout << fmt::format("worker {}: {} evaluated, {} dead-lettered as worker_lost, {} taken over from dead workers\n",
                           o.name, summary->evaluated, summary->dead_lettered, summary->reclaimed);
  return kExitOk;
}

int CmdWorkers(const std::string& executor, bool json) {
  auto url = exec::RedisUrl::Parse(executor);
  if (!url.ok()) return Fail(url.error(), kExitUsage);
  auto workers = exec::ListWorkers(*url);
  if (!workers.ok()) return Fail(workers.error(), kExitUsage);
  if (json) {
    core::Json all = core::Json::array();
    for (const auto& w : *workers) all.push_back(w.json);
    std::cout << all.dump(2) << "\n";
    return kExitOk;
  }
  if (workers->empty()) {
    std::cout << fmt::format("no live workers at {}; start one with: kfoundry worker --executor {}\n", url->Describe(),
                             url->Describe());
    return kExitOk;
  }
  std::cout << fmt::format("{:<28} {:<8} {:>5} {:>5} {:>9}  {}\n", "worker", "version", "slots", "busy", "evaluated",
                           "serves (tags) / devices");
  // Advertisements are what other processes wrote: a field of the wrong type shows as "?".
  auto text = [](const core::Json& j, const char* key) {
    auto v = j.find(key);
    return v != j.end() && v->is_string() ? v->get<std::string>() : std::string("?");
  };
  auto number = [](const core::Json& j, const char* key) {
    auto v = j.find(key);
    return v != j.end() && v->is_number() ? fmt::format("{:.0f}", v->get<double>()) : std::string("?");
  };
  for (const auto& w : *workers) {
    const core::Json& j = w.json;
    std::vector<std::string> devices;
    if (auto c = j.find("ceilings"); c != j.end() && c->is_array()) {
      for (const auto& d : *c) {
        if (!d.is_object()) continue;
        devices.push_back(fmt::format("{} ({} GB/s, {} GFLOP/s)", text(d, "device_name"), number(d, "copy_gbps"),
                                      number(d, "flops_gflops")));
      }
    }
    std::cout << fmt::format("{:<28} {:<8} {:>5} {:>5} {:>9}  {}\n{:<61}{}\n", w.name, text(j, "version"),
                             number(j, "slots"), number(j, "busy"), number(j, "evaluated"), fmt::join(w.tags, ", "), "",
                             devices.empty() ? std::string("-") : fmt::format("{}", fmt::join(devices, "; ")));
  }
  return kExitOk;
}

// ---- kfoundry eval -------------------------------------------------------------------------

struct EvalArgs {
  std::string task_dir, kernel;
  bool json = false;
  std::optional<double> timeout;
  std::optional<std::uint64_t> seed;
  bool profile = false;
  bool sanitize = false;
};

int CmdEval(const EvalArgs& a) {
  auto task = task::LoadTask(a.task_dir);
  if (!task.ok()) return Fail(task.error(), kExitUsage);
  auto source = core::ReadFile(a.kernel);
  if (!source.ok()) return Fail(source.error(), kExitUsage);
  auto evaluator = eval::MakeEvaluator(*task, MakeEvaluatorOptions(a.timeout, a.seed, fs::temp_directory_path() / "kfoundry-work", a.profile, a.sanitize));
  if (!evaluator.ok()) return Fail(evaluator.error(), kExitUsage);
  eval::EvalResult r = (*evaluator)->Evaluate(*source);
  if (a.json) {
    std::cout << r.ToJson().dump(2) << "\n";
  } else {
    std::cout << eval::HumanVerdict(r) << "\n";
  }
  return r.status == eval::Status::kPassed ? kExitOk : kExitFailedVerdict;
}

// ---- kfoundry tune -------------------------------------------------------------------------

struct TuneArgs {
  std::string task_dir, kernel;
  std::string searcher;
  std::optional<int> budget;
  std::optional<double> time_s;
  std::optional<double> fraction;
  std::uint64_t search_seed = 1;
  int jobs = 0;
  bool no_cache = false;
  std::string header, json, best;
  std::optional<double> timeout;
};

int CmdTune(const TuneArgs& a) {
  auto task = task::LoadTask(a.task_dir);
  if (!task.ok()) return Fail(task.error(), kExitUsage);
  auto source = core::ReadFile(a.kernel);
  if (!source.ok()) return Fail(source.error(), kExitUsage);
  engine::TuneKernelOptions options;
  if (!a.searcher.empty()) {
    auto kind = tune::ParseSearcherKind(a.searcher);
    if (!kind.ok()) return Fail(kind.error(), kExitUsage);
    options.searcher = *kind;
  }
  options.stop.max_evaluations = a.budget;
  options.stop.max_seconds = a.time_s;
  options.stop.max_fraction = a.fraction;
  options.seed = a.search_seed;
  options.compile_workers = a.jobs;
  options.use_cache = !a.no_cache;
  options.eval = MakeEvaluatorOptions(a.timeout, std::nullopt, fs::temp_directory_path() / "kfoundry-work", false, false);
  auto report = engine::TuneKernel(*task, *source, a.kernel, options);
  if (!report.ok()) return Fail(report.error(), kExitUsage);
  const engine::TuneReport& r = *report;
  std::size_t valid = 0, tried = 0, passed = 0;
  std::string stops;
  for (const engine::TuneGroup& g : r.groups) {
    valid += g.points.size();
    tried += g.trace.trials.size();
    for (const auto& [point, outcome] : g.trace.trials) passed += outcome.passed;
    stops += fmt::format("{}{}", stops.empty() ? "" : ", ", g.trace.stop_reason);
  }
  std::cout << fmt::format("{} parameters, {:.0f} combinations, {} allowed on {}{}\n", r.space.params().size(),
                           r.space.CrossProductSize(), valid, r.table.device_name,
                           r.groups.size() > 1 ? fmt::format(" (summed over {} groups of shapes)", r.groups.size()) : "");
  std::cout << fmt::format("searcher {}: {} configurations tried ({} passed), {} timed now, {} from the cache; "
                           "stopped by {}; {:.1f} s\n",
                           r.searcher, tried, passed, r.timed, r.cached, stops, r.seconds);
  if (r.table.entries.empty()) {
    std::cerr << "kfoundry: no configuration passed; the default's verdict: "
              << (r.groups.front().default_outcome ? r.groups.front().default_outcome->status + " " +
                                                         r.groups.front().default_outcome->message
                                                   : std::string("not allowed"))
              << "\n";
    return kExitFailedVerdict;
  }
  std::cout << tune::DispatchText(r.table);
  if (r.best) std::cout << "best over the shapes: " << r.space.Label(*r.best) << "\n";
  const fs::path header = a.header.empty() ? fs::path(task->entry + "_tuned.h") : fs::path(a.header);
  if (auto written = core::WriteFileAtomic(header, tune::DispatchHeader(r.table)); !written.ok()) {
    return Fail(written.error(), kExitUsage);
  }
  std::cout << "dispatch header: " << header.string() << "\n";
  if (!a.best.empty() && r.best) {
    if (auto written = core::WriteFileAtomic(a.best, r.best_source); !written.ok()) return Fail(written.error(), kExitUsage);
    std::cout << "best configuration's source: " << a.best << "\n";
  }
  if (!a.json.empty()) {
    core::Json trials = core::Json::array();
    for (const engine::TuneGroup& g : r.groups) {
      for (const auto& [point, outcome] : g.trace.trials) {
        core::Json t = outcome.ToJson();
        t["config"] = r.space.Label(g.points[point]);
        t["cached"] = outcome.cached;
        trials.push_back(std::move(t));
      }
    }
    core::Json out = {{"table", r.table.ToJson()}, {"searcher", r.searcher}, {"timed", r.timed},
                      {"cached", r.cached}, {"seconds", r.seconds}, {"trials", trials}};
    if (auto written = core::WriteFileAtomic(a.json, out.dump(2) + "\n"); !written.ok()) return Fail(written.error(), kExitUsage);
  }
  return g_stop.load() ? kExitInterrupted : kExitOk;
}

// ---- kfoundry run --------------------------------------------------------------------------

struct RunArgs {
  std::string task_dir;
  std::string resume;
  std::string run_dir;
  std::string model;
  std::string models_file;
  std::optional<int> budget;
  std::optional<double> max_cost;
  int concurrency = 2;
  int jobs = 0;
  std::string strategy = "map-elites";
  bool no_meta_prompts = false;
  std::optional<int> islands;
  std::optional<int> migration_interval;
  std::optional<int> prompt_evolve_every;
  std::vector<std::string> profile_axes;
  std::optional<std::uint64_t> seed;
  std::optional<double> timeout;
  double temperature = 0.7;
  bool profile = false;
  bool sanitize = false;
  std::optional<int> tune_budget;
  std::string executor = "local";
};

/// The model to use: --model, else KF_MODEL, else a default for whichever API is configured;
/// empty when no LLM is configured at all.
std::string ChooseModel(const std::string& flag) {
  if (!flag.empty()) return flag;
  auto env = [](const char* n) { const char* v = std::getenv(n); return v != nullptr && *v != '\0'; };
  if (env("KF_MODEL")) return std::getenv("KF_MODEL");
  if (env("ANTHROPIC_API_KEY")) return "anthropic:claude-sonnet-4-5";
  if (env("OPENAI_API_KEY") || env("OPENAI_BASE_URL")) return "gpt-4.1-mini";
  return "";
}

constexpr const char* kHowToConnect =
    "To evolve kernels, connect an LLM:\n"
    "  export OPENAI_API_KEY=...                       # OpenAI\n"
    "  export ANTHROPIC_API_KEY=...                    # or Anthropic\n"
    "  export OPENAI_BASE_URL=http://localhost:8000/v1 # or a local vLLM / Ollama / llama.cpp server\n"
    "then: kfoundry run TASK_DIR --model MODEL --budget 20\n";

/// runs/<name>-<local time>.
fs::path DefaultRunDir(const std::string& name) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return fs::path("runs") / fmt::format("{}-{}", name, stamp);
}

/// A new run's options from the flags; an error for flags no run can take.
core::Expected<engine::RunOptions> OptionsFromArgs(const RunArgs& a) {
  engine::RunOptions options;
  options.strategy = a.strategy;
  options.meta_prompts = !a.no_meta_prompts;
  if (a.islands) options.archive.islands = *a.islands;
  if (a.migration_interval) options.archive.migration_interval = *a.migration_interval;
  if (a.prompt_evolve_every) options.prompt_evolve_every = *a.prompt_evolve_every;
  std::vector<search::ProfileAxis> axes;
  for (const std::string& spec : a.profile_axes) {
    KF_TRY(search::ProfileAxis axis, search::ProfileAxis::Parse(spec));
    if (!engine::IsProfileAxisMetric(axis.metric)) {
      return core::MakeError(core::ErrorCode::kInvalidArgument,
                             fmt::format("--profile-axis {}: unknown metric '{}'; use one of {}", spec, axis.metric,
                                         engine::ProfileAxisMetricNames()));
    }
    axes.push_back(std::move(axis));
  }
  if (!axes.empty() && !a.profile) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           "--profile-axis needs --profile: the axis is read from each passing kernel's Nsight Compute metrics");
  }
  options.archive = options.archive.WithProfileAxes(std::move(axes));
  if (!a.models_file.empty()) {
    if (!a.model.empty()) {
      return core::MakeError(core::ErrorCode::kInvalidArgument, "give either --model or --models, not both");
    }
    KF_TRY(options.models, llm::LoadEnsembleFile(a.models_file));
  } else if (std::string model = ChooseModel(a.model); !model.empty()) {
    KF_TRY(options.models, llm::ParseModelList(model));
  }
  options.max_iterations = a.budget.value_or(10);
  options.max_cost_usd = a.max_cost.value_or(0);
  options.llm_concurrency = a.concurrency;
  options.compile_workers = a.jobs;
  options.temperature = a.temperature;
  options.timeout_seconds = a.timeout;
  options.profile = a.profile;
  options.sanitize = a.sanitize;
  if (a.tune_budget) options.tune_budget = *a.tune_budget;
  if (a.seed) options.seed = *a.seed;
  KF_TRY(auto strategy, search::MakeStrategy(options.strategy, options.archive));  // names and archive options checked
  (void)strategy;
  return options;
}

/// The run's key for remote jobs: made once, kept in the run directory, so a resumed run's jobs
/// keep their ids (exec::JobId) and find the results written while it was away.
core::Expected<std::string> RunKey(const fs::path& run_dir) {
  const fs::path file = run_dir / "executor-key";
  if (auto existing = core::ReadFile(file); existing.ok()) {
    const std::string key = existing->substr(0, existing->find_first_of(" \n"));
    if (key.size() >= 16 && key.size() <= 64 && key.find_first_not_of("0123456789abcdef") == std::string::npos) return key;
    return core::MakeError(core::ErrorCode::kValidation,
                           fmt::format("{}: not a run key (16 to 64 lowercase hex digits); remove it to make a new one, "
                                       "and results stored under the old key are not found again", file.string()));
  }
  std::random_device rd;
  const std::string key = core::Sha256Hex(fmt::format("{}|{}|{}", run_dir.string(), rd(), rd())).substr(0, 32);
  KF_TRY_VOID(core::WriteFileAtomic(file, key));
  return key;
}

/// --executor redis://... or spool:DIR. A redis run is refused when no live worker serves one
/// of the task's targets; its parameterized kernels are tuned under the launch limits a worker
/// of each target advertises (the tightest over several targets).
core::Expected<std::unique_ptr<exec::Executor>> MakeRemoteExecutorFor(const std::string& spec, const task::Task& task,
                                                                       const fs::path& run_dir,
                                                                       const eval::EvaluatorOptions& eval_options,
                                                                       std::optional<eval::DeviceCeilings>* tune_device) {
  exec::RemoteOptions remote;
  KF_TRY(remote.run_key, RunKey(run_dir));
  remote.settings = exec::EvalSettings::From(eval_options);
  remote.cancel = &g_stop;
  std::unique_ptr<exec::Transport> transport;
  if (spec.rfind("redis://", 0) == 0) {
    KF_TRY(exec::RedisUrl url, exec::RedisUrl::Parse(spec));
    KF_TRY(auto workers, exec::ListWorkers(url));
    KF_TRY_VOID(exec::CheckTargetsServed(workers, exec::TaskTargets(task), task.backend, url.Describe()));
    *tune_device = exec::AdvertisedCeilings(workers, exec::TaskTargets(task), task.backend);
    exec::RedisOptions redis;
    redis.cancel = &g_stop;
    KF_TRY(transport, exec::MakeRedisTransport(url, redis));
  } else if (spec.rfind("spool:", 0) == 0 && spec.size() > 6) {
    // The coordinator only puts back claims whose worker died; dead-lettering is left to the
    // workers, whose --max-attempts it cannot know.
    exec::SpoolOptions spool;
    spool.max_attempts = 1000;
    KF_TRY(transport, exec::MakeSpoolTransport(fs::absolute(spec.substr(6)), spool));
  } else {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("--executor '{}': expected local, redis://[user:password@]host:port[/db] or spool:DIR",
                                       core::Redact(spec)));
  }
  return exec::MakeRemoteExecutor(std::move(transport), task, std::move(remote));
}

/// One task's run: a new one (options complete, run_dir empty) or one resumed from run_dir's
/// store, with the budget flags overriding. Prints its summary; the exit status.
int RunTask(engine::RunOptions options, bool resuming, const RunArgs& a) {
  auto task = task::LoadTask(options.task_dir);
  if (!task.ok()) return Fail(task.error(), kExitUsage);
  options.task_dir = task->dir;
  options.run_dir = fs::absolute(options.run_dir);
  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  if (ec) return Fail({core::ErrorCode::kIo, fmt::format("cannot create {}: {}", options.run_dir.string(), ec.message())}, kExitUsage);

  engine::RunDeps deps;
  auto store = store::OpenStore(options.run_dir / engine::kDbFileName);
  if (!store.ok()) return Fail(store.error(), kExitUsage);
  deps.store = std::move(*store);
  const eval::EvaluatorOptions eval_options =
      MakeEvaluatorOptions(options.timeout_seconds, options.seed, options.run_dir / "work", options.profile, options.sanitize);
  if (a.executor == "local") {
    auto evaluator = eval::MakeEvaluator(*task, eval_options);
    if (!evaluator.ok()) return Fail(evaluator.error(), kExitUsage);
    deps.evaluator = std::move(*evaluator);
  } else {
    auto executor = MakeRemoteExecutorFor(a.executor, *task, options.run_dir, eval_options, &deps.tune_device);
    if (!executor.ok()) return Fail(executor.error(), kExitUsage);
    deps.executor = std::move(*executor);
  }
  for (const llm::ModelSpec& model : options.models.models) {
    auto config = llm::ConfigFromEnv(model.model);
    if (!config.ok()) return Fail(config.error(), kExitUsage);
    config->max_concurrency = std::max(1, options.llm_concurrency);
    config->cancel = &g_stop;
    deps.llms.push_back(llm::MakeLlmClient(*config));
  }

  auto run = resuming ? engine::Run::Resume(*task, std::move(deps), a.budget, a.max_cost)
                      : engine::Run::Start(options, *task, std::move(deps));
  if (!run.ok()) return Fail(run.error(), kExitUsage);
  std::vector<std::string> names;
  for (const llm::ModelSpec& m : options.models.models) names.push_back(m.model);
  const bool configurations = engine::EvolvesConfigurations(*task, !names.empty());
  if (configurations) {
    // Said on stdout, not only in the log: without a key, this is what the run does instead.
    std::cout << fmt::format("No LLM configured: evolving the parameters the seeds declare (// @param) through the "
                             "archive instead, {} configurations at most; an LLM would also rewrite the kernels.\n",
                             options.max_iterations)
              << std::flush;
  }
  core::LogInfo("run {}: task {} ({}), {}", options.run_dir.string(), task->name, task::BackendName(task->backend),
                !names.empty()   ? fmt::format("strategy {}, model {}, budget {} iterations", options.strategy,
                                               fmt::join(names, ", "), options.max_iterations)
                : configurations ? fmt::format("no LLM configured: evolving the seeds' parameters, budget {} "
                                               "configurations", options.max_iterations)
                                 : std::string("no LLM configured: evaluating the seeds only"));
  auto summary = (*run)->Execute(&g_stop);
  if (!summary.ok()) return Fail(summary.error(), kExitFailedVerdict);

  const engine::RunSummary& s = *summary;
  std::cout << fmt::format("run {} stopped ({}): {} iterations, {} candidates, {} evaluated, {} passed, cost ${:.4f}\n",
                           options.run_dir.string(), s.stop_reason, s.iterations, s.candidates, s.evaluated, s.passed,
                           s.cost_usd);
  std::cout << fmt::format("search: {}, coverage {:.1f}% of cells with a passing kernel, QD score {:.2f}, {} prompt "
                           "edits; engine overhead {:.1f} ms of {:.1f} s\n",
                           options.strategy, 100 * s.coverage, s.qd_score, s.prompt_edits, s.engine_ms,
                           s.wall_ms / 1000);
  if (s.best_candidate_id) {
    auto verdict = core::ReadFile(options.run_dir / "best_verdict.txt");
    std::cout << fmt::format("best: candidate #{} at {:.2f}x the reference, written to {}\n", *s.best_candidate_id,
                             s.best_speedup, (options.run_dir / "best.json").string());
    if (verdict.ok()) std::cout << *verdict << "\n";
  } else {
    std::cout << "no candidate passed yet\n";
  }
  return s.stop_reason == "interrupted" ? kExitInterrupted : kExitOk;
}

/// A suite run's marker in its root: the suite and the options every task's run starts with.
constexpr const char* kSuiteRunFile = "suite_run.json";

/// The best candidate's verdict stored in a run directory (best.json).
core::Expected<eval::EvalResult> BestResult(const fs::path& run_dir) {
  const fs::path file = run_dir / "best.json";
  KF_TRY(std::string text, core::ReadFile(file));
  KF_TRY(core::Json j, core::ParseJson(text, file.string()));
  if (!j.contains("result")) return core::MakeError(core::ErrorCode::kIo, file.string() + " holds no result");
  return eval::EvalResult::FromJson(j["result"]);
}

/// The options of the run stored in run_dir, to resume it there.
core::Expected<engine::RunOptions> StoredOptions(const fs::path& run_dir) {
  KF_TRY(engine::RunOptions options, engine::LoadRunOptions(run_dir));
  options.run_dir = run_dir;
  return options;
}

/// `kfoundry run SUITE` (every task of an imported KernelBench level, say) and its --resume:
/// one run per task under ROOT/<task path>, one after another, then the suite's numbers
/// (correctness, fast_p, geomean speedups) over each task's best candidate in ROOT/report.txt
/// and ROOT/report.json. A resumed suite continues the tasks' runs and starts the rest.
int RunSuite(const RunArgs& a, bool resuming) {
  fs::path root, suite_dir;
  engine::RunOptions base;
  if (resuming) {
    root = fs::absolute(a.resume);
    auto text = core::ReadFile(root / kSuiteRunFile);
    if (!text.ok()) return Fail(text.error(), kExitUsage);
    auto j = core::ParseJson(*text, (root / kSuiteRunFile).string());
    if (!j.ok()) return Fail(j.error(), kExitUsage);
    const bool complete = j->contains("options") && j->contains("suite_dir") && (*j)["suite_dir"].is_string();
    auto options = complete ? engine::RunOptions::FromJson((*j)["options"])
                            : core::MakeError(core::ErrorCode::kValidation, "no suite_dir or options");
    if (!options.ok()) {
      return Fail({core::ErrorCode::kValidation, fmt::format("{} is damaged ({}); delete the suite run or fix the file",
                                                             (root / kSuiteRunFile).string(), options.error().message)},
                  kExitUsage);
    }
    base = *options;
    if (a.budget) base.max_iterations = *a.budget;
    if (a.max_cost) base.max_cost_usd = *a.max_cost;
    suite_dir = (*j)["suite_dir"].get<std::string>();
  } else {
    suite_dir = fs::absolute(a.task_dir).lexically_normal();
    if (suite_dir.filename().empty()) suite_dir = suite_dir.parent_path();  // "levels/level1/"
    auto options = OptionsFromArgs(a);
    if (!options.ok()) return Fail(options.error(), kExitUsage);
    base = *options;
    root = fs::absolute(a.run_dir.empty() ? DefaultRunDir(suite_dir.filename().string()) : fs::path(a.run_dir));
    if (fs::exists(root / kSuiteRunFile)) {
      return Fail({core::ErrorCode::kInvalidArgument,
                   fmt::format("{} already holds a suite run; continue it with --resume {}", root.string(), root.string())},
                  kExitUsage);
    }
    core::Json marker = {{"suite_dir", suite_dir.string()}, {"options", base.ToJson()}};
    if (auto w = core::WriteFileAtomic(root / kSuiteRunFile, marker.dump(2) + "\n"); !w.ok()) return Fail(w.error(), kExitUsage);
  }
  const std::vector<fs::path> tasks = engine::FindSuiteTasks(suite_dir);
  if (tasks.empty()) {
    return Fail({core::ErrorCode::kNotFound, fmt::format("{} holds no task packages (folders with task.yaml)",
                                                         suite_dir.string())},
                kExitUsage);
  }
  std::vector<engine::SuiteRow> rows;
  int status = kExitOk;
  for (const fs::path& task_dir : tasks) {
    engine::SuiteRow row = engine::SuiteRowFor(suite_dir, task_dir);
    const fs::path run_dir = root / row.task;
    if (!g_stop.load()) {
      std::cout << fmt::format("== {} ({} of {})\n", row.task, rows.size() + 1, tasks.size()) << std::flush;
      const bool task_resuming = fs::exists(run_dir / engine::kDbFileName);
      engine::RunOptions options = base;
      options.task_dir = task_dir;
      options.run_dir = run_dir;
      if (task_resuming) {
        if (auto stored = StoredOptions(run_dir); stored.ok()) options = *stored;
      }
      // A task that cannot run (bad package, missing toolchain) is a row with its reason, not
      // the end of the suite.
      const int code = RunTask(options, task_resuming, a);
      if (code == kExitInterrupted) status = kExitInterrupted;
    }
    if (auto best = BestResult(run_dir); best.ok()) {
      row.candidate = (run_dir / "best.json").string();
      row.result = std::move(*best);
    } else {
      row.error = !fs::exists(run_dir / engine::kDbFileName) ? "not run"
                  : fs::exists(run_dir / "best.json")       ? best.error().message
                                                             : "no candidate passed";
    }
    rows.push_back(std::move(row));
  }
  const std::string table = engine::SuiteTable(rows);
  (void)core::WriteFileAtomic(root / "report.txt", table);
  (void)core::WriteFileAtomic(root / "report.json", engine::SuiteJson(rows).dump(2) + "\n");
  std::cout << "\nsuite " << root.string() << " (each task's best candidate):\n" << table;
  if (base.models.models.empty()) std::cout << "\n" << kHowToConnect;
  if (status == kExitInterrupted || g_stop.load()) {
    std::cout << fmt::format("continue with: kfoundry run --resume {}\n", root.string());
    return kExitInterrupted;
  }
  return kExitOk;
}

int CmdRun(const RunArgs& a) {
  const bool resuming = !a.resume.empty();
  if (resuming ? fs::exists(fs::path(a.resume) / kSuiteRunFile)
               : !fs::exists(fs::path(a.task_dir) / "task.yaml") && !engine::FindSuiteTasks(a.task_dir).empty()) {
    return RunSuite(a, resuming);
  }
  engine::RunOptions options;
  if (resuming) {
    auto stored = StoredOptions(a.resume);
    if (!stored.ok()) return Fail(stored.error(), kExitUsage);
    options = *stored;
  } else {
    auto task = task::LoadTask(a.task_dir);
    if (!task.ok()) return Fail(task.error(), kExitUsage);
    auto from_args = OptionsFromArgs(a);
    if (!from_args.ok()) return Fail(from_args.error(), kExitUsage);
    options = *from_args;
    options.task_dir = task->dir;
    options.run_dir = a.run_dir.empty() ? DefaultRunDir(task->name) : fs::path(a.run_dir);
    if (fs::exists(options.run_dir / engine::kDbFileName)) {
      return Fail({core::ErrorCode::kInvalidArgument,
                   fmt::format("{} already holds a run; continue it with --resume {}", options.run_dir.string(),
                               options.run_dir.string())},
                  kExitUsage);
    }
  }
  const int code = RunTask(options, resuming, a);
  if (options.models.models.empty() && code != kExitUsage) std::cout << "\n" << kHowToConnect;
  if (code == kExitInterrupted) std::cout << fmt::format("continue with: kfoundry run --resume {}\n", options.run_dir.string());
  return code;
}

// ---- kfoundry compare ----------------------------------------------------------------------

struct CompareArgs {
  std::vector<std::string> run_dirs;
  std::vector<double> targets = {1.0, 1.5, 2.0};
  bool json = false;
};

int CmdCompare(const CompareArgs& a) {
  std::vector<report::RunComparison> runs;
  for (const std::string& dir : a.run_dirs) {
    auto r = report::CompareRun(dir, a.targets);
    if (!r.ok()) return Fail(r.error(), kExitUsage);
    runs.push_back(std::move(*r));
  }
  if (a.json) {
    std::cout << report::ComparisonJson(runs).dump(2) << "\n";
  } else {
    std::cout << report::ComparisonTable(runs)
              << "calls: kernel samples; eng: prompt-engineer calls; cover: cells with a correct kernel; "
                 "to Nx: LLM calls and cost until the first correct candidate at least N times faster than the "
                 "reference\n";
  }
  return kExitOk;
}

// ---- kfoundry devices ----------------------------------------------------------------------

/// One line per NVIDIA GPU from nvidia-smi: index, name, memory, compute capability, driver.
std::string ListNvidiaGpus() {
  core::SubprocessSpec spec;
  spec.argv = {"nvidia-smi", "--query-gpu=index,name,memory.total,compute_cap,driver_version", "--format=csv,noheader"};
  spec.working_dir = fs::temp_directory_path();
  spec.limits.wall_timeout = std::chrono::seconds(20);
  spec.limits.address_space_bytes = 0;
  auto r = core::RunSandboxed(spec);
  if (!r.ok()) return "  none: nvidia-smi not found\n";
  if (!r->Succeeded()) return "  none: nvidia-smi " + r->Describe() + "\n";
  std::string out;
  std::istringstream lines(r->stdout_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) out += "  " + line + "  (index, name, memory, compute capability, driver)\n";
  }
  return out.empty() ? "  none\n" : out;
}

int CmdDevices() {
  const exec::WorkerHardware hw = exec::DetectWorkerHardware();
  std::cout << "toolchains:\n";
  for (const eval::ToolchainInfo& t : hw.toolchains) {
    std::cout << fmt::format("  {:<8} {:<13} {}{}\n", t.backend, t.available ? "available" : "not available",
                             t.available ? t.compiler + " " + t.version : "", t.note.empty() ? "" : "  (" + t.note + ")");
  }
#ifdef KF_HAVE_OPENCL
  std::cout << "opencl devices:\n";
  if (auto devices = eval::ListOpenClDevices(); !devices.ok()) {
    std::cout << "  none: " << devices.error().message << "\n";
  } else if (devices->empty()) {
    std::cout << "  none found (set KF_OPENCL_VENDOR_LIB or KF_OPENCL_VENDORS; see docs/opencl.md)\n";
  } else {
    for (const auto& d : *devices) std::cout << "  " << eval::DescribeOpenClDevice(d) << "\n";
  }
#endif
  std::cout << "gpus:\n" << ListNvidiaGpus();
  std::cout << fmt::format("hardware tags (what `kfoundry worker` serves by default): {}\n", fmt::join(hw.tags, ", "));
  std::cout << "measured ceilings (cached; measured on first use of a device):\n";
  auto ceilings = eval::CachedCeilings(core::DefaultCacheDir());
  if (ceilings.empty()) std::cout << "  none yet\n";
  for (const auto& c : ceilings) {
    std::cout << fmt::format("  {}{}: copy {:.0f} GB/s, compute {:.0f} GFLOP/s ({}; measured {})\n", c.device_name,
                             c.compute_units > 0 ? fmt::format(" ({} {})", c.compute_units, c.backend == "cuda" ? "SMs" : c.backend == "opencl" ? "compute units" : "threads") : "",
                             c.copy_gbps, c.flops_gflops, c.method, c.measured_at);
  }
  return kExitOk;
}

struct ImportArgs {
  std::string source, out;
  std::optional<int> level;
  std::string problems;
  std::vector<std::string> tasks;
  bool forward_only = false, backward_only = false;
};

// Prints what an import wrote and skipped; exit 0 when something was imported.
int ReportImport(const core::Expected<task::ImportReport>& report, const std::string& out) {
  if (!report.ok()) {
    std::cerr << "kfoundry: " << report.error().message << "\n";
    return kExitUsage;
  }
  for (const auto& s : report->skipped) std::cerr << "skipped " << s << "\n";
  std::cout << fmt::format("imported {} task{} into {}{}\n", report->task_dirs.size(),
                           report->task_dirs.size() == 1 ? "" : "s", out,
                           report->skipped.empty() ? "" : fmt::format(" ({} skipped, listed above)", report->skipped.size()));
  return report->task_dirs.empty() ? kExitUsage : kExitOk;
}

int CmdImportKernelBench(const ImportArgs& a) {
  task::KernelBenchImport options;
  options.level = a.level;
  if (!a.problems.empty()) {
    auto ids = task::ParseProblemList(a.problems);
    if (!ids.ok()) {
      std::cerr << "kfoundry: " << ids.error().message << "\n";
      return kExitUsage;
    }
    options.problems = std::move(ids).value();
  }
  return ReportImport(task::ImportKernelBench(a.source, a.out, options), a.out);
}

int CmdImportRobustKbench(const ImportArgs& a) {
  task::RobustKbenchImport options;
  options.forward = !a.backward_only;
  options.backward = !a.forward_only;
  options.tasks = a.tasks;
  return ReportImport(task::ImportRobustKbench(a.source, a.out, options), a.out);
}

struct SuiteArgs {
  std::string suite_dir, candidates_dir, csv;
  bool json = false;
  int jobs = 0;
  std::optional<double> timeout;
  std::optional<std::uint64_t> seed;
};

int CmdEvalSuite(const SuiteArgs& a) {
  engine::SuiteOptions options;
  options.evaluator = MakeEvaluatorOptions(a.timeout, a.seed, fs::temp_directory_path() / "kfoundry-work", false, false);
  options.compile_workers = a.jobs;
  options.cancel = &g_stop;
  auto rows = engine::EvaluateSuite(a.suite_dir, a.candidates_dir, options);
  if (!rows.ok()) {
    std::cerr << "kfoundry: " << rows.error().message << "\n";
    return kExitUsage;
  }
  if (!a.csv.empty()) {
    if (auto written = core::WriteFileAtomic(a.csv, engine::SuiteCsv(*rows)); !written.ok()) {
      std::cerr << "kfoundry: " << written.error().message << "\n";
      return kExitUsage;
    }
  }
  std::cout << (a.json ? engine::SuiteJson(*rows).dump(2) + "\n" : engine::SuiteTable(*rows));
  if (g_stop.load()) return kExitInterrupted;
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kfoundry: evolve fast, correct kernels with LLMs and a trustworthy evaluator"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kfoundry 0.1.0");

  EvalArgs eval_args;
  CLI::App* eval_cmd = app.add_subcommand("eval", "Evaluate one kernel: static checks, compile, correctness, timing");
  eval_cmd->add_option("task_dir", eval_args.task_dir, "Task package directory (holds task.yaml)")->required()->check(CLI::ExistingDirectory);
  eval_cmd->add_option("kernel", eval_args.kernel, "Candidate source file")->required()->check(CLI::ExistingFile);
  eval_cmd->add_flag("--json", eval_args.json, "Print the verdict as JSON");
  eval_cmd->add_option("--timeout", eval_args.timeout, "Wall-clock limit in seconds for each harness run");
  eval_cmd->add_option("--seed", eval_args.seed, "Seed for input generation");
  eval_cmd->add_flag("--profile", eval_args.profile, "cuda: Nsight Compute metrics of a passing kernel");
  eval_cmd->add_flag("--sanitize", eval_args.sanitize, "cuda: compute-sanitizer memcheck and racecheck, opencl: oclgrind; a finding fails");
  eval_cmd->footer("Exit status: 0 passed, 1 any failing verdict, 2 usage or task error.");

  RunArgs run_args;
  TuneArgs tune_args;
  CLI::App* tune_cmd = app.add_subcommand("tune", "Tune a parameterized kernel (// @param, // @constraint): search its configurations through the evaluator, print the dispatch table, write a C++ header");
  tune_cmd->add_option("task_dir", tune_args.task_dir, "Task package directory (holds task.yaml)")->required()->check(CLI::ExistingDirectory);
  tune_cmd->add_option("kernel", tune_args.kernel, "Kernel source declaring its parameters")->required()->check(CLI::ExistingFile);
  tune_cmd->add_option("--searcher", tune_args.searcher, "exhaustive, random, model or bandit (default: exhaustive up to 64 configurations, bandit above)");
  tune_cmd->add_option("--budget", tune_args.budget, "At most this many configurations (the default configuration is timed besides)")->check(CLI::PositiveNumber);
  tune_cmd->add_option("--time", tune_args.time_s, "Stop starting configurations after this many seconds")->check(CLI::PositiveNumber);
  tune_cmd->add_option("--fraction", tune_args.fraction, "At most this fraction of the allowed configurations")->check(CLI::Range(1e-9, 1.0));
  tune_cmd->add_option("--search-seed", tune_args.search_seed, "Seed of the searcher's random choices");
  tune_cmd->add_option("-j,--jobs", tune_args.jobs, "Parallel compiles (default: one per hardware thread)");
  tune_cmd->add_flag("--no-cache", tune_args.no_cache, "Time every configuration again instead of reading earlier results");
  tune_cmd->add_option("--header", tune_args.header, "Where to write the dispatch header (default: ENTRY_tuned.h here)");
  tune_cmd->add_option("--json", tune_args.json, "Also write the table and every trial as JSON");
  tune_cmd->add_option("--best", tune_args.best, "Also write the kernel instantiated with the best configuration over the shapes");
  tune_cmd->add_option("--timeout", tune_args.timeout, "Wall-clock limit in seconds for each harness run");
  tune_cmd->footer("Exit status: 0 a configuration passed, 1 none did, 2 usage, task or declaration error.");

  CLI::App* run_cmd = app.add_subcommand("run", "Evolve kernels for a task, or for every task of a suite, with an LLM (MAP-Elites with evolving meta-prompts by default)");
  run_cmd->add_option("task_dir", run_args.task_dir, "Task package directory, or a suite: a folder of task packages at any depth (an imported KernelBench level)");
  run_cmd->add_option("--resume", run_args.resume, "Continue the run (or suite run) stored in this run directory");
  run_cmd->add_option("--run-dir", run_args.run_dir, "Where the run is stored (default runs/<task or suite>-<time>; a suite's tasks under it by path)");
  run_cmd->add_option("--model", run_args.model, "[provider:]model, e.g. gpt-4.1-mini or anthropic:claude-sonnet-4-5 (default: $KF_MODEL); several with weights: gpt-4.1-mini@3,anthropic:claude-sonnet-4-5@1");
  run_cmd->add_option("--models", run_args.models_file, "An ensemble file (YAML or JSON): models with weights and per-model settings, selection weighted or ucb")->check(CLI::ExistingFile);
  run_cmd->add_option("--budget", run_args.budget, "LLM samples to draw (default 10)");
  run_cmd->add_option("--max-cost", run_args.max_cost, "Stop issuing LLM requests once this many USD are spent");
  run_cmd->add_option("--concurrency", run_args.concurrency, "LLM requests in flight at once")->check(CLI::Range(1, 64));
  run_cmd->add_option("-j,--jobs", run_args.jobs, "Parallel compiles (default: one per hardware thread)");
  run_cmd->add_option("--strategy", run_args.strategy, "Search strategy: map-elites (default), refine, best-of-n");
  run_cmd->add_flag("--no-meta-prompts", run_args.no_meta_prompts, "map-elites: keep the built-in instructions instead of evolving them");
  run_cmd->add_option("--islands", run_args.islands, "map-elites: islands (default 4)")->check(CLI::Range(1, 64));
  run_cmd->add_option("--migration-interval", run_args.migration_interval, "map-elites: generations between ring migrations (default 8; 0 = never)")->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--profile-axis", run_args.profile_axes, "map-elites, with --profile: an extra archive axis from a profile metric and its level edges, e.g. dram_throughput_pct:30,60,85 (repeatable)");
  run_cmd->add_option("--prompt-evolve-every", run_args.prompt_evolve_every, "map-elites: samples between prompt-engineer edits (default 8; 0 = never)")->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--temperature", run_args.temperature, "Sampling temperature");
  run_cmd->add_option("--seed", run_args.seed, "Seed for input generation");
  run_cmd->add_option("--timeout", run_args.timeout, "Wall-clock limit in seconds for each harness run");
  run_cmd->add_flag("--profile", run_args.profile, "cuda: Nsight Compute metrics of passing kernels, fed into the next prompt");
  run_cmd->add_flag("--sanitize", run_args.sanitize, "cuda: compute-sanitizer, opencl: oclgrind on passing kernels; a finding fails them");
  run_cmd->add_option("--tune-budget", run_args.tune_budget, "Configurations tried for each kernel that declares parameters, besides its default (default 16; 0: the default only)")->check(CLI::NonNegativeNumber);
  run_cmd->footer("Environment: OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, KF_MODEL, KF_PRICES, KF_CACHE_DIR.");

  run_cmd->add_option("--executor", run_args.executor, "Where evaluations run: local (default), redis://[user:password@]host:port[/db] (workers on other hosts; password also from KF_REDIS_PASSWORD), spool:DIR (a directory shared with cluster nodes)");

  WorkerArgs worker_args;
  CLI::App* worker_cmd = app.add_subcommand("worker", "Serve evaluations on this machine's hardware, from Redis or a spool directory");
  auto* worker_exec = worker_cmd->add_option("--executor", worker_args.executor, "redis://[user:password@]host:port[/db] (password also from KF_REDIS_PASSWORD)");
  auto* worker_spool = worker_cmd->add_option("--spool", worker_args.spool, "A spool directory shared with the coordinator (run --executor spool:DIR)");
  worker_exec->excludes(worker_spool);
  worker_cmd->add_option("--tags", worker_args.tags, "Hardware tags to serve (default: what this machine has, e.g. cpu,cpu-x86_64,cuda,cuda-sm90)")->delimiter(',');
  worker_cmd->add_option("--name", worker_args.name, "Worker name, unique among live workers; at most 32 characters for a spool (default: host-pid)");
  worker_cmd->add_option("--slots", worker_args.slots, "Jobs worked on at once: compiles overlap, measurements never do (default 1)")->check(CLI::Range(1, 256));
  worker_cmd->add_option("--lease", worker_args.lease, "Seconds a job stays with a worker that stops renewing it (default 30)")->check(CLI::Range(0.2, 86400.0));
  worker_cmd->add_option("--max-attempts", worker_args.max_attempts, "Takes of a job before it is dead-lettered as worker_lost (default 3)")->check(CLI::Range(1, 100));
  worker_cmd->add_flag("--drain", worker_args.drain, "spool: exit once no job is left");
  worker_cmd->footer("Environment: KF_REDIS_PASSWORD, KF_CACHE_DIR.");

  std::string workers_executor;
  bool workers_json = false;
  CLI::App* workers_cmd = app.add_subcommand("workers", "List the live workers registered in Redis: hardware, version, load");
  workers_cmd->add_option("--executor", workers_executor, "redis://[user:password@]host:port[/db]")->required();
  workers_cmd->add_flag("--json", workers_json, "Print their advertisements as JSON");

  app.add_subcommand("devices", "List backends, toolchains and devices found on this machine");

  CompareArgs compare_args;
  CLI::App* compare_cmd = app.add_subcommand("compare", "Put runs side by side: strategy, LLM calls, cost, best speedup, coverage, and the calls and cost to reach target speedups");
  compare_cmd->add_option("run_dirs", compare_args.run_dirs, "Run directories (each holds kfoundry.db)")->required()->check(CLI::ExistingDirectory);
  compare_cmd->add_option("--target", compare_args.targets, "Target speedups (default 1,1.5,2)")->delimiter(',');
  compare_cmd->add_flag("--json", compare_args.json, "Print JSON");

  SuiteArgs suite_args;
  CLI::App* suite_cmd = app.add_subcommand("eval-suite", "Evaluate one candidate per task of a suite (e.g. an imported KernelBench level) and report correctness, fast_p and geomean speedups");
  suite_cmd->add_option("suite_dir", suite_args.suite_dir, "Folder holding task packages at any depth")->required()->check(CLI::ExistingDirectory);
  suite_cmd->add_option("candidates_dir", suite_args.candidates_dir, "Candidates: <task path>.py|.cu|.cpp, <task path>/candidate.*, or <task name>.*")->required()->check(CLI::ExistingDirectory);
  suite_cmd->add_flag("--json", suite_args.json, "Print rows and metrics as JSON");
  suite_cmd->add_option("--csv", suite_args.csv, "Also write one CSV row per problem to this file");
  suite_cmd->add_option("-j,--jobs", suite_args.jobs, "Parallel static checks and compiles (default: one per hardware thread)");
  suite_cmd->add_option("--timeout", suite_args.timeout, "Wall-clock limit in seconds for each harness run");
  suite_cmd->add_option("--seed", suite_args.seed, "Seed for input generation");

  ImportArgs kb_args;
  CLI::App* kb_cmd = app.add_subcommand("import-kernelbench", "Make torch task packages from a local KernelBench checkout");
  kb_cmd->add_option("kernelbench_dir", kb_args.source, "KernelBench checkout (or its KernelBench folder)")->required()->check(CLI::ExistingDirectory);
  kb_cmd->add_option("out_dir", kb_args.out, "Where the task packages go (OUT/level<N>/<id>_<name>/)")->required();
  kb_cmd->add_option("--level", kb_args.level, "Only this level (1-4)");
  kb_cmd->add_option("--problems", kb_args.problems, "Only these problem ids, e.g. 1,3,10-19 (with --level)");

  ImportArgs rkb_args;
  CLI::App* rkb_cmd = app.add_subcommand("import-robust-kbench", "Make torch task packages (forward and backward, every input configuration) from a local robust-kbench checkout");
  rkb_cmd->add_option("robust_kbench_dir", rkb_args.source, "robust-kbench checkout (or its tasks folder)")->required()->check(CLI::ExistingDirectory);
  rkb_cmd->add_option("out_dir", rkb_args.out, "Where the task packages go (OUT/<task>_fwd/, OUT/<task>_bwd/)")->required();
  rkb_cmd->add_option("--tasks", rkb_args.tasks, "Only these tasks (paths under tasks/, e.g. layernorm)")->delimiter(',');
  auto* fwd_flag = rkb_cmd->add_flag("--forward-only", rkb_args.forward_only, "Only the forward tasks");
  rkb_cmd->add_flag("--backward-only", rkb_args.backward_only, "Only the backward tasks")->excludes(fwd_flag);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  InstallSignalHandlers();
  if (*eval_cmd) return CmdEval(eval_args);
  if (*tune_cmd) return CmdTune(tune_args);
  if (*kb_cmd) {
    if (!kb_args.problems.empty() && !kb_args.level) {
      std::cerr << "kfoundry import-kernelbench: --problems needs --level (problem ids repeat across levels)\n";
      return kExitUsage;
    }
    return CmdImportKernelBench(kb_args);
  }
  if (*rkb_cmd) return CmdImportRobustKbench(rkb_args);
  if (*suite_cmd) return CmdEvalSuite(suite_args);
  if (*compare_cmd) return CmdCompare(compare_args);
  if (*worker_cmd) {
    if (worker_args.executor.empty() == worker_args.spool.empty()) {
      std::cerr << "kfoundry worker: give either --executor redis://... or --spool DIR\n";
      return kExitUsage;
    }
    if (worker_args.drain && worker_args.spool.empty()) {
      std::cerr << "kfoundry worker: --drain is for --spool DIR\n";
      return kExitUsage;
    }
    return CmdWorker(worker_args);
  }
  if (*workers_cmd) return CmdWorkers(workers_executor, workers_json);
  if (*run_cmd) {
    if (run_args.resume.empty() == run_args.task_dir.empty()) {
      std::cerr << "kfoundry run: give either TASK_DIR or --resume RUN_DIR\n";
      return kExitUsage;
    }
    return CmdRun(run_args);
  }
  return CmdDevices();
}
