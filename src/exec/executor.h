// exec/executor.h — where evaluations run.
//
// The engine submits candidates and gets results back through a callback; it never knows
// whether they ran on this machine or elsewhere. The local executor compiles on a pool of
// threads (static checks and compiles are independent) and measures on one thread, because
// timings are only trustworthy when one candidate has the device at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "eval/eval_result.h"
#include "eval/evaluator.h"

namespace kf::exec {

struct EvalJob {
  std::int64_t candidate_id = 0;
  std::string source;
};

/// Called exactly once per submitted job: on an executor thread, or on the submitting thread
/// when the answer is known at once (a remote executor: a kernel over the size limit, a result
/// stored by an earlier coordinator). Submit is never called with a lock the callback takes.
using EvalDone = std::function<void(std::int64_t candidate_id, eval::EvalResult result)>;

class Executor {
 public:
  virtual ~Executor() = default;
  /// Queues a job. Thread-safe.
  virtual void Submit(EvalJob job, EvalDone done) = 0;
  /// Blocks until every job submitted so far is done.
  virtual void Drain() = 0;
};

/// `evaluator` must outlive the executor. compile_workers <= 0 means one per hardware thread.
/// The destructor drains.
std::unique_ptr<Executor> MakeLocalExecutor(eval::Evaluator& evaluator, int compile_workers = 0);

}  // namespace kf::exec
