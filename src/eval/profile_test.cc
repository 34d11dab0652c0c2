#include "eval/profile.h"

#include <gtest/gtest.h>

namespace kf::eval {
namespace {

// The shape of `ncu --csv --page raw --print-units base` output: tool notes, a header, a units
// row, then one row per launch (numbers may carry thousands separators).
constexpr const char* kNcuCsv =
    "==PROF== Connected to process 4242 (/tmp/runner)\n"
    "==PROF== Profiling \"scale_kernel\" - 0: 0%....50%....100% - 9 passes\n"
    "\"ID\",\"Process ID\",\"Process Name\",\"Host Name\",\"Kernel Name\",\"Context\",\"Stream\",\"Block Size\","
    "\"Grid Size\",\"Device\",\"CC\",\"dram__throughput.avg.pct_of_peak_sustained_elapsed\","
    "\"gpu__time_duration.sum\",\"launch__registers_per_thread\",\"launch__shared_mem_per_block_dynamic\","
    "\"launch__shared_mem_per_block_static\",\"sm__throughput.avg.pct_of_peak_sustained_elapsed\","
    "\"sm__warps_active.avg.pct_of_peak_sustained_active\"\n"
    "\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"%\",\"nsecond\",\"register/thread\",\"byte/block\","
    "\"byte/block\",\"%\",\"%\"\n"
    "\"0\",\"4242\",\"runner\",\"127.0.0.1\",\"scale_kernel(const float *, float *, int)\",\"1\",\"7\",\"(256, 1, 1)\","
    "\"(4096, 1, 1)\",\"0\",\"9.0\",\"88.41\",\"12,480\",\"16\",\"0\",\"0\",\"21.5\",\"81.2\"\n"
    "\"1\",\"4242\",\"runner\",\"127.0.0.1\",\"reduce_kernel(float *)\",\"1\",\"7\",\"(1024, 1, 1)\",\"(1, 1, 1)\","
    "\"0\",\"9.0\",\"0.5\",\"3200\",\"32\",\"4096\",\"128\",\"1.2\",\"3.1\"\n";

TEST(ParseNcuCsv, ReadsOneProfilePerLaunchInBaseUnits) {
  auto kernels = ParseNcuCsv(kNcuCsv);
  ASSERT_TRUE(kernels.ok()) << kernels.error().ToString();
  ASSERT_EQ(kernels->size(), 2u);
  const KernelProfile& a = (*kernels)[0];
  EXPECT_EQ(a.kernel_name, "scale_kernel(const float *, float *, int)");
  EXPECT_DOUBLE_EQ(a.duration_us, 12.48);
  EXPECT_DOUBLE_EQ(a.dram_throughput_pct, 88.41);
  EXPECT_DOUBLE_EQ(a.compute_throughput_pct, 21.5);
  EXPECT_DOUBLE_EQ(a.achieved_occupancy_pct, 81.2);
  EXPECT_EQ(a.registers_per_thread, 16);
  EXPECT_EQ(a.block_size, "(256, 1, 1)");
  EXPECT_EQ((*kernels)[1].shared_memory_bytes, 4096 + 128);
}

TEST(ParseNcuCsv, OutputWithoutAHeaderIsAnError) {
  auto kernels = ParseNcuCsv("==PROF== Connected to process 1\n==ERROR== ERR_NVGPUCTRPERM\n");
  ASSERT_FALSE(kernels.ok());
  EXPECT_NE(kernels.error().message.find("Kernel Name"), std::string::npos);
}

TEST(ProfileFeedback, PutsTheSlowestLaunchFirstAndNamesWhatBoundsIt) {
  auto kernels = ParseNcuCsv(kNcuCsv);
  ASSERT_TRUE(kernels.ok());
  std::string text = ProfileFeedback(*kernels);
  EXPECT_LT(text.find("scale_kernel"), text.find("reduce_kernel"));
  EXPECT_NE(text.find("memory-bound"), std::string::npos) << text;
  EXPECT_NE(text.find("latency-bound"), std::string::npos) << text;
}

TEST(NcuCommand, ProfilesEveryLaunchOfTheRunnerWithTheFixedMetrics) {
  auto argv = NcuCommand("/usr/local/cuda/bin/ncu", {"./runner", "plan", "data"});
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv.front(), "/usr/local/cuda/bin/ncu");
  EXPECT_EQ(argv[argv.size() - 3], "./runner");
  std::string all;
  for (const auto& a : argv) all += a + " ";
  for (const auto& m : NcuMetricNames()) EXPECT_NE(all.find(m), std::string::npos) << m;
  EXPECT_NE(all.find("--page raw"), std::string::npos);
}

TEST(ParseSanitizerOutput, CountsErrorsAndKeepsTheReport) {
  const char* memcheck =
      "kernel says hello\n"
      "========= COMPUTE-SANITIZER\n"
      "========= Invalid __global__ write of size 4 bytes\n"
      "=========     at scale_kernel(const float *, float *, int)+0x70\n"
      "=========     Address 0x7f0000001000 is out of bounds\n"
      "========= \n"
      "========= ERROR SUMMARY: 1 error\n";
  SanitizerReport r = ParseSanitizerOutput(memcheck);
  EXPECT_EQ(r.errors, 1);
  EXPECT_NE(r.report.find("Invalid __global__ write"), std::string::npos);
  EXPECT_EQ(r.report.find("kernel says hello"), std::string::npos);
  EXPECT_EQ(ParseSanitizerOutput("========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n").errors, 0);
  EXPECT_EQ(ParseSanitizerOutput("Segmentation fault\n").errors, -1) << "no summary: the tool did not finish";
  EXPECT_EQ(ParseSanitizerOutput("========= Error: Race reported between Write access at scale_kernel+0x40\n"
                                 "========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)\n")
                .errors,
            1);
}

}  // namespace
}  // namespace kf::eval
