#include <gtest/gtest.h>

#include <string>

#include "prompt/prompt.h"

namespace kf::prompt {
namespace {

constexpr std::string_view kParent =
    "#include <cstdint>\n"
    "void add(const float* a, const float* b, float* c, int32_t n) {\n"
    "  for (int32_t i = 0; i < n; ++i) {\n"
    "    c[i] = a[i] + b[i];\n"
    "  }\n"
    "}\n";

constexpr std::string_view kEvolveParent =
    "#include <cstdint>\n"
    "void add(const float* a, const float* b, float* c, int32_t n) {\n"
    "  // EVOLVE-BLOCK-START\n"
    "  for (int32_t i = 0; i < n; ++i) c[i] = a[i] + b[i];\n"
    "  // EVOLVE-BLOCK-END\n"
    "}\n";

std::string Crlf(std::string_view text) {
  std::string out;
  for (char c : text) out += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return out;
}

TEST(ExtractCode, TakesWholeFileFromTaggedFenceAmidProse) {
  const Extraction e = ExtractCode(
      "Vectorize the loop.\n\n```cpp\nint main() {\n  return 0;\n}\n```\n\nThis should be faster.\n", kParent);
  EXPECT_EQ(e.kind, ExtractKind::kFullFile) << e.error;
  EXPECT_TRUE(e.ok());
  EXPECT_EQ(e.code, "int main() {\n  return 0;\n}\n");
}

TEST(ExtractCode, TakesUntaggedFenceAndTildeFence) {
  EXPECT_EQ(ExtractCode("```\nint a;\n```\n", "").code, "int a;\n");
  EXPECT_EQ(ExtractCode("~~~c++\nint b;\n~~~", "").code, "int b;\n");
}

TEST(ExtractCode, PrefersLastCodeTaggedBlockOverLongerOthers) {
  const Extraction e = ExtractCode(
      "```cpp\nint first;\n```\n```bash\nnvcc -O3 -arch=sm_90 kernel.cu -o kernel && ./kernel --long-flags\n```\n"
      "```CUDA\nint second;\n```\n```text\nsome long explanation text that is longer than the code\n```\n",
      "");
  EXPECT_EQ(e.kind, ExtractKind::kFullFile);
  EXPECT_EQ(e.code, "int second;\n");
}

TEST(ExtractCode, FallsBackToLongestBlockWithoutCodeTags) {
  const Extraction e = ExtractCode("```\nint a;\n```\n```\nint longer_one;\n```\n```\nint b;\n```\n", "");
  EXPECT_EQ(e.code, "int longer_one;\n");
}

TEST(ExtractCode, KeepsInnerFencesOfLongerOuterFence) {
  const Extraction e = ExtractCode("````cpp\nconst char* doc = R\"(\n```\n)\";\n````\n", "");
  EXPECT_EQ(e.code, "const char* doc = R\"(\n```\n)\";\n");
}

TEST(ExtractCode, StripsFenceIndentationOfIndentedBlock) {
  const Extraction e = ExtractCode("1. The kernel:\n   ```cpp\n   int f() {\n     return 1;\n   }\n   ```\n", "");
  EXPECT_EQ(e.code, "int f() {\n  return 1;\n}\n");
}

TEST(ExtractCode, NormalizesCrlfReply) {
  const Extraction e = ExtractCode(Crlf("Here:\n```cpp\nint a;\nint b;\n```\n"), "");
  EXPECT_EQ(e.code, "int a;\nint b;\n");
}

TEST(ExtractCode, ReportsTruncatedFenceAsNoCode) {
  const Extraction e = ExtractCode("```cpp\nint a;\n```\nNow the full version:\n```cpp\nvoid add(", kParent);
  EXPECT_EQ(e.kind, ExtractKind::kNoCode);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.error, "reply ended inside a code block (truncated?)");
}

TEST(ExtractCode, ReportsReplyWithoutCode) {
  const Extraction e = ExtractCode("I think the kernel is already optimal; use `#pragma omp simd`.", kParent);
  EXPECT_EQ(e.kind, ExtractKind::kNoCode);
  EXPECT_NE(e.error.find("no fenced code block and no SEARCH/REPLACE block"), std::string::npos) << e.error;
}

TEST(ExtractCode, ReportsWhitespaceOnlyBlockAsNoCode) {
  const Extraction e = ExtractCode("```cpp\n  \n\t\n```\n", kParent);
  EXPECT_EQ(e.kind, ExtractKind::kNoCode);
  EXPECT_NE(e.error.find("empty"), std::string::npos) << e.error;
}

TEST(ExtractCode, AppliesSingleSearchReplace) {
  const Extraction e = ExtractCode(
      "Use simd.\n<<<<<<< SEARCH\n  for (int32_t i = 0; i < n; ++i) {\n=======\n#pragma omp simd\n"
      "  for (int32_t i = 0; i < n; ++i) {\n>>>>>>> REPLACE\n",
      kParent);
  ASSERT_EQ(e.kind, ExtractKind::kDiff) << e.error;
  EXPECT_EQ(e.code,
            "#include <cstdint>\n"
            "void add(const float* a, const float* b, float* c, int32_t n) {\n"
            "#pragma omp simd\n"
            "  for (int32_t i = 0; i < n; ++i) {\n"
            "    c[i] = a[i] + b[i];\n"
            "  }\n"
            "}\n");
}

TEST(ExtractCode, AppliesSeveralEditsInOrderInsideFenceAndCrlf) {
  const std::string reply = Crlf(
      "```cpp\n<<<<<<< SEARCH\n#include <cstdint>\n=======\n#include <cstdint>\n#include <omp.h>\n>>>>>>> REPLACE\n"
      "```\nand\n```cpp\n<<<<<<< SEARCH\n    c[i] = a[i] + b[i];\n=======\n    c[i] = b[i] + a[i];\n"
      ">>>>>>> REPLACE\n<<<<<<< SEARCH\n#include <omp.h>\n=======\n>>>>>>> REPLACE\n```\n");
  const Extraction e = ExtractCode(reply, kParent);
  ASSERT_EQ(e.kind, ExtractKind::kDiff) << e.error;
  EXPECT_EQ(e.code,
            "#include <cstdint>\n"
            "void add(const float* a, const float* b, float* c, int32_t n) {\n"
            "  for (int32_t i = 0; i < n; ++i) {\n"
            "    c[i] = b[i] + a[i];\n"
            "  }\n"
            "}\n");
}

TEST(ExtractCode, ToleratesTrailingWhitespaceDifferenceInSearch) {
  const Extraction e =
      ExtractCode("<<<<<<< SEARCH\n    c[i] = a[i] + b[i];   \n=======\n    c[i] = a[i] - b[i];\n>>>>>>> REPLACE\n",
                  kParent);
  ASSERT_EQ(e.kind, ExtractKind::kDiff) << e.error;
  EXPECT_NE(e.code.find("    c[i] = a[i] - b[i];\n"), std::string::npos) << e.code;
}

TEST(ExtractCode, ReportsSearchThatMatchesNothing) {
  const Extraction e = ExtractCode(
      "<<<<<<< SEARCH\n  for (int i = 0; i < n; ++i) {\n=======\n  for (;;) {\n>>>>>>> REPLACE\n", kParent);
  EXPECT_EQ(e.kind, ExtractKind::kDiffFailed);
  EXPECT_TRUE(e.code.empty());
  EXPECT_NE(e.error.find("SEARCH block 1 of 1"), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("\"  for (int i = 0; i < n; ++i) {\""), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("matched 0 times"), std::string::npos) << e.error;
}

TEST(ExtractCode, ReportsSearchThatMatchesTwice) {
  const Extraction e = ExtractCode("<<<<<<< SEARCH\n  }\n=======\n  } // loop\n>>>>>>> REPLACE\n",
                                   std::string(kParent) + "void g() {\n  }\n");
  EXPECT_EQ(e.kind, ExtractKind::kDiffFailed);
  EXPECT_NE(e.error.find("first line \"  }\""), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("matched 2 times"), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("at lines 5, 8"), std::string::npos) << e.error;
}

TEST(ExtractCode, ReportsLaterBlockFailureAgainstEditedText) {
  const Extraction e = ExtractCode(
      "<<<<<<< SEARCH\n#include <cstdint>\n=======\n#include <stdint.h>\n>>>>>>> REPLACE\n"
      "<<<<<<< SEARCH\n#include <cstdint>\n=======\n>>>>>>> REPLACE\n",
      kParent);
  EXPECT_EQ(e.kind, ExtractKind::kDiffFailed);
  EXPECT_NE(e.error.find("SEARCH block 2 of 2"), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("after the previous 1 block(s) were applied"), std::string::npos) << e.error;
}

TEST(ExtractCode, ReportsTruncatedSearchReplaceBlock) {
  const Extraction e = ExtractCode("Fix:\n<<<<<<< SEARCH\n    c[i] = a[i] + b[i];\n=======\n    c[i] =", kParent);
  EXPECT_EQ(e.kind, ExtractKind::kDiffFailed);
  EXPECT_NE(e.error.find("reply line 2 is not closed by '>>>>>>> REPLACE' (reply truncated?)"), std::string::npos)
      << e.error;
}

TEST(ExtractCode, ReportsDiffWithoutParent) {
  const Extraction e = ExtractCode("<<<<<<< SEARCH\nint a;\n=======\nint b;\n>>>>>>> REPLACE\n", "");
  EXPECT_EQ(e.kind, ExtractKind::kDiffFailed);
  EXPECT_NE(e.error.find("no parent kernel"), std::string::npos) << e.error;
}

TEST(ExtractCode, ReportsEmptySearch) {
  const Extraction e = ExtractCode("<<<<<<< SEARCH\n=======\nint b;\n>>>>>>> REPLACE\n", kParent);
  EXPECT_EQ(e.kind, ExtractKind::kDiffFailed);
  EXPECT_NE(e.error.find("is empty"), std::string::npos) << e.error;
}

TEST(ExtractCode, AcceptsLegalEditInsideEvolveBlock) {
  const Extraction e = ExtractCode(
      "<<<<<<< SEARCH\n  for (int32_t i = 0; i < n; ++i) c[i] = a[i] + b[i];\n=======\n#pragma omp parallel for simd\n"
      "  for (int32_t i = 0; i < n; ++i) c[i] = a[i] + b[i];\n>>>>>>> REPLACE\n",
      kEvolveParent);
  ASSERT_EQ(e.kind, ExtractKind::kDiff) << e.error;
  EXPECT_NE(e.code.find("  // EVOLVE-BLOCK-START\n#pragma omp parallel for simd\n"), std::string::npos) << e.code;
}

TEST(ExtractCode, RejectsDiffThatEditsOutsideEvolveBlock) {
  const Extraction e =
      ExtractCode("<<<<<<< SEARCH\n#include <cstdint>\n=======\n#include <cstdint>\n#include <cmath>\n>>>>>>> REPLACE\n",
                  kEvolveParent);
  EXPECT_EQ(e.kind, ExtractKind::kEvolveViolation);
  EXPECT_FALSE(e.ok());
  EXPECT_NE(e.error.find("line 2 of the original"), std::string::npos) << e.error;
  EXPECT_NE(e.code.find("#include <cmath>"), std::string::npos) << "the rejected code is kept for the record";
}

TEST(ExtractCode, RejectsFullFileThatEditsOutsideEvolveBlock) {
  const Extraction e = ExtractCode(
      "```cpp\n#include <cstdint>\nvoid add(const float* a, const float* b, float* c, int32_t n) {\n"
      "  // EVOLVE-BLOCK-START\n  for (int32_t i = 0; i < n; ++i) c[i] = a[i] * b[i];\n  // EVOLVE-BLOCK-END\n"
      "  c[0] = 0;\n}\n```\n",
      kEvolveParent);
  EXPECT_EQ(e.kind, ExtractKind::kEvolveViolation);
  EXPECT_NE(e.error.find("line 6 of the original"), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("candidate: \"  c[0] = 0;\""), std::string::npos) << e.error;
}

TEST(ExtractCode, AcceptsFullFileThatEditsOnlyInsideEvolveBlockOfCrlfParent) {
  const Extraction e = ExtractCode(
      "```cpp\n#include <cstdint>\nvoid add(const float* a, const float* b, float* c, int32_t n) {\n"
      "  // EVOLVE-BLOCK-START\n  for (int32_t i = 0; i < n; ++i) c[i] = a[i] * b[i];\n  // EVOLVE-BLOCK-END\n}\n```\n",
      Crlf(kEvolveParent));
  EXPECT_EQ(e.kind, ExtractKind::kFullFile) << e.error;
}

TEST(ExtractKindName, NamesEveryKind) {
  EXPECT_EQ(ExtractKindName(ExtractKind::kFullFile), "full_file");
  EXPECT_EQ(ExtractKindName(ExtractKind::kDiff), "diff");
  EXPECT_EQ(ExtractKindName(ExtractKind::kNoCode), "no_code");
  EXPECT_EQ(ExtractKindName(ExtractKind::kDiffFailed), "diff_failed");
  EXPECT_EQ(ExtractKindName(ExtractKind::kEvolveViolation), "evolve_violation");
}

TEST(ApplySearchReplace, EditsAnyTextAndNamesItInErrors) {
  core::Expected<std::string> edited =
      ApplySearchReplace("Edit:\r\n<<<<<<< SEARCH\r\nbeta\r\n=======\r\nBETA\r\ngamma\r\n>>>>>>> REPLACE\r\n",
                         "alpha\nbeta\n", "the notes");
  ASSERT_TRUE(edited.ok()) << edited.error().message;
  EXPECT_EQ(*edited, "alpha\nBETA\ngamma\n");
  core::Expected<std::string> missing =
      ApplySearchReplace("<<<<<<< SEARCH\ndelta\n=======\nx\n>>>>>>> REPLACE\n", "alpha\n", "the notes");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kParse);
  EXPECT_NE(missing.error().message.find("matched 0 times in the notes"), std::string::npos)
      << missing.error().message;
}

TEST(ApplySearchReplace, FailsWithoutBlocks) {
  core::Expected<std::string> none = ApplySearchReplace("```\nalpha\n```\n", "alpha\n", "the notes");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no SEARCH/REPLACE blocks to apply to the notes"), std::string::npos)
      << none.error().message;
}

}  // namespace
}  // namespace kf::prompt
