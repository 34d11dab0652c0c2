// The redis executor against a real redis-server (started here on a free loopback port, with
// its data in a temporary directory) and real `kfoundry worker` processes evaluating a small cpu
// task with g++: several workers serving one run, a worker killed mid-job, the server
// restarted mid-run, and a job that kills every worker that takes it.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/fs.h"
#include "core/log.h"
#include "exec/redis.h"
#include "exec/redis_server.h"
#include "exec/remote.h"

namespace kf::exec {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
            const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    FILE* f = std::fopen(log.c_str(), "a");
    if (f != nullptr) {
      ::dup2(fileno(f), 1);
      ::dup2(fileno(f), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  return pid;
}

/// A command on a fresh connection; the reply's integer, or its string in *text.
long long Redis(int port, const std::vector<std::string>& args, std::string* text = nullptr) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return -1;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  long long v = -1;
  if (r != nullptr) {
    if (r->type == REDIS_REPLY_INTEGER) v = r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
      v = 0;
      if (text != nullptr) *text = std::string(r->str, r->len);
    }
    if (r->type == REDIS_REPLY_ARRAY) v = static_cast<long long>(r->elements);
    freeReplyObject(r);
  }
  redisFree(c);
  return v;
}

class RedisFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServerProcess::Installed()) GTEST_SKIP() << "redis-server is not installed";
    dir_ = *core::MakeUniqueDir(fs::temp_directory_path(), "kf-redis-test-");
    server_ = std::make_unique<RedisServerProcess>(dir_ / "redis");
    port_ = server_->port();
    StartServer();
    WriteTask();
    url_ = *RedisUrl::Parse(server_->Url());
  }

  void TearDown() override {
    for (pid_t pid : workers_) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    server_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
    else std::fprintf(stderr, "logs kept in %s\n", dir_.c_str());
  }

  void StartServer() {
    auto started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void StopServer(int signal) { server_->Stop(signal); }

  // y = 2 x over n floats: quick to build and check.
  void WriteTask() {
    task_dir_ = dir_ / "task";
    fs::create_directories(task_dir_);
    ASSERT_TRUE(core::WriteFileAtomic(task_dir_ / "task.yaml", R"(name: twice
description: y = 2 x
backend: cpu
entry: twice
args:
  - {name: x, role: input, dtype: f32, shape: [n]}
  - {name: y, role: output, dtype: f32, shape: [n]}
  - {name: n, role: scalar, dtype: i32}
shapes:
  - {n: 4096}
tolerance: {atol: 1.0e-6, rtol: 1.0e-6}
reference: reference.cpp
seeds: [seed.cpp]
correctness_trials: 1
timing: {warmup: 0, min_trials: 2, max_trials: 3, max_seconds: 0.05, flush_cache: false}
)").ok());
    ASSERT_TRUE(core::WriteFileAtomic(task_dir_ / "reference.cpp",
                                      "#include <cstdint>\nvoid twice_reference(const float* x, float* y, int32_t n) {\n"
                                      "  for (int32_t i = 0; i < n; ++i) y[i] = 2.0f * x[i];\n}\n")
                    .ok());
    ASSERT_TRUE(core::WriteFileAtomic(task_dir_ / "seed.cpp", Kernel("")).ok());
    auto loaded = task::LoadTask(task_dir_);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    task_ = *loaded;
  }

  /// A correct kernel; `extra` goes first in its body (a delay, a marker).
  static std::string Kernel(const std::string& extra) {
    return "#include <cstdint>\nvoid twice(const float* x, float* y, int32_t n) {\n" + extra +
           "\n  for (int32_t i = 0; i < n; ++i) y[i] = 2.0f * x[i];\n}\n";
  }
  static std::string Variant(int i) { return Kernel(fmt::format("  // variant {}", i)); }
  /// About `ms` of spinning per call, so a job is still in hand when its worker is killed.
  static std::string Slow(int ms, int i) {
    return Kernel(fmt::format("  // slow {}\n  for (volatile long k = 0; k < {}L * 300000L; ++k) {{}}", i, ms));
  }

  pid_t StartWorker(const std::string& name, double lease = 30, int max_attempts = 3,
                    std::vector<std::pair<std::string, std::string>> env = {}, const std::string& tags = "cpu",
                    int slots = 1) {
    env.emplace_back("KF_CACHE_DIR", (dir_ / "cache").string());
    const pid_t pid = Spawn({KF_BINARY_DIR "/kfoundry", "worker", "--executor", server_->Url(),
                             "--tags", tags, "--name", name, "--slots", std::to_string(slots), "--lease", fmt::format("{}", lease), "--max-attempts",
                             std::to_string(max_attempts)},
                            env, dir_ / (name + ".log"));
    workers_.push_back(pid);
    return pid;
  }

  void WaitForWorkers(std::size_t n) {
    for (int i = 0; i < 12000; ++i) {  // a first start measures the cpu's ceilings
      auto listed = ListWorkers(url_);
      if (listed.ok() && listed->size() >= n) return;
      std::this_thread::sleep_for(10ms);
    }
    FAIL() << "workers did not register";
  }

  /// Which worker answered each job, from the results in redis.
  std::map<std::string, std::string> Answers() {
    std::map<std::string, std::string> out;
    redisContext* c = redisConnect("127.0.0.1", port_);
    auto* r = static_cast<redisReply*>(redisCommand(c, "KEYS kf:result:*"));
    for (size_t i = 0; r != nullptr && i < r->elements; ++i) {
      std::string text;
      Redis(port_, {"GET", r->element[i]->str}, &text);
      auto parsed = JobResult::Parse(text);
      if (parsed.ok()) out[parsed->job_id] = parsed->worker;
    }
    if (r != nullptr) freeReplyObject(r);
    redisFree(c);
    return out;
  }

  /// Submits the sources; waits for every verdict (at most `timeout`), counting calls per id.
  struct Verdicts {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::int64_t, int> calls;
    std::map<std::int64_t, eval::EvalResult> results;
  };
  std::unique_ptr<Executor> MakeExecutor(const std::string& run_key = "testrun") {
    auto transport = MakeRedisTransport(url_, {});
    EXPECT_TRUE(transport.ok()) << transport.error().message;
    RemoteOptions o;
    o.run_key = run_key;
    auto executor = MakeRemoteExecutor(std::move(*transport), task_, o);
    EXPECT_TRUE(executor.ok()) << executor.error().message;
    return std::move(*executor);
  }
  static void Submit(Executor& e, Verdicts& v, std::int64_t id, const std::string& source) {
    e.Submit({id, source}, [&v](std::int64_t got, eval::EvalResult r) {
      std::lock_guard lock(v.mu);
      ++v.calls[got];
      v.results[got] = std::move(r);
      v.cv.notify_all();
    });
  }
  static bool WaitFor(Verdicts& v, std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(v.mu);
    return v.cv.wait_for(lock, timeout, [&] { return v.results.size() >= n; });
  }

  fs::path dir_, task_dir_;
  int port_ = 0;
  std::unique_ptr<RedisServerProcess> server_;
  std::vector<pid_t> workers_;
  task::Task task_;
  RedisUrl url_;
};

TEST_F(RedisFixture, TwoWorkersServeOneRunAndEveryResultArrivesOnce) {
  StartWorker("wa");
  StartWorker("wb", 30, 3, {}, "cpu", /*slots=*/2);  // two jobs in hand at once
  WaitForWorkers(2);
  auto listed = ListWorkers(url_);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->front().tags, std::vector<std::string>{"cpu"});
  EXPECT_TRUE(CheckTargetsServed(*listed, {"cpu"}, task::Backend::kCpu, url_.Describe()).ok());
  auto missing = CheckTargetsServed(*listed, {"cuda-sm90"}, task::Backend::kCuda, url_.Describe());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("cuda-sm90"), std::string::npos) << missing.error().message;

  Verdicts v;
  {
    auto executor = MakeExecutor();
    constexpr int kJobs = 10;
    for (int i = 0; i < kJobs; ++i) Submit(*executor, v, i, i == 7 ? Slow(150, i) : Variant(i));
    Submit(*executor, v, 99, Kernel("  undeclared_name = 3;"));
    // A kernel that writes bytes that are not UTF-8 and crashes: its log travels, and no worker dies.
    Submit(*executor, v, 98,
           "#include <cstdint>\n#include <cstdio>\nvoid twice(const float* x, float* y, int32_t n) {\n"
           "  std::fputs(\"\\xff\\xfe not utf-8\\n\", stderr);\n  __builtin_trap();\n}\n");
    ASSERT_TRUE(WaitFor(v, kJobs + 2, 240s));
    executor->Drain();
  }
  for (const auto& [id, n] : v.calls) EXPECT_EQ(n, 1) << "candidate " << id;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(v.results[i].status, eval::Status::kPassed) << i << ": " << v.results[i].message;
  EXPECT_EQ(v.results[99].status, eval::Status::kCompileError);
  EXPECT_EQ(v.results[98].status, eval::Status::kRuntimeError) << v.results[98].message;
  EXPECT_NE(v.results[98].log.find("not utf-8"), std::string::npos) << v.results[98].log;
  for (pid_t pid : workers_) EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), 0) << "a worker died";
  std::set<std::string> who;
  for (const auto& [job, worker] : Answers()) who.insert(worker);
  EXPECT_EQ(who, (std::set<std::string>{"wa", "wb"}));  // both took part
}

TEST_F(RedisFixture, AJobWhoseWorkerIsKilledCompletesOnAnotherOnce) {
  const pid_t a = StartWorker("doomed", /*lease=*/1.0);
  WaitForWorkers(1);
  Verdicts v;
  auto executor = MakeExecutor();
  Submit(*executor, v, 1, Slow(400, 1));
  // Kill it while the job is in hand: its pending entry names it.
  bool held = false;
  for (int i = 0; i < 3000 && !held; ++i) {
    held = Redis(port_, {"XPENDING", "kf:jobs:cpu", "kf-workers", "-", "+", "10", "doomed/0"}) == 1;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(held);
  std::this_thread::sleep_for(300ms);
  ::kill(-a, SIGKILL);
  StartWorker("heir", /*lease=*/1.0);
  ASSERT_TRUE(WaitFor(v, 1, 120s));
  executor->Drain();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(v.calls[1], 1);
  EXPECT_EQ(v.results[1].status, eval::Status::kPassed) << v.results[1].message;
  const auto answers = Answers();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers.begin()->second, "heir");
  EXPECT_EQ(Redis(port_, {"XLEN", "kf:jobs:cpu"}), 0);  // acknowledged and removed
}

// A lease is the holder's: a worker started with a short --lease never takes over a job that a
// worker with a long one is still working on.
TEST_F(RedisFixture, AShortLeasedWorkerLeavesALongLeasedWorkersJobAlone) {
  StartWorker("patient", /*lease=*/30);
  WaitForWorkers(1);
  Verdicts v;
  auto executor = MakeExecutor();
  Submit(*executor, v, 1, Slow(600, 1));  // seconds in hand: many of the eager worker's leases
  bool held = false;
  for (int i = 0; i < 3000 && !held; ++i) {
    held = Redis(port_, {"XPENDING", "kf:jobs:cpu", "kf-workers", "-", "+", "10", "patient/0"}) == 1;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(held);
  StartWorker("eager", /*lease=*/0.5);
  ASSERT_TRUE(WaitFor(v, 1, 120s));
  executor->Drain();
  EXPECT_EQ(v.results[1].status, eval::Status::kPassed) << v.results[1].message;
  const auto answers = Answers();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers.begin()->second, "patient");
  const std::string log = *core::ReadFile(dir_ / "eager.log");
  EXPECT_EQ(log.find("took over"), std::string::npos) << log;
}

TEST_F(RedisFixture, TheRunCompletesThroughARedisRestart) {
  StartWorker("wa");
  StartWorker("wb");
  WaitForWorkers(2);
  Verdicts v;
  auto executor = MakeExecutor();
  constexpr int kJobs = 8;
  for (int i = 0; i < kJobs / 2; ++i) Submit(*executor, v, i, Slow(30, i));
  ASSERT_TRUE(WaitFor(v, 1, 120s));
  StopServer(SIGTERM);
  std::this_thread::sleep_for(1500ms);  // workers and the coordinator back off and retry
  StartServer();
  for (int i = kJobs / 2; i < kJobs; ++i) Submit(*executor, v, i, Slow(30, i));
  ASSERT_TRUE(WaitFor(v, kJobs, 240s));
  executor->Drain();
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(v.calls[i], 1) << i;
    EXPECT_EQ(v.results[i].status, eval::Status::kPassed) << i << ": " << v.results[i].message;
  }
}

TEST_F(RedisFixture, AJobThatKillsEveryWorkerEndsAsWorkerLostAndTheRunGoesOn) {
  const std::vector<std::pair<std::string, std::string>> fault = {{"KF_FAULT_ABORT_ON", "POISON"}};
  // A lease long enough to be renewed in time on a loaded machine: only the poison's runs out.
  for (const char* name : {"w1", "w2", "w3", "w4"}) StartWorker(name, /*lease=*/2.0, /*max_attempts=*/2, fault);
  WaitForWorkers(4);
  Verdicts v;
  auto executor = MakeExecutor();
  Submit(*executor, v, 1, Kernel("  // POISON"));
  Submit(*executor, v, 2, Variant(2));
  Submit(*executor, v, 3, Variant(3));
  ASSERT_TRUE(WaitFor(v, 3, 180s));
  executor->Drain();
  EXPECT_EQ(v.results[1].status, eval::Status::kWorkerLost) << v.results[1].message;
  EXPECT_NE(v.results[1].message.find("taken 2 times"), std::string::npos) << v.results[1].message;
  EXPECT_EQ(v.results[2].status, eval::Status::kPassed) << v.results[2].message;
  EXPECT_EQ(v.results[3].status, eval::Status::kPassed) << v.results[3].message;
  for (const auto& [id, n] : v.calls) EXPECT_EQ(n, 1) << id;
  int dead = 0;
  for (pid_t pid : workers_) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) ++dead;
  }
  EXPECT_EQ(dead, 2);  // the two workers that took it
}

TEST_F(RedisFixture, AResubmittedJobTakesTheResultWrittenWhileTheCoordinatorWasAway) {
  StartWorker("wa");
  WaitForWorkers(1);
  {
    Verdicts v;
    auto executor = MakeExecutor("samerun");
    Submit(*executor, v, 1, Variant(1));
    ASSERT_TRUE(WaitFor(v, 1, 120s));
  }
  // A coordinator restarted with the same run key sends the same job again: the stored result
  // answers it, and nothing is queued or evaluated twice.
  Verdicts again;
  auto executor = MakeExecutor("samerun");
  Submit(*executor, again, 5, Variant(1));
  ASSERT_TRUE(WaitFor(again, 1, 30s));
  EXPECT_EQ(again.results[5].status, eval::Status::kPassed);
  EXPECT_EQ(Answers().size(), 1u);
}

/// Runs the kfoundry CLI; its exit status and what it printed (stdout and stderr).
std::pair<int, std::string> Cli(const std::string& args, const fs::path& cache) {
  const std::string command = fmt::format("KF_CACHE_DIR='{}' '{}/kfoundry' {} 2>&1", cache.string(), KF_BINARY_DIR, args);
  FILE* p = ::popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p != nullptr && std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = p != nullptr ? ::pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// `kfoundry run --executor redis://` end to end, on a task with two targets: refused while one
// has no live worker, then every candidate is evaluated on both and its timings say where.
TEST_F(RedisFixture, KfoundryRunEvaluatesOnEveryTargetAndRefusesAMissingOne) {
  std::string yaml = *core::ReadFile(task_dir_ / "task.yaml");
  ASSERT_TRUE(core::WriteFileAtomic(task_dir_ / "task.yaml", yaml + "targets: [cpu-a, cpu-b]\n").ok());
  StartWorker("wa", 30, 3, {}, "cpu,cpu-a");
  WaitForWorkers(1);
  const fs::path cache = dir_ / "cache";
  const std::string run = fmt::format("run '{}' --executor {} --budget 1 --run-dir ", task_dir_.string(), server_->Url());
  auto [refused, why] = Cli(run + (dir_ / "run1").string(), cache);
  EXPECT_EQ(refused, 2) << why;
  EXPECT_NE(why.find("no live worker at " + url_.Describe() + " serves cpu-b"), std::string::npos) << why;
  EXPECT_NE(why.find("wa [cpu, cpu-a]"), std::string::npos) << why;

  StartWorker("wb", 30, 3, {}, "cpu,cpu-b");
  WaitForWorkers(2);
  auto [listed_rc, listed] = Cli("workers --executor " + server_->Url(), cache);
  EXPECT_EQ(listed_rc, 0);
  EXPECT_NE(listed.find("wa"), std::string::npos) << listed;
  EXPECT_NE(listed.find("cpu, cpu-b"), std::string::npos) << listed;

  auto [rc, out] = Cli(run + (dir_ / "run2").string(), cache);
  ASSERT_EQ(rc, 0) << out;
  auto best = core::ParseJson(*core::ReadFile(dir_ / "run2" / "best.json"), "best.json");
  ASSERT_TRUE(best.ok());
  EXPECT_EQ((*best)["status"], "passed");
  std::set<std::string> labels;
  for (const auto& t : (*best)["result"]["timings"]) labels.insert(t["shape_label"].get<std::string>());
  EXPECT_EQ(labels, (std::set<std::string>{"cpu-a n=4096", "cpu-b n=4096"}));
  std::set<std::string> who;
  for (const auto& [job, worker] : Answers()) who.insert(worker);
  EXPECT_EQ(who, (std::set<std::string>{"wa", "wb"}));
}

// The password reaches Redis and nowhere else: not the worker's log, not the error for a wrong one.
TEST(RedisCredentials, AWrongPasswordIsRefusedAndNoPasswordIsEverShown) {
  if (!RedisServerProcess::Installed()) GTEST_SKIP() << "redis-server is not installed";
  auto dir = core::MakeUniqueDir(fs::temp_directory_path(), "kf-redis-auth-");
  ASSERT_TRUE(dir.ok());
  RedisServerProcess server(*dir / "redis", "right-horse-battery");
  ASSERT_TRUE(server.Start().ok());
  const fs::path cache = *dir / "cache";
  const std::string host = fmt::format("127.0.0.1:{}", server.port());
  auto [wrong_rc, wrong] = Cli(fmt::format("workers --executor redis://:wrong-staple-xyz@{}", host), cache);
  EXPECT_EQ(wrong_rc, 2);
  EXPECT_NE(wrong.find("refused the credentials"), std::string::npos) << wrong;
  EXPECT_EQ(wrong.find("wrong-staple-xyz"), std::string::npos) << wrong;

  // From the environment, and from the URL: a worker registers; its log never shows it.
  const pid_t worker = Spawn({KF_BINARY_DIR "/kfoundry", "worker", "--executor", "redis://" + host, "--tags", "cpu",
                              "--name", "authed", "--slots", "1"},
                             {{"KF_REDIS_PASSWORD", "right-horse-battery"}, {"KF_CACHE_DIR", cache.string()},
                              {"KF_LOG", "debug"}},
                             *dir / "worker.log");
  std::string listed;
  for (int i = 0; i < 1200 && listed.find("authed") == std::string::npos; ++i) {
    listed = Cli(fmt::format("workers --executor redis://:right-horse-battery@{}", host), cache).second;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(listed.find("authed"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("right-horse-battery"), std::string::npos) << listed;
  ::kill(-worker, SIGTERM);
  ::waitpid(worker, nullptr, 0);
  const std::string log = *core::ReadFile(*dir / "worker.log");
  EXPECT_NE(log.find("serves cpu"), std::string::npos) << log;
  EXPECT_EQ(log.find("right-horse-battery"), std::string::npos) << log;
  fs::remove_all(*dir);
}

// A remote run tunes under the limits the serving worker measured, not the coordinator's.
TEST(AdvertisedCeilings, ComeFromAWorkerThatServesTheTargetOnTheTasksBackend) {
  eval::DeviceCeilings gpu;
  gpu.backend = "cuda";
  gpu.device_id = "cuda|NVIDIA H200|x";
  gpu.device_name = "NVIDIA H200";
  gpu.max_threads_per_block = 1024;
  gpu.max_shared_bytes_per_block = 49152;
  gpu.copy_gbps = 4200;
  gpu.flops_gflops = 64000;
  eval::DeviceCeilings cpu = gpu;
  cpu.backend = "cpu";
  cpu.device_name = "Xeon";
  WorkerInfo cpu_only{"a", {"cpu"}, {{"ceilings", core::Json::array({cpu.ToJson()})}}};
  WorkerInfo h200{"b", {"cpu", "cuda", "cuda-sm90"}, {{"ceilings", core::Json::array({cpu.ToJson(), gpu.ToJson()})}}};
  auto found = AdvertisedCeilings({cpu_only, h200}, {"cuda-sm90"}, task::Backend::kCuda);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->device_name, "NVIDIA H200");
  EXPECT_EQ(found->max_threads_per_block, 1024);
  EXPECT_FALSE(AdvertisedCeilings({cpu_only}, {"cuda-sm90"}, task::Backend::kCuda).has_value());
  EXPECT_EQ(AdvertisedCeilings({cpu_only, h200}, {"cpu"}, task::Backend::kCpu)->device_name, "Xeon");
  // Two targets: the tightest limits of both, so every tuned configuration launches on each.
  eval::DeviceCeilings small = gpu;
  small.device_id = "cuda|small|y";
  small.device_name = "small GPU";
  small.max_threads_per_block = 512;
  small.max_shared_bytes_per_block = 65536;
  WorkerInfo other{"c", {"cuda", "cuda-small"}, {{"ceilings", core::Json::array({small.ToJson()})}}};
  auto both = AdvertisedCeilings({h200, other}, {"cuda-sm90", "cuda-small"}, task::Backend::kCuda);
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->max_threads_per_block, 512);
  EXPECT_EQ(both->max_shared_bytes_per_block, 49152);
  EXPECT_EQ(both->device_name, "NVIDIA H200 + small GPU");
}

TEST(RedisUrl, ParsesCredentialsAndRefusesMalformedOnes) {
  auto u = RedisUrl::Parse("redis://kf:s3cret-pass@gpu-host:6380/2");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->user, "kf");
  EXPECT_EQ(u->password, "s3cret-pass");
  EXPECT_EQ(u->host, "gpu-host");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 2);
  EXPECT_EQ(u->Describe(), "redis://gpu-host:6380/2");  // never the password
  EXPECT_EQ(core::Redact("auth failed for s3cret-pass"), "auth failed for ***");
  EXPECT_FALSE(RedisUrl::Parse("http://host:6379").ok());
  EXPECT_FALSE(RedisUrl::Parse("redis://host:notaport").ok());
  EXPECT_FALSE(RedisUrl::Parse("redis://host:6379/x").ok());
  auto bad = RedisUrl::Parse("redis://:hunter22@host:99999");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.find("hunter22"), std::string::npos);
}

}  // namespace
}  // namespace kf::exec
