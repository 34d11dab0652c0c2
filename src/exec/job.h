// exec/job.h — what travels between a coordinator and remote workers (Redis or a spool
// directory), and what a worker does with it.
//
// A job is one candidate's source for one hardware target of one task, with the evaluator's
// settings. The task itself travels once, as a content-addressed package of its files; a worker
// unpacks it into its cache the first time a job names it. Everything a worker reads from the
// outside is validated before anything is compiled: sizes, fields, file names, the backend.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "eval/eval_result.h"
#include "eval/evaluator.h"
#include "task/task.h"

namespace kf::exec {

/// Limits on what a worker accepts.
inline constexpr std::size_t kMaxSourceBytes = 1 << 20;          // one candidate's code
inline constexpr std::size_t kMaxPackageBytes = 64 << 20;        // a task package's files, in all
inline constexpr std::size_t kMaxPackageFiles = 512;
inline constexpr std::size_t kMaxJobBytes = kMaxSourceBytes + (64 << 10);  // a job as JSON

/// The evaluator options a job carries (the rest are the worker's own: cache, work dirs).
struct EvalSettings {
  std::uint64_t seed = 0x6b66'6f75'6e64'7279ULL;
  std::optional<double> timeout_seconds;
  bool profile = false;
  bool sanitize = false;

  static EvalSettings From(const eval::EvaluatorOptions& o);
  /// The other way: these settings into a worker's evaluator options.
  void ApplyTo(eval::EvaluatorOptions& o) const;
  core::Json ToJson() const;
  static core::Expected<EvalSettings> FromJson(const core::Json& j);
};

struct Job {
  std::string id;         // unique per (run, target, source): a re-sent job has the same id
  std::string task_hash;  // TaskPackage::hash
  std::string target;     // hardware tag, e.g. "cuda-sm90"
  std::string source;
  EvalSettings settings;

  core::Json ToJson() const;
  /// kParse / kValidation naming the field and what is wrong; sizes checked.
  static core::Expected<Job> FromJson(const core::Json& j);
  static core::Expected<Job> Parse(std::string_view text);
};

/// Job ids, hardware tags, hashes and worker names: 1 to max characters of [A-Za-z0-9-_.:],
/// not starting with '.'. They become Redis keys and file names, so none can leave a folder.
bool IsToken(std::string_view s, std::size_t max = 128);

/// A worker's answer to a job.
struct JobResult {
  std::string job_id;
  std::string worker;  // who answered ("dead-letter" for worker_lost)
  eval::EvalResult result;

  core::Json ToJson() const;
  static core::Expected<JobResult> Parse(std::string_view text);
};

/// The answer to a job that took down every worker that took it (`takes` times; `last_worker`
/// took it last, when known): worker_lost, from the worker "dead-letter".
JobResult DeadLetterResult(const std::string& job_id, long long takes, const std::string& last_worker);

/// The id of a job that does not validate, when its JSON still names a well-formed one; empty
/// otherwise. For answering a malformed job instead of leaving its coordinator waiting.
std::string RecoverJobId(std::string_view text);

/// A job's id: the run's key, the target and a hash of the task, target, settings and source
/// (an edited task gives new ids, so a resumed run never takes a verdict on the old one).
std::string JobId(std::string_view run_key, std::string_view task_hash, std::string_view target, std::string_view source,
                  const EvalSettings& settings);

/// A task directory's files (relative path → content), content-addressed.
struct TaskPackage {
  std::string hash;  // sha256 over the sorted (path, content) pairs
  std::map<std::string, std::string> files;

  core::Json ToJson() const;
  static core::Expected<TaskPackage> FromJson(const core::Json& j);  // checks paths, sizes, hash
};

/// Every regular file under the task's directory (hidden entries skipped), within the limits.
core::Expected<TaskPackage> PackTask(const task::Task& task);

/// Writes the package under root/<hash>/ (once; concurrent writers are safe) and loads it.
core::Expected<task::Task> UnpackTask(const TaskPackage& package, const std::filesystem::path& root);

/// The targets a task's jobs go to: its `targets`, or its backend's name ("cuda", "cpu").
std::vector<std::string> TaskTargets(const task::Task& task);

/// One verdict from a verdict per target: passed only when every target passed (otherwise the
/// first failing target's verdict, its message prefixed with the target); the speedup and
/// median are geometric means over every (target, shape) pair, whose labels name the target.
/// A single target's verdict is returned as it is.
eval::EvalResult CombineTargets(const std::vector<std::pair<std::string, eval::EvalResult>>& verdicts);

/// What a worker can run: its hardware tags ("cpu", "cpu-x86_64", "cuda", "cuda-sm90",
/// "opencl", ...), from the usable toolchains and devices.
struct WorkerHardware {
  std::vector<std::string> tags;
  std::vector<eval::ToolchainInfo> toolchains;
  core::Json ToJson() const;
};
WorkerHardware DetectWorkerHardware();

/// Whether a worker with `tags` may run a job for `target` on `backend`: the target must be one
/// of its tags, and the backend's name or "<backend>-..." too (a cuda job never runs on a host
/// that only advertises cpu, whatever the target says).
bool CanServe(const std::vector<std::string>& tags, std::string_view target, task::Backend backend);

/// The worker side: evaluates jobs, keeping one evaluator per (task, settings) and giving the
/// device to one measurement at a time (no compile beside a measurement of host cores).
/// Thread-safe: a worker with several slots calls Evaluate from each.
class JobRunner {
 public:
  struct Options {
    std::filesystem::path cache_dir;  // compile cache, unpacked tasks (cache_dir/tasks)
    std::filesystem::path work_dir;
    std::vector<std::string> tags;
    const std::atomic<bool>* cancel = nullptr;
  };
  /// Fetches a task package by hash (from Redis, from the spool directory).
  using FetchPackage = std::function<core::Expected<TaskPackage>(const std::string& hash)>;

  JobRunner(Options options, FetchPackage fetch);
  ~JobRunner();

  /// A verdict for every job, never a throw (KF_FAULT_ABORT_ON=<text> in the environment makes
  /// the process abort on a job whose source holds <text>: fault injection for tests): a job this worker must not or cannot run (an
  /// unknown target, a missing package, a task that does not load, a reference that fails) is
  /// answered with a runtime_error verdict saying why.
  eval::EvalResult Evaluate(const Job& job);

 private:
  struct Slot;
  core::Expected<std::shared_ptr<Slot>> SlotFor(const Job& job);

  Options options_;
  FetchPackage fetch_;
  std::mutex mu_;
  static constexpr std::size_t kMaxEvaluators = 16;
  std::map<std::string, std::shared_ptr<Slot>> slots_;  // by task hash + settings, at most kMaxEvaluators
  std::uint64_t uses_ = 0;
  std::mutex device_mu_;          // one measurement at a time
  std::shared_mutex cores_mu_;    // compiles share it; a measurement of host cores takes it alone
};

}  // namespace kf::exec
