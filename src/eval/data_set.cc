#include "eval/data_set.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fs.h"
#include "eval/input_gen.h"

namespace kf::eval {

namespace fs = std::filesystem;

fs::path DataParentDir(const fs::path& fallback) {
  if (::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  return fallback;
}

core::Expected<std::unique_ptr<DataSet>> DataSet::Create(
    const fs::path& parent, const task::Task& task, const std::vector<ShapeLayout>& layouts,
    const std::map<std::pair<int, int>, const TrialInputs*>& wanted, const std::string& canary) {
  KF_CHECK(canary.size() == kCanaryBytes) << "canary must be kCanaryBytes long";
  std::unique_ptr<DataSet> set(new DataSet());
  KF_TRY(set->dir_, core::MakeUniqueDir(parent, "kf-data-"));
  for (const auto& [key, trial] : wanted) {
    const auto [s, t] = key;
    const ShapeLayout& l = layouts[s];
    const fs::path path = set->dir_ / DataFileName(s, t);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return core::MakeError(core::ErrorCode::kIo, fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
    void* m = MAP_FAILED;
    if (::ftruncate(fd, static_cast<off_t>(l.file_bytes)) == 0) {
      m = ::mmap(nullptr, l.file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    const int err = errno;
    ::close(fd);
    if (m == MAP_FAILED) {
      return core::MakeError(core::ErrorCode::kIo, fmt::format("cannot size or map {} ({} bytes): {} (is {} full?)",
                                                               path.string(), l.file_bytes, std::strerror(err),
                                                               parent.string()));
    }
    auto* p = static_cast<unsigned char*>(m);
    set->maps_[key] = {p, l.file_bytes};
    for (std::size_t a = 0; a < task.args.size(); ++a) {
      const task::ArgSpec& arg = task.args[a];
      if (arg.role == task::ArgRole::kInput) std::memcpy(p + l.offset[a], trial->inputs[a].data(), l.bytes[a]);
      if (arg.role != task::ArgRole::kOutput) continue;
      // Only trial 0's file carries the after-timing region; elsewhere it stays unused.
      for (std::int64_t off : {l.offset[a], t == 0 ? l.after_offset[a] : std::int64_t{-1}}) {
        if (off < 0) continue;
        FillPoison(arg.dtype, p + off, l.elements[a], trial->int_poison);
        std::memcpy(p + off + l.bytes[a], canary.data(), kCanaryBytes);
      }
    }
  }
  return set;
}

DataSet::~DataSet() {
  for (auto& [key, m] : maps_) ::munmap(m.first, m.second);
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

unsigned char* DataSet::Map(int shape, int trial) const {
  auto it = maps_.find({shape, trial});
  KF_CHECK(it != maps_.end()) << "no data file for shape " << shape << " trial " << trial;
  return it->second.first;
}

}  // namespace kf::eval
