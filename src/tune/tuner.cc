#include "tune/tuner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

namespace kf::tune {

using core::Json;

Json Outcome::ToJson() const {
  return Json{{"passed", passed}, {"status", status}, {"message", message}, {"shape_ms", shape_ms}, {"cost_ms", cost_ms}};
}

core::Expected<Outcome> Outcome::FromJson(const Json& j) {
  try {
    Outcome o;
    o.passed = j.at("passed").get<bool>();
    o.status = j.at("status").get<std::string>();
    o.message = j.at("message").get<std::string>();
    o.shape_ms = j.at("shape_ms").get<std::vector<double>>();
    o.cost_ms = j.at("cost_ms").get<double>();
    if (o.passed && (o.shape_ms.empty() || !(o.cost_ms > 0) || !std::isfinite(o.cost_ms))) {
      return core::MakeError(core::ErrorCode::kParse, "a passed outcome without positive timings");
    }
    return o;
  } catch (const Json::exception& e) {
    return core::MakeError(core::ErrorCode::kParse, fmt::format("a tuning outcome: {}", e.what()));
  }
}

SearchTrace RunSearch(const std::vector<Config>& points, TrialRunner& runner, const SearchOptions& options) {
  KF_CHECK(!points.empty()) << "a search needs a non-empty space";
  const auto started = std::chrono::steady_clock::now();
  auto elapsed_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  std::unique_ptr<Searcher> searcher = MakeSearcher(options.searcher, points, options.seed);
  const StopCondition& stop = options.stop;
  // The evaluation budget in points: the tighter of the count and the fraction.
  std::size_t budget = points.size();
  if (stop.max_evaluations) budget = std::min(budget, static_cast<std::size_t>(std::max(0, *stop.max_evaluations)));
  if (stop.max_fraction) {
    budget = std::min(budget, static_cast<std::size_t>(std::ceil(*stop.max_fraction * static_cast<double>(points.size()))));
  }
  SearchTrace trace;
  std::size_t started_count = 0, running = 0;
  bool exhausted = false;
  const std::size_t in_flight = static_cast<std::size_t>(std::max(1, options.in_flight));
  for (;;) {
    const bool out_of_time = stop.max_seconds && elapsed_s() >= *stop.max_seconds;
    const bool cancelled = options.cancel && options.cancel->load();
    while (!exhausted && !out_of_time && !cancelled && running < in_flight && started_count < budget) {
      std::optional<std::size_t> point = searcher->Next();
      if (!point) {
        exhausted = true;
        break;
      }
      runner.Start(*point, points[*point]);
      ++started_count;
      ++running;
    }
    if (running == 0) {
      if (cancelled) {
        trace.stop_reason = "cancelled";
      } else if (exhausted || started_count == points.size()) {
        trace.stop_reason = "space exhausted";
      } else if (out_of_time) {
        trace.stop_reason = "time budget";
      } else if (stop.max_evaluations && started_count >= static_cast<std::size_t>(*stop.max_evaluations)) {
        trace.stop_reason = "evaluation budget";
      } else {
        trace.stop_reason = "fraction of the space";
      }
      break;
    }
    auto [point, outcome] = runner.Next();
    --running;
    searcher->Report(point, outcome.passed ? std::optional<double>(outcome.cost_ms) : std::nullopt);
    if (outcome.passed && (!trace.best || outcome.cost_ms < trace.trials[*trace.best].second.cost_ms)) {
      trace.best = trace.trials.size();
    }
    trace.trials.emplace_back(point, std::move(outcome));
  }
  trace.seconds = elapsed_s();
  return trace;
}

// --- dispatch tables ------------------------------------------------------------------------

Json DispatchTable::ToJson() const {
  Json rows = Json::array();
  for (const DispatchEntry& e : entries) {
    rows.push_back({{"shape", e.shape_label}, {"scalars", e.scalars}, {"config", e.config},
                    {"median_ms", e.median_ms}, {"default_ms", e.default_ms}});
  }
  return Json{{"entry", entry}, {"device_id", device_id}, {"device_name", device_name},
              {"params", param_names}, {"scalars", scalar_names}, {"entries", rows}};
}

core::Expected<DispatchTable> DispatchTable::FromJson(const Json& j) {
  try {
    DispatchTable t;
    t.entry = j.at("entry").get<std::string>();
    t.device_id = j.at("device_id").get<std::string>();
    t.device_name = j.at("device_name").get<std::string>();
    t.param_names = j.at("params").get<std::vector<std::string>>();
    t.scalar_names = j.at("scalars").get<std::vector<std::string>>();
    for (const Json& row : j.at("entries")) {
      DispatchEntry e;
      e.shape_label = row.at("shape").get<std::string>();
      e.scalars = row.at("scalars").get<std::map<std::string, double>>();
      e.config = row.at("config").get<Config>();
      e.median_ms = row.at("median_ms").get<double>();
      e.default_ms = row.at("default_ms").get<double>();
      if (e.config.size() != t.param_names.size()) {
        return core::MakeError(core::ErrorCode::kParse,
                               fmt::format("dispatch entry {} has {} values for {} parameters", e.shape_label,
                                           e.config.size(), t.param_names.size()));
      }
      t.entries.push_back(std::move(e));
    }
    return t;
  } catch (const Json::exception& e) {
    return core::MakeError(core::ErrorCode::kParse, fmt::format("a dispatch table: {}", e.what()));
  }
}

namespace {
std::string Identifier(std::string_view s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "k_" + out;
  return out;
}
}  // namespace

std::string DispatchHeader(const DispatchTable& t) {
  const std::string ns = "kf_tuned_" + Identifier(t.entry);
  std::string fields, params, scalars_decl, distance;
  for (const std::string& p : t.param_names) fields += fmt::format("  long long {};\n", p);
  for (std::size_t s = 0; s < t.scalar_names.size(); ++s) {
    const std::string& name = Identifier(t.scalar_names[s]);
    params += fmt::format("{}double {}", s ? ", " : "", name);
    scalars_decl += fmt::format("  double {};\n", name);
    distance += fmt::format("    kf_d += KfSq(KfLog2(kf_tuned.{0}) - KfLog2({0}));\n", name);
  }
  std::string rows;
  for (const DispatchEntry& e : t.entries) {
    std::vector<std::string> shape;
    for (const std::string& s : t.scalar_names) {
      auto it = e.scalars.find(s);
      shape.push_back(fmt::format("{}", it == e.scalars.end() ? 0.0 : it->second));
    }
    rows += fmt::format("    {{{{{}}}, {{{}}}}},  // {}: {:.4g} ms (default configuration {})\n", fmt::join(shape, ", "),
                        fmt::join(e.config, ", "), e.shape_label, e.median_ms,
                        e.default_ms > 0 ? fmt::format("{:.4g} ms", e.default_ms) : std::string("not measured"));
  }
  return fmt::format(R"(// Generated by `kfoundry tune`: the best configuration of {entry} per shape, measured on
//   {device_name} ({device_id}).
// Untuned shapes get the configuration of the nearest tuned shape (distance in log2 of each
// scalar). Retune on other hardware: the best configuration depends on the device.
#pragma once

#include <cmath>
#include <cstddef>

namespace {ns} {{

struct Config {{
{fields}}};

struct Shape {{
{scalars_decl}}};

struct Tuned {{
  Shape shape;
  Config config;
}};

inline constexpr Tuned kTuned[] = {{
{rows}}};

inline double KfLog2(double x) {{ return std::log2(x < 1 ? 1 : x); }}
inline double KfSq(double x) {{ return x * x; }}

/// The tuned configuration for this shape, or that of the nearest tuned shape. (Locals carry a
/// kf_ prefix so that no scalar name can shadow them.)
inline Config Dispatch({params}) {{
  std::size_t kf_best = 0;
  double kf_best_distance = INFINITY;
  for (std::size_t kf_i = 0; kf_i < sizeof(kTuned) / sizeof(kTuned[0]); ++kf_i) {{
    const Shape& kf_tuned = kTuned[kf_i].shape;
    double kf_d = 0;
{distance}    if (kf_d < kf_best_distance) {{
      kf_best_distance = kf_d;
      kf_best = kf_i;
    }}
  }}
  return kTuned[kf_best].config;
}}

}}  // namespace {ns}
)",
                     fmt::arg("entry", t.entry), fmt::arg("device_name", t.device_name),
                     fmt::arg("device_id", t.device_id), fmt::arg("ns", ns), fmt::arg("fields", fields),
                     fmt::arg("scalars_decl", scalars_decl), fmt::arg("rows", rows), fmt::arg("params", params),
                     fmt::arg("distance", distance));
}

std::string DispatchText(const DispatchTable& t) {
  std::vector<std::vector<std::string>> cells = {{"shape", "configuration", "median", "default", "gain"}};
  for (const DispatchEntry& e : t.entries) {
    std::vector<std::string> config;
    for (std::size_t k = 0; k < e.config.size() && k < t.param_names.size(); ++k) {
      config.push_back(fmt::format("{}={}", t.param_names[k], e.config[k]));
    }
    cells.push_back({e.shape_label, fmt::format("{}", fmt::join(config, " ")), fmt::format("{:.4g} ms", e.median_ms),
                     e.default_ms > 0 ? fmt::format("{:.4g} ms", e.default_ms) : "-",
                     e.default_ms > 0 ? fmt::format("{:.2f}x", e.default_ms / e.median_ms) : "-"});
  }
  std::vector<std::size_t> width(cells[0].size(), 0);
  for (const auto& row : cells) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out = fmt::format("dispatch table for {} on {}\n", t.entry, t.device_name);
  for (const auto& row : cells) {
    for (std::size_t c = 0; c < row.size(); ++c) out += fmt::format("  {:<{}}", row[c], width[c]);
    out += '\n';
  }
  return out;
}

}  // namespace kf::tune
