// core/fs.h — small filesystem helpers that return Expected instead of throwing.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace kf::core {

/// Owns a file descriptor: closes it when it goes.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.Release()) {}
  Fd& operator=(Fd&& o) noexcept {
    Reset(o.Release());
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

Expected<std::string> ReadFile(const std::filesystem::path& path);
/// Writes atomically: a temporary file in the same directory, then rename().
Expected<void> WriteFileAtomic(const std::filesystem::path& path, std::string_view data);
/// Creates a fresh, empty, uniquely named directory under parent (made if missing).
Expected<std::filesystem::path> MakeUniqueDir(const std::filesystem::path& parent, std::string_view prefix);
/// The user's cache root: $KF_CACHE_DIR, else $XDG_CACHE_HOME/kfoundry, else ~/.cache/kfoundry.
std::filesystem::path DefaultCacheDir();

}  // namespace kf::core
