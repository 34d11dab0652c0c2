// eval/data_set.h — the shared data files of one runner invocation.
//
// One file per (shape, trial), laid out by MakeShapeLayout: inputs, outputs (poisoned) and,
// for trial 0, the poisoned after-timing region, with a guard pattern after every output
// buffer. The parent keeps each file mapped, so after the child exits it reads outputs, guards
// and inputs straight from memory. The directory is removed on destruction. Internal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "eval/harness.h"
#include "task/task.h"

namespace kf::eval {

/// The parent's copy of one (shape, trial)'s inputs and its integer poison byte.
struct TrialInputs {
  std::vector<std::string> inputs;  // per arg; empty for outputs and scalars
  unsigned char int_poison = 0xa5;
};

class DataSet {
 public:
  /// Creates the files for `wanted` (shape, trial) pairs under a fresh directory in `parent`.
  static core::Expected<std::unique_ptr<DataSet>> Create(
      const std::filesystem::path& parent, const task::Task& task, const std::vector<ShapeLayout>& layouts,
      const std::map<std::pair<int, int>, const TrialInputs*>& wanted, const std::string& canary);
  ~DataSet();
  DataSet(const DataSet&) = delete;
  DataSet& operator=(const DataSet&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  /// The mapping of (shape, trial); KF_CHECKs that it was created.
  unsigned char* Map(int shape, int trial) const;

 private:
  DataSet() = default;
  std::filesystem::path dir_;
  std::map<std::pair<int, int>, std::pair<unsigned char*, std::uint64_t>> maps_;
};

/// Where data files go: /dev/shm when usable (no disk traffic), else `fallback`.
std::filesystem::path DataParentDir(const std::filesystem::path& fallback);

}  // namespace kf::eval
