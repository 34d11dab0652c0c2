// eval/evaluator_common.h — what the evaluators (evaluator.cc, torch_evaluator.cc) share: the
// wording of a failed comparison, log trimming, and the machine id in timing cache keys.
// Internal to the eval module.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "eval/eval_result.h"

namespace kf::eval {

/// One line on a failed comparison: which output (or mutated input) differs, where (the label of
/// the `unit`, "shape" or "config", and the trial; trial -1 is the re-check after timing), how
/// many elements, the first bad one and the largest errors.
std::string DescribeMismatch(const Mismatch& m, std::string_view unit = "shape");

/// The last `cap` bytes of a log, marked as cut when it was longer.
std::string Tail(const std::string& text, std::size_t cap);

/// "host|cpu model": timings cached under it are never reused on another machine.
std::string MachineId();

}  // namespace kf::eval
