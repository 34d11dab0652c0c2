#include "search/code_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kf::search {
namespace {

using task::Backend;

std::vector<std::string> Texts(std::string_view code, Language lang) {
  std::vector<std::string> out;
  for (const Token& t : Tokenize(code, lang)) out.emplace_back(t.text);
  return out;
}

bool HasToken(std::string_view code, Language lang, std::string_view text) {
  for (const Token& t : Tokenize(code, lang)) {
    if (t.text == text) return true;
  }
  return false;
}

// ---- Tokenize / StripCommentsAndStrings ---------------------------------------------------------

TEST(StripCommentsAndStrings, CommentsMentioningSharedMemoryVanish) {
  const std::string code =
      "// tile with __shared__ memory\n"
      "__global__ void k(float* y) { /* __shared__ float t[32]; */ y[0] = 1.f; }\n";
  const std::string stripped = StripCommentsAndStrings(code, Language::kC);
  EXPECT_EQ(stripped.find("__shared__"), std::string::npos) << stripped;
  EXPECT_NE(stripped.find("__global__ void k(float* y) {"), std::string::npos) << stripped;
  EXPECT_EQ(std::count(stripped.begin(), stripped.end(), '\n'), 2) << "line structure kept";
}

TEST(StripCommentsAndStrings, SlashesInsideStringsDoNotStartComments) {
  const std::string code = "const char* url = \"http://x/*y*/\"; int after = 1; // gone\n";
  EXPECT_EQ(StripCommentsAndStrings(code, Language::kC), "const char* url = \"\"; int after = 1;  \n");
  EXPECT_TRUE(HasToken(code, Language::kC, "after"));
}

TEST(StripCommentsAndStrings, RawStringsAreOneLiteralAndKeepTheirLines) {
  const std::string code = "auto s = R\"CLC(kernel void f() { // not a comment \"quoted\" )\n}\n)CLC\";\nint x;\n";
  const std::string stripped = StripCommentsAndStrings(code, Language::kC);
  EXPECT_EQ(stripped, "auto s = \"\"\n\n;\nint x;\n");
  const std::vector<Token> tokens = Tokenize(code, Language::kC);
  ASSERT_GE(tokens.size(), 5u);
  EXPECT_EQ(tokens[3].kind, TokenKind::kString);
  EXPECT_EQ(tokens.back().line, 4) << "lines inside the raw string are counted";
}

TEST(StripCommentsAndStrings, CharLiteralsAndDigitSeparators) {
  const std::vector<std::string> texts = Texts("char c = '\"'; long n = 1'000'000; // x\n", Language::kC);
  const std::vector<std::string> want = {"char", "c", "=", "'\"'", ";", "long", "n", "=", "1'000'000", ";"};
  EXPECT_EQ(texts, want);
}

TEST(StripCommentsAndStrings, SplicedLineCommentContinues) {
  const std::string code = "int a; // comment \\\n still comment\nint b;\n";
  EXPECT_FALSE(HasToken(code, Language::kC, "still"));
  EXPECT_TRUE(HasToken(code, Language::kC, "b"));
  EXPECT_EQ(StripCommentsAndStrings(code, Language::kC), "int a;  \n\nint b;\n");
}

TEST(StripCommentsAndStrings, PragmaUnrollStaysVisible) {
  const std::vector<Token> tokens = Tokenize("  #pragma unroll\n  for (;;) {}\n", Language::kC);
  ASSERT_GE(tokens.size(), 3u);
  EXPECT_TRUE(tokens[0].starts_line);
  EXPECT_EQ(tokens[0].text, "#");
  EXPECT_EQ(tokens[1].text, "pragma");
  EXPECT_EQ(tokens[2].text, "unroll");
  EXPECT_TRUE(tokens[3].starts_line);
}

TEST(StripCommentsAndStrings, PythonHashInsideStringIsNotAComment) {
  const std::string code = "x = \"#include <cuda.h>\"  # a real comment\ny = 'a # b'\n";
  EXPECT_EQ(StripCommentsAndStrings(code, Language::kPython), "x = \"\"   \ny = \"\"\n");
  EXPECT_EQ(EmbeddedNativeCode(code), "#include <cuda.h>");
}

TEST(StripCommentsAndStrings, UnterminatedCommentRunsToTheEnd) {
  const std::string code = "int a;\n/* never closed __syncthreads();\nint b;";
  EXPECT_EQ(Texts(code, Language::kC), (std::vector<std::string>{"int", "a", ";"}));
  EXPECT_EQ(StripCommentsAndStrings(code, Language::kC), "int a;\n \n");
}

TEST(StripCommentsAndStrings, UnterminatedStringsEndAtTheirLineOrTheEnd) {
  // A one-line string ends with its line; the next line is code again.
  const std::vector<Token> c_tokens = Tokenize("s = \"open\nint b;", Language::kC);
  ASSERT_EQ(c_tokens.size(), 6u);
  EXPECT_EQ(c_tokens[2].text, "\"open");
  EXPECT_EQ(c_tokens[4].text, "b");
  EXPECT_EQ(DecodeStringLiteral("\"open", Language::kC), "open");
  // A triple-quoted Python string and a raw C++ string run to the end.
  const std::vector<Token> py = Tokenize("src = '''__global__ void k()\nx = 1", Language::kPython);
  ASSERT_EQ(py.size(), 3u);
  EXPECT_EQ(DecodeStringLiteral(py[2].text, Language::kPython), "__global__ void k()\nx = 1");
  const std::vector<Token> raw = Tokenize("auto s = R\"(abc", Language::kC);
  ASSERT_EQ(raw.size(), 4u);
  EXPECT_EQ(DecodeStringLiteral(raw[3].text, Language::kC), "abc");
}

TEST(DecodeStringLiteral, DecodesEscapesUnlessRaw) {
  EXPECT_EQ(DecodeStringLiteral(R"("a\n\t\"b\\\x41\101")", Language::kC), "a\n\t\"b\\AA");
  EXPECT_EQ(DecodeStringLiteral(R"(R"x(a\n)x")", Language::kC), "a\\n");
  EXPECT_EQ(DecodeStringLiteral(R"(r"a\n")", Language::kPython), "a\\n");
  EXPECT_EQ(DecodeStringLiteral(R"(f'{x}\'y')", Language::kPython), "{x}'y");
  EXPECT_EQ(DecodeStringLiteral(R"(b"""q""")", Language::kPython), "q");
  EXPECT_EQ(DecodeStringLiteral("u8\"\\u00e9\"", Language::kC), "\\u00e9") << "unknown escapes stay";
}

// ---- Embedded code --------------------------------------------------------------------------------

constexpr std::string_view kTorchCandidate = R"PY(import torch
from torch.utils.cpp_extension import load_inline

# wmma tensor cores would be faster here
"""Module docstring: uses __shared__ tiling (it does not)."""

cuda_source = """
__global__ void scale(const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;  // one thread per element
  if (i < n) y[i] = 2.0f * x[i];
}
"""
cpp_source = ("torch::Tensor scale(torch::Tensor x);\n"
              "// declared for pybind\n")
ext = load_inline(name="scale_ext", cpp_sources=cpp_source, cuda_sources=cuda_source,
                  functions=["scale"], extra_cuda_cflags=["-O3", "--use_fast_math"])


class ModelNew(torch.nn.Module):
    def forward(self, x):
        return ext.scale(x)
)PY";

TEST(EmbeddedNativeCode, ExtractsTripleQuotedCudaAndLeavesDocstringsOut) {
  const std::string code = EmbeddedNativeCode(kTorchCandidate);
  EXPECT_NE(code.find("__global__ void scale(const float* x, float* y, int n) {\n"), std::string::npos) << code;
  EXPECT_NE(code.find("torch::Tensor scale(torch::Tensor x);\n// declared for pybind\n"), std::string::npos)
      << "adjacent literals are joined and decoded";
  EXPECT_EQ(code.find("docstring"), std::string::npos) << "a docstring is not code";
  EXPECT_EQ(code.find("wmma"), std::string::npos) << "a Python comment is not code";
  EXPECT_EQ(code.find("--use_fast_math"), std::string::npos) << "flags are not code";
}

TEST(EmbeddedNativeCode, MapsLinesBackToTheHostFile) {
  const EmbeddedCode e = ExtractEmbeddedCode(kTorchCandidate, Language::kPython);
  // The kernel's first line in the Python file is line 8.
  const std::size_t at = e.text.find("__global__");
  ASSERT_NE(at, std::string::npos);
  const std::size_t embedded_line = static_cast<std::size_t>(std::count(e.text.begin(), e.text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
  ASSERT_LT(embedded_line, e.line_map.size());
  EXPECT_EQ(e.line_map[embedded_line], 8);
  // "\n" escapes stay on their host line: the line after "torch::Tensor scale(...);\n" is line 14.
  const std::size_t declared = e.text.find("// declared for pybind");
  const std::size_t declared_line = static_cast<std::size_t>(std::count(e.text.begin(), e.text.begin() + static_cast<std::ptrdiff_t>(declared), '\n'));
  EXPECT_EQ(e.line_map[declared_line], 14);
}

TEST(EmbeddedNativeCode, ConcatenationWithPlusIsJoined) {
  const std::string code = EmbeddedNativeCode("src = '__global__ void ' + 'k() { f(); }'\nname = 'kk'\n");
  EXPECT_EQ(code, "__global__ void k() { f(); }");
}

TEST(EmbeddedNativeCode, ProseNamesAndFlagsAreNotCode) {
  const EmbeddedCode e = ExtractEmbeddedCode(
      "note = 'fast: __syncthreads() after each tile, __shfl_down_sync(mask, v, 16)'\n"
      "flags = ['-O3', '--use_fast_math']\n"
      "label = f'k<<<{n}, 256>>>(x) then __syncthreads()'\n"
      "src = 'void f() { g(); }'\n",
      Language::kPython);
  EXPECT_EQ(e.text, "void f() { g(); }");
  ASSERT_EQ(e.literals.size(), 5u) << "every literal is kept for flag lookups";
  EXPECT_EQ(e.literals[2].first, "--use_fast_math");
  EXPECT_EQ(e.literals[2].second, 2);
}

TEST(ExtractEmbeddedCode, OpenClKernelInCppStringSkipsIncludesAndExternC) {
  const std::string host =
      "#include \"CL/cl.h\"\n"
      "extern \"C\" void f();\n"
      "const char* kSource = R\"CLC(\n"
      "kernel void k(global float* y) { y[get_global_id(0)] = 1.0f; }\n"
      ")CLC\";\n";
  const EmbeddedCode e = ExtractEmbeddedCode(host, Language::kC);
  EXPECT_EQ(e.text, "\nkernel void k(global float* y) { y[get_global_id(0)] = 1.0f; }\n");
  ASSERT_EQ(e.line_map.size(), 3u);
  EXPECT_EQ(e.line_map[1], 4);
}

// ---- Novelty --------------------------------------------------------------------------------------

constexpr std::string_view kScale128 = R"CU(#include <cstdint>
// Scales by 2.5.
__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2.5f * __ldg(&x[i]);
}
void vec_scale(const float* x, float* y, int32_t n) { scale_kernel<<<(n + 127) / 128, 128>>>(x, y, n); }
)CU";

constexpr std::string_view kScale128Renamed = R"CU(#include <cstdint>

/* A different comment,
   over two lines. */
__global__   void   k(const float* in,
                      float* out, int32_t count) {
  const int32_t idx = blockIdx.x*blockDim.x+threadIdx.x;   // global index
  if (idx < count) out[idx] = 2.5f * __ldg(&in[idx]);
}

void vec_scale(const float* in, float* out, int32_t count) {
  k<<<(count + 127) / 128, 128>>>(in, out, count);
}
)CU";

TEST(NormalizedForNovelty, RenamingWhitespaceAndCommentsDoNotMatter) {
  EXPECT_EQ(NormalizedForNovelty(kScale128, Backend::kCuda), NormalizedForNovelty(kScale128Renamed, Backend::kCuda));
}

TEST(NormalizedForNovelty, BlockSizeChangeIsNovel) {
  std::string block256(kScale128);
  block256.replace(block256.find("(n + 127) / 128, 128"), 20, "(n + 255) / 256, 256");
  EXPECT_NE(NormalizedForNovelty(kScale128, Backend::kCuda), NormalizedForNovelty(block256, Backend::kCuda));
}

TEST(NormalizedForNovelty, BuiltinsLibraryCallsAndMembersKeepTheirNames) {
  const std::string a = NormalizedForNovelty("__global__ void k(float* y) { y[threadIdx.x] = expf(y[0]); }", Backend::kCuda);
  const std::string b = NormalizedForNovelty("__global__ void k(float* y) { y[threadIdx.x] = __expf(y[0]); }", Backend::kCuda);
  const std::string c = NormalizedForNovelty("__global__ void k(float* y) { y[threadIdx.y] = expf(y[0]); }", Backend::kCuda);
  EXPECT_NE(a, b) << "expf vs __expf";
  EXPECT_NE(a, c) << "threadIdx.x vs threadIdx.y";
  EXPECT_NE(a.find("threadIdx . x"), std::string::npos) << a;
  EXPECT_NE(a.find("expf"), std::string::npos) << a;
  EXPECT_EQ(a.find(" k "), std::string::npos) << "the kernel's own name is renamed: " << a;
  EXPECT_NE(NormalizedForNovelty("float4 v; void f() { g(v.x); }", Backend::kCuda),
            NormalizedForNovelty("float4 v; void f() { g(v.y); }", Backend::kCuda));
  EXPECT_NE(NormalizedForNovelty("void f(float* y) { y[0] = 1.0f; }", Backend::kCpu),
            NormalizedForNovelty("void f(double* y) { y[0] = 1.0f; }", Backend::kCpu));
}

TEST(NormalizedForNovelty, IsDeterministicAndEndsDirectivesWithANewline) {
  const std::string a = NormalizedForNovelty("#define TILE 32\nint x = TILE;\n", Backend::kCpu);
  EXPECT_EQ(a, "# define v0 32\nint v1 = v0 ;");
  EXPECT_EQ(a, NormalizedForNovelty("#define TILE 32\nint x = TILE;\n", Backend::kCpu));
  EXPECT_EQ(a, NormalizedForNovelty("#define BLOCK 32 // block\nint y =\n  BLOCK;", Backend::kCpu));
}

constexpr std::string_view kTorchRenamed = R"PY(import torch
from torch.utils.cpp_extension import load_inline

KERNEL = '''
// doubled
__global__ void scale(const float* src, float* dst, int count) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < count) dst[t] = 2.0f * src[t];
}
'''
DECLS = ('torch::Tensor scale(torch::Tensor src);\n'
         '// for pybind\n')
module = load_inline(name='scale_ext', cpp_sources=DECLS, cuda_sources=KERNEL,
                     functions=['scale'], extra_cuda_cflags=['-O3', '--use_fast_math'])


class ModelNew(torch.nn.Module):
  def forward(self, inp):  # different indentation width
    return module.scale(inp)
)PY";

TEST(NormalizedForNovelty, TorchCandidatesCompareTheirEmbeddedCudaCanonically) {
  const std::string original = NormalizedForNovelty(kTorchCandidate, Backend::kTorch);
  // The docstring of kTorchCandidate is a statement; drop it for the comparison.
  std::string without_docstring(kTorchCandidate);
  const std::size_t doc = without_docstring.find("\"\"\"Module docstring");
  without_docstring.erase(doc, without_docstring.find('\n', doc) - doc + 1);
  EXPECT_EQ(NormalizedForNovelty(without_docstring, Backend::kTorch), NormalizedForNovelty(kTorchRenamed, Backend::kTorch));
  EXPECT_NE(original.find("\"__global__ void c0 ( const float * c1"), std::string::npos) << original;
  EXPECT_EQ(original.find("ModelNew"), std::string::npos) << "declared class names are renamed: " << original;
  EXPECT_NE(original.find("\"--use_fast_math\""), std::string::npos) << "strings that are not code stay";
}

TEST(NormalizedForNovelty, TorchConstantChangeInsideTheCudaStringIsNovel) {
  std::string changed(kTorchCandidate);
  changed.replace(changed.find("2.0f"), 4, "3.0f");
  EXPECT_NE(NormalizedForNovelty(kTorchCandidate, Backend::kTorch), NormalizedForNovelty(changed, Backend::kTorch));
  std::string flags(kTorchCandidate);
  flags.replace(flags.find("--use_fast_math"), 15, "-lineinfo");
  EXPECT_NE(NormalizedForNovelty(kTorchCandidate, Backend::kTorch), NormalizedForNovelty(flags, Backend::kTorch));
}

TEST(NormalizedForNovelty, PythonBlockStructureMatters) {
  const std::string a = NormalizedForNovelty("def f(x):\n    if x:\n        x = 1\n    return x\n", Backend::kTorch);
  const std::string b = NormalizedForNovelty("def f(x):\n    if x:\n        x = 1\n        return x\n", Backend::kTorch);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, "def v0 ( v1 ) :\n  if v1 :\n    v1 = 1\n  return v1\n");
}

TEST(NormalizedForNovelty, OpenClKernelStringsAreCanonicalized) {
  const std::string a =
      "const char* kSource = R\"CLC(kernel void k(global float* y) { y[get_global_id(0)] = 1.0f; })CLC\";\n";
  const std::string b =
      "const char* kSrc = \"kernel void  other(global float* out) {\\n\"\n"
      "                   \"  out[get_global_id(0)] = 1.0f; // one\\n}\";\n";
  EXPECT_EQ(NormalizedForNovelty(a, Backend::kOpenCl), NormalizedForNovelty(b, Backend::kOpenCl));
  std::string c = a;
  c.replace(c.find("get_global_id"), 13, "get_local_id");
  EXPECT_NE(NormalizedForNovelty(a, Backend::kOpenCl), NormalizedForNovelty(c, Backend::kOpenCl));
}

}  // namespace
TEST(CodeTextTest, KeptNamesAreNeverRenamed) {
  const std::string entry = "void scale(float* y) { y[0] = 1.0f; }\n";
  const std::string other = "void other(float* y) { y[0] = 1.0f; }\n";
  EXPECT_EQ(NormalizedForNovelty(entry, task::Backend::kCpu), NormalizedForNovelty(other, task::Backend::kCpu));
  EXPECT_NE(NormalizedForNovelty(entry, task::Backend::kCpu, {"scale"}),
            NormalizedForNovelty(other, task::Backend::kCpu, {"scale"}));
  const std::string a = "class ModelNew:\n    def forward(self, x):\n        return x\n";
  const std::string b = "class Other:\n    def forward(self, x):\n        return x\n";
  EXPECT_NE(NormalizedForNovelty(a, task::Backend::kTorch, {"ModelNew"}),
            NormalizedForNovelty(b, task::Backend::kTorch, {"ModelNew"}));
}

}  // namespace kf::search
