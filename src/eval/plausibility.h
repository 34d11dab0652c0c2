// eval/plausibility.h — stage 5 of the cascade: is a passed result physically possible?
//
// For each shape, achieved bandwidth = bytes per call / median time and achieved FLOP/s =
// FLOPs per call / median time (when the task gives `flops`), reported with their fractions of
// the device's measured ceilings (eval/ceilings.h). A result above a ceiling by more than the
// margin is `implausible`: the timing cannot be trusted (work skipped, an escaped stream, a
// broken clock), and the candidate is rejected rather than celebrated.
//
// Margins. The probes measure what a good program achieves, a lower bound of the true peak
// (a copy reaches ~70-90% of DRAM/HBM peak), so a kernel may legitimately beat them somewhat:
//   bandwidth: 1.5x the copy ceiling. Checked only when caches cannot help: the task flushes
//     caches before each trial (timing.flush_cache), bytes per call >= 4 MiB and the median is
//     >= 20 us (below that, launch and call overhead dominate and numbers mean little).
//   compute:   1.25x the f32 FMA ceiling, times the matrix-unit allowance for the task's
//     narrowest input dtype (tensor cores, AMX, VNNI outrun FMA units): cuda f32 8x (TF32),
//     f16/bf16 16x, i8/u8 32x; cpu f16/bf16 16x (AMX), i8/u8 32x; f64 1x everywhere.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/ceilings.h"
#include "eval/eval_result.h"
#include "task/task.h"

namespace kf::eval {

inline constexpr double kBandwidthMargin = 1.5;
inline constexpr double kComputeMargin = 1.25;
inline constexpr std::int64_t kMinCheckedBytes = std::int64_t{4} << 20;
inline constexpr double kMinCheckedMedianMs = 0.020;

/// The work of one call of the entry for one shape.
struct ShapeWork {
  std::int64_t bytes = 0;             // task `bytes`, or the sum of input and output buffers
  bool bytes_from_task = false;       // whether the task's `bytes` expression gave it
  std::optional<std::int64_t> flops;  // task `flops`; nullopt when the task does not say
};

/// kValidation when an expression does not evaluate for the shape or the buffer sum
/// overflows 64 bits (LoadTask already checked the expressions, so this is rare).
core::Expected<ShapeWork> WorkPerCall(const task::Task& task, const task::Shape& shape);

/// WorkPerCall for every shape of the task, in order.
core::Expected<std::vector<ShapeWork>> WorkPerShape(const task::Task& task);

struct PlausibilityVerdict {
  bool plausible = true;
  std::string message;  // empty when plausible; names the shape, the numbers and the ceiling
};

/// Fills achieved_gbps, achieved_gflops, bandwidth_fraction and compute_fraction of every
/// timing (timings[i] belongs to work[i], as WorkPerShape gives it) and judges them. The first
/// implausible shape decides the message. KF_CHECKs that the two vectors have equal sizes.
PlausibilityVerdict ApplyPlausibility(const task::Task& task, const std::vector<ShapeWork>& work,
                                      const DeviceCeilings& ceilings, std::vector<ShapeTiming>& timings);

/// The compute allowance for matrix units over the FMA ceiling (see the header comment).
double MatrixUnitAllowance(const task::Task& task);

}  // namespace kf::eval
