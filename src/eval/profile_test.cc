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

TEST(ParseSanitizerOutput, CountsComputeSanitizerErrorsAndKeepsTheReport) {
  const char* memcheck =
      "kernel says hello\n"
      "========= COMPUTE-SANITIZER\n"
      "========= Invalid __global__ write of size 4 bytes\n"
      "=========     at scale_kernel(const float *, float *, int)+0x70\n"
      "=========     Address 0x7f0000001000 is out of bounds\n"
      "========= \n"
      "========= ERROR SUMMARY: 1 error\n";
  SanitizerReport r = ParseSanitizerOutput(SanitizerTool::kMemcheck, memcheck);
  EXPECT_EQ(r.errors, 1);
  EXPECT_NE(r.report.find("Invalid __global__ write"), std::string::npos);
  EXPECT_EQ(r.report.find("kernel says hello"), std::string::npos);
  EXPECT_EQ(ParseSanitizerOutput(SanitizerTool::kMemcheck,
                                 "========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n")
                .errors,
            0);
  EXPECT_EQ(ParseSanitizerOutput(SanitizerTool::kMemcheck, "Segmentation fault\n").errors, -1)
      << "no summary: the tool did not finish";
  EXPECT_EQ(ParseSanitizerOutput(SanitizerTool::kRacecheck,
                                 "========= Error: Race reported between Write access at scale_kernel+0x40\n"
                                 "========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)\n")
                .errors,
            1);
}

// Real oclgrind 21.10 output (stderr of `oclgrind --data-races --check-api --max-errors 3`) for
// tests/cases_opencl/race_passes_by_luck, after the runner's own line.
constexpr const char* kOclgrindRace =
    "kfoundry runner: opencl device: Oclgrind / Oclgrind Simulator\n"
    "\n"
    "Read-write data race at local memory address 0x1000000000004\n"
    "\tKernel: row_sum\n"
    "\t\n"
    "\tFirst entity:  Global(3,0,0) Local(3,0,0) Group(0,0,0)\n"
    "\t  %1 = load float, float addrspace(3)* %arrayidx13, align 4, !dbg !68, !tbaa !44\n"
    "\tAt line 9 (column 53) of input.cl:\n"
    "\t  if ((lane + 1) % (2 * s) == 0) partial[lane] += partial[lane - s];\n"
    "\t\n"
    "\tSecond entity: Global(1,0,0) Local(1,0,0) Group(0,0,0)\n"
    "\t  store float %add16, float addrspace(3)* %arrayidx5, align 4, !dbg !69, !tbaa !44\n"
    "\tAt line 9 (column 50) of input.cl:\n"
    "\t  if ((lane + 1) % (2 * s) == 0) partial[lane] += partial[lane - s];\n"
    "\t\n"
    "\n"
    "Read-write data race at local memory address 0x100000000000c\n"
    "\tKernel: row_sum\n"
    "\t\n"
    "\tFirst entity:  Global(7,0,0) Local(7,0,0) Group(0,0,0)\n"
    "\t  %1 = load float, float addrspace(3)* %arrayidx13, align 4, !dbg !68, !tbaa !44\n"
    "\tAt line 9 (column 53) of input.cl:\n"
    "\t  if ((lane + 1) % (2 * s) == 0) partial[lane] += partial[lane - s];\n"
    "\t\n"
    "\tSecond entity: Global(3,0,0) Local(3,0,0) Group(0,0,0)\n"
    "\t  store float %add16, float addrspace(3)* %arrayidx5, align 4, !dbg !69, !tbaa !44\n"
    "\tAt line 9 (column 50) of input.cl:\n"
    "\t  if ((lane + 1) % (2 * s) == 0) partial[lane] += partial[lane - s];\n"
    "\t\n"
    "\n"
    "Read-write data race at local memory address 0x1000000000014\n"
    "\tKernel: row_sum\n"
    "\t\n"
    "\tFirst entity:  Global(7,0,0) Local(7,0,0) Group(0,0,0)\n"
    "\t  %1 = load float, float addrspace(3)* %arrayidx13, align 4, !dbg !68, !tbaa !44\n"
    "\tAt line 9 (column 53) of input.cl:\n"
    "\t  if ((lane + 1) % (2 * s) == 0) partial[lane] += partial[lane - s];\n"
    "\t\n"
    "\tSecond entity: Global(5,0,0) Local(5,0,0) Group(0,0,0)\n"
    "\t  store float %add16, float addrspace(3)* %arrayidx5, align 4, !dbg !69, !tbaa !44\n"
    "\tAt line 9 (column 50) of input.cl:\n"
    "\t  if ((lane + 1) % (2 * s) == 0) partial[lane] += partial[lane - s];\n"
    "\t\n"
    "\n"
    "Oclgrind: 3 errors generated - suppressing further errors\n"
    "\n"
    "\n";

TEST(ParseSanitizerOutput, CountsOclgrindRacesAndShowsEachKindOnceWithItsSourceLine) {
  SanitizerReport r = ParseSanitizerOutput(SanitizerTool::kOclgrind, kOclgrindRace);
  EXPECT_EQ(r.errors, 3);
  const std::string headline = "Read-write data race at local memory address 0x1000000000004";
  ASSERT_NE(r.report.find(headline), std::string::npos) << r.report;
  EXPECT_EQ(r.report.find("Read-write data race", r.report.find(headline) + 1), std::string::npos)
      << "the three reports differ only in address and work-items:\n" << r.report;
  EXPECT_NE(r.report.find("(2 more like it)"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("First entity:  Global(3,0,0) Local(3,0,0) Group(0,0,0)"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("At line 9 (column 53) of input.cl:\n    if ((lane + 1) % (2 * s) == 0)"), std::string::npos)
      << r.report;
  EXPECT_EQ(r.report.find("!dbg"), std::string::npos) << "LLVM IR lines are left out:\n" << r.report;
  EXPECT_EQ(r.report.find("kfoundry runner"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("stopped reporting after 3 errors"), std::string::npos) << r.report;
}

TEST(ParseSanitizerOutput, CountsOclgrindInvalidReads) {
  // Real output for tests/cases_opencl/reads_past_end_of_input (two of its 14 reports).
  const char* text =
      "kfoundry runner: opencl device: Oclgrind / Oclgrind Simulator\n"
      "\n"
      "Invalid read of size 4 at global memory address 0x10000000004b0\n"
      "\tKernel: row_sum\n"
      "\tEntity: Global(370,0,0) Local(50,0,0) Group(5,0,0)\n"
      "\t  %0 = load float, float addrspace(1)* %arrayidx, align 4, !dbg !42, !tbaa !43\n"
      "\tAt line 6 (column 19) of input.cl:\n"
      "\t  const float v = x[row * cols + lane];\n"
      "\t\n"
      "\n"
      "Invalid read of size 4 at global memory address 0x10000000004b4\n"
      "\tKernel: row_sum\n"
      "\tEntity: Global(371,0,0) Local(51,0,0) Group(5,0,0)\n"
      "\t  %0 = load float, float addrspace(1)* %arrayidx, align 4, !dbg !42, !tbaa !43\n"
      "\tAt line 6 (column 19) of input.cl:\n"
      "\t  const float v = x[row * cols + lane];\n"
      "\t\n";
  SanitizerReport r = ParseSanitizerOutput(SanitizerTool::kOclgrind, text);
  EXPECT_EQ(r.errors, 2);
  EXPECT_EQ(r.report,
            "Invalid read of size 4 at global memory address 0x10000000004b0\n"
            "  Kernel: row_sum\n"
            "  Entity: Global(370,0,0) Local(50,0,0) Group(5,0,0)\n"
            "  At line 6 (column 19) of input.cl:\n"
            "    const float v = x[row * cols + lane];\n"
            "  (1 more like it)\n");
}

TEST(ParseSanitizerOutput, KeepsDifferentOclgrindApiErrorsApart) {
  // Real `--check-api` output for a host program that passed 8 bytes for an int argument; its
  // own lines come first and last.
  const char* text =
      "1 platforms, first Oclgrind\n"
      "\n"
      "Oclgrind - OpenCL runtime error detected\n"
      "\tFunction: clSetKernelArg\n"
      "\tError:    CL_INVALID_ARG_SIZE\n"
      "\targ_size is 8, but argument should be 4 bytes\n"
      "\n"
      "\n"
      "Oclgrind - OpenCL runtime error detected\n"
      "\tFunction: clEnqueueNDRangeKernel\n"
      "\tError:    CL_INVALID_KERNEL_ARGS\n"
      "\tNot all kernel arguments set\n"
      "\n"
      "clEnqueueNDRangeKernel(q, k, 1, nullptr, &g, &l, 0, nullptr, nullptr) -> -52\n"
      "\n";
  SanitizerReport r = ParseSanitizerOutput(SanitizerTool::kOclgrind, text);
  EXPECT_EQ(r.errors, 2);
  EXPECT_NE(r.report.find("Function: clSetKernelArg\n  Error:    CL_INVALID_ARG_SIZE"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("Function: clEnqueueNDRangeKernel"), std::string::npos) << r.report;
  EXPECT_EQ(r.report.find("1 platforms"), std::string::npos) << r.report;
  EXPECT_EQ(r.report.find("-> -52"), std::string::npos) << r.report;
}

TEST(ParseSanitizerOutput, CleanOclgrindRunHasNoErrors) {
  SanitizerReport r = ParseSanitizerOutput(SanitizerTool::kOclgrind,
                                           "kfoundry runner: opencl device: Oclgrind / Oclgrind Simulator\n"
                                           "kernel says hello\n\tindented, but not after a blank line\n");
  EXPECT_EQ(r.errors, 0);
  EXPECT_EQ(r.report, "");
}

TEST(SanitizerToolsFor, RunsComputeSanitizerForCudaAndOclgrindForOpenCl) {
  EXPECT_EQ(SanitizerToolsFor(task::Backend::kCuda),
            (std::vector<SanitizerTool>{SanitizerTool::kMemcheck, SanitizerTool::kRacecheck}));
  EXPECT_EQ(SanitizerToolsFor(task::Backend::kOpenCl), std::vector<SanitizerTool>{SanitizerTool::kOclgrind});
  EXPECT_TRUE(SanitizerToolsFor(task::Backend::kCpu).empty());
  EXPECT_EQ(SanitizerExecutable(SanitizerTool::kRacecheck), "compute-sanitizer");
  EXPECT_EQ(SanitizerExecutable(SanitizerTool::kOclgrind), "oclgrind");
}

TEST(SanitizerCommand, WrapsTheRunnerInOclgrindWithRaceAndApiChecksOnTheOclgrindDevice) {
  auto argv = SanitizerCommand("/usr/bin/oclgrind", SanitizerTool::kOclgrind, {"./runner", "plan", "data"});
  std::string all;
  for (const auto& a : argv) all += a + " ";
  EXPECT_EQ(argv.front(), "/usr/bin/oclgrind");
  EXPECT_EQ(argv[argv.size() - 3], "./runner");
  EXPECT_NE(all.find("--data-races"), std::string::npos) << all;
  EXPECT_NE(all.find("--check-api"), std::string::npos) << all;
  EXPECT_NE(all.find("--max-errors"), std::string::npos) << all;
  // The runner must select oclgrind's platform even where KF_OPENCL_DEVICE names another.
  auto env = SanitizerEnv(SanitizerTool::kOclgrind);
  ASSERT_EQ(env.size(), 1u);
  EXPECT_EQ(env[0].first, "KF_OPENCL_DEVICE");
  EXPECT_EQ(env[0].second, "Oclgrind:0");
  EXPECT_TRUE(SanitizerEnv(SanitizerTool::kMemcheck).empty());
  auto racecheck = SanitizerCommand("compute-sanitizer", SanitizerTool::kRacecheck, {"./runner"});
  all.clear();
  for (const auto& a : racecheck) all += a + " ";
  EXPECT_NE(all.find("--tool racecheck"), std::string::npos) << all;
  EXPECT_NE(all.find("--racecheck-report hazard"), std::string::npos) << all;
}

}  // namespace
}  // namespace kf::eval
