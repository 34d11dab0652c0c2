// exec/redis_server.h — a redis-server child on a free loopback port, for the redis tests and
// the dispatch benchmark (not used by kfoundry itself: users run their own broker).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "core/error.h"

namespace kf::exec {

class RedisServerProcess {
 public:
  /// Data (an append-only file synced on every write, so a restart loses nothing) and the log
  /// go under `dir`.
  /// With `password`, clients must AUTH with it (requirepass).
  explicit RedisServerProcess(std::filesystem::path dir, std::string password = "");
  ~RedisServerProcess();  // SIGKILL

  /// Starts it (on the same port after a Stop) and waits until it answers PING.
  core::Expected<void> Start();
  /// Sends `signal` (SIGTERM: a clean shutdown) and reaps it.
  void Stop(int signal);

  int port() const { return port_; }
  std::string Url() const;
  static bool Installed();

 private:
  std::filesystem::path dir_;
  std::string password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace kf::exec
