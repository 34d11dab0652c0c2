// store/store.h — SQLite persistence of a run: the run, its candidates, their evaluations and
// the LLM calls that produced them.
//
// One database per run directory (runs/<name>/kfoundry.db). The schema is versioned with
// PRAGMA user_version and migrated forward on Open. Each write is its own transaction and is
// durable when the call returns (WAL, synchronous=NORMAL), so a killed run loses at most what
// was in flight. Thread-safe: calls are serialized on one connection.
// Nothing here ever receives an API key; callers pass redacted text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace kf::store {

inline constexpr int kSchemaVersion = 1;

struct RunRow {
  std::int64_t id = 0;
  std::string name;
  std::string task_dir;
  std::string task_name;
  std::string task_hash;
  std::string strategy;
  std::string config_json;  // the run's options, for --resume (no secrets)
  std::string state;        // "running", "finished", "interrupted", "failed"
  std::string created_at;   // ISO 8601 UTC, set by the store
  std::string updated_at;
};

struct CandidateRow {
  std::int64_t id = 0;
  std::int64_t run_id = 0;
  std::optional<std::int64_t> parent_id;
  std::optional<std::int64_t> llm_call_id;
  int iteration = 0;
  std::string origin;      // "seed", "llm"
  std::string code;
  std::string code_hash;
  std::string extraction;  // "full_file", "diff", "seed", ...
  std::string status;      // "pending" until evaluated, then an eval status name
  double fitness = 0;
  double speedup = 0;
  std::string created_at;
};

struct EvaluationRow {
  std::int64_t id = 0;
  std::int64_t candidate_id = 0;
  std::string status;
  std::string result_json;  // eval::EvalResult::ToJson()
  double total_ms = 0;
  std::string created_at;
};

struct LlmCallRow {
  std::int64_t id = 0;
  std::int64_t run_id = 0;
  int iteration = 0;
  std::string provider;
  std::string model;
  std::string prompt_json;  // {"system": ..., "messages": [...]}
  std::string response;     // the reply text; empty on error
  std::string error;        // empty on success
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  double cost_usd = 0;
  double latency_ms = 0;
  int attempts = 0;
  std::string created_at;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual int SchemaVersion() = 0;

  /// Inserts the run (state defaults to "running") and returns its id; ids and timestamps in
  /// `run` are ignored.
  virtual core::Expected<std::int64_t> CreateRun(const RunRow& run) = 0;
  /// The run of this database (the first one); kNotFound when there is none.
  virtual core::Expected<RunRow> LoadRun() = 0;
  /// state is one of "running", "finished", "interrupted", "failed" (kInvalidArgument
  /// otherwise); also refreshes updated_at. kNotFound for an unknown run.
  virtual core::Expected<void> SetRunState(std::int64_t run_id, const std::string& state) = 0;

  virtual core::Expected<std::int64_t> InsertLlmCall(const LlmCallRow& call) = 0;
  virtual core::Expected<std::vector<LlmCallRow>> LlmCalls(std::int64_t run_id) = 0;

  /// Inserts with status "pending" unless row.status is set; code_hash defaults to
  /// core::Sha256Hex(code) when empty. parent_id and llm_call_id must name existing rows.
  virtual core::Expected<std::int64_t> InsertCandidate(const CandidateRow& row) = 0;
  /// The run's candidates ordered by id.
  virtual core::Expected<std::vector<CandidateRow>> Candidates(std::int64_t run_id) = 0;
  /// The most recent (highest id) candidate of the run with this code hash whose status is not
  /// "pending", or nullopt: lets the engine reuse a verdict instead of evaluating code twice.
  virtual core::Expected<std::optional<CandidateRow>> FindEvaluatedByHash(
      std::int64_t run_id, const std::string& code_hash) = 0;

  /// Records the evaluation and sets the candidate's status (eval.status), fitness and speedup,
  /// in one transaction: either both land or neither. kNotFound for an unknown candidate;
  /// kInvalidArgument for an empty or "pending" status or a NaN fitness/speedup.
  virtual core::Expected<std::int64_t> RecordEvaluation(const EvaluationRow& eval, double fitness,
                                                        double speedup) = 0;
  virtual core::Expected<std::vector<EvaluationRow>> Evaluations(std::int64_t candidate_id) = 0;

  /// Sum of cost_usd over the run's LLM calls.
  virtual core::Expected<double> TotalCost(std::int64_t run_id) = 0;
};

/// Opens (creating if needed) and migrates the database. The directory must already exist.
/// Every failure is kIo and names the file, sqlite's message and what to do (e.g. a database
/// written by a newer kfoundry).
core::Expected<std::unique_ptr<Store>> OpenStore(const std::filesystem::path& db_path);

}  // namespace kf::store
