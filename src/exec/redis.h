// exec/redis.h — evaluations through Redis Streams, a worker registry, and the URL.
//
// Keys (all under "kf:"):
//   kf:pkg:<hash>          a task package (exec/job.h), stored once
//   kf:jobs:<tag>          a stream of jobs per hardware tag, consumer group "kf-workers"
//   kf:job:<id>            "queued": a job is enqueued once, however often it is submitted
//   kf:result:<id>         its result, written once (SET NX): a re-run never counts twice
//   kf:results:<run key>   a stream of results for the coordinator of that run
//   kf:lease:<stream>:<entry>  a job's lease, kept alive by its holder (PX: the holder's --lease)
//   kf:worker:<name>       a worker's advertisement (hardware, version, load), expiring unless
//                          its heartbeat renews it
// A worker renews the lease of every job it holds while the entry is still pending with it;
// another worker takes over an entry whose lease key is gone, and once an entry has been
// delivered more than max_attempts times it is answered as worker_lost. Both sides reconnect
// with backoff when Redis goes away and retry what they were doing; queueing a job and writing
// its result (with the acknowledgement, in one script) are idempotent.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "eval/ceilings.h"
#include "exec/remote.h"
#include "exec/worker.h"

namespace kf::exec {

/// redis://[user:password@]host:port[/db]. The password may also come from KF_REDIS_PASSWORD
/// (the URL's wins); it is registered as a secret, so no log line or message ever shows it.
struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;

  /// kInvalidArgument saying what is wrong with the URL (without echoing a password).
  static core::Expected<RedisUrl> Parse(std::string_view url);
  /// "redis://host:port/db", never the credentials.
  std::string Describe() const;
};

/// How connections behave; a worker's leases and attempts are in its WorkerOptions.
struct RedisOptions {
  /// Connecting and reconnecting: the first retry waits this long, doubling to max_backoff.
  double backoff_seconds = 0.05;
  double max_backoff_seconds = 2;
  /// Set (Ctrl-C) to give up waiting for a broker that is down.
  const std::atomic<bool>* cancel = nullptr;
};

/// The coordinator's side of `--executor redis://...`.
core::Expected<std::unique_ptr<Transport>> MakeRedisTransport(const RedisUrl& url, RedisOptions options);

/// `kfoundry worker --executor redis://...`: serves jobs for options.tags until options.stop.
core::Expected<WorkerSummary> RunRedisWorker(const RedisUrl& url, const WorkerOptions& options);

/// A live worker's advertisement.
struct WorkerInfo {
  std::string name;
  std::vector<std::string> tags;
  core::Json json;  // everything it advertised: host, version, slots, busy, evaluated, toolchains, ceilings
};
core::Expected<std::vector<WorkerInfo>> ListWorkers(const RedisUrl& url);

/// The measured ceilings (eval/ceilings.h) of the task backend's device that the first live
/// worker serving each target advertises, with the tightest launch limits over the targets (a
/// tuned configuration must launch on every one); nullopt when none advertises one.
std::optional<eval::DeviceCeilings> AdvertisedCeilings(const std::vector<WorkerInfo>& workers,
                                                       const std::vector<std::string>& targets, task::Backend backend);

/// The coordinator's check before a run: every target has a live worker that can serve it.
/// kNotFound naming the missing tags and the live workers' tags.
core::Expected<void> CheckTargetsServed(const std::vector<WorkerInfo>& workers, const std::vector<std::string>& targets,
                                        task::Backend backend, const std::string& where);

}  // namespace kf::exec
