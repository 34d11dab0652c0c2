// Shared by the torch evaluator tests: which Python runs the harness. $KF_PYTHON when set;
// else python3 when it imports torch; else Debian's /usr/bin/python3 (python3-torch), which a
// pyenv or venv python3 earlier in PATH may shadow. Without any, the evaluator reports a
// toolchain error and the tests skip with it.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace kf::eval::testing {

inline bool ImportsTorch(const std::string& python) {
  return std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
}

class TorchPython : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* given = std::getenv("KF_PYTHON");
    if (given != nullptr && *given != '\0') return;
    if (!ImportsTorch("python3") && ImportsTorch("/usr/bin/python3")) ::setenv("KF_PYTHON", "/usr/bin/python3", 1);
  }
};

}  // namespace kf::eval::testing
