#include "core/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/fs.h"

namespace kf::core {
namespace {

namespace fs = std::filesystem;
using Outcome = SubprocessResult::Outcome;

class SubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeUniqueDir(fs::temp_directory_path() / "kf-subprocess-test", "t");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
  }
  void TearDown() override { fs::remove_all(dir_); }

  SubprocessResult Sh(const std::string& script, SandboxLimits limits = {}, int channel_fd = -1) {
    SubprocessSpec spec;
    spec.argv = {"/bin/bash", "-c", script};
    spec.working_dir = dir_;
    spec.limits = limits;
    spec.channel_fd = channel_fd;
    auto r = RunSandboxed(spec);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : SubprocessResult{};
  }
  fs::path dir_;
};

TEST_F(SubprocessTest, CapturesStdoutStderrAndExitCode) {
  auto r = Sh("echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.outcome, Outcome::kExited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stdout_text, "out\n");
  EXPECT_EQ(r.stderr_text, "err\n");
  EXPECT_FALSE(r.Succeeded());
  EXPECT_EQ(r.Describe(), "exited with status 3");
}

TEST_F(SubprocessTest, ReportsTheKillingSignal) {
  auto r = Sh("kill -SEGV $$");
  EXPECT_EQ(r.outcome, Outcome::kSignaled);
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_NE(r.Describe().find("SIGSEGV"), std::string::npos);
}

TEST_F(SubprocessTest, WallTimeoutKillsTheWholeProcessGroup) {
  SandboxLimits limits;
  limits.wall_timeout = std::chrono::milliseconds(300);
  // The grandchild writes a marker after 1.5 s unless it was killed with the group.
  auto r = Sh("(sleep 1.5; touch survived) & sleep 30", limits);
  EXPECT_EQ(r.outcome, Outcome::kTimedOut);
  EXPECT_LT(r.wall_time.count(), 3000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  EXPECT_FALSE(fs::exists(dir_ / "survived"));
}

TEST_F(SubprocessTest, BackgroundChildHoldingPipesDoesNotHang) {
  SandboxLimits limits;
  limits.wall_timeout = std::chrono::milliseconds(5000);
  auto r = Sh("sleep 20 & echo done", limits);
  EXPECT_EQ(r.outcome, Outcome::kExited);
  EXPECT_EQ(r.stdout_text, "done\n");
  EXPECT_LT(r.wall_time.count(), 2000);
}

TEST_F(SubprocessTest, CapsCapturedOutputAndMarksTruncation) {
  SandboxLimits limits;
  limits.output_cap_bytes = 1000;
  auto r = Sh("head -c 100000 /dev/zero | tr '\\0' x", limits);
  EXPECT_TRUE(r.Succeeded());
  EXPECT_EQ(r.stdout_text.size(), 1000u);
  EXPECT_TRUE(r.stdout_truncated);
}

TEST_F(SubprocessTest, ResultChannelIsSeparateFromStdout) {
  auto r = Sh("echo fake-result; echo real-result >&97", {}, 97);
  EXPECT_TRUE(r.Succeeded());
  EXPECT_EQ(r.channel, "real-result\n");
  EXPECT_EQ(r.stdout_text, "fake-result\n");
}

TEST_F(SubprocessTest, ChildDoesNotInheritOtherDescriptors) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // deliberately not close-on-exec
  auto r = Sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
  ::close(fds[0]);
  ::close(fds[1]);
  // 0,1,2 plus the descriptor ls uses to read the directory.
  EXPECT_EQ(r.stdout_text, "0 1 2 3 ") << r.stdout_text;
}

TEST_F(SubprocessTest, RunsInTheGivenWorkingDirectoryWithEnv) {
  SubprocessSpec spec;
  spec.argv = {"/bin/sh", "-c", "pwd; echo $KF_X"};
  spec.working_dir = dir_;
  spec.env = {{"KF_X", "hello"}};
  auto r = RunSandboxed(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_text, fs::canonical(dir_).string() + "\nhello\n");
}

TEST_F(SubprocessTest, FeedsStdin) {
  SubprocessSpec spec;
  spec.argv = {"cat"};
  spec.working_dir = dir_;
  spec.stdin_data = std::string(200000, 'q');
  auto r = RunSandboxed(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_text.size(), 200000u);
}

TEST_F(SubprocessTest, AddressSpaceLimitStopsHugeAllocations) {
  SandboxLimits limits;
  limits.address_space_bytes = 256ULL << 20;
  // python would be simplest, but keep to coreutils: `head -c` of 1 GiB into a shell variable.
  auto r = Sh("x=$(head -c 600000000 /dev/zero | tr '\\0' a); echo ${#x}", limits);
  EXPECT_FALSE(r.Succeeded() && r.stdout_text == "600000000\n") << r.Describe();
}

TEST_F(SubprocessTest, FileSizeLimitStopsHugeWrites) {
  SandboxLimits limits;
  limits.file_size_bytes = 1 << 20;
  auto r = Sh("head -c 5000000 /dev/zero > big", limits);
  EXPECT_FALSE(r.Succeeded());
  EXPECT_LE(fs::file_size(dir_ / "big"), 1u << 20);
}

TEST_F(SubprocessTest, MissingExecutableIsAnErrorNotAResult) {
  SubprocessSpec spec;
  spec.argv = {"kf-no-such-program"};
  spec.working_dir = dir_;
  auto r = RunSandboxed(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("kf-no-such-program"), std::string::npos);
}

TEST_F(SubprocessTest, CancelFlagKillsTheChild) {
  std::atomic<bool> cancel{false};
  SubprocessSpec spec;
  spec.argv = {"/bin/sh", "-c", "sleep 30"};
  spec.working_dir = dir_;
  spec.cancel = &cancel;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  auto r = RunSandboxed(spec);
  t.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kCancelled);
  EXPECT_LT(r->wall_time.count(), 5000);
}

// A child started ahead of time waits on its stdin; its wall-clock limit counts from the gate.
TEST_F(SubprocessTest, GatedStdinIsWithheldAndTheWallClockStartsAtTheGate) {
  std::atomic<bool> gate{false};
  SubprocessSpec spec;
  spec.argv = {"/bin/sh", "-c", "read line; echo \"got $line\"; sleep 0.3"};
  spec.working_dir = dir_;
  spec.stdin_data = "go\n";
  spec.stdin_gate = &gate;
  spec.limits.wall_timeout = std::chrono::milliseconds(1000);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // longer than the limit
    gate = true;
  });
  auto r = RunSandboxed(spec);
  t.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kExited) << r->Describe();
  EXPECT_EQ(r->stdout_text, "got go\n");
  EXPECT_GE(r->wall_time.count(), 1500);

  // After the gate the limit holds as usual.
  gate = false;
  spec.argv = {"/bin/sh", "-c", "read line; sleep 30"};
  std::thread u([&] { gate = true; });
  auto slow = RunSandboxed(spec);
  u.join();
  ASSERT_TRUE(slow.ok());
  EXPECT_EQ(slow->outcome, Outcome::kTimedOut);
  EXPECT_LT(slow->wall_time.count(), 5000);
}

TEST_F(SubprocessTest, ManyConcurrentChildrenEachGetTheirOwnOutput) {
  std::vector<std::thread> threads;
  std::vector<std::string> outs(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      SubprocessSpec spec;
      spec.argv = {"/bin/sh", "-c", "sleep 0.1; echo " + std::to_string(i)};
      spec.working_dir = dir_;
      auto r = RunSandboxed(spec);
      if (r.ok()) outs[i] = r->stdout_text;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(outs[i], std::to_string(i) + "\n");
}

}  // namespace
}  // namespace kf::core
