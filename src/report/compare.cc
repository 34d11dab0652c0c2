#include "report/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "store/store.h"

namespace kf::report {

namespace fs = std::filesystem;
using core::Json;

core::Expected<RunComparison> CompareRun(const fs::path& run_dir, const std::vector<double>& targets) {
  const fs::path db = run_dir / "kfoundry.db";
  if (!fs::exists(db)) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           fmt::format("{} has no kfoundry.db: is it a run directory?", run_dir.string()));
  }
  KF_TRY(auto store, store::OpenStore(db, store::OpenMode::kReadOnly));  // also while that run goes on
  KF_TRY(store::RunRow run, store->LoadRun());
  RunComparison out;
  out.run_dir = run_dir.string();
  out.task = run.task_name;
  out.strategy = run.strategy;
  out.state = run.state;
  KF_TRY(Json config, core::ParseJson(run.config_json, db.string() + " (run options)"));
  if (run.strategy == "map-elites" && !config.value("meta_prompts", true)) out.strategy += " (no meta-prompts)";
  std::vector<std::string> models;
  if (config.contains("models") && config["models"].contains("models")) {
    for (const Json& m : config["models"]["models"]) models.push_back(m.value("model", "?"));
  } else if (config.value("model", "") != "") {
    models.push_back(config["model"].get<std::string>());
  }
  out.models = models.empty() ? "-" : fmt::format("{}", fmt::join(models, "+"));

  KF_TRY(store::Store::CallTotals totals, store->LlmCallTotals(run.id));
  KF_TRY(std::vector<store::CandidateRow> candidates, store->Candidates(run.id));
  KF_TRY(std::vector<store::MetricsRow> metrics, store->Metrics(run.id));
  out.kernel_calls = totals.kernel_calls;
  out.engineer_calls = totals.engineer_calls;
  out.cost_usd = totals.cost_usd;
  std::set<std::string> cells;
  for (const auto& c : candidates) {
    if (c.status == "pending" || c.extraction.find(store::kDuplicateMark) != std::string::npos) continue;
    ++out.evaluations;
    const Json d = Json::parse(c.descriptor_json, nullptr, /*allow_exceptions=*/false);
    if (d.is_object() && d.contains("cell")) cells.insert(d["cell"].dump());  // runs before descriptors have none
    if (c.status != "passed") continue;
    ++out.passed;
    out.best_speedup = std::max(out.best_speedup, c.speedup);
  }
  out.cells = static_cast<int>(cells.size());
  if (!metrics.empty()) {
    out.coverage = metrics.back().coverage;
    out.qd_score = metrics.back().qd_score;
  }
  std::vector<store::LlmCallRow> calls;  // loaded only when a target was reached
  bool calls_loaded = false;
  for (double target : targets) {
    TargetReached t;
    t.speedup = target;
    // The first correct candidate at least this fast, in the order they were written; a seed
    // that is already fast enough needs no call.
    for (const auto& c : candidates) {
      if (c.status != "passed" || c.speedup < target) continue;
      if (!calls_loaded) {
        KF_TRY(calls, store->LlmCalls(run.id));
        calls_loaded = true;
      }
      int n = 0;
      double cost = 0;
      for (const auto& call : calls) {
        if (!c.llm_call_id || call.id > *c.llm_call_id) break;
        ++n;
        cost += call.cost_usd;
      }
      t.llm_calls = n;
      t.cost_usd = cost;
      t.candidate_id = c.id;
      break;
    }
    out.targets.push_back(t);
  }
  return out;
}

std::string ComparisonTable(const std::vector<RunComparison>& runs) {
  std::string out = fmt::format("{:<28} {:<28} {:>6} {:>5} {:>9} {:>6} {:>6} {:>8} {:>6} {:>8}", "run", "strategy",
                                "calls", "eng", "cost", "evals", "passed", "best", "cover", "QD");
  if (!runs.empty()) {
    for (const TargetReached& t : runs.front().targets) out += fmt::format(" {:>16}", fmt::format("to {:.2g}x", t.speedup));
  }
  out += "\n";
  for (const RunComparison& r : runs) {
    std::string name = fs::path(r.run_dir).filename().string();
    out += fmt::format("{:<28} {:<28} {:>6} {:>5} {:>9} {:>6} {:>6} {:>8} {:>5.1f}% {:>8.2f}", name.substr(0, 28),
                       r.strategy.substr(0, 28), r.kernel_calls, r.engineer_calls, fmt::format("${:.4f}", r.cost_usd),
                       r.evaluations, r.passed, r.passed ? fmt::format("{:.2f}x", r.best_speedup) : "-",
                       100 * r.coverage, r.qd_score);
    for (const TargetReached& t : r.targets) {
      out += fmt::format(" {:>16}", t.llm_calls ? fmt::format("{} / ${:.4f}", *t.llm_calls, *t.cost_usd) : "not reached");
    }
    out += "\n";
  }
  return out;
}

Json ComparisonJson(const std::vector<RunComparison>& runs) {
  Json out = Json::array();
  for (const RunComparison& r : runs) {
    Json targets = Json::array();
    for (const TargetReached& t : r.targets) {
      targets.push_back({{"speedup", t.speedup},
                         {"llm_calls", t.llm_calls ? Json(*t.llm_calls) : Json()},
                         {"cost_usd", t.cost_usd ? Json(*t.cost_usd) : Json()},
                         {"candidate_id", t.candidate_id ? Json(*t.candidate_id) : Json()}});
    }
    out.push_back({{"run_dir", r.run_dir},           {"task", r.task},
                   {"strategy", r.strategy},         {"models", r.models},
                   {"state", r.state},               {"kernel_calls", r.kernel_calls},
                   {"engineer_calls", r.engineer_calls}, {"cost_usd", r.cost_usd},
                   {"evaluations", r.evaluations},   {"passed", r.passed},
                   {"best_speedup", r.best_speedup}, {"coverage", r.coverage},
                   {"qd_score", r.qd_score},         {"cells", r.cells},
                   {"targets", targets}});
  }
  return out;
}

}  // namespace kf::report
