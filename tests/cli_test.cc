// The kfoundry binary as a user meets it: exit codes, verdict formats, task errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/fs.h"
#include "core/json.h"
#include "core/subprocess.h"

namespace kf {
namespace {

namespace fs = std::filesystem;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = core::MakeUniqueDir(fs::temp_directory_path() / "kf-cli", "c");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
  }
  void TearDown() override { fs::remove_all(dir_); }

  core::SubprocessResult Kf(std::vector<std::string> args) {
    core::SubprocessSpec spec;
    spec.argv = {std::string(KF_BINARY_DIR) + "/kfoundry"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.working_dir = dir_;
    spec.env = {{"KF_CACHE_DIR", (dir_ / "cache").string()}};
    spec.limits.wall_timeout = std::chrono::minutes(2);
    spec.limits.address_space_bytes = 0;
    auto r = core::RunSandboxed(spec);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : core::SubprocessResult{};
  }
  std::string Example(const std::string& name) { return std::string(KF_SOURCE_DIR) + "/examples/" + name; }
  fs::path Write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    EXPECT_TRUE(core::WriteFileAtomic(p, text).ok());
    return p;
  }

  fs::path dir_;
};

TEST_F(Cli, EvalOfAPassingKernelExitsZeroWithAVerdict) {
  auto r = Kf({"eval", std::string(KF_SOURCE_DIR) + "/tests/e2e/slow_scale",
               std::string(KF_SOURCE_DIR) + "/tests/e2e/slow_scale/seed.cpp"});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("PASSED"), std::string::npos) << r.stdout_text;
}

TEST_F(Cli, EvalJsonIsMachineReadableAndFailingVerdictExitsOne) {
  fs::path wrong = Write("wrong.cpp", "#include <cstdint>\nvoid scale(const float* x, float* y, int32_t n) {\n"
                                      "  for (int32_t i = 0; i < n; ++i) y[i] = 2.0f * x[i];\n}\n");
  auto r = Kf({"eval", std::string(KF_SOURCE_DIR) + "/tests/e2e/slow_scale", wrong.string(), "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  auto j = core::ParseJson(r.stdout_text, "kfoundry eval --json");
  ASSERT_TRUE(j.ok()) << r.stdout_text;
  EXPECT_EQ(j->at("status").get<std::string>(), "wrong_value");
}

TEST_F(Cli, MalformedTaskReportsEveryProblemWithLinesAndExitsTwo) {
  Write("bad/reference.cpp", "void f_reference() {}\n");
  Write("bad/task.yaml",
        "name: bad\n"                                                    // 1
        "backend: cpu\n"                                                 // 2
        "entry: f\n"                                                     // 3
        "args:\n"                                                        // 4
        "  - {name: x, role: input, dtype: float32, shape: [n]}\n"       // 5: bad dtype
        "  - {name: y, role: output, dtype: f32, shape: [m]}\n"          // 6: unknown scalar m
        "  - {name: n, role: scalar, dtype: i32}\n"                      // 7
        "shapes:\n"                                                      // 8
        "  - {n: 16}\n"                                                  // 9
        "tolerence: {atol: 1.0e-5}\n"                                    // 10: unknown key
        "reference: reference.cpp\n");                                   // 11
  Write("k.cpp", "void f() {}\n");
  auto r = Kf({"eval", (dir_ / "bad").string(), (dir_ / "k.cpp").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("task.yaml:5:"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("task.yaml:6:"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("task.yaml:10:"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("tolerance"), std::string::npos) << "suggests the right key: " << r.stderr_text;
}

TEST_F(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(Kf({"eval"}).exit_code, 2);
  EXPECT_EQ(Kf({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Kf({"run"}).exit_code, 2);
  auto r = Kf({"run", "--resume", dir_.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("kfoundry.db"), std::string::npos) << r.stderr_text;
}

TEST_F(Cli, HelpDescribesEachCommand) {
  for (const char* cmd : {"run", "eval", "devices"}) {
    auto r = Kf({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.stdout_text.find("Usage"), std::string::npos) << cmd << ": " << r.stdout_text;
  }
}

TEST_F(Cli, DevicesListsTheCpuToolchain) {
  auto r = Kf({"devices"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.stdout_text.find("cpu"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("g++"), std::string::npos) << r.stdout_text;
}

}  // namespace
}  // namespace kf
