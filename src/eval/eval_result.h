// eval/eval_result.h — the verdict on one candidate, as data.
//
// A candidate's failure is never an exception: it is an EvalResult with a status, a one-line
// message that says what went wrong and where, and the log (compiler output, stderr).
// Phase times separate compile, correctness and timing, as KTT's result record does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "eval/profile.h"

namespace kf::eval {

enum class Status {
  kStaticRejected,
  kCompileError,
  kRuntimeError,
  kTimeout,
  kWrongShape,
  kWrongValue,
  kImplausible,
  kPassed,
  /// Remote execution (exec/): the job took down every worker that ran it, as many times as
  /// allowed, and was dead-lettered without a verdict of its own.
  kWorkerLost,
};

std::string_view StatusName(Status s);  // "static_rejected", ... exactly as DESIGN.md
core::Expected<Status> ParseStatus(std::string_view name);

/// The paper's 0-5 status level: static_rejected 0, compile_error 1, runtime_error/timeout 2,
/// wrong_shape 3, wrong_value/implausible 4, passed 5; worker_lost 2, like a crash.
int StatusLevel(Status s);

/// The first failing comparison of a correctness check.
struct Mismatch {
  std::string arg;            // output (or mutated input) name
  std::string shape_label;
  int trial = 0;              // 0-based; -1 for the re-check after timing
  std::int64_t bad_count = 0;
  std::int64_t total = 0;
  std::int64_t first_bad_index = -1;          // flat index
  std::vector<std::int64_t> first_bad_coord;  // per dimension
  double expected = 0, actual = 0;            // at first_bad_index (NaN shows as nan)
  double max_abs_error = 0, max_rel_error = 0;
  std::string kind;  // "value", "unwritten", "input_mutated", "nonfinite"
};

struct ShapeTiming {
  std::string shape_label;
  int trials = 0;
  double median_ms = 0, min_ms = 0, cv = 0;  // cv = stddev / mean
  double reference_median_ms = 0;
  double speedup = 0;  // reference_median_ms / median_ms
  /// torch tasks: the torch.compile(Model) baseline under the same protocol, and
  /// compile_median_ms / median_ms; 0 when not measured (no torch.compile, or turned off).
  double compile_median_ms = 0, speedup_vs_compile = 0;
  /// Throughput from the plausibility stage (eval/plausibility.h): bytes and FLOPs per call
  /// over median_ms, and their fractions of the device's measured ceilings. 0 = not computed
  /// (no ceilings, or the task gives no `flops`). Optional in JSON (older results lack them).
  double achieved_gbps = 0, achieved_gflops = 0;
  double bandwidth_fraction = 0, compute_fraction = 0;
};

struct PhaseTimes {
  double static_ms = 0;
  double compile_ms = 0;
  bool compile_cached = false;
  double correctness_ms = 0;  // wall time of the correctness phase, reference included
  double timing_ms = 0;       // wall time of the timing phase
  double kernel_ms = 0;       // sum of the candidate's own measured calls (all phases)
  double flush_ms = 0;        // evicting the kernel's buffers from cache before timed trials
  double total_ms = 0;        // wall time of the whole evaluation
};

struct EvalResult {
  Status status = Status::kRuntimeError;
  std::string message;  // one line: what happened, where
  std::string log;      // compiler log, stderr, static findings (trimmed to a cap)
  std::optional<Mismatch> mismatch;
  std::vector<ShapeTiming> timings;  // passed only
  double speedup = 0;         // geometric mean over shapes of reference/candidate medians
  double median_ms = 0;       // geometric mean over shapes of the candidate's medians
  double speedup_vs_compile = 0;  // torch: geometric mean of speedup_vs_compile; 0 when not measured
  PhaseTimes phases;
  std::string code_hash;      // sha256 of the source
  /// Nsight Compute metrics of one call, per kernel launch (--profile, cuda, passed only).
  std::vector<KernelProfile> profile;
  /// A kernel that declares parameters (tune/space.h): the values it ran with, "BLOCK=128
  /// VEC=4"; empty otherwise.
  std::string configuration;
  /// A tuned kernel: the configurations tried and their medians, as text for the next prompt.
  std::string tuning;

  /// status level + speedup for passed candidates, status level otherwise.
  double Fitness() const;
  core::Json ToJson() const;
  static core::Expected<EvalResult> FromJson(const core::Json& j);
};

/// Sets r.speedup and r.median_ms to the geometric means over r.timings, and
/// r.speedup_vs_compile too when every timing has one (0 otherwise). Medians under 1 ns count
/// as 1 ns. Leaves r as it is when it has no timings.
void SetGeometricMeans(EvalResult& r);

/// Text for the next prompt: status, message, mismatch report, trimmed compiler errors
/// (first errors kept), timings per shape. At most max_chars.
std::string FeedbackText(const EvalResult& r, std::size_t max_chars = 6000);

/// A terminal verdict: status line, reason, timings table. `kfoundry eval` prints this.
std::string HumanVerdict(const EvalResult& r);

}  // namespace kf::eval
