#include "store/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "core/fs.h"
#include "core/hash.h"

namespace kf::store {
namespace {

namespace fs = std::filesystem;

// A raw connection, for setting up and inspecting the file behind the Store's back.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* message = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK) << sql << ": " << message;
  }
  /// The first column of the first row as text ("" when there is no row).
  std::string Query(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::string text;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return text;
  }

 private:
  sqlite3* db_ = nullptr;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = core::MakeUniqueDir(fs::temp_directory_path(), "kf_store_test");
    ASSERT_TRUE(dir.ok()) << dir.error().ToString();
    dir_ = *dir;
    db_path_ = dir_ / "kfoundry.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> Open() {
    auto store = OpenStore(db_path_);
    EXPECT_TRUE(store.ok()) << store.error().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static RunRow SampleRun() {
    RunRow run;
    run.name = "softmax-1";
    run.task_dir = "/tasks/row_softmax";
    run.task_name = "row_softmax";
    run.task_hash = core::Sha256Hex("task");
    run.strategy = "map-elites";
    run.config_json = R"({"budget": 50, "llm": "gpt"})";
    return run;
  }

  static LlmCallRow SampleCall(std::int64_t run_id) {
    LlmCallRow call;
    call.run_id = run_id;
    call.provider = "openai";
    call.model = "m";
    return call;
  }

  static CandidateRow SampleCandidate(std::int64_t run_id, std::string code) {
    CandidateRow row;
    row.run_id = run_id;
    row.origin = "llm";
    row.code = std::move(code);
    row.code_hash = core::Sha256Hex(row.code);
    row.extraction = "full_file";
    return row;
  }

  fs::path dir_;
  fs::path db_path_;
};

const std::regex kIsoUtcMillis(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

TEST_F(StoreTest, ReopenedStoreReturnsEverythingThatWasWritten) {
  // Embedded NUL and non-ASCII text must round-trip byte for byte.
  const std::string code = std::string("__global__ void k() {}\n// naïve ∑\0tail", 40);
  std::int64_t run_id = 0, call_id = 0, seed_id = 0, child_id = 0, eval_id = 0;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto run = store->CreateRun(SampleRun());
    ASSERT_TRUE(run.ok()) << run.error().ToString();
    run_id = *run;

    LlmCallRow call;
    call.run_id = run_id;
    call.iteration = 3;
    call.provider = "openai";
    call.model = "gpt-4o";
    call.prompt_json = R"({"system": "s", "messages": []})";
    call.response = "```cuda\n...\n```";
    call.input_tokens = 1234;
    call.output_tokens = 567;
    call.cost_usd = 0.0123;
    call.latency_ms = 2345.5;
    call.attempts = 2;
    auto inserted_call = store->InsertLlmCall(call);
    ASSERT_TRUE(inserted_call.ok()) << inserted_call.error().ToString();
    call_id = *inserted_call;

    CandidateRow seed = SampleCandidate(run_id, "seed code");
    seed.origin = "seed";
    seed.extraction = "seed";
    auto inserted_seed = store->InsertCandidate(seed);
    ASSERT_TRUE(inserted_seed.ok()) << inserted_seed.error().ToString();
    seed_id = *inserted_seed;

    CandidateRow child = SampleCandidate(run_id, code);
    child.parent_id = seed_id;
    child.llm_call_id = call_id;
    child.iteration = 3;
    child.extraction = "diff";
    auto inserted_child = store->InsertCandidate(child);
    ASSERT_TRUE(inserted_child.ok()) << inserted_child.error().ToString();
    child_id = *inserted_child;

    EvaluationRow eval;
    eval.candidate_id = child_id;
    eval.status = "passed";
    eval.result_json = R"({"status": "passed", "median_ms": 0.42})";
    eval.total_ms = 812.25;
    auto recorded = store->RecordEvaluation(eval, 5.5, 1.75);
    ASSERT_TRUE(recorded.ok()) << recorded.error().ToString();
    eval_id = *recorded;

    ASSERT_TRUE(store->SetRunState(run_id, "interrupted").ok());
  }

  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), kSchemaVersion);

  auto run = store->LoadRun();
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  const RunRow expected_run = SampleRun();
  EXPECT_EQ(run->id, run_id);
  EXPECT_EQ(run->name, expected_run.name);
  EXPECT_EQ(run->task_dir, expected_run.task_dir);
  EXPECT_EQ(run->task_name, expected_run.task_name);
  EXPECT_EQ(run->task_hash, expected_run.task_hash);
  EXPECT_EQ(run->strategy, expected_run.strategy);
  EXPECT_EQ(run->config_json, expected_run.config_json);
  EXPECT_EQ(run->state, "interrupted");
  EXPECT_TRUE(std::regex_match(run->created_at, kIsoUtcMillis)) << run->created_at;
  EXPECT_TRUE(std::regex_match(run->updated_at, kIsoUtcMillis)) << run->updated_at;
  EXPECT_GE(run->updated_at, run->created_at);

  auto calls = store->LlmCalls(run_id);
  ASSERT_TRUE(calls.ok()) << calls.error().ToString();
  ASSERT_EQ(calls->size(), 1u);
  const LlmCallRow& call = calls->front();
  EXPECT_EQ(call.id, call_id);
  EXPECT_EQ(call.run_id, run_id);
  EXPECT_EQ(call.iteration, 3);
  EXPECT_EQ(call.provider, "openai");
  EXPECT_EQ(call.model, "gpt-4o");
  EXPECT_EQ(call.prompt_json, R"({"system": "s", "messages": []})");
  EXPECT_EQ(call.response, "```cuda\n...\n```");
  EXPECT_EQ(call.error, "");
  EXPECT_EQ(call.input_tokens, 1234);
  EXPECT_EQ(call.output_tokens, 567);
  EXPECT_DOUBLE_EQ(call.cost_usd, 0.0123);
  EXPECT_DOUBLE_EQ(call.latency_ms, 2345.5);
  EXPECT_EQ(call.attempts, 2);
  EXPECT_TRUE(std::regex_match(call.created_at, kIsoUtcMillis)) << call.created_at;

  auto candidates = store->Candidates(run_id);
  ASSERT_TRUE(candidates.ok()) << candidates.error().ToString();
  ASSERT_EQ(candidates->size(), 2u);
  const CandidateRow& seed = (*candidates)[0];
  EXPECT_EQ(seed.id, seed_id);
  EXPECT_EQ(seed.parent_id, std::nullopt);
  EXPECT_EQ(seed.llm_call_id, std::nullopt);
  EXPECT_EQ(seed.origin, "seed");
  EXPECT_EQ(seed.code, "seed code");
  EXPECT_EQ(seed.status, "pending");
  const CandidateRow& child = (*candidates)[1];
  EXPECT_EQ(child.id, child_id);
  EXPECT_EQ(child.run_id, run_id);
  EXPECT_EQ(child.parent_id, seed_id);
  EXPECT_EQ(child.llm_call_id, call_id);
  EXPECT_EQ(child.iteration, 3);
  EXPECT_EQ(child.origin, "llm");
  EXPECT_EQ(child.code, code);
  EXPECT_EQ(child.code_hash, core::Sha256Hex(code));
  EXPECT_EQ(child.extraction, "diff");
  EXPECT_EQ(child.status, "passed");
  EXPECT_DOUBLE_EQ(child.fitness, 5.5);
  EXPECT_DOUBLE_EQ(child.speedup, 1.75);
  EXPECT_TRUE(std::regex_match(child.created_at, kIsoUtcMillis)) << child.created_at;

  auto evals = store->Evaluations(child_id);
  ASSERT_TRUE(evals.ok()) << evals.error().ToString();
  ASSERT_EQ(evals->size(), 1u);
  EXPECT_EQ(evals->front().id, eval_id);
  EXPECT_EQ(evals->front().candidate_id, child_id);
  EXPECT_EQ(evals->front().status, "passed");
  EXPECT_EQ(evals->front().result_json, R"({"status": "passed", "median_ms": 0.42})");
  EXPECT_DOUBLE_EQ(evals->front().total_ms, 812.25);
  EXPECT_TRUE(std::regex_match(evals->front().created_at, kIsoUtcMillis)) << evals->front().created_at;
}

TEST_F(StoreTest, MigratesAnEmptyFileToTheCurrentSchema) {
  std::ofstream(db_path_).close();
  ASSERT_EQ(fs::file_size(db_path_), 0u);
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->SchemaVersion(), kSchemaVersion);
  }
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Query("PRAGMA user_version"), std::to_string(kSchemaVersion));
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                      "WHERE type = 'table' ORDER BY name)"),
            "candidates,evaluations,llm_calls,prompts,runs,search_metrics,search_state");
  EXPECT_EQ(raw.Query("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                      "WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name)"),
            "candidates_run_id,evaluations_candidate_id,llm_calls_run_id,search_metrics_run_id");
}

TEST_F(StoreTest, MigratesAVersionOneDatabaseKeepingItsRows) {
  {
    // The version 1 schema as released, with one run and one candidate in it.
    RawDb raw(db_path_);
    raw.Exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, task_dir TEXT NOT NULL, task_name TEXT "
             "NOT NULL, task_hash TEXT NOT NULL, strategy TEXT NOT NULL, config_json TEXT NOT NULL, state TEXT NOT "
             "NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)");
    raw.Exec("CREATE TABLE llm_calls (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), iteration "
             "INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, prompt_json TEXT NOT NULL, response TEXT "
             "NOT NULL, error TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd "
             "REAL NOT NULL, latency_ms REAL NOT NULL, attempts INTEGER NOT NULL, created_at TEXT NOT NULL)");
    raw.Exec("CREATE TABLE candidates (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), parent_id "
             "INTEGER REFERENCES candidates(id), llm_call_id INTEGER REFERENCES llm_calls(id), iteration INTEGER NOT "
             "NULL, origin TEXT NOT NULL, code TEXT NOT NULL, code_hash TEXT NOT NULL, extraction TEXT NOT NULL, "
             "status TEXT NOT NULL, fitness REAL NOT NULL, speedup REAL NOT NULL, created_at TEXT NOT NULL)");
    raw.Exec("CREATE TABLE evaluations (id INTEGER PRIMARY KEY, candidate_id INTEGER NOT NULL REFERENCES "
             "candidates(id), status TEXT NOT NULL, result_json TEXT NOT NULL, total_ms REAL NOT NULL, created_at "
             "TEXT NOT NULL)");
    raw.Exec("CREATE INDEX candidates_code_hash ON candidates(code_hash)");
    raw.Exec("INSERT INTO runs VALUES (1, 'r', '/t', 't', 'h', 'refine', '{}', 'finished', 'x', 'x')");
    raw.Exec("INSERT INTO candidates VALUES (1, 1, NULL, NULL, 0, 'seed', 'code', 'h', 'seed', 'passed', 6, 1, 'x')");
    raw.Exec("PRAGMA user_version = 1");
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), kSchemaVersion);
  auto candidates = store->Candidates(1);
  ASSERT_TRUE(candidates.ok()) << candidates.error().ToString();
  ASSERT_EQ(candidates->size(), 1u);
  EXPECT_EQ(candidates->front().status, "passed");
  EXPECT_FALSE(candidates->front().island.has_value());
  EXPECT_EQ(candidates->front().descriptor_json, "");
  store.reset();
  EXPECT_EQ(RawDb(db_path_).Query("SELECT count(*) FROM sqlite_master WHERE name = 'candidates_code_hash'"), "0")
      << "version 3 drops the code-hash index";
}

TEST_F(StoreTest, SearchStateLandsWithItsEvaluationOrNotAtAll) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  CandidateRow row = SampleCandidate(*run_id, "code");
  row.island = 2;
  row.prompt_id = 7;
  row.model = "m";
  row.descriptor_json = R"({"memory_opt":2})";
  auto candidate_id = store->InsertCandidate(row);
  ASSERT_TRUE(candidate_id.ok());
  SearchUpdate update;
  update.state = {{"archive", R"({"v":1})"}, {"rng", "123"}};
  update.metrics = MetricsRow{0, 0, 1, 6.5, 0.25, 6.5, 1.5, 0.01, 2.0, ""};
  {
    RawDb raw(db_path_);
    raw.Exec("CREATE TRIGGER fail_metrics BEFORE INSERT ON search_metrics BEGIN SELECT RAISE(ABORT, 'full'); END");
  }
  EvaluationRow eval;
  eval.candidate_id = *candidate_id;
  eval.status = "passed";
  ASSERT_FALSE(store->RecordEvaluation(eval, 6.5, 1.5, update).ok());
  EXPECT_TRUE(store->SearchState(*run_id)->empty());
  EXPECT_EQ(store->Candidates(*run_id)->front().status, "pending");
  {
    RawDb raw(db_path_);
    raw.Exec("DROP TRIGGER fail_metrics");
  }
  ASSERT_TRUE(store->RecordEvaluation(eval, 6.5, 1.5, update).ok());
  auto state = store->SearchState(*run_id);
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->size(), 2u);
  EXPECT_EQ((*state)[0].key, "archive");
  EXPECT_EQ((*state)[0].json, R"({"v":1})");
  // A later write replaces the entry of the same key.
  ASSERT_TRUE(store->SaveSearch(*run_id, SearchUpdate{{{"archive", R"({"v":2})"}}, std::nullopt}).ok());
  EXPECT_EQ(store->SearchState(*run_id)->front().json, R"({"v":2})");
  auto metrics = store->Metrics(*run_id);
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->size(), 1u);
  EXPECT_EQ(metrics->front().evaluations, 1);
  EXPECT_DOUBLE_EQ(metrics->front().coverage, 0.25);
  const CandidateRow back = store->Candidates(*run_id)->front();
  EXPECT_EQ(back.island, 2);
  EXPECT_EQ(back.prompt_id, 7);
  EXPECT_EQ(back.model, "m");
  EXPECT_EQ(back.descriptor_json, row.descriptor_json);
}

TEST_F(StoreTest, PromptsKeepTheirLineageAndLlmCallsTheirPurpose) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  LlmCallRow call = SampleCall(*run_id);
  call.purpose = "prompt_engineer";
  call.prompt_id = 1;
  auto call_id = store->InsertLlmCall(call);
  ASSERT_TRUE(call_id.ok());
  ASSERT_TRUE(store->InsertPrompt(PromptRow{0, *run_id, 1, std::nullopt, std::nullopt, "seed", "[]", ""}).ok());
  ASSERT_TRUE(store->InsertPrompt(PromptRow{0, *run_id, 2, 1, *call_id, "engineer", R"([["a","b"]])", ""}).ok());
  // A population id is unique within its run.
  EXPECT_FALSE(store->InsertPrompt(PromptRow{0, *run_id, 2, 1, std::nullopt, "engineer", "[]", ""}).ok());
  auto prompts = store->Prompts(*run_id);
  ASSERT_TRUE(prompts.ok());
  ASSERT_EQ(prompts->size(), 2u);
  EXPECT_EQ((*prompts)[1].parent_prompt_id, 1);
  EXPECT_EQ((*prompts)[1].llm_call_id, *call_id);
  EXPECT_EQ((*prompts)[1].sections_json, R"([["a","b"]])");
  auto calls = store->LlmCalls(*run_id);
  ASSERT_TRUE(calls.ok());
  EXPECT_EQ(calls->front().purpose, "prompt_engineer");
  EXPECT_EQ(calls->front().prompt_id, 1);
}

TEST_F(StoreTest, ASampleLandsWithItsCandidateOrNotAtAll) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  LlmCallRow call = SampleCall(*run_id);
  call.cost_usd = 0.25;
  auto ids = store->InsertSample(call, SampleCandidate(*run_id, "void toy() {}"));
  ASSERT_TRUE(ids.ok()) << ids.error().ToString();
  ASSERT_TRUE(ids->candidate_id.has_value());
  auto rows = store->Candidates(*run_id);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().llm_call_id, ids->call_id) << "the candidate names the call that wrote it";
  // A candidate the database refuses (its parent does not exist) takes its call with it.
  CandidateRow orphan = SampleCandidate(*run_id, "void other() {}");
  orphan.parent_id = 999;
  EXPECT_FALSE(store->InsertSample(call, orphan).ok());
  EXPECT_EQ(store->LlmCalls(*run_id)->size(), 1u);
  EXPECT_EQ(store->Candidates(*run_id)->size(), 1u);
  // A reply without usable code is a call alone.
  auto alone = store->InsertSample(call, std::nullopt);
  ASSERT_TRUE(alone.ok());
  EXPECT_FALSE(alone->candidate_id.has_value());
  EXPECT_EQ(*store->TotalCost(*run_id), 0.5);
}

TEST_F(StoreTest, TheWriteAheadLogStaysBoundedUnderAContinuousWriter) {
  // sqlite's own checkpoint is replaced by a background one (with the writer's commits as the
  // fallback when it falls behind): the log must still be folded into the database.
  constexpr int kCommits = 6000;
  constexpr std::size_t kPromptBytes = 8 * 1024;  // about three 4 KiB pages a commit
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto run_id = store->CreateRun(SampleRun());
    ASSERT_TRUE(run_id.ok());
    LlmCallRow call = SampleCall(*run_id);
    for (int i = 0; i < kCommits; ++i) {
      call.prompt_json = std::string(kPromptBytes, static_cast<char>('a' + i % 26));
      ASSERT_TRUE(store->InsertLlmCall(call).ok());
    }
    const fs::path wal = db_path_.string() + "-wal";
    ASSERT_TRUE(fs::exists(wal));
    const std::uintmax_t written = std::uintmax_t{kCommits} * kPromptBytes;  // the log is larger without checkpoints
    EXPECT_LT(fs::file_size(wal), written / 2) << "the log was never checkpointed";
    EXPECT_GT(fs::file_size(db_path_), written / 2) << "the database file holds checkpointed pages";
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto calls = store->LlmCalls(1);
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), static_cast<std::size_t>(kCommits));
  EXPECT_EQ(calls->back().prompt_json, std::string(kPromptBytes, static_cast<char>('a' + (kCommits - 1) % 26)));
}

TEST_F(StoreTest, RefusesADatabaseWrittenByANewerKfoundry) {
  {
    RawDb raw(db_path_);
    raw.Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
  }
  auto store = OpenStore(db_path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, core::ErrorCode::kIo);
  EXPECT_NE(store.error().message.find("newer kfoundry"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find(db_path_.string()), std::string::npos) << store.error().message;
  // Refusing must not touch the file.
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Query("PRAGMA user_version"), std::to_string(kSchemaVersion + 1));
  EXPECT_EQ(raw.Query("SELECT count(*) FROM sqlite_master"), "0");
}

TEST_F(StoreTest, AReadOnlyStoreReadsARunBeingWrittenAndChangesNothing) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  auto run_id = writer->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  ASSERT_TRUE(writer->InsertCandidate(SampleCandidate(*run_id, "first")).ok());

  auto reader = OpenStore(db_path_, OpenMode::kReadOnly);
  ASSERT_TRUE(reader.ok()) << reader.error().ToString();
  ASSERT_TRUE(writer->InsertCandidate(SampleCandidate(*run_id, "second")).ok());  // the writer goes on
  auto rows = (*reader)->Candidates(*run_id);
  ASSERT_TRUE(rows.ok()) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(rows->back().code, "second");
  auto write = (*reader)->CreateRun(SampleRun());
  ASSERT_FALSE(write.ok());
  EXPECT_NE(write.error().message.find("readonly"), std::string::npos) << write.error().message;

  // An older schema is read as it is, not migrated; one too old or too new is refused by name.
  writer.reset();
  reader->reset();
  RawDb(db_path_).Exec("PRAGMA user_version = 2");
  auto old = OpenStore(db_path_, OpenMode::kReadOnly);
  ASSERT_TRUE(old.ok()) << old.error().ToString();
  EXPECT_EQ((*old)->SchemaVersion(), 2);
  auto old_rows = (*old)->Candidates(*run_id);  // with no writer left: no log, no shared memory file
  ASSERT_TRUE(old_rows.ok()) << old_rows.error().ToString();
  EXPECT_EQ(old_rows->size(), 2u);
  old->reset();
  EXPECT_EQ(RawDb(db_path_).Query("PRAGMA user_version"), "2");
  RawDb(db_path_).Exec("PRAGMA user_version = 1");
  auto too_old = OpenStore(db_path_, OpenMode::kReadOnly);
  ASSERT_FALSE(too_old.ok());
  EXPECT_NE(too_old.error().message.find("--resume"), std::string::npos) << too_old.error().message;
  EXPECT_NE(too_old.error().message.find(db_path_.string()), std::string::npos) << too_old.error().message;

  auto missing = OpenStore(dir_ / "absent.db", OpenMode::kReadOnly);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "absent.db")) << "a read-only open creates nothing";
}

TEST_F(StoreTest, RejectsAFileThatIsNotASqliteDatabase) {
  std::ofstream(db_path_) << std::string(4096, 'x');
  auto store = OpenStore(db_path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, core::ErrorCode::kIo);
  EXPECT_NE(store.error().message.find(db_path_.string()), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("not a database"), std::string::npos) << store.error().message;
}

TEST_F(StoreTest, RecordEvaluationLeavesCandidateUntouchedWhenTheEvaluationInsertFails) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  auto candidate_id = store->InsertCandidate(SampleCandidate(*run_id, "code"));
  ASSERT_TRUE(candidate_id.ok());
  {
    // Make the second statement of the transaction fail after the first has run.
    RawDb raw(db_path_);
    raw.Exec("CREATE TRIGGER fail_eval BEFORE INSERT ON evaluations BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
  }
  EvaluationRow eval;
  eval.candidate_id = *candidate_id;
  eval.status = "wrong_value";
  auto recorded = store->RecordEvaluation(eval, 2.0, 0.0);
  ASSERT_FALSE(recorded.ok());
  EXPECT_EQ(recorded.error().code, core::ErrorCode::kIo);
  EXPECT_NE(recorded.error().message.find("disk on fire"), std::string::npos) << recorded.error().message;
  EXPECT_NE(recorded.error().message.find(db_path_.string()), std::string::npos) << recorded.error().message;

  auto candidates = store->Candidates(*run_id);
  ASSERT_TRUE(candidates.ok());
  ASSERT_EQ(candidates->size(), 1u);
  EXPECT_EQ(candidates->front().status, "pending");
  EXPECT_EQ(candidates->front().fitness, 0.0);

  {
    RawDb raw(db_path_);
    raw.Exec("DROP TRIGGER fail_eval");
  }
  // The failed transaction was rolled back, so the connection is usable and the retry lands both.
  ASSERT_TRUE(store->RecordEvaluation(eval, 2.0, 0.0).ok());
  candidates = store->Candidates(*run_id);
  ASSERT_TRUE(candidates.ok());
  EXPECT_EQ(candidates->front().status, "wrong_value");
  EXPECT_EQ(candidates->front().fitness, 2.0);
  auto evals = store->Evaluations(*candidate_id);
  ASSERT_TRUE(evals.ok());
  EXPECT_EQ(evals->size(), 1u);
}

TEST_F(StoreTest, RecordEvaluationOfAnUnknownCandidateIsNotFoundAndWritesNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EvaluationRow eval;
  eval.candidate_id = 42;
  eval.status = "passed";
  auto recorded = store->RecordEvaluation(eval, 5.0, 1.0);
  ASSERT_FALSE(recorded.ok());
  EXPECT_EQ(recorded.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(recorded.error().message.find("42"), std::string::npos) << recorded.error().message;
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Query("SELECT count(*) FROM evaluations"), "0");
}

TEST_F(StoreTest, RecordEvaluationRejectsVerdictlessStatusAndNanFitness) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  auto candidate_id = store->InsertCandidate(SampleCandidate(*run_id, "code"));
  ASSERT_TRUE(candidate_id.ok());
  EvaluationRow eval;
  eval.candidate_id = *candidate_id;
  eval.status = "pending";
  auto pending = store->RecordEvaluation(eval, 1.0, 1.0);
  ASSERT_FALSE(pending.ok());
  EXPECT_EQ(pending.error().code, core::ErrorCode::kInvalidArgument);
  eval.status = "passed";
  auto nan = store->RecordEvaluation(eval, std::nan(""), 1.0);
  ASSERT_FALSE(nan.ok());
  EXPECT_EQ(nan.error().code, core::ErrorCode::kInvalidArgument);
  auto evals = store->Evaluations(*candidate_id);
  ASSERT_TRUE(evals.ok());
  EXPECT_TRUE(evals->empty());
}

TEST_F(StoreTest, TotalCostSumsOnlyTheGivenRunsCalls) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_a = store->CreateRun(SampleRun());
  auto run_b = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_a.ok() && run_b.ok());
  auto empty = store->TotalCost(*run_a);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, 0.0);
  for (double cost : {0.25, 0.5, 1.125}) {
    LlmCallRow call;
    call.run_id = *run_a;
    call.cost_usd = cost;
    ASSERT_TRUE(store->InsertLlmCall(call).ok());
  }
  LlmCallRow other;
  other.run_id = *run_b;
  other.cost_usd = 100;
  ASSERT_TRUE(store->InsertLlmCall(other).ok());
  auto total_a = store->TotalCost(*run_a);
  auto total_b = store->TotalCost(*run_b);
  ASSERT_TRUE(total_a.ok() && total_b.ok());
  EXPECT_DOUBLE_EQ(*total_a, 1.875);
  EXPECT_DOUBLE_EQ(*total_b, 100.0);
}

TEST_F(StoreTest, InsertCandidateComputesAMissingCodeHashAndDefaultsToPending) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  CandidateRow row = SampleCandidate(*run_id, "void k() {}");
  row.code_hash.clear();
  ASSERT_TRUE(store->InsertCandidate(row).ok());
  auto candidates = store->Candidates(*run_id);
  ASSERT_TRUE(candidates.ok());
  ASSERT_EQ(candidates->size(), 1u);
  EXPECT_EQ(candidates->front().code_hash, core::Sha256Hex("void k() {}"));
  EXPECT_EQ(candidates->front().status, "pending");
}

TEST_F(StoreTest, InsertCandidateWithAnUnknownParentFailsNamingTheConstraint) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  CandidateRow row = SampleCandidate(*run_id, "code");
  row.parent_id = 999;
  auto inserted = store->InsertCandidate(row);
  ASSERT_FALSE(inserted.ok());
  EXPECT_EQ(inserted.error().code, core::ErrorCode::kIo);
  EXPECT_NE(inserted.error().message.find("FOREIGN KEY"), std::string::npos) << inserted.error().message;
  EXPECT_NE(inserted.error().message.find(db_path_.string()), std::string::npos) << inserted.error().message;
  auto candidates = store->Candidates(*run_id);
  ASSERT_TRUE(candidates.ok());
  EXPECT_TRUE(candidates->empty());
}

TEST_F(StoreTest, RunStateMustBeKnownAndTheRunMustExist) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto no_run = store->LoadRun();
  ASSERT_FALSE(no_run.ok());
  EXPECT_EQ(no_run.error().code, core::ErrorCode::kNotFound);

  RunRow bad = SampleRun();
  bad.state = "paused";
  auto created_bad = store->CreateRun(bad);
  ASSERT_FALSE(created_bad.ok());
  EXPECT_EQ(created_bad.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(created_bad.error().message.find("'paused'"), std::string::npos) << created_bad.error().message;

  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  auto loaded = store->LoadRun();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->state, "running");

  auto bad_state = store->SetRunState(*run_id, "done");
  ASSERT_FALSE(bad_state.ok());
  EXPECT_EQ(bad_state.error().code, core::ErrorCode::kInvalidArgument);
  auto missing = store->SetRunState(*run_id + 1, "finished");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  ASSERT_TRUE(store->SetRunState(*run_id, "finished").ok());
  loaded = store->LoadRun();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->state, "finished");
}

TEST_F(StoreTest, OpenFailsClearlyWhenTheDirectoryDoesNotExist) {
  const fs::path path = dir_ / "no" / "such" / "kfoundry.db";
  auto store = OpenStore(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, core::ErrorCode::kIo);
  EXPECT_NE(store.error().message.find(path.string()), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("does not exist"), std::string::npos) << store.error().message;
  EXPECT_FALSE(fs::exists(dir_ / "no"));
}

TEST_F(StoreTest, OpenFailsClearlyWhenTheParentIsAFile) {
  std::ofstream(dir_ / "file").put('x');
  auto store = OpenStore(dir_ / "file" / "kfoundry.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, core::ErrorCode::kIo);
  EXPECT_NE(store.error().message.find("not a directory"), std::string::npos) << store.error().message;
}

TEST_F(StoreTest, OpenFailsClearlyWhenTheDirectoryIsNotWritable) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const fs::path locked = dir_ / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  auto store = OpenStore(locked / "kfoundry.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, core::ErrorCode::kIo);
  EXPECT_NE(store.error().message.find((locked / "kfoundry.db").string()), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find("writable"), std::string::npos) << store.error().message;
}

TEST_F(StoreTest, ConcurrentInsertsFromFourThreadsAllLand) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run_id = store->CreateRun(SampleRun());
  ASSERT_TRUE(run_id.ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::vector<std::int64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        LlmCallRow call;
        call.run_id = *run_id;
        call.cost_usd = 0.5;
        auto call_id = store->InsertLlmCall(call);
        if (!call_id.ok()) return;
        CandidateRow row = SampleCandidate(*run_id, "thread " + std::to_string(t) + " #" + std::to_string(i));
        row.llm_call_id = *call_id;
        auto id = store->InsertCandidate(row);
        if (!id.ok()) return;
        ids[t].push_back(*id);
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<std::int64_t> distinct;
  for (const auto& per_thread : ids) {
    EXPECT_EQ(per_thread.size(), static_cast<std::size_t>(kPerThread));
    distinct.insert(per_thread.begin(), per_thread.end());
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto candidates = store->Candidates(*run_id);
  ASSERT_TRUE(candidates.ok());
  EXPECT_EQ(candidates->size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto total = store->TotalCost(*run_id);
  ASSERT_TRUE(total.ok());
  EXPECT_DOUBLE_EQ(*total, 0.5 * kThreads * kPerThread);
}

TEST_F(StoreTest, CommittedRowsSurviveAProcessKilledWithoutClosing) {
  constexpr int kRows = 25;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: no gtest assertions here; report failure through the exit status.
    auto store = OpenStore(db_path_);
    if (!store.ok()) _exit(2);
    auto run_id = (*store)->CreateRun(SampleRun());
    if (!run_id.ok()) _exit(3);
    for (int i = 0; i < kRows; ++i) {
      auto id = (*store)->InsertCandidate(SampleCandidate(*run_id, "code " + std::to_string(i)));
      if (!id.ok()) _exit(4);
      EvaluationRow eval;
      eval.candidate_id = *id;
      eval.status = "passed";
      if (!(*store)->RecordEvaluation(eval, 5.0 + i, 1.0).ok()) _exit(5);
    }
    // Die the hard way: no destructors, no sqlite3_close, no checkpoint.
    raise(SIGKILL);
    _exit(6);
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wait_status)) << "child exited with status " << WEXITSTATUS(wait_status);
  ASSERT_EQ(WTERMSIG(wait_status), SIGKILL);
  // The rows live only in the WAL: a clean close would have checkpointed and removed it.
  const fs::path wal = db_path_.string() + "-wal";
  ASSERT_TRUE(fs::exists(wal));
  EXPECT_GT(fs::file_size(wal), 0u);

  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto run = store->LoadRun();
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto candidates = store->Candidates(run->id);
  ASSERT_TRUE(candidates.ok());
  ASSERT_EQ(candidates->size(), static_cast<std::size_t>(kRows));
  for (int i = 0; i < kRows; ++i) {
    EXPECT_EQ((*candidates)[i].code, "code " + std::to_string(i));
    EXPECT_EQ((*candidates)[i].status, "passed");
    EXPECT_DOUBLE_EQ((*candidates)[i].fitness, 5.0 + i);
    auto evals = store->Evaluations((*candidates)[i].id);
    ASSERT_TRUE(evals.ok());
    EXPECT_EQ(evals->size(), 1u);
  }
}

}  // namespace
}  // namespace kf::store
