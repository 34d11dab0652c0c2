#include "core/fs.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace kf::core {

namespace fs = std::filesystem;

Expected<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return MakeError(ErrorCode::kIo, fmt::format("error while reading {}", path.string()));
  return ss.str();
}

Expected<void> WriteFileAtomic(const fs::path& path, std::string_view data) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  static std::atomic<unsigned> counter{0};
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}.{}", ::getpid(), counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return MakeError(ErrorCode::kIo, fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    if (!out) return MakeError(ErrorCode::kIo, fmt::format("error while writing {} (disk full?)", tmp.string()));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return MakeError(ErrorCode::kIo, fmt::format("cannot move {} into place: {}", path.string(), ec.message()));
  }
  return Ok();
}

Expected<fs::path> MakeUniqueDir(const fs::path& parent, std::string_view prefix) {
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return MakeError(ErrorCode::kIo, fmt::format("cannot create {}: {}", parent.string(), ec.message()));
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path dir = parent / fmt::format("{}{}-{}-{:08x}", prefix, ::getpid(), counter++, rd());
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) return MakeError(ErrorCode::kIo, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  return MakeError(ErrorCode::kIo, fmt::format("cannot create a unique directory under {}", parent.string()));
}

fs::path DefaultCacheDir() {
  if (const char* d = std::getenv("KF_CACHE_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d != nullptr && *d != '\0') return fs::path(d) / "kfoundry";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return fs::path(h) / ".cache" / "kfoundry";
  return fs::temp_directory_path() / "kfoundry-cache";
}

}  // namespace kf::core
