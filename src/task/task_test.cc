#include "task/task.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "core/fs.h"
#include "core/json.h"

namespace kf::task {
namespace {

namespace fs = std::filesystem;

const fs::path kExamples = fs::path(KF_SOURCE_DIR) / "examples";

// A task folder in a fresh temporary directory, with task.yaml and any extra files.
fs::path WriteTask(const std::string& yaml, const std::map<std::string, std::string>& files = {}) {
  auto dir = core::MakeUniqueDir(fs::path(testing::TempDir()) / "kf_task_test", "task-");
  KF_CHECK(dir.ok()) << dir.error().ToString();
  KF_CHECK(core::WriteFileAtomic(*dir / "task.yaml", yaml).ok());
  for (const auto& [name, text] : files) KF_CHECK(core::WriteFileAtomic(*dir / name, text).ok());
  return *dir;
}

// The problem lines of a validation error, without the "N problems in ..." header.
std::vector<std::string> ProblemLines(const core::Error& error) {
  std::vector<std::string> lines;
  std::istringstream in(error.message);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Whether some problem is at file:line:column and its message contains `text`.
bool HasProblem(const std::vector<std::string>& lines, const fs::path& dir, int line, int column,
                const std::string& text) {
  std::string prefix = fmt::format("{}:{}:{}: ", (dir / "task.yaml").string(), line, column);
  for (const std::string& l : lines) {
    if (l.rfind(prefix, 0) == 0 && l.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string JoinLines(const std::vector<std::string>& lines) { return fmt::format("{}", fmt::join(lines, "\n")); }

const char* kMinimalReference = "#include <cstdint>\nvoid scale_reference(const float* x, float* y, int32_t n) {}\n";

// A valid task with one input, one output and one scalar; tests append or alter lines.
std::string MinimalYaml(const std::string& extra = "") {
  return "name: scale\n"
         "backend: cpu\n"
         "entry: scale\n"
         "args:\n"
         "  - {name: x, role: input, dtype: f32, shape: [n]}\n"
         "  - {name: y, role: output, dtype: f32, shape: [n]}\n"
         "  - {name: n, role: scalar, dtype: i32}\n"
         "shapes:\n"
         "  - {n: 16}\n"
         "reference: reference.cpp\n" +
         extra;
}

// ---------------------------------------------------------------------------------------------
// Examples

TEST(LoadTask, LoadsRowSoftmaxExampleCompletely) {
  auto task = LoadTask(kExamples / "row_softmax");
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_EQ(task->name, "row_softmax");
  EXPECT_EQ(task->backend, Backend::kCpu);
  EXPECT_EQ(task->entry, "row_softmax");
  EXPECT_TRUE(task->dir.is_absolute());
  EXPECT_EQ(task->dir, fs::absolute(kExamples / "row_softmax").lexically_normal());
  ASSERT_EQ(task->args.size(), 4u);
  EXPECT_EQ(task->args[0].role, ArgRole::kInput);
  EXPECT_EQ(task->args[0].shape, (std::vector<std::string>{"rows", "cols"}));
  EXPECT_EQ(task->args[0].init.dist, Dist::kNormal);
  EXPECT_EQ(task->args[0].loc.line, 6);
  EXPECT_EQ(task->args[1].role, ArgRole::kOutput);
  EXPECT_EQ(task->args[3].dtype, DType::kI32);
  ASSERT_EQ(task->shapes.size(), 2u);
  EXPECT_EQ(task->shapes[0].label, "rows=4096,cols=1024");
  EXPECT_EQ(task->shapes[1].label, "rows=1000,cols=3001");
  EXPECT_EQ(task->shapes[1].loc.line, 12);
  EXPECT_DOUBLE_EQ(task->tolerance.atol, 1e-5);
  EXPECT_EQ(task->reference_file, "reference.cpp");
  EXPECT_NE(task->reference_source.find("row_softmax_reference"), std::string::npos);
  ASSERT_EQ(task->seeds.size(), 1u);
  EXPECT_NE(task->seeds[0].source.find("EVOLVE-BLOCK-START"), std::string::npos);
  EXPECT_FALSE(task->instructions.empty());
  EXPECT_TRUE(std::regex_match(task->content_hash, std::regex("[0-9a-f]{64}")));
  EXPECT_EQ(*ArgElements(task->args[0], task->shapes[1]), 1000 * 3001);
}

TEST(LoadTask, LoadsEveryExampleWithItsEntrySignature) {
  const std::map<std::string, std::string> expected = {
      {"gelu", "void gelu(const float* x, float* y, int32_t n)"},
      {"row_softmax", "void row_softmax(const float* x, float* y, int32_t rows, int32_t cols)"},
      {"matmul", "void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k)"},
  };
  for (const auto& [name, signature] : expected) {
    auto task = LoadTask(kExamples / name);
    ASSERT_TRUE(task.ok()) << name << ": " << task.error().ToString();
    EXPECT_EQ(EntrySignature(*task, task->entry), signature);
    EXPECT_EQ(task->shapes.size(), 2u) << name;
  }
}

TEST(EntrySignature, AddsTheBackendContextForSyclAndOpenCl) {
  Task task;
  task.args = {{.name = "x", .role = ArgRole::kInput, .dtype = DType::kF16},
               {.name = "y", .role = ArgRole::kOutput, .dtype = DType::kF64},
               {.name = "n", .role = ArgRole::kScalar, .dtype = DType::kI64}};
  task.backend = Backend::kCuda;
  EXPECT_EQ(EntrySignature(task, "k_reference"), "void k_reference(const uint16_t* x, double* y, int64_t n)");
  task.backend = Backend::kSycl;
  EXPECT_EQ(EntrySignature(task, "k"), "void k(sycl::queue& queue, const uint16_t* x, double* y, int64_t n)");
  task.backend = Backend::kOpenCl;
  EXPECT_EQ(EntrySignature(task, "k"),
            "void k(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int64_t n)");
}

// ---------------------------------------------------------------------------------------------
// Validation

TEST(LoadTask, ReportsEveryProblemAtItsLine) {
  fs::path dir = WriteTask(
      "name: broken\n"                                                     // 1
      "backend: cpu\n"                                                     // 2
      "descripton: a typo\n"                                               // 3
      "args:\n"                                                            // 4
      "  - {name: x, role: input, dtype: float32, shape: [rows, colz]}\n"  // 5
      "  - {name: y, role: output, dtype: f32}\n"                          // 6
      "  - {name: rows, role: scalar, dtype: i32}\n"                       // 7
      "  - {name: cols, role: scalar, dtype: i32}\n"                       // 8
      "shapes:\n"                                                          // 9
      "  - {rows: 4, cols: 8}\n"                                           // 10
      "tolerance: {atol: -1.0e-5, rtol: 1.0e-5}\n"                         // 11
      "reference: missing_reference.cpp\n");                               // 12
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.error().code, core::ErrorCode::kValidation);
  std::vector<std::string> lines = ProblemLines(task.error());
  std::string all = JoinLines(lines);
  EXPECT_EQ(task.error().message.substr(0, task.error().message.find('\n')),
            fmt::format("7 problems in {}:", (dir / "task.yaml").string()))
      << all;
  EXPECT_TRUE(HasProblem(lines, dir, 1, 1, "missing required key 'entry'")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 3, 1, "unknown key 'descripton' in task.yaml (did you mean 'description'?)"))
      << all;
  EXPECT_TRUE(HasProblem(lines, dir, 5, 35, "unknown dtype 'float32'")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 5, 58, "dimension 'colz' of 'x' is not a scalar arg (did you mean 'cols'?)"))
      << all;
  EXPECT_TRUE(HasProblem(lines, dir, 6, 5, "missing required key 'shape'")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 11, 19, "tolerance atol must be >= 0")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 12, 12, "reference 'missing_reference.cpp' not found")) << all;
}

TEST(LoadTask, ReportsYamlSyntaxErrorWithItsLine) {
  fs::path dir = WriteTask("name: a\nbackend: cpu\n  entry: x\n");
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  ASSERT_EQ(lines.size(), 1u) << task.error().message;
  EXPECT_TRUE(HasProblem(lines, dir, 3, 8, "YAML syntax error")) << task.error().message;
}

TEST(LoadTask, AcceptsMinimalTaskAndAppliesDefaults) {
  fs::path dir = WriteTask(MinimalYaml(), {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_EQ(task->args[0].init.dist, Dist::kNormal);
  EXPECT_DOUBLE_EQ(task->tolerance.rtol, 1e-5);
  EXPECT_EQ(task->timing.min_trials, 10);
  EXPECT_EQ(task->correctness_trials, 3);
  EXPECT_EQ(task->memory_limit_bytes, 0u);
  EXPECT_TRUE(task->seeds.empty());
}

TEST(LoadTask, ReadsOptionalSettings) {
  fs::path dir =
      WriteTask(MinimalYaml("timing: {warmup: 1, min_trials: 5, max_trials: 7, max_seconds: 0.5, flush_cache: false}\n"
                            "correctness_trials: 4\n"
                            "timeout: 12.5\n"
                            "memory_limit_mb: 64\n"
                            "targets: [xeon, h100]\n"),
                {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_EQ(task->timing.warmup, 1);
  EXPECT_EQ(task->timing.min_trials, 5);
  EXPECT_EQ(task->timing.max_trials, 7);
  EXPECT_DOUBLE_EQ(task->timing.max_seconds_per_shape, 0.5);
  EXPECT_FALSE(task->timing.flush_cache);
  EXPECT_EQ(task->correctness_trials, 4);
  EXPECT_DOUBLE_EQ(task->timeout_seconds, 12.5);
  EXPECT_EQ(task->memory_limit_bytes, 64u << 20);
  EXPECT_EQ(task->targets, (std::vector<std::string>{"xeon", "h100"}));
}

TEST(LoadTask, ReadsFlopsAndBytesExpressions) {
  fs::path dir = WriteTask(MinimalYaml("flops: 2 * n\nbytes: 8 * n + 4096\n"), {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_EQ(task->flops, "2 * n");
  EXPECT_EQ(task->bytes, "8 * n + 4096");
  EXPECT_EQ(task->flops_loc.line, 11);
  EXPECT_EQ(task->bytes_loc.line, 12);

  auto defaults = LoadTask(WriteTask(MinimalYaml(), {{"reference.cpp", kMinimalReference}}));
  ASSERT_TRUE(defaults.ok()) << defaults.error().ToString();
  EXPECT_TRUE(defaults->flops.empty());
  EXPECT_TRUE(defaults->bytes.empty());
}

TEST(LoadTask, ReportsBadFlopsAndBytesAtTheirLines) {
  fs::path dir = WriteTask(
      "name: scale\nbackend: cpu\nentry: scale\n"
      "args:\n"
      "  - {name: x, role: input, dtype: f32, shape: [n]}\n"
      "  - {name: y, role: output, dtype: f32, shape: [n]}\n"
      "  - {name: n, role: scalar, dtype: i32}\n"
      "  - {name: alpha, role: scalar, dtype: f32, value: 2}\n"
      "shapes:\n"
      "  - {n: 16}\n"
      "  - {n: 2000000000}\n"
      "reference: reference.cpp\n"
      "flops: 2 * (n + \n"                           // line 13: syntax
      "bytes: nn * 4\n"                              // line 14: unknown name
      "timing: {warmup: 1}\n",
      {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  EXPECT_EQ(lines.size(), 2u) << task.error().message;
  EXPECT_TRUE(HasProblem(lines, dir, 13, 8, "in flops: dimension '2 * (n +' ends where")) << task.error().message;
  EXPECT_TRUE(HasProblem(lines, dir, 14, 8, "'nn' in bytes 'nn * 4' is not a scalar arg (did you mean 'n'?)"))
      << task.error().message;

  fs::path dir2 = WriteTask(
      "name: scale\nbackend: cpu\nentry: scale\n"
      "args:\n"
      "  - {name: x, role: input, dtype: f32, shape: [n]}\n"
      "  - {name: y, role: output, dtype: f32, shape: [n]}\n"
      "  - {name: n, role: scalar, dtype: i64}\n"
      "  - {name: alpha, role: scalar, dtype: f32, value: 2}\n"
      "shapes:\n"
      "  - {n: 16}\n"
      "  - {n: 3000000000}\n"
      "reference: reference.cpp\n"
      "flops: n * n * n * n\n"          // line 13: overflows 64 bits on the second shape only
      "bytes: alpha * n\n"              // line 14: a float scalar
      "timing: {warmup: 1}\n",
      {{"reference.cpp", "#include <cstdint>\nvoid scale_reference(const float*, float*, int64_t, float) {}\n"}});
  auto task2 = LoadTask(dir2);
  ASSERT_FALSE(task2.ok());
  std::vector<std::string> lines2 = ProblemLines(task2.error());
  EXPECT_EQ(lines2.size(), 2u) << task2.error().message;
  EXPECT_TRUE(HasProblem(lines2, dir2, 13, 8, "flops for shape n=3000000000,alpha=2: dimension 'n * n * n * n' overflows"))
      << task2.error().message;
  EXPECT_TRUE(HasProblem(lines2, dir2, 14, 8, "'alpha' in bytes 'alpha * n' is a scalar of dtype f32; bytes need i32"))
      << task2.error().message;
}

TEST(LoadTask, AcceptsWorkBeyond32Bits) {
  fs::path dir = WriteTask(MinimalYaml("flops: 2 * n * n * n * 1000000\n"), {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_EQ(*EvalDimExpr(task->flops, task->shapes[0].scalars), 2LL * 16 * 16 * 16 * 1000000);
}

TEST(LoadTask, ReportsNegativeDimensionAtTheShape) {
  fs::path dir = WriteTask(
      "name: scale\nbackend: cpu\nentry: scale\n"
      "args:\n"
      "  - {name: x, role: input, dtype: f32, shape: [n - 4]}\n"
      "  - {name: y, role: output, dtype: f32, shape: [n]}\n"
      "  - {name: n, role: scalar, dtype: i32}\n"
      "shapes:\n"
      "  - {n: 16}\n"
      "  - {n: 3}\n"  // line 10: n - 4 = -1
      "reference: reference.cpp\n",
      {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  ASSERT_EQ(lines.size(), 1u) << task.error().message;
  EXPECT_TRUE(HasProblem(lines, dir, 10, 5, "shape n=3: dimension 0 of 'x' ('n - 4') is -1")) << task.error().message;
}

TEST(LoadTask, FillsScalarsFromDefaultsAndRejectsMissingOnes) {
  fs::path dir = WriteTask(
      "name: scale\nbackend: cpu\nentry: scale\n"
      "args:\n"
      "  - {name: x, role: input, dtype: f32, shape: [n, m]}\n"
      "  - {name: y, role: output, dtype: f32, shape: [n, m]}\n"
      "  - {name: n, role: scalar, dtype: i32}\n"
      "  - {name: m, role: scalar, dtype: i32, value: 8}\n"
      "shapes:\n"
      "  - {n: 16}\n"         // line 10: m from its default
      "  - {m: 2}\n"          // line 11: n missing
      "  - {n: 2.5, m: 1}\n"  // line 12: n not an integer
      "reference: reference.cpp\n",
      {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  std::string all = JoinLines(lines);
  EXPECT_EQ(lines.size(), 2u) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 11, 5, "gives no value for scalar 'n'")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 12, 9, "must be an integer for dtype i32")) << all;

  fs::path good = WriteTask(
      "name: scale\nbackend: cpu\nentry: scale\n"
      "args:\n"
      "  - {name: x, role: input, dtype: f32, shape: [n, m]}\n"
      "  - {name: y, role: output, dtype: f32, shape: [n, m]}\n"
      "  - {name: n, role: scalar, dtype: i32}\n"
      "  - {name: m, role: scalar, dtype: i32, value: 8}\n"
      "shapes: [{n: 16}]\n"
      "reference: reference.cpp\n",
      {{"reference.cpp", kMinimalReference}});
  auto loaded = LoadTask(good);
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(loaded->shapes[0].label, "n=16,m=8");
  EXPECT_EQ(*ArgDims(loaded->args[0], loaded->shapes[0]), (std::vector<std::int64_t>{16, 8}));
}

TEST(LoadTask, ReportsProblemsInsideArgs) {
  fs::path dir = WriteTask(
      "name: scale\nbackend: cpu\nentry: scale\n"
      "args:\n"
      "  - {name: x, role: input, dtype: f32, shape: [n], init: {dist: normal, sdt: 2}}\n"  // 5
      "  - {name: x, role: output, dtype: f32, shape: [n]}\n"                               // 6
      "  - {name: idx, role: input, dtype: i32, shape: [n], init: {dist: uniform}}\n"       // 7
      "  - {name: n, role: scalar, dtype: u8}\n"                                            // 8
      "  - {name: class, role: scalar, dtype: i32}\n"                                       // 9
      "  - {name: k, role: scalar, dtype: f32, shape: [n]}\n"                               // 10
      "shapes: [{n: 4, class: 1, k: 1}]\n"
      "reference: reference.cpp\n",
      {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  std::string all = JoinLines(lines);
  EXPECT_EQ(lines.size(), 6u) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 5, 73, "unknown key 'sdt' in init of 'x' (did you mean 'std'?)")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 6, 5, "duplicate arg name 'x' (first at line 5)")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 7, 67, "dist 'uniform' makes fractions")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 8, 36, "scalars take i32, i64, f32 or f64")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 9, 12, "'class' is a C++ keyword")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 10, 48, "takes no shape")) << all;
}

TEST(LoadTask, RejectsArgNamesTheBackendPassesItself) {
  std::string yaml = MinimalYaml();
  yaml.replace(yaml.find("backend: cpu"), 12, "backend: opencl");
  yaml.replace(yaml.find("name: x,"), 8, "name: queue,");
  fs::path dir = WriteTask(yaml, {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  ASSERT_EQ(lines.size(), 1u) << task.error().message;
  EXPECT_TRUE(HasProblem(lines, dir, 5, 5, "arg name 'queue' is taken by the opencl backend")) << task.error().message;
}

TEST(LoadTask, ReportsOutOfRangeSettings) {
  fs::path dir = WriteTask(MinimalYaml("timing: {min_trials: 20, max_trials: 5}\n"  // 11
                                       "correctness_trials: 0\n"                    // 12
                                       "timeout: -1\n"                              // 13
                                       "backend_extra: 1\n"),                       // 14
                           {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  std::string all = JoinLines(lines);
  EXPECT_EQ(lines.size(), 4u) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 11, 9, "min_trials (20) must be <= max_trials (5)")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 12, 21, "correctness_trials must be between 1 and 100, got 0")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 13, 10, "timeout (seconds) must be between")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 14, 1, "unknown key 'backend_extra'")) << all;
}

TEST(LoadTask, RequiresTheReferenceFunctionAndSeedEntry) {
  fs::path dir =
      WriteTask(MinimalYaml("seeds: [seed.cpp, missing_seed.cpp]\n"),
                {{"reference.cpp", "// scale_reference_v2 is not the function\nvoid scale_reference_v2();\n"},
                 {"seed.cpp", "void scaled(const float* x, float* y, int n) {}\n"}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  std::vector<std::string> lines = ProblemLines(task.error());
  std::string all = JoinLines(lines);
  EXPECT_EQ(lines.size(), 3u) << all;
  EXPECT_TRUE(HasProblem(
      lines, dir, 10, 12,
      "does not define scale_reference; it must define: void scale_reference(const float* x, float* y, int32_t n)"))
      << all;
  EXPECT_TRUE(HasProblem(lines, dir, 11, 9, "seed 'seed.cpp' does not define the entry function scale")) << all;
  EXPECT_TRUE(HasProblem(lines, dir, 11, 19, "seed 'missing_seed.cpp' not found")) << all;
}

TEST(LoadTask, ReportsMissingFolderAndMissingTaskYamlAsNotFound) {
  auto missing = LoadTask(fs::path(testing::TempDir()) / "kf_task_test_no_such_folder");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);

  auto empty_dir = core::MakeUniqueDir(fs::path(testing::TempDir()) / "kf_task_test", "empty-");
  ASSERT_TRUE(empty_dir.ok());
  auto no_yaml = LoadTask(*empty_dir);
  ASSERT_FALSE(no_yaml.ok());
  EXPECT_EQ(no_yaml.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(no_yaml.error().message.find("no task.yaml"), std::string::npos);
}

TEST(LoadTask, ContentHashFollowsTheReference) {
  fs::path dir = WriteTask(MinimalYaml(), {{"reference.cpp", kMinimalReference}});
  auto first = LoadTask(dir);
  auto again = LoadTask(dir);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->content_hash, again->content_hash);
  ASSERT_TRUE(core::WriteFileAtomic(dir / "reference.cpp", std::string(kMinimalReference) + "// changed\n").ok());
  auto changed = LoadTask(dir);
  ASSERT_TRUE(changed.ok()) << changed.error().ToString();
  EXPECT_NE(changed->content_hash, first->content_hash);
}

// ---------------------------------------------------------------------------------------------
// Dimension expressions

TEST(EvalDimExpr, FollowsPrecedenceAndParentheses) {
  const std::map<std::string, double> s = {{"rows", 7}, {"cols", 10}, {"n", 7}};
  EXPECT_EQ(*EvalDimExpr("42", s), 42);
  EXPECT_EQ(*EvalDimExpr("2+3*4", s), 14);
  EXPECT_EQ(*EvalDimExpr("(2+3)*4", s), 20);
  EXPECT_EQ(*EvalDimExpr("10-4-3", s), 3);
  EXPECT_EQ(*EvalDimExpr("100/10/5", s), 2);
  EXPECT_EQ(*EvalDimExpr("rows * cols", s), 70);
  EXPECT_EQ(*EvalDimExpr("(n+1)/2", s), 4);
  EXPECT_EQ(*EvalDimExpr("n % 4 + cols / 3", s), 6);
  EXPECT_EQ(*EvalDimExpr("-n + 10", s), 3);
  EXPECT_EQ(*EvalDimExpr("- -3", s), 3);
  EXPECT_EQ(*EvalDimExpr("-(2*3)*2", s), -12);
  EXPECT_EQ(*EvalDimExpr(" ( ( cols ) ) ", s), 10);
}

TEST(EvalDimExpr, ReportsWhatIsWrong) {
  const std::map<std::string, double> s = {{"rows", 7}, {"cols", 10}, {"alpha", 0.5}, {"big", 4294967296.0}};
  auto message = [&](std::string_view expr) {
    auto r = EvalDimExpr(expr, s);
    EXPECT_FALSE(r.ok()) << expr;
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_NE(message("rows*colz").find("unknown name 'colz'"), std::string::npos);
  EXPECT_NE(message("rows/(cols-10)").find("divides by zero"), std::string::npos);
  EXPECT_NE(message("rows%0").find("divides by zero"), std::string::npos);
  EXPECT_NE(message("alpha*2").find("'alpha' = 0.5, which is not an integer"), std::string::npos);
  EXPECT_NE(message("big*big").find("overflows 64 bits"), std::string::npos);
  EXPECT_NE(message("99999999999999999999").find("too large for 64 bits"), std::string::npos);
  EXPECT_NE(message("").find("is empty"), std::string::npos);
  EXPECT_NE(message("rows+").find("ends where a number"), std::string::npos);
  EXPECT_NE(message("(rows+1").find("unclosed '(' at column 1"), std::string::npos);
  EXPECT_NE(message("rows cols").find("unexpected 'c'"), std::string::npos);
  EXPECT_NE(message("1.5").find("after a number"), std::string::npos);
  EXPECT_NE(message("rows)").find("unexpected ')' (column 5)"), std::string::npos);
  EXPECT_NE(message(std::string(200, '(') + "1" + std::string(200, ')')).find("nests deeper"), std::string::npos);
}

TEST(DimExprNames, ListsNamesOnceInOrderWithoutEvaluating) {
  auto names = DimExprNames("cols * (rows + cols) / zero");
  ASSERT_TRUE(names.ok()) << names.error().message;
  EXPECT_EQ(*names, (std::vector<std::string>{"cols", "rows", "zero"}));
  EXPECT_FALSE(DimExprNames("rows +* 2").ok());
}

TEST(ArgElements, RejectsProductsBeyond64Bits) {
  ArgSpec arg{.name = "x", .role = ArgRole::kInput, .shape = {"n", "n", "n"}};
  Shape shape{.scalars = {{"n", 4194304}}, .label = "n=4194304"};
  auto elements = ArgElements(arg, shape);
  ASSERT_FALSE(elements.ok());
  EXPECT_NE(elements.error().message.find("more elements than fit in 64 bits"), std::string::npos);
  shape.scalars["n"] = 1000;
  EXPECT_EQ(*ArgElements(arg, shape), 1000000000);
}

const char* kTorchReference =
    "import torch\nimport torch.nn as nn\n\nclass Model(nn.Module):\n    def forward(self, x):\n        return x * 2\n\n"
    "def get_inputs(batch_size=4):\n    return [torch.randn(batch_size, 8)]\n\ndef get_init_inputs():\n    return []\n";

TEST(LoadTask, TorchTaskTakesKernelBenchDefaultsAndOneShapePerConfig) {
  fs::path dir = WriteTask("name: double_it\nbackend: torch\nreference: model.py\nseeds: [seed.py]\n",
                           {{"model.py", kTorchReference}, {"seed.py", "class ModelNew:\n    pass\n"}});
  auto task = LoadTask(dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_EQ(task->backend, Backend::kTorch);
  EXPECT_TRUE(task->entry.empty());
  EXPECT_TRUE(task->args.empty());
  EXPECT_DOUBLE_EQ(task->tolerance.atol, 1e-4);
  EXPECT_DOUBLE_EQ(task->tolerance.rtol, 1e-4);
  EXPECT_EQ(task->correctness_trials, 5);
  EXPECT_EQ(task->timing.min_trials, 100);
  EXPECT_EQ(task->timing.max_trials, 100);
  ASSERT_EQ(task->torch.configs.size(), 1u);
  EXPECT_EQ(task->torch.configs[0].label, "default");
  EXPECT_EQ(task->torch.configs[0].inputs_json, "{}");
  ASSERT_EQ(task->shapes.size(), 1u);
  EXPECT_EQ(task->shapes[0].label, "default");
  EXPECT_EQ(task->torch.device, "auto");
  EXPECT_TRUE(task->torch.compile_baseline);
}

TEST(LoadTask, TorchSectionReadsConfigsAsJsonKeywordArguments) {
  fs::path dir = WriteTask(
      "name: double_it\nbackend: torch\nreference: model.py\ntolerance: {atol: 1.0e-2, rtol: 1.0e-2}\n"
      "torch:\n"
      "  device: cpu\n"
      "  backward: true\n"
      "  allowed_ops: [aten::sum]\n"
      "  max_speedup: 8\n"
      "  configs:\n"
      "    - {inputs: {batch_size: 16}, init: {init_method: random, eps: 1.0e-5, name: '12'}}\n"
      "    - {label: big, inputs: {batch_size: 64, dims: [1, 2]}}\n",
      {{"model.py", kTorchReference}});
  auto task = LoadTask(dir);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_DOUBLE_EQ(task->tolerance.atol, 1e-2) << "task.yaml overrides the torch defaults";
  EXPECT_EQ(task->torch.device, "cpu");
  EXPECT_TRUE(task->torch.backward);
  EXPECT_EQ(task->torch.allowed_ops, std::vector<std::string>{"aten::sum"});
  EXPECT_DOUBLE_EQ(task->torch.max_speedup, 8);
  ASSERT_EQ(task->torch.configs.size(), 2u);
  EXPECT_EQ(task->torch.configs[0].label, "batch_size=16,init_method=random,eps=1.0e-5,name=12");
  EXPECT_EQ(core::Json::parse(task->torch.configs[0].inputs_json), core::Json::parse(R"({"batch_size": 16})"));
  EXPECT_EQ(core::Json::parse(task->torch.configs[0].init_json),
            core::Json::parse(R"({"init_method": "random", "eps": 1e-5, "name": "12"})"));
  EXPECT_EQ(task->torch.configs[1].label, "big");
  EXPECT_EQ(core::Json::parse(task->torch.configs[1].inputs_json), core::Json::parse(R"({"batch_size": 64, "dims": [1, 2]})"));
  ASSERT_EQ(task->shapes.size(), 2u);
  EXPECT_EQ(task->shapes[1].label, "big");
}

TEST(LoadTask, TorchTaskProblemsAreReportedWhereTheyAre) {
  fs::path dir = WriteTask(
      "name: double_it\nbackend: torch\nentry: f\nreference: model.py\nseeds: [seed.py]\n"
      "torch:\n  device: tpu\n  allowed_ops: [sum]\n  configs:\n    - {label: a}\n    - {label: a}\n  bogus: 1\n",
      {{"model.py", "import torch\n"}, {"seed.py", "print(1)\n"}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  auto lines = ProblemLines(task.error());
  EXPECT_TRUE(HasProblem(lines, dir, 3, 8, "'entry' does not apply to torch tasks")) << JoinLines(lines);
  EXPECT_TRUE(HasProblem(lines, dir, 4, 12, "does not define Model")) << JoinLines(lines);
  EXPECT_TRUE(HasProblem(lines, dir, 4, 12, "does not define get_inputs")) << JoinLines(lines);
  EXPECT_TRUE(HasProblem(lines, dir, 5, 9, "does not define class ModelNew")) << JoinLines(lines);
  EXPECT_TRUE(HasProblem(lines, dir, 7, 11, "torch device")) << JoinLines(lines);
  EXPECT_TRUE(HasProblem(lines, dir, 8, 17, "must be an aten op name")) << JoinLines(lines);
  EXPECT_TRUE(HasProblem(lines, dir, 11, 7, "label 'a' is used twice")) << JoinLines(lines);
  EXPECT_TRUE(HasProblem(lines, dir, 12, 3, "unknown key 'bogus' in torch")) << JoinLines(lines);
}

TEST(LoadTask, TorchSectionOnANativeTaskIsAnError) {
  fs::path dir = WriteTask(MinimalYaml("torch: {device: cpu}\n"), {{"reference.cpp", kMinimalReference}});
  auto task = LoadTask(dir);
  ASSERT_FALSE(task.ok());
  EXPECT_NE(task.error().message.find("'torch' applies only to tasks with backend: torch"), std::string::npos)
      << task.error().message;
}

TEST(CandidateExtension, FollowsTheBackendSoAnExportedKernelKeepsItsLanguage) {
  EXPECT_EQ(CandidateExtension(Backend::kTorch), ".py");
  EXPECT_EQ(CandidateExtension(Backend::kCuda), ".cu");
  EXPECT_EQ(CandidateExtension(Backend::kCpu), ".cpp");
  EXPECT_EQ(CandidateExtension(Backend::kOpenCl), ".cpp");
  EXPECT_EQ(CandidateExtension(Backend::kSycl), ".cpp");
}

}  // namespace
}  // namespace kf::task
