#include "eval/cpu_backend.h"

#include <fstream>

#include <fmt/format.h>

#include <mutex>
#include <optional>
#include <sstream>

namespace kf::eval {

namespace fs = std::filesystem;

core::Expected<Toolchain> DetectCpuToolchain() {
  static std::once_flag once;
  static std::optional<core::Expected<Toolchain>> detected;
  std::call_once(once, [] {
    detected = []() -> core::Expected<Toolchain> {
      Toolchain tc;
      tc.backend = "cpu";
      tc.compiler = FindInPath("g++");
      if (tc.compiler.empty()) {
        return core::MakeError(core::ErrorCode::kToolchain,
                               "g++ not found in PATH: install it (apt-get install g++) to evaluate cpu kernels");
      }
      const fs::path dir = fs::temp_directory_path();
      KF_TRY(auto version, RunTool({tc.compiler, "--version"}, dir, nullptr));
      if (!version.Succeeded()) {
        return core::MakeError(core::ErrorCode::kToolchain,
                               fmt::format("{} --version {}: {}", tc.compiler, version.Describe(), version.stderr_text));
      }
      tc.version = Trim(version.stdout_text.substr(0, version.stdout_text.find('\n')));
      KF_TRY(auto target, RunTool({tc.compiler, "-march=native", "-Q", "--help=target"}, dir, nullptr));
      std::istringstream lines(target.stdout_text);
      std::string line;
      while (std::getline(lines, line)) {
        if (line.find("-march=") == std::string::npos) continue;
        std::istringstream words(line);
        std::string w;
        while (words >> w) tc.target += w;  // "-march=" and "znver3" are separate words
        break;
      }
      tc.compile_flags = {"-std=c++20", "-O3", "-march=native", "-fopenmp"};
      tc.link_flags = {"-fopenmp"};
      tc.source_extension = ".cpp";
      tc.runner_env = {{"MALLOC_ARENA_MAX", "2"}};
      tc.id = fmt::format("{}\n{}\n{}\n", tc.compiler, tc.version, tc.target);
      for (const auto& f : tc.compile_flags) tc.id += f + " ";
      return tc;
    }();
  });
  return *detected;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      const auto colon = line.find(':');
      const auto start = colon == std::string::npos ? std::string::npos : line.find_first_not_of(" \t", colon + 1);
      if (start != std::string::npos) return line.substr(start, line.find_last_not_of(" \t") + 1 - start);
    }
  }
  return "unknown cpu";
}

}  // namespace kf::eval
