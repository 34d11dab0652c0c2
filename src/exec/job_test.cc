#include "exec/job.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fmt/format.h>

#include "core/fs.h"

namespace kf::exec {
namespace {
namespace fs = std::filesystem;

Job SampleJob() {
  Job j;
  j.task_hash = std::string(64, 'a');
  j.target = "cuda-sm90";
  j.source = "__global__ void k() {}";
  j.settings.timeout_seconds = 12.5;
  j.settings.seed = 18446744073709551557ULL;  // above 2^63: travels as a string
  j.id = JobId("run1", j.task_hash, j.target, j.source, j.settings);
  return j;
}

TEST(Job, RoundTripsAndKeepsItsIdStable) {
  const Job j = SampleJob();
  auto back = Job::Parse(j.ToJson().dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->id, j.id);
  EXPECT_EQ(back->source, j.source);
  EXPECT_EQ(back->settings.seed, j.settings.seed);
  EXPECT_EQ(back->settings.timeout_seconds, 12.5);
  EXPECT_EQ(JobId("run1", j.task_hash, j.target, j.source, j.settings), j.id);
  EXPECT_NE(JobId("run1", j.task_hash, j.target, j.source + " ", j.settings), j.id);
  EXPECT_NE(JobId("run1", j.task_hash, "cuda-sm80", j.source, j.settings), j.id);
  EXPECT_NE(JobId("run1", std::string(64, 'b'), j.target, j.source, j.settings), j.id);
  EXPECT_EQ(j.id.rfind("run1:cuda-sm90:", 0), 0u);
}

TEST(Job, MalformedPayloadsAreRefusedSayingWhat) {
  auto expect_refused = [](const std::string& text, const std::string& says) {
    auto r = Job::Parse(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find(says), std::string::npos) << r.error().message;
  };
  core::Json good = SampleJob().ToJson();
  expect_refused("not json", "a job");
  expect_refused("[1,2]", "not a JSON object");
  core::Json j = good;
  j.erase("source");
  expect_refused(j.dump(), "\"source\"");
  j = good;
  j["source"] = 42;
  expect_refused(j.dump(), "\"source\" is a number");
  j = good;
  j["target"] = "cuda sm90; rm -rf /";
  expect_refused(j.dump(), "hardware tag");
  j = good;
  j["task"] = "../../etc/passwd";
  expect_refused(j.dump(), "sha256");
  j = good;
  j["source"] = std::string(kMaxSourceBytes + 1, 'x');
  expect_refused(j.dump(), "limit");
  j = good;
  j["settings"]["timeout_seconds"] = -1;
  expect_refused(j.dump(), "timeout_seconds");
  j = good;
  j["settings"]["seed"] = "12x";
  expect_refused(j.dump(), "seed");
}

TEST(TaskPackage, PacksUnpacksAndRefusesTamperedOrEscapingFiles) {
  auto dir = core::MakeUniqueDir(fs::temp_directory_path(), "kf-pkg-test-");
  ASSERT_TRUE(dir.ok());
  const fs::path src = fs::path(KF_SOURCE_DIR) / "examples" / "gelu";
  auto task = task::LoadTask(src);
  ASSERT_TRUE(task.ok()) << task.error().message;
  auto pkg = PackTask(*task);
  ASSERT_TRUE(pkg.ok()) << pkg.error().message;
  EXPECT_TRUE(pkg->files.count("task.yaml"));
  EXPECT_TRUE(pkg->files.count("reference.cpp"));
  auto again = PackTask(*task);
  EXPECT_EQ(again->hash, pkg->hash);

  auto parsed = TaskPackage::FromJson(pkg->ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto unpacked = UnpackTask(*parsed, *dir);
  ASSERT_TRUE(unpacked.ok()) << unpacked.error().message;
  EXPECT_EQ(unpacked->content_hash, task->content_hash);
  EXPECT_EQ(unpacked->dir, fs::canonical(*dir / pkg->hash));
  auto twice = UnpackTask(*parsed, *dir);  // already there: loaded as it is
  ASSERT_TRUE(twice.ok());

  core::Json tampered = pkg->ToJson();
  tampered["files"]["reference.cpp"] = core::Base64Encode("int main() {}");
  EXPECT_FALSE(TaskPackage::FromJson(tampered).ok());
  for (const char* path : {"../evil.cpp", "/etc/passwd", "a/../../b", ".hidden", "a//b", "sp ace.cpp"}) {
    core::Json escaping = pkg->ToJson();
    escaping["files"][path] = "eA==";
    auto r = TaskPackage::FromJson(escaping);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_NE(r.error().message.find("not allowed"), std::string::npos) << r.error().message;
  }
  fs::remove_all(*dir);
}

eval::EvalResult Passed(std::vector<double> speedups, double ms) {
  eval::EvalResult r;
  r.status = eval::Status::kPassed;
  for (std::size_t i = 0; i < speedups.size(); ++i) {
    eval::ShapeTiming t;
    t.shape_label = fmt::format("n={}", i);
    t.speedup = speedups[i];
    t.median_ms = ms;
    r.timings.push_back(t);
  }
  return r;
}

TEST(CombineTargets, GeometricMeanOverTargetAndShapePairsAndEveryTargetMustPass) {
  auto one = CombineTargets({{"cuda-sm90", Passed({2, 8}, 1)}});
  EXPECT_EQ(one.timings.size(), 2u);  // a single target is left as it is
  auto both = CombineTargets({{"cuda-sm90", Passed({2, 8}, 1)}, {"cuda-sm80", Passed({4}, 8)}});
  EXPECT_EQ(both.status, eval::Status::kPassed);
  EXPECT_NEAR(both.speedup, std::cbrt(2.0 * 8.0 * 4.0), 1e-9);  // over 3 (target, shape) pairs
  EXPECT_NEAR(both.median_ms, std::cbrt(1.0 * 1.0 * 8.0), 1e-9);
  ASSERT_EQ(both.timings.size(), 3u);
  EXPECT_EQ(both.timings[2].shape_label, "cuda-sm80 n=0");

  eval::EvalResult wrong;
  wrong.status = eval::Status::kWrongValue;
  wrong.message = "y[3] is 1, expected 2";
  auto failed = CombineTargets({{"cuda-sm90", Passed({2}, 1)}, {"cuda-sm80", wrong}});
  EXPECT_EQ(failed.status, eval::Status::kWrongValue);
  EXPECT_EQ(failed.message, "on cuda-sm80: y[3] is 1, expected 2");
  EXPECT_TRUE(failed.timings.empty());
}

TEST(CanServe, NeedsTheTargetAndTheBackend) {
  const std::vector<std::string> gpu = {"cpu", "cpu-x86_64", "cuda", "cuda-sm90"};
  EXPECT_TRUE(CanServe(gpu, "cuda-sm90", task::Backend::kCuda));
  EXPECT_TRUE(CanServe(gpu, "cuda", task::Backend::kCuda));
  EXPECT_FALSE(CanServe(gpu, "cuda-sm80", task::Backend::kCuda));
  // A tag the user invented on a host without the backend does not make it able to run it.
  EXPECT_FALSE(CanServe({"cpu", "h100"}, "h100", task::Backend::kCuda));
  EXPECT_TRUE(CanServe({"cuda-sm90", "h100"}, "h100", task::Backend::kCuda));
}

TEST(JobRunner, RefusesTargetsItDoesNotServeAndPackagesItCannotGet) {
  JobRunner::Options o;
  o.cache_dir = fs::temp_directory_path() / "kf-jobrunner-test";
  o.work_dir = o.cache_dir / "work";
  o.tags = {"cpu"};
  int fetches = 0;
  JobRunner runner(o, [&](const std::string&) -> core::Expected<TaskPackage> {
    ++fetches;
    return core::MakeError(core::ErrorCode::kNotFound, "no such package");
  });
  Job j = SampleJob();
  auto r = runner.Evaluate(j);
  EXPECT_EQ(r.status, eval::Status::kRuntimeError);
  EXPECT_NE(r.message.find("does not serve target cuda-sm90"), std::string::npos) << r.message;
  EXPECT_EQ(fetches, 0);
  j.target = "cpu";
  r = runner.Evaluate(j);
  EXPECT_EQ(r.status, eval::Status::kRuntimeError);
  EXPECT_NE(r.message.find("no such package"), std::string::npos) << r.message;
  r = runner.Evaluate(j);  // a package that could not be fetched is fetched again next time
  EXPECT_EQ(fetches, 2);
}

}  // namespace
}  // namespace kf::exec
