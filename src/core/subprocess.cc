#include "core/subprocess.h"

#include "core/fs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

extern char** environ;

namespace kf::core {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  Fd read, write;
};

Expected<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return MakeError(ErrorCode::kIo, fmt::format("pipe2 failed: {}", std::strerror(errno)));
  }
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

/// Resolves argv[0] against PATH in the parent, so the child only calls execve.
Expected<std::string> ResolveExecutable(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return MakeError(ErrorCode::kNotFound, fmt::format("cannot execute {}: {}", name, std::strerror(errno)));
  }
  std::size_t start = 0;
  while (start <= path_env.size()) {
    std::size_t end = path_env.find(':', start);
    if (end == std::string::npos) end = path_env.size();
    std::string dir = path_env.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return MakeError(ErrorCode::kNotFound, fmt::format("'{}' was not found in PATH ({})", name, path_env));
}

std::vector<std::string> BuildEnvironment(const SubprocessSpec& spec) {
  std::map<std::string, std::string> env;
  if (spec.inherit_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      std::size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

void SetLimit(int resource, rlim_t value) {
  struct rlimit rl{value, value};
  ::setrlimit(resource, &rl);
}

/// Runs in the child between fork and execve: only async-signal-safe calls.
[[noreturn]] void ExecChild(const SubprocessSpec& spec, const char* exe, char* const* argv, char* const* envp,
                            int stdin_fd, int stdout_fd, int stderr_fd, int channel_write, int error_fd,
                            rlim_t cpu_seconds) {
  auto fail = [error_fd](int stage) {
    int payload[2] = {stage, errno};
    ssize_t ignored = ::write(error_fd, payload, sizeof payload);
    (void)ignored;
    ::_exit(127);
  };
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  // Signals the parent ignores (SIGPIPE) stay ignored across exec; give the child defaults.
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  if (::dup2(stdin_fd, 0) < 0 || ::dup2(stdout_fd, 1) < 0 || ::dup2(stderr_fd, 2) < 0) fail(1);
  int keep = -1;
  if (spec.channel_fd >= 3) {
    if (channel_write == spec.channel_fd) {
      if (::fcntl(channel_write, F_SETFD, 0) < 0) fail(1);
    } else if (::dup2(channel_write, spec.channel_fd) < 0) {
      fail(1);
    }
    keep = spec.channel_fd;
  }
  // Close every other descriptor (the exec-error pipe is close-on-exec and must stay open).
  for (int fd = 3; fd < 65536; ++fd) {
    if (fd == keep || fd == error_fd) continue;
    if (fd > keep && fd > error_fd) {
      ::syscall(SYS_close_range, static_cast<unsigned>(fd), ~0U, 0U);
      break;
    }
    ::close(fd);
  }
  if (::chdir(spec.working_dir.c_str()) != 0) fail(2);

  const SandboxLimits& lim = spec.limits;
  SetLimit(RLIMIT_CPU, cpu_seconds);
  if (lim.address_space_bytes > 0) SetLimit(RLIMIT_AS, lim.address_space_bytes);
  SetLimit(RLIMIT_FSIZE, lim.file_size_bytes);
  SetLimit(RLIMIT_NPROC, lim.max_processes);
  SetLimit(RLIMIT_CORE, 0);

  ::execve(exe, argv, envp);
  fail(3);
  ::_exit(127);
}

/// Appends to a capped buffer; bytes past the cap are counted as dropped.
void Append(std::string& out, bool& truncated, const char* data, std::size_t n, std::size_t cap) {
  std::size_t room = out.size() < cap ? cap - out.size() : 0;
  out.append(data, std::min(room, n));
  if (n > room) truncated = true;
}

}  // namespace

std::string SignalName(int signal) {
  static const std::map<int, const char*> kNames = {
      {SIGSEGV, "SIGSEGV (segmentation fault)"}, {SIGBUS, "SIGBUS (bus error)"},
      {SIGFPE, "SIGFPE (arithmetic exception)"}, {SIGILL, "SIGILL (illegal instruction)"},
      {SIGABRT, "SIGABRT (aborted)"},             {SIGKILL, "SIGKILL (killed)"},
      {SIGTERM, "SIGTERM (terminated)"},          {SIGXCPU, "SIGXCPU (CPU time limit exceeded)"},
      {SIGXFSZ, "SIGXFSZ (file size limit exceeded)"}, {SIGPIPE, "SIGPIPE (broken pipe)"},
      {SIGINT, "SIGINT (interrupted)"},           {SIGTRAP, "SIGTRAP (trap)"},
  };
  auto it = kNames.find(signal);
  if (it != kNames.end()) return it->second;
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", signal);
}

std::string SubprocessResult::Describe() const {
  switch (outcome) {
    case Outcome::kExited: return fmt::format("exited with status {}", exit_code);
    case Outcome::kSignaled: return fmt::format("killed by {}", SignalName(term_signal));
    case Outcome::kTimedOut: return fmt::format("timed out after {:.1f} s", wall_time.count() / 1000.0);
    case Outcome::kCancelled: return "cancelled";
  }
  return "unknown outcome";
}

Expected<SubprocessResult> RunSandboxed(const SubprocessSpec& spec) {
  KF_CHECK(!spec.argv.empty()) << "RunSandboxed needs argv[0]";
  std::error_code ec;
  if (!std::filesystem::is_directory(spec.working_dir, ec)) {
    return MakeError(ErrorCode::kIo, fmt::format("working directory {} does not exist", spec.working_dir.string()));
  }

  std::vector<std::string> env_strings = BuildEnvironment(spec);
  std::string path_env = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& kv : env_strings)
    if (kv.rfind("PATH=", 0) == 0) path_env = kv.substr(5);
  KF_TRY(std::string exe, ResolveExecutable(spec.argv[0], path_env));

  std::vector<char*> argv, envp;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  KF_TRY(Pipe in_pipe, MakePipe());
  KF_TRY(Pipe out_pipe, MakePipe());
  KF_TRY(Pipe err_pipe, MakePipe());
  KF_TRY(Pipe exec_error, MakePipe());
  Pipe channel;
  if (spec.channel_fd >= 3) {
    KF_TRY(channel, MakePipe());
  }

  const auto& lim = spec.limits;
  double wall_s = std::chrono::duration<double>(lim.wall_timeout).count();
  rlim_t cpu_seconds = lim.cpu_seconds > 0
                           ? lim.cpu_seconds
                           : static_cast<rlim_t>(std::ceil(wall_s * std::max(1u, std::thread::hardware_concurrency()))) + 1;

  Clock::time_point start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return MakeError(ErrorCode::kIo, fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    ExecChild(spec, exe.c_str(), argv.data(), envp.data(), in_pipe.read.get(), out_pipe.write.get(),
              err_pipe.write.get(), channel.write.get(), exec_error.write.get(), cpu_seconds);
  }
  ::setpgid(pid, pid);  // also done in the child; whichever runs first wins the race harmlessly
  in_pipe.read.Reset();
  out_pipe.write.Reset();
  err_pipe.write.Reset();
  channel.write.Reset();
  exec_error.write.Reset();

  // The exec-error pipe closes on a successful exec; bytes mean the child never started.
  int payload[2] = {0, 0};
  ssize_t got;
  do {
    got = ::read(exec_error.read.get(), payload, sizeof payload);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof payload)) {
    ::waitpid(pid, nullptr, 0);
    static const char* kStage[] = {"", "set up descriptors for", "enter the working directory of", "execute"};
    return MakeError(ErrorCode::kIo, fmt::format("could not {} {}: {}", kStage[std::clamp(payload[0], 0, 3)],
                                                 spec.argv[0], std::strerror(payload[1])));
  }

  SubprocessResult result;
  // Feed stdin without blocking; close it once written so the child sees EOF.
  std::size_t stdin_written = 0;
  if (spec.stdin_data.empty()) {
    in_pipe.write.Reset();
  } else {
    ::fcntl(in_pipe.write.get(), F_SETFL, O_NONBLOCK);
  }
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  bool gated = spec.stdin_gate != nullptr && !spec.stdin_gate->load();
  Clock::time_point deadline = gated ? Clock::time_point::max() : start + lim.wall_timeout;
  Clock::time_point exit_seen{};
  bool exited = false, killed_for_time = false, killed_for_cancel = false;
  int status = 0;
  struct rusage usage{};
  constexpr std::size_t kChannelCap = 64ULL << 20;
  bool channel_truncated = false;
  std::array<char, 65536> buf;

  auto kill_group = [pid] { ::kill(-pid, SIGKILL); ::kill(pid, SIGKILL); };
  auto reap = [&](int flags) {
    pid_t r = ::wait4(pid, &status, flags, &usage);
    if (r == pid) exited = true;
  };

  while (true) {
    std::vector<pollfd> fds;
    enum Kind { kOut, kErr, kChan, kIn, kPid };
    std::vector<Kind> kinds;
    auto add = [&](const Fd& fd, short events, Kind k) {
      if (fd.get() >= 0) {
        fds.push_back({fd.get(), events, 0});
        kinds.push_back(k);
      }
    };
    add(out_pipe.read, POLLIN, kOut);
    add(err_pipe.read, POLLIN, kErr);
    add(channel.read, POLLIN, kChan);
    if (gated && spec.stdin_gate->load()) {
      gated = false;
      deadline = Clock::now() + lim.wall_timeout;
    }
    if (!gated) add(in_pipe.write, POLLOUT, kIn);
    if (!exited) add(pidfd, POLLIN, kPid);
    bool pipes_open = out_pipe.read.get() >= 0 || err_pipe.read.get() >= 0 || channel.read.get() >= 0;
    if (exited && !pipes_open) break;

    auto now = Clock::now();
    int timeout_ms = 50;
    if (!exited) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, pidfd.get() >= 0 ? 50 : 5));
      if (spec.cancel == nullptr && pidfd.get() >= 0) timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 1000));
      if (gated) timeout_ms = std::min(timeout_ms, 5);
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) break;
    for (std::size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (kinds[i] == kIn) {
        ssize_t w = ::write(in_pipe.write.get(), spec.stdin_data.data() + stdin_written,
                            spec.stdin_data.size() - stdin_written);
        if (w > 0) stdin_written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) in_pipe.write.Reset();
        if (stdin_written == spec.stdin_data.size()) in_pipe.write.Reset();
        continue;
      }
      if (kinds[i] == kPid) {
        reap(WNOHANG);
        continue;
      }
      Fd& fd = kinds[i] == kOut ? out_pipe.read : kinds[i] == kErr ? err_pipe.read : channel.read;
      ssize_t r = ::read(fd.get(), buf.data(), buf.size());
      if (r > 0) {
        auto bytes = static_cast<std::size_t>(r);
        if (kinds[i] == kOut) Append(result.stdout_text, result.stdout_truncated, buf.data(), bytes, lim.output_cap_bytes);
        if (kinds[i] == kErr) Append(result.stderr_text, result.stderr_truncated, buf.data(), bytes, lim.output_cap_bytes);
        if (kinds[i] == kChan) Append(result.channel, channel_truncated, buf.data(), bytes, kChannelCap);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        fd.Reset();
      }
    }
    if (!exited && pidfd.get() < 0) reap(WNOHANG);
    if (exited) {
      // The child is gone; anything left in its group (a grandchild holding our pipes) dies too.
      // A descendant that escaped the group cannot keep us waiting past a short grace period.
      ::kill(-pid, SIGKILL);
      if (exit_seen == Clock::time_point{}) exit_seen = Clock::now();
      if (Clock::now() - exit_seen > std::chrono::milliseconds(500)) {
        out_pipe.read.Reset();
        err_pipe.read.Reset();
        channel.read.Reset();
      }
      continue;
    }
    if (spec.cancel != nullptr && spec.cancel->load()) {
      killed_for_cancel = true;
      kill_group();
      reap(0);
    } else if (Clock::now() >= deadline) {
      killed_for_time = true;
      kill_group();
      reap(0);
    }
  }
  if (!exited) reap(0);

  result.wall_time = Clock::now() - start;
  result.user_cpu_ms = usage.ru_utime.tv_sec * 1e3 + usage.ru_utime.tv_usec / 1e3;
  result.sys_cpu_ms = usage.ru_stime.tv_sec * 1e3 + usage.ru_stime.tv_usec / 1e3;
  result.max_rss_kb = usage.ru_maxrss;
  if (killed_for_cancel) {
    result.outcome = SubprocessResult::Outcome::kCancelled;
  } else if (killed_for_time) {
    result.outcome = SubprocessResult::Outcome::kTimedOut;
  } else if (WIFSIGNALED(status)) {
    result.outcome = SubprocessResult::Outcome::kSignaled;
    result.term_signal = WTERMSIG(status);
  } else {
    result.outcome = SubprocessResult::Outcome::kExited;
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

}  // namespace kf::core
