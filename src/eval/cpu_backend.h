// eval/cpu_backend.h — the cpu toolchain: g++ -O3 -march=native -fopenmp, with a build cache.
//
// A runner binary = the generated runner object (compiled once per task and function name)
// linked with one translation unit (a candidate or the reference). Every compiler run is a
// sandboxed child with a time and memory limit. Builds are cached under
// cache_dir/cpu/<key>/ keyed by (source, flags, compiler + version, resolved -march, harness
// version, runner object); a cache entry appears atomically (built in a temp dir, renamed into
// place), so concurrent builds of the same key are safe. Internal to the eval module.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "core/error.h"

namespace kf::eval {

struct CpuToolchain {
  std::string compiler;  // absolute path of g++
  std::string version;   // first line of g++ --version
  std::string march;     // what -march=native resolves to
  std::string id;        // everything that changes generated code, for cache keys
};

/// Detected once per process (thread-safe); kToolchain when g++ is missing or broken.
core::Expected<CpuToolchain> DetectCpuToolchain();

/// Finds an executable in PATH; empty when absent.
std::string FindInPath(const std::string& name);

struct BuildOutcome {
  bool ok = false;
  bool cached = false;
  std::filesystem::path binary;
  std::string message;  // compile_error one-liner when !ok
  std::string log;      // compiler output, paths relative
  double compile_ms = 0;
};

class CpuBuilder {
 public:
  CpuBuilder(CpuToolchain toolchain, std::filesystem::path cache_dir, std::filesystem::path work_dir,
             const std::atomic<bool>* cancel);

  /// Builds (or finds) the runner for `source`. `runner_source` is RunnerSource() for the
  /// function the source must define, `signature` that function's prototype (for messages),
  /// `file_name` the name the compiler log uses ("candidate.cpp"). Errors are infrastructure
  /// failures only (cannot start the compiler, cache not writable); a source that does not
  /// compile is an outcome with ok=false.
  core::Expected<BuildOutcome> Build(const std::string& runner_source, const std::string& source,
                                     const std::string& signature, const std::string& file_name) const;

 private:
  core::Expected<std::filesystem::path> RunnerObject(const std::string& runner_source) const;

  CpuToolchain toolchain_;
  std::filesystem::path cache_dir_;
  std::filesystem::path work_dir_;
  const std::atomic<bool>* cancel_;
};

}  // namespace kf::eval
