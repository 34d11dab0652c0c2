// store/store.cc — the Store over the sqlite3 C API.
#include "store/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/hash.h"
#include "core/log.h"

namespace kf::store {
namespace {

using core::Error;
using core::ErrorCode;
using core::Expected;

// Migration i takes a database from user_version i to i + 1. Append only: a released step is
// never edited, because databases in the wild have already run it.
constexpr std::array<std::string_view, kSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  task_dir    TEXT NOT NULL,
  task_name   TEXT NOT NULL,
  task_hash   TEXT NOT NULL,
  strategy    TEXT NOT NULL,
  config_json TEXT NOT NULL,
  state       TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE TABLE llm_calls (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  iteration     INTEGER NOT NULL,
  provider      TEXT NOT NULL,
  model         TEXT NOT NULL,
  prompt_json   TEXT NOT NULL,
  response      TEXT NOT NULL,
  error         TEXT NOT NULL,
  input_tokens  INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cost_usd      REAL NOT NULL,
  latency_ms    REAL NOT NULL,
  attempts      INTEGER NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX llm_calls_run_id ON llm_calls(run_id);
CREATE TABLE candidates (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runs(id),
  parent_id   INTEGER REFERENCES candidates(id),
  llm_call_id INTEGER REFERENCES llm_calls(id),
  iteration   INTEGER NOT NULL,
  origin      TEXT NOT NULL,
  code        TEXT NOT NULL,
  code_hash   TEXT NOT NULL,
  extraction  TEXT NOT NULL,
  status      TEXT NOT NULL,
  fitness     REAL NOT NULL,
  speedup     REAL NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX candidates_run_id ON candidates(run_id);
CREATE INDEX candidates_code_hash ON candidates(code_hash);
CREATE TABLE evaluations (
  id           INTEGER PRIMARY KEY,
  candidate_id INTEGER NOT NULL REFERENCES candidates(id),
  status       TEXT NOT NULL,
  result_json  TEXT NOT NULL,
  total_ms     REAL NOT NULL,
  created_at   TEXT NOT NULL
);
CREATE INDEX evaluations_candidate_id ON evaluations(candidate_id);
)sql",
    R"sql(
ALTER TABLE candidates ADD COLUMN island INTEGER;
ALTER TABLE candidates ADD COLUMN prompt_id INTEGER;
ALTER TABLE candidates ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE candidates ADD COLUMN descriptor_json TEXT NOT NULL DEFAULT '';
ALTER TABLE llm_calls ADD COLUMN purpose TEXT NOT NULL DEFAULT 'kernel';
ALTER TABLE llm_calls ADD COLUMN prompt_id INTEGER;
CREATE TABLE prompts (
  id               INTEGER PRIMARY KEY,
  run_id           INTEGER NOT NULL REFERENCES runs(id),
  prompt_id        INTEGER NOT NULL,
  parent_prompt_id INTEGER,
  llm_call_id      INTEGER REFERENCES llm_calls(id),
  origin           TEXT NOT NULL,
  sections_json    TEXT NOT NULL,
  created_at       TEXT NOT NULL,
  UNIQUE (run_id, prompt_id)
);
CREATE TABLE search_state (
  run_id     INTEGER NOT NULL REFERENCES runs(id),
  key        TEXT NOT NULL,
  json       TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE search_metrics (
  id           INTEGER PRIMARY KEY,
  run_id       INTEGER NOT NULL REFERENCES runs(id),
  evaluations  INTEGER NOT NULL,
  qd_score     REAL NOT NULL,
  coverage     REAL NOT NULL,
  best_fitness REAL NOT NULL,
  best_speedup REAL NOT NULL,
  cost_usd     REAL NOT NULL,
  elapsed_s    REAL NOT NULL,
  created_at   TEXT NOT NULL
);
CREATE INDEX search_metrics_run_id ON search_metrics(run_id);
)sql",
    // The engine finds duplicate code in memory; keeping this index cost a random B-tree page
    // write per candidate once a database held many.
    R"sql(
DROP INDEX IF EXISTS candidates_code_hash;
)sql",
};

constexpr std::array<std::string_view, 4> kRunStates = {"running", "finished", "interrupted", "failed"};
constexpr std::string_view kPending = "pending";

// Column lists shared by every SELECT of a row type, so the readers below stay in step.
constexpr std::string_view kRunColumns =
    "id, name, task_dir, task_name, task_hash, strategy, config_json, state, created_at, updated_at";
constexpr std::string_view kLlmCallColumns =
    "id, run_id, iteration, provider, model, prompt_json, response, error, input_tokens, "
    "output_tokens, cost_usd, latency_ms, attempts, created_at, purpose, prompt_id";
constexpr std::string_view kCandidateColumns =
    "id, run_id, parent_id, llm_call_id, iteration, origin, code, code_hash, extraction, status, "
    "fitness, speedup, created_at, island, prompt_id, model, descriptor_json";
constexpr std::string_view kEvaluationColumns =
    "id, candidate_id, status, result_json, total_ms, created_at";
constexpr std::string_view kPromptColumns =
    "id, run_id, prompt_id, parent_prompt_id, llm_call_id, origin, sections_json, created_at";
constexpr std::string_view kMetricsColumns =
    "id, run_id, evaluations, qd_score, coverage, best_fitness, best_speedup, cost_usd, elapsed_s, created_at";

/// "2024-05-01T12:34:56.789Z".
std::string NowIso8601Utc() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms % 1000);
}

/// A prepared statement of the store's cache (or, when that one is already in use, a private
/// one); parameters are bound by position, starting at 1, in call order. Going out of scope
/// resets it for the next use.
class Statement {
 public:
  /// `in_use` is the cache entry's flag, or null for a private statement this object finalizes.
  Statement(sqlite3_stmt* stmt, bool* in_use) : stmt_(stmt), in_use_(in_use) {}
  Statement(Statement&& other) noexcept
      : stmt_(std::exchange(other.stmt_, nullptr)), in_use_(std::exchange(other.in_use_, nullptr)), next_(other.next_) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement() {
    if (stmt_ == nullptr) return;
    if (in_use_ == nullptr) {
      sqlite3_finalize(stmt_);
      return;
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  }

  Statement& Bind(std::int64_t value) { return Check(sqlite3_bind_int64(stmt_, ++next_, value)); }
  Statement& Bind(int value) { return Bind(static_cast<std::int64_t>(value)); }
  Statement& Bind(double value) { return Check(sqlite3_bind_double(stmt_, ++next_, value)); }
  Statement& Bind(std::string_view value) {
    // SQLITE_TRANSIENT: sqlite copies, so temporaries are safe; the explicit length keeps NULs.
    return Check(sqlite3_bind_text64(stmt_, ++next_, value.data(), value.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8));
  }
  Statement& Bind(const std::optional<std::int64_t>& value) {
    return value ? Bind(*value) : Check(sqlite3_bind_null(stmt_, ++next_));
  }
  Statement& Bind(const std::optional<int>& value) {
    return value ? Bind(*value) : Check(sqlite3_bind_null(stmt_, ++next_));
  }

  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }

  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  std::optional<std::int64_t> OptionalInt(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return Int(col);
  }
  std::optional<int> OptionalInt32(int col) const {
    if (auto v = OptionalInt(col)) return static_cast<int>(*v);
    return std::nullopt;
  }

 private:
  // Binding only fails on a wrong index or out of memory: both are bugs in this file.
  Statement& Check(int rc) {
    KF_CHECK(rc == SQLITE_OK) << "sqlite bind #" << next_ << " failed: " << sqlite3_errstr(rc);
    return *this;
  }

  sqlite3_stmt* stmt_;
  bool* in_use_;
  int next_ = 0;
};

RunRow ReadRun(const Statement& s) {
  return RunRow{s.Int(0),  s.Text(1), s.Text(2), s.Text(3), s.Text(4),
                s.Text(5), s.Text(6), s.Text(7), s.Text(8), s.Text(9)};
}

LlmCallRow ReadLlmCall(const Statement& s) {
  return LlmCallRow{s.Int(0),  s.Int(1),  static_cast<int>(s.Int(2)), s.Text(3), s.Text(4),
                    s.Text(5), s.Text(6), s.Text(7),                 s.Int(8),  s.Int(9),
                    s.Real(10), s.Real(11), static_cast<int>(s.Int(12)), s.Text(13), s.Text(14),
                    s.OptionalInt(15)};
}

CandidateRow ReadCandidate(const Statement& s) {
  return CandidateRow{s.Int(0),  s.Int(1),  s.OptionalInt(2), s.OptionalInt(3), static_cast<int>(s.Int(4)),
                      s.Text(5), s.Text(6), s.Text(7),        s.Text(8),        s.Text(9),
                      s.Real(10), s.Real(11), s.Text(12),     s.OptionalInt32(13), s.OptionalInt(14),
                      s.Text(15), s.Text(16)};
}

PromptRow ReadPrompt(const Statement& s) {
  return PromptRow{s.Int(0), s.Int(1), s.Int(2), s.OptionalInt(3), s.OptionalInt(4), s.Text(5), s.Text(6), s.Text(7)};
}

MetricsRow ReadMetrics(const Statement& s) {
  return MetricsRow{s.Int(0),  s.Int(1),  static_cast<int>(s.Int(2)), s.Real(3), s.Real(4),
                    s.Real(5), s.Real(6), s.Real(7),                  s.Real(8), s.Text(9)};
}

EvaluationRow ReadEvaluation(const Statement& s) {
  return EvaluationRow{s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Real(4), s.Text(5)};
}

/// Copies the write-ahead log into the database from its own connection and thread. sqlite's
/// automatic checkpoint runs inside the commit that crosses its threshold, so every thousandth
/// page or so a run's loop waited for that copy and its fsyncs. PASSIVE checkpoints never block
/// readers or writers. When the writer outpaces this thread (the log grows past kInlineFrames),
/// the writer's own commit checkpoints, as sqlite would have, so the log stays bounded.
class Checkpointer {
 public:
  static constexpr int kThresholdFrames = 1000;  // sqlite's default auto-checkpoint size
  static constexpr int kInlineFrames = 4 * kThresholdFrames;

  explicit Checkpointer(std::filesystem::path db_path) : db_path_(std::move(db_path)) {}
  ~Checkpointer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  /// The writer connection's WAL hook: called after each commit with the log's size in frames.
  static int Hook(void* self, sqlite3* db, const char* schema, int frames) {
    if (frames >= kInlineFrames) {
      sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (frames >= kThresholdFrames) {
      static_cast<Checkpointer*>(self)->Wake();
    }
    return SQLITE_OK;
  }

 private:
  void Wake() {
    {
      std::lock_guard lock(mu_);
      due_ = true;
      if (!thread_.joinable()) thread_ = std::thread([this] { Work(); });
    }
    wake_.notify_one();
  }

  void Work() {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      // The writer's commits still checkpoint once the log reaches kInlineFrames.
      core::LogWarn("{}: cannot open a checkpoint connection ({}); checkpoints run in the writer's commits",
                    db_path_.string(), db ? sqlite3_errmsg(db) : "out of memory");
      sqlite3_close_v2(db);
      return;
    }
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return due_ || stop_; });
      if (stop_) break;
      due_ = false;
      lock.unlock();
      sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
    lock.unlock();
    sqlite3_close_v2(db);
  }

  const std::filesystem::path db_path_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool due_ = false;
  bool stop_ = false;
  std::thread thread_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::filesystem::path db_path, sqlite3* db) : db_path_(std::move(db_path)), db_(db) {}
  ~SqliteStore() override {
    // The checkpoint connection closes first, so closing the writer's, the last one, folds the
    // log into the database.
    checkpointer_.reset();
    for (auto& [sql, cached] : statements_) sqlite3_finalize(cached.stmt);
    sqlite3_close_v2(db_);
  }

  /// Pragmas and migrations; called once by OpenStore before the store is shared.
  Expected<void> Initialize();
  /// For a read-only connection: the schema must be one this build reads, as it is.
  Expected<void> CheckReadable();

  int SchemaVersion() override {
    std::lock_guard lock(mu_);
    return schema_version_;
  }

  Expected<std::int64_t> CreateRun(const RunRow& run) override;
  Expected<RunRow> LoadRun() override;
  Expected<void> SetRunState(std::int64_t run_id, const std::string& state) override;
  Expected<std::int64_t> InsertLlmCall(const LlmCallRow& call) override;
  Expected<std::vector<LlmCallRow>> LlmCalls(std::int64_t run_id) override;
  Expected<LlmCallRow> LlmCall(std::int64_t call_id) override;
  Expected<CallTotals> LlmCallTotals(std::int64_t run_id) override;
  Expected<std::int64_t> InsertCandidate(const CandidateRow& row) override;
  Expected<SampleIds> InsertSample(const LlmCallRow& call, std::optional<CandidateRow> candidate) override;
  Expected<std::vector<CandidateRow>> Candidates(std::int64_t run_id) override;
  Expected<std::int64_t> RecordEvaluation(const EvaluationRow& eval, double fitness, double speedup,
                                          const SearchUpdate& search) override;
  Expected<std::vector<EvaluationRow>> Evaluations(std::int64_t candidate_id) override;
  Expected<std::vector<std::int64_t>> EvaluationOrder(std::int64_t run_id) override;
  Expected<double> TotalCost(std::int64_t run_id) override;
  Expected<void> SaveSearch(std::int64_t run_id, const SearchUpdate& update) override;
  Expected<std::vector<SearchStateEntry>> SearchState(std::int64_t run_id) override;
  Expected<std::vector<MetricsRow>> Metrics(std::int64_t run_id) override;
  Expected<std::int64_t> InsertPrompt(const PromptRow& row, const SearchUpdate& search) override;
  Expected<std::vector<PromptRow>> Prompts(std::int64_t run_id) override;

 private:
  /// kIo naming the file, what we were doing and sqlite's own message.
  Error SqlError(std::string_view doing) const {
    return core::MakeError(ErrorCode::kIo,
                           fmt::format("{}: {}: {}", db_path_.string(), doing, sqlite3_errmsg(db_)));
  }

  /// Statements are compiled once per connection and reused: a run writes several rows per
  /// evaluation, and compiling their SQL each time cost more than writing them.
  Expected<Statement> Prepare(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end() && !it->second.in_use) {
      it->second.in_use = true;
      return Expected<Statement>(Statement(it->second.stmt, &it->second.in_use));
    }
    const bool cache = it == statements_.end();
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt,
                           nullptr) != SQLITE_OK) {
      return SqlError(fmt::format("preparing `{}`", sql));
    }
    if (!cache) return Expected<Statement>(Statement(stmt, nullptr));  // the cached one is busy
    CachedStatement& entry = statements_[std::string(sql)];
    entry = CachedStatement{stmt, true};
    return Expected<Statement>(Statement(stmt, &entry.in_use));
  }

  /// Runs SQL without parameters (pragmas, migrations, transaction control).
  Expected<void> Exec(const std::string& sql, std::string_view doing) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return SqlError(doing);
    return core::Ok();
  }

  /// Steps a statement that returns no rows.
  Expected<void> Run(Statement& stmt, std::string_view doing) {
    if (stmt.Step() != SQLITE_DONE) return SqlError(doing);
    return core::Ok();
  }

  /// Steps an INSERT and returns the new row's id.
  Expected<std::int64_t> Insert(Statement& stmt, std::string_view doing) {
    KF_TRY_VOID(Run(stmt, doing));
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
  }

  /// Steps a SELECT to the end, reading each row with `read`.
  template <class Row, class Read>
  Expected<std::vector<Row>> Collect(Statement& stmt, Read read, std::string_view doing) {
    std::vector<Row> rows;
    int rc;
    while ((rc = stmt.Step()) == SQLITE_ROW) rows.push_back(read(stmt));
    if (rc != SQLITE_DONE) return SqlError(doing);
    return rows;
  }

  /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when body fails. IMMEDIATE takes
  /// the write lock up front, so another process cannot make the commit fail with SQLITE_BUSY
  /// after part of the work was done.
  template <class T, class Body>
  Expected<T> InTransaction(std::string_view doing, Body body) {
    // Prepared once like every statement: parsing BEGIN and COMMIT each time was a visible share
    // of a run's per-evaluation cost.
    KF_TRY_VOID(Step("BEGIN IMMEDIATE", doing, "begin transaction"));
    Expected<T> result = body();
    if (!result.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return result;
    }
    if (auto committed = Step("COMMIT", doing, "commit"); !committed.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return committed.error();
    }
    return result;
  }

  /// Runs one cached statement without parameters or rows (transaction control).
  Expected<void> Step(std::string_view sql, std::string_view doing, std::string_view step) {
    KF_TRY(Statement stmt, Prepare(sql));
    if (stmt.Step() != SQLITE_DONE) return SqlError(fmt::format("{}: {}", doing, step));
    return core::Ok();
  }

  Expected<int> ReadUserVersion() {
    KF_TRY(Statement stmt, Prepare("PRAGMA user_version"));
    if (stmt.Step() != SQLITE_ROW) return SqlError("reading the schema version");
    return static_cast<int>(stmt.Int(0));
  }

  Expected<void> Migrate();
  /// The inserts alone; the caller holds mu_.
  Expected<std::int64_t> InsertLlmCallLocked(const LlmCallRow& call);
  Expected<std::int64_t> InsertCandidateLocked(const CandidateRow& row);
  /// The writes of a SearchUpdate; the caller holds mu_ and an open transaction.
  Expected<void> WriteSearch(std::int64_t run_id, const SearchUpdate& update);
  Expected<std::int64_t> RunOfCandidate(std::int64_t candidate_id);

  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  const std::filesystem::path db_path_;
  sqlite3* const db_;
  std::map<std::string, CachedStatement, std::less<>> statements_;  // node-based: entries stay put
  std::mutex mu_;
  int schema_version_ = 0;
  std::unique_ptr<Checkpointer> checkpointer_;  // set in WAL mode
};

Expected<void> SqliteStore::Initialize() {
  // busy_timeout first: the journal_mode switch itself may have to wait for another process.
  KF_TRY_VOID(Exec("PRAGMA busy_timeout = 5000", "setting busy_timeout"));
  {
    KF_TRY(Statement stmt, Prepare("PRAGMA journal_mode = WAL"));
    if (stmt.Step() != SQLITE_ROW) {
      return SqlError("switching to WAL (is this a kfoundry database, and is its directory writable?)");
    }
    // Some filesystems (network mounts) cannot do WAL; sqlite then keeps the old mode.
    if (std::string mode = stmt.Text(0); mode != "wal") {
      core::LogWarn("{}: journal_mode is '{}', not 'wal'; concurrent readers may block writers",
                    db_path_.string(), mode);
    } else {
      checkpointer_ = std::make_unique<Checkpointer>(db_path_);
      sqlite3_wal_hook(db_, &Checkpointer::Hook, checkpointer_.get());  // replaces the automatic checkpoint
    }
  }
  KF_TRY_VOID(Exec("PRAGMA synchronous = NORMAL", "setting synchronous=NORMAL"));
  KF_TRY_VOID(Exec("PRAGMA foreign_keys = ON", "enabling foreign keys"));
  return Migrate();
}

Expected<void> SqliteStore::Migrate() {
  KF_TRY(int version, ReadUserVersion());
  while (version < kSchemaVersion) {
    const int from = version;
    const std::string doing = fmt::format("migrating schema {} -> {}", from, from + 1);
    auto step = [&]() -> Expected<int> {
      // Re-read inside the transaction: another process may have migrated since we looked.
      KF_TRY(int current, ReadUserVersion());
      if (current != from) return current;
      KF_TRY_VOID(Exec(std::string(kMigrations[from]), doing));
      // PRAGMA takes no bound parameters; the value is our own integer.
      KF_TRY_VOID(Exec(fmt::format("PRAGMA user_version = {}", from + 1), doing));
      return from + 1;
    };
    KF_TRY(version, InTransaction<int>(doing, step));
  }
  if (version > kSchemaVersion) {
    return core::MakeError(
        ErrorCode::kIo,
        fmt::format("{}: schema version {} was written by a newer kfoundry (this build understands up to "
                    "version {}); upgrade kfoundry or use a different run directory",
                    db_path_.string(), version, kSchemaVersion));
  }
  schema_version_ = version;
  return core::Ok();
}

Expected<void> SqliteStore::CheckReadable() {
  KF_TRY_VOID(Exec("PRAGMA busy_timeout = 5000", "setting busy_timeout"));
  KF_TRY(int version, ReadUserVersion());
  if (version < kOldestReadableVersion || version > kSchemaVersion) {
    return core::MakeError(
        ErrorCode::kIo,
        fmt::format("{}: schema version {} cannot be read by this build (it reads versions {} to {}){}", db_path_.string(),
                    version, kOldestReadableVersion, kSchemaVersion,
                    version > kSchemaVersion ? "; upgrade kfoundry"
                                             : "; `kfoundry run --resume` on that run directory migrates it"));
  }
  schema_version_ = version;
  return core::Ok();
}

Expected<std::int64_t> SqliteStore::CreateRun(const RunRow& run) {
  const std::string state = run.state.empty() ? std::string(kRunStates[0]) : run.state;
  if (std::find(kRunStates.begin(), kRunStates.end(), state) == kRunStates.end()) {
    return core::MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("run state '{}' is not one of {}", state, fmt::join(kRunStates, ", ")));
  }
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare("INSERT INTO runs (name, task_dir, task_name, task_hash, strategy, config_json, "
                                 "state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  const std::string now = NowIso8601Utc();
  stmt.Bind(run.name).Bind(run.task_dir).Bind(run.task_name).Bind(run.task_hash).Bind(run.strategy);
  stmt.Bind(run.config_json).Bind(state).Bind(now).Bind(now);
  return Insert(stmt, "inserting run");
}

Expected<RunRow> SqliteStore::LoadRun() {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare(fmt::format("SELECT {} FROM runs ORDER BY id LIMIT 1", kRunColumns)));
  KF_TRY(std::vector<RunRow> runs, Collect<RunRow>(stmt, ReadRun, "loading run"));
  if (runs.empty()) {
    return core::MakeError(ErrorCode::kNotFound, fmt::format("{}: the database holds no run", db_path_.string()));
  }
  return runs.front();
}

Expected<void> SqliteStore::SetRunState(std::int64_t run_id, const std::string& state) {
  if (std::find(kRunStates.begin(), kRunStates.end(), state) == kRunStates.end()) {
    return core::MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("run state '{}' is not one of {}", state, fmt::join(kRunStates, ", ")));
  }
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare("UPDATE runs SET state = ?, updated_at = ? WHERE id = ?"));
  stmt.Bind(state).Bind(NowIso8601Utc()).Bind(run_id);
  KF_TRY_VOID(Run(stmt, "updating run state"));
  if (sqlite3_changes(db_) == 0) {
    return core::MakeError(ErrorCode::kNotFound, fmt::format("{}: no run with id {}", db_path_.string(), run_id));
  }
  return core::Ok();
}

Expected<std::int64_t> SqliteStore::InsertLlmCall(const LlmCallRow& call) {
  std::lock_guard lock(mu_);
  return InsertLlmCallLocked(call);
}

Expected<std::int64_t> SqliteStore::InsertLlmCallLocked(const LlmCallRow& call) {
  KF_TRY(Statement stmt,
         Prepare("INSERT INTO llm_calls (run_id, iteration, provider, model, prompt_json, response, error, "
                 "input_tokens, output_tokens, cost_usd, latency_ms, attempts, created_at, purpose, prompt_id) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  stmt.Bind(call.run_id).Bind(call.iteration).Bind(call.provider).Bind(call.model).Bind(call.prompt_json);
  stmt.Bind(call.response).Bind(call.error).Bind(call.input_tokens).Bind(call.output_tokens);
  stmt.Bind(call.cost_usd).Bind(call.latency_ms).Bind(call.attempts).Bind(NowIso8601Utc());
  stmt.Bind(call.purpose.empty() ? std::string_view("kernel") : std::string_view(call.purpose)).Bind(call.prompt_id);
  return Insert(stmt, fmt::format("inserting LLM call of run {}", call.run_id));
}

Expected<std::vector<LlmCallRow>> SqliteStore::LlmCalls(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt,
         Prepare(fmt::format("SELECT {} FROM llm_calls WHERE run_id = ? ORDER BY id", kLlmCallColumns)));
  stmt.Bind(run_id);
  return Collect<LlmCallRow>(stmt, ReadLlmCall, "loading LLM calls");
}

Expected<LlmCallRow> SqliteStore::LlmCall(std::int64_t call_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare(fmt::format("SELECT {} FROM llm_calls WHERE id = ?", kLlmCallColumns)));
  stmt.Bind(call_id);
  KF_TRY(std::vector<LlmCallRow> rows, Collect<LlmCallRow>(stmt, ReadLlmCall, "loading an LLM call"));
  if (rows.empty()) {
    return core::MakeError(ErrorCode::kNotFound, fmt::format("{}: no LLM call with id {}", db_path_.string(), call_id));
  }
  return rows.front();
}

Expected<Store::CallTotals> SqliteStore::LlmCallTotals(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare("SELECT purpose, count(*), total(cost_usd) FROM llm_calls WHERE run_id = ? GROUP BY purpose"));
  stmt.Bind(run_id);
  CallTotals totals;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    (stmt.Text(0) == "prompt_engineer" ? totals.engineer_calls : totals.kernel_calls) += static_cast<int>(stmt.Int(1));
    totals.cost_usd += stmt.Real(2);
  }
  if (rc != SQLITE_DONE) return SqlError("summing LLM calls");
  return totals;
}

Expected<std::int64_t> SqliteStore::InsertCandidate(const CandidateRow& row) {
  std::lock_guard lock(mu_);
  return InsertCandidateLocked(row);
}

Expected<Store::SampleIds> SqliteStore::InsertSample(const LlmCallRow& call, std::optional<CandidateRow> candidate) {
  std::lock_guard lock(mu_);
  return InTransaction<SampleIds>(fmt::format("recording a sample of run {}", call.run_id), [&]() -> Expected<SampleIds> {
    SampleIds ids;
    KF_TRY(ids.call_id, InsertLlmCallLocked(call));
    if (candidate) {
      candidate->llm_call_id = ids.call_id;
      KF_TRY(ids.candidate_id, InsertCandidateLocked(*candidate));
    }
    return ids;
  });
}

Expected<std::int64_t> SqliteStore::InsertCandidateLocked(const CandidateRow& row) {
  KF_TRY(Statement stmt,
         Prepare("INSERT INTO candidates (run_id, parent_id, llm_call_id, iteration, origin, code, code_hash, "
                 "extraction, status, fitness, speedup, created_at, island, prompt_id, model, descriptor_json) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  stmt.Bind(row.run_id).Bind(row.parent_id).Bind(row.llm_call_id).Bind(row.iteration).Bind(row.origin);
  stmt.Bind(row.code).Bind(row.code_hash.empty() ? core::Sha256Hex(row.code) : row.code_hash);
  stmt.Bind(row.extraction).Bind(row.status.empty() ? kPending : std::string_view(row.status));
  stmt.Bind(row.fitness).Bind(row.speedup).Bind(NowIso8601Utc());
  stmt.Bind(row.island).Bind(row.prompt_id).Bind(row.model).Bind(row.descriptor_json);
  return Insert(stmt, fmt::format("inserting candidate of run {}", row.run_id));
}

Expected<std::vector<CandidateRow>> SqliteStore::Candidates(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt,
         Prepare(fmt::format("SELECT {} FROM candidates WHERE run_id = ? ORDER BY id", kCandidateColumns)));
  stmt.Bind(run_id);
  return Collect<CandidateRow>(stmt, ReadCandidate, "loading candidates");
}

Expected<std::int64_t> SqliteStore::RecordEvaluation(const EvaluationRow& eval, double fitness, double speedup,
                                                     const SearchUpdate& search) {
  if (eval.status.empty() || eval.status == kPending) {
    return core::MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("evaluation of candidate {} has status '{}'; an evaluation must end "
                                       "in a verdict",
                                       eval.candidate_id, eval.status));
  }
  // sqlite stores NaN as NULL, which would lose the row's meaning silently.
  if (std::isnan(fitness) || std::isnan(speedup)) {
    return core::MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("evaluation of candidate {} has fitness {} and speedup {}; NaN is not "
                                       "storable",
                                       eval.candidate_id, fitness, speedup));
  }
  std::lock_guard lock(mu_);
  const std::string doing = fmt::format("recording evaluation of candidate {}", eval.candidate_id);
  return InTransaction<std::int64_t>(doing, [&]() -> Expected<std::int64_t> {
    KF_TRY(Statement update, Prepare("UPDATE candidates SET status = ?, fitness = ?, speedup = ? WHERE id = ?"));
    update.Bind(eval.status).Bind(fitness).Bind(speedup).Bind(eval.candidate_id);
    KF_TRY_VOID(Run(update, doing));
    if (sqlite3_changes(db_) == 0) {
      return core::MakeError(ErrorCode::kNotFound,
                             fmt::format("{}: no candidate with id {}", db_path_.string(), eval.candidate_id));
    }
    KF_TRY(Statement insert, Prepare("INSERT INTO evaluations (candidate_id, status, result_json, total_ms, "
                                     "created_at) VALUES (?, ?, ?, ?, ?)"));
    insert.Bind(eval.candidate_id).Bind(eval.status).Bind(eval.result_json).Bind(eval.total_ms);
    insert.Bind(NowIso8601Utc());
    KF_TRY(std::int64_t id, Insert(insert, doing));
    KF_TRY(std::int64_t run_id, RunOfCandidate(eval.candidate_id));
    KF_TRY_VOID(WriteSearch(run_id, search));
    return id;
  });
}

Expected<std::vector<std::int64_t>> SqliteStore::EvaluationOrder(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare("SELECT e.candidate_id FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
                                 "WHERE c.run_id = ? ORDER BY e.id"));
  stmt.Bind(run_id);
  return Collect<std::int64_t>(stmt, [](const Statement& s) { return s.Int(0); }, "loading the evaluation order");
}

Expected<std::vector<EvaluationRow>> SqliteStore::Evaluations(std::int64_t candidate_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare(fmt::format("SELECT {} FROM evaluations WHERE candidate_id = ? ORDER BY id",
                                             kEvaluationColumns)));
  stmt.Bind(candidate_id);
  return Collect<EvaluationRow>(stmt, ReadEvaluation, "loading evaluations");
}

Expected<double> SqliteStore::TotalCost(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  // total() rather than sum(): 0.0 (not NULL) for a run without calls.
  KF_TRY(Statement stmt, Prepare("SELECT total(cost_usd) FROM llm_calls WHERE run_id = ?"));
  stmt.Bind(run_id);
  if (stmt.Step() != SQLITE_ROW) return SqlError("summing LLM cost");
  return stmt.Real(0);
}

Expected<std::int64_t> SqliteStore::RunOfCandidate(std::int64_t candidate_id) {
  KF_TRY(Statement stmt, Prepare("SELECT run_id FROM candidates WHERE id = ?"));
  stmt.Bind(candidate_id);
  if (stmt.Step() != SQLITE_ROW) return SqlError(fmt::format("finding the run of candidate {}", candidate_id));
  return stmt.Int(0);
}

Expected<void> SqliteStore::WriteSearch(std::int64_t run_id, const SearchUpdate& update) {
  const std::string now = NowIso8601Utc();
  for (const SearchStateEntry& e : update.state) {
    KF_TRY(Statement stmt, Prepare("INSERT INTO search_state (run_id, key, json, updated_at) VALUES (?, ?, ?, ?) "
                                   "ON CONFLICT (run_id, key) DO UPDATE SET json = excluded.json, "
                                   "updated_at = excluded.updated_at"));
    stmt.Bind(run_id).Bind(e.key).Bind(e.json).Bind(now);
    KF_TRY_VOID(Run(stmt, fmt::format("writing search state '{}'", e.key)));
  }
  if (const auto& m = update.metrics) {
    KF_TRY(Statement stmt, Prepare("INSERT INTO search_metrics (run_id, evaluations, qd_score, coverage, best_fitness, "
                                   "best_speedup, cost_usd, elapsed_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(run_id).Bind(m->evaluations).Bind(m->qd_score).Bind(m->coverage).Bind(m->best_fitness);
    stmt.Bind(m->best_speedup).Bind(m->cost_usd).Bind(m->elapsed_s).Bind(now);
    KF_TRY_VOID(Run(stmt, "writing search metrics"));
  }
  return core::Ok();
}

Expected<void> SqliteStore::SaveSearch(std::int64_t run_id, const SearchUpdate& update) {
  std::lock_guard lock(mu_);
  auto written = InTransaction<bool>("saving search state", [&]() -> Expected<bool> {
    KF_TRY_VOID(WriteSearch(run_id, update));
    return true;
  });
  if (!written.ok()) return written.error();
  return core::Ok();
}

Expected<std::vector<SearchStateEntry>> SqliteStore::SearchState(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare("SELECT key, json FROM search_state WHERE run_id = ? ORDER BY key"));
  stmt.Bind(run_id);
  return Collect<SearchStateEntry>(
      stmt, [](const Statement& s) { return SearchStateEntry{s.Text(0), s.Text(1)}; }, "loading search state");
}

Expected<std::vector<MetricsRow>> SqliteStore::Metrics(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt,
         Prepare(fmt::format("SELECT {} FROM search_metrics WHERE run_id = ? ORDER BY id", kMetricsColumns)));
  stmt.Bind(run_id);
  return Collect<MetricsRow>(stmt, ReadMetrics, "loading search metrics");
}

Expected<std::int64_t> SqliteStore::InsertPrompt(const PromptRow& row, const SearchUpdate& search) {
  std::lock_guard lock(mu_);
  const std::string doing = fmt::format("inserting prompt {} of run {}", row.prompt_id, row.run_id);
  return InTransaction<std::int64_t>(doing, [&]() -> Expected<std::int64_t> {
    KF_TRY(Statement stmt, Prepare("INSERT INTO prompts (run_id, prompt_id, parent_prompt_id, llm_call_id, origin, "
                                   "sections_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(row.run_id).Bind(row.prompt_id).Bind(row.parent_prompt_id).Bind(row.llm_call_id).Bind(row.origin);
    stmt.Bind(row.sections_json).Bind(NowIso8601Utc());
    KF_TRY(std::int64_t id, Insert(stmt, doing));
    KF_TRY_VOID(WriteSearch(row.run_id, search));
    return id;
  });
}

Expected<std::vector<PromptRow>> SqliteStore::Prompts(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  KF_TRY(Statement stmt, Prepare(fmt::format("SELECT {} FROM prompts WHERE run_id = ? ORDER BY id", kPromptColumns)));
  stmt.Bind(run_id);
  return Collect<PromptRow>(stmt, ReadPrompt, "loading prompts");
}

}  // namespace

Expected<std::unique_ptr<Store>> OpenStore(const std::filesystem::path& db_path, OpenMode mode) {
  if (db_path.empty()) return core::MakeError(ErrorCode::kInvalidArgument, "database path is empty");
  // sqlite only says "unable to open database file"; name the usual cause ourselves.
  const std::filesystem::path dir = db_path.has_parent_path() ? db_path.parent_path() : ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return core::MakeError(ErrorCode::kIo, fmt::format("{}: directory {} does not exist (or is not a directory); "
                                                       "create it before opening the database",
                                                       db_path.string(), dir.string()));
  }
  const bool read_only = mode == OpenMode::kReadOnly;
  if (read_only && !std::filesystem::is_regular_file(db_path, ec)) {
    return core::MakeError(ErrorCode::kNotFound, fmt::format("{}: no such database", db_path.string()));
  }
  sqlite3* db = nullptr;
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(db_path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error error = core::MakeError(ErrorCode::kIo, fmt::format("{}: cannot open database: {}{}", db_path.string(),
                                                              db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                                                              read_only ? std::string()
                                                                        : fmt::format(" (check that {} is writable)",
                                                                                      dir.string())));
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  auto store = std::make_unique<SqliteStore>(db_path, db);
  if (read_only) {
    KF_TRY_VOID(store->CheckReadable());
  } else {
    KF_TRY_VOID(store->Initialize());
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace kf::store
