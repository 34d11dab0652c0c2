#include "eval/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace kf::eval {
namespace {

constexpr const char* kDuration = "gpu__time_duration.sum";
constexpr const char* kDram = "dram__throughput.avg.pct_of_peak_sustained_elapsed";
constexpr const char* kCompute = "sm__throughput.avg.pct_of_peak_sustained_elapsed";
constexpr const char* kOccupancy = "sm__warps_active.avg.pct_of_peak_sustained_active";
constexpr const char* kRegisters = "launch__registers_per_thread";
constexpr const char* kSmemStatic = "launch__shared_mem_per_block_static";
constexpr const char* kSmemDynamic = "launch__shared_mem_per_block_dynamic";

/// Splits one CSV line; fields may be quoted, with "" for a quote inside.
std::vector<std::string> SplitCsv(std::string_view line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c != '\r') {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return fields;
}

/// ncu prints "1,234.5" with thousands separators in some locales; "n/a" when not collected.
double Number(const std::string& text) {
  std::string digits;
  for (char c : text)
    if (c != ',' && c != ' ') digits += c;
  try {
    return digits.empty() ? 0.0 : std::stod(digits);
  } catch (const std::exception&) {
    return 0.0;
  }
}

}  // namespace

const std::vector<std::string>& NcuMetricNames() {
  static const std::vector<std::string> kNames = {kDuration,  kDram,       kCompute,    kOccupancy,
                                                  kRegisters, kSmemStatic, kSmemDynamic};
  return kNames;
}

std::vector<std::string> NcuCommand(const std::string& ncu, const std::vector<std::string>& runner_argv) {
  std::string metrics;
  for (const std::string& m : NcuMetricNames()) metrics += (metrics.empty() ? "" : ",") + m;
  // --clock-control none: measure at the clocks the timed runs see, not ncu's locked base clocks.
  std::vector<std::string> argv = {ncu,       "--csv",   "--page",         "raw", "--print-units",      "base",
                                   "--clock-control", "none", "--metrics", metrics, "--launch-count", "64",
                                   "--target-processes", "all"};
  argv.insert(argv.end(), runner_argv.begin(), runner_argv.end());
  return argv;
}

core::Expected<std::vector<KernelProfile>> ParseNcuCsv(std::string_view text) {
  std::istringstream lines{std::string(text)};
  std::string line;
  std::map<std::string, std::size_t> column;
  while (std::getline(lines, line)) {
    if (line.find("\"Kernel Name\"") == std::string::npos && line.rfind("ID,", 0) != 0) continue;
    std::vector<std::string> header = SplitCsv(line);
    for (std::size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
    break;
  }
  if (!column.count("Kernel Name")) {
    return core::MakeError(core::ErrorCode::kParse, "no ncu CSV header (a row naming \"Kernel Name\") in the profiler output");
  }
  if (!column.count(kDuration)) {
    return core::MakeError(core::ErrorCode::kParse,
                           fmt::format("the ncu CSV has no '{}' column: the metrics were not collected", kDuration));
  }
  auto field = [&](const std::vector<std::string>& row, const char* name) -> std::string {
    auto it = column.find(name);
    return it != column.end() && it->second < row.size() ? row[it->second] : std::string();
  };
  std::vector<KernelProfile> kernels;
  while (std::getline(lines, line)) {
    if (line.empty() || line.rfind("==", 0) == 0) continue;
    std::vector<std::string> row = SplitCsv(line);
    if (row.size() < column.size() || field(row, "Kernel Name").empty()) continue;  // the units row
    KernelProfile k;
    k.kernel_name = field(row, "Kernel Name");
    k.duration_us = Number(field(row, kDuration)) / 1000.0;  // base unit: nanoseconds
    k.dram_throughput_pct = Number(field(row, kDram));
    k.compute_throughput_pct = Number(field(row, kCompute));
    k.achieved_occupancy_pct = Number(field(row, kOccupancy));
    k.registers_per_thread = static_cast<int>(Number(field(row, kRegisters)));
    k.shared_memory_bytes = static_cast<int>(Number(field(row, kSmemStatic)) + Number(field(row, kSmemDynamic)));
    k.block_size = field(row, "Block Size");
    k.grid_size = field(row, "Grid Size");
    kernels.push_back(std::move(k));
  }
  return kernels;
}

std::string ProfileFeedback(const std::vector<KernelProfile>& kernels, std::size_t max_kernels) {
  if (kernels.empty()) return "profile: no kernel launches were recorded\n";
  // The launches that take the time come first.
  std::vector<const KernelProfile*> order;
  for (const auto& k : kernels) order.push_back(&k);
  std::stable_sort(order.begin(), order.end(),
                   [](const KernelProfile* a, const KernelProfile* b) { return a->duration_us > b->duration_us; });
  std::string out = fmt::format("profile (Nsight Compute, {} launches of one call):\n", kernels.size());
  for (std::size_t i = 0; i < std::min(max_kernels, order.size()); ++i) {
    const KernelProfile& k = *order[i];
    const char* bound = k.dram_throughput_pct >= 60 && k.dram_throughput_pct >= k.compute_throughput_pct ? "memory-bound"
                        : k.compute_throughput_pct >= 60                                              ? "compute-bound"
                                                                                                       : "latency-bound (neither unit busy)";
    out += fmt::format("- {}: {:.1f} us, DRAM {:.0f}% of peak, SM {:.0f}% of peak, occupancy {:.0f}%, {} registers/thread, "
                       "{} B shared/block, block {} grid {}: {}\n",
                       k.kernel_name.substr(0, 80), k.duration_us, k.dram_throughput_pct, k.compute_throughput_pct,
                       k.achieved_occupancy_pct, k.registers_per_thread, k.shared_memory_bytes, k.block_size,
                       k.grid_size, bound);
  }
  return out;
}

core::Json KernelProfile::ToJson() const {
  return {{"kernel_name", kernel_name},
          {"duration_us", duration_us},
          {"dram_throughput_pct", dram_throughput_pct},
          {"compute_throughput_pct", compute_throughput_pct},
          {"achieved_occupancy_pct", achieved_occupancy_pct},
          {"registers_per_thread", registers_per_thread},
          {"shared_memory_bytes", shared_memory_bytes},
          {"block_size", block_size},
          {"grid_size", grid_size}};
}

core::Expected<KernelProfile> KernelProfile::FromJson(const core::Json& j) {
  try {
    KernelProfile k;
    k.kernel_name = j.at("kernel_name").get<std::string>();
    k.duration_us = j.at("duration_us").get<double>();
    k.dram_throughput_pct = j.at("dram_throughput_pct").get<double>();
    k.compute_throughput_pct = j.at("compute_throughput_pct").get<double>();
    k.achieved_occupancy_pct = j.at("achieved_occupancy_pct").get<double>();
    k.registers_per_thread = j.at("registers_per_thread").get<int>();
    k.shared_memory_bytes = j.at("shared_memory_bytes").get<int>();
    k.block_size = j.at("block_size").get<std::string>();
    k.grid_size = j.at("grid_size").get<std::string>();
    return k;
  } catch (const core::Json::exception& e) {
    return core::MakeError(core::ErrorCode::kParse, fmt::format("kernel profile: {}", e.what()));
  }
}

std::string_view SanitizerToolName(SanitizerTool tool) {
  return tool == SanitizerTool::kMemcheck ? "memcheck" : "racecheck";
}

std::vector<std::string> SanitizerCommand(const std::string& sanitizer, SanitizerTool tool,
                                          const std::vector<std::string>& runner_argv) {
  std::vector<std::string> argv = {sanitizer, "--tool", std::string(SanitizerToolName(tool)), "--print-limit", "20",
                                   "--target-processes", "all"};
  if (tool == SanitizerTool::kRacecheck) argv.insert(argv.end(), {"--racecheck-report", "hazard"});
  argv.insert(argv.end(), runner_argv.begin(), runner_argv.end());
  return argv;
}

SanitizerReport ParseSanitizerOutput(std::string_view text) {
  SanitizerReport r;
  r.errors = -1;
  std::istringstream lines{std::string(text)};
  std::string line;
  constexpr std::string_view kSummary = "ERROR SUMMARY:";
  while (std::getline(lines, line)) {
    if (line.rfind("=========", 0) != 0) continue;
    if (auto at = line.find(kSummary); at != std::string::npos) {
      r.errors = std::max(r.errors, static_cast<int>(Number(line.substr(at + kSummary.size(),
                                                                         line.find(" error", at) - at - kSummary.size()))));
    }
    // racecheck: "RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)".
    if (line.find("RACECHECK SUMMARY:") != std::string::npos) {
      if (auto open = line.find('('); open != std::string::npos) {
        r.errors = std::max(r.errors, static_cast<int>(Number(line.substr(open + 1, line.find(" error", open) - open - 1))));
      }
    }
    if (r.report.size() < 8000) r.report += line + "\n";
  }
  return r;
}

}  // namespace kf::eval
