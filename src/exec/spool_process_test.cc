// Real `kfoundry worker --spool DIR --drain` processes on one spool directory filled by the
// coordinator's transport: two racing for the same jobs, one killed while a job is in hand, and
// a job that kills every worker that takes it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "exec/spool.h"

namespace kf::exec {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kTaskDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases" / "_tasks" / "vec_scale";
const fs::path kCacheDir = fs::path(KF_BINARY_DIR) / "spool-test-cache";  // ceilings and compiles, kept between runs

std::string Kernel(const std::string& extra) {
  return "#include <cstdint>\nvoid vec_scale(const float* x, float* y, int32_t n) {\n" + extra +
         "\n  for (int32_t i = 0; i < n; ++i) y[i] = 2.5f * x[i];\n}\n";
}

/// One `kfoundry worker` process, run to its end on a thread; `kill` SIGKILLs it.
struct WorkerProcess {
  std::string name;
  std::atomic<bool> kill{false};
  std::atomic<bool> exited{false};
  core::SubprocessResult result;
  std::thread thread;
};

class SpoolProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = *core::MakeUniqueDir(fs::temp_directory_path(), "kf-spool-process-test-");
    spool_ = dir_ / "spool";
    auto task = task::LoadTask(kTaskDir);
    ASSERT_TRUE(task.ok()) << task.error().message;
    auto package = PackTask(*task);
    ASSERT_TRUE(package.ok()) << package.error().message;
    task_hash_ = package->hash;
    auto transport = MakeSpoolTransport(spool_, SpoolOptions{.max_attempts = 2});
    ASSERT_TRUE(transport.ok()) << transport.error().message;
    transport_ = std::move(*transport);
    ASSERT_TRUE(transport_->PutPackage(*package).ok());
    transport_->Start([this](JobResult r) {
      std::lock_guard lock(mu_);
      ++count_[r.job_id];
      results_[r.job_id] = std::move(r);
      cv_.notify_all();
    });
  }

  void TearDown() override {
    for (auto& w : workers_) {
      w->kill = true;
      if (w->thread.joinable()) w->thread.join();
    }
    if (transport_) transport_->Stop();
    if (!HasFailure()) fs::remove_all(dir_);
    else std::fprintf(stderr, "spool kept in %s\n", spool_.c_str());
  }

  void Enqueue(const std::string& id, const std::string& source) {
    Job j;
    j.id = id;
    j.task_hash = task_hash_;
    j.target = "cpu";
    j.source = source;
    j.settings.timeout_seconds = 60;
    transport_->Enqueue(j);
  }

  WorkerProcess& StartWorker(const std::string& name, double lease = 30, int max_attempts = 3,
                             std::vector<std::pair<std::string, std::string>> env = {}) {
    auto w = std::make_unique<WorkerProcess>();
    w->name = name;
    env.emplace_back("KF_CACHE_DIR", kCacheDir.string());
    env.emplace_back("KF_LOG", "info");
    core::SubprocessSpec spec;
    spec.argv = {KF_BINARY_DIR "/kfoundry", "worker", "--spool", spool_.string(), "--drain", "--tags", "cpu", "--name", name,
                 "--lease", fmt::format("{}", lease), "--max-attempts", std::to_string(max_attempts)};
    spec.env = std::move(env);
    spec.working_dir = dir_;
    spec.limits.wall_timeout = 4min;
    spec.limits.address_space_bytes = 0;
    spec.cancel = &w->kill;
    WorkerProcess* p = w.get();
    w->thread = std::thread([p, spec] {
      auto r = core::RunSandboxed(spec);
      if (r.ok()) p->result = std::move(*r);
      p->exited = true;
    });
    workers_.push_back(std::move(w));
    return *workers_.back();
  }

  /// For failure messages: how each worker ended, and what it said.
  std::string Logs() const {
    std::string out;
    for (const auto& w : workers_) out += fmt::format("--- {}: {}\n{}", w->name, w->result.Describe(), w->result.stderr_text);
    return out;
  }

  static void Join(WorkerProcess& w) {
    if (w.thread.joinable()) w.thread.join();
  }

  bool WaitFor(std::size_t n, std::chrono::seconds timeout = 60s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }

  std::set<std::string> Names(const std::string& rel) const {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(spool_ / rel, ec)) names.insert(e.path().filename().string());
    return names;
  }

  fs::path dir_, spool_;
  std::string task_hash_;
  std::unique_ptr<Transport> transport_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> count_;
  std::map<std::string, JobResult> results_;
};

std::size_t Occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(SpoolProcessTest, TwoWorkerProcessesDrainTheSpoolAndRunEachJobOnce) {
  constexpr int kJobs = 12;
  for (int i = 0; i < kJobs; ++i) Enqueue(fmt::format("race:cpu:{}", i), Kernel(fmt::format("// {}", i)));
  WorkerProcess& a = StartWorker("wa");
  WorkerProcess& b = StartWorker("wb");
  Join(a);
  Join(b);
  ASSERT_TRUE(a.result.Succeeded()) << a.result.Describe() << "\n" << a.result.stderr_text;
  ASSERT_TRUE(b.result.Succeeded()) << b.result.Describe() << "\n" << b.result.stderr_text;
  ASSERT_TRUE(WaitFor(kJobs, 60s)) << Logs();
  std::this_thread::sleep_for(300ms);  // time for a second delivery, were there one

  const std::string logs = a.result.stderr_text + b.result.stderr_text;
  std::set<std::string> who;
  std::lock_guard lock(mu_);
  for (int i = 0; i < kJobs; ++i) {
    const std::string id = fmt::format("race:cpu:{}", i);
    EXPECT_EQ(count_[id], 1) << id;
    EXPECT_EQ(results_[id].result.status, eval::Status::kPassed) << id << ": " << results_[id].result.message;
    EXPECT_EQ(Occurrences(logs, "evaluating " + id + " ("), 1u) << id << " was evaluated more or less than once:\n" << logs;
    who.insert(results_[id].worker);
  }
  EXPECT_EQ(who, (std::set<std::string>{"wa", "wb"}));  // both took part
  EXPECT_EQ(Names("results").size(), std::size_t{kJobs});
  EXPECT_EQ(Names("jobs/cpu"), std::set<std::string>{});
  EXPECT_EQ(Names("claimed/cpu"), std::set<std::string>{});
}

TEST_F(SpoolProcessTest, AJobOfAKilledWorkerIsRunByAnotherAfterTheLease) {
  // About 0.1-0.5 s of spinning per call (a dozen calls): in hand while it compiles and runs,
  // and well inside the job's 60 s limit on a loaded machine.
  Enqueue("killed:cpu:0", Kernel("  for (volatile long k = 0; k < 100'000'000L; ++k) {}"));
  WorkerProcess& doomed = StartWorker("doomed", /*lease=*/1.0);
  bool held = false;
  for (int i = 0; i < 1200 && !held && !doomed.exited; ++i) {  // a cold cache measures the cpu's ceilings first
    held = Names("claimed/cpu").count("killed:cpu:0@1@doomed.json") == 1;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(held) << (doomed.exited ? doomed.result.Describe() + "\n" + doomed.result.stderr_text : "no claim in 60 s");
  doomed.kill = true;
  Join(doomed);
  ASSERT_EQ(doomed.result.outcome, core::SubprocessResult::Outcome::kCancelled);
  ASSERT_EQ(Names("results"), std::set<std::string>{});  // killed with the job in hand

  WorkerProcess& heir = StartWorker("heir", /*lease=*/1.0);
  Join(heir);
  ASSERT_TRUE(heir.result.Succeeded()) << heir.result.Describe() << "\n" << heir.result.stderr_text;
  ASSERT_TRUE(WaitFor(1, 60s)) << Logs();
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(mu_);
  EXPECT_EQ(count_["killed:cpu:0"], 1);
  EXPECT_EQ(results_["killed:cpu:0"].worker, "heir");
  EXPECT_EQ(results_["killed:cpu:0"].result.status, eval::Status::kPassed) << results_["killed:cpu:0"].result.message;
  EXPECT_NE(heir.result.stderr_text.find("evaluating killed:cpu:0 (take 2)"), std::string::npos) << heir.result.stderr_text;
}

TEST_F(SpoolProcessTest, AJobThatKillsEveryWorkerIsDeadLetteredAndTheOthersRun) {
  Enqueue("poison:cpu:0", Kernel("  // POISON"));
  Enqueue("poison:cpu:1", Kernel("  // 1"));
  Enqueue("poison:cpu:2", Kernel("  // 2"));
  const std::vector<std::pair<std::string, std::string>> fault = {{"KF_FAULT_ABORT_ON", "POISON"}};
  // A lease long enough to be renewed in time on a loaded machine: only the poison's expire.
  for (const char* name : {"w1", "w2", "w3"}) StartWorker(name, /*lease=*/2.0, /*max_attempts=*/2, fault);
  for (auto& w : workers_) Join(*w);
  ASSERT_TRUE(WaitFor(3, 60s)) << Logs();

  std::lock_guard lock(mu_);
  EXPECT_EQ(results_["poison:cpu:0"].result.status, eval::Status::kWorkerLost) << results_["poison:cpu:0"].result.message;
  EXPECT_EQ(results_["poison:cpu:0"].worker, "dead-letter");
  EXPECT_NE(results_["poison:cpu:0"].result.message.find("taken 2 times"), std::string::npos);
  EXPECT_EQ(results_["poison:cpu:1"].result.status, eval::Status::kPassed) << results_["poison:cpu:1"].result.message;
  EXPECT_EQ(results_["poison:cpu:2"].result.status, eval::Status::kPassed) << results_["poison:cpu:2"].result.message;
  int aborted = 0;
  for (auto& w : workers_) aborted += w->result.Succeeded() ? 0 : 1;
  EXPECT_EQ(aborted, 2);  // the two that took it; the third drained the rest and exited
  EXPECT_EQ(Names("claimed/cpu"), std::set<std::string>{});
}

}  // namespace
}  // namespace kf::exec
