// Unit tests of the evaluator's trusted pieces: dtype conversion, comparison, the runner
// protocol parser and statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "eval/compare.h"
#include "eval/harness.h"
#include "eval/input_gen.h"

namespace kf::eval {
namespace {

TEST(FloatToHalf, RoundsToNearestEvenAndHandlesRangeEdges) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // halfway, ties to even -> inf
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalf(std::nanf("")) & 0x7e00, 0x7e00);
  // 1 + 2^-11 lies exactly between 1 and 1 + 2^-10: ties to the even mantissa (1.0).
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 lies between 1 + 2^-10 (odd) and 1 + 2^-9 (even): rounds up.
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // half of it ties to even (zero)
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units ties to even (2)
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<std::uint16_t>(h))), h) << h;
  }
}

TEST(FloatToBFloat16, RoundsToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  std::uint32_t bits = 0x3f808000;  // exactly halfway between 0x3f80 and 0x3f81: stays even
  float f;
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(FloatToBFloat16(f), 0x3f80);
  bits = 0x3f818000;  // halfway between 0x3f81 (odd) and 0x3f82: goes up
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(FloatToBFloat16(f), 0x3f82);
  EXPECT_FLOAT_EQ(BFloat16ToFloat(0x4040), 3.0f);
}

TEST(GenerateInput, IsDeterministicAndHonoursTheIntegerRange) {
  task::ArgSpec arg;
  arg.dtype = task::DType::kI32;
  arg.init.dist = task::Dist::kIntegers;
  arg.init.low = -3;
  arg.init.high = 3;
  const std::string a = GenerateInput(arg, 1000, 42), b = GenerateInput(arg, 1000, 42);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, GenerateInput(arg, 1000, 43));
  bool saw_low = false, saw_high = false;
  for (int i = 0; i < 1000; ++i) {
    const double v = LoadAsDouble(arg.dtype, reinterpret_cast<const unsigned char*>(a.data()), i);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    saw_low |= v == -3;
    saw_high |= v == 3;
  }
  EXPECT_TRUE(saw_low && saw_high);
}

TEST(CompareOutput, ReportsUnwrittenFirstBadCoordinateAndCounts) {
  task::ArgSpec arg;
  arg.name = "y";
  arg.dtype = task::DType::kF32;
  std::vector<float> expected(6, 1.0f), actual(6, 1.0f);
  FillPoison(arg.dtype, reinterpret_cast<unsigned char*>(&actual[4]), 1, 0);
  actual[5] = 1.5f;
  auto m = CompareOutput(arg, {2, 3}, reinterpret_cast<const unsigned char*>(expected.data()),
                         reinterpret_cast<const unsigned char*>(actual.data()), {1e-5, 1e-5}, 0);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->bad_count, 2);
  EXPECT_EQ(m->first_bad_index, 4);
  EXPECT_EQ(m->first_bad_coord, (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(m->kind, "unwritten");
  EXPECT_DOUBLE_EQ(m->max_abs_error, 0.5);
  actual[4] = 1.0f + 5e-6f;  // within atol + rtol*|e|
  actual[5] = 1.0f;
  EXPECT_FALSE(CompareOutput(arg, {2, 3}, reinterpret_cast<const unsigned char*>(expected.data()),
                             reinterpret_cast<const unsigned char*>(actual.data()), {1e-5, 1e-5}, 0)
                   .has_value());
  actual[0] = std::numeric_limits<float>::infinity();
  m = CompareOutput(arg, {2, 3}, reinterpret_cast<const unsigned char*>(expected.data()),
                    reinterpret_cast<const unsigned char*>(actual.data()), {1e9, 1e9}, 0);
  ASSERT_TRUE(m.has_value()) << "Inf must fail whatever the tolerance";
  EXPECT_EQ(m->kind, "nonfinite");
}

task::Task TwoShapeTask() {
  task::Task t;
  t.correctness_trials = 2;
  t.shapes.resize(2);
  t.shapes[0].label = "n=8";
  t.shapes[1].label = "n=9";
  return t;
}

TEST(ParseRunnerReport, AcceptsOnlyTheRightNonceAndNamesWhereItStopped) {
  const task::Task t = TwoShapeTask();
  const std::string records = "P c 0 0\nC 0 0 0.5\nP c 1 1\nC 1 1 0.25\nP t 1\nT 0 2 1 3\nT 1 1 2\n";
  RunnerReport r = ParseRunnerReport(t, records + "D abc 0.1 2 3\n", "abc");
  EXPECT_TRUE(r.completed);
  EXPECT_DOUBLE_EQ(r.kernel_ms, 0.5 + 0.25 + 1 + 3 + 2);
  EXPECT_EQ(r.trial_ms[0], (std::vector<double>{1, 3}));
  r = ParseRunnerReport(t, records + "D abd 0.1 2 3\n", "abc");
  EXPECT_FALSE(r.completed);
  r = ParseRunnerReport(t, "P c 1 1\n", "abc");
  EXPECT_FALSE(r.completed);
  EXPECT_EQ(r.where, "correctness trial 2/2 of shape n=9");
  r = ParseRunnerReport(t, "T 0 1 1\nT 0 1 0.001\nD abc 0 0 0\n", "abc");
  EXPECT_FALSE(r.completed);
  EXPECT_NE(r.protocol_error.find("duplicate"), std::string::npos);
}

TEST(Summarize, GivesMedianMinAndCoefficientOfVariation) {
  const SampleStats s = Summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_NEAR(s.cv, std::sqrt(1.25) / 2.5, 1e-12);
}

}  // namespace
}  // namespace kf::eval
