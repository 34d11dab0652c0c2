// exec/spool.h — jobs and results as files in a shared directory, for clusters whose compute
// nodes cannot reach the coordinator but share a filesystem (Slurm: examples/slurm/).
//
// Layout under DIR (every name a token of [A-Za-z0-9-_.:], never starting with '.'):
//
//   packages/<hash>.json                  task packages (exec/job.h TaskPackage), written once
//   jobs/<target>/<id>.json               a queued job, never taken
//   jobs/<target>/<id>@<n>.json           a job queued again after n takes whose workers died
//   claimed/<target>/<id>@<n>@<worker>.json   the n-th take of a job, by <worker>
//   results/<id>.json                     answers (exec/job.h JobResult), never overwritten
//   rejected/                             files whose names say nothing usable, moved aside
//   tmp/                                  files being written, linked or renamed into place
//
// A worker claims a job by renaming it from jobs/ to claimed/: rename is atomic, so one worker
// wins and the others get ENOENT. A claim's mtime is when its lease runs out; the worker pushes
// it forward every lease/3 while it works. Anyone (workers and the coordinator) may take back a
// claim whose time has passed, by renaming it to jobs/<target>/<id>@<n>.json; two who try at
// once race on that rename, and one gets ENOENT. A claim that has used up max_attempts takes is
// answered instead, as worker_lost by "dead-letter". Results are written to tmp/ and link()ed
// into place, which fails with EEXIST where another answer was first: a result is never
// replaced, and a job that ran twice is answered once. Results stay after delivery, so a
// coordinator restarted later picks them up again when it re-sends its jobs.
//
// Requirements: a filesystem with atomic rename and hard links (NFS, Lustre, GPFS, a local
// disk); the coordinator and its workers run as one user (a lease is set with utimensat, which
// only the owner may do); node clocks agree to well within a lease (NTP).
#pragma once

#include <filesystem>
#include <memory>

#include "core/error.h"
#include "exec/remote.h"
#include "exec/worker.h"

namespace kf::exec {

struct SpoolOptions {
  /// Takes of a job before the coordinator dead-letters it when it finds its last claim expired
  /// (the workers apply their own WorkerOptions::max_attempts; leases are set by each claim's
  /// worker, so the coordinator needs none).
  int max_attempts = 3;
};

/// The coordinator's side of `--executor spool:DIR`. Creates the layout when missing.
/// Delivers every result in results/ once per transport (those of earlier runs too; the
/// executor ignores ids it does not wait on), and takes back expired claims.
core::Expected<std::unique_ptr<Transport>> MakeSpoolTransport(const std::filesystem::path& dir, SpoolOptions options);

/// `kfoundry worker --spool DIR [--drain]`: serves the jobs of options.tags until options.stop
/// is set (the jobs in hand are finished first) or, with options.drain, until none of those
/// targets has a queued or claimed job left (a dead worker's claim is waited for until its lease
/// runs out, then taken over). Empty name, tags and cache_dir get DefaultWorkerName(),
/// DetectWorkerHardware().tags and core::DefaultCacheDir(). kInvalidArgument for a name or tag
/// outside [A-Za-z0-9-_.:] (or starting with '.'), a name longer than 32 characters (it is part
/// of claim file names), or a non-positive slots, lease or max_attempts; kIo when DIR cannot be
/// set up. A job it cannot parse is answered (runtime_error) or moved to rejected/, never
/// fatal.
core::Expected<WorkerSummary> RunSpoolWorker(const std::filesystem::path& dir, const WorkerOptions& options);

}  // namespace kf::exec
