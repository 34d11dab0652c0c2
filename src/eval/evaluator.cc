// The evaluator of every compiled backend: static checks, cached compile (a Builder per
// toolchain), then one sandboxed runner child per Measure whose outputs the parent checks
// itself against cached reference outputs. Nothing here depends on the backend beyond the
// builder: data files, checks, the reference cache and timing statistics are shared.
#include "eval/evaluator.h"
#include "eval/ceilings.h"
#include "eval/plausibility.h"
#include "eval/profile.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/subprocess.h"
#include "eval/compare.h"
#include "eval/builder.h"
#include "eval/cpu_backend.h"
#include "eval/cuda_backend.h"
#include "eval/data_set.h"
#include "eval/evaluator_common.h"
#include "eval/harness.h"
#include "eval/input_gen.h"
#include "eval/opencl_backend.h"
#include "eval/sycl_backend.h"
#include "eval/static_check.h"
#include "eval/torch_evaluator.h"
#include "prompt/prompt.h"
#include "tune/space.h"

namespace kf::eval {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kGiB = 1ULL << 30;
constexpr std::size_t kLogCapBytes = 16 * 1024;
constexpr std::uint64_t kRunnerFileSizeBytes = 64ULL << 20;

// The last "kfoundry runner: <why>" line the runner printed before giving up, or "".
std::string RunnerComplaint(const std::string& stderr_text) {
  constexpr std::string_view kPrefix = "kfoundry runner: ";
  const auto at = stderr_text.rfind(kPrefix);
  if (at == std::string::npos) return "";
  const auto begin = at + kPrefix.size();
  return Trim(stderr_text.substr(begin, stderr_text.find('\n', begin) - begin));
}

class TaskEvaluator final : public Evaluator {
 public:
  TaskEvaluator(const task::Task& task, EvaluatorOptions options, Toolchain toolchain,
                std::vector<ShapeLayout> layouts, std::vector<ShapeWork> work, std::optional<DeviceCeilings> ceilings)
      : task_(task),
        options_(std::move(options)),
        builder_(MakeBuilder(std::move(toolchain), task_, options_.cache_dir, options_.work_dir, options_.cancel)),
        layouts_(std::move(layouts)),
        work_(std::move(work)),
        ceilings_(std::move(ceilings)),
        machine_(MachineId()) {
    for (const auto& seed : task_.seeds) {
      if (prompt::HasEvolveBlocks(seed.source)) {
        frozen_template_ = seed.source;
        break;
      }
    }
    std::random_device rd;
    canary_.resize(kCanaryBytes);
    for (char& c : canary_) c = static_cast<char>(rd() & 0xff);
    for (const auto& l : layouts_) largest_buffer_bytes_ = std::max(largest_buffer_bytes_, l.buffer_bytes);
  }

  core::Expected<void> PrepareReference() { return EnsureReference(); }

  // Only cuda is timed off the host's cores; OpenCL and SYCL devices here are PoCL-like cpus.
  bool TimesOnHostCores() const override { return task_.backend != task::Backend::kCuda; }

  core::Expected<void> BuildReference() {
    KF_TRY(BuildOutcome ref, builder_->Build(task_.entry + "_reference", task_.reference_source,
                                             fs::path(task_.reference_file).filename().string()));
    if (!ref.ok) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("the reference {} does not build: {}\n{}",
                                         (task_.dir / task_.reference_file).string(), ref.message, ref.log));
    }
    reference_binary_ = ref.binary;
    return core::Ok();
  }

  Prepared Prepare(const std::string& declared) override {
    const auto t0 = Clock::now();
    Prepared p;
    EvalResult& r = p.result;
    r.code_hash = core::Sha256Hex(declared);

    // A kernel that declares parameters (tune/space.h) and is evaluated untuned runs with each
    // parameter's first value; a declaration that does not parse is the candidate's fault.
    std::string source = declared;
    if (tune::DeclaresParams(declared)) {
      auto space = tune::ParamSpace::Parse(declared, builder_->SourceFileName(), task::ScalarNames(task_));
      if (!space.ok()) {
        r.status = Status::kStaticRejected;
        r.message = "parameter declarations: " + space.error().message.substr(0, space.error().message.find('\n'));
        r.log = space.error().message;
        r.phases.total_ms = MsSince(t0);
        return p;
      }
      source = space->Instantiate(declared, space->Default());
      r.configuration = space->Label(space->Default()) + " (the default; kfoundry tune searches the others)";
    }

    // Stage 1: what must never run or be timed.
    const auto findings = CheckStatic(task_, source, frozen_template_);
    r.phases.static_ms = MsSince(t0);
    if (!findings.empty()) {
      r.status = Status::kStaticRejected;
      const StaticFinding& f = findings.front();
      r.message = fmt::format("line {}: {}: {}", f.line, f.rule, f.reason);
      for (const auto& g : findings) r.log += fmt::format("line {}: {}: `{}`: {}\n", g.line, g.rule, g.excerpt, g.reason);
      r.phases.total_ms = MsSince(t0);
      return p;
    }

    // Stage 2: compile (or find the cached binary).
    auto build = builder_->Build(task_.entry, source, builder_->SourceFileName());
    if (!build.ok()) {
      r.status = Status::kCompileError;
      r.message = "could not build: " + build.error().message;
    } else {
      r.phases.compile_ms = build->compile_ms;
      r.phases.compile_cached = build->cached;
      r.log = Tail(build->log, kLogCapBytes);
      if (build->ok) {
        p.ready = true;
        p.binary = build->binary;
      } else {
        r.status = Status::kCompileError;
        r.message = build->message;
      }
    }
    r.phases.total_ms = MsSince(t0);
    return p;
  }

  EvalResult Measure(const Prepared& prepared) override {
    return MeasureSerialized(prepared, mu_, [this](const fs::path& binary, EvalResult& r) { MeasureInto(binary, r); });
  }

 private:
  double TimeoutSeconds() const { return options_.timeout_seconds.value_or(task_.timeout_seconds); }

  std::uint64_t MemoryLimitBytes() const {
    return task_.memory_limit_bytes > 0 ? task_.memory_limit_bytes : 2 * kGiB + 8 * largest_buffer_bytes_;
  }

  const TrialInputs& Inputs(int s, int t) {
    auto it = inputs_.find({s, t});
    if (it != inputs_.end()) return it->second;
    TrialInputs in;
    in.inputs.resize(task_.args.size());
    for (std::size_t a = 0; a < task_.args.size(); ++a) {
      const task::ArgSpec& arg = task_.args[a];
      if (arg.role != task::ArgRole::kInput) continue;
      in.inputs[a] = GenerateInput(arg, layouts_[s].elements[a],
                                   InputSeed(options_.seed, task_.content_hash, s, t, arg.name));
    }
    in.int_poison = static_cast<unsigned char>(
        InputSeed(options_.seed, task_.content_hash, s, t, "#poison") % 255 + 1);
    return inputs_.emplace(std::pair{s, t}, std::move(in)).first->second;
  }

  std::string CacheKey(std::string_view what, int s, int t) const {
    core::Sha256 h;
    h.Field(what).Field(task_.content_hash).Field(std::to_string(options_.seed)).Field(task_.shapes[s].label);
    h.Field(std::to_string(t)).Field(builder_->ToolchainId()).Field(kHarnessVersion);
    if (what == "timing") {
      const task::TimingSpec& ts = task_.timing;
      h.Field(machine_).Field(fmt::format("{} {} {} {} {}", ts.warmup, ts.min_trials, ts.max_trials,
                                          ts.max_seconds_per_shape, ts.flush_cache));
    }
    return h.HexDigest();
  }

  fs::path ReferenceDir() const { return options_.cache_dir / "reference"; }

  struct ChildRun {
    core::SubprocessResult result;
    RunnerReport report;
  };

  // Runs a runner binary on a data set under the sandbox.
  core::Expected<ChildRun> RunRunner(const fs::path& binary, const DataSet& data, const RunPlan& plan,
                                     double timeout_s, const std::vector<std::string>& wrapper = {},
                                     const std::vector<std::pair<std::string, std::string>>& wrapper_env = {}) {
    KF_TRY(fs::path scratch, core::MakeUniqueDir(options_.work_dir, "run-"));
    const std::string plan_path = (scratch / "plan.txt").string();
    KF_TRY_VOID(core::WriteFileAtomic(plan_path, PlanText(task_, layouts_, plan)));
    const std::string nonce = Nonce();
    core::SubprocessSpec spec;
    // A tool (ncu, compute-sanitizer) may wrap the runner; its own argv ends with the runner's.
    spec.argv = wrapper;
    spec.argv.insert(spec.argv.end(), {binary.string(), plan_path, data.dir().string()});
    spec.working_dir = scratch;
    spec.env = builder_->RunnerEnv();
    spec.env.insert(spec.env.end(), wrapper_env.begin(), wrapper_env.end());  // later entries win
    spec.env.push_back({"KF_RESULT_FD", std::to_string(kResultChannelFd)});
    spec.env.push_back({"KF_NONCE", nonce});
    spec.channel_fd = kResultChannelFd;
    spec.cancel = options_.cancel;
    spec.limits.wall_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
    spec.limits.address_space_bytes = builder_->LimitsAddressSpace() ? MemoryLimitBytes() : 0;
    spec.limits.file_size_bytes = kRunnerFileSizeBytes;
    auto run = core::RunSandboxed(spec);
    if (!options_.keep_work_dirs) {
      std::error_code ec;
      fs::remove_all(scratch, ec);
    }
    if (!run.ok()) return run.error();
    ChildRun out{std::move(*run), {}};
    out.report = ParseRunnerReport(task_, out.result.channel, nonce);
    return out;
  }

  // A CUDA tool next to nvcc, else from PATH; empty when absent.
  static std::string CudaTool(const std::string& name) {
    if (auto tc = DetectCudaToolchain(); tc.ok()) {
      fs::path sibling = fs::path(tc->compiler).parent_path() / name;
      if (fs::exists(sibling)) return sibling.string();
    }
    return FindInPath(name);
  }

  // One correctness call of shape 0 under `wrapper`: the unit the tools look at.
  core::Expected<ChildRun> RunOneCallUnder(const fs::path& binary, const std::vector<std::string>& wrapper,
                                           double timeout_s,
                                           const std::vector<std::pair<std::string, std::string>>& wrapper_env = {}) {
    RunPlan plan;
    plan.correct.push_back({0, 0});
    std::map<std::pair<int, int>, const TrialInputs*> wanted{{{0, 0}, &Inputs(0, 0)}};
    KF_TRY(auto data, DataSet::Create(DataParentDir(options_.work_dir), task_, layouts_, wanted, canary_));
    return RunRunner(binary, *data, plan, timeout_s, wrapper, wrapper_env);
  }

  // The sanitizer passes of the task's backend (cuda: compute-sanitizer memcheck, then racecheck;
  // opencl: oclgrind), each over one correctness call: the first finding, or nullopt when clean.
  // A tool that is missing or does not finish is reported in the log, never held against the
  // kernel.
  std::optional<std::string> Sanitize(const fs::path& binary) {
    const bool cuda = task_.backend == task::Backend::kCuda;
    for (SanitizerTool which : SanitizerToolsFor(task_.backend)) {
      const std::string executable(SanitizerExecutable(which));
      // compute-sanitizer ships with nvcc; oclgrind is a package of its own.
      const std::string tool = cuda ? CudaTool(executable) : FindInPath(executable);
      if (tool.empty()) {
        core::LogWarn("--sanitize: {} not found {}; skipped", executable,
                      cuda ? "next to nvcc or in PATH" : "in PATH (Debian: apt-get install oclgrind)");
        return std::nullopt;
      }
      // The sanitizers slow kernels down by one to two orders of magnitude (oclgrind simulates
      // the device: more for large shapes).
      const auto pass_start = Clock::now();
      auto run = RunOneCallUnder(binary, SanitizerCommand(tool, which, {}), 20 * TimeoutSeconds(), SanitizerEnv(which));
      core::LogDebug("--sanitize: {} took {:.0f} ms", SanitizerToolName(which), MsSince(pass_start));
      if (!run.ok()) {
        core::LogWarn("--sanitize: {} could not run: {}", SanitizerToolName(which), run.error().message);
        continue;
      }
      SanitizerReport report = ParseSanitizerOutput(which, run->result.stdout_text + run->result.stderr_text);
      if (report.errors > 0) {
        return fmt::format("{} found {} error{}:\n{}", SanitizerToolName(which), report.errors,
                           report.errors == 1 ? "" : "s", report.report);
      }
      Status ignored;
      const std::string failure = ChildFailure(*run, &ignored);
      if (report.errors < 0 || !failure.empty()) {
        core::LogWarn("--sanitize: {} did not finish ({}); {}", SanitizerToolName(which), run->result.Describe(),
                      failure.empty() ? "no summary" : failure);
      }
    }
    return std::nullopt;
  }

  // Nsight Compute metrics of one call; empty (with a warning) when ncu is missing or fails.
  std::vector<KernelProfile> Profile(const fs::path& binary) {
    if (task_.backend != task::Backend::kCuda) return {};
    const std::string tool = CudaTool("ncu");
    if (tool.empty()) {
      core::LogWarn("--profile: ncu not found next to nvcc or in PATH; skipped");
      return {};
    }
    auto run = RunOneCallUnder(binary, NcuCommand(tool, {}), 20 * TimeoutSeconds());
    if (!run.ok()) {
      core::LogWarn("--profile: ncu could not run: {}", run.error().message);
      return {};
    }
    auto kernels = ParseNcuCsv(run->result.stdout_text);
    if (!kernels.ok()) {
      core::LogWarn("--profile: {} ({}; {})", kernels.error().message, run->result.Describe(),
                    run->result.stderr_text.substr(0, 300));
      return {};
    }
    return std::move(kernels).value();
  }

  // One line on why a child did not finish, or "" when it did.
  std::string ChildFailure(const ChildRun& c, Status* status) const {
    const core::SubprocessResult& res = c.result;
    const std::string where = c.report.where.empty() ? "start-up" : c.report.where;
    *status = Status::kRuntimeError;
    if (res.outcome == core::SubprocessResult::Outcome::kTimedOut) {
      *status = Status::kTimeout;
      return fmt::format("timed out after {:g} s during {}", TimeoutSeconds(), where);
    }
    if (res.outcome == core::SubprocessResult::Outcome::kCancelled) return fmt::format("cancelled during {}", where);
    const bool out_of_memory = builder_->LimitsAddressSpace() &&
                               (res.stderr_text.find("bad_alloc") != std::string::npos ||
                                res.stderr_text.find("Cannot allocate") != std::string::npos ||
                                res.stderr_text.find("out of memory") != std::string::npos);
    const std::string memory_note =
        out_of_memory ? fmt::format(": out of memory, the kernel allocated beyond the memory limit of {} MiB",
                                    MemoryLimitBytes() >> 20)
                      : "";
    if (res.outcome == core::SubprocessResult::Outcome::kSignaled || res.exit_code != 0) {
      // A runner that gave up says why (a device error: "CUDA error: an illegal memory access
      // ..."), and so does one whose candidate died after a failed OpenCL kernel build.
      const std::string complaint = RunnerComplaint(res.stderr_text);
      if (!complaint.empty()) {
        const std::string how = res.outcome == core::SubprocessResult::Outcome::kSignaled ? "; then " + res.Describe() : "";
        return fmt::format("{} during {}{}", complaint, where, how);
      }
      return fmt::format("{} during {}{}", res.Describe(), where, memory_note);
    }
    if (!c.report.protocol_error.empty()) {
      return fmt::format("the harness result channel was tampered with during {}: {}", where, c.report.protocol_error);
    }
    if (!c.report.completed) {
      return fmt::format("exited before the harness finished (exit status 0) during {} — the kernel must not call exit",
                         where);
    }
    return "";
  }

  // Reference outputs for every (shape, trial) and baseline medians for every shape, from the
  // cache when present; the reference runs once for whatever is missing.
  core::Expected<void> EnsureReference() {
    if (reference_ready_) return core::Ok();
    const int trials = task_.correctness_trials;
    const int nshapes = static_cast<int>(task_.shapes.size());
    RunPlan plan;
    std::map<std::pair<int, int>, const TrialInputs*> wanted;
    for (int s = 0; s < nshapes; ++s) {
      for (int t = 0; t < trials; ++t) {
        auto cached = core::ReadFile(ReferenceDir() / CacheKey("outputs", s, t));
        if (cached.ok() && cached->size() == OutputBytes(s)) {
          reference_outputs_[{s, t}] = std::move(*cached);
        } else {
          plan.correct.push_back({s, t});
          wanted[{s, t}] = &Inputs(s, t);
        }
      }
      auto timing = core::ReadFile(ReferenceDir() / CacheKey("timing", s, 0));
      double median = 0;
      if (timing.ok() && (std::istringstream(*timing) >> median) && median > 0) {
        reference_median_ms_[s] = median;
      } else {
        plan.timing.push_back({s, false});
        wanted[{s, 0}] = &Inputs(s, 0);
      }
    }
    if (!wanted.empty()) {
      KF_TRY(auto data, DataSet::Create(DataParentDir(options_.work_dir), task_, layouts_, wanted, canary_));
      KF_TRY(ChildRun run, RunRunner(reference_binary_, *data, plan, std::max(60.0, 4 * TimeoutSeconds())));
      Status ignored;
      const std::string failure = ChildFailure(run, &ignored);
      if (!failure.empty()) {
        return core::MakeError(core::ErrorCode::kValidation,
                               fmt::format("the task's reference failed: {}\n{}", failure,
                                           Tail(run.result.stderr_text, 4000)));
      }
      for (const auto& c : plan.correct) {
        std::string bytes;
        const unsigned char* m = data->Map(c.shape, c.trial);
        for (std::size_t a = 0; a < task_.args.size(); ++a) {
          if (task_.args[a].role != task::ArgRole::kOutput) continue;
          bytes.append(reinterpret_cast<const char*>(m + layouts_[c.shape].offset[a]), layouts_[c.shape].bytes[a]);
        }
        KF_TRY_VOID(core::WriteFileAtomic(ReferenceDir() / CacheKey("outputs", c.shape, c.trial), bytes));
        reference_outputs_[{c.shape, c.trial}] = std::move(bytes);
      }
      for (const auto& t : plan.timing) {
        const double median = Summarize(run.report.trial_ms[t.shape]).median;
        KF_TRY_VOID(core::WriteFileAtomic(ReferenceDir() / CacheKey("timing", t.shape, 0), fmt::format("{:.9g}\n", median)));
        reference_median_ms_[t.shape] = median;
      }
    }
    reference_ready_ = true;
    return core::Ok();
  }

  std::uint64_t OutputBytes(int s) const {
    std::uint64_t n = 0;
    for (std::size_t a = 0; a < task_.args.size(); ++a) {
      if (task_.args[a].role == task::ArgRole::kOutput) n += layouts_[s].bytes[a];
    }
    return n;
  }

  // The first failed check of one (shape, trial) region; `after` selects the after-timing copy.
  std::optional<std::pair<Status, std::string>> CheckRegion(int s, int t, bool after, const unsigned char* m,
                                                            EvalResult& r) {
    const ShapeLayout& l = layouts_[s];
    const TrialInputs& in = Inputs(s, t);
    const std::string& expected = reference_outputs_.at({s, t});
    const std::string trial_text = after ? "re-check after timing" : fmt::format("trial {}", t);
    for (std::size_t a = 0; a < task_.args.size(); ++a) {
      const task::ArgSpec& arg = task_.args[a];
      if (arg.role != task::ArgRole::kOutput) continue;
      const std::int64_t off = after ? l.after_offset[a] : l.offset[a];
      if (std::memcmp(m + off + l.bytes[a], canary_.data(), kCanaryBytes) != 0) {
        return std::pair{Status::kRuntimeError,
                         fmt::format("wrote past the end of output {} on shape {} ({})", arg.name,
                                     task_.shapes[s].label, trial_text)};
      }
    }
    for (std::size_t a = 0; a < task_.args.size() && !after; ++a) {
      if (task_.args[a].role != task::ArgRole::kInput) continue;
      if (auto mm = CompareInput(task_.args[a], l.dims[a], in.inputs[a], m + l.offset[a])) {
        mm->shape_label = task_.shapes[s].label;
        mm->trial = t;
        r.mismatch = *mm;
        return std::pair{Status::kWrongValue, DescribeMismatch(*mm)};
      }
    }
    std::size_t expected_at = 0;
    for (std::size_t a = 0; a < task_.args.size(); ++a) {
      const task::ArgSpec& arg = task_.args[a];
      if (arg.role != task::ArgRole::kOutput) continue;
      const auto* e = reinterpret_cast<const unsigned char*>(expected.data()) + expected_at;
      expected_at += l.bytes[a];
      const std::int64_t off = after ? l.after_offset[a] : l.offset[a];
      if (auto mm = CompareOutput(arg, l.dims[a], e, m + off, task_.tolerance, in.int_poison)) {
        mm->shape_label = task_.shapes[s].label;
        mm->trial = after ? -1 : t;
        r.mismatch = *mm;
        return std::pair{Status::kWrongValue, DescribeMismatch(*mm)};
      }
    }
    return std::nullopt;
  }

  void MeasureInto(const fs::path& binary, EvalResult& r) {
    const auto correctness_start = Clock::now();
    auto fail = [&](Status status, std::string message) {
      r.status = status;
      r.message = std::move(message);
    };
    if (auto ref = EnsureReference(); !ref.ok()) {
      // Not the candidate's fault, but a verdict still has to say why nothing was measured.
      return fail(Status::kRuntimeError, ref.error().message.substr(0, ref.error().message.find('\n')));
    }
    const double reference_ms = MsSince(correctness_start);

    const int nshapes = static_cast<int>(task_.shapes.size());
    RunPlan plan;
    std::map<std::pair<int, int>, const TrialInputs*> wanted;
    for (int s = 0; s < nshapes; ++s) {
      for (int t = 0; t < task_.correctness_trials; ++t) {
        plan.correct.push_back({s, t});
        wanted[{s, t}] = &Inputs(s, t);
      }
    }
    for (int s = 0; s < nshapes; ++s) plan.timing.push_back({s, true});
    const double inputs_ms = MsSince(correctness_start) - reference_ms;
    const auto data_start = Clock::now();
    auto data = DataSet::Create(DataParentDir(options_.work_dir), task_, layouts_, wanted, canary_);
    const double data_ms = MsSince(data_start);
    if (!data.ok()) return fail(Status::kRuntimeError, "could not create the data files: " + data.error().message);
    const auto child_start = Clock::now();
    auto run = RunRunner(binary, **data, plan, TimeoutSeconds());
    if (!run.ok()) return fail(Status::kRuntimeError, "could not start the runner: " + run.error().message);
    const double child_ms = MsSince(child_start);
    const RunnerReport& rep = run->report;
    r.phases.kernel_ms = rep.kernel_ms;
    r.phases.flush_ms = rep.flush_ms;
    r.log = Tail(run->result.stderr_text, kLogCapBytes);

    auto check_correctness_calls = [&]() -> std::optional<std::pair<Status, std::string>> {
      for (const auto& c : plan.correct) {
        if (auto bad = CheckRegion(c.shape, c.trial, false, (*data)->Map(c.shape, c.trial), r)) return bad;
      }
      return std::nullopt;
    };
    Status status;
    const std::string failure = ChildFailure(*run, &status);
    if (!failure.empty()) {
      // A child that died after its correctness calls (a device layer's own guard check during
      // timing) left their outputs behind: what they show is the more precise verdict.
      const bool past_correctness = !rep.where.empty() && rep.where.rfind("correctness", 0) != 0;
      if (past_correctness && status == Status::kRuntimeError) {
        if (auto bad = check_correctness_calls()) return fail(bad->first, bad->second);
      }
      return fail(status, failure);
    }

    // Correctness: every (shape, trial), then the after-timing copy of trial 0.
    const auto check_start = Clock::now();
    if (auto bad = check_correctness_calls()) return fail(bad->first, bad->second);
    for (int s = 0; s < nshapes; ++s) {
      if (auto bad = CheckRegion(s, 0, true, (*data)->Map(s, 0), r)) return fail(bad->first, bad->second);
    }
    core::LogDebug("measure {}: reference {:.1f} ms, inputs {:.1f} ms, data files {:.1f} ms, child {:.1f} ms "
                   "(kernel {:.1f}, flush {:.1f}, runner correctness {:.1f}, runner timing {:.1f}), checks {:.1f} ms",
                   task_.name, reference_ms, inputs_ms, data_ms, child_ms, rep.kernel_ms, rep.flush_ms,
                   rep.correctness_ms, rep.timing_ms, MsSince(check_start));
    // The child's own split of its wall time apportions the process start-up to correctness.
    r.phases.correctness_ms = reference_ms + std::max(0.0, child_ms - rep.timing_ms);
    r.phases.timing_ms = rep.timing_ms;

    for (int s = 0; s < nshapes; ++s) {
      auto it = rep.trial_ms.find(s);
      if (it == rep.trial_ms.end()) return fail(Status::kRuntimeError, "the runner reported no timing for shape " + task_.shapes[s].label);
      const SampleStats st = Summarize(it->second);
      ShapeTiming tm;
      tm.shape_label = task_.shapes[s].label;
      tm.trials = static_cast<int>(it->second.size());
      tm.median_ms = st.median;
      tm.min_ms = st.min;
      tm.cv = st.cv;
      tm.reference_median_ms = reference_median_ms_.at(s);
      // A kernel faster than the clock resolution still gets a finite speedup.
      tm.speedup = tm.reference_median_ms / std::max(st.median, 1e-6);
      r.timings.push_back(tm);
    }
    SetGeometricMeans(r);
    // Stage 5: a time faster than the device can physically move the bytes or do the math is a
    // measurement the candidate fooled, never a result.
    if (ceilings_) {
      PlausibilityVerdict v = ApplyPlausibility(task_, work_, *ceilings_, r.timings);
      if (!v.plausible) return fail(Status::kImplausible, v.message);
    }
    // Stage 6 (optional; sanitizer: cuda and opencl, profile: cuda): the sanitizer can still fail
    // the candidate; the profile only informs the next prompt.
    if (options_.sanitize) {
      if (auto finding = Sanitize(binary)) return fail(Status::kRuntimeError, *finding);
    }
    if (options_.profile) r.profile = Profile(binary);
    r.status = Status::kPassed;
    r.message = fmt::format("correct on {} shapes x {} trials; speedup {:.3g}x", nshapes, task_.correctness_trials,
                            r.speedup);
  }

  const task::Task task_;  // a copy: the caller's Task may not outlive the evaluator
  EvaluatorOptions options_;
  std::unique_ptr<Builder> builder_;  // builds for task_, declared before it is used
  std::vector<ShapeLayout> layouts_;
  std::vector<ShapeWork> work_;                // bytes and flops per call, per shape
  std::optional<DeviceCeilings> ceilings_;     // absent: the plausibility stage is off
  std::string machine_;
  std::string frozen_template_;
  std::string canary_;
  std::uint64_t largest_buffer_bytes_ = 0;
  fs::path reference_binary_;

  std::mutex mu_;  // guards everything below (Measure is serialized)
  std::map<std::pair<int, int>, TrialInputs> inputs_;
  std::map<std::pair<int, int>, std::string> reference_outputs_;
  std::map<int, double> reference_median_ms_;
  bool reference_ready_ = false;
};

// The toolchain of a backend; only the backend a task names is ever detected, so a machine
// without nvcc or OpenCL evaluates cpu tasks as before.
core::Expected<Toolchain> DetectToolchain(task::Backend backend, const fs::path& cache_dir) {
  switch (backend) {
    case task::Backend::kCpu: return DetectCpuToolchain();
    case task::Backend::kCuda: return DetectCudaToolchain();
    case task::Backend::kOpenCl: return DetectOpenClToolchain(cache_dir);
    case task::Backend::kSycl: return DetectSyclToolchain(cache_dir);
    case task::Backend::kTorch: break;
  }
  // Torch tasks run Python, not a compiled runner: MakeEvaluator hands them to the torch evaluator.
  return core::MakeError(core::ErrorCode::kInternal,
                         fmt::format("backend '{}' has no compiled toolchain", task::BackendName(backend)));
}

}  // namespace

core::Expected<std::unique_ptr<Evaluator>> MakeEvaluator(const task::Task& task, EvaluatorOptions options) {
  if (task.shapes.empty() || task.correctness_trials < 1) {
    return core::MakeError(core::ErrorCode::kValidation, fmt::format("task {} has no shapes or no correctness trials", task.name));
  }
  if (options.cache_dir.empty()) options.cache_dir = core::DefaultCacheDir();
  if (options.work_dir.empty()) options.work_dir = fs::temp_directory_path() / "kfoundry-work";
  // Children chdir into their scratch directories: every path handed to them must be absolute.
  options.cache_dir = fs::absolute(options.cache_dir);
  options.work_dir = fs::absolute(options.work_dir);
  // torch tasks run Python in the harness's children (torch_evaluator.h): no builder, no layouts.
  if (task.backend == task::Backend::kTorch) return MakeTorchEvaluator(task, std::move(options));
  KF_TRY(Toolchain toolchain, DetectToolchain(task.backend, options.cache_dir));
  std::vector<ShapeLayout> layouts;
  for (const auto& shape : task.shapes) {
    KF_TRY(ShapeLayout l, MakeShapeLayout(task, shape));
    layouts.push_back(std::move(l));
  }
  KF_TRY(std::vector<ShapeWork> work, WorkPerShape(task));
  // Measured once per device and cached; measured before any compile competes for the machine.
  std::optional<DeviceCeilings> ceilings;
  if (auto c = CeilingsFor(task.backend, options.cache_dir); c.ok()) {
    ceilings = std::move(c).value();
  } else {
    core::LogWarn("plausibility check off: {}", c.error().message);
  }
  auto evaluator = std::make_unique<TaskEvaluator>(task, std::move(options), std::move(toolchain), std::move(layouts),
                                                   std::move(work), std::move(ceilings));
  KF_TRY_VOID(evaluator->BuildReference());
  // A reference that crashes is the task's fault, not a candidate's: find out before any
  // candidate is judged (its outputs are cached, so this is cheap after the first time).
  KF_TRY_VOID(evaluator->PrepareReference());
  return std::unique_ptr<Evaluator>(std::move(evaluator));
}

std::vector<ToolchainInfo> DetectToolchains() {
  std::vector<ToolchainInfo> out;
  // One line per backend: the compiler and what it targets, or why the backend is unavailable.
  auto add = [&](std::string backend, const core::Expected<Toolchain>& tc, std::string note, std::string compiler) {
    ToolchainInfo info{std::move(backend)};
    info.available = tc.ok();
    info.compiler = tc.ok() ? tc->compiler : std::move(compiler);
    info.version = tc.ok() ? tc->version : "";
    info.note = tc.ok() ? std::move(note) : tc.error().message;
    out.push_back(std::move(info));
  };
  auto cpu = DetectCpuToolchain();
  add("cpu", cpu,
      cpu.ok() ? fmt::format("{}, {} hardware threads, {}", CpuModel(), std::thread::hardware_concurrency(), cpu->target)
               : "",
      "");
  auto cuda = DetectCudaToolchain();
  add("cuda", cuda, cuda.ok() ? cuda->target : "", FindInPath("nvcc"));
  auto opencl = DetectOpenClToolchain(core::DefaultCacheDir());
  add("opencl", opencl, opencl.ok() ? opencl->target : "", "");
  // The compiler alone first: without one, no device query is built.
  auto sycl_compiler = DetectSyclCompiler();
  auto sycl = sycl_compiler.ok() ? DetectSyclToolchain(core::DefaultCacheDir()) : sycl_compiler;
  add("sycl", sycl, sycl.ok() ? sycl->target : "", sycl_compiler.ok() ? sycl_compiler->compiler : "");
  // torch: the default interpreter of torch tasks (python3, or $KF_PYTHON) and what its torch has.
  ToolchainInfo torch{"torch"};
  if (auto described = DescribeTorch("python3", core::DefaultCacheDir()); described.ok()) {
    torch.available = true;
    const char* env_python = std::getenv("KF_PYTHON");
    torch.compiler = env_python != nullptr && *env_python != '\0' ? env_python : FindInPath("python3");
    torch.note = *described;
  } else {
    torch.note = described.error().message;
  }
  out.push_back(std::move(torch));
  return out;
}

}  // namespace kf::eval
