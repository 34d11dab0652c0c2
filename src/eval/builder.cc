#include "eval/builder.h"

#include <fmt/format.h>
#include <unistd.h>

#include <optional>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "eval/evaluator_common.h"
#include "eval/harness.h"

namespace kf::eval {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kCompileMemoryBytes = 8ULL << 30;

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

// Publishes a finished temp directory as `final_dir`; when another process got there first,
// its (identical) entry wins and ours is dropped.
void Publish(const fs::path& tmp, const fs::path& final_dir) {
  std::error_code ec;
  fs::rename(tmp, final_dir, ec);
  if (ec) fs::remove_all(tmp, ec);
}

class CompilingBuilder final : public Builder {
 public:
  CompilingBuilder(Toolchain toolchain, const task::Task& task, fs::path cache_dir, fs::path work_dir,
                   const std::atomic<bool>* cancel)
      : toolchain_(std::move(toolchain)),
        task_(task),
        cache_dir_(cache_dir / toolchain_.backend),
        work_dir_(std::move(work_dir)),
        cancel_(cancel) {}

  const std::string& ToolchainId() const override { return toolchain_.id; }
  std::string SourceFileName() const override { return "candidate" + toolchain_.source_extension; }
  std::vector<std::pair<std::string, std::string>> RunnerEnv() const override { return toolchain_.runner_env; }
  bool LimitsAddressSpace() const override { return toolchain_.limits_address_space; }

  core::Expected<BuildOutcome> Build(const std::string& function_name, const std::string& source,
                                     const std::string& file_name) const override;

 private:
  std::vector<std::string> CompileArgv(std::string_view source, const std::string& in, const std::string& out) const {
    std::vector<std::string> argv{toolchain_.compiler};
    argv.insert(argv.end(), toolchain_.compile_flags.begin(), toolchain_.compile_flags.end());
    if (toolchain_.source_flags) {
      for (auto& f : toolchain_.source_flags(source)) argv.push_back(std::move(f));
    }
    argv.insert(argv.end(), {"-c", in, "-o", out});
    return argv;
  }

  core::Expected<fs::path> RunnerObject(const std::string& runner_source) const;

  Toolchain toolchain_;
  const task::Task& task_;
  fs::path cache_dir_;
  fs::path work_dir_;
  const std::atomic<bool>* cancel_;
};

core::Expected<fs::path> CompilingBuilder::RunnerObject(const std::string& runner_source) const {
  const std::string file = "runner" + toolchain_.source_extension;
  const auto argv = CompileArgv(runner_source, file, "runner.o");
  core::Sha256 h;
  h.Field(runner_source).Field(toolchain_.id).Field(kHarnessVersion);
  for (const auto& a : argv) h.Field(a);
  const fs::path final_dir = cache_dir_ / ("runner-" + h.HexDigest());
  const fs::path object = final_dir / "runner.o";
  if (fs::exists(object)) return object;
  KF_TRY(fs::path tmp, core::MakeUniqueDir(cache_dir_, ".tmp-runner-"));
  KF_TRY_VOID(core::WriteFileAtomic(tmp / file, runner_source));
  KF_TRY(auto run, RunTool(argv, tmp, cancel_, toolchain_.compile_timeout));
  if (!run.Succeeded()) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("the generated {} runner does not compile ({}): {}", toolchain_.backend,
                                       run.Describe(), Trim(run.stderr_text + run.stdout_text).substr(0, 4000)));
  }
  Publish(tmp, final_dir);
  return object;
}

core::Expected<BuildOutcome> CompilingBuilder::Build(const std::string& function_name, const std::string& source,
                                                     const std::string& file_name) const {
  const auto t0 = std::chrono::steady_clock::now();
  KF_TRY(fs::path runner_object, RunnerObject(RunnerSource(task_, function_name)));
  const auto compile_argv = CompileArgv(source, file_name, "candidate.o");
  core::Sha256 h;
  h.Field(source).Field(file_name).Field(toolchain_.id).Field(kHarnessVersion);
  h.Field(runner_object.parent_path().filename().string());
  for (const auto& a : compile_argv) h.Field(a);
  const fs::path final_dir = cache_dir_ / h.HexDigest();
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
  KF_TRY(auto compile, RunTool(compile_argv, tmp, cancel_, toolchain_.compile_timeout));
  std::string log = relative(compile.stdout_text + compile.stderr_text);
  if (compile.outcome != core::SubprocessResult::Outcome::kExited) {
    return finish(false, fmt::format("the compiler was stopped: {}", compile.Describe()), log, false);
  }
  if (compile.exit_code != 0) {
    std::string first = FirstLineContaining(log, {"error:", "error", "Error"});
    return finish(false, first.empty() ? fmt::format("{} does not compile ({})", file_name, compile.Describe()) : first,
                  log, true);
  }
  // Libraries after the objects: with --as-needed a library named first is dropped.
  std::vector<std::string> link_argv{toolchain_.compiler, runner_object.string(), "candidate.o", "-o", "runner"};
  link_argv.insert(link_argv.end(), toolchain_.link_flags.begin(), toolchain_.link_flags.end());
  KF_TRY(auto link, RunTool(link_argv, tmp, cancel_, toolchain_.compile_timeout));
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
                            task::EntrySignature(task_, function_name));
    } else {
      const std::string first = FirstLineContaining(link_log, {"multiple definition", "error"});
      message = fmt::format("link failed: {}", first.empty() ? link.Describe() : first);
    }
    return finish(false, message, log, true);
  }
  return finish(true, "", log, true);
}

}  // namespace

std::unique_ptr<Builder> MakeBuilder(Toolchain toolchain, const task::Task& task, fs::path cache_dir,
                                     fs::path work_dir, const std::atomic<bool>* cancel) {
  return std::make_unique<CompilingBuilder>(std::move(toolchain), task, std::move(cache_dir), std::move(work_dir),
                                            cancel);
}

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

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

core::Expected<core::SubprocessResult> RunTool(std::vector<std::string> argv, const fs::path& dir,
                                               const std::atomic<bool>* cancel, std::chrono::seconds timeout) {
  core::SubprocessSpec spec;
  spec.argv = std::move(argv);
  spec.working_dir = dir;
  spec.limits.wall_timeout = timeout;
  spec.limits.address_space_bytes = kCompileMemoryBytes;
  spec.cancel = cancel;
  return core::RunSandboxed(spec);
}

core::Expected<fs::path> BuildProbe(const Probe& probe, const fs::path& dir) {
  core::Sha256 key;
  key.Field(probe.source).Field(probe.toolchain.id);
  for (const auto& f : probe.extra_flags) key.Field(f);
  const fs::path final_dir = dir / fmt::format("probe-{}-{}", probe.toolchain.backend, key.HexDigest().substr(0, 16));
  const fs::path binary = final_dir / "probe";
  if (fs::exists(binary)) return binary;
  KF_TRY(fs::path tmp, core::MakeUniqueDir(dir, "tmp-probe-"));
  const std::string file = "probe" + probe.toolchain.source_extension;
  KF_TRY_VOID(core::WriteFileAtomic(tmp / file, probe.source));
  std::vector<std::string> argv = {probe.toolchain.compiler};
  argv.insert(argv.end(), probe.toolchain.compile_flags.begin(), probe.toolchain.compile_flags.end());
  argv.insert(argv.end(), probe.extra_flags.begin(), probe.extra_flags.end());
  for (const std::string& f : {file, std::string("-o"), std::string("probe")}) argv.push_back(f);
  argv.insert(argv.end(), probe.toolchain.link_flags.begin(), probe.toolchain.link_flags.end());
  KF_TRY(core::SubprocessResult compile, RunTool(argv, tmp, nullptr, probe.toolchain.compile_timeout));
  if (!compile.Succeeded()) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("the {} {} did not compile ({}): {}", probe.toolchain.backend, probe.name,
                                       compile.Describe(), Trim(compile.stdout_text + compile.stderr_text)));
  }
  Publish(tmp, final_dir);
  return binary;
}

core::Expected<core::Json> RunProbe(const Probe& probe, const fs::path& binary, std::vector<std::string> args,
                                    std::chrono::seconds timeout) {
  KF_TRY(fs::path scratch, core::MakeUniqueDir(fs::temp_directory_path() / "kfoundry-work", "probe-"));
  core::SubprocessSpec spec;
  spec.argv = {binary.string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.working_dir = scratch;
  spec.env = probe.toolchain.runner_env;
  spec.limits.wall_timeout = timeout;
  spec.limits.address_space_bytes = probe.toolchain.limits_address_space ? (16ULL << 30) : 0;
  auto run = core::RunSandboxed(spec);
  std::error_code ec;
  fs::remove_all(scratch, ec);
  if (!run.ok()) return run.error();
  const std::string what = fmt::format("the {} {}", probe.toolchain.backend, probe.name);
  if (!run->Succeeded()) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           fmt::format("{} {}: {}", what, run->Describe(), Trim(run->stderr_text + run->stdout_text)));
  }
  std::string out = Trim(run->stdout_text);
  const auto last_line = out.rfind('\n');
  if (last_line != std::string::npos) out = out.substr(last_line + 1);
  return core::ParseJson(out, what);
}

}  // namespace kf::eval
