// The search coordinator's own cost, rerunnable:
//
//   kf_bench_search [--candidates N] [--iterations I] [--eval-ms MS] [--preload P]
//
// 1. archive: a map-elites strategy (4 islands, default options) records N evaluated candidates
//    (random cells and fitness, each bred from a random earlier one); then the time of one more
//    Record and of Plan (parent, inspirations, notes) is measured 10,000 times each with the N
//    stored. Target: under 1 ms each.
// 2. engine: a real Run (map-elites with meta-prompts, a real SQLite store in a temporary
//    directory, the local executor) against an LLM that answers at once and an evaluator whose
//    every measurement sleeps MS milliseconds (default 100). With --preload P the store first
//    holds P evaluated candidates and the run resumes on them. Reports the loop's own time
//    (RunSummary::engine_ms: planning, prompts, extraction, descriptors, bookkeeping, store
//    writes with the search snapshot) per iteration and as a share of the wall time, and apart
//    from it the steady state alone (RunSummary::steady_ms: without the start and stop, paid
//    once per process, which with --preload include scans over every stored candidate).
//    Target: under 1%.
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "engine/run.h"
#include "search/strategy.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Stats {
  double mean_us = 0, p50_us = 0, p99_us = 0, max_us = 0;
};

Stats Summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  Stats s;
  for (double u : us) s.mean_us += u;
  s.mean_us /= static_cast<double>(us.size());
  s.p50_us = us[us.size() / 2];
  s.p99_us = us[us.size() * 99 / 100];
  s.max_us = us.back();
  return s;
}

double UsSince(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }

void ArchiveBench(int n) {
  auto strategy = kf::search::MakeStrategy("map-elites", {});
  if (!strategy.ok()) std::abort();
  kf::search::Strategy& s = **strategy;
  std::mt19937_64 rng(42);
  std::vector<kf::search::Evaluated> all;
  all.reserve(static_cast<std::size_t>(n) + 10000);
  auto make = [&](std::int64_t id) {
    kf::search::Evaluated e;
    e.candidate_id = id;
    e.cell = {int(rng() % 4), int(rng() % 4), int(rng() % 4)};
    e.passed = rng() % 4 != 0;
    e.fitness = e.passed ? 5.0 + (rng() % 3000) / 1000.0 : double(rng() % 5);
    e.island = int(rng() % 4);
    if (!all.empty()) e.parent_id = all[rng() % all.size()].candidate_id;
    return e;
  };
  auto record = [&](const kf::search::Evaluated& e) {
    std::optional<kf::search::Evaluated> parent;
    if (e.parent_id) parent = all[static_cast<std::size_t>(*e.parent_id - 1)];
    s.Record(e, parent);
    all.push_back(e);
  };
  const auto fill_start = Clock::now();
  for (int i = 1; i <= n; ++i) record(make(i));
  const double fill_s = UsSince(fill_start) / 1e6;
  std::vector<double> insert_us, plan_us;
  for (int i = 0; i < 10000; ++i) {
    kf::search::Evaluated e = make(n + 1 + i);
    const auto t = Clock::now();
    record(e);
    insert_us.push_back(UsSince(t));
  }
  for (int i = 0; i < 10000; ++i) {
    const auto t = Clock::now();
    kf::search::SamplePlan plan = s.Plan(rng);
    plan_us.push_back(UsSince(t));
    if (!plan.parent_id) std::abort();
  }
  const Stats in = Summarize(insert_us), pl = Summarize(plan_us);
  const kf::search::ArchiveMetrics m = s.MaybeArchive()->Metrics();
  fmt::print("archive: {} candidates recorded in {:.2f} s; {} members kept, {} cells filled\n", n, fill_s, m.members,
             m.cells_filled);
  fmt::print("  insert (Record) with {}+ stored: mean {:.2f} us, p50 {:.2f}, p99 {:.2f}, max {:.1f}  [target < 1000 us]\n",
             n, in.mean_us, in.p50_us, in.p99_us, in.max_us);
  fmt::print("  parent sampling (Plan: parent, inspirations, notes): mean {:.2f} us, p50 {:.2f}, p99 {:.2f}, max {:.1f}  "
             "[target < 1000 us]\n",
             pl.mean_us, pl.p50_us, pl.p99_us, pl.max_us);
}

/// Answers every kernel prompt at once with a distinct kernel in one of three styles, and the
/// prompt engineer with an edit of the first line of the pitfalls section it was shown.
class InstantLlm : public kf::llm::LlmClient {
 public:
  InstantLlm() { config_.model = "instant"; }
  kf::core::Expected<kf::llm::Completion> Complete(const kf::llm::CompletionRequest& request) override {
    const int k = next_++;
    kf::llm::Completion c;
    c.usage = {2000, 800};
    c.cost_usd = 0.001;
    c.priced = true;
    if (request.system.find("prompt engineer") != std::string::npos) {
      const std::string& user = request.messages.back().content;
      const std::string header = "## pitfalls\n";
      const auto at = user.find(header);
      const auto end = user.find('\n', at + header.size());
      const std::string line = at == std::string::npos ? "" : user.substr(at + header.size(), end - at - header.size());
      c.text = "<<<<<<< SEARCH\n" + line + "\n=======\n" + line + "\n- Edit " + std::to_string(k) +
               ": check the tail.\n>>>>>>> REPLACE\n";
      return c;
    }
    const std::string n = std::to_string(k);
    const std::string pragma = k % 3 == 0 ? "" : k % 3 == 1 ? "#pragma omp parallel for\n" : "#pragma omp parallel for simd\n";
    c.text = "```cpp\nvoid toy(const float* x, float* y, int n) {\n" + pragma + "  for (int i = 0; i < n; ++i) y[i] = x[i] * " +
             n + ".0f;\n}\n// SPEED=" + std::to_string(1.0 + (k % 50) / 25.0) + "\n```\n";
    return c;
  }
  const kf::llm::LlmConfig& Config() const override { return config_; }

 private:
  std::atomic<int> next_{1};
  kf::llm::LlmConfig config_;
};

/// Every measurement sleeps; the verdict is read from the code ("SPEED=x" passes at x).
class SleepingEvaluator : public kf::eval::Evaluator {
 public:
  explicit SleepingEvaluator(int eval_ms) : eval_ms_(eval_ms) {}
  kf::eval::Prepared Prepare(const std::string& source) override {
    kf::eval::Prepared p;
    p.ready = true;
    p.binary = source;
    return p;
  }
  kf::eval::EvalResult Measure(const kf::eval::Prepared& p) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(eval_ms_));
    kf::eval::EvalResult r;
    const std::string source = p.binary.string();
    const auto at = source.find("SPEED=");
    r.status = at == std::string::npos ? kf::eval::Status::kWrongValue : kf::eval::Status::kPassed;
    if (at != std::string::npos) r.speedup = std::stod(source.substr(at + 6));
    r.phases.total_ms = eval_ms_;
    return r;
  }

 private:
  int eval_ms_;
};

kf::task::Task ToyTask(const fs::path& dir) {
  kf::task::Task t;
  t.dir = dir;
  t.name = "toy";
  t.entry = "toy";
  t.content_hash = "bench";
  t.backend = kf::task::Backend::kCpu;
  t.args = {{"x", kf::task::ArgRole::kInput, kf::task::DType::kF32, {"n"}},
            {"y", kf::task::ArgRole::kOutput, kf::task::DType::kF32, {"n"}},
            {"n", kf::task::ArgRole::kScalar, kf::task::DType::kI32, {}}};
  t.seeds = {{"seed.cpp", "void toy(const float* x, float* y, int n) { for (int i = 0; i < n; ++i) y[i] = x[i]; }\n// SPEED=1.0\n"}};
  return t;
}

/// Writes `count` evaluated candidates into a fresh run, as an earlier process would have: the
/// store makes the schema and the run; the rows go in through SQLite directly, in one
/// transaction (through the store each is its own durable transaction, minutes for 100,000).
void Preload(const fs::path& run_dir, const kf::engine::RunOptions& options, int count) {
  {
    auto store = kf::store::OpenStore(run_dir / kf::engine::kDbFileName);
    if (!store.ok()) std::abort();
    kf::store::RunRow row;
    row.name = "bench";
    row.task_hash = "bench";
    row.strategy = options.strategy;
    row.config_json = options.ToJson().dump();
    if (!(*store)->CreateRun(row).ok()) std::abort();
  }
  sqlite3* db = nullptr;
  if (sqlite3_open((run_dir / kf::engine::kDbFileName).c_str(), &db) != SQLITE_OK) std::abort();
  auto exec = [&](const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      fmt::print(stderr, "{}: {}\n", sql, sqlite3_errmsg(db));
      std::abort();
    }
  };
  exec("BEGIN");
  sqlite3_stmt* candidate = nullptr;
  sqlite3_stmt* evaluation = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO candidates (run_id, parent_id, iteration, origin, code, code_hash, extraction, status, "
                     "fitness, speedup, created_at, model, descriptor_json) VALUES (1, ?, 0, ?, ?, ?, 'full_file', "
                     "'passed', ?, 1.5, 'x', 'instant', ?)",
                     -1, &candidate, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO evaluations (candidate_id, status, result_json, total_ms, created_at) "
                         "VALUES (?, 'passed', '{\"status\":\"passed\"}', 100, 'x')", -1, &evaluation, nullptr);
  std::mt19937_64 rng(7);
  for (int id = 1; id <= count; ++id) {
    const std::string code = "void toy(const float* x, float* y, int n) { for (int i = 0; i < n; ++i) y[i] = x[i] + " +
                             std::to_string(id) + ".0f; }\n";
    const std::string descriptor =
        kf::core::Json{{"cell", {int(rng() % 4), int(rng() % 4), int(rng() % 4)}}}.dump();
    const std::string hash = kf::core::Sha256Hex(code);
    if (id == 1) {
      sqlite3_bind_null(candidate, 1);
    } else {
      sqlite3_bind_int64(candidate, 1, 1 + static_cast<sqlite3_int64>(rng() % static_cast<unsigned>(id - 1)));
    }
    sqlite3_bind_text(candidate, 2, id == 1 ? "seed" : "llm", -1, SQLITE_STATIC);
    sqlite3_bind_text(candidate, 3, code.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(candidate, 4, hash.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(candidate, 5, 6.0 + static_cast<double>(rng() % 1000) / 1000.0);
    sqlite3_bind_text(candidate, 6, descriptor.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(candidate) != SQLITE_DONE) std::abort();
    sqlite3_reset(candidate);
    sqlite3_bind_int64(evaluation, 1, id);
    if (sqlite3_step(evaluation) != SQLITE_DONE) std::abort();
    sqlite3_reset(evaluation);
  }
  sqlite3_finalize(candidate);
  sqlite3_finalize(evaluation);
  exec("COMMIT");
  exec("PRAGMA wal_checkpoint(TRUNCATE)");  // as a database left by a finished process would be
  sqlite3_close(db);
}

void EngineBench(int iterations, int eval_ms, int preload) {
  auto dir = kf::core::MakeUniqueDir(fs::temp_directory_path(), "kf-bench-search");
  if (!dir.ok()) std::abort();
  kf::engine::RunOptions options;
  options.task_dir = *dir;
  options.run_dir = *dir / "run";
  fs::create_directories(options.run_dir);
  options.strategy = "map-elites";
  options.models = *kf::llm::ParseModelList("instant");
  options.max_iterations = iterations;
  options.llm_concurrency = 2;
  options.compile_workers = 2;
  const kf::task::Task task = ToyTask(*dir);
  if (preload > 0) {
    const auto t = Clock::now();
    Preload(options.run_dir, options, preload);
    fmt::print("engine: preloaded {} evaluated candidates in {:.1f} s\n", preload, UsSince(t) / 1e6);
  }
  kf::engine::RunDeps deps;
  auto store = kf::store::OpenStore(options.run_dir / kf::engine::kDbFileName);
  if (!store.ok()) std::abort();
  deps.store = std::move(*store);
  deps.evaluator = std::make_unique<SleepingEvaluator>(eval_ms);
  deps.llms = {std::make_shared<InstantLlm>()};
  const auto t = Clock::now();
  auto run = preload > 0 ? kf::engine::Run::Resume(task, std::move(deps), iterations, std::nullopt)  // preloaded rows have no LLM calls
                         : kf::engine::Run::Start(options, task, std::move(deps));
  if (!run.ok()) {
    fmt::print(stderr, "{}\n", run.error().ToString());
    std::abort();
  }
  const double setup_s = UsSince(t) / 1e6;
  auto summary = (*run)->Execute();
  if (!summary.ok()) {
    fmt::print(stderr, "{}\n", summary.error().ToString());
    std::abort();
  }
  const kf::engine::RunSummary& s = *summary;
  const int done = s.evaluated - (preload > 0 ? preload : 0);
  fmt::print("engine: {} iterations, {} evaluations at {} ms each, {} prompt edits; setup {:.2f} s (restore included)\n",
             iterations, done, eval_ms, s.prompt_edits, setup_s);
  fmt::print("  wall {:.2f} s; the loop's busy time {:.1f} ms = {:.3f} ms per iteration = {:.3f}% of the wall time  "
             "[target < 1%]\n",
             s.wall_ms / 1000, s.engine_ms, s.engine_ms / std::max(1, iterations), 100 * s.engine_ms / s.wall_ms);
  fmt::print("    of which the steady state (sampling, replies, verdicts) {:.1f} ms = {:.3f} ms per iteration = "
             "{:.3f}% of an iteration's {} ms evaluation; start and stop once {:.1f} ms\n",
             s.steady_ms, s.steady_ms / std::max(1, iterations), s.steady_ms / std::max(1, iterations) / eval_ms * 100,
             eval_ms, s.engine_ms - s.steady_ms);
  fmt::print("  the loop thread's CPU time {:.1f} ms = {:.3f} ms per iteration = {:.3f}% of the wall time\n",
             s.engine_cpu_ms, s.engine_cpu_ms / std::max(1, iterations), 100 * s.engine_cpu_ms / s.wall_ms);
  fmt::print("  wall time beyond the evaluations themselves ({} x {} ms): {:.1f} ms = {:.3f}%\n", done, eval_ms,
             s.wall_ms - done * eval_ms, 100 * (s.wall_ms - done * eval_ms) / s.wall_ms);
  if (std::getenv("KF_BENCH_KEEP") == nullptr) fs::remove_all(*dir);
  else fmt::print("  kept {}\n", dir->string());
}

int Flag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  kf::core::SetLogLevel(kf::core::LogLevel::kWarn);
  if (const int n = Flag(argc, argv, "--candidates", 100000); n > 0) ArchiveBench(n);
  EngineBench(Flag(argc, argv, "--iterations", 100), Flag(argc, argv, "--eval-ms", 100), Flag(argc, argv, "--preload", 0));
  return 0;
}
