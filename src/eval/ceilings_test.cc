#include "eval/ceilings.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/fs.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

fs::path FreshCacheDir() {
  auto dir = core::MakeUniqueDir(fs::path(testing::TempDir()) / "kf_ceilings_test", "cache-");
  KF_CHECK(dir.ok()) << dir.error().ToString();
  return *dir;
}

DeviceCeilings Synthetic(std::string backend, std::string id) {
  return {.backend = std::move(backend), .device_id = std::move(id), .device_name = "Test Device", .copy_gbps = 42.5,
          .flops_gflops = 1234.5, .method = "synthetic", .measured_at = "2025-01-01T00:00:00Z"};
}

TEST(CpuCeilings, MeasuresSaneNumbersOnceAndThenReadsTheCache) {
  const fs::path cache = FreshCacheDir();
  // Two threads at once: one measures, the other waits and reads its result.
  core::Expected<DeviceCeilings> first = core::MakeError(core::ErrorCode::kInternal, "not run");
  core::Expected<DeviceCeilings> concurrent = first;
  std::thread other([&] { concurrent = CpuCeilings(cache); });
  first = CpuCeilings(cache);
  other.join();
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  ASSERT_TRUE(concurrent.ok()) << concurrent.error().ToString();
  EXPECT_EQ(first->measured_at, concurrent->measured_at);
  EXPECT_EQ(first->backend, "cpu");
  EXPECT_GE(first->copy_gbps, 1) << first->method;
  EXPECT_LE(first->copy_gbps, 500) << first->method;
  EXPECT_GE(first->flops_gflops, 1) << first->method;
  EXPECT_LE(first->flops_gflops, 10000) << first->method;
  EXPECT_NE(first->device_id.find(first->device_name), std::string::npos) << first->device_id;
  EXPECT_NE(first->method.find("FMA"), std::string::npos) << first->method;

  const fs::path file = CeilingsCacheFile(cache, first->device_id);
  ASSERT_TRUE(fs::exists(file));
  const auto written = fs::last_write_time(file);
  const auto start = std::chrono::steady_clock::now();
  auto second = CpuCeilings(cache);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->measured_at, first->measured_at);
  EXPECT_EQ(second->copy_gbps, first->copy_gbps);
  EXPECT_EQ(fs::last_write_time(file), written);
  EXPECT_LT(elapsed, std::chrono::milliseconds(200)) << "the second call ran the probe again";

  auto listed = CachedCeilings(cache);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].device_id, first->device_id);
}

TEST(CpuCeilings, MeasuresAgainWhenTheCacheFileIsCorrupt) {
  const fs::path cache = FreshCacheDir();
  auto measured = CpuCeilings(cache);
  ASSERT_TRUE(measured.ok()) << measured.error().ToString();
  const fs::path file = CeilingsCacheFile(cache, measured->device_id);
  ASSERT_TRUE(core::WriteFileAtomic(file, "{\"copy_gbps\": 1e9").ok());
  auto again = CpuCeilings(cache);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_GT(again->copy_gbps, 0);
  auto text = core::ReadFile(file);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\"device_id\""), std::string::npos) << *text;
}

TEST(DeviceCeilingsJson, RoundTripsAndNamesABadField) {
  DeviceCeilings c = Synthetic("cuda", "cuda|Test|GPU-1|0000:01:00.0");
  auto back = DeviceCeilings::FromJson(core::Json::parse(c.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->backend, c.backend);
  EXPECT_EQ(back->device_id, c.device_id);
  EXPECT_EQ(back->device_name, c.device_name);
  EXPECT_EQ(back->copy_gbps, c.copy_gbps);
  EXPECT_EQ(back->flops_gflops, c.flops_gflops);
  EXPECT_EQ(back->method, c.method);
  EXPECT_EQ(back->measured_at, c.measured_at);

  core::Json j = c.ToJson();
  j["flops_gflops"] = -1;
  auto bad = DeviceCeilings::FromJson(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("'flops_gflops' must be a positive number"), std::string::npos);
  j = c.ToJson();
  j.erase("device_id");
  bad = DeviceCeilings::FromJson(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("'device_id'"), std::string::npos);
}

TEST(CachedCeilings, ListsEveryDeviceSortedAndSkipsBrokenFiles) {
  const fs::path cache = FreshCacheDir();
  for (const DeviceCeilings& c : {Synthetic("cuda", "cuda|B"), Synthetic("cpu", "cpu|A"), Synthetic("cuda", "cuda|A")}) {
    ASSERT_TRUE(core::WriteFileAtomic(CeilingsCacheFile(cache, c.device_id), c.ToJson().dump()).ok());
  }
  ASSERT_TRUE(core::WriteFileAtomic(cache / "ceilings" / "broken.json", "not json").ok());
  ASSERT_TRUE(core::WriteFileAtomic(cache / "ceilings" / "notes.txt", "ignored").ok());
  auto listed = CachedCeilings(cache);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].device_id, "cpu|A");
  EXPECT_EQ(listed[1].device_id, "cuda|A");
  EXPECT_EQ(listed[2].device_id, "cuda|B");
  EXPECT_TRUE(CachedCeilings(cache / "nowhere").empty());
}

TEST(OpenClCeilings, MeasuresTheSelectedDeviceOnce) {
  const fs::path cache = FreshCacheDir();
  auto first = OpenClCeilings(cache);
  if (!first.ok() && first.error().code == core::ErrorCode::kToolchain) GTEST_SKIP() << first.error().message;
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->backend, "opencl");
  EXPECT_GT(first->copy_gbps, 0.5) << first->method;
  EXPECT_GT(first->flops_gflops, 0.5) << first->method;
  EXPECT_GT(first->compute_units, 0);
  EXPECT_NE(first->method.find("clEnqueueCopyBuffer"), std::string::npos);
  auto second = CeilingsFor(task::Backend::kOpenCl, cache);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->measured_at, first->measured_at) << "read from the cache, not measured again";
}

TEST(CeilingsFor, SaysWhichBackendsHaveNoProbe) {
  auto c = CeilingsFor(task::Backend::kTorch, FreshCacheDir());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, core::ErrorCode::kToolchain);
  EXPECT_NE(c.error().message.find("no ceilings probe for backend 'torch'"), std::string::npos) << c.error().message;
}

}  // namespace
}  // namespace kf::eval
