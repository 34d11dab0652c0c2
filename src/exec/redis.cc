#include "exec/redis.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <mutex>
#include <thread>

#include "core/log.h"

#ifndef KF_VERSION
#define KF_VERSION "unknown"
#endif

namespace kf::exec {
namespace {
using core::ErrorCode;
using core::Expected;
using core::Json;
using core::MakeError;
using Clock = std::chrono::steady_clock;

constexpr const char* kGroup = "kf-workers";
constexpr int kKeyTtlSeconds = 7 * 24 * 3600;  // markers and results outlive any run's pause
constexpr int kHeartbeatSeconds = 2;
// An entry is taken over only when its lease key is gone and it has been idle this long (a fresh
// delivery has not set its lease key yet).
constexpr int kClaimMinIdleMs = 1000;

std::string JobsStream(std::string_view tag) { return fmt::format("kf:jobs:{}", tag); }
std::string ResultKey(std::string_view id) { return fmt::format("kf:result:{}", id); }
std::string MarkerKey(std::string_view id) { return fmt::format("kf:job:{}", id); }
std::string PackageKey(std::string_view hash) { return fmt::format("kf:pkg:{}", hash); }
std::string WorkerKey(std::string_view name) { return fmt::format("kf:worker:{}", name); }
std::string LeasePrefix(std::string_view stream) { return fmt::format("kf:lease:{}:", stream); }
// Job ids start with the run's key (exec::JobId), which names the coordinator's result stream.
std::string ResultsStream(std::string_view job_id) {
  return fmt::format("kf:results:{}", job_id.substr(0, job_id.find(':')));
}

// Queues a job once: its result if there is one, otherwise nil after queueing it (unless its
// marker says it is queued already).
constexpr const char* kEnqueueScript = R"lua(
local r = redis.call('GET', KEYS[1])
if r then return r end
if redis.call('SET', KEYS[2], 'queued', 'NX', 'EX', ARGV[2]) then
  pcall(redis.call, 'XGROUP', 'CREATE', KEYS[3], 'kf-workers', '0', 'MKSTREAM')
  redis.call('XADD', KEYS[3], '*', 'job', ARGV[1])
end
return false
)lua";

// Writes a result once, tells the coordinator, and acknowledges and removes the job's entry, in
// one step: a worker that dies in between leaves either nothing done or everything. Returns 0
// when another worker answered first (the entry is acknowledged all the same).
//   KEYS: result key, results stream, jobs stream, lease key
//   ARGV: result JSON (empty: acknowledge only), job id, ttl seconds, entry id
constexpr const char* kResultScript = R"lua(
local written = 0
if ARGV[1] ~= '' and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'job', ARGV[2], 'result', ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  written = 1
end
redis.call('XACK', KEYS[3], 'kf-workers', ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])
redis.call('DEL', KEYS[4])
return written
)lua";

// The lease: the holder keeps kf:lease:<stream>:<entry> alive (PX: its own lease) and resets the
// entry's idle time, as long as the entry is still pending with it. 0: it is not any more
// (another worker took it over), so the holder stops renewing it.
//   KEYS: jobs stream, lease key   ARGV: consumer, entry id, lease ms
constexpr const char* kRenewScript = R"lua(
local p = redis.call('XPENDING', KEYS[1], 'kf-workers', ARGV[2], ARGV[2], 1, ARGV[1])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], 'kf-workers', ARGV[1], 0, ARGV[2], 'JUSTID')
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1
)lua";

// Takes over one entry whose holder let its lease key expire (whatever lease that holder had),
// idle at least ARGV[3] ms; returns {entry, deliveries} or nil. Entries deleted meanwhile are
// acknowledged and skipped.
//   KEYS: jobs stream   ARGV: consumer, lease key prefix, min idle ms
constexpr const char* kReclaimScript = R"lua(
local pending = redis.call('XPENDING', KEYS[1], 'kf-workers', 'IDLE', ARGV[3], '-', '+', 100)
for _, p in ipairs(pending) do
  if redis.call('EXISTS', ARGV[2] .. p[1]) == 0 then
    local claimed = redis.call('XCLAIM', KEYS[1], 'kf-workers', ARGV[1], ARGV[3], p[1])
    if claimed[1] then return {claimed[1], p[4] + 1} end
    redis.call('XACK', KEYS[1], 'kf-workers', p[1])
  end
end
return false
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

std::string Str(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
             ? std::string(r->str, r->len)
             : std::string();
}

/// One connection, used from one thread at a time. Every command retries through reconnects
/// with backoff until it gets a reply or `stop` is set; Redis's own errors are returned.
class Connection {
 public:
  Connection(RedisUrl url, RedisOptions options, const std::atomic<bool>* stop)
      : url_(std::move(url)), options_(options), stop_(stop) {}
  ~Connection() { Close(); }

  /// Connects once (no retries): a wrong address or password is reported at start.
  Expected<void> Open() { return Connect(); }

  /// timeout: the socket's, for blocking commands longer than the default.
  Expected<Reply> Command(const std::vector<std::string>& args, double timeout_seconds = 10) {
    double backoff = options_.backoff_seconds;
    bool warned = false;
    while (true) {
      if (ctx_ == nullptr) {
        auto connected = Connect();
        if (!connected.ok()) {
          if (connected.error().code == ErrorCode::kAuth) return connected.error();
          if (!warned) core::LogWarn("redis at {}: {}; retrying", url_.Describe(), connected.error().message);
          warned = true;
          if (!Sleep(backoff)) return MakeError(ErrorCode::kCancelled, "stopped while reconnecting to redis");
          backoff = std::min(backoff * 2, options_.max_backoff_seconds);
          continue;
        }
        if (warned) core::LogInfo("redis at {}: reconnected", url_.Describe());
      }
      SetTimeout(timeout_seconds);
      Reply reply = Raw(args);
      if (reply) {
        if (reply->type == REDIS_REPLY_ERROR && Str(reply.get()).rfind("LOADING", 0) == 0) {
          if (!Sleep(backoff)) return MakeError(ErrorCode::kCancelled, "stopped while redis was loading");
          backoff = std::min(backoff * 2, options_.max_backoff_seconds);
          continue;
        }
        return reply;
      }
      // The connection broke (the server restarted, a timeout): drop it and try again.
      if (!warned) core::LogWarn("redis at {}: {}; reconnecting", url_.Describe(), ctx_->errstr);
      warned = true;
      Close();
      if (!Sleep(backoff)) return MakeError(ErrorCode::kCancelled, "stopped while reconnecting to redis");
      backoff = std::min(backoff * 2, options_.max_backoff_seconds);
    }
  }

  /// A command whose Redis error is a failure too.
  Expected<Reply> Checked(const std::vector<std::string>& args, double timeout_seconds = 10) {
    KF_TRY(Reply r, Command(args, timeout_seconds));
    if (r->type == REDIS_REPLY_ERROR) {
      return MakeError(ErrorCode::kServer, fmt::format("redis {}: {}", args.front(), Str(r.get())));
    }
    return r;
  }

 private:
  Expected<void> Connect() {
    Close();
    timeval tv{5, 0};
    redisContext* c = redisConnectWithTimeout(url_.host.c_str(), url_.port, tv);
    if (c == nullptr || c->err != 0) {
      std::string why = c != nullptr ? c->errstr : "out of memory";
      if (c != nullptr) redisFree(c);
      return MakeError(ErrorCode::kNetwork, fmt::format("cannot connect to {}: {}", url_.Describe(), why));
    }
    ctx_ = c;
    redisEnableKeepAlive(ctx_);
    auto fail = [&](ErrorCode code, std::string message) -> Expected<void> {
      Close();
      return MakeError(code, std::move(message));
    };
    if (!url_.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!url_.user.empty()) auth.push_back(url_.user);
      auth.push_back(url_.password);
      Reply r = Raw(auth);
      if (!r) return fail(ErrorCode::kNetwork, fmt::format("{}: the connection broke during AUTH", url_.Describe()));
      if (r->type == REDIS_REPLY_ERROR) {
        return fail(ErrorCode::kAuth, fmt::format("{} refused the credentials: {}", url_.Describe(), core::Redact(Str(r.get()))));
      }
    }
    if (url_.db != 0) {
      Reply r = Raw({"SELECT", std::to_string(url_.db)});
      if (!r || r->type == REDIS_REPLY_ERROR) {
        return fail(ErrorCode::kInvalidArgument, fmt::format("{}: cannot select database {}: {}", url_.Describe(), url_.db,
                                                             r ? Str(r.get()) : "the connection broke"));
      }
    }
    return core::Ok();
  }

  Reply Raw(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return Reply(static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())));
  }

  void SetTimeout(double seconds) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(seconds);
    tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
    redisSetTimeout(ctx_, tv);
  }

  bool Stopping() const {
    return (stop_ != nullptr && stop_->load()) || (options_.cancel != nullptr && options_.cancel->load());
  }

  bool Sleep(double seconds) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      if (Stopping()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return !Stopping();
  }

  void Close() {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  RedisUrl url_;
  RedisOptions options_;
  const std::atomic<bool>* stop_;
  redisContext* ctx_ = nullptr;
};

/// A stream entry: its id and the value of one field.
struct Entry {
  std::string stream;
  std::string id;
  std::map<std::string, std::string> fields;
};

std::vector<Entry> ParseEntries(const std::string& stream, const redisReply* entries) {
  std::vector<Entry> out;
  if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) return out;
  for (std::size_t i = 0; i < entries->elements; ++i) {
    const redisReply* e = entries->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
    Entry entry{stream, Str(e->element[0]), {}};
    const redisReply* kv = e->element[1];
    if (kv->type == REDIS_REPLY_ARRAY) {
      for (std::size_t k = 0; k + 1 < kv->elements; k += 2) entry.fields[Str(kv->element[k])] = Str(kv->element[k + 1]);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// XREAD / XREADGROUP: [[stream, [entries]], ...] or nil.
std::vector<Entry> ParseStreams(const redisReply* r) {
  std::vector<Entry> out;
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return out;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* s = r->element[i];
    if (s->type != REDIS_REPLY_ARRAY || s->elements < 2) continue;
    for (auto& e : ParseEntries(Str(s->element[0]), s->element[1])) out.push_back(std::move(e));
  }
  return out;
}


// --- the coordinator ------------------------------------------------------------------------

class RedisTransport final : public Transport {
 public:
  RedisTransport(RedisUrl url, RedisOptions options)
      : url_(url), commands_(url, options, &stopping_), reader_conn_(std::move(url), options, &stopping_) {}

  ~RedisTransport() override { Stop(); }

  Expected<void> Open() { return commands_.Open(); }

  Expected<void> PutPackage(const TaskPackage& package) override {
    std::lock_guard lock(commands_mu_);
    // Refreshed by every run that sends it; gone a week after the last one.
    KF_TRY(Reply r, commands_.Checked({"SET", PackageKey(package.hash), package.ToJson().dump(), "EX",
                                       std::to_string(kKeyTtlSeconds)}));
    (void)r;
    return core::Ok();
  }

  void Start(OnResult on_result) override {
    on_result_ = std::move(on_result);
    reader_ = std::thread([this] { ReadResults(); });
  }

  void Enqueue(const Job& job) override {
    {
      std::lock_guard lock(outstanding_mu_);
      outstanding_[job.id] = job;
    }
    outstanding_cv_.notify_all();
    Send(job);
  }

  void Stop() override {
    stopping_ = true;
    if (reader_.joinable()) reader_.join();
  }

  std::string Describe() const override { return url_.Describe(); }

 private:
  void Send(const Job& job) {
    Expected<Reply> r = [&] {
      std::lock_guard lock(commands_mu_);
      return commands_.Checked({"EVAL", kEnqueueScript, "3", ResultKey(job.id), MarkerKey(job.id), JobsStream(job.target),
                                job.ToJson().dump(), std::to_string(kKeyTtlSeconds)});
    }();
    if (!r.ok()) {
      if (!stopping_) core::LogError("cannot queue job {}: {}", job.id, r.error().message);
      return;
    }
    if ((*r)->type == REDIS_REPLY_STRING) Deliver(Str(r->get()));  // answered before
  }

  void Deliver(const std::string& text) {
    auto result = JobResult::Parse(text);
    if (!result.ok()) {
      core::LogWarn("a result in redis does not parse ({}); ignored", result.error().message);
      return;
    }
    {
      std::lock_guard lock(outstanding_mu_);
      outstanding_.erase(result->job_id);
    }
    on_result_(std::move(*result));
  }

  // Results of every job of this run, from the start of the stream (a restarted coordinator
  // finds those written while it was away). Every few seconds, jobs whose marker is gone (the
  // broker lost its data) are queued again.
  void ReadResults() {
    std::string last = "0-0";
    auto next_check = Clock::now() + std::chrono::seconds(5);
    while (!stopping_) {
      std::string stream;  // one run key per transport: any outstanding job's id names its stream
      {
        std::unique_lock lock(outstanding_mu_);
        if (!outstanding_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return !outstanding_.empty(); })) {
          continue;
        }
        stream = ResultsStream(outstanding_.begin()->first);
      }
      auto r = reader_conn_.Checked({"XREAD", "COUNT", "256", "BLOCK", "500", "STREAMS", stream, last}, 5);
      if (!r.ok()) {
        if (!stopping_) core::LogWarn("reading results: {}", r.error().message);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      for (Entry& e : ParseStreams(r->get())) {
        last = e.id;
        Deliver(e.fields["result"]);
      }
      if (Clock::now() >= next_check) {
        next_check = Clock::now() + std::chrono::seconds(5);
        RequeueLost();
        WarnIfUnserved();
      }
    }
  }

  // Jobs wait for workers that may come back; a run whose targets have no live worker any more
  // says so every half minute rather than wait in silence.
  void WarnIfUnserved() {
    if (Clock::now() < next_unserved_check_) return;
    next_unserved_check_ = Clock::now() + std::chrono::seconds(30);
    std::map<std::string, int> waiting;
    {
      std::lock_guard lock(outstanding_mu_);
      for (const auto& [id, job] : outstanding_) ++waiting[job.target];
    }
    auto workers = ListWorkers(url_);
    if (!workers.ok()) return;
    for (const auto& [target, n] : waiting) {
      const bool served = std::any_of(workers->begin(), workers->end(), [&](const WorkerInfo& w) {
        return std::find(w.tags.begin(), w.tags.end(), target) != w.tags.end();
      });
      if (!served) {
        core::LogWarn("{} job(s) wait for target {}, which no live worker at {} serves; start one: kfoundry worker "
                      "--executor {}", n, target, url_.Describe(), url_.Describe());
      }
    }
  }

  void RequeueLost() {
    std::vector<Job> jobs;
    {
      std::lock_guard lock(outstanding_mu_);
      for (const auto& [id, job] : outstanding_) jobs.push_back(job);
    }
    for (const Job& job : jobs) {
      auto r = reader_conn_.Checked({"EXISTS", MarkerKey(job.id)});
      if (r.ok() && (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 0) {
        core::LogWarn("job {} is no longer in redis (did it restart without persistence?); queued again", job.id);
        Send(job);
      }
    }
  }

  RedisUrl url_;
  std::atomic<bool> stopping_{false};
  std::mutex commands_mu_;
  Connection commands_;
  Connection reader_conn_;
  std::thread reader_;
  OnResult on_result_;
  Clock::time_point next_unserved_check_ = Clock::now() + std::chrono::seconds(30);
  std::mutex outstanding_mu_;
  std::condition_variable outstanding_cv_;
  std::map<std::string, Job> outstanding_;
};

// --- the worker -----------------------------------------------------------------------------

class RedisWorker {
 public:
  RedisWorker(RedisUrl url, WorkerOptions options)
      : url_(std::move(url)), options_(std::move(options)), packages_(url_, redis_options_, &stopping_) {}

  Expected<WorkerSummary> Run() {
    if (options_.tags.empty()) return MakeError(ErrorCode::kInvalidArgument, "the worker has no hardware tags to serve");
    KF_TRY_VOID(packages_.Open());
    {
      Connection setup(url_, redis_options_, options_.stop);
      KF_TRY_VOID(setup.Open());
      for (const std::string& tag : options_.tags) CreateGroup(setup, tag);
    }
    JobRunner::Options ro;
    ro.cache_dir = options_.cache_dir;
    ro.work_dir = options_.work_dir;
    ro.tags = options_.tags;
    ro.cancel = nullptr;  // a stopped worker finishes the jobs in hand (the spool's does too)
    if (!options_.evaluate) {
      runner_ = std::make_unique<JobRunner>(ro, [this](const std::string& hash) { return FetchPackage(hash); });
      options_.evaluate = [this](const Job& job) { return runner_->Evaluate(job); };
    }
    Advertise();  // before the first job, so `kfoundry workers` and coordinators see it at once
    std::thread heartbeat([this] { Heartbeat(); });
    std::thread leases([this] { KeepLeases(); });
    std::vector<std::thread> slots;
    for (int i = 0; i < std::max(1, options_.slots); ++i) slots.emplace_back([this, i] { Serve(i); });
    for (auto& t : slots) t.join();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    held_cv_.notify_all();
    heartbeat.join();
    leases.join();
    Connection bye(url_, redis_options_, &stopping_);
    if (bye.Open().ok()) (void)bye.Command({"DEL", WorkerKey(options_.name)});
    std::lock_guard lock(mu_);
    return summary_;
  }

 private:
  bool Stopped() const { return options_.stop != nullptr && options_.stop->load(); }

  static void CreateGroup(Connection& c, const std::string& tag) {
    (void)c.Command({"XGROUP", "CREATE", JobsStream(tag), kGroup, "0", "MKSTREAM"});  // BUSYGROUP when it exists
  }

  Expected<TaskPackage> FetchPackage(const std::string& hash) {
    std::lock_guard lock(packages_mu_);
    KF_TRY(Reply r, packages_.Checked({"GET", PackageKey(hash)}));
    if (r->type != REDIS_REPLY_STRING) return MakeError(ErrorCode::kNotFound, fmt::format("no task package {} in redis", hash));
    if (r->len > 2 * kMaxPackageBytes) return MakeError(ErrorCode::kValidation, "the task package is over the size limit");
    KF_TRY(Json j, core::ParseJson(Str(r.get()), "a task package"));
    return TaskPackage::FromJson(j);
  }

  // One slot: take jobs (one whose holder died first), and for each: hold its lease, run it,
  // answer and acknowledge it.
  void Serve(int slot) {
    const std::string consumer = fmt::format("{}/{}", options_.name, slot);
    Connection c(url_, redis_options_, options_.stop);
    std::vector<std::string> read = {"XREADGROUP", "GROUP", kGroup, consumer, "COUNT", "1", "BLOCK", "1000", "STREAMS"};
    for (const auto& tag : options_.tags) read.push_back(JobsStream(tag));
    for (std::size_t i = 0; i < options_.tags.size(); ++i) read.push_back(">");
    while (!Stopped()) {
      std::vector<Taken> taken = TakeStale(c, consumer);
      if (taken.empty()) {
        auto r = c.Command(read, 6);
        if (!r.ok()) continue;  // stopped
        if ((*r)->type == REDIS_REPLY_ERROR) {
          // NOGROUP: the server lost its data (restarted without persistence): make the groups
          // again. Anything else (WRONGTYPE, NOPERM, OOM) is said once and waited out.
          const std::string error = Str(r->get());
          if (error.rfind("NOGROUP", 0) != 0) core::LogWarn("reading jobs: {}", error);
          for (const std::string& tag : options_.tags) CreateGroup(c, tag);
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          continue;
        }
        // COUNT 1 is per stream: one entry from each of several tags may come at once. All are
        // held (their leases renewed) from now, and run in turn.
        for (Entry& e : ParseStreams(r->get())) taken.push_back({std::move(e), 1});
      }
      for (const Taken& t : taken) Hold(c, consumer, t.entry);
      for (const Taken& t : taken) Handle(c, t);
    }
  }

  struct Taken {
    Entry entry;
    long long deliveries = 1;
  };
  struct Held {
    std::string consumer, stream, id;
  };

  // A job whose holder let its lease run out (it died), with how often it has been delivered.
  std::vector<Taken> TakeStale(Connection& c, const std::string& consumer) {
    for (const std::string& tag : options_.tags) {
      const std::string stream = JobsStream(tag);
      auto r = c.Command({"EVAL", kReclaimScript, "1", stream, consumer, LeasePrefix(stream), std::to_string(kClaimMinIdleMs)});
      if (!r.ok() || (*r)->type != REDIS_REPLY_ARRAY || (*r)->elements < 2) continue;
      const redisReply* pair = r->get();
      auto entries = ParseEntries(stream, pair);  // element 0 is the entry; ParseEntries skips the count
      if (entries.empty() || pair->element[1]->type != REDIS_REPLY_INTEGER) continue;
      {
        std::lock_guard lock(mu_);
        ++summary_.reclaimed;
      }
      core::LogWarn("took over job entry {} of {}: its worker let its lease run out", entries.front().id, tag);
      return {{std::move(entries.front()), pair->element[1]->integer}};
    }
    return {};
  }

  void Handle(Connection& c, const Taken& t) {
    const Entry& e = t.entry;
    auto it = e.fields.find("job");
    const std::string text = it == e.fields.end() ? std::string() : it->second;
    auto job = Job::Parse(text);
    JobResult answer;
    answer.worker = options_.name;
    if (!job.ok()) {
      // Answered when its id can be read, so its coordinator does not wait for it forever;
      // otherwise nobody is waiting for it: logged and dropped.
      core::LogError("a malformed job in {} ({}): {}", e.stream, e.id, job.error().message);
      answer.job_id = RecoverJobId(text);
      answer.result.status = eval::Status::kRuntimeError;
      answer.result.message = "the worker refused the job: " + job.error().message;
      Finish(c, e, answer.job_id.empty() ? std::nullopt : std::optional<JobResult>(answer));
      return;
    }
    if (t.deliveries > options_.max_attempts) {
      core::LogWarn("job {}: dead-lettered as worker_lost after {} takes", job->id, t.deliveries - 1);
      Finish(c, e, DeadLetterResult(job->id, t.deliveries - 1, ""));
      std::lock_guard lock(mu_);
      ++summary_.dead_lettered;
      return;
    }
    {
      std::lock_guard lock(mu_);
      ++busy_;
    }
    answer.job_id = job->id;
    answer.result = options_.evaluate(*job);  // a stop lets it finish: the job is answered, not cancelled
    Finish(c, e, answer);
    std::lock_guard lock(mu_);
    --busy_;
    ++summary_.evaluated;
  }

  // Leases: a job's lease is set as soon as it is taken, then renewed every third of the lease
  // by one thread of the worker for as long as the job is in hand.
  void Hold(Connection& c, const std::string& consumer, const Entry& e) {
    const Held h{consumer, e.stream, e.id};
    {
      std::lock_guard lock(mu_);
      held_[h.stream + "|" + h.id] = h;
    }
    Renew(c, h);
  }

  void KeepLeases() {
    Connection c(url_, redis_options_, &stopping_);
    const auto every = std::chrono::duration<double>(std::max(0.05, options_.lease_seconds / 3));
    while (!stopping_) {
      std::vector<Held> held;
      {
        std::unique_lock lock(mu_);
        held_cv_.wait_for(lock, every, [&] { return stopping_.load(); });
        for (const auto& [key, h] : held_) held.push_back(h);
      }
      for (const Held& h : held) Renew(c, h);
    }
  }

  void Renew(Connection& c, const Held& h) {
    const std::string lease_ms = std::to_string(static_cast<long long>(options_.lease_seconds * 1000));
    auto r = c.Command({"EVAL", kRenewScript, "2", h.stream, LeasePrefix(h.stream) + h.id, h.consumer, h.id, lease_ms});
    if (r.ok() && (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 0) {
      core::LogWarn("job entry {} of {} was taken over by another worker; its answer will be the first one written",
                    h.id, h.stream);
      std::lock_guard lock(mu_);
      held_.erase(h.stream + "|" + h.id);
    }
  }

  void Finish(Connection& c, const Entry& e, const std::optional<JobResult>& answer) {
    {
      std::lock_guard lock(mu_);
      held_.erase(e.stream + "|" + e.id);
    }
    const std::string text = answer ? answer->ToJson().dump() : std::string();
    const std::string job_id = answer ? answer->job_id : std::string("none");
    auto r = c.Checked({"EVAL", kResultScript, "4", ResultKey(job_id), ResultsStream(job_id), e.stream,
                        LeasePrefix(e.stream) + e.id, text, job_id, std::to_string(kKeyTtlSeconds), e.id});
    if (!r.ok()) {
      // Not acknowledged: the job is taken again once its lease runs out.
      core::LogError("job entry {}: cannot write its result: {}", e.id, r.error().message);
      return;
    }
    if (answer && (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 0) {
      core::LogInfo("job {}: answered already by another worker; this answer is dropped", answer->job_id);
    }
  }

  Json Advertisement() {
    std::lock_guard lock(mu_);
    Json j = options_.hardware.is_object() ? options_.hardware : Json::object();
    j["name"] = options_.name;
    j["tags"] = options_.tags;
    j["host"] = HostName();
    j["pid"] = static_cast<long long>(::getpid());
    j["version"] = KF_VERSION;
    j["slots"] = options_.slots;
    j["busy"] = busy_;
    j["evaluated"] = summary_.evaluated;
    j["dead_lettered"] = summary_.dead_lettered;
    j["heartbeat_seconds"] = kHeartbeatSeconds;
    j["started_unix"] = static_cast<long long>(started_);
    return j;
  }

  void Advertise() {
    const int ttl = 3 * kHeartbeatSeconds + 1;
    (void)heartbeat_conn_.Command({"SET", WorkerKey(options_.name), Advertisement().dump(), "EX", std::to_string(ttl)});
  }

  void Heartbeat() {
    while (!stopping_) {
      for (int i = 0; i < kHeartbeatSeconds * 20 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!stopping_) Advertise();
    }
  }

  RedisUrl url_;
  WorkerOptions options_;
  RedisOptions redis_options_;
  std::atomic<bool> stopping_{false};
  std::mutex packages_mu_;
  Connection packages_;
  Connection heartbeat_conn_{url_, redis_options_, &stopping_};
  std::unique_ptr<JobRunner> runner_;
  std::mutex mu_;
  WorkerSummary summary_;
  int busy_ = 0;
  std::map<std::string, Held> held_;  // by stream|entry id: jobs in hand, whose leases are renewed
  std::condition_variable held_cv_;
  std::time_t started_ = std::time(nullptr);
};

}  // namespace

// --- the URL ---------------------------------------------------------------------------------

Expected<RedisUrl> RedisUrl::Parse(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  auto bad = [&](std::string why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("--executor: {} (expected redis://[user:password@]host:port[/db])", why));
  };
  if (url.rfind(kScheme, 0) != 0) return bad("not a redis:// URL");
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl u;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = cred.find(':');
    if (colon == std::string_view::npos) {
      u.password = std::string(cred);  // redis://password@host, as redis-cli -u reads it
    } else {
      u.user = std::string(cred.substr(0, colon));
      u.password = std::string(cred.substr(colon + 1));
    }
  }
  if (u.password.empty()) {
    if (const char* p = std::getenv("KF_REDIS_PASSWORD"); p != nullptr) u.password = p;
  }
  if (!u.password.empty()) core::RegisterSecret(u.password);
  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    const std::string db(rest.substr(slash + 1));
    if (!db.empty()) {
      char* end = nullptr;
      const long v = std::strtol(db.c_str(), &end, 10);
      if (*end != '\0' || v < 0 || v > 1'000'000) return bad(fmt::format("database '{}' is not a number", db));
      u.db = static_cast<int>(v);
    }
  }
  if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    const std::string port(hostport.substr(colon + 1));
    char* end = nullptr;
    const long v = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || v <= 0 || v > 65535) return bad(fmt::format("port '{}' is not a port number", port));
    u.port = static_cast<int>(v);
    hostport = hostport.substr(0, colon);
  }
  if (!hostport.empty()) u.host = std::string(hostport);
  return u;
}

std::string RedisUrl::Describe() const { return fmt::format("redis://{}:{}/{}", host, port, db); }

// --- entry points ----------------------------------------------------------------------------

Expected<std::unique_ptr<Transport>> MakeRedisTransport(const RedisUrl& url, RedisOptions options) {
  auto t = std::make_unique<RedisTransport>(url, options);
  KF_TRY_VOID(t->Open());
  return std::unique_ptr<Transport>(std::move(t));
}

Expected<WorkerSummary> RunRedisWorker(const RedisUrl& url, const WorkerOptions& options) {
  RedisWorker worker(url, options);
  return worker.Run();
}

Expected<std::vector<WorkerInfo>> ListWorkers(const RedisUrl& url) {
  std::atomic<bool> never{false};
  Connection c(url, RedisOptions{}, &never);
  KF_TRY_VOID(c.Open());
  std::vector<WorkerInfo> out;
  std::string cursor = "0";
  do {
    KF_TRY(Reply r, c.Checked({"SCAN", cursor, "MATCH", "kf:worker:*", "COUNT", "200"}));
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) break;
    cursor = Str(r->element[0]);
    const redisReply* keys = r->element[1];
    for (std::size_t i = 0; i < keys->elements; ++i) {
      KF_TRY(Reply v, c.Checked({"GET", Str(keys->element[i])}));
      if (v->type != REDIS_REPLY_STRING) continue;  // expired between SCAN and GET
      auto j = core::ParseJson(Str(v.get()), "a worker's advertisement");
      if (!j.ok() || !j->is_object()) continue;
      WorkerInfo w;  // what another process wrote: every field's type is checked before use
      if (auto n = j->find("name"); n != j->end() && n->is_string()) w.name = n->get<std::string>();
      if (auto t = j->find("tags"); t != j->end() && t->is_array()) {
        for (const auto& tag : *t) {
          if (tag.is_string()) w.tags.push_back(tag.get<std::string>());
        }
      }
      w.json = std::move(*j);
      out.push_back(std::move(w));
    }
  } while (cursor != "0");
  std::sort(out.begin(), out.end(), [](const WorkerInfo& a, const WorkerInfo& b) { return a.name < b.name; });
  return out;
}

namespace {
std::optional<eval::DeviceCeilings> AdvertisedBy(const std::vector<WorkerInfo>& workers, const std::string& target,
                                                 task::Backend backend) {
  for (const WorkerInfo& w : workers) {
    if (!CanServe(w.tags, target, backend)) continue;
    auto ceilings = w.json.find("ceilings");
    if (ceilings == w.json.end() || !ceilings->is_array()) continue;
    for (const Json& c : *ceilings) {
      auto parsed = eval::DeviceCeilings::FromJson(c);
      if (parsed.ok() && parsed->backend == task::BackendName(backend)) return *parsed;
    }
  }
  return std::nullopt;
}
}  // namespace

std::optional<eval::DeviceCeilings> AdvertisedCeilings(const std::vector<WorkerInfo>& workers,
                                                       const std::vector<std::string>& targets, task::Backend backend) {
  std::optional<eval::DeviceCeilings> out;
  auto tightest = [](auto a, auto b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); };  // 0: no limit known
  for (const std::string& target : targets) {
    auto d = AdvertisedBy(workers, target, backend);
    if (!d) continue;
    if (!out) {
      out = std::move(d);
      continue;
    }
    out->max_threads_per_block = tightest(out->max_threads_per_block, d->max_threads_per_block);
    out->max_shared_bytes_per_block = tightest(out->max_shared_bytes_per_block, d->max_shared_bytes_per_block);
    if (d->device_id != out->device_id) {
      out->device_id += "+" + d->device_id;
      out->device_name += " + " + d->device_name;
    }
  }
  return out;
}

Expected<void> CheckTargetsServed(const std::vector<WorkerInfo>& workers, const std::vector<std::string>& targets,
                                  task::Backend backend, const std::string& where) {
  std::vector<std::string> missing;
  for (const std::string& target : targets) {
    const bool served = std::any_of(workers.begin(), workers.end(),
                                    [&](const WorkerInfo& w) { return CanServe(w.tags, target, backend); });
    if (!served) missing.push_back(target);
  }
  if (missing.empty()) return core::Ok();
  std::vector<std::string> live;
  for (const auto& w : workers) live.push_back(fmt::format("{} [{}]", w.name, fmt::join(w.tags, ", ")));
  return MakeError(ErrorCode::kNotFound,
                   fmt::format("no live worker at {} serves {} (a {} task); live workers: {}. Start one on a host that has "
                               "it: kfoundry worker --executor {}",
                               where, fmt::join(missing, ", "), task::BackendName(backend),
                               live.empty() ? std::string("none") : fmt::format("{}", fmt::join(live, "; ")), where));
}

}  // namespace kf::exec
