// eval/cpu_backend.h — the cpu toolchain: g++ -O3 -march=native -fopenmp.
//
// Host pointers straight into the shared data files, steady-clock timing and clflush between
// timed calls (src/eval/runner/device_cpu.cc). Internal to the eval module.
#pragma once

#include "core/error.h"
#include "eval/builder.h"

namespace kf::eval {

/// Detected once per process (thread-safe); kToolchain when g++ is missing or broken.
core::Expected<Toolchain> DetectCpuToolchain();

}  // namespace kf::eval
