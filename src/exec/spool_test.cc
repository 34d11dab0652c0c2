// The spool executor with real parts: a spool directory on the local disk, workers
// (RunSpoolWorker on threads) evaluating a small cpu task with g++, and the coordinator's
// transport. A worker that died is played by what it leaves behind: a claim whose lease ran out.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/fs.h"
#include "exec/spool.h"

namespace kf::exec {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

const fs::path kTaskDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases" / "_tasks" / "vec_scale";
const fs::path kCacheDir = fs::path(KF_BINARY_DIR) / "spool-test-cache";  // ceilings and compiles, kept between runs

/// A correct kernel; `extra` goes first in its body (a marker that makes the source unique, a delay).
std::string Kernel(const std::string& extra) {
  return "#include <cstdint>\nvoid vec_scale(const float* x, float* y, int32_t n) {\n" + extra +
         "\n  for (int32_t i = 0; i < n; ++i) y[i] = 2.5f * x[i];\n}\n";
}
/// About `ms` of spinning per call.
std::string Slow(int ms) { return Kernel(fmt::format("  for (volatile long k = 0; k < {}L * 300000L; ++k) {{}}", ms)); }

/// What a transport delivered, by job id.
struct Deliveries {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> count;
  std::map<std::string, JobResult> last;

  Transport::OnResult Callback() {
    return [this](JobResult r) {
      std::lock_guard lock(mu);
      ++count[r.job_id];
      last[r.job_id] = std::move(r);
      cv.notify_all();
    };
  }
  /// Until `id` has been delivered `times` times.
  bool WaitFor(const std::string& id, int times, std::chrono::seconds timeout = 30s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return count[id] >= times; });
  }
};

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = *core::MakeUniqueDir(fs::temp_directory_path(), "kf-spool-test-");
    spool_ = dir_ / "spool";
    auto task = task::LoadTask(kTaskDir);
    ASSERT_TRUE(task.ok()) << task.error().message;
    auto package = PackTask(*task);
    ASSERT_TRUE(package.ok()) << package.error().message;
    package_ = *package;
    auto transport = MakeSpoolTransport(spool_, {});
    ASSERT_TRUE(transport.ok()) << transport.error().message;
    transport_ = std::move(*transport);
    ASSERT_TRUE(transport_->PutPackage(package_).ok());
  }

  void TearDown() override {
    if (transport_) transport_->Stop();
    if (!HasFailure()) fs::remove_all(dir_);
    else std::fprintf(stderr, "spool kept in %s\n", spool_.c_str());
  }

  Job MakeJob(const std::string& id, const std::string& source) const {
    Job j;
    j.id = id;
    j.task_hash = package_.hash;
    j.target = "cpu";
    j.source = source;
    j.settings.timeout_seconds = 60;  // the slow kernels' runs, on a busy 2-core machine
    return j;
  }

  WorkerOptions Worker(const std::string& name) const {
    WorkerOptions o;
    o.name = name;
    o.tags = {"cpu"};
    o.lease_seconds = 2;
    o.max_attempts = 3;
    o.drain = true;
    o.cache_dir = kCacheDir;
    o.work_dir = dir_ / "work";
    return o;
  }

  WorkerSummary Drain(const WorkerOptions& o) {
    auto summary = RunSpoolWorker(spool_, o);
    EXPECT_TRUE(summary.ok()) << summary.error().message;
    return summary.ok() ? *summary : WorkerSummary{};
  }

  /// A file as a coordinator, a dead worker or a stranger would have left it; mtime = lease expiry.
  fs::path Put(const std::string& rel, const std::string& text, Clock::time_point mtime = Clock::now()) {
    const fs::path path = spool_ / rel;
    EXPECT_TRUE(core::WriteFileAtomic(path, text).ok());
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(mtime.time_since_epoch());
    const timespec t{static_cast<time_t>(s.count()), 0};
    const timespec times[2] = {t, t};
    EXPECT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
    return path;
  }

  std::set<std::string> Names(const std::string& rel) const {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(spool_ / rel, ec)) names.insert(e.path().filename().string());
    return names;
  }

  std::optional<JobResult> Result(const std::string& id) const {
    auto text = core::ReadFile(spool_ / "results" / (id + ".json"));
    if (!text.ok()) return std::nullopt;
    auto r = JobResult::Parse(*text);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::optional<JobResult>(*r) : std::nullopt;
  }

  void ExpectNothingLeft() const {
    EXPECT_EQ(Names("jobs/cpu"), std::set<std::string>{});
    EXPECT_EQ(Names("claimed/cpu"), std::set<std::string>{});
    EXPECT_EQ(Names("tmp"), std::set<std::string>{});
  }

  fs::path dir_, spool_;
  TaskPackage package_;
  std::unique_ptr<Transport> transport_;
};

TEST_F(SpoolTest, TwoWorkersAnswerEveryJobOnceAndEachResultArrivesOnce) {
  Deliveries d;
  transport_->Start(d.Callback());
  constexpr int kJobs = 8;
  for (int i = 0; i < kJobs; ++i) {
    transport_->Enqueue(MakeJob(fmt::format("run:cpu:{}", i), i == 5 ? Kernel("  undeclared();") : Kernel(fmt::format("// {}", i))));
  }
  WorkerSummary a, b;
  std::thread ta([&] { a = Drain(Worker("wa")); });
  std::thread tb([&] { b = Drain(Worker("wb")); });
  ta.join();
  tb.join();
  for (int i = 0; i < kJobs; ++i) ASSERT_TRUE(d.WaitFor(fmt::format("run:cpu:{}", i), 1)) << i;
  std::this_thread::sleep_for(300ms);  // time for a second delivery, were there one
  transport_->Stop();

  EXPECT_EQ(a.evaluated + b.evaluated, kJobs);
  EXPECT_EQ(a.reclaimed + b.reclaimed + a.dead_lettered + b.dead_lettered, 0);
  ASSERT_EQ(d.count.size(), std::size_t{kJobs});
  for (const auto& [id, n] : d.count) {
    EXPECT_EQ(n, 1) << id;
    const JobResult& r = d.last[id];
    EXPECT_TRUE(r.worker == "wa" || r.worker == "wb") << r.worker;
    EXPECT_EQ(r.result.status, id == "run:cpu:5" ? eval::Status::kCompileError : eval::Status::kPassed) << id << ": " << r.result.message;
  }
  ExpectNothingLeft();
  EXPECT_EQ(Names("results").size(), std::size_t{kJobs});
}

TEST_F(SpoolTest, MalformedJobFilesAreAnsweredOrMovedAsideWithoutStoppingTheWorker) {
  Put("jobs/cpu/run:garbage.json", "{not json");
  Put("jobs/cpu/run:liar.json", MakeJob("run:other", Kernel("")).ToJson().dump());
  Put("jobs/cpu/run:huge.json", std::string(kMaxJobBytes + 1, ' '));
  ASSERT_EQ(::symlink("/etc/hostname", (spool_ / "jobs/cpu/run:link.json").c_str()), 0);
  Put("jobs/cpu/no id here", "{}");
  Put("jobs/cpu/run:x@1@w@z.json", "{}");
  Put("jobs/cpu/run:good.json", MakeJob("run:good", Kernel("")).ToJson().dump());

  const WorkerSummary s = Drain(Worker("wa"));

  EXPECT_EQ(s.evaluated, 5);
  for (const auto& [id, says] : std::map<std::string, std::string>{{"run:garbage", "malformed"},
                                                                     {"run:liar", "run:other"},
                                                                     {"run:huge", "larger than the limit"},
                                                                     {"run:link", "symbolic links"}}) {
    auto r = Result(id);
    ASSERT_TRUE(r) << id;
    EXPECT_EQ(r->result.status, eval::Status::kRuntimeError) << id;
    EXPECT_NE(r->result.message.find(says), std::string::npos) << id << ": " << r->result.message;
  }
  auto good = Result("run:good");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->result.status, eval::Status::kPassed) << good->result.message;
  EXPECT_EQ(Names("rejected").size(), 2u);  // no id in their names: nobody to answer
  ExpectNothingLeft();
}

TEST_F(SpoolTest, AWorkerTakesOverTheExpiredClaimOfADeadWorker) {
  Put("claimed/cpu/run:orphan@1@gone-1.json", MakeJob("run:orphan", Kernel("")).ToJson().dump(), Clock::now() - 5s);

  const WorkerSummary s = Drain(Worker("heir"));

  EXPECT_EQ(s.reclaimed, 1);
  EXPECT_EQ(s.evaluated, 1);
  auto r = Result("run:orphan");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->worker, "heir");
  EXPECT_EQ(r->result.status, eval::Status::kPassed) << r->result.message;
  ExpectNothingLeft();
}

TEST_F(SpoolTest, TheCoordinatorPutsBackExpiredClaimsButNotLiveOnes) {
  Deliveries d;
  transport_->Start(d.Callback());
  Put("claimed/cpu/run:orphan@1@gone-1.json", MakeJob("run:orphan", Kernel("")).ToJson().dump(), Clock::now() - 5s);
  const fs::path live = Put("claimed/cpu/run:alive@1@busy-2.json", MakeJob("run:alive", Kernel("")).ToJson().dump(),
                            Clock::now() + 60s);
  for (int i = 0; i < 100 && !Names("jobs/cpu").count("run:orphan@1.json"); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(Names("jobs/cpu"), std::set<std::string>{"run:orphan@1.json"});
  EXPECT_TRUE(fs::exists(live));
  fs::remove(live);  // its worker goes on elsewhere; a drain would wait for it

  const WorkerSummary s = Drain(Worker("heir"));

  EXPECT_EQ(s.reclaimed, 0);
  ASSERT_TRUE(d.WaitFor("run:orphan", 1));
  EXPECT_EQ(d.last["run:orphan"].worker, "heir");
  EXPECT_EQ(d.last["run:orphan"].result.status, eval::Status::kPassed) << d.last["run:orphan"].result.message;
}

TEST_F(SpoolTest, AJobWhoseWorkersAllDiedIsDeadLetteredAfterMaxAttempts) {
  Put("claimed/cpu/run:poison@3@gone-3.json", MakeJob("run:poison", Kernel("")).ToJson().dump(), Clock::now() - 5s);
  Put("claimed/cpu/run:unlucky@2@gone-2.json", MakeJob("run:unlucky", Kernel("")).ToJson().dump(), Clock::now() - 5s);

  const WorkerSummary s = Drain(Worker("wa"));  // max_attempts 3

  EXPECT_EQ(s.dead_lettered, 1);
  EXPECT_EQ(s.reclaimed, 1);
  EXPECT_EQ(s.evaluated, 1);
  auto poison = Result("run:poison");
  ASSERT_TRUE(poison);
  EXPECT_EQ(poison->result.status, eval::Status::kWorkerLost);
  EXPECT_EQ(poison->worker, "dead-letter");
  EXPECT_NE(poison->result.message.find("taken 3 times"), std::string::npos) << poison->result.message;
  auto unlucky = Result("run:unlucky");  // a third take was still allowed
  ASSERT_TRUE(unlucky);
  EXPECT_EQ(unlucky->worker, "wa");
  EXPECT_EQ(unlucky->result.status, eval::Status::kPassed) << unlucky->result.message;
  ExpectNothingLeft();
}

TEST_F(SpoolTest, EnqueueDeliversAnExistingResultAndQueuesNoJobTwice) {
  JobResult earlier;
  earlier.job_id = "run:done";
  earlier.worker = "earlier";
  earlier.result.status = eval::Status::kPassed;
  Put("results/run:done.json", earlier.ToJson().dump());
  Put("claimed/cpu/run:busy@1@w-1.json", MakeJob("run:busy", Kernel("")).ToJson().dump(), Clock::now() + 60s);
  Deliveries d;
  transport_->Start(d.Callback());
  ASSERT_TRUE(d.WaitFor("run:done", 1));  // every result in results/ is delivered once

  transport_->Enqueue(MakeJob("run:done", Kernel("")));  // a restarted coordinator re-sends it
  transport_->Enqueue(MakeJob("run:busy", Kernel("")));
  transport_->Enqueue(MakeJob("run:new", Kernel("")));
  transport_->Enqueue(MakeJob("run:new", Kernel("")));

  ASSERT_TRUE(d.WaitFor("run:done", 2));
  EXPECT_EQ(d.last["run:done"].worker, "earlier");
  EXPECT_EQ(Names("jobs/cpu"), std::set<std::string>{"run:new.json"});
}

TEST_F(SpoolTest, AnAnsweredJobQueuedAgainIsNotRunAndItsResultIsNotReplaced) {
  JobResult earlier;
  earlier.job_id = "run:done";
  earlier.worker = "earlier";
  earlier.result.status = eval::Status::kWrongValue;
  Put("results/run:done.json", earlier.ToJson().dump());
  Put("jobs/cpu/run:done@1.json", MakeJob("run:done", Kernel("")).ToJson().dump());

  const WorkerSummary s = Drain(Worker("wa"));

  EXPECT_EQ(s.evaluated, 0);
  auto r = Result("run:done");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->worker, "earlier");
  EXPECT_EQ(r->result.status, eval::Status::kWrongValue);
  ExpectNothingLeft();
}

TEST_F(SpoolTest, ALeaseRenewedWhileEvaluatingIsNotTakenOver) {
  Put("jobs/cpu/run:slow.json", MakeJob("run:slow", Slow(2000)).ToJson().dump());
  WorkerOptions a = Worker("wa"), b = Worker("wb");
  a.lease_seconds = b.lease_seconds = 0.5;  // the evaluation takes several leases
  WorkerSummary sa, sb;
  const auto start = std::chrono::steady_clock::now();
  std::thread ta([&] { sa = Drain(a); });
  std::thread tb([&] { sb = Drain(b); });
  ta.join();
  tb.join();

  EXPECT_GT(std::chrono::steady_clock::now() - start, 1500ms);  // else the test proves nothing
  EXPECT_EQ(sa.reclaimed + sb.reclaimed, 0);
  EXPECT_EQ(sa.evaluated + sb.evaluated, 1);
  auto r = Result("run:slow");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result.status, eval::Status::kPassed) << r->result.message;
  ExpectNothingLeft();
}

TEST_F(SpoolTest, ARemoteExecutorOverTheSpoolAnswersEachCandidateOnce) {
  auto task = task::LoadTask(kTaskDir);
  ASSERT_TRUE(task.ok());
  std::atomic<bool> stop{false};
  WorkerOptions o = Worker("wa");
  o.drain = false;
  o.stop = &stop;
  WorkerSummary s;
  std::thread worker([&] { s = Drain(o); });
  std::map<std::int64_t, int> calls;
  std::map<std::int64_t, eval::Status> status;
  std::map<std::int64_t, std::string> message;
  {
    transport_.reset();  // the executor gets its own
    auto transport = MakeSpoolTransport(spool_, {});
    ASSERT_TRUE(transport.ok());
    RemoteOptions ro;
    ro.run_key = "run";
    auto executor = MakeRemoteExecutor(std::move(*transport), *task, ro);
    ASSERT_TRUE(executor.ok()) << executor.error().message;
    std::mutex mu;
    for (std::int64_t id = 0; id < 3; ++id) {
      (*executor)->Submit({id, id == 1 ? Kernel("  undeclared();") : Kernel(fmt::format("// {}", id))}, [&](std::int64_t got, eval::EvalResult r) {
        std::lock_guard lock(mu);
        ++calls[got];
        status[got] = r.status;
        message[got] = r.message;
      });
    }
    (*executor)->Drain();
  }
  stop = true;
  worker.join();
  EXPECT_EQ(s.evaluated, 3);
  EXPECT_EQ(calls, (std::map<std::int64_t, int>{{0, 1}, {1, 1}, {2, 1}}));
  EXPECT_EQ(status[0], eval::Status::kPassed) << message[0];
  EXPECT_EQ(status[1], eval::Status::kCompileError) << message[1];
  EXPECT_EQ(status[2], eval::Status::kPassed) << message[2];
}

TEST_F(SpoolTest, RefusesWorkerNamesAndTagsThatCannotBeFileNames) {
  for (const char* name : {"a/b", "x@y", "..", ".hidden", "a-name-longer-than-thirty-two-chars"}) {
    auto s = RunSpoolWorker(spool_, Worker(name));
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.error().code, core::ErrorCode::kInvalidArgument) << name;
  }
  WorkerOptions o = Worker("wa");
  o.tags = {"../../etc"};
  EXPECT_FALSE(RunSpoolWorker(spool_, o).ok());
}

}  // namespace
}  // namespace kf::exec
