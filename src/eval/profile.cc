#include "eval/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
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

/// The sanitizer report that goes into a verdict is capped: it ends up in the next prompt.
constexpr std::size_t kReportCapChars = 8000;
constexpr int kOclgrindMaxErrors = 100;

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

std::vector<SanitizerTool> SanitizerToolsFor(task::Backend backend) {
  switch (backend) {
    case task::Backend::kCuda: return {SanitizerTool::kMemcheck, SanitizerTool::kRacecheck};
    case task::Backend::kOpenCl: return {SanitizerTool::kOclgrind};
    case task::Backend::kCpu:
    case task::Backend::kSycl:
    case task::Backend::kTorch: break;
  }
  return {};
}

std::string_view SanitizerToolName(SanitizerTool tool) {
  switch (tool) {
    case SanitizerTool::kMemcheck: return "compute-sanitizer memcheck";
    case SanitizerTool::kRacecheck: return "compute-sanitizer racecheck";
    case SanitizerTool::kOclgrind: return "oclgrind";
  }
  return "?";
}

std::string_view SanitizerExecutable(SanitizerTool tool) {
  return tool == SanitizerTool::kOclgrind ? "oclgrind" : "compute-sanitizer";
}

std::vector<std::string> SanitizerCommand(const std::string& executable, SanitizerTool tool,
                                          const std::vector<std::string>& runner_argv) {
  std::vector<std::string> argv;
  switch (tool) {
    case SanitizerTool::kMemcheck:
      argv = {executable, "--tool", "memcheck", "--print-limit", "20", "--target-processes", "all"};
      break;
    case SanitizerTool::kRacecheck:
      argv = {executable, "--tool", "racecheck", "--print-limit", "20", "--target-processes", "all",
              "--racecheck-report", "hazard"};
      break;
    case SanitizerTool::kOclgrind:
      // Memory-access checks are always on. --uninitialized is left out: it flags every store of a
      // partly initialized value (a float4 with unused lanes written to padding), and a kernel
      // that computes with garbage fails the comparison anyway. --max-errors bounds the output
      // (a race is one report per address).
      argv = {executable, "--data-races", "--check-api", "--max-errors", std::to_string(kOclgrindMaxErrors)};
      break;
  }
  argv.insert(argv.end(), runner_argv.begin(), runner_argv.end());
  return argv;
}

std::vector<std::pair<std::string, std::string>> SanitizerEnv(SanitizerTool tool) {
  if (tool == SanitizerTool::kOclgrind) return {{"KF_OPENCL_DEVICE", "Oclgrind:0"}};
  return {};
}

namespace {

SanitizerReport ParseComputeSanitizerOutput(std::string_view text) {
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
    if (r.report.size() < kReportCapChars) r.report += line + "\n";
  }
  return r;
}

/// "0x1000000000004" -> "0x?": reports of one kind differ only in addresses and entities.
std::string MaskHex(const std::string& line) {
  std::string out;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line.compare(i, 2, "0x") == 0) {
      out += "0x?";
      i += 2;
      while (i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i]))) ++i;
      --i;
    } else {
      out += line[i];
    }
  }
  return out;
}

bool IsEntityLine(std::string_view body) {
  return body.rfind("Entity:", 0) == 0 || body.rfind("First entity:", 0) == 0 || body.rfind("Second entity:", 0) == 0;
}

SanitizerReport ParseOclgrindOutput(std::string_view text) {
  std::vector<std::string> lines;
  {
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
    }
  }
  auto indented = [&](std::size_t i) { return i < lines.size() && !lines[i].empty() && lines[i][0] == '\t'; };

  struct Kind {
    std::string text;  // the first block of this kind, as the report shows it
    int count = 0;
  };
  std::vector<Kind> kinds;
  std::map<std::string, std::size_t> kind_of;  // masked key -> index in kinds
  SanitizerReport r;
  bool suppressed = false;  // "Oclgrind: 100 errors generated - suppressing further errors"
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& head = lines[i];
    if (head.rfind("Oclgrind: ", 0) == 0 && head.find("suppressing further errors") != std::string::npos) {
      suppressed = true;
      continue;
    }
    // A finding: a headline at column 0 after a blank line, then tab-indented lines up to the
    // next blank line. The runner's own lines ("kfoundry runner: ...") have no indented body.
    const bool after_blank = i == 0 || lines[i - 1].empty();
    if (head.empty() || std::isspace(static_cast<unsigned char>(head[0])) || !after_blank || !indented(i + 1)) continue;
    std::string shown = head + "\n";
    std::string key = MaskHex(head) + "\n";
    std::size_t j = i + 1;
    for (; indented(j); ++j) {
      std::string_view body = std::string_view(lines[j]).substr(1);
      // oclgrind prints the LLVM IR instruction just before its source location; the source
      // line is what a kernel author can act on.
      const bool ir = body.rfind("  ", 0) == 0 && indented(j + 1) &&
                      (lines[j + 1].rfind("\tAt line ", 0) == 0 ||
                       lines[j + 1].rfind("\tDebugging information not available", 0) == 0);
      if (ir || body.find_first_not_of(" \t") == std::string_view::npos) continue;
      shown += "  " + std::string(body) + "\n";
      if (!IsEntityLine(body)) key += MaskHex(std::string(body)) + "\n";
    }
    ++r.errors;
    auto [it, fresh] = kind_of.emplace(key, kinds.size());
    if (fresh) kinds.push_back({shown, 0});
    ++kinds[it->second].count;
    i = j - 1;
  }
  for (const Kind& k : kinds) {
    std::string block = k.text;
    if (k.count > 1) block += fmt::format("  ({} more like it)\n", k.count - 1);
    if (r.report.size() + block.size() > kReportCapChars) {
      r.report += "[...]\n";
      break;
    }
    r.report += block;
  }
  if (suppressed) r.report += fmt::format("(oclgrind stopped reporting after {} errors; there are more)\n", r.errors);
  return r;
}

}  // namespace

SanitizerReport ParseSanitizerOutput(SanitizerTool tool, std::string_view text) {
  return tool == SanitizerTool::kOclgrind ? ParseOclgrindOutput(text) : ParseComputeSanitizerOutput(text);
}

}  // namespace kf::eval
