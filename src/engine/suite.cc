#include "engine/suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <thread>

#include "core/fs.h"
#include "core/log.h"
#include "task/task.h"

namespace kf::engine {

namespace fs = std::filesystem;

const std::vector<double>& FastPThresholds() {
  static const std::vector<double> kThresholds = {0.0, 1.0, 1.5, 2.0};
  return kThresholds;
}

SuiteMetrics ComputeMetrics(const std::vector<SuiteRow>& rows) {
  SuiteMetrics m;
  m.problems = static_cast<int>(rows.size());
  double log_sum = 0, log_sum_compile = 0;
  for (double p : FastPThresholds()) m.fast_p[p] = m.fast_p_compile[p] = 0;
  for (const SuiteRow& row : rows) {
    if (!row.Correct()) continue;
    ++m.correct;
    const eval::EvalResult& r = *row.result;
    log_sum += std::log(std::max(r.speedup, 1e-12));
    for (double p : FastPThresholds()) {
      if (r.speedup > p) m.fast_p[p] += 1;
    }
    if (r.speedup_vs_compile > 0) {
      ++m.with_compile_baseline;
      log_sum_compile += std::log(r.speedup_vs_compile);
      for (double p : FastPThresholds()) {
        if (r.speedup_vs_compile > p) m.fast_p_compile[p] += 1;
      }
    }
  }
  if (m.problems > 0) {
    for (auto& [p, n] : m.fast_p) n /= m.problems;
    for (auto& [p, n] : m.fast_p_compile) n /= m.problems;
  }
  if (m.correct > 0) m.geomean_speedup = std::exp(log_sum / m.correct);
  if (m.with_compile_baseline > 0) m.geomean_speedup_vs_compile = std::exp(log_sum_compile / m.with_compile_baseline);
  return m;
}

std::vector<fs::path> FindSuiteTasks(const fs::path& suite_dir) {
  std::vector<fs::path> out;
  if (fs::exists(suite_dir / "task.yaml")) return {suite_dir};
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(suite_dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    if (it->is_directory() && fs::exists(it->path() / "task.yaml")) {
      out.push_back(it->path());
      it.disable_recursion_pending();  // a task's own folders are not tasks
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

SuiteRow SuiteRowFor(const fs::path& suite_dir, const fs::path& task_dir) {
  SuiteRow row;
  const fs::path rel = fs::relative(task_dir, suite_dir);
  row.task = rel.generic_string() == "." ? task_dir.filename().string() : rel.generic_string();
  row.group = rel.has_parent_path() ? rel.begin()->string() : "";
  return row;
}

fs::path FindCandidate(const fs::path& candidates_dir, const std::string& task_path, const std::string& task_name,
                       std::string_view extension) {
  const std::string ext(extension);
  for (const fs::path& p : {candidates_dir / (task_path + ext), candidates_dir / task_path / ("candidate" + ext),
                            candidates_dir / (task_name + ext)}) {
    if (fs::is_regular_file(p)) return p;
  }
  return {};
}

namespace {

struct Slot {
  task::Task task;
  std::unique_ptr<eval::Evaluator> evaluator;
  std::string source;
  bool loaded = false;  // task and candidate read
  eval::Prepared prepared;
};

}  // namespace

core::Expected<std::vector<SuiteRow>> EvaluateSuite(const fs::path& suite_dir, const fs::path& candidates_dir,
                                                    const SuiteOptions& options) {
  const std::vector<fs::path> task_dirs = FindSuiteTasks(suite_dir);
  if (task_dirs.empty()) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           fmt::format("{} holds no task packages (folders with task.yaml)", suite_dir.string()));
  }
  std::vector<SuiteRow> rows(task_dirs.size());
  std::vector<Slot> slots(task_dirs.size());
  // 1. Tasks and candidates.
  for (std::size_t i = 0; i < task_dirs.size(); ++i) {
    SuiteRow& row = rows[i];
    row = SuiteRowFor(suite_dir, task_dirs[i]);
    auto task = task::LoadTask(task_dirs[i]);
    if (!task.ok()) {
      row.error = task.error().message;
      continue;
    }
    slots[i].task = std::move(task).value();
    const fs::path candidate = FindCandidate(candidates_dir, row.task, slots[i].task.name,
                                             task::CandidateExtension(slots[i].task.backend));
    if (candidate.empty()) {
      row.error = fmt::format("no candidate for {} in {}", row.task, candidates_dir.string());
      continue;
    }
    row.candidate = candidate.string();
    auto source = core::ReadFile(candidate);
    if (!source.ok()) {
      row.error = source.error().message;
      continue;
    }
    slots[i].source = std::move(source).value();
    slots[i].loaded = true;
    // Native evaluators time their reference when made: one at a time, before any compile
    // competes for the machine. Torch evaluators only check and compile theirs (the checker
    // times it later, alone): they are made in the pool below.
    if (slots[i].task.backend == task::Backend::kTorch) continue;
    if (options.cancel != nullptr && options.cancel->load()) {
      row.error = "cancelled";
      slots[i].loaded = false;
      continue;
    }
    auto evaluator = eval::MakeEvaluator(slots[i].task, options.evaluator);
    if (!evaluator.ok()) {
      row.error = fmt::format("cannot evaluate the task: {}", evaluator.error().message);
      slots[i].loaded = false;
      continue;
    }
    slots[i].evaluator = std::move(evaluator).value();
  }
  // 2. Torch evaluators (each checks its reference and compiles it for the torch.compile
  //    baseline, unless cached, beside its candidate's build), then static checks and compiles
  //    of every candidate, in parallel.
  std::vector<std::size_t> loaded;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].loaded) loaded.push_back(i);
  }
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int workers = std::min<int>(options.compile_workers > 0 ? options.compile_workers : hw,
                                    static_cast<int>(std::max<std::size_t>(loaded.size(), 1)));
  // A reference's check runs beside its candidate's build; one that fails is that row's verdict.
  eval::EvaluatorOptions evaluator_options = options.evaluator;
  evaluator_options.defer_reference_check = true;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (std::size_t k = next++; k < loaded.size(); k = next++) {
        if (options.cancel != nullptr && options.cancel->load()) break;
        Slot& s = slots[loaded[k]];
        if (!s.evaluator) {
          auto evaluator = eval::MakeEvaluator(s.task, evaluator_options);
          if (!evaluator.ok()) {
            rows[loaded[k]].error = fmt::format("cannot evaluate the task: {}", evaluator.error().message);
            continue;
          }
          s.evaluator = std::move(evaluator).value();
        }
        s.prepared = s.evaluator->Prepare(s.source);
      }
    });
  }
  for (auto& t : pool) t.join();
  std::vector<std::size_t> ready;
  for (std::size_t i : loaded) {
    if (slots[i].evaluator) ready.push_back(i);
  }
  // 3. Measurements, one at a time, the next one staged (its start-up off the device) meanwhile.
  for (std::size_t k = 0; k < ready.size(); ++k) {
    const std::size_t i = ready[k];
    if (options.cancel != nullptr && options.cancel->load()) {
      rows[i].error = "cancelled";
      continue;
    }
    if (k + 1 < ready.size()) slots[ready[k + 1]].evaluator->Stage(slots[ready[k + 1]].prepared);
    rows[i].result = slots[i].evaluator->Measure(slots[i].prepared);
    core::LogInfo("{}: {}: {}", rows[i].task, eval::StatusName(rows[i].result->status), rows[i].result->message);
  }
  return rows;
}

namespace {

std::string Status(const SuiteRow& row) {
  return row.result ? std::string(eval::StatusName(row.result->status)) : (row.candidate.empty() ? "missing" : "error");
}

std::string Message(const SuiteRow& row) { return row.result ? row.result->message : row.error; }

std::string Ratio(double v) { return v > 0 ? fmt::format("{:.3g}x", v) : "-"; }

std::string OneLine(std::string s, std::size_t cap) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s.size() <= cap ? s : s.substr(0, cap - 3) + "...";
}

std::map<std::string, std::vector<SuiteRow>> ByGroup(const std::vector<SuiteRow>& rows) {
  std::map<std::string, std::vector<SuiteRow>> groups;
  for (const SuiteRow& row : rows) groups[row.group.empty() ? "(suite)" : row.group].push_back(row);
  return groups;
}

std::string MetricsLine(const std::string& name, const SuiteMetrics& m) {
  std::string line = fmt::format("  {:<12} {:>4} problems  correct {:>5.1f}%", name, m.problems,
                                 m.problems > 0 ? 100.0 * m.correct / m.problems : 0.0);
  for (double p : FastPThresholds()) line += fmt::format("  fast_{:g} {:>5.1f}%", p, 100.0 * m.fast_p.at(p));
  line += fmt::format("  geomean {} vs reference", Ratio(m.geomean_speedup));
  if (m.with_compile_baseline > 0) {
    line += fmt::format(", {} vs torch.compile (fast_1 {:.1f}%)", Ratio(m.geomean_speedup_vs_compile),
                        100.0 * m.fast_p_compile.at(1.0));
  }
  return line + "\n";
}

core::Json MetricsJson(const SuiteMetrics& m) {
  core::Json fast = core::Json::object(), fast_compile = core::Json::object();
  for (double p : FastPThresholds()) {
    fast[fmt::format("{:g}", p)] = m.fast_p.at(p);
    fast_compile[fmt::format("{:g}", p)] = m.fast_p_compile.at(p);
  }
  return {{"problems", m.problems},
          {"correct", m.correct},
          {"correct_rate", m.problems > 0 ? static_cast<double>(m.correct) / m.problems : 0.0},
          {"fast_p", fast},
          {"fast_p_vs_compile", fast_compile},
          {"geomean_speedup", m.geomean_speedup},
          {"geomean_speedup_vs_compile", m.geomean_speedup_vs_compile},
          {"with_compile_baseline", m.with_compile_baseline}};
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string SuiteTable(const std::vector<SuiteRow>& rows) {
  std::size_t width = 4;
  for (const SuiteRow& row : rows) width = std::max(width, row.task.size());
  width = std::min<std::size_t>(width, 60);
  std::string out = fmt::format("{:<{}}  {:<15} {:>9} {:>11}  {}\n", "task", width, "status", "speedup", "vs compile",
                                "message");
  for (const SuiteRow& row : rows) {
    out += fmt::format("{:<{}}  {:<15} {:>9} {:>11}  {}\n", OneLine(row.task, width), width, Status(row),
                       Ratio(row.Correct() ? row.result->speedup : 0),
                       Ratio(row.Correct() ? row.result->speedup_vs_compile : 0), OneLine(Message(row), 100));
  }
  out += "\nmetrics (fast_p: correct and more than p times faster than the reference, over all problems)\n";
  const auto groups = ByGroup(rows);
  if (groups.size() > 1) {
    for (const auto& [name, group_rows] : groups) out += MetricsLine(name, ComputeMetrics(group_rows));
  }
  out += MetricsLine("overall", ComputeMetrics(rows));
  return out;
}

core::Json SuiteJson(const std::vector<SuiteRow>& rows) {
  core::Json problems = core::Json::array();
  for (const SuiteRow& row : rows) {
    problems.push_back({{"task", row.task},
                        {"group", row.group},
                        {"candidate", row.candidate},
                        {"status", Status(row)},
                        {"message", Message(row)},
                        {"result", row.result ? row.result->ToJson() : core::Json(nullptr)}});
  }
  core::Json groups = core::Json::object();
  for (const auto& [name, group_rows] : ByGroup(rows)) groups[name] = MetricsJson(ComputeMetrics(group_rows));
  return {{"problems", problems}, {"groups", groups}, {"overall", MetricsJson(ComputeMetrics(rows))}};
}

std::string SuiteCsv(const std::vector<SuiteRow>& rows) {
  std::string out = "task,group,status,speedup,speedup_vs_compile,median_ms,message\n";
  for (const SuiteRow& row : rows) {
    const bool ok = row.Correct();
    out += fmt::format("{},{},{},{},{},{},{}\n", CsvField(row.task), CsvField(row.group), Status(row),
                       ok ? fmt::format("{:.6g}", row.result->speedup) : "",
                       ok && row.result->speedup_vs_compile > 0 ? fmt::format("{:.6g}", row.result->speedup_vs_compile) : "",
                       row.result ? fmt::format("{:.6g}", row.result->median_ms) : "", CsvField(OneLine(Message(row), 500)));
  }
  return out;
}

}  // namespace kf::engine
