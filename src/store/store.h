// store/store.h — SQLite persistence of a run: the run, its candidates, their evaluations, the
// LLM calls that produced them, the meta-prompts, and the search's state and metrics.
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
#include <string_view>
#include <vector>

#include "core/error.h"

namespace kf::store {

inline constexpr int kSchemaVersion = 3;

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
  std::string extraction;  // "full_file", "diff", "seed", ...; a duplicate's ends with kDuplicateMark
  std::string status;      // "pending" until evaluated, then an eval status name
  double fitness = 0;
  double speedup = 0;
  std::string created_at;
  std::optional<int> island;                // map-elites: the island it was bred for
  std::optional<std::int64_t> prompt_id;    // the meta-prompt (population id) its prompt used
  std::string model;                        // the model that wrote it; empty for seeds
  std::string descriptor_json;              // {"memory_opt": {"level": 2, "evidence": ...}, ...}
};

/// Appended to a duplicate candidate's extraction, followed by "<id>)" of the candidate whose
/// code it repeats: such a row inherits that verdict and has no evaluation of its own.
inline constexpr std::string_view kDuplicateMark = " (duplicate of #";

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
  std::string purpose = "kernel";          // "kernel" or "prompt_engineer"
  std::optional<std::int64_t> prompt_id;   // kernel: the meta-prompt used; engineer: the one edited
};

/// A meta-prompt as it was created; rows are never deleted, so the lineage outlives the
/// population's bound.
struct PromptRow {
  std::int64_t id = 0;
  std::int64_t run_id = 0;
  std::int64_t prompt_id = 0;                     // the population's id
  std::optional<std::int64_t> parent_prompt_id;
  std::optional<std::int64_t> llm_call_id;        // the engineer call that wrote it
  std::string origin;                             // "seed" or "engineer"
  std::string sections_json;                      // prompt::SectionsToJson: {"philosophy": "...", ...}
  std::string created_at;
};

/// One named piece of search state (archive, prompt population, model picker, random
/// generator), replaced as a whole on every write.
struct SearchStateEntry {
  std::string key;
  std::string json;
};

/// The search's progress after one evaluation.
struct MetricsRow {
  std::int64_t id = 0;
  std::int64_t run_id = 0;
  int evaluations = 0;
  double qd_score = 0;
  double coverage = 0;
  double best_fitness = 0;
  double best_speedup = 0;
  double cost_usd = 0;
  double elapsed_s = 0;
  std::string created_at;
};

/// Written in the same transaction as an evaluation, so a resumed run sees its search exactly
/// as it was after the last evaluation recorded.
struct SearchUpdate {
  std::vector<SearchStateEntry> state;
  std::optional<MetricsRow> metrics;
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
  /// One call; kNotFound when there is none.
  virtual core::Expected<LlmCallRow> LlmCall(std::int64_t call_id) = 0;
  /// Counts and cost of the run's calls without loading their prompts and replies.
  struct CallTotals {
    int kernel_calls = 0;
    int engineer_calls = 0;
    double cost_usd = 0;
  };
  virtual core::Expected<CallTotals> LlmCallTotals(std::int64_t run_id) = 0;

  /// Inserts with status "pending" unless row.status is set; code_hash defaults to
  /// core::Sha256Hex(code) when empty. parent_id and llm_call_id must name existing rows.
  virtual core::Expected<std::int64_t> InsertCandidate(const CandidateRow& row) = 0;
  /// One LLM sample as the engine records it: the call and, when the reply held usable code, its
  /// candidate (llm_call_id set to the call), in one transaction. Same rules as InsertLlmCall and
  /// InsertCandidate.
  struct SampleIds {
    std::int64_t call_id = 0;
    std::optional<std::int64_t> candidate_id;
  };
  virtual core::Expected<SampleIds> InsertSample(const LlmCallRow& call, std::optional<CandidateRow> candidate) = 0;
  /// The run's candidates ordered by id.
  virtual core::Expected<std::vector<CandidateRow>> Candidates(std::int64_t run_id) = 0;

  /// Records the evaluation, sets the candidate's status (eval.status), fitness and speedup,
  /// and writes `search`, in one transaction: all of it lands or none. kNotFound for an unknown
  /// candidate; kInvalidArgument for an empty or "pending" status or a NaN fitness/speedup.
  virtual core::Expected<std::int64_t> RecordEvaluation(const EvaluationRow& eval, double fitness,
                                                        double speedup, const SearchUpdate& search = {}) = 0;
  virtual core::Expected<std::vector<EvaluationRow>> Evaluations(std::int64_t candidate_id) = 0;
  /// The candidate of each of the run's evaluations, in the order they were recorded.
  virtual core::Expected<std::vector<std::int64_t>> EvaluationOrder(std::int64_t run_id) = 0;

  /// Sum of cost_usd over the run's LLM calls.
  virtual core::Expected<double> TotalCost(std::int64_t run_id) = 0;

  /// Writes `update` in one transaction (state entries replace those of the same key).
  virtual core::Expected<void> SaveSearch(std::int64_t run_id, const SearchUpdate& update) = 0;
  /// The run's search state by key; empty for a run that never saved any.
  virtual core::Expected<std::vector<SearchStateEntry>> SearchState(std::int64_t run_id) = 0;
  /// The run's metrics rows ordered by id.
  virtual core::Expected<std::vector<MetricsRow>> Metrics(std::int64_t run_id) = 0;

  /// Inserts the prompt and writes `search` in one transaction (the population that holds the
  /// new prompt lands with it, so its ids are never handed out twice).
  virtual core::Expected<std::int64_t> InsertPrompt(const PromptRow& row, const SearchUpdate& search = {}) = 0;
  /// The run's prompts ordered by id.
  virtual core::Expected<std::vector<PromptRow>> Prompts(std::int64_t run_id) = 0;
};

/// The oldest schema a read-only store can read without migrating it.
inline constexpr int kOldestReadableVersion = 2;

enum class OpenMode {
  kReadWrite,  // created if needed and migrated to kSchemaVersion
  kReadOnly,   // for reports: the file is left exactly as it is, also while a run writes to it
};

/// Opens the database. The directory must already exist. Every failure is kIo (kNotFound for
/// a read-only open of a missing file) and names the file, sqlite's message and what to do
/// (e.g. a database written by a newer kfoundry). A read-only store fails every write.
core::Expected<std::unique_ptr<Store>> OpenStore(const std::filesystem::path& db_path,
                                                 OpenMode mode = OpenMode::kReadWrite);

}  // namespace kf::store
