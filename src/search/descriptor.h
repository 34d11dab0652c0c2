// search/descriptor.h — where a kernel sits in the MAP-Elites archive: three behaviour axes.
//
// DESIGN.md ("Search") defines three axes with four levels each. DescribeCode reads them off a
// candidate's code, per backend vocabulary (CUDA, SYCL, OpenCL C, CPU C++; a torch candidate's
// load_inline source as CUDA, or as CPU C++ when it has no CUDA kernel). A level needs real
// use, never a mention: comments and string literals are ignored (except where the backend keeps
// its kernel in strings: OpenCL's kernel source, torch's Python strings), `#if 0` blocks and
// device / internal functions nothing calls are dead, a macro counts where it is used, and a
// buffer counts only when it is both written and read.
//
//   memory_opt       0 global only; 1 vectorized or read-only-path access; 2 shared/local-memory
//                    tiling (CPU: loop tiling in two or more dimensions); 3 register blocking, async copy,
//                    double buffering, tensor cores (CPU: AVX/AVX-512 intrinsics, prefetch)
//   compute_opt      0 straightforward; 1 FMA / fast math; 2 single-pass or online algorithms;
//                    3 tiled / flash-style, matrix units, scans, register-tile micro-kernels
//   parallelism_opt  0 independent threads (CPU: serial); 1 block / work-group barriers (CPU:
//                    OpenMP threads); 2 warp / sub-group collectives (CPU: threads + SIMD or
//                    reductions); 3 hierarchical: cooperative groups, grid / cluster sync,
//                    warp results combined across the block, warp tiling (CPU: tasks, teams,
//                    nested or collapsed parallel SIMD loops)
//
// The exact rules are listed at the top of descriptor.cc.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "task/task.h"

namespace kf::search {

enum class Axis { kMemory, kCompute, kParallelism };
inline constexpr int kMaxLevel = 3;

/// "memory_opt", "compute_opt", "parallelism_opt".
std::string_view AxisName(Axis axis);

struct AxisLevel {
  int level = 0;  // 0..kMaxLevel
  /// Why, for people and prompts: "line 14: __shared__ tile written (line 20) and read (line 25),
  /// with __syncthreads (line 21)". Lines are the candidate file's, also for code found inside
  /// its string literals. "none found" at level 0.
  std::string evidence;
};

struct CodeDescriptor {
  AxisLevel memory, compute, parallelism;

  /// {memory, compute, parallelism} levels: the archive cell.
  std::array<int, 3> Levels() const { return {memory.level, compute.level, parallelism.level}; }
  const AxisLevel& At(Axis axis) const;
};

/// The descriptor of one candidate. Each axis takes the highest level with evidence (level 3
/// evidence alone gives 3); among equal evidence the earliest line is reported. Linear in the
/// size of the code (well under a millisecond for a 500-line kernel), deterministic, never
/// fails: code that does not parse gives whatever evidence its tokens show. Thread-safe.
CodeDescriptor DescribeCode(std::string_view code, task::Backend backend);

}  // namespace kf::search
