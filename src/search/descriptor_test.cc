#include "search/descriptor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace kf::search {
namespace {

namespace fs = std::filesystem;
using task::Backend;

constexpr std::array<Axis, 3> kAxes = {Axis::kMemory, Axis::kCompute, Axis::kParallelism};

// ---- The corpus: tests/descriptor_corpus/<backend>/<name>.<ext> -----------------------------------

const fs::path kCorpus = fs::path(KF_SOURCE_DIR) / "tests" / "descriptor_corpus";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::map<std::string, Backend>& Backends() {
  static const std::map<std::string, Backend> k = {{"cuda", Backend::kCuda},
                                                    {"sycl", Backend::kSycl},
                                                    {"opencl", Backend::kOpenCl},
                                                    {"cpu", Backend::kCpu},
                                                    {"torch", Backend::kTorch}};
  return k;
}

struct CorpusFile {
  fs::path path;
  std::string label;  // "cuda/naive_scale", also the test name
  Backend backend = Backend::kCpu;
  std::array<int, 3> expected = {-1, -1, -1};  // -1: the expect line lacks the axis
  std::string problem;                         // why the file cannot be checked, if it cannot
};

// gtest prints a failing parameter with this: the file, not its bytes.
void PrintTo(const CorpusFile& f, std::ostream* os) { *os << f.label; }

/// Parses "// expect: memory_opt=2 compute_opt=1 parallelism_opt=1" (or "# expect: ...").
CorpusFile Load(const fs::path& path) {
  CorpusFile f;
  f.path = path;
  f.label = path.parent_path().filename().string() + "/" + path.stem().string();
  f.backend = Backends().at(path.parent_path().filename().string());
  const std::string code = ReadFile(path);
  const std::string first_line = code.substr(0, code.find('\n'));
  const std::string prefix = f.backend == Backend::kTorch ? "# expect:" : "// expect:";
  if (first_line.rfind(prefix, 0) != 0) {
    f.problem = "the first line must be `" + prefix + " memory_opt=N compute_opt=N parallelism_opt=N`";
    return f;
  }
  std::istringstream words(first_line.substr(prefix.size()));
  for (std::string word; words >> word;) {
    const std::size_t eq = word.find('=');
    bool known = false;
    for (std::size_t a = 0; a < kAxes.size(); ++a) {
      if (eq != std::string::npos && word.substr(0, eq) == AxisName(kAxes[a])) {
        f.expected[a] = std::stoi(word.substr(eq + 1));
        known = true;
      }
    }
    if (!known) f.problem = "unknown word in the expect line: " + word;
  }
  if (std::find(f.expected.begin(), f.expected.end(), -1) != f.expected.end()) {
    f.problem = "the expect line must give all three axes";
  }
  const std::string extension(task::CandidateExtension(f.backend));
  if (path.extension().string() != extension) f.problem = "a " + std::string(task::BackendName(f.backend)) +
                                                          " candidate's extension is " + extension;
  return f;
}

std::vector<CorpusFile> Corpus() {
  std::vector<CorpusFile> files;
  if (!fs::is_directory(kCorpus)) return files;
  for (const auto& [name, backend] : Backends()) {
    if (!fs::is_directory(kCorpus / name)) continue;
    for (const fs::directory_entry& e : fs::directory_iterator(kCorpus / name)) {
      if (e.is_regular_file()) files.push_back(Load(e.path()));
    }
  }
  std::sort(files.begin(), files.end(), [](const CorpusFile& a, const CorpusFile& b) { return a.label < b.label; });
  return files;
}

class DescriptorCorpus : public testing::TestWithParam<CorpusFile> {};

TEST_P(DescriptorCorpus, FindsTheExpectedLevels) {
  const CorpusFile& f = GetParam();
  ASSERT_TRUE(f.problem.empty()) << f.path << ": " << f.problem;
  const CodeDescriptor d = DescribeCode(ReadFile(f.path), f.backend);
  std::ostringstream found;
  for (Axis axis : kAxes) {
    found << "\n  " << AxisName(axis) << "=" << d.At(axis).level << "  (" << d.At(axis).evidence << ")";
  }
  for (std::size_t a = 0; a < kAxes.size(); ++a) {
    EXPECT_EQ(d.At(kAxes[a]).level, f.expected[a])
        << f.path.string() << ": " << AxisName(kAxes[a]) << " expected " << f.expected[a] << ", found " << d.At(kAxes[a]).level
        << "; all found:" << found.str();
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, DescriptorCorpus, testing::ValuesIn(Corpus()),
                         [](const testing::TestParamInfo<CorpusFile>& info) {
                           std::string name = info.param.label;
                           std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return name;
                         });

TEST(DescriptorCorpusCoverage, CoversEveryLevelOfEveryAxisAndEnoughKernelsPerBackend) {
  const std::vector<CorpusFile> files = Corpus();
  ASSERT_FALSE(files.empty()) << "no corpus at " << kCorpus;
  std::map<Backend, int> per_backend;
  std::array<std::set<int>, 3> levels;
  for (const CorpusFile& f : files) {
    ++per_backend[f.backend];
    for (std::size_t a = 0; a < kAxes.size(); ++a) levels[a].insert(f.expected[a]);
  }
  for (std::size_t a = 0; a < kAxes.size(); ++a) {
    EXPECT_EQ(levels[a], (std::set<int>{0, 1, 2, 3})) << AxisName(kAxes[a]) << ": every level needs a corpus kernel";
  }
  EXPECT_GE(per_backend[Backend::kCuda], 8);
  EXPECT_GE(per_backend[Backend::kTorch], 8);
  EXPECT_GE(per_backend[Backend::kSycl], 5);
  EXPECT_GE(per_backend[Backend::kOpenCl], 5);
  EXPECT_GE(per_backend[Backend::kCpu], 5);
}

// ---- Focused rules ----------------------------------------------------------------------------------

CodeDescriptor Cuda(std::string_view code) { return DescribeCode(code, Backend::kCuda); }

constexpr std::string_view kSharedReduction = R"CU(__global__ void k(const float* x, float* y) {
  __shared__ float s[256];
  s[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  if (threadIdx.x == 0) y[0] = s[0] + s[1];
}
void run(const float* x, float* y) { k<<<1, 256>>>(x, y); }
)CU";

TEST(DescribeCode, SharedArrayWrittenAndReadWithBarrierIsTilingWithItsLines) {
  const CodeDescriptor d = Cuda(kSharedReduction);
  EXPECT_EQ(d.memory.level, 2);
  EXPECT_EQ(d.memory.evidence, "line 2: __shared__ s written (line 3) and read (line 5), with __syncthreads (line 4)");
  EXPECT_EQ(d.parallelism.level, 1);
  EXPECT_EQ(d.parallelism.evidence, "line 4: __syncthreads (barrier)");
  EXPECT_EQ(d.compute.level, 0);
  EXPECT_EQ(d.compute.evidence, "none found");
  EXPECT_EQ(d.Levels(), (std::array<int, 3>{2, 0, 1}));
}

TEST(DescribeCode, SharedArrayNeedsBothAWriteAndARead) {
  std::string write_only(kSharedReduction);
  write_only.replace(write_only.find("y[0] = s[0] + s[1];"), 19, "y[0] = 1.0f;");
  EXPECT_EQ(Cuda(write_only).memory.level, 0);
  std::string read_only(kSharedReduction);
  read_only.replace(read_only.find("s[threadIdx.x] = x[threadIdx.x];"), 32, "y[1] = x[0];");
  EXPECT_EQ(Cuda(read_only).memory.level, 0);
  std::string no_barrier(kSharedReduction);
  no_barrier.replace(no_barrier.find("__syncthreads();"), 16, "");
  EXPECT_EQ(Cuda(no_barrier).memory.level, 0) << "tiling needs a barrier";
}

TEST(DescribeCode, SharedArrayThroughAPointerAlias) {
  const CodeDescriptor d = Cuda(R"CU(__global__ void k(const float* x, float* y) {
  extern __shared__ float smem[];
  float* row = smem + 32 * threadIdx.y;
  row[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = row[31 - threadIdx.x];
}
)CU");
  EXPECT_EQ(d.memory.level, 2) << d.memory.evidence;
}

TEST(DescribeCode, MacroCountsOnlyWhereUsed) {
  const std::string defined = "#define SYNC() __syncthreads()\n__global__ void k(float* y) { y[0] = 1.0f; }\n";
  EXPECT_EQ(Cuda(defined).parallelism.level, 0);
  const std::string used = "#define SYNC() __syncthreads()\n__global__ void k(float* y) {\n  SYNC();\n  y[0] = 1.0f;\n}\n";
  const CodeDescriptor d = Cuda(used);
  EXPECT_EQ(d.parallelism.level, 1);
  EXPECT_EQ(d.parallelism.evidence, "line 3: __syncthreads (barrier)") << "the line of the macro's use";
}

TEST(DescribeCode, DeadCodeDoesNotCount) {
  const std::string uncalled_device_function =
      "__device__ float f(float v) { return __shfl_down_sync(0xffffffffu, v, 1); }\n"
      "__global__ void k(float* y) { y[0] = 1.0f; }\n";
  EXPECT_EQ(Cuda(uncalled_device_function).parallelism.level, 0);
  const std::string called = uncalled_device_function + "__global__ void g(float* y) { y[0] = f(y[0]); }\n";
  EXPECT_EQ(Cuda(called).parallelism.level, 2);
  const std::string if0 = "__global__ void k(float* y) {\n#if 0\n  __syncthreads();\n#endif\n  y[0] = 1.0f;\n}\n";
  EXPECT_EQ(Cuda(if0).parallelism.level, 0);
  const std::string else_of_if0 = "__global__ void k(float* y) {\n#if 0\n#else\n  __syncthreads();\n#endif\n}\n";
  EXPECT_EQ(Cuda(else_of_if0).parallelism.level, 1);
  // A host function with external linkage may be the entry point: it is live.
  const std::string host = "#include <omp.h>\nvoid entry(float* y, int n) {\n#pragma omp parallel for\n  for (int i = 0; i < n; ++i) y[i] = 0;\n}\n";
  EXPECT_EQ(DescribeCode(host, Backend::kCpu).parallelism.level, 1);
  const std::string internal = "static void helper(float* y, int n) {\n#pragma omp parallel for\n  for (int i = 0; i < n; ++i) y[i] = 0;\n}\n";
  EXPECT_EQ(DescribeCode(internal, Backend::kCpu).parallelism.level, 0);
}

TEST(DescribeCode, AsmCountsButOrdinaryStringsDoNot) {
  const std::string in_asm =
      "__global__ void k(const float* x, float* y) {\n"
      "  asm volatile(\"cp.async.ca.shared.global [%0], [%1], 4;\" :: \"r\"(0), \"l\"(x));\n}\n";
  const CodeDescriptor d = Cuda(in_asm);
  EXPECT_EQ(d.memory.level, 3);
  EXPECT_EQ(d.memory.evidence, "line 2: asynchronous copy (cp.async in asm)");
  const std::string in_string = "__global__ void k(float* y) {\n  printf(\"cp.async then __syncthreads();\");\n}\n";
  EXPECT_EQ(Cuda(in_string).memory.level, 0);
  EXPECT_EQ(Cuda(in_string).parallelism.level, 0);
}

TEST(DescribeCode, Float4MustBeLoadedOrStored) {
  EXPECT_EQ(Cuda("__global__ void k(const float* x, float* y) { float4 v; y[0] = x[0]; }").memory.level, 0);
  EXPECT_EQ(Cuda("__global__ void k(const float* x, float* y) { float4 v = make_float4(1, 2, 3, 4); y[0] = v.x; }").memory.level, 0);
  EXPECT_EQ(Cuda("__global__ void k(const float* x, float* y) { float4 v = reinterpret_cast<const float4*>(x)[0]; y[0] = v.x; }")
                .memory.level,
            1);
  EXPECT_EQ(Cuda("__global__ void k(const float4* x, float* y) { y[0] = x[threadIdx.x].y; }").memory.level, 1);
}

TEST(DescribeCode, OnlineSoftmaxNeedsTheRescaleNotJustAMax) {
  const std::string three_pass =
      "__global__ void k(const float* x, float* y, int n) {\n"
      "  float m = -INFINITY;\n"
      "  for (int i = 0; i < n; ++i) m = fmaxf(m, x[i]);\n"
      "  float s = 0.f;\n"
      "  for (int i = 0; i < n; ++i) s += expf(x[i] - m);\n"
      "  for (int i = 0; i < n; ++i) y[i] = expf(x[i] - m) / s;\n}\n";
  EXPECT_EQ(Cuda(three_pass).compute.level, 0);
  const std::string online =
      "__global__ void k(const float* x, float* y, int n) {\n"
      "  float m = -INFINITY, s = 0.f;\n"
      "  for (int i = 0; i < n; ++i) {\n"
      "    const float m_new = fmaxf(m, x[i]);\n"
      "    s = s * expf(m - m_new) + expf(x[i] - m_new);\n"
      "    m = m_new;\n  }\n"
      "  for (int i = 0; i < n; ++i) y[i] = expf(x[i] - m) / s;\n}\n";
  const CodeDescriptor d = Cuda(online);
  EXPECT_EQ(d.compute.level, 2);
  EXPECT_EQ(d.compute.evidence, "line 5: online softmax: rescale by expf(old max - new max)");
}

TEST(DescribeCode, HigherEvidenceAloneGivesItsLevel) {
  const CodeDescriptor d = Cuda(
      "#include <mma.h>\nusing namespace nvcuda;\n"
      "__global__ void k(const half* a, const half* b, float* c) {\n"
      "  wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;\n"
      "  wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::row_major> fb;\n"
      "  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;\n"
      "  wmma::fill_fragment(fc, 0.0f);\n"
      "  wmma::load_matrix_sync(fa, a, 16);\n  wmma::load_matrix_sync(fb, b, 16);\n"
      "  wmma::mma_sync(fc, fa, fb, fc);\n"
      "  wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);\n}\n");
  EXPECT_EQ(d.memory.level, 3) << "tensor cores, with no level 1 or 2 evidence";
  EXPECT_EQ(d.compute.level, 3);
  EXPECT_EQ(d.compute.evidence, "line 10: matrix units (wmma::mma_sync)");
  EXPECT_EQ(d.parallelism.level, 0) << "one warp, no warp index: not warp tiling";
}

TEST(DescribeCode, TorchEvidenceLinesAreThePythonFilesLines) {
  const std::string py =
      "import torch\n"
      "from torch.utils.cpp_extension import load_inline\n"
      "src = '''\n"
      "__global__ void k(const float* x, float* y) {\n"
      "  __shared__ float s[32];\n"
      "  s[threadIdx.x] = x[threadIdx.x];\n"
      "  __syncthreads();\n"
      "  y[threadIdx.x] = s[31 - threadIdx.x];\n"
      "}\n"
      "'''\n"
      "ext = load_inline('k', cpp_sources='', cuda_sources=src, extra_cuda_cflags=['--use_fast_math'])\n";
  const CodeDescriptor d = DescribeCode(py, Backend::kTorch);
  EXPECT_EQ(d.memory.evidence, "line 5: __shared__ s written (line 6) and read (line 8), with __syncthreads (line 7)");
  EXPECT_EQ(d.compute.evidence, "line 11: fast-math build flag");
  EXPECT_EQ(d.parallelism.level, 1);
}

TEST(DescribeCode, EmptyAndMalformedCodeGiveLevelZeroWithoutFailing) {
  for (Backend b : {Backend::kCuda, Backend::kSycl, Backend::kOpenCl, Backend::kCpu, Backend::kTorch}) {
    EXPECT_EQ(DescribeCode("", b).Levels(), (std::array<int, 3>{0, 0, 0}));
    EXPECT_EQ(DescribeCode("}}} ((( [[[ #if\n#endif\n#endif /* unterminated", b).Levels(), (std::array<int, 3>{0, 0, 0}));
  }
  // Unbalanced code still yields what its tokens show.
  EXPECT_EQ(Cuda("__global__ void k(float* y) { __syncthreads(); y[0] = (1.0f;").parallelism.level, 1);
}

TEST(AxisName, NamesTheThreeAxes) {
  EXPECT_EQ(AxisName(Axis::kMemory), "memory_opt");
  EXPECT_EQ(AxisName(Axis::kCompute), "compute_opt");
  EXPECT_EQ(AxisName(Axis::kParallelism), "parallelism_opt");
}

}  // namespace
}  // namespace kf::search
