// The evaluator of torch tasks. Every piece of Python runs in a sandboxed child of the harness
// (src/eval/torch/kf_torch.py); this file plans those children, reads their result channels,
// caches the reference's tensors and compares the candidate's with them itself, so the verdict
// never rests on a comparison made inside the candidate's process.
#include "eval/torch_evaluator.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/log.h"
#include "core/subprocess.h"
#include "eval/compare.h"
#include "eval/cpu_backend.h"
#include "eval/evaluator_common.h"
#include "eval/harness.h"
#include "eval/input_gen.h"
#include "eval/kf_torch_source.h"
#include "eval/static_check.h"
#include "prompt/prompt.h"

namespace kf::eval {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using core::Json;

std::string_view TorchHarnessSource() { return detail::kTorchHarnessSource; }

namespace {

constexpr std::size_t kLogCapBytes = 16 * 1024;
// Data and output files of KernelBench-sized problems run to hundreds of MiB each.
constexpr std::uint64_t kTorchFileSizeBytes = 16ULL << 30;
// load_inline compiles inside the build child: C++ takes ~20 s, CUDA a minute or more.
constexpr double kMinBuildSeconds = 300;
constexpr std::uint64_t kSeedMask = 0x7fff'ffff'ffff'ffffULL;

/// The last non-empty line of a log: a Python traceback ends with the exception.
std::string LastLine(const std::string& text) {
  std::size_t end = text.find_last_not_of(" \n\r\t");
  if (end == std::string::npos) return "";
  std::size_t begin = text.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(begin, std::min<std::size_t>(end + 1 - begin, 400));
}

/// The head of a compiler log: the first errors are what a reader (or an LLM) needs.
std::string Head(const std::string& text, std::size_t cap) {
  return text.size() <= cap ? text : text.substr(0, cap) + "\n[...]";
}

/// What the interpreter's torch can do (the harness's probe).
struct TorchInfo {
  std::string python;      // as given ($KF_PYTHON or task.torch.python)
  std::string executable;  // sys.executable
  std::string torch_version;
  bool cuda_available = false;
  std::string gpu_name, gpu_capability, cuda_version;
  bool has_compile = false;
};

/// What one harness child reported: the native runner's records (progress, times, completion)
/// and the torch-specific J records in order.
struct HarnessRun {
  core::SubprocessResult result;
  RunnerReport report;
  std::vector<Json> events;
};

HarnessRun ParseChannel(const task::Task& task, core::SubprocessResult result, std::string_view nonce) {
  HarnessRun run;
  std::string runner_lines;
  std::string protocol_error;
  bool after_marker = false;
  std::istringstream in(result.channel);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("J ", 0) == 0) {
      if (after_marker) {
        protocol_error = "records after the completion marker";
        continue;
      }
      auto j = core::ParseJson(std::string_view(line).substr(2), "harness record");
      if (!j.ok() || !j->is_object() || !j->contains("event") || !(*j)["event"].is_string()) {
        protocol_error = fmt::format("malformed record '{}'", line.substr(0, 80));
        continue;
      }
      run.events.push_back(std::move(*j));
      continue;
    }
    if (line.rfind("D ", 0) == 0) after_marker = true;
    runner_lines += line + "\n";
  }
  run.report = ParseRunnerReport(task, runner_lines, nonce);
  if (!protocol_error.empty() && run.report.protocol_error.empty()) run.report.protocol_error = protocol_error;
  if (!run.report.protocol_error.empty()) run.report.completed = false;
  run.result = std::move(result);
  return run;
}

/// The runner report's "where" in a torch task's words: configurations, not shapes.
std::string TorchWhere(std::string where) {
  if (where.empty()) return "start-up (importing torch and the candidate)";
  for (auto [from, to] : {std::pair<std::string_view, std::string_view>{" of shape ", " of config "},
                          {"the after-timing copy", "the after-timing check"}}) {
    if (auto at = where.find(from); at != std::string::npos) where.replace(at, from.size(), to);
  }
  return where;
}

struct HarnessCall {
  std::string python;
  fs::path harness;
  std::string command;
  Json plan;
  fs::path scratch;  // the child's working directory; plan.json is written here
  double timeout_s = 60;
  const std::atomic<bool>* cancel = nullptr;
  const std::atomic<bool>* gate = nullptr;  // "go" on stdin, and the time limit, once it is true
  std::vector<std::pair<std::string, std::string>> env;
};

core::Expected<HarnessRun> RunHarness(const task::Task& task, const HarnessCall& call) {
  const fs::path plan_path = call.scratch / "plan.json";
  KF_TRY_VOID(core::WriteFileAtomic(plan_path, call.plan.dump()));
  const std::string nonce = Nonce();
  core::SubprocessSpec spec;
  // -B: no .pyc next to the harness or the candidate; -u: a traceback is never lost in a buffer.
  spec.argv = {call.python, "-B", "-u", call.harness.string(), call.command, plan_path.string()};
  spec.working_dir = call.scratch;
  spec.env = call.env;
  spec.env.push_back({"KF_RESULT_FD", std::to_string(kResultChannelFd)});
  spec.env.push_back({"KF_NONCE", nonce});
  spec.channel_fd = kResultChannelFd;
  spec.cancel = call.cancel;
  if (call.gate != nullptr) {
    spec.stdin_gate = call.gate;
    spec.stdin_data = "go\n";
  }
  spec.limits.wall_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(call.timeout_s * 1000));
  spec.limits.address_space_bytes = 0;  // CUDA maps far more address space than it uses
  spec.limits.file_size_bytes = kTorchFileSizeBytes;
  KF_TRY(core::SubprocessResult result, core::RunSandboxed(spec));
  HarnessRun run = ParseChannel(task, std::move(result), nonce);
  // The child's phases ("torch imported 4210 ms, device ready 4530 ms, ...") say where its time went.
  std::string phases;
  for (const Json& e : run.events) {
    if (e.value("event", "") == "phase" && e.contains("name") && e["name"].is_string() && e.contains("ms") &&
        e["ms"].is_number()) {
      phases += fmt::format("{}{} {:.0f} ms", phases.empty() ? "; " : ", ", e["name"].get<std::string>(),
                            e["ms"].get<double>());
    }
  }
  core::LogDebug("torch {} child ({}): {:.0f} ms, {}{}", call.command, task.name, run.result.wall_time.count(),
                 run.result.Describe(), phases);
  return run;
}

/// Why a child did not finish its protocol, or "" when it did; *status is the verdict.
std::string ChildFailure(const HarnessRun& run, Status* status) {
  const core::SubprocessResult& res = run.result;
  const std::string where = TorchWhere(run.report.where);
  *status = Status::kRuntimeError;
  if (res.outcome == core::SubprocessResult::Outcome::kTimedOut) {
    *status = Status::kTimeout;
    return fmt::format("{} during {}", res.Describe(), where);
  }
  if (res.outcome == core::SubprocessResult::Outcome::kCancelled) return "cancelled during " + where;
  if (res.outcome == core::SubprocessResult::Outcome::kSignaled || res.exit_code != 0) {
    const std::string last = LastLine(res.stderr_text);
    return fmt::format("{} during {}{}", res.Describe(), where, last.empty() ? "" : ": " + last);
  }
  if (!run.report.protocol_error.empty()) {
    return fmt::format("the harness result channel was tampered with during {}: {}", where, run.report.protocol_error);
  }
  if (!run.report.completed) {
    return fmt::format("exited before the harness finished (exit status 0) during {} — the candidate must not exit "
                       "the process",
                       where);
  }
  return "";
}

/// The reference's timings per configuration (eager Model and torch.compile(Model)), measured
/// once per machine and cached as a small JSON file. No tensor is stored: every process makes
/// the inputs from the seeds, and the checker makes the reference's results as it needs them.
struct Baseline {
  std::vector<double> eager_median_ms;    // per config
  std::vector<double> compile_median_ms;  // per config; 0 where not measured
  std::string compile_note;               // why torch.compile was not measured
};

class TorchEvaluator final : public Evaluator {
 public:
  TorchEvaluator(const task::Task& task, EvaluatorOptions options, TorchInfo info, std::string device,
                 fs::path harness, std::string harness_hash)
      : task_(task),
        options_(std::move(options)),
        info_(std::move(info)),
        device_(std::move(device)),
        harness_(std::move(harness)),
        harness_hash_(std::move(harness_hash)),
        machine_(MachineId()) {
    for (const auto& seed : task_.seeds) {
      if (prompt::HasEvolveBlocks(seed.source)) {
        frozen_template_ = seed.source;
        break;
      }
    }
    device_id_ = device_ == "cuda" ? fmt::format("cuda|{}|sm_{}|cuda {}", info_.gpu_name, info_.gpu_capability,
                                                 info_.cuda_version)
                                   : fmt::format("cpu|{}", CpuModel());
    core::Sha256 h;
    h.Field(info_.executable).Field(info_.torch_version).Field(device_id_);
    extensions_dir_ = TorchDir() / "extensions" / h.HexDigest().substr(0, 16);
  }

  /// A suite's reference check (StartWarmUp), when the baseline is not cached: runs the
  /// reference once per configuration (a reference that fails is the task's fault: kValidation
  /// with its traceback) and compiles it with torch.compile into the inductor cache, timing
  /// nothing. The checker times the baseline on the first Measure, alone on the device, from
  /// that cache.
  core::Expected<void> WarmUp() {
    KF_TRY(Json configs, ConfigsJson(options_.seed));
    if (fs::exists(BaselineFile(configs))) return core::Ok();
    const auto t0 = Clock::now();
    KF_TRY(HarnessRun run, RunIn("warm", ReferencePlan(std::move(configs)), BaselineSeconds()));
    core::LogDebug("torch reference of {} run and compiled in {:.0f} ms", task_.name, MsSince(t0));
    Status ignored;
    if (const std::string failure = ChildFailure(run, &ignored); !failure.empty()) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("the task's reference {} failed: {}\n{}", ReferenceFile().string(), failure,
                                         Tail(run.result.stderr_text, 4000)));
    }
    return core::Ok();
  }

  ~TorchEvaluator() override {
    if (warm_thread_.joinable()) warm_thread_.join();
  }

  bool DeferredReferenceCheck() const { return options_.defer_reference_check; }

  /// Unless cached: the reference checked and its baseline timed by a checker alone, before any
  /// candidate of this evaluator is built (no candidate's code can have run yet). A reference
  /// that fails is kValidation with its traceback.
  core::Expected<void> TimeBaseline() {
    KF_TRY(Json configs, ConfigsJson(options_.seed));
    if (fs::exists(BaselineFile(configs))) return core::Ok();
    Json plan = ReferencePlan(std::move(configs));
    plan["baseline"] = true;
    plan["baseline_only"] = true;
    KF_TRY(HarnessRun run, RunIn("check", plan, BaselineSeconds()));
    const std::string reference = ReferenceFile().string();
    for (const Json& e : run.events) {
      if (e.value("event", "") == "failure") {
        return core::MakeError(core::ErrorCode::kValidation, fmt::format("the task's reference {} failed: {}\n{}",
                                                                          reference, e.value("message", "?"),
                                                                          e.value("log", "")));
      }
    }
    Status ignored;
    if (const std::string failure = ChildFailure(run, &ignored); !failure.empty() || !SaveBaseline(run)) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("the task's reference {} could not be timed: {}\n{}", reference,
                                         failure.empty() ? "no timings" : failure, Tail(run.result.stderr_text, 4000)));
    }
    return core::Ok();
  }

  /// WarmUp in the background; the first Measure (or Stage) waits for it.
  void StartWarmUp() {
    warm_thread_ = std::thread([this] { warm_result_ = WarmUp(); });
  }

  /// A deferred reference check ends within the Prepare that runs beside it: a suite's pool
  /// bounds how many run at once, and none is left running when measurements start.
  Prepared Prepare(const std::string& source) override {
    Prepared p = PrepareCandidate(source);
    (void)AwaitWarmUp();
    return p;
  }

  EvalResult Measure(const Prepared& prepared) override {
    if (auto warm = AwaitWarmUp(); !warm.ok()) {
      EvalResult r = prepared.result;
      const std::string& m = warm.error().message;
      r.status = Status::kRuntimeError;
      r.message = fmt::format("{} (a problem of the task, not of the candidate)", m.substr(0, m.find('\n')));
      r.log = m;
      return r;
    }
    return MeasureSerialized(prepared, mu_, [this](const fs::path& binary, EvalResult& r) { MeasureInto(binary, r); });
  }

  /// Starts the run child and checker of Measure(prepared), gated: they import torch (and the
  /// checker torch.compile's modules) while another candidate is measured, and touch the device
  /// only once Measure lets them go. A failure here is left for Measure to meet and report.
  bool TimesOnHostCores() const override { return device_ == "cpu"; }

  void Stage(const Prepared& prepared) override {
    if (!prepared.ready) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (!AwaitWarmUp().ok() || !LoadCachedBaseline().ok()) return;
    auto pair = StartPair(options_.seed, prepared.binary, /*rotate=*/false, /*gated=*/true);
    if (pair.ok()) staged_ = std::move(*pair);
  }

 private:
  Prepared PrepareCandidate(const std::string& source) {
    const auto t0 = Clock::now();
    Prepared p;
    EvalResult& r = p.result;
    r.code_hash = core::Sha256Hex(source);
    const fs::path candidate = TorchDir() / "candidates" / (r.code_hash + ".py");
    if (!fs::exists(candidate)) {
      if (auto w = core::WriteFileAtomic(candidate, source); !w.ok()) {
        r.message = "could not write the candidate: " + w.error().message;
        return p;
      }
    }

    // Stage 1: the EVOLVE blocks, the harness's AST lint, and the C++ rules over the sources
    // handed to load_inline.
    std::vector<StaticFinding> findings = CheckStatic(task_, source, frozen_template_);
    Json plan = BasePlan();
    plan["candidate"] = candidate.string();
    auto lint = RunIn("lint", plan, 60);
    r.phases.static_ms = MsSince(t0);
    if (!lint.ok()) {
      r.message = "could not run the torch lint: " + lint.error().message;
      return Finish(p, t0);
    }
    Status status;
    if (std::string failure = ChildFailure(*lint, &status); !failure.empty()) {
      r.status = status;
      r.message = "the torch lint failed: " + failure;
      r.log = Tail(lint->result.stderr_text, kLogCapBytes);
      return Finish(p, t0);
    }
    try {
      for (const Json& e : lint->events) {
        const std::string kind = e.at("event").get<std::string>();
        if (kind == "failure") {  // a syntax error: the module does not compile
          r.status = Status::kCompileError;
          r.message = e.at("message").get<std::string>();
          r.log = e.value("log", "");
          return Finish(p, t0);
        }
        if (kind == "finding") {
          findings.push_back({e.at("rule").get<std::string>(), e.at("line").get<int>(),
                              e.at("excerpt").get<std::string>(), e.at("reason").get<std::string>()});
        } else if (kind == "source") {
          CheckSource(e, findings);
        }
      }
    } catch (const Json::exception& ex) {
      r.message = fmt::format("the torch lint sent a malformed record: {}", ex.what());
      return Finish(p, t0);
    }
    r.phases.static_ms = MsSince(t0);
    if (!findings.empty()) {
      std::stable_sort(findings.begin(), findings.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
      r.status = Status::kStaticRejected;
      const StaticFinding& f = findings.front();
      r.message = fmt::format("line {}: {}: {}", f.line, f.rule, f.reason);
      for (const auto& g : findings) r.log += fmt::format("line {}: {}: `{}`: {}\n", g.line, g.rule, g.excerpt, g.reason);
      return Finish(p, t0);
    }

    // Stage 2: import the candidate once, which builds its extensions (or finds them built).
    const auto build_start = Clock::now();
    core::Sha256 key;
    key.Field(source).Field(harness_hash_).Field(extensions_dir_.string());
    const fs::path marker = TorchDir() / "builds" / (key.HexDigest() + ".ok");
    if (fs::exists(marker)) {
      r.phases.compile_cached = true;
    } else {
      auto build = RunIn("build", plan, std::max(kMinBuildSeconds, TimeoutSeconds()));
      if (!build.ok()) {
        r.status = Status::kCompileError;
        r.message = "could not run the build: " + build.error().message;
        return Finish(p, t0);
      }
      bool built = false;
      for (const Json& e : build->events) {
        if (e.value("event", "") == "built") built = true;
        if (e.value("event", "") == "failure") {
          r.status = Status::kCompileError;
          r.message = e.value("message", "the candidate does not import");
          r.log = Head(e.value("log", ""), kLogCapBytes);
        }
      }
      if (!built && r.status != Status::kCompileError) {
        Status ignored;
        const std::string failure = ChildFailure(*build, &ignored);
        r.status = build->result.outcome == core::SubprocessResult::Outcome::kTimedOut ? Status::kTimeout
                                                                                       : Status::kCompileError;
        r.message = "importing the candidate failed: " + (failure.empty() ? "no verdict from the harness" : failure);
        r.log = Tail(build->result.stderr_text, kLogCapBytes);
      }
      r.phases.compile_ms = MsSince(build_start);
      if (!built) return Finish(p, t0);
      (void)core::WriteFileAtomic(marker, candidate.string());
    }
    r.phases.compile_ms = MsSince(build_start);
    p.ready = true;
    p.binary = candidate;
    return Finish(p, t0);
  }

  double TimeoutSeconds() const { return options_.timeout_seconds.value_or(task_.timeout_seconds); }
  fs::path TorchDir() const { return options_.cache_dir / "torch"; }

  Prepared& Finish(Prepared& p, Clock::time_point t0) const {
    p.result.phases.total_ms = MsSince(t0);
    return p;
  }

  /// What every plan holds.
  Json BasePlan() const {
    Json plan;
    plan["device"] = device_;
    plan["extensions_dir"] = extensions_dir_.string();
    plan["trials"] = task_.correctness_trials;
    plan["backward"] = task_.torch.backward;
    plan["allowed_ops"] = task_.torch.allowed_ops;
    plan["tolerance"] = {{"atol", task_.tolerance.atol}, {"rtol", task_.tolerance.rtol}};
    const task::TimingSpec& ts = task_.timing;
    plan["timing"] = {{"warmup", ts.warmup},
                      {"min_trials", ts.min_trials},
                      {"max_trials", ts.max_trials},
                      {"max_seconds", ts.max_seconds_per_shape},
                      {"flush", ts.flush_cache}};
    return plan;
  }

  fs::path ReferenceFile() const { return task_.dir / task_.reference_file; }

  /// What every plan that runs the reference holds besides BasePlan: the reference, the
  /// configurations, and whether torch.compile(Model) is compiled and timed too.
  Json ReferencePlan(Json configs) const {
    Json plan = BasePlan();
    plan["reference"] = ReferenceFile().string();
    plan["configs"] = std::move(configs);
    plan["compile_baseline"] = task_.torch.compile_baseline && info_.has_compile;
    return plan;
  }

  /// Configurations with their keyword arguments and seeds: one model seed per configuration
  /// (ModelNew gets the same one, so parameters created in the same order match Model's) and
  /// one input seed per trial, plus one for the input set only the after-timing check sees.
  core::Expected<Json> ConfigsJson(std::uint64_t seed) const {
    Json configs = Json::array();
    for (std::size_t c = 0; c < task_.torch.configs.size(); ++c) {
      const task::TorchConfig& cfg = task_.torch.configs[c];
      KF_TRY(Json inputs, core::ParseJson(cfg.inputs_json, "torch config inputs"));
      KF_TRY(Json init, core::ParseJson(cfg.init_json, "torch config init"));
      const int ci = static_cast<int>(c);
      Json trial_seeds = Json::array();
      for (int t = 0; t <= task_.correctness_trials; ++t) {
        trial_seeds.push_back(InputSeed(seed, task_.content_hash, ci, t, "#torch-inputs") & kSeedMask);
      }
      configs.push_back({{"label", cfg.label},
                         {"inputs", std::move(inputs)},
                         {"init", std::move(init)},
                         {"model_seed", InputSeed(seed, task_.content_hash, ci, -1, "#torch-model") & kSeedMask},
                         {"trial_seeds", std::move(trial_seeds)}});
    }
    return configs;
  }

  /// Runs a harness subcommand in a fresh scratch directory (removed afterwards unless kept).
  core::Expected<HarnessRun> RunIn(const std::string& command, Json plan, double timeout_s,
                                   const std::atomic<bool>* cancel = nullptr,
                                   const std::atomic<bool>* gate = nullptr) const {
    KF_TRY(fs::path scratch, core::MakeUniqueDir(options_.work_dir, "torch-" + command + "-"));
    HarnessCall call;
    call.python = info_.python;
    call.harness = harness_;
    call.command = command;
    call.plan = std::move(plan);
    call.scratch = scratch;
    call.timeout_s = timeout_s;
    call.cancel = cancel != nullptr ? cancel : options_.cancel;
    call.gate = gate;
    call.env = {{"TORCH_EXTENSIONS_DIR", extensions_dir_.string()}, {"PYTHONDONTWRITEBYTECODE", "1"}};
    if (command == "warm" || command == "check") {
      // torch.compile's caches, kept with kfoundry's: the warm-up fills them for the timed run.
      call.env.push_back({"TORCHINDUCTOR_CACHE_DIR", (TorchDir() / "inductor" / extensions_dir_.filename()).string()});
      call.env.push_back({"TORCHINDUCTOR_FX_GRAPH_CACHE", "1"});
      call.env.push_back({"TORCHINDUCTOR_AUTOGRAD_CACHE", "1"});
      call.env.push_back({"TORCHINDUCTOR_COMPILE_THREADS", "1"});  // no pool of compile workers per task
    }
    auto run = RunHarness(task_, call);
    if (!options_.keep_work_dirs) {
      std::error_code ec;
      fs::remove_all(scratch, ec);
    }
    return run;
  }

  /// C++ static rules over one source string handed to load_inline: host rules for
  /// cpp_sources, cuda rules for cuda_sources; lines counted in the candidate file.
  void CheckSource(const Json& e, std::vector<StaticFinding>& findings) const {
    task::Task cpp;
    cpp.name = task_.name;
    cpp.backend = e.at("kind").get<std::string>() == "cuda" ? task::Backend::kCuda : task::Backend::kCpu;
    const std::string name = e.at("name").get<std::string>();
    const int first_line = e.at("line").get<int>();
    for (StaticFinding f : CheckStatic(cpp, e.at("text").get<std::string>())) {
      f.line = first_line + std::max(f.line, 1) - 1;
      f.reason += fmt::format(" (in {}, {} code passed to load_inline)", name,
                              cpp.backend == task::Backend::kCuda ? "CUDA" : "C++");
      findings.push_back(std::move(f));
    }
  }

  /// Where the reference's timings for `configs` are cached.
  fs::path BaselineFile(const Json& configs) const {
    core::Sha256 h;
    const task::TimingSpec& ts = task_.timing;
    h.Field("torch-baseline").Field(harness_hash_).Field(task_.content_hash).Field(std::to_string(options_.seed));
    h.Field(device_id_).Field(info_.torch_version).Field(info_.executable).Field(configs.dump());
    h.Field(fmt::format("{} {}", task_.correctness_trials, task_.torch.backward));
    h.Field(machine_).Field(fmt::format("{} {} {} {} {} {}", ts.warmup, ts.min_trials, ts.max_trials,
                                        ts.max_seconds_per_shape, ts.flush_cache, task_.torch.compile_baseline));
    return TorchDir() / "baseline" / (h.HexDigest().substr(0, 32) + ".json");
  }

  /// torch.compile compiles every configuration before it can be timed (from the inductor
  /// cache when the warm-up filled it).
  double BaselineSeconds() const { return std::max(300.0, 4 * TimeoutSeconds()); }

  /// The reference's timings for the main seed from the cache, or nullopt when not cached.
  core::Expected<std::optional<Baseline>> LoadBaseline() const {
    KF_TRY(Json configs, ConfigsJson(options_.seed));
    const fs::path file = BaselineFile(configs);
    if (!fs::exists(file)) return std::optional<Baseline>();
    KF_TRY(std::string text, core::ReadFile(file));
    KF_TRY(Json ready, core::ParseJson(text, file.string()));
    Baseline b;
    try {
      b.eager_median_ms = ready.at("eager_median_ms").get<std::vector<double>>();
      b.compile_median_ms = ready.at("compile_median_ms").get<std::vector<double>>();
      b.compile_note = ready.value("compile_note", "");
      if (b.eager_median_ms.size() != task_.torch.configs.size() ||
          b.compile_median_ms.size() != task_.torch.configs.size()) {
        throw std::runtime_error("config count");
      }
    } catch (const std::exception& ex) {
      return core::MakeError(core::ErrorCode::kIo, fmt::format("the cached baseline {} is damaged ({}); delete it",
                                                                file.string(), ex.what()));
    }
    return std::optional<Baseline>(std::move(b));
  }

  /// The baseline the checker timed (eager times as its T records, torch.compile's as events),
  /// cached; false when it did not time every configuration.
  bool SaveBaseline(const HarnessRun& check) {
    // Only a checker whose channel is clean and that timed the baseline once, as the run
    // child's first request asked.
    int timed = 0;
    for (const Json& e : check.events) timed += e.value("event", "") == "phase" && e.value("name", "") == "baseline timed";
    if (timed != 1 || !check.report.protocol_error.empty()) return false;
    const std::size_t nconfigs = task_.torch.configs.size();
    Baseline b;
    b.eager_median_ms.assign(nconfigs, 0);
    b.compile_median_ms.assign(nconfigs, 0);
    for (std::size_t c = 0; c < nconfigs; ++c) {
      auto it = check.report.trial_ms.find(static_cast<int>(c));
      if (it == check.report.trial_ms.end() || it->second.empty()) return false;
      b.eager_median_ms[c] = Summarize(it->second).median;
    }
    try {
      for (const Json& e : check.events) {
        const std::string kind = e.value("event", "");
        const std::size_t c = e.value("config", std::size_t{0});
        if (kind == "compile_times" && c < nconfigs && e.contains("times") && !e["times"].empty()) {
          b.compile_median_ms[c] = Summarize(e["times"].get<std::vector<double>>()).median;
        } else if (kind == "compile_unavailable" && b.compile_note.empty()) {
          b.compile_note = e.value("reason", "unavailable");
        }
      }
    } catch (const Json::exception&) {
      return false;
    }
    if (task_.torch.compile_baseline && b.compile_note.empty() && !info_.has_compile) {
      b.compile_note = fmt::format("torch {} has no torch.compile", info_.torch_version);
    }
    if (!b.compile_note.empty()) core::LogDebug("torch.compile baseline of {}: {}", task_.name, b.compile_note);
    Json ready;
    ready["eager_median_ms"] = b.eager_median_ms;
    ready["compile_median_ms"] = b.compile_median_ms;
    ready["compile_note"] = b.compile_note;
    baseline_ = std::move(b);
    auto configs = ConfigsJson(options_.seed);
    if (!configs.ok()) return true;
    // Kept as it is when another evaluator cached the same baseline first: timings already
    // handed out stay the ones on disk.
    const fs::path file = BaselineFile(*configs);
    const fs::path tmp = fs::path(file.string() + ".tmp." + Nonce());
    if (core::WriteFileAtomic(tmp, ready.dump()).ok()) {
      const bool first = ::link(tmp.c_str(), file.c_str()) == 0;
      std::error_code ec;
      fs::remove(tmp, ec);
      if (auto cached = LoadBaseline(); !first && cached.ok() && *cached) baseline_ = std::move(**cached);
    }
    return true;
  }

  /// A check's verdict: nullopt when it passed.
  using Failure = std::optional<std::pair<Status, std::string>>;

  /// The checker's report of a wrong result, in the words the native backends use.
  std::string MismatchMessage(const Json& ev, EvalResult& r) const {
    if (ev.contains("message") && ev["message"].is_string()) return ev["message"].get<std::string>();
    const Json& m = ev.at("mismatch");
    auto number = [&](const char* key) { return std::strtod(m.at(key).get<std::string>().c_str(), nullptr); };
    Mismatch mm;
    mm.arg = m.at("what").get<std::string>();
    mm.kind = m.at("kind").get<std::string>();
    mm.bad_count = m.at("bad_count").get<std::int64_t>();
    mm.total = m.at("total").get<std::int64_t>();
    mm.first_bad_index = m.at("first_bad_index").get<std::int64_t>();
    mm.first_bad_coord = Coordinate(m.at("shape").get<std::vector<std::int64_t>>(), mm.first_bad_index);
    mm.expected = number("expected");
    mm.actual = number("actual");
    mm.max_abs_error = number("max_abs_error");
    mm.max_rel_error = number("max_rel_error");
    const int c = ev.at("config").get<int>();
    const int trial = ev.at("trial").get<int>();
    const std::string pass = ev.at("pass").get<std::string>();
    mm.shape_label = c >= 0 && c < static_cast<int>(task_.torch.configs.size()) ? task_.torch.configs[c].label : "?";
    mm.trial = pass == "after" ? -1 : trial;
    r.mismatch = mm;
    std::string message = DescribeMismatch(mm, "config");
    if (mm.kind == "input_mutated") return message;
    if (pass == "second") {
      message += "; this was the second call on fresh copies of the same inputs: ModelNew must not keep results or "
                 "state between calls";
    } else if (pass == "first" && trial > 0) {
      message += " (a result kept from an earlier call, or an output buffer reused across calls, shows up here)";
    } else if (pass == "recheck") {
      message += fmt::format("; ModelNew returned the right result on that ({}) call, and a later call changed it: "
                             "return new tensors on every call (an output buffer reused across calls shows up here)",
                             ev.value("of", "?"));
    } else if (pass == "timed") {
      message = fmt::format("timed call {} (input set {}) returned a wrong result: ModelNew must compute every call, "
                            "also while it is being timed: {}",
                            ev.value("call", 0), trial, message);
    }
    return message;
  }

  Failure OpAuditFailure(const Json& ev) const {
    std::vector<std::pair<std::int64_t, std::string>> ops;
    for (const auto& [name, count] : ev.at("ops").items()) ops.push_back({count.get<std::int64_t>(), name});
    std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string list;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      list += fmt::format("{}{} (x{})", i > 0 ? ", " : "", ops[i].second, ops[i].first);
    }
    const int c = ev.at("config").get<int>();
    return std::pair{Status::kStaticRejected,
                     fmt::format("torch_fallback (runtime op audit): ModelNew ran PyTorch operators {} during "
                                 "{} of config {}; compute with your own kernels — PyTorch may only allocate, view, "
                                 "reshape and copy tensors there{}",
                                 list, ev.value("where", "a call"),
                                 c >= 0 && c < static_cast<int>(task_.torch.configs.size())
                                     ? task_.torch.configs[c].label
                                     : "?",
                                 task_.torch.allowed_ops.empty() ? "" : " (plus the task's allowed_ops)")};
  }

  /// Where results travel from the run child to the checker: $KF_EXCHANGE_DIR, else /dev/shm
  /// when it has room (memory: no disk writes for results of several GiB; containers often give
  /// it 64 MiB), else the work directory.
  fs::path ExchangeRoot() const {
    constexpr std::uint64_t kMinShmBytes = 4ULL << 30;
    if (const char* dir = std::getenv("KF_EXCHANGE_DIR"); dir != nullptr && *dir != '\0') return dir;
    struct statvfs shm {};
    if (::access("/dev/shm", W_OK | X_OK) == 0 && ::statvfs("/dev/shm", &shm) == 0 &&
        static_cast<std::uint64_t>(shm.f_bavail) * shm.f_frsize >= kMinShmBytes) {
      return "/dev/shm/kfoundry";
    }
    return options_.work_dir;
  }

  /// A run child and its checker with their exchange directory (the two FIFOs of the link and
  /// the files results travel in). Started gated (Stage), both import torch and wait: the
  /// checker on its stdin before it touches the device, the run child on the link; their time
  /// limits count from the gate.
  struct Pair {
    std::uint64_t seed = 0;
    fs::path candidate;
    bool rotate = false, time_baseline = false, keep = false;
    fs::path exchange;
    std::atomic<bool> gate{false}, stop_run{false}, stop_check{false}, run_done{false}, check_done{false};
    std::optional<core::Expected<HarnessRun>> run, check;
    std::thread runner, checker;
    ~Pair() {
      stop_run = stop_check = true;  // nothing left to stop once both are done
      gate = true;
      if (runner.joinable()) runner.join();
      if (checker.joinable()) checker.join();
      std::error_code ec;
      if (!keep) fs::remove_all(exchange, ec);
    }
  };

  core::Expected<std::unique_ptr<Pair>> StartPair(std::uint64_t seed, const fs::path& candidate, bool rotate,
                                                  bool gated) {
    KF_TRY(Json configs, ConfigsJson(seed));
    KF_TRY(fs::path exchange, core::MakeUniqueDir(ExchangeRoot(), "torch-exchange-"));
    auto p = std::make_unique<Pair>();
    p->seed = seed;
    p->candidate = candidate;
    p->rotate = rotate;
    p->exchange = exchange;
    p->keep = options_.keep_work_dirs;
    p->gate = !gated;
    p->time_baseline = !baseline_.has_value();
    const fs::path requests = exchange / "requests", replies = exchange / "replies";
    if (::mkfifo(requests.c_str(), 0600) != 0 || ::mkfifo(replies.c_str(), 0600) != 0) {
      return core::MakeError(core::ErrorCode::kIo, fmt::format("could not make the checker's FIFOs in {}: {}",
                                                               exchange.string(), std::strerror(errno)));
    }
    Json plan = ReferencePlan(std::move(configs));
    plan["exchange_dir"] = exchange.string();
    plan["requests"] = requests.string();
    plan["replies"] = replies.string();
    Json check_plan = plan;
    plan["candidate"] = candidate.string();
    plan["rotate_timing_inputs"] = rotate;
    check_plan["baseline"] = p->time_baseline;
    check_plan["gated"] = gated;
    const double baseline_s = p->time_baseline ? BaselineSeconds() : 0;
    Pair* raw = p.get();
    // The checker makes the reference's results as well as comparing: it may take longer.
    raw->checker = std::thread([this, raw, check_plan = std::move(check_plan), baseline_s] {
      raw->check.emplace(
          RunIn("check", check_plan, 2 * TimeoutSeconds() + 60 + baseline_s, &raw->stop_check, &raw->gate));
      raw->check_done = true;
    });
    // The run child waits while the checker times the baseline.
    raw->runner = std::thread([this, raw, plan = std::move(plan), baseline_s] {
      raw->run.emplace(RunIn("run", plan, TimeoutSeconds() + baseline_s, &raw->stop_run, &raw->gate));
      raw->run_done = true;
    });
    return p;
  }

  /// Lets the pair go and waits for both. A checker that ends first has failed: the run child
  /// gets a grace period (it reads end-of-file and stops by itself) and is then ended; the
  /// checker likewise once the run child is gone.
  void FinishPair(Pair& p) const {
    constexpr auto kGrace = std::chrono::seconds(5);
    p.gate = true;
    std::optional<Clock::time_point> first_done;
    while (!(p.run_done && p.check_done)) {
      if (options_.cancel != nullptr && options_.cancel->load()) p.stop_run = p.stop_check = true;
      if ((p.run_done || p.check_done) && !first_done) first_done = Clock::now();
      if (first_done && Clock::now() - *first_done > kGrace) p.stop_run = p.stop_check = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    p.checker.join();
    p.runner.join();
  }

  /// One run child and its checker over the inputs of `seed`: correctness, op audit, timing,
  /// after-timing check. Fills r's timings (speedups against the baseline's eager and compile
  /// medians) and returns true when everything passed; otherwise r.status and r.message say why.
  bool RunAndCheck(std::uint64_t seed, const fs::path& candidate, bool rotate, EvalResult& r) {
    auto fail = [&](Status status, std::string message) {
      r.status = status;
      r.message = std::move(message);
      return false;
    };
    // The pair Stage started for this candidate, or a new one.
    // (A staged checker that times a baseline cached meanwhile leaves the cached one in force.)
    std::unique_ptr<Pair> pair = std::move(staged_);
    if (pair && (pair->seed != seed || pair->candidate != candidate || pair->rotate != rotate)) pair.reset();
    if (!pair) {
      auto started = StartPair(seed, candidate, rotate, /*gated=*/false);
      if (!started.ok()) return fail(Status::kRuntimeError, started.error().message);
      pair = std::move(*started);
    }
    const auto child_start = Clock::now();
    FinishPair(*pair);
    const double child_ms = MsSince(child_start);
    auto& run = *pair->run;
    auto& check = *pair->check;
    if (!run.ok()) return fail(Status::kRuntimeError, "could not start the torch harness: " + run.error().message);
    if (!check.ok()) return fail(Status::kRuntimeError, "could not start the checker: " + check.error().message);
    // The checker times the baseline before the candidate is imported: whatever the candidate
    // does next, those timings hold.
    if (pair->time_baseline) SaveBaseline(*check);
    const RunnerReport& rep = run->report;
    r.phases.kernel_ms += rep.kernel_ms;
    r.phases.flush_ms += rep.flush_ms;
    r.log = Tail(run->result.stderr_text, kLogCapBytes);
    r.phases.correctness_ms += std::max(0.0, child_ms - rep.timing_ms);
    r.phases.timing_ms += rep.timing_ms;

    const int nconfigs = static_cast<int>(task_.torch.configs.size());
    std::vector<int> checked(nconfigs, 0), timed(nconfigs, 0);
    try {
      // The checker's verdict first: the run child stops at the first result it rejects.
      for (const Json& ev : check->events) {
        const std::string kind = ev.at("event").get<std::string>();
        if (kind == "ipc_unavailable") {
          core::LogDebug("torch checker: no CUDA IPC ({}); results travel through files", ev.value("reason", "?"));
        }
        if (kind == "mismatch") {
          auto status = ParseStatus(ev.at("status").get<std::string>());
          if (const std::string log = ev.value("log", ""); !log.empty()) r.log = Tail(log, kLogCapBytes) + "\n" + r.log;
          return fail(status.ok() ? *status : Status::kRuntimeError, MismatchMessage(ev, r));
        }
        if (kind == "failure") {
          r.log = Tail(ev.value("log", ""), kLogCapBytes) + "\n" + r.log;
          return fail(Status::kRuntimeError,
                      fmt::format("the task's reference failed while this candidate was checked (a problem of the "
                                  "task, not of the candidate): {}",
                                  ev.value("message", "?")));
        }
        const int c = ev.value("config", -1);
        const std::string pass = ev.value("pass", "");
        if (kind == "checked" && c >= 0 && c < nconfigs && pass != "recheck") ++(pass == "timed" ? timed : checked)[c];
      }
      for (const Json& ev : run->events) {
        const std::string kind = ev.at("event").get<std::string>();
        Failure bad;
        if (kind == "torch_ops") {
          bad = OpAuditFailure(ev);
        } else if (kind == "failure") {
          auto status = ParseStatus(ev.at("status").get<std::string>());
          bad = std::pair{status.ok() ? *status : Status::kRuntimeError, ev.at("message").get<std::string>()};
          if (const std::string log = ev.value("log", ""); !log.empty()) r.log = Tail(log, kLogCapBytes) + "\n" + r.log;
        }
        if (bad) return fail(bad->first, bad->second);
      }
    } catch (const std::exception& ex) {
      return fail(Status::kRuntimeError, fmt::format("the harness sent a malformed record: {}", ex.what()));
    }
    // The run child's failure is the verdict, unless the checker broke (rather than being ended
    // here after the run child): that explains a run child ended for it.
    Status status;
    const std::string checker_failure = ChildFailure(*check, &status);
    const bool checker_broke =
        !checker_failure.empty() && check->result.outcome != core::SubprocessResult::Outcome::kCancelled;
    if (const std::string failure = ChildFailure(*run, &status); !failure.empty() && !checker_broke) {
      return fail(status, failure);
    }
    if (!checker_failure.empty()) {
      r.log = Tail(check->result.stderr_text, kLogCapBytes) + "\n" + r.log;
      return fail(Status::kRuntimeError, "kfoundry's checker failed: " + checker_failure);
    }

    if (!baseline_) {
      return fail(Status::kRuntimeError, "the checker did not time the reference (see the log): no speedup can be "
                                         "computed");
    }
    r.timings.clear();
    for (int c = 0; c < nconfigs; ++c) {
      auto it = rep.trial_ms.find(c);
      if (it == rep.trial_ms.end() || checked[c] != 2 * task_.correctness_trials + 1 ||
          (rotate && timed[c] != static_cast<int>(it->second.size()))) {
        return fail(Status::kRuntimeError,
                    fmt::format("the harness did not finish config {}: {} of {} results checked{} (see the log)",
                                task_.torch.configs[c].label, checked[c], 2 * task_.correctness_trials + 1,
                                it == rep.trial_ms.end() ? ", no timing" : ""));
      }
      const SampleStats st = Summarize(it->second);
      ShapeTiming tm;
      tm.shape_label = task_.torch.configs[c].label;
      tm.trials = static_cast<int>(it->second.size());
      tm.median_ms = st.median;
      tm.min_ms = st.min;
      tm.cv = st.cv;
      tm.reference_median_ms = baseline_->eager_median_ms.at(c);
      tm.speedup = tm.reference_median_ms / std::max(st.median, 1e-6);
      const double compiled = baseline_->compile_median_ms.at(c);
      if (compiled > 0) {
        tm.compile_median_ms = compiled;
        tm.speedup_vs_compile = compiled / std::max(st.median, 1e-6);
      }
      r.timings.push_back(tm);
    }
    SetGeometricMeans(r);  // speedup_vs_compile only when every configuration has a compile baseline
    r.status = Status::kPassed;
    return true;
  }

  /// baseline_ from the cache when it is there and not loaded yet.
  core::Expected<void> LoadCachedBaseline() {
    if (baseline_) return core::Ok();
    KF_TRY(std::optional<Baseline> cached, LoadBaseline());
    baseline_ = std::move(cached);
    return core::Ok();
  }

  /// The background WarmUp's outcome once it is done (ok when there was none).
  core::Expected<void> AwaitWarmUp() {
    std::lock_guard<std::mutex> lock(warm_mu_);
    if (warm_thread_.joinable()) warm_thread_.join();
    return warm_result_.value_or(core::Ok());
  }

  void MeasureInto(const fs::path& candidate, EvalResult& r) {
    if (auto loaded = LoadCachedBaseline(); !loaded.ok()) {
      // Not the candidate's fault, but a verdict still has to say why nothing was measured.
      r.status = Status::kRuntimeError;
      r.message = loaded.error().message;
      return;
    }
    if (!RunAndCheck(options_.seed, candidate, /*rotate=*/false, r)) return;
    if (!baseline_->compile_note.empty()) r.log = "no torch.compile baseline: " + baseline_->compile_note + "\n" + r.log;
    const int nconfigs = static_cast<int>(task_.torch.configs.size());
    std::string compile_text =
        r.speedup_vs_compile > 0 ? fmt::format(", {:.3g}x vs torch.compile", r.speedup_vs_compile) : "";
    r.message = fmt::format("correct on {} config{} x {} trials; speedup {:.3g}x vs eager{}", nconfigs,
                            nconfigs == 1 ? "" : "s", task_.correctness_trials, r.speedup, compile_text);
    const double limit = task_.torch.max_speedup;
    if (r.speedup <= limit) return;

    // Too good to be believed without a second look: fresh inputs (a new seed), every timed
    // call on fresh copies of the input sets in turn with its result checked, and the times
    // from this run are the ones reported.
    const double first = r.speedup;
    const std::uint64_t fresh_seed = core::Fnv1a64("kfoundry torch re-verification", options_.seed);
    if (!RunAndCheck(fresh_seed, candidate, /*rotate=*/true, r)) {
      r.message = fmt::format("speedup {:.3g}x is above the task's max_speedup {:.3g}x and re-verification with fresh "
                              "inputs failed: {}",
                              first, limit, r.message);
      return;
    }
    compile_text = r.speedup_vs_compile > 0 ? fmt::format(", {:.3g}x vs torch.compile", r.speedup_vs_compile) : "";
    r.message = fmt::format("correct on {} config{} x {} trials; speedup {:.3g}x vs eager{} (first measured {:.3g}x, "
                            "above the task's max_speedup {:.3g}x: re-verified on fresh inputs and re-timed with "
                            "fresh copies each call{})",
                            nconfigs, nconfigs == 1 ? "" : "s", task_.correctness_trials, r.speedup, compile_text,
                            first, limit, r.speedup > limit ? "; still above it" : "");
  }

  const task::Task task_;  // a copy: the caller's Task may not outlive the evaluator
  EvaluatorOptions options_;
  TorchInfo info_;
  std::string device_;  // "cpu" or "cuda"
  fs::path harness_;
  std::string harness_hash_;
  std::string machine_;
  std::string device_id_;
  fs::path extensions_dir_;
  std::string frozen_template_;

  std::mutex mu_;  // guards everything below (Measure is serialized)
  std::optional<Baseline> baseline_;
  std::mutex warm_mu_;                           // guards the two below
  std::thread warm_thread_;                      // a deferred WarmUp
  std::optional<core::Expected<void>> warm_result_;
  std::unique_ptr<Pair> staged_;  // last: its children are ended before anything they use goes
};

/// The harness written into the cache directory, named by its hash: several kfoundry versions
/// sharing one cache never run each other's harness.
core::Expected<std::pair<fs::path, std::string>> InstallHarness(const fs::path& cache_dir) {
  const std::string hash = core::Sha256Hex(TorchHarnessSource());
  const fs::path path = cache_dir / "torch" / fmt::format("kf_torch-{}.py", hash.substr(0, 16));
  if (!fs::exists(path)) KF_TRY_VOID(core::WriteFileAtomic(path, TorchHarnessSource()));
  return std::pair{path, hash};
}

constexpr std::string_view kInstallHint =
    "install Python 3 with PyTorch (Debian: apt-get install python3-torch) or point $KF_PYTHON (or the task's "
    "torch.python) at an interpreter that has it";

core::Expected<TorchInfo> RunProbe(const task::Task& task, const EvaluatorOptions& options, const std::string& python,
                                   const fs::path& harness) {
  KF_TRY(fs::path scratch, core::MakeUniqueDir(options.work_dir, "torch-probe-"));
  HarnessCall call;
  call.python = python;
  call.harness = harness;
  call.command = "probe";
  call.plan = Json::object();
  call.scratch = scratch;
  call.timeout_s = 180;  // the first CUDA initialization can take a while
  call.cancel = options.cancel;
  auto run = RunHarness(task, call);
  std::error_code ec;
  fs::remove_all(scratch, ec);
  if (!run.ok()) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("cannot start the torch task's interpreter '{}': {}; {}", python,
                                       run.error().message, kInstallHint));
  }
  const Json* probe = nullptr;
  for (const Json& e : run->events) {
    if (e.value("event", "") == "probe") probe = &e;
  }
  if (probe == nullptr) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("the interpreter '{}' could not run the torch harness ({}): {}; {}", python,
                                       run->result.Describe(), LastLine(run->result.stderr_text), kInstallHint));
  }
  TorchInfo info;
  info.python = python;
  info.executable = probe->value("executable", python);
  if (!probe->contains("torch") || !(*probe)["torch"].is_string()) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("'{}' ({}, Python {}) cannot import torch ({}); {}", python, info.executable,
                                       probe->value("python", "?"), probe->value("error", "?"), kInstallHint));
  }
  info.torch_version = (*probe)["torch"].get<std::string>();
  if (!probe->value("dispatch_mode", false)) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("torch {} ({}) lacks torch.utils._python_dispatch.TorchDispatchMode, which the "
                                       "op audit needs; install torch 1.13 or newer",
                                       info.torch_version, info.executable));
  }
  info.cuda_available = probe->value("cuda_available", false);
  info.gpu_name = probe->value("gpu_name", "");
  info.gpu_capability = probe->value("gpu_capability", "");
  info.cuda_version = probe->value("cuda_version", "");
  info.has_compile = probe->value("has_compile", false);
  return info;
}

/// What `python`'s torch can do, asked once per process and interpreter (importing torch and
/// starting CUDA take seconds; a suite makes one evaluator per task).
core::Expected<TorchInfo> ProbeTorch(const task::Task& task, const EvaluatorOptions& options,
                                     const std::string& python, const fs::path& harness) {
  // Held across the probe: the evaluators of a suite are made in parallel, and all but the
  // first wait for its answer.
  static std::mutex mu;
  static std::map<std::string, TorchInfo> probed;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = probed.find(python); it != probed.end()) return it->second;
  KF_TRY(TorchInfo info, RunProbe(task, options, python, harness));
  probed.emplace(python, info);
  return info;
}

}  // namespace

core::Expected<std::string> DescribeTorch(const std::string& python, const fs::path& cache_dir) {
  const char* env_python = std::getenv("KF_PYTHON");
  const std::string interpreter = env_python != nullptr && *env_python != '\0' ? env_python : python;
  task::Task probe_task;
  probe_task.name = "devices";
  probe_task.backend = task::Backend::kTorch;
  EvaluatorOptions options;
  options.cache_dir = fs::absolute(cache_dir);
  options.work_dir = fs::temp_directory_path() / "kfoundry-work";
  KF_TRY(auto harness, InstallHarness(options.cache_dir));
  KF_TRY(TorchInfo info, ProbeTorch(probe_task, options, interpreter, harness.first));
  std::string gpu = info.cuda_available
                        ? fmt::format("CUDA {} on {} (sm {})", info.cuda_version, info.gpu_name, info.gpu_capability)
                        : info.cuda_version.empty() ? std::string("CPU only (a CPU build of torch)")
                                                    : fmt::format("CPU only (CUDA {} build, no GPU visible)", info.cuda_version);
  return fmt::format("torch {} ({}), {}, {}", info.torch_version, info.executable, gpu,
                     info.has_compile ? "torch.compile baseline" : "no torch.compile (eager baseline only)");
}

core::Expected<std::unique_ptr<Evaluator>> MakeTorchEvaluator(const task::Task& task, EvaluatorOptions options) {
  if (task.torch.configs.size() != task.shapes.size()) {
    return core::MakeError(core::ErrorCode::kValidation,
                           fmt::format("torch task {} has {} configs but {} shapes; load it with LoadTask", task.name,
                                       task.torch.configs.size(), task.shapes.size()));
  }
  const char* env_python = std::getenv("KF_PYTHON");
  const std::string python = env_python != nullptr && *env_python != '\0' ? env_python : task.torch.python;
  KF_TRY(auto harness, InstallHarness(options.cache_dir));
  KF_TRY(TorchInfo info, ProbeTorch(task, options, python, harness.first));
  std::string device = task.torch.device;
  if (device == "auto") device = info.cuda_available ? "cuda" : "cpu";
  if (device == "cuda" && !info.cuda_available) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("task {} asks for device cuda, but torch {} ({}) sees no CUDA GPU{}", task.name,
                                       info.torch_version, info.executable,
                                       info.cuda_version.empty() ? " (a CPU-only build)" : ""));
  }
  if (options.profile || options.sanitize) {
    core::LogWarn("torch task {}: --profile and --sanitize are not supported for torch tasks yet; ignored", task.name);
  }
  core::LogDebug("torch task {}: {} torch {} on {}{}", task.name, info.executable, info.torch_version, device,
                 device == "cuda" ? " (" + info.gpu_name + ")" : "");
  auto evaluator = std::make_unique<TorchEvaluator>(task, std::move(options), std::move(info), std::move(device),
                                                    std::move(harness.first), std::move(harness.second));
  // A reference that fails is the task's fault, not a candidate's: find out before any
  // candidate is judged (its tensors are cached, so this is cheap after the first time).
  if (evaluator->DeferredReferenceCheck()) {
    evaluator->StartWarmUp();
  } else {
    KF_TRY_VOID(evaluator->TimeBaseline());
  }
  return std::unique_ptr<Evaluator>(std::move(evaluator));
}

}  // namespace kf::eval
