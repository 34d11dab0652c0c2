// task/import.h — task packages from the field's benchmarks: KernelBench and robust-kbench.
//
// Both read a local checkout the user points at (kfoundry never downloads or ships them) and
// write one torch task package per problem: task.yaml plus the problem's module as
// reference.py. Every package written is loaded back with LoadTask; one that does not load is
// removed and listed as skipped with the reason, so an import never leaves a broken task.
// Re-importing overwrites the generated files only.
//
//   KernelBench (ScalingIntelligence/KernelBench): KernelBench/level<N>/<id>_<Name>.py, each
//   defining Model, get_inputs() and get_init_inputs(). Output: OUT/level<N>/<id:03>_<Name>/.
//
//   robust-kbench (SakanaAI/robust-kbench): every folder under tasks/ holding func_forward.py
//   and/or func_backward.py with config_forward.json / config_backward.json. Model takes its
//   init configuration as keyword arguments, so reference.py gains a get_init_inputs(**kw)
//   that orders them by Model.__init__'s signature. Every input configuration becomes a
//   configuration of the task: (init x input x shared) from the single_* lists and from the
//   multi_* lists, shared keys applied last as robust-kbench does, duplicates dropped. The
//   backward task checks gradients of every input and parameter (torch: backward: true).
//   Output: OUT/<task path with '/' as '_'>_fwd/ and _bwd/.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace kf::task {

struct ImportReport {
  std::vector<std::filesystem::path> task_dirs;  // written and loaded, in order
  std::vector<std::string> skipped;              // "<file>: <why>"
};

struct KernelBenchImport {
  std::optional<int> level;   // unset: every level found
  std::vector<int> problems;  // problem ids; empty: all
};

/// `source` is a KernelBench checkout (holding KernelBench/level*) or its KernelBench folder.
/// kNotFound when no level folder is there; kInvalidArgument for a level or problem that does
/// not exist.
core::Expected<ImportReport> ImportKernelBench(const std::filesystem::path& source, const std::filesystem::path& out,
                                               const KernelBenchImport& options);

struct RobustKbenchImport {
  bool forward = true;
  bool backward = true;
  std::vector<std::string> tasks;  // task paths relative to tasks/ ("layernorm"); empty: all
};

/// `source` is a robust-kbench checkout (holding tasks/) or its tasks folder.
core::Expected<ImportReport> ImportRobustKbench(const std::filesystem::path& source, const std::filesystem::path& out,
                                                const RobustKbenchImport& options);

/// "1,3,5-9" -> {1, 3, 5, 6, 7, 8, 9}; kInvalidArgument naming the bad part.
core::Expected<std::vector<int>> ParseProblemList(std::string_view text);

}  // namespace kf::task
