#include "eval/opencl_platform.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/subprocess.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;
using Env = std::vector<std::pair<std::string, std::string>>;

OpenClDevice Device(int platform, int index, std::string platform_name, std::string name, std::string type) {
  OpenClDevice d;
  d.platform_index = platform;
  d.device_index = index;
  d.platform_name = std::move(platform_name);
  d.name = std::move(name);
  d.type = std::move(type);
  return d;
}

/// A CPU platform listed before a two-GPU platform, as ocl-icd may order them.
std::vector<OpenClDevice> MixedHost() {
  return {Device(0, 0, "Portable Computing Language", "pthread-epyc", "cpu"),
          Device(1, 0, "NVIDIA CUDA", "NVIDIA H100", "gpu"), Device(1, 1, "NVIDIA CUDA", "NVIDIA H200", "gpu")};
}

TEST(OpenClDeviceSelection, DefaultPicksFirstGpuEvenAfterACpu) {
  auto d = SelectOpenClDevice(MixedHost(), "");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->name, "NVIDIA H100");
}

TEST(OpenClDeviceSelection, DefaultPicksFirstDeviceWhenThereIsNoGpu) {
  auto d = SelectOpenClDevice({Device(0, 0, "Intel(R) OpenCL", "Xeon", "cpu"), Device(1, 0, "PoCL", "epyc", "cpu")}, "");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->name, "Xeon");
}

TEST(OpenClDeviceSelection, MatchesPlatformSubstringCaseInsensitively) {
  auto d = SelectOpenClDevice(MixedHost(), "nvidia:1");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->name, "NVIDIA H200");
  auto cpu = SelectOpenClDevice(MixedHost(), "portable:0");
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  EXPECT_EQ(cpu->name, "pthread-epyc");
}

TEST(OpenClDeviceSelection, EmptySubstringMeansFirstPlatform) {
  auto d = SelectOpenClDevice(MixedHost(), ":0");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->name, "pthread-epyc");
}

TEST(OpenClDeviceSelection, RejectsMalformedSelectorsWithTheExpectedForm) {
  for (const char* bad : {"NVIDIA", "NVIDIA:", "NVIDIA:x", "NVIDIA:-1", "NVIDIA:1.5", "NVIDIA:99999999999"}) {
    auto d = SelectOpenClDevice(MixedHost(), bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.error().code, core::ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(d.error().message.find(std::string("KF_OPENCL_DEVICE='") + bad + "'"), std::string::npos)
        << d.error().message;
    EXPECT_NE(d.error().message.find("PLATFORM_SUBSTRING:DEVICE_INDEX"), std::string::npos) << d.error().message;
  }
}

TEST(OpenClDeviceSelection, UnknownPlatformListsThePlatforms) {
  auto d = SelectOpenClDevice(MixedHost(), "AMD:0");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(d.error().message.find("no OpenCL platform name contains 'AMD'"), std::string::npos) << d.error().message;
  EXPECT_NE(d.error().message.find("'Portable Computing Language', 'NVIDIA CUDA'"), std::string::npos)
      << d.error().message;
}

TEST(OpenClDeviceSelection, DeviceIndexOutOfRangeSaysHowManyThereAre) {
  auto d = SelectOpenClDevice(MixedHost(), "NVIDIA:2");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("platform 'NVIDIA CUDA' has 2 device(s) (indices 0 to 1), not 2"), std::string::npos)
      << d.error().message;
}

TEST(OpenClLoaderEnv, VendorLibraryBecomesBothLoaderVariables) {
  const Env env = OpenClLoaderEnv("/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1", "");
  EXPECT_EQ(env, (Env{{"OCL_ICD_VENDORS", "/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1"},
                      {"OCL_ICD_FILENAMES", "/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1"}}));
}

TEST(OpenClLoaderEnv, VendorDirectoryBecomesOclIcdVendors) {
  EXPECT_EQ(OpenClLoaderEnv("", "/opt/icd"), (Env{{"OCL_ICD_VENDORS", "/opt/icd"}}));
  EXPECT_EQ(OpenClLoaderEnv("/x/lib.so", "/opt/icd").front(), (std::pair<std::string, std::string>{"OCL_ICD_VENDORS", "/x/lib.so"}));
  EXPECT_TRUE(OpenClLoaderEnv("", "").empty());
}

/// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  explicit ScopedEnv(const Env& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.push_back({name, old != nullptr ? std::optional<std::string>(old) : std::nullopt});
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_) {
      if (old) {
        ::setenv(name.c_str(), old->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(OpenClChildEnv, CarriesVendorLibraryAndDeviceChoice) {
  ScopedEnv scoped({{"KF_OPENCL_VENDOR_LIB", "/opt/nv/libnvidia-opencl.so.1"}, {"KF_OPENCL_DEVICE", "NVIDIA:1"}});
  ::unsetenv("KF_OPENCL_VENDORS");
  EXPECT_EQ(OpenClChildEnv(), (Env{{"OCL_ICD_VENDORS", "/opt/nv/libnvidia-opencl.so.1"},
                                   {"OCL_ICD_FILENAMES", "/opt/nv/libnvidia-opencl.so.1"},
                                   {"KF_OPENCL_DEVICE", "NVIDIA:1"}}));
}

TEST(OpenClListing, MissingVendorLibraryIsNamedInTheError) {
  ScopedEnv scoped(Env{{"KF_OPENCL_VENDOR_LIB", "/nonexistent/libnvidia-opencl.so.1"}});
  auto devices = ListOpenClDevices();
  ASSERT_FALSE(devices.ok());
  EXPECT_EQ(devices.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(devices.error().message.find("KF_OPENCL_VENDOR_LIB='/nonexistent/libnvidia-opencl.so.1' is not a file"),
            std::string::npos)
      << devices.error().message;
}

TEST(OpenClListing, BothVendorSettingsAreRejected) {
  ScopedEnv scoped({{"KF_OPENCL_VENDOR_LIB", "/bin/sh"}, {"KF_OPENCL_VENDORS", "/tmp"}});
  auto devices = ListOpenClDevices();
  ASSERT_FALSE(devices.ok());
  EXPECT_NE(devices.error().message.find("set only one"), std::string::npos) << devices.error().message;
}

TEST(OpenClListing, FindsTheDevicesOfThisHost) {
  auto devices = ListOpenClDevices();
  if (!devices.ok()) GTEST_SKIP() << "no OpenCL platform here: " << devices.error().message;
  for (const OpenClDevice& d : *devices) {
    SCOPED_TRACE(DescribeOpenClDevice(d));
    EXPECT_FALSE(d.platform_name.empty());
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.compute_units, 0u);
    EXPECT_GT(d.global_mem_bytes, 0u);
    EXPECT_GT(d.max_work_group_size, 0u);
  }
  auto chosen = SelectOpenClDevice(*devices, "");
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
}

/// PoCL's library, when installed (the CPU stand-in for an NVIDIA library without .icd file).
std::string PoclLibrary() {
  for (const char* p : {"/usr/lib/x86_64-linux-gnu/libpocl.so.2", "/usr/lib/aarch64-linux-gnu/libpocl.so.2",
                        "/usr/lib64/libpocl.so.2", "/usr/lib/libpocl.so.2"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

// The loader reads its variables once per process, so each case runs in a fresh process
// (threadsafe death tests re-execute the test binary).
TEST(OpenClListingDeathTest, VendorLibraryFindsAPlatformTheVendorDirectoryLacks) {
  const std::string pocl = PoclLibrary();
  if (pocl.empty()) GTEST_SKIP() << "libpocl.so.2 is not installed (Debian: pocl-opencl-icd)";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string empty_dir = ::testing::TempDir() + "kf_empty_icd_dir";
  fs::create_directories(empty_dir);
  auto count_devices = [&](bool with_vendor_lib) {
    ::setenv("OCL_ICD_VENDORS", empty_dir.c_str(), 1);  // no .icd files: the loader sees nothing
    ::unsetenv("KF_OPENCL_VENDORS");
    if (with_vendor_lib) {
      ::setenv("KF_OPENCL_VENDOR_LIB", pocl.c_str(), 1);
    } else {
      ::unsetenv("KF_OPENCL_VENDOR_LIB");
    }
    auto devices = ListOpenClDevices();
    if (!devices.ok()) {
      std::fprintf(stderr, "error: %s\n", devices.error().message.c_str());
      std::exit(0);
    }
    std::fprintf(stderr, "found %zu: %s\n", devices->size(), DescribeOpenClDevice(devices->front()).c_str());
    std::exit(0);
  };
  EXPECT_EXIT(count_devices(false), ::testing::ExitedWithCode(0), "error: no OpenCL platform found");
  EXPECT_EXIT(count_devices(true), ::testing::ExitedWithCode(0), "found [1-9][0-9]*: \\[0:0\\] Portable Computing Language");
}

// ---- the runner's device layer (src/eval/runner/device_opencl.cc), compiled and run for real

/// A stand-in for runner_main.cc (its helpers, then the device layer, then a shim and a main):
/// a kernel y = 2 * x + s over n floats, run on a mirror of one data region laid out like the
/// harness's (x at 0, y at 4096, guard bytes after y). Mode "overrun" also writes y[n], mode
/// "mutate" also writes x[0] = 42; mode "timing-overrun" runs on timing buffers, whose guard
/// check ends the run.
constexpr const char* kProbeSource = R"(
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>
void kf_call_entry(void* const* buffers, const double* scalars);
namespace {
using KfClock = std::chrono::steady_clock;
double KfMs(KfClock::time_point a, KfClock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }
std::string KfFormat(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}
[[noreturn]] void KfDie(const std::string& why) {
  std::fprintf(stderr, "kfoundry runner: %s\n", why.c_str());
  _exit(2);
}
}  // namespace
#include "device_opencl.cc"

static const char* mode = "";
void kf_call_entry(void* const* b, const double* scalars) {
  static cl_kernel kernel = nullptr;
  cl_context context = KfClContext();
  if (kernel == nullptr) {
    const char* src =
        "kernel void k(global const float* x, global float* y, float s, int n, int extra, int mutate) {"
        "  int i = get_global_id(0); if (i < n + extra) y[i] = 2.0f * x[i] + s;"
        "  if (mutate && i == 0) ((global float*)x)[0] = 42.0f; }";
    cl_device_id device;
    clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr);
    cl_program p = clCreateProgramWithSource(context, 1, &src, nullptr, nullptr);
    if (clBuildProgram(p, 1, &device, "", nullptr, nullptr) != CL_SUCCESS) { std::puts("build failed"); return; }
    kernel = clCreateKernel(p, "k", nullptr);
  }
  float s = static_cast<float>(scalars[2]);
  int n = static_cast<int>(scalars[3]);
  int extra = std::strstr(mode, "overrun") != nullptr, mutate = std::strcmp(mode, "mutate") == 0;
  cl_mem x = static_cast<cl_mem>(b[0]), y = static_cast<cl_mem>(b[1]);
  clSetKernelArg(kernel, 0, sizeof(cl_mem), &x);
  clSetKernelArg(kernel, 1, sizeof(cl_mem), &y);
  clSetKernelArg(kernel, 2, sizeof s, &s);
  clSetKernelArg(kernel, 3, sizeof n, &n);
  clSetKernelArg(kernel, 4, sizeof extra, &extra);
  clSetKernelArg(kernel, 5, sizeof mutate, &mutate);
  size_t global = 1024;
  clEnqueueNDRangeKernel(KfClQueue(), kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr);
}

int main(int argc, char** argv) {
  if (argc > 1) mode = argv[1];
  const int n = 1000;
  const double scalars[4] = {0, 0, 0.5, n};
  KfDeviceInit();
  if (std::strcmp(mode, "timing-overrun") == 0) {
    std::vector<float> x(n, 1.0f);
    void* b[4] = {KfDeviceAlloc(n * 4), KfDeviceAlloc(n * 4), nullptr, nullptr};
    KfDeviceUpload(b[0], x.data(), n * 4);
    KfDeviceFlush({});
    KfDeviceCall(b, scalars);
    KfDeviceFree(b[1]);
    KfDeviceFree(b[0]);
    std::puts("timing buffers freed");
    return 0;
  }
  for (int round = 0; round < 2; ++round) {
    std::vector<unsigned char> region(8192 + 256, 0xEE);
    float* x = reinterpret_cast<float*>(region.data());
    float* y = reinterpret_cast<float*>(region.data() + 4096);
    for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 17) - 8.0f + round;
    for (int i = 0; i < n; ++i) y[i] = NAN;
    void* mirror = KfDeviceMirror(region.data(), region.size());
    void* b[4] = {KfDeviceView(mirror, 0, n * 4, 0), KfDeviceView(mirror, 4096, n * 4, 256), nullptr, nullptr};
    KfDeviceFlush({});
    const double ms = KfDeviceCall(b, scalars);
    KfDeviceWriteBack(region.data(), mirror, region.size());
    KfDeviceFreeMirror(mirror);
    int bad = 0;
    for (int i = 0; i < n; ++i) bad += y[i] != 2.0f * (static_cast<float>(i % 17) - 8.0f + round) + 0.5f;
    const bool guard_intact = region[4096 + n * 4] == 0xEE;
    std::printf("round %d: %d wrong, x[0]=%g, guard %s, %.3f ms\n", round, bad, x[0], guard_intact ? "intact" : "changed", ms);
  }
  return 0;
}
)";

class DeviceOpenClTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto devices = ListOpenClDevices();
    if (!devices.ok()) {
      skip_reason_ = "no OpenCL platform here: " + devices.error().message;
      return;
    }
    devices_ = *devices;
    auto dir = core::MakeUniqueDir(fs::path(::testing::TempDir()), "kf_device_opencl");
    ASSERT_TRUE(dir.ok()) << dir.error().message;
    dir_ = *dir;
    ASSERT_TRUE(core::WriteFileAtomic(dir_ / "probe.cc", kProbeSource).ok());
    core::SubprocessSpec spec;
    spec.argv = {"g++", "-std=c++20", "-O1", "-Wall", "-Wextra", "-Werror",
                 "-I" + std::string(KF_SOURCE_DIR) + "/src/eval/runner", "probe.cc", "-o", "probe", "-lOpenCL", "-ldl"};
    spec.working_dir = dir_;
    spec.limits.wall_timeout = std::chrono::seconds(120);
    auto compiled = core::RunSandboxed(spec);
    ASSERT_TRUE(compiled.ok()) << compiled.error().message;
    ASSERT_TRUE(compiled->Succeeded()) << compiled->Describe() << "\n" << compiled->stderr_text;
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }

  static core::SubprocessResult RunProbe(const std::string& mode, Env env = {}) {
    core::SubprocessSpec spec;
    spec.argv = {(dir_ / "probe").string(), mode};
    spec.working_dir = dir_;
    // What the evaluator gives every runner (the vendor library or ICD directory the user
    // named), then the test's own settings, which win.
    spec.env = OpenClChildEnv();
    spec.env.insert(spec.env.end(), env.begin(), env.end());
    spec.limits.wall_timeout = std::chrono::seconds(120);
    spec.limits.address_space_bytes = 0;  // GPU drivers reserve huge ranges, as for the evaluator's runners
    auto run = core::RunSandboxed(spec);
    KF_CHECK(run.ok()) << run.error().message;
    return *run;
  }

  static inline std::string skip_reason_;
  static inline std::vector<OpenClDevice> devices_;
  static inline fs::path dir_;
};

TEST_F(DeviceOpenClTest, RunsTheEntryAndReadsEveryOutputBack) {
  const core::SubprocessResult r = RunProbe("plain", {{"KF_OPENCL_DEVICE", ""}});
  ASSERT_TRUE(r.Succeeded()) << r.Describe() << "\n" << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("round 0: 0 wrong, x[0]=-8, guard intact,"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("round 1: 0 wrong, x[0]=-7, guard intact,"), std::string::npos) << r.stdout_text;
}

TEST_F(DeviceOpenClTest, ChoosesTheSameDeviceAsTheParent) {
  auto expected = SelectOpenClDevice(devices_, "");
  ASSERT_TRUE(expected.ok()) << expected.error().message;
  const core::SubprocessResult r = RunProbe("plain", {{"KF_OPENCL_DEVICE", ""}});
  ASSERT_TRUE(r.Succeeded()) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("opencl device: " + expected->platform_name + " / " + expected->name), std::string::npos)
      << r.stderr_text;
  const OpenClDevice& last = devices_.back();
  const std::string selector = last.platform_name.substr(0, 4) + ":" + std::to_string(last.device_index);
  auto named = SelectOpenClDevice(devices_, selector);
  ASSERT_TRUE(named.ok()) << named.error().message;
  const core::SubprocessResult n = RunProbe("plain", {{"KF_OPENCL_DEVICE", selector}});
  ASSERT_TRUE(n.Succeeded()) << n.stderr_text;
  EXPECT_NE(n.stderr_text.find("opencl device: " + named->platform_name + " / " + named->name), std::string::npos)
      << n.stderr_text;
}

TEST_F(DeviceOpenClTest, MutatedInputsComeBackToTheHost) {
  const core::SubprocessResult r = RunProbe("mutate", {{"KF_OPENCL_DEVICE", ""}});
  ASSERT_TRUE(r.Succeeded()) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("round 0: 0 wrong, x[0]=42,"), std::string::npos) << r.stdout_text;
}

TEST_F(DeviceOpenClTest, WritingPastAnArgumentReachesTheHostGuardBytes) {
  const core::SubprocessResult r = RunProbe("overrun", {{"KF_OPENCL_DEVICE", ""}});
  ASSERT_TRUE(r.Succeeded()) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("round 0: 0 wrong, x[0]=-8, guard changed,"), std::string::npos) << r.stdout_text;
}

TEST_F(DeviceOpenClTest, WritingPastATimingBufferEndsTheRun) {
  const core::SubprocessResult r = RunProbe("timing-overrun", {{"KF_OPENCL_DEVICE", ""}});
  EXPECT_EQ(r.exit_code, 2) << r.Describe() << "\n" << r.stdout_text;
  EXPECT_NE(r.stderr_text.find("opencl: the kernel wrote past the end of an argument (a buffer of 4000 bytes)"),
            std::string::npos)
      << r.stderr_text;
}

TEST_F(DeviceOpenClTest, BadDeviceSelectorsEndTheRunWithTheReason) {
  const core::SubprocessResult unknown = RunProbe("plain", {{"KF_OPENCL_DEVICE", "no-such-platform:0"}});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.Describe();
  EXPECT_NE(unknown.stderr_text.find("no OpenCL platform name contains 'no-such-platform'; the platforms are '" +
                                     devices_.front().platform_name + "'"),
            std::string::npos)
      << unknown.stderr_text;
  const core::SubprocessResult malformed = RunProbe("plain", {{"KF_OPENCL_DEVICE", "gpu0"}});
  EXPECT_EQ(malformed.exit_code, 2) << malformed.Describe();
  EXPECT_NE(malformed.stderr_text.find("KF_OPENCL_DEVICE='gpu0' is malformed"), std::string::npos)
      << malformed.stderr_text;
  const core::SubprocessResult range = RunProbe("plain", {{"KF_OPENCL_DEVICE", ":99"}});
  EXPECT_EQ(range.exit_code, 2) << range.Describe();
  EXPECT_NE(range.stderr_text.find("device(s), not 99"), std::string::npos) << range.stderr_text;
}

}  // namespace
}  // namespace kf::eval
