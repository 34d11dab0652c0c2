#include "exec/remote.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/json.h"
#include "core/log.h"

namespace kf::exec {
namespace {

class RemoteExecutor final : public Executor {
 public:
  RemoteExecutor(std::unique_ptr<Transport> transport, std::string task_hash, std::vector<std::string> targets,
                 RemoteOptions options)
      : transport_(std::move(transport)),
        task_hash_(std::move(task_hash)),
        targets_(std::move(targets)),
        options_(std::move(options)) {
    transport_->Start([this](JobResult r) { OnResult(std::move(r)); });
  }

  ~RemoteExecutor() override {
    Drain();
    transport_->Stop();
  }

  void Submit(EvalJob job, EvalDone done) override {
    // What a worker would refuse, or JSON could not carry, is said here at once.
    std::string refused;
    if (job.source.size() > kMaxSourceBytes) {
      refused = fmt::format("the kernel is {} bytes, more than the {} a remote worker accepts", job.source.size(),
                            kMaxSourceBytes);
    } else if (core::ValidUtf8(job.source) != job.source) {
      refused = "the kernel is not UTF-8 text";
    }
    if (!refused.empty()) {
      eval::EvalResult r;
      r.status = eval::Status::kStaticRejected;
      r.message = std::move(refused);
      done(job.candidate_id, std::move(r));
      return;
    }
    std::vector<Job> jobs;
    {
      std::lock_guard lock(mu_);
      const std::int64_t key = next_submission_++;
      Submission& s = submissions_[key];
      s.candidate_id = job.candidate_id;
      s.done = std::move(done);
      s.verdicts.resize(targets_.size());
      for (std::size_t t = 0; t < targets_.size(); ++t) {
        Job j;
        j.target = targets_[t];
        j.task_hash = task_hash_;
        j.source = job.source;
        j.settings = options_.settings;
        j.id = JobId(options_.run_key, j.task_hash, j.target, j.source, j.settings);
        waiting_[j.id].push_back({key, t});
        jobs.push_back(std::move(j));
      }
      ++pending_;
    }
    for (const Job& j : jobs) transport_->Enqueue(j);
  }

  void Drain() override {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return pending_ == 0; })) {
      if (options_.cancel == nullptr || !options_.cancel->load()) continue;
      std::vector<std::pair<EvalDone, std::int64_t>> cancelled;
      for (auto& [key, s] : submissions_) cancelled.emplace_back(std::move(s.done), s.candidate_id);
      submissions_.clear();
      waiting_.clear();
      lock.unlock();
      for (auto& [done, id] : cancelled) {
        eval::EvalResult r;
        r.status = eval::Status::kRuntimeError;
        r.message = "cancelled: the run stopped before every target's worker answered";
        done(id, std::move(r));
      }
      lock.lock();
      pending_ -= static_cast<int>(cancelled.size());
    }
  }

 private:
  struct Submission {
    std::int64_t candidate_id = 0;
    EvalDone done;
    std::vector<std::optional<eval::EvalResult>> verdicts;  // per target
    std::size_t answered = 0;
  };
  struct Waiter {
    std::int64_t submission;
    std::size_t target;
  };

  // A result may arrive twice (a re-sent job, a stream read again after a reconnect): the first
  // one answers everything waiting on that job id, later ones find nobody waiting.
  void OnResult(JobResult r) {
    std::vector<std::pair<EvalDone, std::pair<std::int64_t, eval::EvalResult>>> finished;
    {
      std::lock_guard lock(mu_);
      auto it = waiting_.find(r.job_id);
      if (it == waiting_.end()) return;
      for (const Waiter& w : it->second) {
        Submission& s = submissions_.at(w.submission);
        if (s.verdicts[w.target]) continue;
        s.verdicts[w.target] = r.result;
        if (++s.answered < targets_.size()) continue;
        std::vector<std::pair<std::string, eval::EvalResult>> all;
        for (std::size_t t = 0; t < targets_.size(); ++t) all.emplace_back(targets_[t], std::move(*s.verdicts[t]));
        finished.push_back({std::move(s.done), {s.candidate_id, CombineTargets(all)}});
        submissions_.erase(w.submission);
      }
      waiting_.erase(it);
    }
    for (auto& [done, verdict] : finished) {
      done(verdict.first, std::move(verdict.second));
      {
        std::lock_guard lock(mu_);
        --pending_;
      }
      cv_.notify_all();
    }
  }

  std::unique_ptr<Transport> transport_;
  const std::string task_hash_;
  const std::vector<std::string> targets_;
  const RemoteOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::int64_t, Submission> submissions_;
  std::map<std::string, std::vector<Waiter>> waiting_;  // by job id
  std::int64_t next_submission_ = 0;
  int pending_ = 0;
};

}  // namespace

core::Expected<std::unique_ptr<Executor>> MakeRemoteExecutor(std::unique_ptr<Transport> transport, const task::Task& task,
                                                             RemoteOptions options) {
  KF_TRY(TaskPackage package, PackTask(task));
  KF_TRY_VOID(transport->PutPackage(package));
  core::LogInfo("evaluations go to {} (targets: {})", transport->Describe(), fmt::join(TaskTargets(task), ", "));
  return std::unique_ptr<Executor>(
      new RemoteExecutor(std::move(transport), package.hash, TaskTargets(task), std::move(options)));
}

}  // namespace kf::exec
