#include <gtest/gtest.h>

#include <string>

#include "prompt/prompt.h"

namespace kf::prompt {
namespace {

constexpr std::string_view kOriginal =
    "#include <cstdint>\n"                         // 1
    "// EVOLVE-BLOCK-START\n"                      // 2
    "static float Scale(float v) { return v; }\n"  // 3
    "// EVOLVE-BLOCK-END\n"                        // 4
    "void f(const float* x, float* y, int n) {\n"  // 5
    "  // EVOLVE-BLOCK-START\n"                    // 6
    "  for (int i = 0; i < n; ++i) y[i] = Scale(x[i]);\n"  // 7
    "  // EVOLVE-BLOCK-END\n"                      // 8
    "}\n";                                         // 9

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(HasEvolveBlocks, SeesEitherMarker) {
  EXPECT_TRUE(HasEvolveBlocks(kOriginal));
  EXPECT_TRUE(HasEvolveBlocks("int a;\n// EVOLVE-BLOCK-END\n"));
  EXPECT_FALSE(HasEvolveBlocks("int a;\n// EVOLVE-BLOCK\n"));
}

TEST(CheckEvolveBlocks, AcceptsChangesInsideBlocks) {
  std::string candidate = Replace(std::string(kOriginal), "return v;", "return 2.0f * v;\n}\nstatic int Unused() { return 0;");
  candidate = Replace(candidate, "  for (int i = 0; i < n; ++i) y[i] = Scale(x[i]);\n",
                      "#pragma omp simd\n  for (int i = 0; i < n; ++i)\n    y[i] = Scale(x[i]);\n");
  EXPECT_TRUE(CheckEvolveBlocks(kOriginal, candidate).ok());
}

TEST(CheckEvolveBlocks, AcceptsEmptiedBlockAndMissingFinalNewlineAndCrlf) {
  std::string candidate = Replace(std::string(kOriginal), "static float Scale(float v) { return v; }\n", "");
  candidate = Replace(candidate, "  for (int i = 0; i < n; ++i) y[i] = Scale(x[i]);\n", "  y[0] = x[0];\n");
  candidate.pop_back();
  std::string crlf;
  for (char c : candidate) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_TRUE(CheckEvolveBlocks(kOriginal, crlf).ok());
}

TEST(CheckEvolveBlocks, NamesFirstChangedFrozenLineWithBothVersions) {
  const std::string candidate = Replace(std::string(kOriginal), "int n) {", "int n, int m) {");
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, core::ErrorCode::kValidation);
  const std::string& message = result.error().message;
  EXPECT_NE(message.find("line 5 of the original"), std::string::npos) << message;
  EXPECT_NE(message.find("frozen lines 4-6"), std::string::npos) << message;
  EXPECT_NE(message.find("original:  \"void f(const float* x, float* y, int n) {\""), std::string::npos) << message;
  EXPECT_NE(message.find("candidate: \"void f(const float* x, float* y, int n, int m) {\""), std::string::npos)
      << message;
}

TEST(CheckEvolveBlocks, RejectsTrailingWhitespaceChangeInFrozenLine) {
  const std::string candidate = Replace(std::string(kOriginal), "#include <cstdint>\n", "#include <cstdint> \n");
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("line 1 of the original"), std::string::npos) << result.error().message;
}

TEST(CheckEvolveBlocks, RejectsEditedMarkerLine) {
  const std::string candidate = Replace(std::string(kOriginal), "  // EVOLVE-BLOCK-END\n", "// EVOLVE-BLOCK-END\n");
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("line 8 of the original"), std::string::npos) << result.error().message;
}

TEST(CheckEvolveBlocks, RejectsCodeAppendedAfterLastBlock) {
  const std::string candidate = std::string(kOriginal) + "int extra;\n";
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  const std::string& message = result.error().message;
  EXPECT_NE(message.find("line 10 of the original"), std::string::npos) << message;
  EXPECT_NE(message.find("original:  (end of file)"), std::string::npos) << message;
  EXPECT_NE(message.find("candidate: \"int extra;\""), std::string::npos) << message;
}

TEST(CheckEvolveBlocks, RejectsDroppedFrozenTail) {
  std::string candidate(kOriginal);
  candidate.resize(candidate.size() - 2);  // drops "}\n"
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("candidate: (end of file)"), std::string::npos) << result.error().message;
}

TEST(CheckEvolveBlocks, RejectsDifferentBlockCount) {
  const std::string candidate =
      Replace(std::string(kOriginal), "// EVOLVE-BLOCK-START\nstatic float Scale(float v) { return v; }\n// EVOLVE-BLOCK-END\n",
              "");
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("the original has 2 EVOLVE block(s) but the candidate has 1"),
            std::string::npos)
      << result.error().message;
}

TEST(CheckEvolveBlocks, RejectsMarkerSmuggledIntoBlockByCandidate) {
  // Closing a block early and reopening it would turn frozen code into a "block" of the candidate.
  const std::string candidate =
      Replace(std::string(kOriginal), "static float Scale(float v) { return v; }\n",
              "// EVOLVE-BLOCK-END\nint stolen;\n// EVOLVE-BLOCK-START\n");
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("but the candidate has 3"), std::string::npos) << result.error().message;
}

TEST(CheckEvolveBlocks, ReportsMalformedOriginal) {
  struct Case {
    std::string_view original;
    std::string_view expected;
  };
  for (const Case& c : {
           Case{"a\n// EVOLVE-BLOCK-END\n// EVOLVE-BLOCK-START\nb\n// EVOLVE-BLOCK-END\n",
                "original: line 2: EVOLVE-BLOCK-END without an open EVOLVE-BLOCK-START"},
           Case{"a\n// EVOLVE-BLOCK-START\nb\n", "original: line 2: EVOLVE-BLOCK-START is never closed"},
           Case{"// EVOLVE-BLOCK-START\n// EVOLVE-BLOCK-START\n// EVOLVE-BLOCK-END\n",
                "original: line 2: EVOLVE-BLOCK-START inside the block opened at line 1; blocks cannot nest"},
           Case{"// EVOLVE-BLOCK-START EVOLVE-BLOCK-END\n", "original: line 1: one line holds both"},
       }) {
    core::Expected<void> result = CheckEvolveBlocks(c.original, c.original);
    ASSERT_FALSE(result.ok()) << c.original;
    EXPECT_NE(result.error().message.find(c.expected), std::string::npos) << result.error().message;
  }
}

TEST(CheckEvolveBlocks, ReportsMalformedCandidate) {
  const std::string candidate = Replace(std::string(kOriginal), "  // EVOLVE-BLOCK-END\n", "");
  core::Expected<void> result = CheckEvolveBlocks(kOriginal, candidate);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("malformed EVOLVE markers in the candidate: line 6"), std::string::npos)
      << result.error().message;
}

TEST(CheckEvolveBlocks, AllowsAnythingWhenOriginalHasNoMarkers) {
  EXPECT_TRUE(CheckEvolveBlocks("int a;\n", "float b;\n").ok());
}

}  // namespace
}  // namespace kf::prompt
