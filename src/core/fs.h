// core/fs.h — small filesystem helpers that return Expected instead of throwing.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

namespace kf::core {

Expected<std::string> ReadFile(const std::filesystem::path& path);
/// Writes atomically: a temporary file in the same directory, then rename().
Expected<void> WriteFileAtomic(const std::filesystem::path& path, std::string_view data);
/// Creates a fresh, empty, uniquely named directory under parent (made if missing).
Expected<std::filesystem::path> MakeUniqueDir(const std::filesystem::path& parent, std::string_view prefix);
/// The user's cache root: $KF_CACHE_DIR, else $XDG_CACHE_HOME/kfoundry, else ~/.cache/kfoundry.
std::filesystem::path DefaultCacheDir();

}  // namespace kf::core
