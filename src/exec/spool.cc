#include "exec/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/fs.h"
#include "core/log.h"

namespace kf::exec {
namespace fs = std::filesystem;
using core::ErrorCode;
using core::Expected;
using core::MakeError;
using Clock = std::chrono::system_clock;

namespace {

constexpr std::size_t kMaxResultBytes = 16 << 20;
constexpr std::size_t kMaxPackageJsonBytes = kMaxPackageBytes * 2;  // JSON escapes the files' text
constexpr std::size_t kMaxWorkerNameChars = 32;  // a claim's name must fit NAME_MAX with a 200-character id
constexpr int kMaxTakes = 999;
constexpr std::chrono::milliseconds kPollMin{50};    // a worker's first wait on an empty queue
constexpr std::chrono::milliseconds kPollMax{1000};  // ... doubling up to this
constexpr std::chrono::milliseconds kResultPoll{100};
constexpr std::chrono::milliseconds kRetryMax{10'000};
constexpr std::chrono::seconds kCoordinatorReclaimEvery{1};

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' || c == ':';
}

// Job ids, targets, hashes and worker names become file names here (exec::IsToken: never
// hidden, never climbing out of a folder).
bool IsSafeName(std::string_view s, std::size_t max_chars = 200) { return IsToken(s, max_chars); }

// An untrusted file name, fit for a message or a new name.
std::string Printable(std::string_view name) {
  std::string out(name.substr(0, 80));
  std::replace_if(out.begin(), out.end(), [](char c) { return !IsNameChar(c); }, '_');
  return out;
}

std::string JsonName(std::string_view stem) { return std::string(stem) + ".json"; }

unsigned NextSerial() {
  static std::atomic<unsigned> serial{0};
  return serial++;
}

// What a name under jobs/<target>/ or claimed/<target>/ says: "<id>.json" (queued, never
// taken), "<id>@<takes>.json" (queued again), "<id>@<take>@<worker>.json" (a claim).
struct Entry {
  std::string id;
  int takes = 0;       // claims of the job so far, a claim's own included
  std::string worker;  // who holds the claim; empty for a queued job

  std::string FileName() const {
    std::string name = id;
    if (takes > 0) name += fmt::format("@{}", takes);
    if (!worker.empty()) name += "@" + worker;
    return JsonName(name);
  }

  static std::optional<Entry> Parse(std::string_view name) {
    if (!name.ends_with(".json")) return std::nullopt;
    name.remove_suffix(5);
    std::vector<std::string_view> parts;
    for (std::size_t start = 0;;) {
      const std::size_t at = name.find('@', start);
      parts.push_back(name.substr(start, at - start));
      if (at == std::string_view::npos) break;
      start = at + 1;
    }
    if (parts.size() > 3 || !IsSafeName(parts[0])) return std::nullopt;
    Entry e{std::string(parts[0])};
    if (parts.size() >= 2) {
      const char* end = parts[1].data() + parts[1].size();
      const auto [ptr, ec] = std::from_chars(parts[1].data(), end, e.takes);
      if (ec != std::errc() || ptr != end || e.takes < 1 || e.takes > kMaxTakes) return std::nullopt;
    }
    if (parts.size() == 3) {
      if (!IsSafeName(parts[2], kMaxWorkerNameChars)) return std::nullopt;
      e.worker = parts[2];
    }
    return e;
  }
};

// Everything read from the shared directory comes through here: a regular file only (no
// symlink followed, no FIFO to block on), of at most max_bytes.
Expected<std::string> ReadBounded(const fs::path& path, std::size_t max_bytes) {
  core::Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    const ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : errno == ELOOP ? ErrorCode::kValidation : ErrorCode::kIo;
    return MakeError(code, fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return MakeError(ErrorCode::kIo, fmt::format("cannot stat {}: {}", path.string(), std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return MakeError(ErrorCode::kValidation, fmt::format("{} is not a regular file", path.string()));
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return MakeError(ErrorCode::kIo, fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
    if (n == 0) return text;
    if (text.size() + static_cast<std::size_t>(n) > max_bytes) {
      return MakeError(ErrorCode::kValidation, fmt::format("{} is larger than the limit of {} bytes", path.string(), max_bytes));
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

// A claim's mtime is when its lease runs out. The holder sets it (rather than touching it to
// "now"), so whoever checks needs no lease of its own: a worker with --lease 300 is not taken
// over by a coordinator that assumes 30.
bool SetExpiry(const fs::path& path, Clock::time_point expiry) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(expiry.time_since_epoch()).count();
  const timespec t{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  const timespec times[2] = {t, t};
  return ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0;
}

// nullopt when the claim is gone. The file is opened rather than stat()ed: an NFS client fetches
// fresh attributes on open (close-to-open), so a lease just renewed from another node is seen.
std::optional<Clock::time_point> Expiry(const fs::path& path) {
  struct stat st {};
  core::Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if ((fd.get() < 0 || ::fstat(fd.get(), &st) != 0) && ::lstat(path.c_str(), &st) != 0) return std::nullopt;
  const auto since_epoch = std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(since_epoch));
}

enum class Queued { kNow, kAlready, kAnswered };

struct Claim {
  std::string target;
  Entry entry;
  fs::path path;
};

struct Reclaimed {
  int requeued = 0;
  int dead_lettered = 0;
};

// The layout and the moves of a job through it, for the coordinator and the workers alike.
// Thread-safe: it keeps no state but paths.
class Spool {
 public:
  /// `who` names the temporary files this process writes.
  static Expected<Spool> Open(const fs::path& dir, std::string who) {
    for (const char* sub : {"packages", "jobs", "claimed", "results", "rejected", "tmp"}) {
      std::error_code ec;
      fs::create_directories(dir / sub, ec);
      if (ec) return MakeError(ErrorCode::kIo, fmt::format("cannot set up the spool directory {}: {}", (dir / sub).string(), ec.message()));
    }
    return Spool(dir, std::move(who));
  }

  const fs::path& dir() const { return dir_; }

  Expected<void> MakeTarget(const std::string& target) const {
    for (const fs::path& d : {Jobs(target), Claims(target)}) {
      std::error_code ec;
      fs::create_directories(d, ec);
      if (ec) return MakeError(ErrorCode::kIo, fmt::format("cannot create {}: {}", d.string(), ec.message()));
    }
    return core::Ok();
  }

  // --- packages ---

  Expected<void> PutPackage(const TaskPackage& package) const {
    const fs::path path = dir_ / "packages" / JsonName(package.hash);
    std::error_code ec;
    if (fs::exists(path, ec)) return core::Ok();
    KF_TRY(bool written, Publish(path, package.ToJson().dump()));
    (void)written;  // or written by another coordinator: the hash says it is the same package
    return core::Ok();
  }

  Expected<TaskPackage> ReadPackage(const std::string& hash) const {
    if (!IsSafeName(hash)) return MakeError(ErrorCode::kValidation, "a task hash with odd characters");
    const fs::path path = dir_ / "packages" / JsonName(hash);
    KF_TRY(std::string text, ReadBounded(path, kMaxPackageJsonBytes));
    KF_TRY(core::Json j, core::ParseJson(text, path.string()));
    return TaskPackage::FromJson(j);
  }

  // --- jobs ---

  Expected<Queued> Queue(const Job& job) const {
    // Looked for in the order a job moves (jobs/, claimed/, results/): one that moves on while
    // we look is found in its next place.
    if (Holds(Jobs(job.target), job.id) || Holds(Claims(job.target), job.id)) return Queued::kAlready;
    if (HasResult(job.id)) return Queued::kAnswered;
    KF_TRY_VOID(MakeTarget(job.target));
    KF_TRY(bool written, Publish(Jobs(job.target) / Entry{job.id}.FileName(), job.ToJson().dump()));
    return written ? Queued::kNow : Queued::kAlready;
  }

  /// Takes a queued job of one of the targets, in random order (workers started together do
  /// not all race for the same file), with a lease running out `lease` from now.
  std::optional<Claim> ClaimNext(const std::vector<std::string>& targets, const std::string& worker,
                                 Clock::duration lease) const {
    thread_local std::mt19937 rng{std::random_device{}()};
    for (const std::string& target : targets) {
      std::vector<std::string> names = List(Jobs(target));
      std::shuffle(names.begin(), names.end(), rng);
      for (const std::string& name : names) {
        const fs::path from = Jobs(target) / name;
        const std::optional<Entry> queued = Entry::Parse(name);
        if (!queued || !queued->worker.empty()) {
          Reject(from);
          continue;
        }
        // The lease is set before the rename, which keeps the mtime: a claim must never look
        // expired, not even for the instant between the two.
        if (!SetExpiry(from, Clock::now() + lease)) {
          if (errno != ENOENT) core::LogWarn("spool: cannot set the lease of {}: {}", from.string(), std::strerror(errno));
          continue;
        }
        Claim claim{target, Entry{queued->id, queued->takes + 1, worker}, {}};
        claim.path = Claims(target) / claim.entry.FileName();
        if (::rename(from.c_str(), claim.path.c_str()) == 0) return claim;
        if (errno != ENOENT) core::LogWarn("spool: cannot claim {}: {}", from.string(), std::strerror(errno));
        // ENOENT: another worker took it first.
      }
    }
    return std::nullopt;
  }

  /// The claimed job, validated; an error for a file that is not the job its name says.
  Expected<Job> ReadJob(const Claim& claim) const {
    KF_TRY(std::string text, ReadBounded(claim.path, kMaxJobBytes));
    KF_TRY(Job job, Job::Parse(text));
    if (job.id != claim.entry.id || job.target != claim.target) {
      return MakeError(ErrorCode::kValidation, fmt::format("{} holds job {} for {}, not what its name and folder say",
                                                           claim.path.string(), job.id, job.target));
    }
    return job;
  }

  /// A claim, or any entry, that is done with. One that cannot be removed (a folder with files
  /// in it) is moved aside, so that it does not hold up a drain for ever.
  void Remove(const fs::path& path) const {
    std::error_code ec;
    if (!fs::remove(path, ec) && ec && ec != std::errc::no_such_file_or_directory) Reject(path);
  }

  /// Whether no job of these targets is queued or claimed, by anyone.
  bool IsDrained(const std::vector<std::string>& targets) const {
    return std::all_of(targets.begin(), targets.end(),
                       [&](const std::string& t) { return List(Jobs(t)).empty() && List(Claims(t)).empty(); });
  }

  // --- results ---

  bool HasResult(std::string_view id) const {
    std::error_code ec;
    return fs::exists(dir_ / "results" / JsonName(id), ec);
  }

  /// false when the job was answered already (that answer stands).
  Expected<bool> WriteResult(JobResult result) const {
    std::string text = result.ToJson().dump();
    if (text.size() > kMaxResultBytes) {
      // The coordinator would refuse it; the verdict goes through without its log.
      result.result.log = fmt::format("(dropped: the result had {} bytes, more than the limit of {})", text.size(), kMaxResultBytes);
      result.result.profile.clear();
      text = result.ToJson().dump();
    }
    return Publish(dir_ / "results" / JsonName(result.job_id), text);
  }

  std::vector<std::string> ResultNames() const { return List(dir_ / "results"); }

  /// kIo for what may read fine next time; kValidation for a file that never will.
  Expected<JobResult> ReadResult(const std::string& name) const {
    if (!name.ends_with(".json") || !IsSafeName(std::string_view(name).substr(0, name.size() - 5))) {
      return MakeError(ErrorCode::kValidation, fmt::format("results/{} is not named <job id>.json", Printable(name)));
    }
    KF_TRY(std::string text, ReadBounded(dir_ / "results" / name, kMaxResultBytes));
    KF_TRY(JobResult result, JobResult::Parse(text));
    if (JsonName(result.job_id) != name) {
      return MakeError(ErrorCode::kValidation, fmt::format("results/{} answers another job ({})", name, result.job_id));
    }
    return result;
  }

  // --- expired claims ---

  /// Puts back every claim whose lease ran out, or answers it as worker_lost once it has used up
  /// max_attempts takes. Safe against other reclaimers: each move is one rename, or a result
  /// that is never replaced.
  Reclaimed ReclaimExpired(int max_attempts) const {
    Reclaimed done;
    const Clock::time_point now = Clock::now();
    for (const std::string& target : List(dir_ / "claimed")) {
      if (!IsSafeName(target)) continue;
      for (const std::string& name : List(Claims(target))) {
        const fs::path path = Claims(target) / name;
        const std::optional<Entry> claim = Entry::Parse(name);
        if (!claim || claim->worker.empty()) {
          Reject(path);
          continue;
        }
        const std::optional<Clock::time_point> expiry = Expiry(path);
        if (!expiry || *expiry > now) continue;
        if (HasResult(claim->id)) {
          Remove(path);  // its worker answered, then died before removing its claim
        } else if (claim->takes >= max_attempts) {
          done.dead_lettered += DeadLetter(*claim, path) ? 1 : 0;
        } else if (const fs::path back = Jobs(target) / Entry{claim->id, claim->takes}.FileName();
                   MakeTarget(target).ok() && ::rename(path.c_str(), back.c_str()) == 0) {
          core::LogWarn("spool: {} stopped renewing its lease on {} (take {}); the job is queued again", claim->worker,
                        claim->id, claim->takes);
          ++done.requeued;
        }
        // A rename that failed with ENOENT: another reclaimer was first.
      }
    }
    return done;
  }

 private:
  Spool(fs::path dir, std::string who) : dir_(std::move(dir)), who_(std::move(who)) {}

  fs::path Jobs(const std::string& target) const { return dir_ / "jobs" / target; }
  fs::path Claims(const std::string& target) const { return dir_ / "claimed" / target; }

  // A folder's entries, hidden ones left out (an NFS client's .nfsXXXX of a file unlinked while
  // open is not a job).
  static std::vector<std::string> List(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!name.starts_with(".")) names.push_back(std::move(name));
    }
    return names;
  }

  static bool Holds(const fs::path& dir, std::string_view id) {
    const std::vector<std::string> names = List(dir);
    return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
      const std::optional<Entry> e = Entry::Parse(name);
      return e && e->id == id;
    });
  }

  // Writes a file that is never replaced once there: written in tmp/, then link()ed into place,
  // which fails with EEXIST where rename() would replace. false: the file was there already.
  Expected<bool> Publish(const fs::path& path, std::string_view data) const {
    const fs::path tmp = dir_ / "tmp" / fmt::format("{}-{}-{}", who_, ::getpid(), NextSerial());
    KF_TRY_VOID(core::WriteFileAtomic(tmp, data));
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int link_errno = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    if (linked == 0) return true;
    if (link_errno == EEXIST) return false;
    return MakeError(ErrorCode::kIo, fmt::format("cannot link {} into place: {} (a spool needs a filesystem with hard links)",
                                                 path.string(), std::strerror(link_errno)));
  }

  // The answer to a job that took down every worker that ran it. Written before the claim is
  // removed: a reclaimer that dies in between leaves a claim whose result exists, which the
  // next pass removes.
  bool DeadLetter(const Entry& claim, const fs::path& path) const {
    const JobResult r = DeadLetterResult(claim.id, claim.takes, claim.worker);  // worded as every transport words it
    const Expected<bool> written = WriteResult(r);
    if (!written.ok()) {
      core::LogWarn("spool: cannot dead-letter {}: {}", claim.id, written.error().message);
      return false;  // the claim stays; the next pass tries again
    }
    if (*written) core::LogWarn("spool: {} took down {} workers; answered as worker_lost", claim.id, claim.takes);
    Remove(path);
    return *written;
  }

  // A file whose name says nothing usable: moved aside (its name made printable), never read.
  void Reject(const fs::path& path) const {
    const fs::path to = dir_ / "rejected" /
                        fmt::format("{}.{}-{}-{}", Printable(path.filename().string()), who_, ::getpid(), NextSerial());
    if (::rename(path.c_str(), to.c_str()) == 0) {
      core::LogWarn("spool: {}/{} is not a spool file name; moved to {}", path.parent_path().string(),
                    Printable(path.filename().string()), to.string());
    }
  }

  fs::path dir_;
  std::string who_;
};

// --- the coordinator ---------------------------------------------------------------------------

class SpoolTransport final : public Transport {
 public:
  SpoolTransport(Spool spool, SpoolOptions options) : spool_(std::move(spool)), options_(options) {}
  ~SpoolTransport() override { Stop(); }

  Expected<void> PutPackage(const TaskPackage& package) override { return spool_.PutPackage(package); }

  void Start(OnResult on_result) override {
    on_result_ = std::move(on_result);
    poller_ = std::thread([this] { Poll(); });
  }

  void Enqueue(const Job& job) override {
    KF_CHECK(IsSafeName(job.id) && IsSafeName(job.target)) << "job ids and targets are tokens (exec::JobId): " << job.id;
    for (std::chrono::milliseconds retry = kPollMin;; retry = std::min(retry * 2, kRetryMax)) {
      const Expected<Queued> queued = spool_.Queue(job);
      std::unique_lock lock(mu_);
      if (queued.ok()) {
        if (*queued == Queued::kAnswered) {
          delivered_.erase(JsonName(job.id));  // the poller delivers it (again) on its next pass
          redeliver_ = true;
          cv_.notify_all();
        }
        return;
      }
      core::LogWarn("{}: cannot queue {}: {}; trying again in {} ms", Describe(), job.id, queued.error().message, retry.count());
      if (cv_.wait_for(lock, retry, [this] { return stopping_; })) return;
    }
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (poller_.joinable()) poller_.join();
  }

  std::string Describe() const override { return "spool:" + spool_.dir().string(); }

 private:
  void Poll() {
    auto next_reclaim = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      // Takes back the claims of workers that died, even when no live worker is left to do it.
      if (std::chrono::steady_clock::now() >= next_reclaim) {
        spool_.ReclaimExpired(options_.max_attempts);
        next_reclaim = std::chrono::steady_clock::now() + kCoordinatorReclaimEvery;
      }
      DeliverNewResults();
      lock.lock();
      cv_.wait_for(lock, kResultPoll, [this] { return stopping_ || redeliver_; });
      redeliver_ = false;
    }
  }

  void DeliverNewResults() {
    for (const std::string& name : spool_.ResultNames()) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        if (delivered_.count(name)) continue;
      }
      Expected<JobResult> result = spool_.ReadResult(name);
      if (!result.ok() && result.error().code == ErrorCode::kIo) continue;  // read again on the next pass
      {
        // Marked before the call: an Enqueue that finds this result and unmarks it either comes
        // later (and it is delivered again) or came first (and this delivery is after it).
        std::lock_guard lock(mu_);
        delivered_.insert(name);
      }
      if (!result.ok()) {
        core::LogWarn("{}: {}; ignored", Describe(), result.error().message);
        continue;
      }
      on_result_(std::move(*result));
    }
  }

  const Spool spool_;
  const SpoolOptions options_;
  OnResult on_result_;
  std::thread poller_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool redeliver_ = false;
  std::set<std::string> delivered_;  // result file names
};

// --- the worker --------------------------------------------------------------------------------

class SpoolWorker {
 public:
  SpoolWorker(Spool spool, const WorkerOptions& options)
      : spool_(std::move(spool)),
        options_(options),
        lease_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.lease_seconds))),
        // No cancel flag: a stopped worker finishes the jobs in hand rather than answer them
        // with a cancelled verdict.
        runner_(JobRunner::Options{options.cache_dir, options.work_dir, options.tags, nullptr},
                [this](const std::string& hash) { return spool_.ReadPackage(hash); }) {}

  WorkerSummary Run() {
    std::thread keeper([this] { KeepLeases(); });
    std::vector<std::thread> slots;
    for (int i = 0; i < options_.slots; ++i) slots.emplace_back([this] { Serve(); });
    for (std::thread& slot : slots) slot.join();
    {
      std::lock_guard lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
    keeper.join();
    return WorkerSummary{evaluated_.load(), dead_lettered_.load(), reclaimed_.load()};
  }

 private:
  bool Stopped() const { return options_.stop != nullptr && options_.stop->load(); }

  // One slot: claim, answer, repeat; wait longer and longer while the queue is empty.
  void Serve() {
    std::chrono::milliseconds idle = kPollMin;
    while (!Stopped()) {
      if (std::optional<Claim> claim = spool_.ClaimNext(options_.tags, options_.name, lease_)) {
        Hold(claim->path);
        Answer(*claim);
        idle = kPollMin;
        continue;
      }
      if (options_.drain && spool_.IsDrained(options_.tags)) return;
      std::this_thread::sleep_for(idle);
      idle = std::min(idle * 2, kPollMax);
    }
  }

  void Answer(const Claim& claim) {
    const std::string& id = claim.entry.id;
    Expected<bool> written = false;
    if (!spool_.HasResult(id)) {  // else: queued again after its worker died, but it answered after all
      JobResult answer{id, options_.name, {}};
      const Expected<Job> job = spool_.ReadJob(claim);
      if (job.ok()) {
        core::LogInfo("worker {}: evaluating {} (take {})", options_.name, id, claim.entry.takes);
        answer.result = options_.evaluate ? options_.evaluate(*job) : runner_.Evaluate(*job);
      } else {
        core::LogWarn("worker {}: {}; answered as runtime_error", options_.name, job.error().message);
        answer.result.status = eval::Status::kRuntimeError;
        answer.result.message = "the job file is malformed: " + job.error().message;
      }
      written = spool_.WriteResult(std::move(answer));
    }
    Drop(claim.path);
    if (!written.ok()) {
      // The claim stays and expires: the job is taken again, here or elsewhere.
      core::LogWarn("worker {}: cannot write the result of {}: {}", options_.name, id, written.error().message);
      return;
    }
    if (*written) {
      ++evaluated_;
    } else {
      core::LogInfo("worker {}: {} was answered by another worker first; that answer stands", options_.name, id);
    }
    spool_.Remove(claim.path);
  }

  void Hold(const fs::path& claim) {
    std::lock_guard lock(mu_);
    held_.insert(claim);
  }
  void Drop(const fs::path& claim) {
    std::lock_guard lock(mu_);
    held_.erase(claim);
  }

  // Every lease/3: pushes the leases of the claims in hand forward, and takes back expired ones.
  void KeepLeases() {
    std::unique_lock lock(mu_);
    while (!finished_) {
      for (auto it = held_.begin(); it != held_.end();) {
        if (SetExpiry(*it, Clock::now() + lease_)) {
          ++it;
          continue;
        }
        const int error = errno;
        core::LogWarn("worker {}: cannot renew the lease of {}: {}", options_.name, it->string(), std::strerror(error));
        // Gone: taken back after a renewal came too late. The job may run twice; one answer stands.
        it = error == ENOENT ? held_.erase(it) : std::next(it);
      }
      lock.unlock();
      const Reclaimed reclaimed = spool_.ReclaimExpired(options_.max_attempts);
      reclaimed_ += reclaimed.requeued;
      dead_lettered_ += reclaimed.dead_lettered;
      lock.lock();
      cv_.wait_for(lock, lease_ / 3, [this] { return finished_; });
    }
  }

  const Spool spool_;
  const WorkerOptions options_;
  const Clock::duration lease_;
  JobRunner runner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<fs::path> held_;  // claims whose leases KeepLeases renews
  bool finished_ = false;
  std::atomic<int> evaluated_{0}, dead_lettered_{0}, reclaimed_{0};
};

}  // namespace

Expected<std::unique_ptr<Transport>> MakeSpoolTransport(const fs::path& dir, SpoolOptions options) {
  if (options.max_attempts < 1) return MakeError(ErrorCode::kInvalidArgument, "spool: max_attempts must be at least 1");
  KF_TRY(Spool spool, Spool::Open(dir, "coordinator-" + DefaultWorkerName()));
  return std::unique_ptr<Transport>(new SpoolTransport(std::move(spool), options));
}

Expected<WorkerSummary> RunSpoolWorker(const fs::path& dir, const WorkerOptions& given) {
  WorkerOptions options = given;
  if (options.name.empty()) options.name = DefaultWorkerName();
  if (options.tags.empty()) options.tags = DetectWorkerHardware().tags;
  if (options.cache_dir.empty()) options.cache_dir = core::DefaultCacheDir();
  if (!IsSafeName(options.name, kMaxWorkerNameChars)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("worker name '{}': at most {} of the characters A-Z a-z 0-9 - _ . :, not starting with '.'",
                                 options.name, kMaxWorkerNameChars));
  }
  if (options.tags.empty()) {
    return MakeError(ErrorCode::kToolchain, "this machine has no usable backend to serve (`kfoundry devices` says why); give --tags");
  }
  for (const std::string& tag : options.tags) {
    if (!IsSafeName(tag, 64)) return MakeError(ErrorCode::kInvalidArgument, fmt::format("tag '{}' is not a hardware tag", tag));
  }
  if (options.slots < 1 || !(options.lease_seconds > 0) || options.max_attempts < 1) {
    return MakeError(ErrorCode::kInvalidArgument, "a worker needs at least one slot, a lease of more than 0 s and max_attempts >= 1");
  }
  KF_TRY(Spool spool, Spool::Open(dir, options.name));
  for (const std::string& tag : options.tags) KF_TRY_VOID(spool.MakeTarget(tag));
  core::LogInfo("worker {}: taking jobs from spool {} {}", options.name, dir.string(),
                options.drain ? "until none is left" : "until stopped");
  SpoolWorker worker(std::move(spool), options);
  return worker.Run();
}

}  // namespace kf::exec
