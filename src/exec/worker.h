// exec/worker.h — `kfoundry worker`: serve evaluations on this machine's hardware.
//
// A worker takes jobs for the hardware tags it has (exec/job.h), evaluates them with its own
// backends in sandboxed children (JobRunner), and writes each result once. It holds a lease on
// every job it works on and renews it; a job whose lease ran out (its worker died) is taken
// again by another worker; a job that has been taken max_attempts times without an answer
// (it keeps killing workers) is answered as worker_lost instead of being run again.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "exec/job.h"

namespace kf::exec {

struct WorkerOptions {
  std::string name;               // unique among live workers; default: host-pid
  std::vector<std::string> tags;  // default: DetectWorkerHardware().tags
  int slots = 1;                  // jobs worked on at once (compiles overlap; measurements never do)
  double lease_seconds = 30;      // a job not renewed for this long is taken by another worker
  int max_attempts = 3;           // takes of a job before it is dead-lettered as worker_lost
  bool drain = false;             // spool: exit once no job is left (claimed ones included)
  std::filesystem::path cache_dir;  // compile cache, unpacked task packages
  std::filesystem::path work_dir;   // child scratch directories
  const std::atomic<bool>* stop = nullptr;  // finish the jobs in hand, then return
  /// How a job is evaluated; empty: a JobRunner over this machine's backends. The dispatch
  /// benchmark passes a no-op to time the queue alone.
  std::function<eval::EvalResult(const Job&)> evaluate;
  /// What the worker advertises besides its name, tags and load: toolchains, measured device
  /// ceilings (the CLI fills it from DetectWorkerHardware and eval::CeilingsFor).
  core::Json hardware;
};

struct WorkerSummary {
  int evaluated = 0;      // results this worker wrote
  int dead_lettered = 0;  // jobs it answered as worker_lost
  int reclaimed = 0;      // jobs it took over from a worker whose lease ran out
};

/// The worker name used when none is given: "<hostname>-<pid>".
std::string DefaultWorkerName();
/// This machine's host name, as workers advertise it.
std::string HostName();

}  // namespace kf::exec
