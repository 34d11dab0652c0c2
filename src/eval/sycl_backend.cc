#include "eval/sycl_backend.h"

#include <fmt/format.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <sstream>

namespace kf::eval {

namespace fs = std::filesystem;

namespace {

// Prints the default selector's device as one JSON line.
constexpr std::string_view kSyclDeviceQuerySource = R"QUERY(
#include <sycl/sycl.hpp>
#include <cstdio>
#include <string>

static std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

int main() {
  try {
    sycl::queue q{sycl::default_selector_v};
    const sycl::device d = q.get_device();
    const char* type = d.is_gpu() ? "gpu" : d.is_cpu() ? "cpu" : d.is_accelerator() ? "accelerator" : "other";
    std::printf("{\"name\": %s, \"platform\": %s, \"driver\": %s, \"type\": \"%s\", \"compute_units\": %u, "
                "\"global_mem_bytes\": %llu}\n",
                Json(d.get_info<sycl::info::device::name>()).c_str(),
                Json(d.get_platform().get_info<sycl::info::platform::name>()).c_str(),
                Json(d.get_info<sycl::info::device::driver_version>()).c_str(), type,
                d.get_info<sycl::info::device::max_compute_units>(),
                static_cast<unsigned long long>(d.get_info<sycl::info::device::global_mem_size>()));
  } catch (const sycl::exception& e) {
    std::fprintf(stderr, "sycl device query: %s\n", e.what());
    return 3;
  }
  return 0;
}
)QUERY";

std::vector<std::string> SplitWhitespace(const char* text) {
  std::vector<std::string> out;
  if (text == nullptr) return out;
  std::istringstream in(text);
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

bool IsAdaptiveCpp(const std::string& compiler) {
  const std::string name = fs::path(compiler).filename().string();
  return name.find("acpp") != std::string::npos || name.find("syclcc") != std::string::npos;
}

core::Expected<Toolchain> DetectCompilerOnce() {
  Toolchain tc;
  tc.backend = "sycl";
  if (const char* chosen = std::getenv("KF_SYCL_COMPILER"); chosen != nullptr && *chosen != '\0') {
    tc.compiler = std::string(chosen).find('/') != std::string::npos ? chosen : FindInPath(chosen);
    if (tc.compiler.empty() || !fs::exists(tc.compiler)) {
      return core::MakeError(core::ErrorCode::kToolchain,
                             fmt::format("KF_SYCL_COMPILER='{}' names no executable (neither a path nor in PATH)", chosen));
    }
  } else {
    for (const char* name : {"icpx", "acpp"}) {
      tc.compiler = FindInPath(name);
      if (!tc.compiler.empty()) break;
    }
    if (tc.compiler.empty()) {
      return core::MakeError(core::ErrorCode::kToolchain,
                             "no SYCL compiler: neither icpx (Intel oneAPI DPC++) nor acpp (AdaptiveCpp) is in PATH, "
                             "and KF_SYCL_COMPILER is not set; Debian packages neither, install one of them to "
                             "evaluate sycl kernels");
    }
  }
  const bool acpp = IsAdaptiveCpp(tc.compiler);
  // acpp forwards --version to the host compiler; its own version comes from --acpp-version.
  KF_TRY(auto version, RunTool({tc.compiler, acpp ? "--acpp-version" : "--version"}, fs::temp_directory_path(), nullptr));
  if (!version.Succeeded()) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("{} {} {}: {}", tc.compiler, acpp ? "--acpp-version" : "--version",
                                       version.Describe(), Trim(version.stderr_text + version.stdout_text).substr(0, 400)));
  }
  std::istringstream lines(version.stdout_text);
  for (std::string line; std::getline(lines, line);) {
    if (tc.version.empty() && !acpp) tc.version = Trim(line);
    if (acpp && line.find("AdaptiveCpp version:") != std::string::npos) tc.version = "AdaptiveCpp " + Trim(line.substr(line.find(':') + 1));
  }
  if (tc.version.empty()) tc.version = Trim(version.stdout_text.substr(0, version.stdout_text.find('\n')));
  tc.compile_flags = {"-std=c++20", "-O3"};
  if (!acpp) tc.compile_flags.insert(tc.compile_flags.begin(), "-fsycl");
  if (const char* targets = std::getenv("ACPP_TARGETS"); acpp && targets != nullptr && *targets != '\0') {
    tc.compile_flags.push_back(fmt::format("--acpp-targets={}", targets));
  }
  for (auto& f : SplitWhitespace(std::getenv("KF_SYCL_FLAGS"))) tc.compile_flags.push_back(std::move(f));
  // Linking needs the SYCL flags too (icpx -fsycl links the runtime and device images); acpp
  // refuses a second -std on one command line (probes compile and link in one step).
  for (const auto& f : tc.compile_flags) {
    if (f.rfind("-std=", 0) != 0) tc.link_flags.push_back(f);
  }
  tc.source_extension = ".cpp";
  tc.compile_timeout = std::chrono::seconds(240);
  // GPU runtimes reserve huge virtual ranges, and CPU runtimes start a thread per core.
  tc.limits_address_space = false;
  tc.runner_env = {{"MALLOC_ARENA_MAX", "2"}};
  tc.id = fmt::format("{}\n{}\n", tc.compiler, tc.version);
  for (const auto& f : tc.compile_flags) tc.id += f + " ";
  return tc;
}

// What the runner children need whatever the device: AdaptiveCpp keeps its kernel cache and
// application database under $HOME unless told otherwise.
void AddRunnerEnv(Toolchain& tc, const fs::path& cache_dir) {
  tc.runner_env.emplace_back("ACPP_APPDB_DIR", (cache_dir / "sycl" / "acpp-appdb").string());
}

}  // namespace

core::Expected<Toolchain> DetectSyclCompiler() {
  static std::once_flag once;
  static std::optional<core::Expected<Toolchain>> detected;
  std::call_once(once, [] { detected = DetectCompilerOnce(); });
  return *detected;
}

core::Expected<SyclDevice> DetectSyclDevice(const fs::path& cache_dir) {
  static std::mutex mu;
  static std::optional<core::Expected<SyclDevice>> detected;
  std::lock_guard<std::mutex> lock(mu);
  if (detected) return *detected;
  detected = [&]() -> core::Expected<SyclDevice> {
    KF_TRY(Toolchain tc, DetectSyclCompiler());
    AddRunnerEnv(tc, cache_dir);
    Probe query{"device query", kSyclDeviceQuerySource, std::move(tc), {}};
    KF_TRY(fs::path binary, BuildProbe(query, cache_dir / "sycl"));
    KF_TRY(core::Json j, RunProbe(query, binary, {}, std::chrono::seconds(120)));
    SyclDevice d;
    try {
      d.name = j.at("name").get<std::string>();
      d.platform = j.at("platform").get<std::string>();
      d.driver = j.at("driver").get<std::string>();
      d.type = j.at("type").get<std::string>();
      d.compute_units = j.at("compute_units").get<int>();
      d.global_mem_bytes = j.at("global_mem_bytes").get<std::uint64_t>();
    } catch (const std::exception& e) {
      return core::MakeError(core::ErrorCode::kToolchain,
                             fmt::format("the sycl device query printed {}: {}", j.dump(), e.what()));
    }
    return d;
  }();
  return *detected;
}

core::Expected<Toolchain> DetectSyclToolchain(const fs::path& cache_dir) {
  KF_TRY(Toolchain tc, DetectSyclCompiler());
  KF_TRY(SyclDevice device, DetectSyclDevice(cache_dir));
  tc.target = fmt::format("{} / {} ({}, driver {})", device.platform, device.name, device.type, device.driver);
  tc.id += "\n" + tc.target;
  AddRunnerEnv(tc, cache_dir);
  return tc;
}

}  // namespace kf::eval
