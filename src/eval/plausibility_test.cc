#include "eval/plausibility.h"

#include <gtest/gtest.h>

#include <string>

namespace kf::eval {
namespace {

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// y = a @ b for square n x n f32 matrices.
task::Task MatmulTask(std::string flops = "2 * n * n * n", std::string bytes = "") {
  task::Task t;
  t.name = "matmul";
  t.backend = task::Backend::kCpu;
  t.args = {{.name = "a", .role = task::ArgRole::kInput, .dtype = task::DType::kF32, .shape = {"n", "n"}},
            {.name = "b", .role = task::ArgRole::kInput, .dtype = task::DType::kF32, .shape = {"n", "n"}},
            {.name = "c", .role = task::ArgRole::kOutput, .dtype = task::DType::kF32, .shape = {"n", "n"}},
            {.name = "n", .role = task::ArgRole::kScalar, .dtype = task::DType::kI32}};
  for (int n : {64, 2048}) t.shapes.push_back({.scalars = {{"n", n}}, .label = "n=" + std::to_string(n)});
  t.flops = std::move(flops);
  t.bytes = std::move(bytes);
  return t;
}

DeviceCeilings Ceilings() {
  return {.backend = "cpu", .device_id = "cpu|test|8 threads", .device_name = "Test CPU", .copy_gbps = 100,
          .flops_gflops = 1000, .method = "synthetic", .measured_at = "2025-01-01T00:00:00Z"};
}

std::vector<ShapeTiming> Timings(double small_ms, double large_ms) {
  return {{.shape_label = "n=64", .trials = 10, .median_ms = small_ms},
          {.shape_label = "n=2048", .trials = 10, .median_ms = large_ms}};
}

TEST(WorkPerCall, DefaultsBytesToEveryBufferAndFlopsToUnknown) {
  task::Task t = MatmulTask("");
  auto work = WorkPerCall(t, t.shapes[1]);
  ASSERT_TRUE(work.ok()) << work.error().ToString();
  EXPECT_EQ(work->bytes, 3LL * 2048 * 2048 * 4);
  EXPECT_FALSE(work->bytes_from_task);
  EXPECT_FALSE(work->flops.has_value());
}

TEST(WorkPerCall, EvaluatesTheTasksExpressionsIn64Bits) {
  task::Task t = MatmulTask("2 * n * n * n * 1000", "4 * n * n * 3 + 7");
  auto work = WorkPerCall(t, t.shapes[1]);
  ASSERT_TRUE(work.ok()) << work.error().ToString();
  EXPECT_EQ(*work->flops, 2LL * 2048 * 2048 * 2048 * 1000);  // beyond 2^53? no, but beyond 2^32
  EXPECT_EQ(work->bytes, 4LL * 2048 * 2048 * 3 + 7);
  EXPECT_TRUE(work->bytes_from_task);
  auto all = WorkPerShape(t);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].bytes, 4LL * 64 * 64 * 3 + 7);
}

TEST(WorkPerCall, NamesTheExpressionAndShapeThatFail) {
  task::Task t = MatmulTask("2 * n / (n - 64)");
  t.dir = "/tasks/matmul";
  t.flops_loc = {"task.yaml", 9, 8};
  auto work = WorkPerCall(t, t.shapes[0]);
  ASSERT_FALSE(work.ok());
  EXPECT_TRUE(Contains(work.error().message, "/tasks/matmul/task.yaml:9: flops for shape n=64: dimension")) << work.error().message;
  EXPECT_TRUE(Contains(work.error().message, "divides by zero")) << work.error().message;
}

TEST(ApplyPlausibility, FillsThroughputAndFractionsAndPassesPlausibleTimes) {
  task::Task t = MatmulTask();
  auto work = WorkPerShape(t);
  ASSERT_TRUE(work.ok());
  // n=2048: 2*2048^3 = 17.18 GFLOP in 100 ms = 171.8 GFLOP/s; 50.3 MB in 100 ms = 0.503 GB/s.
  std::vector<ShapeTiming> timings = Timings(0.01, 100);
  PlausibilityVerdict v = ApplyPlausibility(t, *work, Ceilings(), timings);
  EXPECT_TRUE(v.plausible) << v.message;
  EXPECT_TRUE(v.message.empty());
  EXPECT_NEAR(timings[1].achieved_gflops, 171.8, 0.1);
  EXPECT_NEAR(timings[1].compute_fraction, 0.1718, 1e-4);
  EXPECT_NEAR(timings[1].achieved_gbps, 0.5033, 1e-4);
  EXPECT_NEAR(timings[1].bandwidth_fraction, 0.005033, 1e-6);
  EXPECT_GT(timings[0].achieved_gbps, 0);
}

TEST(ApplyPlausibility, RejectsFlopsBeyondTheCeilingNamingShapeAndNumbers) {
  task::Task t = MatmulTask();
  auto work = WorkPerShape(t);
  ASSERT_TRUE(work.ok());
  // 17.18 GFLOP in 5 ms = 3436 GFLOP/s > 1.25 x 1000.
  std::vector<ShapeTiming> timings = Timings(0.01, 5);
  PlausibilityVerdict v = ApplyPlausibility(t, *work, Ceilings(), timings);
  EXPECT_FALSE(v.plausible);
  EXPECT_TRUE(Contains(v.message, "achieved 3436 GFLOP/s on shape n=2048, 3.4x the measured f32 FMA ceiling of "
                                  "1000 GFLOP/s of Test CPU"))
      << v.message;
  EXPECT_TRUE(Contains(v.message, "timing is not trustworthy")) << v.message;

  // Just under the margin passes: 17.18 GFLOP in 14 ms = 1227 GFLOP/s < 1250.
  timings = Timings(0.01, 14);
  EXPECT_TRUE(ApplyPlausibility(t, *work, Ceilings(), timings).plausible);
}

TEST(ApplyPlausibility, RejectsBandwidthBeyondTheCeiling) {
  task::Task t = MatmulTask("");
  auto work = WorkPerShape(t);
  ASSERT_TRUE(work.ok());
  // 50.33 MB in 0.1 ms = 503 GB/s, 5x the 100 GB/s copy ceiling.
  std::vector<ShapeTiming> timings = Timings(0.01, 0.1);
  PlausibilityVerdict v = ApplyPlausibility(t, *work, Ceilings(), timings);
  EXPECT_FALSE(v.plausible);
  EXPECT_TRUE(Contains(v.message, "achieved 503.3 GB/s on shape n=2048, 5x the measured copy ceiling of 100 GB/s"))
      << v.message;
  EXPECT_TRUE(Contains(v.message, "50331648 bytes per call, the task's input and output buffers")) << v.message;
  EXPECT_EQ(timings[1].achieved_gflops, 0);  // no flops in the task: nothing computed
  EXPECT_EQ(timings[1].compute_fraction, 0);

  // 1.4x the ceiling is within the margin.
  timings = Timings(0.01, 50.331648 / 140);
  EXPECT_TRUE(ApplyPlausibility(t, *work, Ceilings(), timings).plausible);
}

TEST(ApplyPlausibility, ExemptsSmallBuffersShortCallsAndUnflushedCachesFromTheBandwidthCheck) {
  task::Task t = MatmulTask("");
  auto work = WorkPerShape(t);
  ASSERT_TRUE(work.ok());
  // n=64: 48 KiB per call in 1 ns would be 49 TB/s, but under 4 MiB caches and overhead rule.
  std::vector<ShapeTiming> timings = Timings(1e-6, 100);
  PlausibilityVerdict v = ApplyPlausibility(t, *work, Ceilings(), timings);
  EXPECT_TRUE(v.plausible) << v.message;
  EXPECT_GT(timings[0].bandwidth_fraction, 100);  // still reported

  // n=2048 in 10 us: 5000 GB/s, but below the 20 us floor.
  timings = Timings(0.01, 0.010);
  EXPECT_TRUE(ApplyPlausibility(t, *work, Ceilings(), timings).plausible);

  // Without cache flushing the buffers may sit in cache: not checked either.
  t.timing.flush_cache = false;
  timings = Timings(0.01, 0.1);
  EXPECT_TRUE(ApplyPlausibility(t, *work, Ceilings(), timings).plausible);
}

TEST(ApplyPlausibility, AllowsMatrixUnitsForNarrowDtypes) {
  task::Task t = MatmulTask("2 * n * n * n", "n");  // tiny bytes: only the FLOP check can fire
  t.backend = task::Backend::kCuda;
  for (auto& a : t.args) {
    if (a.role == task::ArgRole::kInput) a.dtype = task::DType::kBF16;
  }
  EXPECT_EQ(MatrixUnitAllowance(t), 16);
  auto work = WorkPerShape(t);
  ASSERT_TRUE(work.ok());
  // 17.18 GFLOP in 2 ms = 8590 GFLOP/s: 8.6x the FMA ceiling, fine for bf16 tensor cores.
  std::vector<ShapeTiming> timings = Timings(0.01, 2);
  EXPECT_TRUE(ApplyPlausibility(t, *work, Ceilings(), timings).plausible);
  // ... but 0.05 ms (343600 GFLOP/s, 344x) is not.
  timings = Timings(0.01, 0.05);
  PlausibilityVerdict v = ApplyPlausibility(t, *work, Ceilings(), timings);
  EXPECT_FALSE(v.plausible);
  EXPECT_TRUE(Contains(v.message, "at most 20x is plausible")) << v.message;

  t.backend = task::Backend::kCpu;
  for (auto& a : t.args) a.dtype = task::DType::kF64;
  EXPECT_EQ(MatrixUnitAllowance(t), 1);
}

}  // namespace
}  // namespace kf::eval
