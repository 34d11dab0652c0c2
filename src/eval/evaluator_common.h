// eval/evaluator_common.h — what the evaluators (evaluator.cc, torch_evaluator.cc) share: the
// wording of a failed comparison, log trimming, elapsed milliseconds, the machine id in timing cache keys, and how a
// prepared candidate is measured.
// Internal to the eval module.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

#include "eval/eval_result.h"
#include "eval/evaluator.h"

namespace kf::eval {

/// One line on a failed comparison: which output (or mutated input) differs, where (the label of
/// the `unit`, "shape" or "config", and the trial; trial -1 is the re-check after timing), how
/// many elements, the first bad one and the largest errors.
std::string DescribeMismatch(const Mismatch& m, std::string_view unit = "shape");

/// The last `cap` bytes of a log, marked as cut when it was longer.
std::string Tail(const std::string& text, std::size_t cap);

/// "host|cpu model": timings cached under it are never reused on another machine.
std::string MachineId();

/// A fresh random completion nonce for one harness child (128 bits, hex): the child's "done"
/// record counts only with it, so a candidate cannot forge one it never saw.
std::string Nonce();

/// Milliseconds since `t0` on the steady clock (phase times, compile times).
inline double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// Evaluator::Measure for both evaluators: a final prepared result comes back as it is;
/// otherwise `measure_into(binary, result)` fills a copy under `mu` (one measurement at a time
/// per evaluator), and its wall time is added to total_ms.
template <class MeasureInto>
EvalResult MeasureSerialized(const Prepared& prepared, std::mutex& mu, MeasureInto measure_into) {
  if (!prepared.ready) return prepared.result;
  std::lock_guard<std::mutex> lock(mu);
  const auto t0 = std::chrono::steady_clock::now();
  EvalResult r = prepared.result;
  measure_into(prepared.binary, r);
  r.phases.total_ms += MsSince(t0);
  return r;
}

}  // namespace kf::eval
