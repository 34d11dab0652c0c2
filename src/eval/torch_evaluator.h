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
//   Measure: a run child beside a checker (trusted: the candidate's code never runs in it).
//            On the first measurement the checker times eager Model and torch.compile(Model)
//            while the run child waits, before it imports the candidate; the timings are
//            cached. Then the run child: two passes of correctness calls on fresh copies with
//            poisoned memory and every output kept alive, input-mutation check, a runtime audit
//            of the aten ops forward (and backward) runs, timing (CUDA events cross-checked with
//            the host clock, cache flush), and a call on unseen inputs after timing. Every
//            result goes to the checker (CUDA IPC handles, or files), which makes the
//            reference's results from the same seeds and compares them on the device. A
//            speedup above the task's max_speedup is re-verified on fresh inputs and re-timed.
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
/// the reference fails (with its traceback). Unless its baseline is cached, a checker runs the
/// reference here and times eager Model and torch.compile(Model), before any candidate exists.
/// With options.defer_reference_check (suites) the reference is instead run and compiled into
/// kfoundry's inductor cache in the background, beside the candidate's build, and the first
/// measurement's checker times it; a reference that fails is then every Measure's verdict.
core::Expected<std::unique_ptr<Evaluator>> MakeTorchEvaluator(const task::Task& task, EvaluatorOptions options);

/// What `python` (or $KF_PYTHON) offers torch tasks, for `kfoundry devices`:
/// "torch 2.11.0 (/usr/bin/python3), CUDA 13.0 on NVIDIA H100 80GB HBM3 (sm 9.0), torch.compile";
/// kToolchain with what to install when the interpreter or torch is missing.
core::Expected<std::string> DescribeTorch(const std::string& python, const std::filesystem::path& cache_dir);

/// The embedded harness (src/eval/torch/kf_torch.py).
std::string_view TorchHarnessSource();

}  // namespace kf::eval
