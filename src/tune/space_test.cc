#include "tune/space.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

namespace kf::tune {
namespace {

ParamSpace MustParse(std::string_view source, const std::vector<std::string>& scalars = {}) {
  auto space = ParamSpace::Parse(source, "seed.cu", scalars);
  EXPECT_TRUE(space.ok()) << space.error().ToString();
  return space.ok() ? std::move(*space) : ParamSpace();
}

TEST(ParamSpaceTest, ReadsListsRangesStepsAndPowersOfTwo) {
  ParamSpace s = MustParse(
      "#include <cuda_runtime.h>\n"
      "// @param BLOCK: 64, 128, 256, 512\n"
      "  //   @param VEC: 1..4\n"
      "// @param UNROLL: 1..16 step 5\n"
      "// @param TILE: pow2(6..64)\n"
      "// @param MIXED: 3, pow2(1..4), 3, 10..11\n");
  ASSERT_EQ(s.params().size(), 5u);
  EXPECT_EQ(s.params()[0].values, (std::vector<std::int64_t>{64, 128, 256, 512}));
  EXPECT_EQ(s.params()[0].line, 2);
  EXPECT_EQ(s.params()[1].name, "VEC");
  EXPECT_EQ(s.params()[1].values, (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(s.params()[2].values, (std::vector<std::int64_t>{1, 6, 11, 16}));
  EXPECT_EQ(s.params()[3].values, (std::vector<std::int64_t>{8, 16, 32, 64}));
  EXPECT_EQ(s.params()[4].values, (std::vector<std::int64_t>{3, 1, 2, 4, 10, 11})) << "duplicates dropped, order kept";
  EXPECT_DOUBLE_EQ(s.CrossProductSize(), 4.0 * 4 * 4 * 4 * 6);
  EXPECT_EQ(s.Default(), (Config{64, 1, 1, 8, 3}));
}

TEST(ParamSpaceTest, ReportsEveryMalformedDeclarationWithFileAndLine) {
  auto s = ParamSpace::Parse(
      "// @param BLOCK: 64, 128\n"
      "// @param BLOCK: 32\n"           // 2: declared twice
      "// @param 9LIVES: 1\n"           // 3: not an identifier
      "// @param VEC 1, 2\n"            // 4: no colon
      "// @param EMPTY: 8..4\n"         // 5: empty range
      "// @param WORD: fast, slow\n"    // 6: not integers
      "// @constraint BLOCK * < 4\n"    // 7: does not parse
      "// @constraint BLOCK <= nn\n"    // 8: unknown name
      "// @params X: 1\n"               // 9: near miss of a keyword
      "// @brief not ours\n"            // documentation tools' tags are left alone
      "// @param n: 1, 2\n",            // 11: hides a shape scalar
      "kernels/seed.cu", {"n"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, core::ErrorCode::kValidation);
  const std::string& m = s.error().message;
  for (int line : {2, 3, 4, 5, 6, 7, 8, 9, 11}) {
    EXPECT_NE(m.find("kernels/seed.cu:" + std::to_string(line) + ":"), std::string::npos) << "line " << line << "\n" << m;
  }
  EXPECT_EQ(m.find("seed.cu:10:"), std::string::npos) << m;
  EXPECT_EQ(m.find("seed.cu:1:"), std::string::npos) << m;
  EXPECT_NE(m.find("first on line 1"), std::string::npos) << m;
  EXPECT_NE(m.find("'nn' is neither a parameter"), std::string::npos) << m;
}

TEST(ParamSpaceTest, ASourceWithoutDeclarationsIsAnEmptySpace) {
  ParamSpace s = MustParse("__global__ void k() {}\n// a comment mentioning @param in passing\n");
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(DeclaresParams("int x; // @param in a trailing comment is not a declaration\n"));
  EXPECT_TRUE(DeclaresParams("  // @param B: 1\n"));
}

/// The brute-force count: every point of the cross product, checked one by one.
std::size_t BruteForce(const ParamSpace& s, const Environment& env) {
  std::size_t count = 0;
  Config c(s.params().size());
  std::function<void(std::size_t)> walk = [&](std::size_t k) {
    if (k == c.size()) {
      count += !s.Violation(c, env).has_value();
      return;
    }
    for (auto v : s.params()[k].values) {
      c[k] = v;
      walk(k + 1);
    }
  };
  walk(0);
  return count;
}

TEST(ParamSpaceTest, EnumerationEqualsABruteForceCount) {
  const std::string source =
      "// @param BX: pow2(1..64)\n"
      "// @param BY: pow2(1..32)\n"
      "// @param VEC: 1, 2, 4\n"
      "// @param UNROLL: 1..6\n"
      "// @constraint BX * BY >= 32 && BX * BY % 32 == 0\n"
      "// @constraint n % VEC == 0 || VEC == 1\n"
      "// @constraint UNROLL <= max(2, VEC * 2) && !(UNROLL == 5)\n"
      "// @threads BX * BY\n"
      "// @shared_bytes (BX * VEC + 1) * BY * 4\n";
  ParamSpace s = MustParse(source, {"n"});
  for (double n : {4096.0, 1001.0, 1002.0}) {
    for (double max_threads : {1024.0, 256.0}) {
      Environment env{{{"n", n}}, {{std::string(kMaxThreadsPerBlock), max_threads},
                                   {std::string(kMaxSharedBytesPerBlock), 2048}}};
      auto points = s.Enumerate(env);
      ASSERT_TRUE(points.ok()) << points.error().ToString();
      EXPECT_EQ(points->size(), BruteForce(s, env)) << "n=" << n << " max_threads=" << max_threads;
      EXPECT_GT(points->size(), 0u);
      for (const Config& c : *points) EXPECT_EQ(s.Violation(c, env), std::nullopt) << s.Label(c);
      EXPECT_TRUE(std::is_sorted(points->begin(), points->end(), [&](const Config& a, const Config& b) {
        // lexicographic in value positions: here every list is ascending, so in values too
        return a < b;
      }));
    }
  }
  // Smaller device limits allow strictly fewer points.
  Environment big{{{"n", 4096}}, {{std::string(kMaxThreadsPerBlock), 1024}}};
  Environment small{{{"n", 4096}}, {{std::string(kMaxThreadsPerBlock), 128}}};
  EXPECT_GT(s.Enumerate(big)->size(), s.Enumerate(small)->size());
}

TEST(ParamSpaceTest, DeviceLimitsRejectALaunchBeforeAnythingCompiles) {
  ParamSpace s = MustParse(
      "// @param BX: 256, 512, 1024, 2048\n"
      "// @param TILE: 32, 64\n"
      "// @threads BX\n"
      "// @shared_bytes TILE * TILE * 4 * 2\n");
  Environment h100{{}, {{std::string(kMaxThreadsPerBlock), 1024}, {std::string(kMaxSharedBytesPerBlock), 16384}}};
  auto why = s.Violation({2048, 32}, h100);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("threads per block BX = 2048 (line 3) exceeds the device's 1024"), std::string::npos) << *why;
  why = s.Violation({512, 64}, h100);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("shared bytes per block"), std::string::npos) << *why;
  EXPECT_EQ(s.Violation({512, 32}, h100), std::nullopt);
  EXPECT_EQ(s.Enumerate(h100)->size(), 3u);
  // Unknown limits (a cpu, or a device nobody measured) are not checked.
  EXPECT_EQ(s.Enumerate(Environment{})->size(), 8u);
}

TEST(ParamSpaceTest, ArithmeticFollowsCOnIntegers) {
  ParamSpace s = MustParse(
      "// @param A: 7\n"
      "// @param B: 2\n"
      "// @constraint A / B == 3 && A % B == 1 && -A / B == -3\n"
      "// @constraint 7.0 / 2 == 3.5 && 1 < 2 == 1 && 2 * 3 + 4 == 10 && min(A, B) == 2\n");
  EXPECT_EQ(s.Violation({7, 2}, {}), std::nullopt);
  ParamSpace zero = MustParse("// @param A: 0, 2\n// @constraint 8 / A >= 4\n");
  auto why = zero.Violation({0}, {});
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("division by zero"), std::string::npos) << *why;
  EXPECT_EQ(zero.Enumerate({})->size(), 1u) << "a point that divides by zero is not allowed";
}

TEST(ParamSpaceTest, RefusesToListAnUnreasonablyLargeSpace) {
  ParamSpace s = MustParse("// @param A: 1..1000\n// @param B: 1..1000\n");
  auto points = s.Enumerate({}, 10'000);
  ASSERT_FALSE(points.ok());
  EXPECT_NE(points.error().message.find("more than 10000"), std::string::npos);
}

TEST(ParamSpaceTest, AdversarialDeclarationsAreBoundedAndNamed) {
  // Deep nesting is refused instead of exhausting the stack.
  auto deep = ParamSpace::Parse("// @param A: 1\n// @constraint " + std::string(20000, '(') + "A" +
                                    std::string(20000, ')') + "\n",
                                "k.cu");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("k.cu:2:"), std::string::npos) << deep.error().message;
  auto minus = ParamSpace::Parse("// @param A: 1\n// @constraint " + std::string(1000, '-') + "A\n", "k.cu");
  ASSERT_FALSE(minus.ok());
  // Keywords and reserved names would change every header's meaning as macros.
  for (const char* name : {"for", "int", "defined", "__CUDA_ARCH__", "_GLIBCXX_DEBUG", "NDEBUG"}) {
    auto bad = ParamSpace::Parse(std::string("// @param ") + name + ": 1, 2\n", "k.cu");
    ASSERT_FALSE(bad.ok()) << name;
    EXPECT_NE(bad.error().message.find("reserved"), std::string::npos) << bad.error().message;
  }
  // A space whose constraint forbids everything deep down is given up on, not walked for hours.
  std::string wide;
  for (char p = 'A'; p <= 'F'; ++p) wide += std::string("// @param ") + p + ": 1..100\n";
  wide += "// @constraint F < 0\n";
  ParamSpace s = MustParse(wide);
  auto points = s.Enumerate({}, 100'000);
  ASSERT_FALSE(points.ok());
  EXPECT_NE(points.error().message.find("steps to list"), std::string::npos) << points.error().message;
  std::string many;
  for (int p = 0; p < 70; ++p) many += "// @param P" + std::to_string(p) + ": 1, 2\n";
  auto too_many = ParamSpace::Parse(many, "k.cu");
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("more than 64 parameters"), std::string::npos);
}

TEST(ParamSpaceTest, InstantiationDefinesEachValueOnItsOwnLine) {
  const std::string source =
      "#include <cstdint>\n"
      "    // @param BLOCK: 64, 128\n"
      "// @param VEC: 1, 4  \n"
      "// @constraint BLOCK * VEC <= 512\n"
      "int f() { return BLOCK * VEC; }\n";
  ParamSpace s = MustParse(source);
  const std::string out = s.Instantiate(source, {128, 4});
  EXPECT_EQ(out,
            "#include <cstdint>\n"
            "    #define BLOCK 128  // @param BLOCK: 64, 128\n"
            "#define VEC 4  // @param VEC: 1, 4  \n"
            "// @constraint BLOCK * VEC <= 512\n"
            "int f() { return BLOCK * VEC; }\n");
  EXPECT_EQ(s.Label({128, 4}), "BLOCK=128 VEC=4");
  EXPECT_EQ(s.ParseLabel("BLOCK=128 VEC=4"), (Config{128, 4}));
  EXPECT_EQ(s.ParseLabel("VEC=1 BLOCK=64 (the default)"), (Config{64, 1}));
  EXPECT_EQ(s.ParseLabel("BLOCK=128"), std::nullopt) << "VEC is missing";
  EXPECT_EQ(s.ParseLabel("BLOCK=96 VEC=4"), std::nullopt) << "96 is not declared";
  EXPECT_EQ(Uninstantiate(out), source);
  EXPECT_EQ(s.ValuesIn(out), (Config{128, 4}));
  EXPECT_EQ(s.ValuesIn(source), std::nullopt) << "a declaration is not a value";
  // A value the declaration does not list is not taken back: the check sees the change.
  const std::string forged = "#define BLOCK 4096  // @param BLOCK: 64, 128\n";
  EXPECT_EQ(Uninstantiate(forged), forged);
  const std::string renamed = "#define OTHER 64  // @param BLOCK: 64, 128\n";
  EXPECT_EQ(Uninstantiate(renamed), renamed);
}

}  // namespace
}  // namespace kf::tune
