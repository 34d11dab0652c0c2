#include "eval/static_check.h"

#include <gtest/gtest.h>

#include <set>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace kf::eval {
namespace {

task::Task SoftmaxTask(task::Backend backend = task::Backend::kCpu) {
  task::Task t;
  t.name = "row_softmax";
  t.backend = backend;
  t.entry = "row_softmax";
  t.args = {
      {.name = "x", .role = task::ArgRole::kInput, .dtype = task::DType::kF32, .shape = {"rows", "cols"}},
      {.name = "y", .role = task::ArgRole::kOutput, .dtype = task::DType::kF32, .shape = {"rows", "cols"}},
      {.name = "rows", .role = task::ArgRole::kScalar, .dtype = task::DType::kI32},
      {.name = "cols", .role = task::ArgRole::kScalar, .dtype = task::DType::kI32},
  };
  return t;
}

/// A valid candidate with `prelude` first (lines 1..) and `body` inside the entry function.
/// Keeps the tests about the construct, not about the entry. Without a prelude the body starts
/// on line kBody.
std::string Kernel(const std::string& body, const std::string& prelude = "") {
  return prelude + "#include <cstdint>\nvoid row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {\n" +
         body + "\n}\n";
}

constexpr int kBody = 3;

std::vector<StaticFinding> Check(const std::string& code) { return CheckStatic(SoftmaxTask(), code); }

std::vector<std::string> Rules(const std::vector<StaticFinding>& findings) {
  std::vector<std::string> rules;
  for (const auto& f : findings) rules.push_back(f.rule);
  return rules;
}

std::string Describe(const std::vector<StaticFinding>& findings) {
  std::string s;
  for (const auto& f : findings) s += f.rule + "@" + std::to_string(f.line) + " '" + f.excerpt + "': " + f.reason + "\n";
  return s.empty() ? "(no findings)" : s;
}

/// Expects exactly one finding, of `rule`, on `line`.
void ExpectOnly(const std::string& code, const std::string& rule, int line) {
  auto findings = Check(code);
  ASSERT_EQ(findings.size(), 1u) << Describe(findings) << "in:\n" << code;
  EXPECT_EQ(findings[0].rule, rule) << Describe(findings);
  EXPECT_EQ(findings[0].line, line) << Describe(findings);
  EXPECT_FALSE(findings[0].reason.empty());
}

void ExpectClean(const std::string& code) {
  auto findings = Check(code);
  EXPECT_TRUE(findings.empty()) << Describe(findings) << "in:\n" << code;
}

int CountLines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// ---------------------------------------------------------------------------------------------
// StripCommentsAndStrings

TEST(StripCommentsAndStrings, BlanksCommentsAndKeepsLineStructure) {
  std::string code = "int a; // std::thread\n/* line 2\n   line 3 */ int b;\nint c;\n";
  std::string s = StripCommentsAndStrings(code);
  EXPECT_EQ(s, "int a;" + std::string(15, ' ') + "\n" + std::string(9, ' ') + "\n" + std::string(12, ' ') +
                   " int b;\nint c;\n");
}

TEST(StripCommentsAndStrings, BlanksStringBodiesWithEscapesButKeepsQuotes) {
  std::string s = StripCommentsAndStrings(R"(f("a\"b // x", 'c'); g("\\"); h('\'', '"');)");
  EXPECT_EQ(s, R"(f("         ",    ); g("  "); h(    ,    );)");
}

TEST(StripCommentsAndStrings, BlanksRawStringsWithDelimiters) {
  std::string code = "auto s = R\"xy(a)\" \"b // c\n)x\" d)xy\"; int e;\nauto t = u8R\"(z)\";\n";
  EXPECT_EQ(StripCommentsAndStrings(code),
            "auto s = R\"" + std::string(14, ' ') + "\n" + std::string(8, ' ') + "\"; int e;\nauto t = u8R\"   \";\n");
}

TEST(StripCommentsAndStrings, KeepsDigitSeparatorsAndStillBlanksCharLiterals) {
  std::string s = StripCommentsAndStrings("int n = 1'000'000; long h = 0xFF'FF; char c = 'x'; auto w = L'y';\n");
  EXPECT_NE(s.find("1'000'000"), std::string::npos) << s;
  EXPECT_NE(s.find("0xFF'FF"), std::string::npos) << s;
  EXPECT_EQ(s.find('x', s.find("0xFF")+2), std::string::npos) << s;
  EXPECT_EQ(s.find('y'), std::string::npos) << s;
  EXPECT_NE(s.find("auto w = L"), std::string::npos) << s;
}

TEST(StripCommentsAndStrings, KeepsIncludeHeaderNames) {
  std::string s = StripCommentsAndStrings("#include <sys/time.h> // x\n#  include \"chrono\"\n#include <a//b.h>\n");
  EXPECT_EQ(s, "#include <sys/time.h>     \n#  include \"chrono\"\n#include <a//b.h>\n");
}

TEST(StripCommentsAndStrings, KeepsPragmaOperatorText) {
  std::string s = StripCommentsAndStrings("_Pragma(\"omp parallel for\") f(\"omp\");\n");
  EXPECT_EQ(s, "_Pragma(\"omp parallel for\") f(\"   \");\n");
}

TEST(StripCommentsAndStrings, LineSpliceExtendsALineComment) {
  std::string s = StripCommentsAndStrings("// hidden \\\nstd::thread t;\nint x;\n");
  EXPECT_EQ(CountLines(s), 3);
  EXPECT_EQ(s.find("thread"), std::string::npos) << s;
  EXPECT_NE(s.find("int x;"), std::string::npos) << s;
}

TEST(StripCommentsAndStrings, LineSpliceJoinsAnIdentifierAndKeepsLaterLineNumbers) {
  std::string s = StripCommentsAndStrings("std::thr\\\nead t;\nint x;\n");
  EXPECT_EQ(s, "std::thread t;\n\nint x;\n");
}

TEST(StripCommentsAndStrings, UnterminatedLiteralsEndAtTheLine) {
  std::string s = StripCommentsAndStrings("#error don't do this\nint x = 1;\nconst char* p = \"oops\nint y;\n");
  EXPECT_EQ(CountLines(s), 4);
  EXPECT_NE(s.find("int x = 1;"), std::string::npos) << s;
  EXPECT_NE(s.find("int y;"), std::string::npos) << s;
}

TEST(StripCommentsAndStrings, KeepsTheNumberOfLinesOfAnyInput) {
  for (const std::string code : {
           "a\nb\n", "/* \n\n */x\n", "R\"(\n\n)\"\n", "\"a\\\nb\"\n", "x \\\n y \\\n z\nw\n",
           "R\"q(\n)\"\n", "'\n'\n", "// a\\\n b\\\n c\nd\n", "\"unterminated\n\n"}) {
    EXPECT_EQ(CountLines(StripCommentsAndStrings(code)), CountLines(code)) << code;
  }
}

// ---------------------------------------------------------------------------------------------
// Rules: each with a positive case and traps (the construct only in a comment or a string, an
// identifier that merely contains the word, a member function of the same name).

TEST(CheckStatic, RejectsCallingTheReference) {
  ExpectOnly(Kernel("  row_softmax_reference(x, y, rows, cols);"), "calls_reference", kBody);
  ExpectOnly(Kernel("  auto* f = &row_softmax_reference;"), "calls_reference", kBody);
}

TEST(CheckStatic, IgnoresTheReferenceNameInCommentsStringsAndLongerNames) {
  ExpectClean(Kernel("  // unlike row_softmax_reference(x, y, rows, cols) we...\n"
                     "  const char* s = \"row_softmax_reference(\";\n"
                     "  int my_row_softmax_reference_count = 0; (void)s; (void)my_row_softmax_reference_count;"));
}

TEST(CheckStatic, RejectsClockReads) {
  ExpectOnly(Kernel("  auto t0 = std::chrono::steady_clock::now();"), "reads_clock", kBody);
  ExpectOnly(Kernel("  timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);"), "reads_clock", kBody);
  ExpectOnly(Kernel("  long t = time(nullptr);"), "reads_clock", kBody);
  ExpectOnly(Kernel("  long t = std::clock();"), "reads_clock", kBody);
  ExpectOnly(Kernel("  unsigned long long c = __rdtsc();"), "reads_clock", kBody);
  ExpectOnly(Kernel("  double w = omp_get_wtime();"), "reads_clock", kBody);
  ExpectOnly(Kernel("", "#include <chrono>\n"), "reads_clock", 1);
  ExpectOnly(Kernel("", "#include <ctime>\n"), "reads_clock", 1);
  ExpectOnly(Kernel("", "# include < sys/time.h >\n"), "reads_clock", 1);
  ExpectOnly(Kernel("", "#include \"time.h\"\n"), "reads_clock", 1);
  ExpectOnly(Kernel("", "#include </usr/include/time.h>\n"), "reads_clock", 1);
}

TEST(CheckStatic, AllowsTimeAndClockAsOrdinaryNames) {
  ExpectClean(Kernel("  float time = 0.5f; time += 1.0f;\n"
                     "  double clock_rate = 2.0, clock = 1.0; (void)clock_rate; (void)clock;\n"
                     "  struct Timer { double time() const { return 0; } } timer; (void)timer.time();\n"
                     "  // clock_gettime(CLOCK_MONOTONIC) and std::chrono are banned\n"
                     "  const char* s = \"std::chrono::steady_clock\"; (void)s; (void)time;"));
}

TEST(CheckStatic, RejectsThreads) {
  ExpectOnly(Kernel("  std::thread t([] {}); t.detach();"), "spawns_threads", kBody);
  ExpectOnly(Kernel("  auto f = std :: async([] { return 1; });"), "spawns_threads", kBody);
  ExpectOnly(Kernel("  pthread_t t; pthread_create(&t, nullptr, nullptr, nullptr);"), "spawns_threads", kBody);
  ExpectOnly(Kernel("", "#include <thread>\n"), "spawns_threads", 1);
  ExpectOnly(Kernel("", "#include <future>\n"), "spawns_threads", 1);
}

TEST(CheckStatic, AllowsThreadAsAWordInNamesCommentsAndStrings) {
  ExpectClean(Kernel("  int thread = 0, my_thread_count = 1; (void)thread; (void)my_thread_count;\n"
                     "  // no std::thread here, only #pragma omp\n"
                     "  const char* s = \"std::thread\"; (void)s;"));
}

TEST(CheckStatic, RejectsProcesses) {
  ExpectOnly(Kernel("  if (fork() == 0) {}"), "spawns_processes", kBody);
  ExpectOnly(Kernel("  system(\"ls\");"), "spawns_processes", kBody);
  ExpectOnly(Kernel("  execvp(\"sh\", nullptr);"), "spawns_processes", kBody);
  ExpectOnly(Kernel("  auto* p = popen(\"ls\", \"r\"); (void)p;"), "spawns_processes", kBody);
  ExpectOnly(Kernel("  kill(1, 9);"), "spawns_processes", kBody);
  ExpectOnly(Kernel("  raise(11);"), "spawns_processes", kBody);
}

TEST(CheckStatic, AllowsProcessWordsAsVariablesAndMembers) {
  ExpectClean(Kernel("  int system = 2, kill_count = 0; (void)system; (void)kill_count;\n"
                     "  struct S { int clone() const { return 1; } int fork() { return 2; } } s;\n"
                     "  (void)s.clone(); (void)s.fork();"));
}

TEST(CheckStatic, RejectsRawSystemAccess) {
  ExpectOnly(Kernel("  asm volatile(\"nop\");"), "inline_asm", kBody);
  ExpectOnly(Kernel("  __asm__(\"rdtsc\");"), "inline_asm", kBody);
  ExpectOnly(Kernel("  syscall(1, 3, \"x\", 1);"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  ::write(3, y, 4);"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  write(3, y, 4);"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  auto* f = fopen(\"/proc/self/mem\", \"w\"); (void)f;"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  std::ofstream out(\"x\");"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  void* p = mmap(nullptr, 4096, 3, 34, -1, 0); (void)p;"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  signal(14, nullptr);"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  void* h = dlopen(\"libc.so.6\", 1); (void)h;"), "raw_system_access", kBody);
  ExpectOnly(Kernel("", "#include <unistd.h>\n"), "raw_system_access", 1);
  ExpectOnly(Kernel("", "#include <fstream>\n"), "raw_system_access", 1);
  ExpectOnly(Kernel("", "#include <csignal>\n"), "raw_system_access", 1);
  ExpectOnly(Kernel("", "#define HEADER <unistd.h>\n#include HEADER\n"), "raw_system_access", 2);
  // Ways to reach the result channel or its nonce without naming write().
  ExpectOnly(Kernel("  dprintf(97, \"D x\\n\");"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  const char* n = std::getenv(\"KF_NONCE\"); (void)n;"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  struct iovec v{}; writev(97, &v, 1);"), "raw_system_access", kBody);
  ExpectOnly(Kernel("  send(97, y, 4, 0);"), "raw_system_access", kBody);
}

TEST(CheckStatic, AllowsMemberWritesOrdinaryNamesAndExits) {
  ExpectClean(Kernel("  struct Sink { void write(const float*, int) {} int read() { return 0; } } out, *p = &out;\n"
                     "  out.write(y, 1); p->write(y, 2); (void)out.read();\n"
                     "  int signal = 3, reopen_count = 0, exit_code = 0; (void)signal; (void)reopen_count;\n"
                     "  const char* path = \"/proc/self/mem\"; (void)path;\n"
                     "  y[0] = std::exp(x[0]);\n"
                     "  if (exit_code) exit(1);\n"
                     "  if (rows < 0) std::abort();",
                     "#include <cmath>\n#include <cstdlib>\n"));
}

TEST(CheckStatic, RejectsHarnessSymbols) {
  ExpectOnly(Kernel("  kf_channel_fd = 3;"), "harness_symbol", kBody);
  ExpectOnly(Kernel("  int n = KF_MAX_TRIALS;"), "harness_symbol", kBody);
  ExpectOnly(Kernel("", "int main() { return 0; }\n"), "harness_symbol", 1);
  ExpectOnly(Kernel("", "extern \"C\" int memcmp(const void*, const void*, unsigned long);\n"), "harness_symbol", 1);
  ExpectOnly(Kernel("", "__attribute__((used, constructor)) static void Early() {}\n"), "harness_symbol", 1);
  ExpectOnly(Kernel("", "[[gnu::constructor]] static void Early() {}\n"), "harness_symbol", 1);
  ExpectOnly(Kernel("", "__attribute__((weak)) int helper();\n"), "harness_symbol", 1);
  ExpectOnly(Kernel("", "#pragma weak memcpy\n"), "harness_symbol", 1);
  ExpectOnly(Kernel("", "_Pragma(\"weak memcpy\")\n"), "harness_symbol", 1);
}

TEST(CheckStatic, AllowsHarnessLookalikes) {
  ExpectClean(Kernel("  int my_kf_value = 0, domain = 1; (void)my_kf_value; (void)domain;\n"
                     "  // int main() { extern \"C\" }\n"
                     "  const char* s = \"extern \\\"C\\\" kf_x\"; (void)s;",
                     "__attribute__((always_inline)) inline float Sq(float v) { return v * v; }\n"
                     "[[maybe_unused]] static int unused_helper = 0;\n"));
}

TEST(CheckStatic, RejectsCodeWithoutTheEntryFunction) {
  auto findings = Check("#include <cstdint>\nvoid rowsoftmax(const float* x, float* y, int32_t rows, int32_t cols) {}\n"
                        "// row_softmax(x, y, rows, cols)\n");
  ASSERT_EQ(Rules(findings), std::vector<std::string>{"missing_entry"}) << Describe(findings);
  EXPECT_EQ(findings[0].line, 0);
  EXPECT_NE(findings[0].reason.find("void row_softmax(const float* x, float* y, int32_t rows, int32_t cols)"),
            std::string::npos)
      << findings[0].reason;
}

TEST(CheckStatic, EnforcesEvolveBlocksOfTheTemplate) {
  std::string frozen = "#include <cstdint>\nvoid row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {\n"
                       "  // EVOLVE-BLOCK-START\n  y[0] = x[0];\n  // EVOLVE-BLOCK-END\n}\n";
  std::string inside = "#include <cstdint>\nvoid row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {\n"
                       "  // EVOLVE-BLOCK-START\n  y[0] = 2 * x[0];\n  y[1] = x[1];\n  // EVOLVE-BLOCK-END\n}\n";
  std::string outside = "#include <cstdint>\n#include <cmath>\n"
                        "void row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {\n"
                        "  // EVOLVE-BLOCK-START\n  y[0] = x[0];\n  // EVOLVE-BLOCK-END\n}\n";
  EXPECT_TRUE(CheckStatic(SoftmaxTask(), inside, frozen).empty()) << Describe(CheckStatic(SoftmaxTask(), inside, frozen));
  auto findings = CheckStatic(SoftmaxTask(), outside, frozen);
  ASSERT_EQ(Rules(findings), std::vector<std::string>{"evolve_blocks"}) << Describe(findings);
  EXPECT_NE(findings[0].reason.find("EVOLVE"), std::string::npos);
  // A template without blocks constrains nothing.
  EXPECT_TRUE(CheckStatic(SoftmaxTask(), outside, "void row_softmax();\n").empty());
}

TEST(CheckStatic, ATunedConfigurationOfTheTemplatesParametersKeepsItsBlocks) {
  // The template declares a parameter outside its EVOLVE block; the tuner defines it there.
  std::string frozen = "#include <cstdint>\n// @param W: 1, 4\nvoid row_softmax(const float* x, float* y, int32_t rows, "
                       "int32_t cols) {\n  // EVOLVE-BLOCK-START\n  y[0] = W * x[0];\n  // EVOLVE-BLOCK-END\n}\n";
  auto with = [&](const std::string& line2) {
    std::string code = frozen;
    code.replace(code.find("// @param W: 1, 4"), std::string("// @param W: 1, 4").size(), line2);
    return CheckStatic(SoftmaxTask(), code, frozen);
  };
  EXPECT_TRUE(with("#define W 4  // @param W: 1, 4").empty()) << Describe(with("#define W 4  // @param W: 1, 4"));
  // A value the template does not declare, or a widened declaration, changes the frozen code.
  EXPECT_EQ(Rules(with("#define W 8  // @param W: 1, 4")), std::vector<std::string>{"evolve_blocks"});
  EXPECT_EQ(Rules(with("#define W 8  // @param W: 1, 4, 8")), std::vector<std::string>{"evolve_blocks"});
  EXPECT_EQ(Rules(with("#define W 4")), std::vector<std::string>{"evolve_blocks"});
}

TEST(CheckStatic, ReportsLinesAfterMultiLineCommentsRawStringsAndSplices) {
  std::string code = Kernel("  /* a\n     b */\n  const char* s = R\"(\n)\"; (void)s;\n  int v = 1 + \\\n    2; (void)v;\n"
                            "  std::thread t;");
  auto findings = Check(code);
  ASSERT_EQ(findings.size(), 1u) << Describe(findings);
  EXPECT_EQ(findings[0].line, kBody + 6) << Describe(findings);
}

TEST(CheckStatic, ReportsEachConstructOncePerRule) {
  auto findings = Check(Kernel("  std::thread a;\n  std::thread b;\n  std::thread c;"));
  ASSERT_EQ(findings.size(), 1u) << Describe(findings);
  EXPECT_EQ(findings[0].excerpt, "std::thread");
  EXPECT_EQ(findings[0].line, kBody);
}

TEST(CheckStatic, ReportsFindingsOfDifferentRulesInLineOrder) {
  auto findings = Check(Kernel("  (void)time(nullptr);\n  std::thread t;", "#include <unistd.h>\n"));
  EXPECT_EQ(Rules(findings), (std::vector<std::string>{"raw_system_access", "reads_clock", "spawns_threads"}))
      << Describe(findings);
}

TEST(CheckStatic, AcceptsAnHonestOpenMpSimdKernel) {
  std::string code = R"cpp(// Row softmax, AVX2 + OpenMP. Never use std::thread or clock_gettime here.
#include <immintrin.h>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {
constexpr int kBlock = 1'024;  // columns per chunk
inline float HorizontalMax(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_max_ps(lo, hi);
  lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_max_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}
}  // namespace

void row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {
  const char* tag = "time(nullptr) std::chrono kf_ main()";  // a string, not code
  (void)tag;
  char sep = '\'';
  (void)sep;
#pragma omp parallel for schedule(static)
  for (int32_t r = 0; r < rows; ++r) {
    const float* in = x + static_cast<int64_t>(r) * cols;
    float* out = y + static_cast<int64_t>(r) * cols;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int32_t c = 0;
    for (; c + 8 <= cols; c += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(in + c));
    float max_value = HorizontalMax(vmax);
    for (; c < cols; ++c) max_value = std::max(max_value, in[c]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int32_t k = 0; k < cols; ++k) {
      out[k] = std::exp(in[k] - max_value);
      sum += out[k];
    }
    const float inv = 1.0f / sum;
    for (int32_t k = 0; k < cols; k += kBlock) {
      const int32_t end = std::min(cols, k + kBlock);
      for (int32_t j = k; j < end; ++j) out[j] *= inv;
    }
    int thread = omp_get_thread_num();
    (void)thread;
  }
}
)cpp";
  ExpectClean(code);
}

TEST(CheckStatic, AcceptsTheExampleSeeds) {
  for (const char* name : {"row_softmax", "matmul", "gelu"}) {
    auto dir = std::filesystem::path(KF_SOURCE_DIR) / "examples" / name;
    auto task = task::LoadTask(dir);
    ASSERT_TRUE(task.ok()) << task.error().ToString();
    for (const auto& seed : task->seeds) {
      auto findings = CheckStatic(*task, seed.source, seed.source);
      EXPECT_TRUE(findings.empty()) << name << "/" << seed.file << ":\n" << Describe(findings);
    }
    // The reference defines <entry>_reference: as a candidate it would be caught.
    auto rules = Rules(CheckStatic(*task, task->reference_source));
    EXPECT_NE(std::find(rules.begin(), rules.end(), "calls_reference"), rules.end()) << name;
  }
}

TEST(CheckStatic, SkipsTheCppVocabularyForTorchTasks) {
  std::string python = "import time\nimport torch\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n"
                       "        t = time.time()  # system(\n        return x\n";
  EXPECT_TRUE(CheckStatic(SoftmaxTask(task::Backend::kTorch), python).empty());
}


TEST(CheckStatic, CudaRejectsStreamsEventsAndDeviceStateChanges) {
  const task::Task t = SoftmaxTask(task::Backend::kCuda);
  auto rules = [&](const std::string& body) {
    std::set<std::string> out;
    for (const auto& f : CheckStatic(t, Kernel(body))) out.insert(f.rule);
    return out;
  };
  EXPECT_EQ(rules("  cudaStream_t s; cudaStreamCreate(&s);"), std::set<std::string>{"escapes_timing"});
  EXPECT_EQ(rules("  cudaDeviceReset();"), std::set<std::string>{"escapes_timing"});
  EXPECT_EQ(rules("  long long t0 = clock64(); (void)t0;"), std::set<std::string>{"escapes_timing"});
  EXPECT_EQ(rules("  cublasSgemm(h, 0, 0, rows, cols, 1, 0, x, 1, x, 1, 0, y, 1);"), std::set<std::string>{"library_fallback"});
  EXPECT_EQ(rules("  thrust::transform(x, x + rows, y, op);"), std::set<std::string>{"library_fallback"});
  // Block-level CUB and launches on the default stream are fine, and so are the words in comments.
  EXPECT_TRUE(rules("  // no cudaStreamCreate here\n  using R = cub::BlockReduce<float, 256>; k<<<1, 256>>>(x, y, rows);").empty());
}

TEST(CheckStatic, CudaAllowsInlinePtxForComputationButNotClocksOrSyscalls) {
  const task::Task t = SoftmaxTask(task::Backend::kCuda);
  EXPECT_TRUE(CheckStatic(t, Kernel("  asm volatile(\"mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0}, {%1}, {%2}, {%3};\" : \"+f\"(a));")).empty());
  auto f = CheckStatic(t, Kernel("  unsigned long long t; asm volatile(\"mov.u64 %0, %%globaltimer;\" : \"=l\"(t));"));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].rule, "inline_asm");
  EXPECT_EQ(f[0].line, kBody);
  EXPECT_EQ(CheckStatic(t, Kernel("  asm(\"syscall\");")).size(), 1u);
}

TEST(CheckStatic, RejectsTokenPastingThatCouldAssembleBannedNames) {
  ExpectOnly(Kernel("  PASTE(cudaStream, Create)(&s);", "#define PASTE(a, b) a##b\n"), "token_pasting", 1);
  EXPECT_TRUE(Check(Kernel("  // a##b in a comment\n  const char* s = \"##\"; (void)s;")).empty());
}

TEST(CheckStatic, OpenClRejectsOwnQueuesAndWaiting) {
  const task::Task t = SoftmaxTask(task::Backend::kOpenCl);
  auto rules = [&](const std::string& body) {
    std::set<std::string> out;
    for (const auto& f : CheckStatic(t, Kernel(body))) out.insert(f.rule);
    return out;
  };
  EXPECT_EQ(rules("  auto q = clCreateCommandQueueWithProperties(c, d, nullptr, &e);"), std::set<std::string>{"escapes_timing"});
  EXPECT_EQ(rules("  clFinish(queue);"), std::set<std::string>{"escapes_timing"});
  EXPECT_TRUE(rules("  clEnqueueNDRangeKernel(queue, k, 1, nullptr, &n, nullptr, 0, nullptr, nullptr);").empty());
}

TEST(CheckStatic, CpuTasksDoNotUseTheCudaVocabulary) {
  EXPECT_TRUE(Check(Kernel("  int cudaStreamCreate = 0; (void)cudaStreamCreate;")).empty());
}

}  // namespace
}  // namespace kf::eval
