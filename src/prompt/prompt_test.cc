#include <gtest/gtest.h>

#include <string>

#include "prompt/prompt.h"

namespace kf::prompt {
namespace {

task::Task RowSoftmaxTask() {
  task::Task t;
  t.name = "row_softmax";
  t.description = "Softmax over each row of a matrix.";
  t.backend = task::Backend::kCpu;
  t.entry = "row_softmax";
  task::ArgSpec x;
  x.name = "x";
  x.role = task::ArgRole::kInput;
  x.dtype = task::DType::kF32;
  x.shape = {"rows", "cols"};
  x.init.dist = task::Dist::kUniform;
  x.init.low = -2;
  x.init.high = 2;
  task::ArgSpec y;
  y.name = "y";
  y.role = task::ArgRole::kOutput;
  y.dtype = task::DType::kF32;
  y.shape = {"rows", "cols"};
  task::ArgSpec rows;
  rows.name = "rows";
  rows.role = task::ArgRole::kScalar;
  rows.dtype = task::DType::kI32;
  task::ArgSpec cols = rows;
  cols.name = "cols";
  cols.default_value = 1024;
  t.args = {x, y, rows, cols};
  task::Shape small;
  small.scalars = {{"rows", 128}, {"cols", 1024}};
  small.label = "rows=128,cols=1024";
  task::Shape big;
  big.scalars = {{"rows", 4096}, {"cols", 4096}};  // no label: built from the scalars
  t.shapes = {small, big};
  t.tolerance = {1e-5, 1e-4};
  t.reference_file = "reference.cpp";
  t.reference_source = "void row_softmax_ref(const float* x, float* y, int rows, int cols) { /* REF */ }\n";
  t.instructions = "Use one pass per row if you can.";
  return t;
}

constexpr std::string_view kParentCode =
    "#include <cmath>\nvoid row_softmax(const float* x, float* y, int32_t rows, int32_t cols) { /* PARENT */ }\n";
constexpr std::string_view kParentFeedback = "status: wrong_value\nshape rows=128,cols=1024: max abs error 0.5 at 17\n";

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

TEST(BuildRefinePrompt, StatesTaskSignatureArgumentsShapesAndTolerance) {
  const task::Task t = RowSoftmaxTask();
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {}});
  EXPECT_TRUE(Contains(p.user, "# Task: row_softmax (backend: cpu)")) << p.user;
  EXPECT_TRUE(Contains(p.user, "Softmax over each row of a matrix.")) << p.user;
  EXPECT_TRUE(Contains(p.user, "## Instructions\nUse one pass per row if you can.\n")) << p.user;
  EXPECT_TRUE(Contains(p.user, "```cpp\nvoid row_softmax(const float* x, float* y, int32_t rows, int32_t cols);\n```"))
      << p.user;
  EXPECT_TRUE(Contains(p.user, "| x | input | f32 | [rows, cols] | uniform [-2, 2) |")) << p.user;
  EXPECT_TRUE(Contains(p.user, "| y | output | f32 | [rows, cols] | written by the kernel |")) << p.user;
  EXPECT_TRUE(Contains(p.user, "| rows | scalar | i32 | scalar | set per shape |")) << p.user;
  EXPECT_TRUE(Contains(p.user, "| cols | scalar | i32 | scalar | default 1024 |")) << p.user;
  EXPECT_TRUE(Contains(p.user, "- rows=128,cols=1024\n- cols=4096,rows=4096\n")) << p.user;
  EXPECT_TRUE(Contains(p.user, "atol = 1e-05, rtol = 0.0001")) << p.user;
  EXPECT_TRUE(Contains(p.user, "## Reference (reference.cpp)\n```cpp\n" + t.reference_source + "```")) << p.user;
}

TEST(BuildRefinePrompt, TorchTasksFollowKernelBenchsConvention) {
  task::Task t;
  t.name = "kb_l1_001_matmul";
  t.backend = task::Backend::kTorch;
  t.reference_file = "reference.py";
  t.reference_source = "class Model(nn.Module):\n    pass\n";
  t.tolerance = {1e-4, 1e-4};
  t.torch.backward = true;
  t.torch.configs = {{"batch_size=16", R"({"batch_size":16})", "{}", {}}};
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {"", ""}, {}});
  EXPECT_TRUE(Contains(p.system, "class ModelNew(nn.Module)")) << p.system;
  EXPECT_TRUE(Contains(p.system, "load_inline")) << p.system;
  EXPECT_TRUE(Contains(p.system, "counts as falling back to PyTorch")) << p.system;
  EXPECT_TRUE(Contains(p.user, "must define class ModelNew with the same constructor and forward arguments")) << p.user;
  EXPECT_TRUE(Contains(p.user, "- batch_size=16: inputs {\"batch_size\":16}, init {}\n")) << p.user;
  EXPECT_TRUE(Contains(p.user, "Gradients are checked too")) << p.user;
  EXPECT_TRUE(Contains(p.user, "## Reference (reference.py)\n```python\nclass Model")) << p.user;
  EXPECT_FALSE(Contains(p.user, "## Arguments")) << p.user;
}

TEST(BuildRefinePrompt, ShowsParentCodeAndFeedbackVerbatim) {
  const task::Task t = RowSoftmaxTask();
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {}});
  EXPECT_TRUE(Contains(p.user, "## Current kernel\n```cpp\n" + std::string(kParentCode) + "```\n")) << p.user;
  EXPECT_TRUE(Contains(p.user, "```text\n" + std::string(kParentFeedback) + "```\n")) << p.user;
  EXPECT_TRUE(Contains(p.user, "Correctness first")) << p.user;
}

TEST(BuildRefinePrompt, AsksForWholeFileOrSearchReplaceBlocks) {
  const task::Task t = RowSoftmaxTask();
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {}});
  EXPECT_TRUE(Contains(p.user, "The complete file in one ```cpp fenced block.")) << p.user;
  EXPECT_TRUE(Contains(p.user,
                       "<<<<<<< SEARCH\nexact lines from the current kernel\n=======\nreplacement lines\n"
                       ">>>>>>> REPLACE\n"))
      << p.user;
  EXPECT_TRUE(Contains(p.user, "match exactly once")) << p.user;
  EXPECT_FALSE(Contains(p.user, "EVOLVE")) << "the parent has no EVOLVE blocks:\n" << p.user;
}

TEST(BuildRefinePrompt, RestrictsEditsToEvolveBlocksOnlyWhenParentHasThem) {
  const task::Task t = RowSoftmaxTask();
  const std::string code =
      "#include <cmath>\n// EVOLVE-BLOCK-START\nvoid row_softmax(const float* x, float* y, int32_t rows, int32_t "
      "cols) {}\n// EVOLVE-BLOCK-END\n";
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {code, "status: passed"}, {}});
  EXPECT_TRUE(Contains(p.user, "Only code between the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END lines may change."))
      << p.user;
}

TEST(BuildRefinePrompt, SystemMessageDescribesCpuToolchainAndRules) {
  const task::Task t = RowSoftmaxTask();
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {std::string(kParentCode), ""}, {}});
  EXPECT_TRUE(Contains(p.system, "g++ -O3 -march=native -fopenmp")) << p.system;
  EXPECT_TRUE(Contains(p.system, "SIMD intrinsics")) << p.system;
  EXPECT_TRUE(Contains(p.system, "Never call or include the reference")) << p.system;
  EXPECT_TRUE(Contains(p.system, "Never read clocks")) << p.system;
  EXPECT_FALSE(Contains(p.system, "nvcc")) << p.system;
}

TEST(BuildRefinePrompt, SystemMessageFollowsBackend) {
  task::Task t = RowSoftmaxTask();
  t.backend = task::Backend::kCuda;
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {std::string(kParentCode), ""}, {}});
  EXPECT_TRUE(Contains(p.system, "nvcc")) << p.system;
  EXPECT_FALSE(Contains(p.system, "-fopenmp")) << p.system;
}

TEST(BuildRefinePrompt, ShowsOnlyTheMostRecentAttemptsOldestFirst) {
  const task::Task t = RowSoftmaxTask();
  RefineInput input{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {}};
  for (int i = 1; i <= 5; ++i) {
    input.history.push_back({"int attempt_code_" + std::to_string(i) + ";\n", "feedback_" + std::to_string(i)});
  }
  input.max_history = 2;
  const Prompt p = BuildRefinePrompt(input);
  EXPECT_FALSE(Contains(p.user, "attempt_code_3")) << p.user;
  EXPECT_FALSE(Contains(p.user, "feedback_3")) << p.user;
  const std::size_t fourth = p.user.find("### Attempt 1 of 2\nEvaluation:\n```text\nfeedback_4\n```\nCode:\n```cpp\n"
                                         "int attempt_code_4;\n```\n");
  const std::size_t fifth = p.user.find("### Attempt 2 of 2\nEvaluation:\n```text\nfeedback_5\n```");
  ASSERT_NE(fourth, std::string::npos) << p.user;
  ASSERT_NE(fifth, std::string::npos) << p.user;
  EXPECT_LT(fourth, fifth);
}

TEST(BuildRefinePrompt, CutsLongAttemptCode) {
  const task::Task t = RowSoftmaxTask();
  std::string long_code;
  for (int i = 0; i < 100; ++i) long_code += "int line_" + std::to_string(i) + ";\n";
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {std::string(kParentCode), ""}, {{long_code, "slow"}}});
  EXPECT_TRUE(Contains(p.user, "int line_59;\n// ... 40 more lines not shown\n")) << p.user;
  EXPECT_FALSE(Contains(p.user, "int line_60;")) << p.user;
}

TEST(BuildRefinePrompt, SaysSoWhenParentHasNoFeedback) {
  const task::Task t = RowSoftmaxTask();
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {std::string(kParentCode), " \n"}, {}});
  EXPECT_TRUE(Contains(p.user, "## Evaluation of the current kernel\n(no evaluation feedback)\n")) << p.user;
}

TEST(BuildRefinePrompt, AsksForFirstVersionWhenThereIsNoParent) {
  const task::Task t = RowSoftmaxTask();
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {}, {}});
  EXPECT_TRUE(Contains(p.user, "There is none yet: write the first version.")) << p.user;
  EXPECT_TRUE(Contains(p.user, "give the complete file in one ```cpp fenced block")) << p.user;
  EXPECT_FALSE(Contains(p.user, "<<<<<<< SEARCH")) << p.user;
}

TEST(BuildRefinePrompt, LengthensFenceAroundCodeHoldingBackticks) {
  const task::Task t = RowSoftmaxTask();
  const std::string code = "// usage: ```run```\nint a;\n";
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {code, ""}, {}});
  EXPECT_TRUE(Contains(p.user, "````cpp\n" + code + "````\n")) << p.user;
}

TEST(BuildRefinePrompt, IsDeterministic) {
  const task::Task t = RowSoftmaxTask();
  const RefineInput input{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {{"int a;", "failed"}}};
  const Prompt first = BuildRefinePrompt(input);
  const Prompt second = BuildRefinePrompt(input);
  EXPECT_EQ(first.system, second.system);
  EXPECT_EQ(first.user, second.user);
}

TEST(BuildRefinePrompt, ExplainsHalfPrecisionArguments) {
  task::Task t = RowSoftmaxTask();
  EXPECT_FALSE(Contains(BuildRefinePrompt(RefineInput{&t, {}, {}}).user, "uint16_t"));
  t.args[0].dtype = task::DType::kF16;
  const Prompt p = BuildRefinePrompt(RefineInput{&t, {}, {}});
  EXPECT_TRUE(Contains(p.user, "const uint16_t* x")) << p.user;
  EXPECT_TRUE(Contains(p.user, "raw 16-bit patterns (uint16_t)")) << p.user;
}

TEST(BuildRefinePrompt, ShowsGuidanceSectionsUnderTheirHeadingsBeforeTheGoal) {
  const task::Task t = RowSoftmaxTask();
  RefineInput input{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {}};
  input.instructions = {{"Optimization philosophy", "- Fuse passes.\n- Correctness first."},
                        {"Unused", " \n"},
                        {"Common pitfalls", "\n- Missing barriers.\n"}};
  const Prompt p = BuildRefinePrompt(input);
  const std::size_t guidance = p.user.find(
      "\n## Guidance\n\n### Optimization philosophy\n- Fuse passes.\n- Correctness first.\n\n"
      "### Common pitfalls\n- Missing barriers.\n\n## Goal\n");
  EXPECT_NE(guidance, std::string::npos) << p.user;
  EXPECT_FALSE(Contains(p.user, "Unused")) << "blank sections are skipped:\n" << p.user;
  EXPECT_LT(p.user.find("## Evaluation of the current kernel"), guidance);
}

TEST(BuildRefinePrompt, ShowsInspirationsWithLabelsAfterTheParentForIdeasOnly) {
  const task::Task t = RowSoftmaxTask();
  RefineInput input{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {{"int attempt;\n", "slow"}}};
  input.inspirations = {
      {"cell memory_opt=2 compute_opt=1 parallelism_opt=2, 1.8x", {"int tiled; // ```\n", ""}},
      {"cell memory_opt=0\ncompute_opt=2", {"int fused;\n", "status: passed, 1.2x"}},
  };
  const Prompt p = BuildRefinePrompt(input);
  const std::size_t section = p.user.find("\n## Other kernels, for ideas\n");
  ASSERT_NE(section, std::string::npos) << p.user;
  EXPECT_LT(p.user.find("### Attempt 1 of 1"), section) << "the parent's own history comes first";
  EXPECT_LT(section, p.user.find("## Goal"));
  EXPECT_TRUE(Contains(p.user, "your answer must still modify the current kernel above")) << p.user;
  EXPECT_TRUE(Contains(p.user,
                       "### Inspiration 1 of 2: cell memory_opt=2 compute_opt=1 parallelism_opt=2, 1.8x\n"
                       "````cpp\nint tiled; // ```\n````\n"))
      << p.user;
  EXPECT_TRUE(Contains(p.user,
                       "### Inspiration 2 of 2: cell memory_opt=0 compute_opt=2\nEvaluation:\n```text\n"
                       "status: passed, 1.2x\n```\nCode:\n```cpp\nint fused;\n```\n"))
      << p.user;
}

TEST(BuildRefinePrompt, InspirationsForAFirstVersionAskForAWholeFile) {
  const task::Task t = RowSoftmaxTask();
  RefineInput input{&t, {}, {}};
  input.inspirations = {{"", {"int other;\n", ""}}};
  const Prompt p = BuildRefinePrompt(input);
  EXPECT_TRUE(Contains(p.user, "Borrow ideas from them, but write your own complete file.")) << p.user;
  EXPECT_TRUE(Contains(p.user, "### Inspiration 1 of 1\n```cpp\nint other;\n```\n")) << p.user;
}

TEST(BuildRefinePrompt, ShowsSearchNotesUnderTheirHeading) {
  const task::Task t = RowSoftmaxTask();
  RefineInput input{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {}};
  input.search_notes = "Your parent sits in cell memory_opt=1 compute_opt=0 parallelism_opt=1.\n";
  const Prompt p = BuildRefinePrompt(input);
  EXPECT_TRUE(Contains(p.user,
                       "\n## Notes from the search\nYour parent sits in cell memory_opt=1 compute_opt=0 "
                       "parallelism_opt=1.\n\n## Goal"))
      << p.user;
}

TEST(BuildRefinePrompt, AsksForTunableParametersOnlyWhenTold) {
  const task::Task t = RowSoftmaxTask();
  RefineInput input{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {}};
  EXPECT_FALSE(Contains(BuildRefinePrompt(input).user, "## Tunable parameters"));
  input.ask_for_parameters = true;
  const Prompt p = BuildRefinePrompt(input);
  EXPECT_TRUE(Contains(p.user, "\n## Tunable parameters\nThe parent is correct.")) << p.user;
  EXPECT_TRUE(Contains(p.user, "`// @param NAME: 64, 128, 256`")) << p.user;
  EXPECT_TRUE(Contains(p.user, "`// @constraint EXPR`")) << p.user;
  EXPECT_LT(p.user.find("## Tunable parameters"), p.user.find("## Goal")) << p.user;
}

TEST(BuildRefinePrompt, EmptyGuidanceInspirationsAndNotesLeaveThePlainPrompt) {
  const task::Task t = RowSoftmaxTask();
  const RefineInput plain{&t, {std::string(kParentCode), std::string(kParentFeedback)}, {{"int a;\n", "slow"}}};
  RefineInput blank = plain;
  blank.instructions = {{"Optimization philosophy", "  \n"}};
  blank.search_notes = " \n";
  const Prompt expected = BuildRefinePrompt(plain);
  const Prompt actual = BuildRefinePrompt(blank);
  EXPECT_EQ(actual.system, expected.system);
  EXPECT_EQ(actual.user, expected.user);
  for (std::string_view heading : {"## Guidance", "## Notes from the search", "## Other kernels"}) {
    EXPECT_FALSE(Contains(expected.user, heading)) << heading;
  }
  // The plain prompt still runs straight from the attempts to the goal.
  EXPECT_TRUE(Contains(expected.user, "int a;\n```\n\n## Goal\n")) << expected.user;
}

}  // namespace
}  // namespace kf::prompt
