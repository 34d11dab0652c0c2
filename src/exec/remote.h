// exec/remote.h — an Executor whose evaluations run on other machines.
//
// The executor turns each submitted candidate into one job per target of the task, hands the
// jobs to a Transport (Redis Streams, a spool directory), and answers the candidate once every
// target's result is in (exec/job.h CombineTargets). Job ids are a function of the run's key,
// the target and the source, so a job re-sent after the coordinator restarts is the same job:
// its result, if a worker already wrote it, is taken as it is, and never counted twice.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "core/error.h"
#include "exec/executor.h"
#include "exec/job.h"

namespace kf::exec {

/// Where jobs go and results come from. Implementations are thread-safe.
class Transport {
 public:
  using OnResult = std::function<void(JobResult)>;
  virtual ~Transport() = default;
  /// Stores the task package where workers can fetch it (idempotent).
  virtual core::Expected<void> PutPackage(const TaskPackage& package) = 0;
  /// Starts delivering results (any job's, possibly more than once) to `on_result`.
  virtual void Start(OnResult on_result) = 0;
  /// Queues a job unless it is queued or answered already; a job answered already gets its
  /// result delivered through on_result. Retries through broker outages until it succeeds or
  /// the transport is stopped.
  virtual void Enqueue(const Job& job) = 0;
  /// Stops delivering; no callback runs after it returns.
  virtual void Stop() = 0;
  /// For messages: "redis://host:6379/0" (never the password), "spool:/shared/jobs".
  virtual std::string Describe() const = 0;
};

struct RemoteOptions {
  /// Stable for the run (kept in its directory), so resubmitted jobs keep their ids.
  std::string run_key;
  EvalSettings settings;
  /// Set (Ctrl-C): Drain stops waiting and answers every job still out as cancelled (a stopping
  /// run records no such verdict; a resumed run sends the jobs again, under the same ids).
  const std::atomic<bool>* cancel = nullptr;
};

/// Sends the task's package, then returns the executor. The destructor drains and stops the
/// transport.
core::Expected<std::unique_ptr<Executor>> MakeRemoteExecutor(std::unique_ptr<Transport> transport, const task::Task& task,
                                                             RemoteOptions options);

}  // namespace kf::exec
