// eval/cpu_backend.h — the cpu toolchain: g++ -O3 -march=native -fopenmp.
//
// Host pointers straight into the shared data files, steady-clock timing and clflush between
// timed calls (src/eval/runner/device_cpu.cc). Internal to the eval module.
#pragma once

#include <string>

#include "core/error.h"
#include "eval/builder.h"

namespace kf::eval {

/// Detected once per process (thread-safe); kToolchain when g++ is missing or broken.
core::Expected<Toolchain> DetectCpuToolchain();

/// The CPU's model name from /proc/cpuinfo ("unknown cpu" when absent); part of device ids.
std::string CpuModel();

}  // namespace kf::eval
