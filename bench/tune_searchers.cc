// How close each searcher gets to the exhaustive optimum on a real parameter space, rerunnable:
//
//   kf_bench_tune TASK_DIR KERNEL EXHAUSTIVE_JSON [--fraction F] [--seeds S]
//
// EXHAUSTIVE_JSON is what `kfoundry tune TASK_DIR KERNEL --searcher exhaustive --json FILE`
// wrote: every allowed configuration timed once on this device (bench/tune_searchers.sh runs
// it). Each searcher (the default, bandit; model; random) is then replayed S times (seeds
// 1..S) against those recorded outcomes with a budget of F of the space (default 0.2): a
// searcher sees exactly the cost a real tune would have timed, so searchers are compared on
// the same measurements, free of run-to-run noise, and the replay costs no device time.
//
// Reported per searcher: the median over seeds of best-found cost / optimum, how many seeds got
// within 5% of the optimum, and the median number of evaluations it took them. Target (issue
// 6): the default searcher within 5% of the optimum using at most 20% of the evaluations,
// median over 10 seeds, beside random search at the same budget.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/json.h"
#include "task/task.h"
#include "tune/space.h"
#include "tune/tuner.h"

namespace {

using kf::tune::Config;
using kf::tune::Outcome;

[[noreturn]] void Die(const std::string& why) {
  fmt::print(stderr, "kf_bench_tune: {}\n", why);
  std::exit(2);
}

/// Answers every configuration with its recorded outcome, in the order started.
class ReplayRunner final : public kf::tune::TrialRunner {
 public:
  explicit ReplayRunner(const std::vector<Outcome>& outcomes) : outcomes_(outcomes) {}
  void Start(std::size_t point, const Config&) override { started_.push_back(point); }
  std::pair<std::size_t, Outcome> Next() override {
    const std::size_t point = started_.front();
    started_.erase(started_.begin());
    return {point, outcomes_[point]};
  }

 private:
  const std::vector<Outcome>& outcomes_;
  std::vector<std::size_t> started_;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double Flag(int argc, char** argv, const char* name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) return std::atof(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) Die("usage: kf_bench_tune TASK_DIR KERNEL EXHAUSTIVE_JSON [--fraction F] [--seeds S]");
  const double fraction = Flag(argc, argv, "--fraction", 0.2);
  const int seeds = static_cast<int>(Flag(argc, argv, "--seeds", 10));
  auto task = kf::task::LoadTask(argv[1]);
  if (!task.ok()) Die(task.error().ToString());
  auto source = kf::core::ReadFile(argv[2]);
  if (!source.ok()) Die(source.error().ToString());
  auto space = kf::tune::ParamSpace::Parse(*source, argv[2], kf::task::ScalarNames(*task));
  if (!space.ok()) Die(space.error().ToString());
  auto text = kf::core::ReadFile(argv[3]);
  if (!text.ok()) Die(text.error().ToString());
  auto json = kf::core::ParseJson(*text, argv[3]);
  if (!json.ok()) Die(json.error().ToString());

  // The recorded space: every configuration the exhaustive tune tried, by label.
  std::map<std::string, Config> by_label;
  auto declared = space->Enumerate({});
  if (!declared.ok()) Die(declared.error().ToString());
  for (const Config& c : *declared) by_label[space->Label(c)] = c;
  std::vector<Config> points;
  std::vector<Outcome> outcomes;
  for (const auto& t : (*json)["trials"]) {
    auto outcome = Outcome::FromJson(t);
    if (!outcome.ok()) Die(outcome.error().ToString());
    auto c = by_label.find(t.at("config").get<std::string>());
    if (c == by_label.end()) Die(fmt::format("{} is not a configuration of {}", t.at("config").dump(), argv[2]));
    points.push_back(c->second);
    outcomes.push_back(*outcome);
  }
  if (points.empty()) Die("no trials in the exhaustive record");
  double optimum = INFINITY;
  std::size_t passed = 0;
  for (const Outcome& o : outcomes) {
    if (o.passed) optimum = std::min(optimum, o.cost_ms), ++passed;
  }
  if (!std::isfinite(optimum)) Die("no configuration passed");
  const Config fallback = space->Default();
  double default_ms = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i] == fallback && outcomes[i].passed) default_ms = outcomes[i].cost_ms;
  }
  const int budget = std::max(1, static_cast<int>(std::floor(fraction * static_cast<double>(points.size()))));
  fmt::print("{}: {} configurations recorded ({} passed; {} of the space the declarations allow without device limits) "
             "on {}; optimum {:.4g} ms, default {} ({})\n",
             task->name, points.size(), passed, declared->size(), (*json)["table"].value("device_name", std::string("?")),
             optimum,
             default_ms > 0 ? fmt::format("{:.4g} ms", default_ms) : "not allowed or failing",
             default_ms > 0 ? fmt::format("{:.2f}x slower", default_ms / optimum) : "-");
  fmt::print("budget {} evaluations ({:.0f}% of the space), {} seeds\n", budget, 100 * fraction, seeds);
  for (auto kind : {kf::tune::SearcherKind::kBandit, kf::tune::SearcherKind::kModel, kf::tune::SearcherKind::kRandom}) {
    std::vector<double> ratios, evaluations_to_5;
    int within = 0;
    for (int seed = 1; seed <= seeds; ++seed) {
      ReplayRunner runner(outcomes);
      kf::tune::SearchOptions options;
      options.searcher = kind;
      options.seed = static_cast<std::uint64_t>(seed);
      options.stop.max_evaluations = budget;
      options.in_flight = 4;
      const kf::tune::SearchTrace trace = kf::tune::RunSearch(points, runner, options);
      double best = INFINITY;
      std::optional<int> reached;
      for (std::size_t i = 0; i < trace.trials.size(); ++i) {
        if (trace.trials[i].second.passed) best = std::min(best, trace.trials[i].second.cost_ms);
        if (!reached && best <= 1.05 * optimum) reached = static_cast<int>(i + 1);
      }
      ratios.push_back(best / optimum);
      if (reached) {
        ++within;
        evaluations_to_5.push_back(*reached);
      }
    }
    const double median = Median(ratios);
    fmt::print("  {:<8} median best/optimum {:.3f} ({}), within 5% in {}/{} seeds, median evaluations to 5%: {}\n",
               kf::tune::SearcherName(kind), median, median <= 1.05 ? "within 5%" : "NOT within 5%", within, seeds,
               evaluations_to_5.empty() ? std::string("-") : fmt::format("{:.0f}", Median(evaluations_to_5)));
  }
  return 0;
}
