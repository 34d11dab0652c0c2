#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "exec/executor.h"

namespace kf::exec {
namespace {

/// Records how many Prepare and Measure calls overlap.
class RecordingEvaluator : public eval::Evaluator {
 public:
  explicit RecordingEvaluator(bool host_cores = false) : host_cores_(host_cores) {}
  bool TimesOnHostCores() const override { return host_cores_; }
  eval::Prepared Prepare(const std::string& source) override {
    int now = ++preparing_;
    max_preparing_ = std::max(max_preparing_.load(), now);
    if (measuring_ > 0) ++overlaps_;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    --preparing_;
    eval::Prepared p;
    p.ready = source != "broken";
    p.result.status = p.ready ? eval::Status::kPassed : eval::Status::kCompileError;
    p.result.message = source;
    return p;
  }
  eval::EvalResult Measure(const eval::Prepared& prepared) override {
    int now = ++measuring_;
    max_measuring_ = std::max(max_measuring_.load(), now);
    if (preparing_ > 0) ++overlaps_;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (preparing_ > 0) ++overlaps_;
    --measuring_;
    return prepared.result;
  }
  const bool host_cores_;
  std::atomic<int> preparing_{0}, max_preparing_{0}, measuring_{0}, max_measuring_{0}, overlaps_{0};
};

int OverlapsOver24Jobs(RecordingEvaluator& evaluator) {
  std::atomic<int> done{0};
  {
    auto executor = MakeLocalExecutor(evaluator, 4);
    for (int i = 0; i < 24; ++i) executor->Submit({i, "k"}, [&](std::int64_t, eval::EvalResult) { ++done; });
  }
  EXPECT_EQ(done.load(), 24);
  return evaluator.overlaps_.load();
}

// A cpu kernel timed while g++ runs on its cores is timed slower than it is.
TEST(LocalExecutor, CompilesNothingWhileTheHostCoresAreTimed) {
  RecordingEvaluator host(/*host_cores=*/true);
  EXPECT_EQ(OverlapsOver24Jobs(host), 0);
  EXPECT_GT(host.max_preparing_.load(), 1);  // compiles still run in parallel between measurements
  RecordingEvaluator gpu(/*host_cores=*/false);
  EXPECT_GT(OverlapsOver24Jobs(gpu), 0);  // a GPU's timing is left to overlap with compiles
}

TEST(LocalExecutor, CompilesConcurrentlyButMeasuresOneAtATime) {
  RecordingEvaluator evaluator;
  std::mutex mu;
  std::map<std::int64_t, int> calls;
  std::map<std::int64_t, std::string> messages;
  {
    auto executor = MakeLocalExecutor(evaluator, 4);
    for (int i = 0; i < 16; ++i) {
      executor->Submit({i, i == 5 ? "broken" : "k" + std::to_string(i)}, [&](std::int64_t id, eval::EvalResult r) {
        std::lock_guard lock(mu);
        ++calls[id];
        messages[id] = r.message;
      });
    }
    executor->Drain();
    ASSERT_EQ(calls.size(), 16u);
  }
  for (const auto& [id, n] : calls) EXPECT_EQ(n, 1) << "job " << id;
  EXPECT_EQ(messages[5], "broken");
  EXPECT_EQ(messages[7], "k7");
  EXPECT_GT(evaluator.max_preparing_.load(), 1);
  EXPECT_EQ(evaluator.max_measuring_.load(), 1);
}

TEST(LocalExecutor, DestructorWaitsForSubmittedJobs) {
  RecordingEvaluator evaluator;
  std::atomic<int> done{0};
  {
    auto executor = MakeLocalExecutor(evaluator, 2);
    for (int i = 0; i < 5; ++i) executor->Submit({i, "k"}, [&](std::int64_t, eval::EvalResult) { ++done; });
  }
  EXPECT_EQ(done.load(), 5);
}

}  // namespace
}  // namespace kf::exec
