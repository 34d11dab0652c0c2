// eval/builder.h — turning one translation unit into a runner binary, per toolchain.
//
// A runner binary = the generated runner (src/eval/runner: the generic main plus the backend's
// device API plus a shim calling the entry), compiled once per task and function name, linked
// with one translation unit (a candidate or the reference). Every compiler run is a sandboxed
// child with a time and memory limit. Builds are cached under cache_dir/<backend>/<key>/ keyed
// by (source, file name, the exact compiler command, toolchain id: compiler + version + target
// such as the resolved -march or the GPU architecture, harness version, runner object); a cache
// entry appears atomically (built in a temp dir, renamed into place), so concurrent builds of
// the same key are safe. One implementation serves every compiled backend; a backend is a
// `Toolchain` value (cpu_backend.h, cuda_backend.h, opencl_backend.h). Internal to the eval module.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/subprocess.h"
#include "task/task.h"

namespace kf::eval {

/// Everything that decides how sources are compiled and how the runner is started.
struct Toolchain {
  std::string backend;   // "cpu", "cuda", "opencl"
  std::string compiler;  // absolute path
  std::string version;   // first line of --version (nvcc: its release line)
  std::string target;    // what the code is generated for: resolved -march, "sm_90 (NVIDIA H200)"
  std::string id;        // everything that changes generated code, for cache keys
  std::vector<std::string> compile_flags;  // for the runner and for every translation unit
  std::vector<std::string> link_flags;       // after the objects
  std::string source_extension;            // ".cpp", ".cu"
  /// Flags one source needs on top of compile_flags (cuda: sm_90a for wgmma); may be unset.
  std::function<std::vector<std::string>(std::string_view source)> source_flags;
  std::chrono::seconds compile_timeout{60};
  /// False where the runtime reserves huge virtual ranges (CUDA): RLIMIT_AS would break it.
  bool limits_address_space = true;
  std::vector<std::pair<std::string, std::string>> runner_env;
};

struct BuildOutcome {
  bool ok = false;
  bool cached = false;
  std::filesystem::path binary;
  std::string message;  // compile_error one-liner when !ok
  std::string log;      // compiler output, paths relative
  double compile_ms = 0;
};

class Builder {
 public:
  virtual ~Builder() = default;
  /// Compiler, version, target and flags: part of every cache key derived from a build.
  virtual const std::string& ToolchainId() const = 0;
  /// The file name a candidate is compiled as ("candidate.cpp", "candidate.cu").
  virtual std::string SourceFileName() const = 0;
  /// Builds (or finds) the runner for `source`, which must define `function_name` (the entry,
  /// or entry+"_reference") with the task's signature; `file_name` is the name the compiler
  /// log uses. Errors are infrastructure failures only (cannot start the compiler, cache not
  /// writable); a source that does not compile is an outcome with ok=false. Thread-safe.
  virtual core::Expected<BuildOutcome> Build(const std::string& function_name, const std::string& source,
                                             const std::string& file_name) const = 0;
  /// Environment the runner child gets on top of the inherited one.
  virtual std::vector<std::pair<std::string, std::string>> RunnerEnv() const = 0;
  /// Whether the runner child may be given an address-space limit.
  virtual bool LimitsAddressSpace() const = 0;
};

/// The builder for `toolchain`, building runners for `task`.
std::unique_ptr<Builder> MakeBuilder(Toolchain toolchain, const task::Task& task, std::filesystem::path cache_dir,
                                     std::filesystem::path work_dir, const std::atomic<bool>* cancel);

/// A small self-contained program built with a backend's toolchain (a ceilings probe, the sycl
/// device query). It prints one JSON object as the last line of its stdout.
struct Probe {
  std::string name;  // for messages: "ceilings probe"
  std::string_view source;
  Toolchain toolchain;
  std::vector<std::string> extra_flags;  // on top of the toolchain's compile flags
};

/// The probe's binary, built once per (source, toolchain, flags) under dir/probe-<backend>-<key>/;
/// concurrent builders (threads or processes) are safe. kToolchain with the compiler's output
/// when it does not compile.
core::Expected<std::filesystem::path> BuildProbe(const Probe& probe, const std::filesystem::path& dir);

/// Runs the binary sandboxed in a scratch directory with the toolchain's runner environment
/// and returns the last line of its stdout as JSON; kToolchain with its output when it fails.
core::Expected<core::Json> RunProbe(const Probe& probe, const std::filesystem::path& binary,
                                    std::vector<std::string> args, std::chrono::seconds timeout);

/// Finds an executable in PATH; empty when absent.
std::string FindInPath(const std::string& name);

/// Runs a tool (compiler, nvidia-smi) sandboxed in `dir` with the compile limits.
core::Expected<core::SubprocessResult> RunTool(std::vector<std::string> argv, const std::filesystem::path& dir,
                                               const std::atomic<bool>* cancel,
                                               std::chrono::seconds timeout = std::chrono::seconds(60));

/// `s` without leading and trailing whitespace.
std::string Trim(std::string_view s);

}  // namespace kf::eval
