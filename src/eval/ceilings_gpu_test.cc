// Runs on a GPU host (ctest -L gpu); skips where nvcc or an NVIDIA GPU is missing.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "core/fs.h"
#include "eval/ceilings.h"
#include "eval/cuda_backend.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

TEST(CudaCeilings, MeasuresSaneNumbersOnceAndThenReadsTheCache) {
  auto toolchain = DetectCudaToolchain();
  if (!toolchain.ok()) GTEST_SKIP() << "no CUDA toolchain or GPU: " << toolchain.error().message;
  auto cache = core::MakeUniqueDir(fs::path(testing::TempDir()) / "kf_ceilings_gpu_test", "cache-");
  ASSERT_TRUE(cache.ok());
  auto first = CudaCeilings(*cache);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  std::cout << "[ ceilings ] " << first->device_name << ": copy " << first->copy_gbps << " GB/s, "
            << first->flops_gflops << " GFLOP/s (" << first->method << ")\n";
  EXPECT_EQ(first->backend, "cuda");
  EXPECT_NE(first->device_id.find("GPU-"), std::string::npos) << first->device_id;
  // Any current data-centre or desktop GPU: 100 GB/s .. 20 TB/s copy, 1 .. 1000 TFLOP/s f32 FMA.
  EXPECT_GE(first->copy_gbps, 100);
  EXPECT_LE(first->copy_gbps, 20000);
  EXPECT_GE(first->flops_gflops, 1000);
  EXPECT_LE(first->flops_gflops, 1e6);
  // Every CUDA GPU since Fermi: 1024 threads and 48 KiB of static shared memory per block.
  EXPECT_EQ(first->max_threads_per_block, 1024);
  EXPECT_EQ(first->max_shared_bytes_per_block, 49152);

  const fs::path file = CeilingsCacheFile(*cache, first->device_id);
  ASSERT_TRUE(fs::exists(file));
  const auto written = fs::last_write_time(file);
  auto second = CudaCeilings(*cache);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->measured_at, first->measured_at);
  EXPECT_EQ(second->flops_gflops, first->flops_gflops);
  EXPECT_EQ(second->max_threads_per_block, first->max_threads_per_block);
  EXPECT_EQ(fs::last_write_time(file), written);
}

}  // namespace
}  // namespace kf::eval
