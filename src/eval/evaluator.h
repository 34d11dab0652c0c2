// eval/evaluator.h — the evaluation cascade (DESIGN.md stages 1-4) behind one interface.
//
//   Prepare: static checks, then compile (cached by content hash).   Thread-safe, parallel.
//   Measure: correctness (fresh inputs, NaN-poisoned outputs, mutation check, allclose),
//            then timing (warm-up, repeated trials, median/min/CV, speedup vs the reference).
//            Callers serialize Measure per device (the local executor does).
//
// Candidate code never runs in this process: it runs in a sandboxed child built from a
// generated harness; outputs come back through shared buffers the parent checks itself, and
// the child's timing record through a private channel, never its stdout.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/eval_result.h"
#include "task/task.h"

namespace kf::eval {

struct EvaluatorOptions {
  /// Compile cache and reference-result cache. Default: core::DefaultCacheDir().
  std::filesystem::path cache_dir;
  /// Scratch directories for child processes are made under here. Default: a temp dir.
  std::filesystem::path work_dir;
  /// Base seed for input generation; each (shape, trial) derives its own.
  std::uint64_t seed = 0x6b66'6f75'6e64'7279ULL;
  /// Overrides task.timeout_seconds when set.
  std::optional<double> timeout_seconds;
  /// Keep child scratch directories (for debugging).
  bool keep_work_dirs = false;
  /// Set to abort in-flight children (Ctrl-C).
  const std::atomic<bool>* cancel = nullptr;
  /// cuda: run passing candidates once under Nsight Compute and keep per-launch metrics.
  bool profile = false;
  /// Run passing candidates under the backend's sanitizer (cuda: compute-sanitizer memcheck and
  /// racecheck; opencl: oclgrind); a finding fails the candidate (runtime_error) with the report.
  bool sanitize = false;
  /// torch: check (and torch.compile) the reference in the background instead of in
  /// MakeEvaluator, beside the candidates' builds; a reference that fails is then every
  /// Measure's verdict (runtime_error, "a problem of the task"). Suites set it.
  bool defer_reference_check = false;
};

/// What Prepare hands to Measure. Opaque to callers apart from `result`.
struct Prepared {
  /// Final when `ready` is false (static_rejected / compile_error); otherwise partial.
  EvalResult result;
  bool ready = false;
  std::filesystem::path binary;
};

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual Prepared Prepare(const std::string& source) = 0;
  virtual EvalResult Measure(const Prepared& prepared) = 0;
  /// Optional: starts, while another Measure uses the device, what the next Measure(prepared)
  /// can do without it (the torch evaluator's children import torch). Measure(prepared) goes
  /// on from there; a staged measurement that is never made is ended with the evaluator.
  virtual void Stage(const Prepared& prepared) { (void)prepared; }
  /// True when Measure times code on this machine's own cores (cpu kernels, OpenCL or SYCL on
  /// the host, torch on cpu): a compile running beside it would take cores from the kernel being
  /// timed, so the local executor compiles nothing while such a Measure runs.
  virtual bool TimesOnHostCores() const { return false; }
  EvalResult Evaluate(const std::string& source) { return Measure(Prepare(source)); }
};

/// Builds the evaluator for the task's backend. Fails (kToolchain) when the backend's compiler
/// is missing, (kValidation) when the reference does not build or run, with its log.
core::Expected<std::unique_ptr<Evaluator>> MakeEvaluator(const task::Task& task, EvaluatorOptions options);

/// One line per backend: name, whether usable, toolchain and version, or why not.
struct ToolchainInfo {
  std::string backend;
  bool available = false;
  std::string compiler;  // path
  std::string version;   // first line of --version
  std::string note;      // why not available, or devices seen
};
std::vector<ToolchainInfo> DetectToolchains();

}  // namespace kf::eval
