#include "eval/plausibility.h"

#include <fmt/format.h>

#include <algorithm>

namespace kf::eval {

namespace {

// Decimal units, as bandwidth and FLOP/s are quoted by vendors.
constexpr double kGiga = 1e9;

std::string FormatRate(double v) { return fmt::format("{:.4g}", v); }

}  // namespace

core::Expected<ShapeWork> WorkPerCall(const task::Task& task, const task::Shape& shape) {
  ShapeWork work;
  auto expression = [&](const std::string& expr, std::string_view key) -> core::Expected<std::int64_t> {
    auto v = task::EvalDimExpr(expr, shape.scalars);
    if (!v.ok()) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("{}/task.yaml:{}: {} for shape {}: {}", task.dir.string(),
                                         key == "flops" ? task.flops_loc.line : task.bytes_loc.line, key, shape.label,
                                         v.error().message));
    }
    return *v;
  };
  if (!task.flops.empty()) {
    KF_TRY(work.flops, expression(task.flops, "flops"));
  }
  if (!task.bytes.empty()) {
    KF_TRY(work.bytes, expression(task.bytes, "bytes"));
    work.bytes_from_task = true;
    return work;
  }
  for (const task::ArgSpec& arg : task.args) {
    if (arg.role == task::ArgRole::kScalar) continue;
    KF_TRY(std::int64_t elements, task::ArgElements(arg, shape));
    std::int64_t bytes = 0;
    if (__builtin_mul_overflow(elements, static_cast<std::int64_t>(task::DTypeSize(arg.dtype)), &bytes) ||
        __builtin_add_overflow(work.bytes, bytes, &work.bytes)) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("the buffers of shape {} hold more than 2^63 bytes", shape.label));
    }
  }
  return work;
}

core::Expected<std::vector<ShapeWork>> WorkPerShape(const task::Task& task) {
  std::vector<ShapeWork> out;
  for (const task::Shape& shape : task.shapes) {
    KF_TRY(ShapeWork w, WorkPerCall(task, shape));
    out.push_back(w);
  }
  return out;
}

double MatrixUnitAllowance(const task::Task& task) {
  double allowance = 1;
  for (const task::ArgSpec& arg : task.args) {
    if (arg.role != task::ArgRole::kInput) continue;
    double a = 1;
    switch (arg.dtype) {
      case task::DType::kF32: a = task.backend == task::Backend::kCpu ? 1 : 8; break;
      case task::DType::kF16:
      case task::DType::kBF16: a = 16; break;
      case task::DType::kI8:
      case task::DType::kU8: a = 32; break;
      default: a = 1;  // f64 runs at most at the f32 FMA rate; i32/i64 are not matrix-unit types
    }
    allowance = std::max(allowance, a);
  }
  return allowance;
}

PlausibilityVerdict ApplyPlausibility(const task::Task& task, const std::vector<ShapeWork>& work,
                                      const DeviceCeilings& ceilings, std::vector<ShapeTiming>& timings) {
  KF_CHECK(work.size() == timings.size()) << work.size() << " work entries for " << timings.size() << " timings";
  PlausibilityVerdict verdict;
  const double compute_limit = ceilings.flops_gflops * MatrixUnitAllowance(task) * kComputeMargin;
  auto reject = [&](std::string message) {
    if (!verdict.plausible) return;  // the first implausible shape tells the story
    verdict.plausible = false;
    verdict.message = std::move(message);
  };
  for (std::size_t i = 0; i < timings.size(); ++i) {
    ShapeTiming& t = timings[i];
    const ShapeWork& w = work[i];
    // A median of 0 (a call faster than the clock) still gets a finite, huge rate.
    const double seconds = std::max(t.median_ms, 1e-6) * 1e-3;
    t.achieved_gbps = static_cast<double>(w.bytes) / seconds / kGiga;
    t.bandwidth_fraction = ceilings.copy_gbps > 0 ? t.achieved_gbps / ceilings.copy_gbps : 0;
    t.achieved_gflops = w.flops ? static_cast<double>(*w.flops) / seconds / kGiga : 0;
    t.compute_fraction = w.flops && ceilings.flops_gflops > 0 ? t.achieved_gflops / ceilings.flops_gflops : 0;

    const bool bandwidth_checked = task.timing.flush_cache && w.bytes >= kMinCheckedBytes &&
                                   t.median_ms >= kMinCheckedMedianMs && ceilings.copy_gbps > 0;
    if (bandwidth_checked && t.achieved_gbps > ceilings.copy_gbps * kBandwidthMargin) {
      reject(fmt::format(
          "achieved {} GB/s on shape {}, {:.2g}x the measured copy ceiling of {} GB/s of {} (at most {}x is "
          "plausible): timing is not trustworthy ({} bytes per call, {}; median {} ms)",
          FormatRate(t.achieved_gbps), t.shape_label, t.bandwidth_fraction, FormatRate(ceilings.copy_gbps),
          ceilings.device_name, kBandwidthMargin, w.bytes,
          w.bytes_from_task ? "from the task's `bytes`" : "the task's input and output buffers", t.median_ms));
    }
    if (w.flops && ceilings.flops_gflops > 0 && t.achieved_gflops > compute_limit) {
      reject(fmt::format(
          "achieved {} GFLOP/s on shape {}, {:.2g}x the measured f32 FMA ceiling of {} GFLOP/s of {} (at most {:.3g}x "
          "is plausible for these dtypes): timing is not trustworthy ({} FLOPs per call from the task's `flops`; "
          "median {} ms)",
          FormatRate(t.achieved_gflops), t.shape_label, t.compute_fraction, FormatRate(ceilings.flops_gflops),
          ceilings.device_name, compute_limit / ceilings.flops_gflops, *w.flops, t.median_ms));
    }
  }
  return verdict;
}

}  // namespace kf::eval
