// Candidates evaluated per minute, end to end (static checks, compile, correctness, timing),
// through the same local executor `kfoundry run` uses: compiles in parallel, measures one at a
// time. Usage: kf_bench_throughput TASK_DIR KERNEL_DIR [COMPILE_JOBS]
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "core/fs.h"
#include "eval/evaluator.h"
#include "exec/executor.h"
#include "task/task.h"

namespace fs = std::filesystem;
using namespace kf;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: kf_bench_throughput TASK_DIR KERNEL_DIR [COMPILE_JOBS]\n";
    return 2;
  }
  auto task = task::LoadTask(argv[1]);
  if (!task.ok()) {
    std::cerr << task.error().message << "\n";
    return 2;
  }
  std::vector<fs::path> kernels;
  for (const auto& e : fs::directory_iterator(argv[2])) {
    if (e.path().extension() == ".cu" || e.path().extension() == ".cpp") kernels.push_back(e.path());
  }
  std::sort(kernels.begin(), kernels.end());
  const int jobs = argc > 3 ? std::atoi(argv[3]) : 0;

  auto evaluator = eval::MakeEvaluator(*task, eval::EvaluatorOptions{});  // reference built and run here
  if (!evaluator.ok()) {
    std::cerr << evaluator.error().message << "\n";
    return 2;
  }
  std::mutex mu;
  std::map<std::string, int> statuses;
  double compile_ms = 0, total_kernel_ms = 0;
  const auto start = std::chrono::steady_clock::now();
  {
    auto executor = exec::MakeLocalExecutor(**evaluator, jobs);
    for (std::size_t i = 0; i < kernels.size(); ++i) {
      auto source = core::ReadFile(kernels[i]);
      if (!source.ok()) return 2;
      executor->Submit({static_cast<std::int64_t>(i), *source}, [&](std::int64_t, eval::EvalResult r) {
        std::lock_guard lock(mu);
        ++statuses[std::string(eval::StatusName(r.status))];
        compile_ms += r.phases.compile_ms;
        total_kernel_ms += r.phases.kernel_ms;
      });
    }
    executor->Drain();
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format("task {}: {} candidates in {:.1f} s = {:.1f} candidates per minute ({} compile jobs)\n",
                           task->name, kernels.size(), wall_s, 60.0 * kernels.size() / wall_s,
                           jobs > 0 ? jobs : static_cast<int>(std::thread::hardware_concurrency()));
  std::cout << fmt::format("  sum of compile time {:.1f} s, sum of kernel time {:.2f} s\n", compile_ms / 1000,
                           total_kernel_ms / 1000);
  for (const auto& [s, n] : statuses) std::cout << fmt::format("  {}: {}\n", s, n);
  return 0;
}
