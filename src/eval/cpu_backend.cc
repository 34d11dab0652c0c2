#include "eval/cpu_backend.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/fs.h"
#include "core/hash.h"
#include "core/subprocess.h"
#include "eval/harness.h"

namespace kf::eval {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kCompileFlags = {"-std=c++20", "-O3", "-march=native", "-fopenmp"};
constexpr std::chrono::seconds kCompileTimeout{60};
constexpr std::uint64_t kCompileMemoryBytes = 8ULL << 30;

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::string FirstLineContaining(const std::string& log, std::initializer_list<std::string_view> needles) {
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    for (std::string_view n : needles) {
      if (line.find(n) != std::string::npos) return Trim(line);
    }
  }
  return "";
}

core::Expected<core::SubprocessResult> RunTool(std::vector<std::string> argv, const fs::path& dir,
                                               const std::atomic<bool>* cancel) {
  core::SubprocessSpec spec;
  spec.argv = std::move(argv);
  spec.working_dir = dir;
  spec.limits.wall_timeout = kCompileTimeout;
  spec.limits.address_space_bytes = kCompileMemoryBytes;
  spec.cancel = cancel;
  return core::RunSandboxed(spec);
}

// Publishes a finished temp directory as `final_dir`; when another process got there first,
// its (identical) entry wins and ours is dropped.
void Publish(const fs::path& tmp, const fs::path& final_dir) {
  std::error_code ec;
  fs::rename(tmp, final_dir, ec);
  if (ec) fs::remove_all(tmp, ec);
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream in(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p)) return p.string();
  }
  return "";
}

core::Expected<CpuToolchain> DetectCpuToolchain() {
  static std::once_flag once;
  static std::optional<core::Expected<CpuToolchain>> detected;
  std::call_once(once, [] {
    detected = [&]() -> core::Expected<CpuToolchain> {
      CpuToolchain tc;
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
      const std::string march = FirstLineContaining(target.stdout_text, {"-march="});
      std::istringstream words(march);
      std::string w;
      while (words >> w) tc.march += (tc.march.empty() ? "" : " ") + w;
      tc.id = fmt::format("{}\n{}\n{}\n", tc.compiler, tc.version, tc.march);
      for (const auto& f : kCompileFlags) tc.id += f + " ";
      return tc;
    }();
  });
  return *detected;
}

CpuBuilder::CpuBuilder(CpuToolchain toolchain, fs::path cache_dir, fs::path work_dir, const std::atomic<bool>* cancel)
    : toolchain_(std::move(toolchain)),
      cache_dir_(std::move(cache_dir) / "cpu"),
      work_dir_(std::move(work_dir)),
      cancel_(cancel) {}

core::Expected<fs::path> CpuBuilder::RunnerObject(const std::string& runner_source) const {
  const std::string key = core::Sha256().Field(runner_source).Field(toolchain_.id).Field(kHarnessVersion).HexDigest();
  const fs::path final_dir = cache_dir_ / ("runner-" + key);
  const fs::path object = final_dir / "runner.o";
  if (fs::exists(object)) return object;
  KF_TRY(fs::path tmp, core::MakeUniqueDir(cache_dir_, ".tmp-runner-"));
  KF_TRY_VOID(core::WriteFileAtomic(tmp / "runner.cpp", runner_source));
  std::vector<std::string> argv{toolchain_.compiler};
  argv.insert(argv.end(), kCompileFlags.begin(), kCompileFlags.end());
  argv.insert(argv.end(), {"-c", "runner.cpp", "-o", "runner.o"});
  KF_TRY(auto run, RunTool(argv, tmp, cancel_));
  if (!run.Succeeded()) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("the generated runner does not compile ({}): {}", run.Describe(),
                                       Trim(run.stderr_text).substr(0, 4000)));
  }
  Publish(tmp, final_dir);
  return object;
}

core::Expected<BuildOutcome> CpuBuilder::Build(const std::string& runner_source, const std::string& source,
                                               const std::string& signature, const std::string& file_name) const {
  const auto t0 = std::chrono::steady_clock::now();
  KF_TRY(fs::path runner_object, RunnerObject(runner_source));
  const std::string key = core::Sha256()
                              .Field(source)
                              .Field(file_name)
                              .Field(toolchain_.id)
                              .Field(kHarnessVersion)
                              .Field(runner_object.parent_path().filename().string())
                              .HexDigest();
  const fs::path final_dir = cache_dir_ / key;
  BuildOutcome out;
  out.binary = final_dir / "runner";

  auto load = [&]() -> std::optional<BuildOutcome> {
    auto verdict = core::ReadFile(final_dir / "outcome");
    if (!verdict.ok()) return std::nullopt;
    BuildOutcome cached = out;
    cached.cached = true;
    cached.ok = verdict->rfind("ok", 0) == 0;
    if (!cached.ok) cached.message = Trim(verdict->substr(verdict->find('\n') + 1));
    auto log = core::ReadFile(final_dir / "compile.log");
    cached.log = log.ok() ? std::move(*log) : std::string();
    cached.compile_ms = MsSince(t0);
    return cached;
  };
  if (auto hit = load()) return *hit;

  KF_TRY(fs::path tmp, core::MakeUniqueDir(cache_dir_, ".tmp-build-"));
  auto relative = [&](std::string log) {
    ReplaceAll(log, tmp.string() + "/", "");
    ReplaceAll(log, runner_object.string(), "runner.o");
    return Trim(log);
  };
  auto finish = [&](bool ok, std::string message, std::string log, bool cacheable) -> core::Expected<BuildOutcome> {
    out.ok = ok;
    out.message = std::move(message);
    out.log = std::move(log);
    std::error_code ec;
    if (cacheable) {
      KF_TRY_VOID(core::WriteFileAtomic(tmp / "compile.log", out.log));
      KF_TRY_VOID(core::WriteFileAtomic(tmp / "outcome", ok ? std::string("ok\n") : "error\n" + out.message));
      fs::remove(tmp / file_name, ec);
      fs::remove(tmp / "candidate.o", ec);
      Publish(tmp, final_dir);
    } else {
      fs::remove_all(tmp, ec);
    }
    out.compile_ms = MsSince(t0);
    return out;
  };

  KF_TRY_VOID(core::WriteFileAtomic(tmp / file_name, source));
  std::vector<std::string> argv{toolchain_.compiler};
  argv.insert(argv.end(), kCompileFlags.begin(), kCompileFlags.end());
  argv.insert(argv.end(), {"-c", file_name, "-o", "candidate.o"});
  KF_TRY(auto compile, RunTool(argv, tmp, cancel_));
  std::string log = relative(compile.stdout_text + compile.stderr_text);
  if (compile.outcome != core::SubprocessResult::Outcome::kExited) {
    return finish(false, fmt::format("the compiler was stopped: {}", compile.Describe()), log, false);
  }
  if (compile.exit_code != 0) {
    std::string first = FirstLineContaining(log, {"error:", "Error"});
    return finish(false, first.empty() ? fmt::format("{} does not compile ({})", file_name, compile.Describe()) : first,
                  log, true);
  }
  KF_TRY(auto link, RunTool({toolchain_.compiler, "-fopenmp", runner_object.string(), "candidate.o", "-o", "runner"},
                            tmp, cancel_));
  const std::string link_log = relative(link.stdout_text + link.stderr_text);
  if (!log.empty() && !link_log.empty()) log += "\n";
  log += link_log;
  if (link.outcome != core::SubprocessResult::Outcome::kExited) {
    return finish(false, fmt::format("the linker was stopped: {}", link.Describe()), log, false);
  }
  if (link.exit_code != 0) {
    std::string message;
    if (link_log.find("undefined reference") != std::string::npos) {
      message = fmt::format("{} does not define `{}` (the entry must have exactly this signature)", file_name,
                            signature);
    } else {
      const std::string first = FirstLineContaining(link_log, {"multiple definition", "error"});
      message = fmt::format("link failed: {}", first.empty() ? link.Describe() : first);
    }
    return finish(false, message, log, true);
  }
  return finish(true, "", log, true);
}

}  // namespace kf::eval
