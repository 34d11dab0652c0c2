// core/subprocess.h — sandboxed child processes.
//
// Every piece of untrusted code (a candidate's compile, its run) goes through RunSandboxed:
// the child gets its own process group, a fresh working directory, rlimits on CPU time,
// processes, file size and address space, PR_SET_PDEATHSIG, and no inherited descriptors
// beyond stdin/stdout/stderr and the optional result channel. A hard wall-clock limit (or the
// cancel flag) SIGKILLs the whole group. stdout and stderr are captured up to a cap.
//
// The result channel is a pipe the child finds at `channel_fd`; the harness reports through it
// so that a kernel printing a fake verdict on stdout cannot forge one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace kf::core {

struct SandboxLimits {
  std::chrono::milliseconds wall_timeout{30'000};
  /// RLIMIT_CPU in seconds; 0 means wall_timeout x hardware threads (rounded up).
  std::uint64_t cpu_seconds = 0;
  /// RLIMIT_AS in bytes; 0 means unlimited.
  std::uint64_t address_space_bytes = 8ULL << 30;
  /// RLIMIT_FSIZE in bytes.
  std::uint64_t file_size_bytes = 1ULL << 30;
  /// RLIMIT_NPROC (the kernel does not enforce it for root; the group kill still applies).
  std::uint64_t max_processes = 4096;
  /// Per captured stream; the rest is dropped and `*_truncated` set.
  std::size_t output_cap_bytes = 256 * 1024;
};

struct SubprocessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  /// Must exist. The child chdirs into it.
  std::filesystem::path working_dir;
  /// Added to (or overriding) the environment; with inherit_env=false only these are set.
  std::vector<std::pair<std::string, std::string>> env;
  bool inherit_env = true;
  std::string stdin_data;
  SandboxLimits limits;
  /// When >= 3, the child gets the write end of a pipe at this descriptor number and
  /// everything written there is returned in SubprocessResult::channel (capped at 64 MiB).
  int channel_fd = -1;
  /// Polled every few milliseconds; when it becomes true the group is killed.
  const std::atomic<bool>* cancel = nullptr;
  /// When set, stdin_data is withheld (stdin stays open) until *stdin_gate becomes true, and the
  /// wall-clock limit counts from then: a child started ahead of time waits on its stdin.
  const std::atomic<bool>* stdin_gate = nullptr;
};

struct SubprocessResult {
  enum class Outcome {
    kExited,     // exit_code is valid
    kSignaled,   // term_signal is valid
    kTimedOut,   // killed at the wall-clock limit
    kCancelled,  // killed because the cancel flag was set
  };
  Outcome outcome = Outcome::kExited;
  int exit_code = -1;
  int term_signal = 0;
  std::string stdout_text;
  std::string stderr_text;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  std::string channel;
  std::chrono::duration<double, std::milli> wall_time{0};
  double user_cpu_ms = 0;
  double sys_cpu_ms = 0;
  std::int64_t max_rss_kb = 0;

  bool Succeeded() const { return outcome == Outcome::kExited && exit_code == 0; }
  /// "exited with status 3", "killed by SIGSEGV (segmentation fault)", "timed out after 2.0 s".
  std::string Describe() const;
};

/// Runs the child to completion. Returns an Error only when the child could not be started at
/// all (fork failure, missing executable, bad working directory); everything the child does is
/// reported in the result. Thread-safe: many children may run concurrently.
Expected<SubprocessResult> RunSandboxed(const SubprocessSpec& spec);

/// Human name of a signal: "SIGSEGV (segmentation fault)".
std::string SignalName(int signal);

}  // namespace kf::core
