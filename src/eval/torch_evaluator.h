// eval/torch_evaluator.h — the evaluator of torch tasks (KernelBench form).
//
// A torch task's reference is a Python module with class Model, get_inputs() and
// get_init_inputs(); a candidate is a module with class ModelNew, usually with kernels built by
// torch.utils.cpp_extension.load_inline. All Python runs in sandboxed children of the harness
// src/eval/torch/kf_torch.py (embedded, written into the cache directory by its hash):
//
//   Prepare: the EVOLVE check, the harness's AST lint (try/except, PyTorch compute in forward,
//            nn layers called, streams/threads, monkey-patching, dynamic code, naming Model),
//            kfoundry's C++ static rules over the sources passed to load_inline (host rules for
//            cpp_sources, cuda rules for cuda_sources), then a build child that imports the
//            candidate (extensions cached by content). Thread-safe, parallel.
//   Measure: one run child: two passes of correctness calls on fresh copies with poisoned
//            memory and every output kept alive, input-mutation check, a runtime audit of the
//            aten ops forward runs, timing (CUDA events cross-checked with the host clock, cache
//            flush), and a call on unseen inputs after timing. The parent compares every output
//            (and gradient) with the cached reference outputs itself. A speedup above the
//            task's max_speedup is re-verified on fresh inputs and re-timed.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "eval/evaluator.h"
#include "task/task.h"

namespace kf::eval {

/// The evaluator of a task with backend torch. `options` must hold absolute cache and work
/// directories (MakeEvaluator makes them so). The interpreter is $KF_PYTHON when set, else
/// task.torch.python. Fails with kToolchain when the interpreter cannot start, cannot import
/// torch, or lacks the task's device (the message says what to install); with kValidation when
/// the reference fails (with its traceback). The reference runs here, once per cache.
core::Expected<std::unique_ptr<Evaluator>> MakeTorchEvaluator(const task::Task& task, EvaluatorOptions options);

/// What `python` (or $KF_PYTHON) offers torch tasks, for `kfoundry devices`:
/// "torch 2.11.0 (/usr/bin/python3), CUDA 13.0 on NVIDIA H100 80GB HBM3 (sm 9.0), torch.compile";
/// kToolchain with what to install when the interpreter or torch is missing.
core::Expected<std::string> DescribeTorch(const std::string& python, const std::filesystem::path& cache_dir);

/// The embedded harness (src/eval/torch/kf_torch.py).
std::string_view TorchHarnessSource();

}  // namespace kf::eval
