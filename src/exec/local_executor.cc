#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "exec/executor.h"

namespace kf::exec {
namespace {

class LocalExecutor final : public Executor {
 public:
  LocalExecutor(eval::Evaluator& evaluator, int compile_workers)
      : evaluator_(evaluator), exclusive_measure_(evaluator.TimesOnHostCores()) {
    if (compile_workers <= 0) compile_workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < compile_workers; ++i) compilers_.emplace_back([this] { CompileLoop(); });
    measurer_ = std::thread([this] { MeasureLoop(); });
  }

  ~LocalExecutor() override {
    Drain();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : compilers_) t.join();
    measurer_.join();
  }

  void Submit(EvalJob job, EvalDone done) override {
    {
      std::lock_guard lock(mu_);
      ++pending_;
      to_compile_.push_back({std::move(job), std::move(done)});
    }
    cv_.notify_all();
  }

  void Drain() override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  struct Item {
    EvalJob job;
    EvalDone done;
  };
  struct PreparedItem {
    Item item;
    eval::Prepared prepared;
  };

  // Stages 1-2 run concurrently: they only use CPU cores, never a GPU being timed. When the
  // cores are what is timed, no compile starts while a measurement waits or runs.
  void CompileLoop() {
    while (true) {
      Item item;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return (stopping_ && to_compile_.empty()) || (!to_compile_.empty() && !measuring_); });
        if (to_compile_.empty()) return;
        item = std::move(to_compile_.front());
        to_compile_.pop_front();
        ++compiling_;
      }
      eval::Prepared prepared = evaluator_.Prepare(item.job.source);
      {
        std::lock_guard lock(mu_);
        --compiling_;
        to_measure_.push_back({std::move(item), std::move(prepared)});
      }
      cv_.notify_all();
    }
  }

  // Stages 3-4 run one at a time so no two candidates compete for the device while timed.
  void MeasureLoop() {
    while (true) {
      PreparedItem p;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return (stopping_ && to_compile_.empty()) || !to_measure_.empty(); });
        if (to_measure_.empty()) return;
        p = std::move(to_measure_.front());
        to_measure_.pop_front();
        if (exclusive_measure_ && p.prepared.ready) {
          measuring_ = true;  // no compile starts from here; those under way finish first
          cv_.wait(lock, [this] { return compiling_ == 0; });
        }
      }
      eval::EvalResult result = evaluator_.Measure(p.prepared);
      {
        std::lock_guard lock(mu_);
        measuring_ = false;
      }
      cv_.notify_all();
      p.item.done(p.item.job.candidate_id, std::move(result));
      {
        std::lock_guard lock(mu_);
        --pending_;
      }
      cv_.notify_all();
    }
  }

  eval::Evaluator& evaluator_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> to_compile_;
  std::deque<PreparedItem> to_measure_;
  int pending_ = 0;
  bool stopping_ = false;
  const bool exclusive_measure_;  // the evaluator times this machine's cores
  bool measuring_ = false;        // an exclusive measurement waits or runs
  int compiling_ = 0;
  std::vector<std::thread> compilers_;
  std::thread measurer_;
};

}  // namespace

std::unique_ptr<Executor> MakeLocalExecutor(eval::Evaluator& evaluator, int compile_workers) {
  return std::make_unique<LocalExecutor>(evaluator, compile_workers);
}

}  // namespace kf::exec
