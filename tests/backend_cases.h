// Shared by the per-backend evaluator tests (eval_cases_test.cc, gpu_eval_test.cc,
// opencl_eval_test.cc, sycl_eval_test.cc, torch_eval_test.cc): every folder
// tests/cases_<backend>/<name>/ (except _tasks) holds a candidate and an expected.yaml
// {task, status, message_contains?, ...} (see ExpectVerdict); each goes through the real
// evaluator. One evaluator per task directory per process, as a `kfoundry run` has.
#pragma once

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/fs.h"
#include "eval/cuda_backend.h"
#include "eval/evaluator.h"
#include "task/task.h"

namespace kf::eval::testing {

namespace fs = std::filesystem;

/// Why cuda kernels cannot be evaluated here (no nvcc, no GPU), or "" when they can. Asks only
/// the cuda toolchain (once per process), not every backend.
inline std::string WhyNoCuda() {
  auto tc = DetectCudaToolchain();
  return tc.ok() ? "" : tc.error().message;
}

/// The case (or example) folders under `dir`, sorted; names starting with '_' are not cases.
inline std::vector<std::string> Subdirs(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.front() != '_') names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct LoadedTask {
  task::Task task;
  std::unique_ptr<Evaluator> evaluator;
  std::string skip_reason;
  std::string error;
};

/// The evaluator for the task in `dir` (with --sanitize when `sanitize`), made once per
/// process; caches live under the build tree's `<label>-cache` and `<label>-work`. A missing
/// toolchain is a skip reason, except for cpu tasks: g++ is always required.
inline LoadedTask& TaskFor(const fs::path& dir, const std::string& label, bool sanitize = false) {
  static std::map<std::pair<fs::path, bool>, std::unique_ptr<LoadedTask>> tasks;
  const fs::path key = fs::weakly_canonical(dir);
  auto& slot = tasks[{key, sanitize}];
  if (slot) return *slot;
  slot = std::make_unique<LoadedTask>();
  auto task = task::LoadTask(key);
  if (!task.ok()) {
    slot->error = task.error().ToString();
    return *slot;
  }
  slot->task = std::move(*task);
  EvaluatorOptions o;
  o.cache_dir = fs::path(KF_BINARY_DIR) / (label + "-cache");
  o.work_dir = fs::path(KF_BINARY_DIR) / (label + "-work");
  o.sanitize = sanitize;
  auto ev = MakeEvaluator(slot->task, o);
  if (!ev.ok() && ev.error().code == core::ErrorCode::kToolchain && slot->task.backend != task::Backend::kCpu) {
    slot->skip_reason = "no usable " + std::string(task::BackendName(slot->task.backend)) + " toolchain: " + ev.error().message;
  } else if (!ev.ok()) {
    slot->error = ev.error().ToString();
  } else {
    slot->evaluator = std::move(*ev);
  }
  return *slot;
}

/// One string or a list of strings.
inline std::vector<std::string> Strings(const YAML::Node& n) {
  if (!n) return {};
  return n.IsSequence() ? n.as<std::vector<std::string>>() : std::vector<std::string>{n.as<std::string>()};
}

/// Checks a verdict against an expected.yaml node {status, status_on_gpu?, message_contains?,
/// min_speedup?}: status and message_contains are one string or a list (every fragment must
/// appear). On a GPU (`device_is_gpu`), status_on_gpu replaces status, and a failing verdict it
/// allows is not checked further (a race that passes by luck on a CPU runtime may show there).
inline void ExpectVerdict(const EvalResult& r, const YAML::Node& expected, bool device_is_gpu = false) {
  const bool gpu_rule = expected["status_on_gpu"] && device_is_gpu;
  const std::vector<std::string> allowed = Strings(gpu_rule ? expected["status_on_gpu"] : expected["status"]);
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), std::string(StatusName(r.status))), allowed.end())
      << "status " << StatusName(r.status) << "; message: " << r.message << "\nlog:\n" << r.log;
  if (gpu_rule && r.status != Status::kPassed) return;
  for (const std::string& w : Strings(expected["message_contains"])) {
    EXPECT_NE(r.message.find(w), std::string::npos) << w << "\nmessage: " << r.message;
  }
  if (expected["min_speedup"]) {
    EXPECT_GT(r.speedup, expected["min_speedup"].as<double>()) << r.message;
  }
}

/// Evaluates `case_dir`/`candidate_file` and checks the verdict against its expected.yaml.
inline void ExpectCaseVerdict(const fs::path& case_dir, const std::string& candidate_file, const std::string& label,
                              bool device_is_gpu = false) {
  const YAML::Node expected = YAML::LoadFile((case_dir / "expected.yaml").string());
  ASSERT_TRUE(expected["task"] && expected["status"]) << case_dir << "/expected.yaml needs task and status";
  auto source = core::ReadFile(case_dir / candidate_file);
  ASSERT_TRUE(source.ok()) << source.error().ToString();
  LoadedTask& t = TaskFor(case_dir / expected["task"].as<std::string>(), label);
  if (!t.skip_reason.empty()) GTEST_SKIP() << t.skip_reason;
  ASSERT_TRUE(t.error.empty()) << t.error;
  const EvalResult r = t.evaluator->Evaluate(*source);
  std::cout << "  verdict: " << StatusName(r.status) << ": " << r.message << "\n";
  ExpectVerdict(r, expected, device_is_gpu);
  if (r.status == Status::kPassed) {
    EXPECT_EQ(r.timings.size(), t.task.shapes.size());
    EXPECT_GT(r.phases.kernel_ms, 0);
    for (const auto& s : r.timings) EXPECT_GT(s.median_ms, 0) << s.shape_label;
  }
}

/// Evaluates the first seed of the example task in `dir`, which must pass.
inline void ExpectSeedPasses(const fs::path& dir, const std::string& label) {
  LoadedTask& t = TaskFor(dir, label);
  if (!t.skip_reason.empty()) GTEST_SKIP() << t.skip_reason;
  ASSERT_TRUE(t.error.empty()) << t.error;
  ASSERT_FALSE(t.task.seeds.empty()) << dir << " has no seed";
  const EvalResult r = t.evaluator->Evaluate(t.task.seeds.front().source);
  std::cout << "  verdict: " << StatusName(r.status) << ": " << r.message << "\n";
  for (const ShapeTiming& s : r.timings) {
    std::cout << "    " << s.shape_label << ": " << s.median_ms << " ms (reference " << s.reference_median_ms
              << " ms, speedup " << s.speedup << "x)\n";
  }
  EXPECT_EQ(r.status, Status::kPassed) << r.message << "\nlog:\n" << r.log;
  EXPECT_EQ(r.timings.size(), t.task.shapes.size());
  EXPECT_GT(r.speedup, 0);
}

}  // namespace kf::eval::testing
