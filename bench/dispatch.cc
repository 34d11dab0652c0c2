// The redis executor's own cost: enqueue-to-result latency and throughput on loopback with a
// no-op evaluation, so what is timed is the queue (Lua enqueue, XREADGROUP, lease renewal,
// result script, XACK, XREAD), never a compiler.
//
//   kf_bench_dispatch [--jobs 1000] [--workers 4] [--latency-jobs 200] [--redis URL]
//
// Without --redis it starts its own redis-server (append-only, fsync on every write, as the
// tests run it) in a temporary directory. Phase 1: one job in flight at a time, latency of each
// (p50/p90/p99). Phase 2: --jobs submitted at once over --workers workers (threads of this
// process, each with its own connections, as separate `kfoundry worker` processes would have);
// throughput, latency percentiles, and a count of jobs answered, lost and answered twice.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/fs.h"
#include "core/log.h"
#include "exec/redis.h"
#include "exec/redis_server.h"
#include "exec/remote.h"

namespace fs = std::filesystem;
using namespace kf;
using Clock = std::chrono::steady_clock;

namespace {

int IntFlag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

std::string StringFlag(int argc, char** argv, const char* name) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return "";
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

struct Tracker {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::int64_t, Clock::time_point> sent;
  std::map<std::int64_t, int> answers;
  std::vector<double> latency_ms;
  Clock::time_point last;

  void Submit(exec::Executor& e, std::int64_t id) {
    {
      std::lock_guard lock(mu);
      sent[id] = Clock::now();
    }
    e.Submit({id, fmt::format("// job {}\nvoid gelu(const float*, float*, int) {{}}\n", id)},
             [this](std::int64_t got, eval::EvalResult) {
               const auto now = Clock::now();
               std::lock_guard lock(mu);
               if (++answers[got] == 1) latency_ms.push_back(std::chrono::duration<double, std::milli>(now - sent[got]).count());
               last = now;
               cv.notify_all();
             });
  }
  bool WaitFor(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(120), [&] { return answers.size() >= n; });
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int jobs = IntFlag(argc, argv, "--jobs", 1000);
  const int workers = IntFlag(argc, argv, "--workers", 4);
  const int latency_jobs = IntFlag(argc, argv, "--latency-jobs", 200);
  std::string url_text = StringFlag(argc, argv, "--redis");
  core::SetLogLevel(core::LogLevel::kWarn);

  std::unique_ptr<exec::RedisServerProcess> server;
  fs::path scratch = *core::MakeUniqueDir(fs::temp_directory_path(), "kf-bench-dispatch-");
  if (url_text.empty()) {
    server = std::make_unique<exec::RedisServerProcess>(scratch / "redis");
    if (auto started = server->Start(); !started.ok()) {
      std::cerr << started.error().message << "\n";
      return 2;
    }
    url_text = server->Url();
  }
  auto url = exec::RedisUrl::Parse(url_text);
  if (!url.ok()) {
    std::cerr << url.error().message << "\n";
    return 2;
  }
  auto task = task::LoadTask(fs::path(KF_SOURCE_DIR) / "examples" / "gelu");  // packed and sent once; never compiled
  if (!task.ok()) return 2;

  // The workers: the real worker loop with a no-op evaluation.
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      exec::WorkerOptions o;
      o.name = fmt::format("bench-{}", w);
      o.tags = {"cpu"};
      o.stop = &stop;
      o.evaluate = [](const exec::Job&) {
        eval::EvalResult r;
        r.status = eval::Status::kPassed;
        r.speedup = 1;
        return r;
      };
      auto summary = exec::RunRedisWorker(*url, o);
      if (!summary.ok()) std::cerr << summary.error().message << "\n";
    });
  }

  auto make_executor = [&](const std::string& run_key) {
    auto transport = exec::MakeRedisTransport(*url, {});
    exec::RemoteOptions o;
    o.run_key = run_key;
    auto executor = exec::MakeRemoteExecutor(std::move(*transport), *task, o);
    return std::move(executor.value());
  };

  std::cout << fmt::format("redis executor dispatch on loopback, {} (append-only, fsync always), no-op evaluation\n",
                           url->Describe());
  // Phase 1: one in flight.
  Tracker one;
  {
    auto executor = make_executor(fmt::format("lat{}", ::getpid()));
    for (int i = 0; i < latency_jobs; ++i) {
      one.Submit(*executor, i);
      if (!one.WaitFor(static_cast<std::size_t>(i + 1))) {
        std::cerr << "job " << i << " got no answer in 120 s\n";
        return 1;
      }
    }
  }
  std::cout << fmt::format("one job in flight, {} jobs, {} workers: enqueue-to-result p50 {:.2f} ms, p90 {:.2f} ms, p99 {:.2f} ms\n",
                           latency_jobs, workers, Percentile(one.latency_ms, 0.5), Percentile(one.latency_ms, 0.9),
                           Percentile(one.latency_ms, 0.99));

  // Phase 2: a burst.
  Tracker burst;
  const auto start = Clock::now();
  bool complete = false;
  {
    auto executor = make_executor(fmt::format("burst{}", ::getpid()));
    for (int i = 0; i < jobs; ++i) burst.Submit(*executor, i);
    complete = burst.WaitFor(static_cast<std::size_t>(jobs));
  }
  const double seconds = std::chrono::duration<double>(burst.last - start).count();
  int twice = 0;
  for (const auto& [id, n] : burst.answers) twice += n > 1 ? 1 : 0;
  const int lost = jobs - static_cast<int>(burst.answers.size());
  std::cout << fmt::format("{} jobs at once over {} workers: {:.3f} s, {:.0f} jobs/s; latency p50 {:.1f} ms, p99 {:.1f} ms; "
                           "{} answered, {} lost, {} answered twice\n",
                           jobs, workers, seconds, jobs / seconds, Percentile(burst.latency_ms, 0.5),
                           Percentile(burst.latency_ms, 0.99), burst.answers.size(), lost, twice);
  stop = true;
  for (auto& t : threads) t.join();
  server.reset();
  fs::remove_all(scratch);
  return complete && lost == 0 && twice == 0 ? 0 : 1;
}
