// engine/run.h — the evolution loop.
//
// A Run owns one run directory (runs/<name>/: kfoundry.db, best.cpp, best.json). Execute()
// reads as a table of contents: restore, evaluate seeds, then iterate (the strategy plans each
// sample's parent and inspirations, a meta-prompt and a model are picked, the LLM writes a
// child, its code is extracted, described and evaluated, and the search learns from the
// verdict) until the iteration or cost budget is spent or a stop is requested, then export the
// best kernel. Requests and evaluations overlap; results are taken as they arrive.
// Every LLM call, candidate and evaluation is written to the store as it completes, with the
// search's state (archive, prompt population, model statistics, random generator) in the
// evaluation's transaction, so a killed run loses only what was in flight and Run::Resume
// continues the search exactly where its last evaluation left it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/json.h"
#include "eval/ceilings.h"
#include "eval/evaluator.h"
#include "exec/executor.h"
#include "llm/ensemble.h"
#include "llm/llm_client.h"
#include "search/archive.h"
#include "store/store.h"
#include "task/task.h"

namespace kf::engine {

struct RunOptions {
  std::filesystem::path task_dir;
  std::filesystem::path run_dir;
  /// map-elites, refine or best-of-n (search/strategy.h).
  std::string strategy = "map-elites";
  /// map-elites only: evolve the prompt's instruction sections (prompt/meta_prompt.h).
  bool meta_prompts = true;
  search::ArchiveOptions archive;
  /// Kernel samples between prompt-engineer steps (0: the meta-prompts are selected and
  /// credited but never rewritten).
  int prompt_evolve_every = 8;
  /// LLM kernel samples to draw (iterations). Seeds and prompt-engineer calls do not count;
  /// every call's cost counts against max_cost_usd.
  int max_iterations = 10;
  /// Stop issuing requests once the recorded LLM cost reaches this; 0 means no cap.
  double max_cost_usd = 0;
  /// LLM requests in flight at once.
  int llm_concurrency = 2;
  /// Compile workers for the local executor; 0 means one per hardware thread.
  int compile_workers = 0;
  /// The models (as given by the user, no keys) and how each sample picks one; no models when
  /// no LLM is configured. Prompt-engineer calls go to the first model.
  llm::EnsembleSpec models;
  double temperature = 0.7;
  int max_tokens = 8192;
  std::uint64_t seed = 0x6b66'6f75'6e64'7279ULL;
  /// Prior attempts from the parent's lineage shown in each prompt.
  int history = 3;
  /// When set, each evaluation's child processes get this wall-clock limit.
  std::optional<double> timeout_seconds;
  /// Nsight Compute metrics (cuda) / sanitizers (cuda: compute-sanitizer, opencl: oclgrind) for passing
  /// candidates (EvaluatorOptions).
  bool profile = false;
  bool sanitize = false;
  /// A candidate that declares parameters (tune/space.h) is tuned before it enters the archive:
  /// its default configuration and up to this many more are evaluated and its verdict is the
  /// best one's. 0: evaluated with its default configuration only.
  int tune_budget = 16;

  core::Json ToJson() const;
  static core::Expected<RunOptions> FromJson(const core::Json& j);
};

struct RunSummary {
  int iterations = 0;  // LLM kernel samples recorded
  int candidates = 0;
  int evaluated = 0;
  int passed = 0;
  double cost_usd = 0;
  std::optional<std::int64_t> best_candidate_id;
  double best_speedup = 0;
  std::string stop_reason;  // "iteration budget", "cost budget", "interrupted", "no llm"
  /// Over every evaluated candidate, whatever the strategy (search::ArchiveMetrics).
  double qd_score = 0;
  double coverage = 0;
  int prompt_edits = 0;  // meta-prompts written by the prompt engineer in this process
  /// The loop's own time (planning, prompts, extraction, bookkeeping, store writes), not
  /// waiting for the LLM or the evaluator; and this process's wall time of Execute.
  double engine_ms = 0;
  double engine_cpu_ms = 0;  // CPU time of the loop's thread (unaffected by other load)
  double wall_ms = 0;
  /// engine_ms without the start (resubmitting, seeds) and the stop (draining, the last
  /// snapshot, exporting the best): the loop's own time in the steady state, which grows with
  /// the iterations; the rest is paid once per process.
  double steady_ms = 0;
};

/// Everything the loop needs from the outside world; the CLI builds real ones, tests fakes.
struct RunDeps {
  std::unique_ptr<store::Store> store;
  /// Evaluates on this machine, through a local executor; not needed when `executor` is set.
  std::unique_ptr<eval::Evaluator> evaluator;
  /// Where evaluations run instead (exec/remote.h: Redis, a spool directory).
  std::unique_ptr<exec::Executor> executor;
  /// The device whose launch limits parameterized kernels are tuned under; empty: this
  /// machine's (engine/tune_kernel.h DescribeTuneDevice). A remote run passes a worker's.
  std::optional<eval::DeviceCeilings> tune_device;
  /// One client per RunOptions::models entry, in order; empty: evaluate seeds only.
  std::vector<std::shared_ptr<llm::LlmClient>> llms;
  /// The tuning cache and device ceilings (engine/tune_kernel.h); empty: core::DefaultCacheDir().
  std::filesystem::path cache_dir;
};

/// Whether a run of `task` evolves the seeds' declared parameters (tune/space.h) instead of
/// asking an LLM: no LLM is configured and a seed declares parameters (not for torch tasks).
bool EvolvesConfigurations(const task::Task& task, bool llm_configured);

class Run {
 public:
  /// Starts a new run in options.run_dir (must not already hold a database).
  static core::Expected<std::unique_ptr<Run>> Start(RunOptions options, task::Task task, RunDeps deps);
  /// Continues the run stored in deps.store; `options` come from the store, with
  /// max_iterations / max_cost_usd taken from `overrides` when set there.
  static core::Expected<std::unique_ptr<Run>> Resume(task::Task task, RunDeps deps,
                                                     std::optional<int> max_iterations,
                                                     std::optional<double> max_cost_usd);
  ~Run();

  struct State;  // the loop's state and stages, private to run.cc

  /// Runs until a budget is spent or `stop` becomes true. Safe to call once.
  core::Expected<RunSummary> Execute(const std::atomic<bool>* stop = nullptr);

 private:
  explicit Run(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

/// Reads the options of the run stored in run_dir/kfoundry.db (for --resume).
core::Expected<RunOptions> LoadRunOptions(const std::filesystem::path& run_dir);

inline constexpr const char* kDbFileName = "kfoundry.db";

/// Whether a profile metric may be an archive axis (RunOptions::archive.profile_axes): Nsight
/// Compute's numbers per kernel (eval::KernelProfile), averaged over the candidate's kernels by
/// duration. ProfileAxisMetricNames lists them, for messages.
bool IsProfileAxisMetric(std::string_view name);
std::string ProfileAxisMetricNames();

}  // namespace kf::engine
