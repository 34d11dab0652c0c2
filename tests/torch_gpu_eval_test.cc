// The torch evaluator on an NVIDIA GPU: every folder tests/cases_torch_gpu/<name>/ (except
// _tasks) holds a candidate.py (CUDA kernels through load_inline, or cheats around them) and an
// expected.yaml {task, status, message_contains}. The task pins device: cuda, so the cases skip
// (with the reason) where torch sees no CUDA GPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "backend_cases.h"
#include "torch_python.h"

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kCasesDir = fs::path(KF_SOURCE_DIR) / "tests" / "cases_torch_gpu";
const auto* const kTorchPython = ::testing::AddGlobalTestEnvironment(new testing::TorchPython);

class TorchGpuCase : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchGpuCase, GetsTheExpectedVerdict) {
  testing::ExpectCaseVerdict(kCasesDir / GetParam(), "candidate.py", "torch-gpu-eval");
}

INSTANTIATE_TEST_SUITE_P(Cases, TorchGpuCase, ::testing::ValuesIn(testing::Subdirs(kCasesDir)),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace kf::eval
