#include "engine/tune_kernel.h"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "eval/ceilings.h"
#include "exec/executor.h"

namespace kf::engine {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Expected;

/// Bumped when what an outcome means changes, so older entries are not read back.
constexpr std::string_view kTuneCacheVersion = "kf-tune-2";  // 2: the whole verdict

}  // namespace

TuneDevice DescribeTuneDevice(const task::Task& task, const fs::path& cache_dir) {
  TuneDevice d;
  if (task.backend == task::Backend::kCpu) {  // no launch limits: its name is all it takes
    const eval::DeviceCeilings cpu = eval::CpuIdentity();
    d.id = cpu.device_id;
    d.name = cpu.device_name;
    return d;
  }
  auto ceilings = eval::CeilingsFor(task.backend, cache_dir);
  if (!ceilings.ok()) {
    // The tuning still works; its cache and table are then keyed by the backend alone.
    core::LogWarn("device limits unknown ({}); @threads and @shared_bytes are not checked", ceilings.error().message);
    d.id = fmt::format("{}|unknown device", task::BackendName(task.backend));
    d.name = d.id;
    return d;
  }
  return TuneDeviceFrom(*ceilings);
}

TuneDevice TuneDeviceFrom(const eval::DeviceCeilings& ceilings) {
  TuneDevice d;
  d.id = ceilings.device_id;
  d.name = ceilings.device_name;
  if (ceilings.max_threads_per_block > 0) {
    d.limits.limits[std::string(tune::kMaxThreadsPerBlock)] = ceilings.max_threads_per_block;
  }
  if (ceilings.max_shared_bytes_per_block > 0) {
    d.limits.limits[std::string(tune::kMaxSharedBytesPerBlock)] = static_cast<double>(ceilings.max_shared_bytes_per_block);
  }
  return d;
}

namespace {

/// The outcome of one configuration on a group's shapes, from the cascade's verdict.
tune::Outcome OutcomeOf(const eval::EvalResult& r, const std::vector<std::string>& shape_labels) {
  tune::Outcome o;
  o.status = std::string(eval::StatusName(r.status));
  o.message = r.message;
  o.passed = r.status == eval::Status::kPassed && r.median_ms > 0;
  if (r.status == eval::Status::kPassed && !o.passed) o.message = "passed without a timing";
  if (!o.passed) return o;
  for (const std::string& label : shape_labels) {
    auto t = std::find_if(r.timings.begin(), r.timings.end(), [&](const eval::ShapeTiming& s) { return s.shape_label == label; });
    if (t == r.timings.end() || !(t->median_ms > 0)) {
      o.passed = false;
      o.message = fmt::format("no timing for shape {}", label);
      o.shape_ms.clear();
      return o;
    }
    o.shape_ms.push_back(t->median_ms);
  }
  o.cost_ms = r.median_ms;
  return o;
}

/// Whether a verdict belongs to the configuration for good. A timeout, a crash or a build that
/// could not run (a full disk, a missing compiler) may not recur, so it is not cached; neither
/// is anything from a cancelled evaluation (checked by the caller).
bool Deterministic(const eval::EvalResult& r) {
  switch (r.status) {
    case eval::Status::kTimeout:
    case eval::Status::kRuntimeError:
    case eval::Status::kWorkerLost:
      return false;
    case eval::Status::kCompileError:
      return r.message.rfind("could not build", 0) != 0;
    default:
      return true;
  }
}

/// Runs configurations through the executor, reading and writing the tuning cache; keeps each
/// point's whole verdict.
class CachedRunner final : public tune::TrialRunner {
 public:
  CachedRunner(exec::Executor& executor, const tune::ParamSpace& space, const std::string& source,
               std::string key_prefix, std::vector<std::string> shape_labels, fs::path cache_dir, bool use_cache,
               const std::atomic<bool>* cancel)
      : executor_(executor), space_(space), source_(source), key_prefix_(std::move(key_prefix)),
        shape_labels_(std::move(shape_labels)), cache_dir_(std::move(cache_dir)), use_cache_(use_cache), cancel_(cancel) {}

  ~CachedRunner() override {
    // Executor callbacks refer to this runner: wait for every one started.
    std::unique_lock lock(mu_);
    ready_cv_.wait(lock, [this] { return pending_ == 0; });
  }

  void Start(std::size_t point, const tune::Config& config) override {
    std::string code = space_.Instantiate(source_, config);
    core::Sha256 key;
    key.Field(key_prefix_).Field(code);
    fs::path file = cache_dir_ / (key.HexDigest().substr(0, 40) + ".json");
    const std::string label = space_.Label(config);
    if (use_cache_) {
      if (auto result = ReadCached(file)) {
        ++cached_;
        result->configuration = label;
        Finish(point, std::move(*result), /*cached=*/true);
        return;
      }
    }
    ++timed_;
    {
      std::lock_guard lock(mu_);
      ++pending_;
    }
    executor_.Submit({static_cast<std::int64_t>(point), std::move(code)},
                     [this, point, file, label](std::int64_t, eval::EvalResult result) {
                       result.configuration = label;
                       if (Deterministic(result) && !(cancel_ && cancel_->load())) {
                         if (auto written = core::WriteFileAtomic(file, result.ToJson().dump() + "\n"); !written.ok()) {
                           core::LogWarn("tuning cache: {}", written.error().message);
                         }
                       }
                       Finish(point, std::move(result), /*cached=*/false);
                     });
  }

  std::pair<std::size_t, tune::Outcome> Next() override {
    std::unique_lock lock(mu_);
    ready_cv_.wait(lock, [this] { return !ready_.empty(); });
    auto next = std::move(ready_.front());
    ready_.pop_front();
    return next;
  }

  /// The verdict of a finished point.
  const eval::EvalResult& Result(std::size_t point) const {
    std::lock_guard lock(mu_);
    return results_.at(point);
  }
  int timed() const { return timed_; }
  int cached() const { return cached_; }

 private:
  std::optional<eval::EvalResult> ReadCached(const fs::path& file) const {
    std::error_code ec;
    if (!fs::exists(file, ec)) return std::nullopt;
    auto text = core::ReadFile(file);
    auto json = text.ok() ? core::ParseJson(*text, file.string()) : Expected<core::Json>(text.error());
    auto result = json.ok() ? eval::EvalResult::FromJson(*json) : Expected<eval::EvalResult>(json.error());
    if (!result.ok()) {
      core::LogWarn("tuning cache: ignoring {}: {}", file.string(), result.error().message);
      return std::nullopt;
    }
    return std::move(*result);
  }

  void Finish(std::size_t point, eval::EvalResult result, bool cached) {
    tune::Outcome outcome = OutcomeOf(result, shape_labels_);
    outcome.cached = cached;
    // Notified under the lock: once pending_ reaches 0 the destructor may run, and the
    // condition variable with it.
    std::lock_guard lock(mu_);
    results_.insert_or_assign(point, std::move(result));
    ready_.emplace_back(point, std::move(outcome));
    if (!cached) --pending_;
    ready_cv_.notify_all();
  }

  exec::Executor& executor_;
  const tune::ParamSpace& space_;
  const std::string& source_;
  const std::string key_prefix_;
  const std::vector<std::string> shape_labels_;
  const fs::path cache_dir_;
  const bool use_cache_;
  const std::atomic<bool>* cancel_;
  int timed_ = 0, cached_ = 0;
  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  int pending_ = 0;
  std::map<std::size_t, eval::EvalResult> results_;
  std::deque<std::pair<std::size_t, tune::Outcome>> ready_;
};

std::string CacheKeyPrefix(const task::Task& task, const std::string& device_id, const std::vector<std::string>& labels,
                           const eval::EvaluatorOptions& options) {
  core::Sha256 key;
  key.Field(kTuneCacheVersion).Field(task.content_hash).Field(device_id);
  // What else decides a verdict: the inputs' seed, the time limit, profiling and sanitizers.
  key.Field(std::to_string(options.seed)).Field(options.timeout_seconds ? std::to_string(*options.timeout_seconds) : "-");
  key.Field(options.profile ? "profile" : "-").Field(options.sanitize ? "sanitize" : "-");
  for (const std::string& label : labels) key.Field(label);
  return key.HexDigest();
}

/// Shapes grouped by the configurations they allow, in the task's shape order.
struct ShapeGroups {
  std::vector<TuneGroup> groups;
  std::vector<std::string> untunable;  // "shape: why the default is not allowed"
};

Expected<ShapeGroups> GroupShapes(const task::Task& task, const tune::ParamSpace& space, const TuneDevice& device) {
  ShapeGroups out;
  for (std::size_t s = 0; s < task.shapes.size(); ++s) {
    tune::Environment env = device.limits;
    env.scalars = task.shapes[s].scalars;
    KF_TRY(std::vector<tune::Config> points, space.Enumerate(env));
    if (points.empty()) {
      out.untunable.push_back(fmt::format("{}: no configuration is allowed (the default: {})", task.shapes[s].label,
                                          space.Violation(space.Default(), env).value_or("allowed")));
      continue;
    }
    auto same = std::find_if(out.groups.begin(), out.groups.end(), [&](const TuneGroup& g) { return g.points == points; });
    if (same != out.groups.end()) {
      same->shapes.push_back(s);
    } else {
      out.groups.push_back(TuneGroup{{s}, std::move(points), {}, {}});
    }
  }
  return out;
}

}  // namespace

Expected<TuneReport> TuneKernel(const task::Task& task, const std::string& source, const std::string& file_label,
                                const TuneKernelOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> scalar_names = task::ScalarNames(task);
  KF_TRY(tune::ParamSpace space, tune::ParamSpace::Parse(source, file_label, scalar_names));
  if (space.empty()) {
    return core::MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("{} declares no parameters: add lines such as `// @param BLOCK: 64, 128, 256` "
                                       "and use BLOCK in the code",
                                       file_label));
  }
  const fs::path cache_dir = options.eval.cache_dir.empty() ? core::DefaultCacheDir() : options.eval.cache_dir;
  const TuneDevice device = DescribeTuneDevice(task, cache_dir);
  KF_TRY(ShapeGroups grouped, GroupShapes(task, space, device));
  for (const std::string& why : grouped.untunable) core::LogWarn("not tuned: {}", why);
  if (grouped.groups.empty()) {
    return core::MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("{}: no configuration is allowed on {} for any shape:\n  {}", file_label,
                                       device.name, fmt::join(grouped.untunable, "\n  ")));
  }

  TuneReport report;
  report.space = space;
  report.table.entry = task.entry;
  report.table.device_id = device.id;
  report.table.device_name = device.name;
  for (const tune::Param& p : space.params()) report.table.param_names.push_back(p.name);
  report.table.scalar_names = scalar_names;
  eval::EvaluatorOptions eval_options = options.eval;
  eval_options.cache_dir = cache_dir;

  for (TuneGroup& group : grouped.groups) {
    task::Task sub = task;
    sub.shapes.clear();
    std::vector<std::string> labels;
    for (std::size_t s : group.shapes) {
      sub.shapes.push_back(task.shapes[s]);
      labels.push_back(task.shapes[s].label);
    }
    KF_TRY(std::unique_ptr<eval::Evaluator> evaluator, eval::MakeEvaluator(sub, eval_options));
    std::unique_ptr<exec::Executor> executor = exec::MakeLocalExecutor(*evaluator, options.compile_workers);
    CachedRunner runner(*executor, space, source, CacheKeyPrefix(task, device.id, labels, eval_options), labels,
                        cache_dir / "tune", options.use_cache, options.eval.cancel);

    // The default configuration first, outside the searcher's budget: the table reports the
    // gain over the kernel as written.
    const tune::Config fallback = space.Default();
    if (auto at = std::find(group.points.begin(), group.points.end(), fallback); at != group.points.end()) {
      runner.Start(static_cast<std::size_t>(at - group.points.begin()), fallback);
      group.default_outcome = runner.Next().second;
    }
    tune::SearchOptions search;
    std::size_t budget = group.points.size();
    if (options.stop.max_evaluations) budget = std::min(budget, static_cast<std::size_t>(*options.stop.max_evaluations));
    if (options.stop.max_fraction) {
      budget = std::min(budget, static_cast<std::size_t>(*options.stop.max_fraction * static_cast<double>(group.points.size())));
    }
    search.searcher = options.searcher.value_or(tune::DefaultSearcher(group.points.size(), budget));
    search.stop = options.stop;
    search.seed = options.seed;
    search.in_flight = std::max(2, options.compile_workers > 0 ? options.compile_workers : 4);
    search.cancel = options.eval.cancel;
    report.searcher = std::string(tune::SearcherName(search.searcher));
    group.trace = tune::RunSearch(group.points, runner, search);
    executor->Drain();
    report.timed += runner.timed();
    report.cached += runner.cached();

    // Per shape, the fastest passing configuration on that shape.
    for (std::size_t pos = 0; pos < group.shapes.size(); ++pos) {
      const task::Shape& shape = task.shapes[group.shapes[pos]];
      tune::DispatchEntry entry;
      entry.shape_label = shape.label;
      entry.scalars = shape.scalars;
      auto consider = [&](const tune::Config& config, const tune::Outcome& o) {
        if (!o.passed) return;
        if (entry.config.empty() || o.shape_ms[pos] < entry.median_ms) {
          entry.config = config;
          entry.median_ms = o.shape_ms[pos];
        }
      };
      if (group.default_outcome) {
        consider(fallback, *group.default_outcome);
        if (group.default_outcome->passed) entry.default_ms = group.default_outcome->shape_ms[pos];
      }
      for (const auto& [point, outcome] : group.trace.trials) consider(group.points[point], outcome);
      if (!entry.config.empty()) report.table.entries.push_back(std::move(entry));
    }
    if (!report.best) {
      std::optional<std::pair<tune::Config, double>> best;
      if (group.default_outcome && group.default_outcome->passed) best = {{fallback, group.default_outcome->cost_ms}};
      if (group.trace.best) {
        const auto& [point, outcome] = group.trace.trials[*group.trace.best];
        if (!best || outcome.cost_ms < best->second) best = {{group.points[point], outcome.cost_ms}};
      }
      if (best) {
        report.best = best->first;
        report.best_source = space.Instantiate(source, best->first);
      }
    }
  }
  // Shapes in the task's order, whatever group they were tuned in.
  std::vector<tune::DispatchEntry> ordered;
  for (const task::Shape& shape : task.shapes) {
    for (const tune::DispatchEntry& e : report.table.entries) {
      if (e.shape_label == shape.label) ordered.push_back(e);
    }
  }
  report.table.entries = std::move(ordered);
  report.groups = std::move(grouped.groups);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace kf::engine

namespace kf::engine {
namespace {

eval::EvalResult Rejected(std::string message, std::string log) {
  eval::EvalResult r;
  r.status = eval::Status::kStaticRejected;
  r.message = std::move(message);
  r.log = std::move(log);
  return r;
}

/// What the tuning tried, for the verdict and the next prompt: the fastest configurations by
/// their geometric-mean median, then the failures by status with one example each.
std::string TuningText(const tune::ParamSpace& space, const std::vector<tune::Config>& points,
                       const std::vector<std::pair<std::size_t, tune::Outcome>>& trials, std::string_view searcher,
                       const std::string& stop_reason) {
  constexpr std::size_t kShown = 10;
  std::vector<std::pair<std::size_t, const tune::Outcome*>> passed;
  std::map<std::string, std::vector<std::pair<std::size_t, const tune::Outcome*>>> failed;
  std::set<std::size_t> seen;
  for (const auto& [point, outcome] : trials) {
    if (!seen.insert(point).second) continue;
    if (outcome.passed) {
      passed.emplace_back(point, &outcome);
    } else {
      failed[outcome.status].emplace_back(point, &outcome);
    }
  }
  std::sort(passed.begin(), passed.end(), [](const auto& a, const auto& b) { return a.second->cost_ms < b.second->cost_ms; });
  std::string out = fmt::format("tuning: {} of {} allowed configurations tried ({} searcher, stopped by {}); fastest "
                                "first, median over the shapes:\n",
                                seen.size(), points.size(), searcher, stop_reason);
  for (std::size_t i = 0; i < passed.size() && i < kShown; ++i) {
    out += fmt::format("  {}  {:.4g} ms{}\n", space.Label(points[passed[i].first]), passed[i].second->cost_ms,
                       i == 0 ? "  (kept)" : "");
  }
  if (passed.size() > kShown) out += fmt::format("  ... {} more passed\n", passed.size() - kShown);
  for (const auto& [status, list] : failed) {
    const auto& [point, outcome] = list.front();
    out += fmt::format("  {} {}: for example {}: {}\n", list.size(), status, space.Label(points[point]),
                       outcome->message.substr(0, 160));
  }
  return out;
}

}  // namespace

std::optional<std::string> ViolationOnSomeShape(const task::Task& task, const tune::ParamSpace& space,
                                                const tune::Environment& limits, const tune::Config& config) {
  for (const task::Shape& shape : task.shapes) {
    tune::Environment env = limits;
    env.scalars = shape.scalars;
    if (auto why = space.Violation(config, env)) return fmt::format("{}: {}", shape.label, *why);
  }
  return std::nullopt;
}

Expected<std::vector<tune::Config>> PointsOnEveryShape(const task::Task& task, const tune::ParamSpace& space,
                                                       const tune::Environment& limits) {
  tune::Environment first = limits;
  if (!task.shapes.empty()) first.scalars = task.shapes.front().scalars;
  KF_TRY(std::vector<tune::Config> points, space.Enumerate(first));
  std::erase_if(points, [&](const tune::Config& c) { return ViolationOnSomeShape(task, space, limits, c).has_value(); });
  return points;
}

eval::EvalResult TuneCandidate(const task::Task& task, const std::string& source, exec::Executor& executor,
                               const TuneDevice& device, const TuneCandidateOptions& options) {
  auto space = tune::ParamSpace::Parse(source, "candidate", task::ScalarNames(task));
  if (!space.ok()) {
    const std::string& m = space.error().message;
    return Rejected("parameter declarations: " + m.substr(0, m.find('\n')), m);
  }
  auto listed = PointsOnEveryShape(task, *space, device.limits);
  if (!listed.ok()) return Rejected("parameter space: " + listed.error().message, "");
  const std::vector<tune::Config>& points = *listed;
  if (points.empty()) {
    return Rejected(fmt::format("no configuration is allowed on every shape; the default breaks on {}",
                                ViolationOnSomeShape(task, *space, device.limits, space->Default()).value_or("none")),
                    "");
  }
  std::vector<std::string> labels;
  for (const task::Shape& shape : task.shapes) labels.push_back(shape.label);
  CachedRunner runner(executor, *space, source, CacheKeyPrefix(task, device.id, labels, options.eval), labels,
                      options.cache_dir / "tune", /*use_cache=*/true, options.cancel);
  std::vector<std::pair<std::size_t, tune::Outcome>> trials;
  const tune::Config fallback = space->Default();
  if (auto at = std::find(points.begin(), points.end(), fallback); at != points.end()) {
    runner.Start(static_cast<std::size_t>(at - points.begin()), fallback);
    trials.push_back(runner.Next());
  }
  tune::SearchOptions search;
  search.searcher = tune::DefaultSearcher(points.size(), static_cast<std::size_t>(std::max(0, options.budget)));
  search.stop.max_evaluations = std::max(0, options.budget);
  search.seed = options.seed;
  search.in_flight = std::max(1, options.in_flight);
  search.cancel = options.cancel;
  tune::SearchTrace trace = options.budget > 0 ? tune::RunSearch(points, runner, search) : tune::SearchTrace{{}, {}, "evaluation budget", 0};
  trials.insert(trials.end(), trace.trials.begin(), trace.trials.end());
  if (trials.empty()) return Rejected("tuning was cancelled before any configuration ran", "");

  const std::pair<std::size_t, tune::Outcome>* best = nullptr;
  for (const auto& t : trials) {
    if (t.second.passed && (!best || t.second.cost_ms < best->second.cost_ms)) best = &t;
  }
  eval::EvalResult result = runner.Result(best ? best->first : trials.front().first);
  result.tuning = TuningText(*space, points, trials, tune::SearcherName(search.searcher), trace.stop_reason);
  return result;
}

}  // namespace kf::engine
