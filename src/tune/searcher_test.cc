// Unit tests of the searchers: their proposal contract (every point once, in any batching),
// determinism, and search quality on synthetic kernel timings with known optima.
#include "tune/searcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace kf::tune {
namespace {

constexpr SearcherKind kAllKinds[] = {SearcherKind::kExhaustive, SearcherKind::kRandom, SearcherKind::kModel,
                                      SearcherKind::kBandit};
constexpr SearcherKind kLearningKinds[] = {SearcherKind::kModel, SearcherKind::kBandit};

// A kernel's time in ms, or nullopt where the configuration does not compile or run.
using Objective = std::function<std::optional<double>(const Config&)>;

// BLOCK, VEC, UNROLL, TILE as a candidate would declare them: 1176 valid points.
std::vector<Config> KernelSpace() {
  std::vector<Config> points;
  for (std::int64_t block = 32; block <= 1024; block *= 2)
    for (std::int64_t vec : {1, 2, 4, 8})
      for (std::int64_t unroll = 1; unroll <= 8; ++unroll)
        for (std::int64_t tile = 1; tile <= 64; tile *= 2)
          if (block * vec <= 2048) points.push_back({block, vec, unroll, tile});
  return points;
}

// BLOCK, VEC, UNROLL and a TILE with one value: 30 valid points.
std::vector<Config> SmallSpace() {
  std::vector<Config> points;
  for (std::int64_t block = 32; block <= 256; block *= 2)
    for (std::int64_t vec : {1, 2, 4, 8})
      for (std::int64_t unroll = 2; unroll <= 3; ++unroll)
        if (block * vec <= 1024) points.push_back({block, vec, unroll, 8});
  return points;
}

// A bowl in log2 space centred between grid points, with a BLOCK x TILE interaction: the
// best point is BLOCK=256 VEC=4 UNROLL=3 TILE=8, and only two others are within 5% of it.
double BowlMs(const Config& c) {
  const double block = std::log2(static_cast<double>(c.at(0))) - 7.6;
  const double vec = std::log2(static_cast<double>(c.at(1))) - 1.8;
  const double unroll = std::log2(static_cast<double>(c.at(2))) - 1.58;
  const double tile = std::log2(static_cast<double>(c.at(3))) - 3.3;
  return std::exp(0.10 * block * block + 0.15 * vec * vec + 0.4 * unroll * unroll + 0.08 * tile * tile +
                  0.05 * block * tile);
}

// The bowl where large UNROLL x TILE runs out of registers and BLOCK=1024 with a large TILE
// runs out of shared memory: 146 of the 1176 points fail.
std::optional<double> KernelMs(const Config& c) {
  if (c.at(2) * c.at(3) >= 256) return std::nullopt;
  if (c.at(0) == 1024 && c.at(3) >= 32) return std::nullopt;
  return BowlMs(c);
}

// The bowl where BLOCK x TILE above 1024 fails: about half the space.
std::optional<double> HalfFailingMs(const Config& c) {
  if (c.at(0) * c.at(3) > 1024) return std::nullopt;
  return BowlMs(c);
}

double OptimumMs(const std::vector<Config>& points, const Objective& objective) {
  double best = INFINITY;
  for (const auto& c : points)
    if (auto ms = objective(c)) best = std::min(best, *ms);
  return best;
}

std::size_t CountWithin(const std::vector<Config>& points, const Objective& objective, double bound_ms) {
  std::size_t n = 0;
  for (const auto& c : points)
    if (auto ms = objective(c); ms && *ms <= bound_ms) ++n;
  return n;
}

struct Tuning {
  std::vector<std::size_t> proposed;  // in order
  std::size_t failures = 0;
  double best_true_ms = INFINITY;  // the noise-free time of the point that measured fastest
};

// Times up to `budget` points one at a time, as the tuner does, with ±2% measurement noise;
// the winner is the point that measured fastest, judged by its noise-free time. Stops early
// once that time is at most `stop_at_ms`.
Tuning Tune(SearcherKind kind, const std::vector<Config>& points, const Objective& objective, std::uint64_t seed,
            std::size_t budget, double stop_at_ms = 0) {
  auto searcher = MakeSearcher(kind, points, seed);
  std::mt19937_64 noise(seed + 1000);
  std::uniform_real_distribution<double> jitter(0.98, 1.02);
  Tuning t;
  double best_measured_ms = INFINITY;
  while (t.proposed.size() < budget && t.best_true_ms > stop_at_ms) {
    const auto p = searcher->Next();
    if (!p) break;
    t.proposed.push_back(*p);
    const auto ms = objective(points[*p]);
    std::optional<double> measured;
    if (ms) measured = *ms * jitter(noise);
    if (!ms) ++t.failures;
    searcher->Report(*p, measured);
    if (measured && *measured < best_measured_ms) {
      best_measured_ms = *measured;
      t.best_true_ms = *ms;
    }
  }
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::size_t> Sorted(std::vector<std::size_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::size_t> Iota(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  return v;
}

TEST(ParseSearcherKind, AcceptsTheFourNamesAndRoundTripsThroughSearcherName) {
  for (SearcherKind kind : kAllKinds) {
    auto parsed = ParseSearcherKind(SearcherName(kind));
    ASSERT_TRUE(parsed.ok()) << SearcherName(kind);
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(*ParseSearcherKind("bandit"), SearcherKind::kBandit);
  EXPECT_EQ(*ParseSearcherKind("exhaustive"), SearcherKind::kExhaustive);
}

TEST(ParseSearcherKind, RejectsOtherNamesNamingTheValueAndTheChoices) {
  for (std::string bad : {"annealing", "", "Random", "model "}) {
    auto parsed = ParseSearcherKind(bad);
    ASSERT_FALSE(parsed.ok()) << "'" << bad << "'";
    EXPECT_EQ(parsed.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find("'" + bad + "'"), std::string::npos) << parsed.error().message;
    for (SearcherKind kind : kAllKinds)
      EXPECT_NE(parsed.error().message.find(SearcherName(kind)), std::string::npos) << parsed.error().message;
  }
}

TEST(DefaultSearcher, IsExhaustiveForSmallSpacesTheBudgetCoversAndBanditOtherwise) {
  EXPECT_EQ(DefaultSearcher(1, 1), SearcherKind::kExhaustive);
  EXPECT_EQ(DefaultSearcher(kExhaustiveUpTo, kExhaustiveUpTo), SearcherKind::kExhaustive);
  EXPECT_EQ(DefaultSearcher(kExhaustiveUpTo + 1, kExhaustiveUpTo + 1), SearcherKind::kBandit);
  EXPECT_EQ(DefaultSearcher(50'000, 50'000), SearcherKind::kBandit);
  EXPECT_EQ(DefaultSearcher(34, 12), SearcherKind::kBandit) << "in order, 12 of 34 would see one corner";
}

TEST(ExhaustiveSearcher, ProposesEveryPointOnceInOrder) {
  const auto points = SmallSpace();
  const Tuning t = Tune(SearcherKind::kExhaustive, points, KernelMs, 1, points.size() + 5);
  EXPECT_EQ(t.proposed, Iota(points.size()));
}

TEST(RandomSearcher, ProposesAPermutationThatDependsOnTheSeed) {
  const auto points = KernelSpace();
  const Tuning a = Tune(SearcherKind::kRandom, points, KernelMs, 1, points.size());
  const Tuning b = Tune(SearcherKind::kRandom, points, KernelMs, 2, points.size());
  EXPECT_EQ(Sorted(a.proposed), Iota(points.size()));
  EXPECT_EQ(Sorted(b.proposed), Iota(points.size()));
  EXPECT_NE(a.proposed, b.proposed);
  EXPECT_NE(a.proposed, Iota(points.size()));
}

TEST(Searchers, ProposeEachPointExactlyOnceThenNothing) {
  const auto points = SmallSpace();
  for (SearcherKind kind : kAllKinds) {
    SCOPED_TRACE(std::string(SearcherName(kind)));
    auto searcher = MakeSearcher(kind, points, 7);
    std::vector<std::size_t> proposed;
    while (auto p = searcher->Next()) {
      proposed.push_back(*p);
      ASSERT_LE(proposed.size(), points.size());
      // Every third point fails, so the model's failure handling runs too.
      searcher->Report(*p, proposed.size() % 3 == 0 ? std::nullopt : KernelMs(points[*p]));
    }
    EXPECT_EQ(Sorted(proposed), Iota(points.size()));
    EXPECT_FALSE(searcher->Next().has_value());
  }
}

TEST(Searchers, ProposeDistinctPointsWhenAskedForBatchesBeforeReports) {
  const auto points = SmallSpace();
  for (SearcherKind kind : kAllKinds) {
    SCOPED_TRACE(std::string(SearcherName(kind)));
    auto searcher = MakeSearcher(kind, points, 3);
    std::vector<std::size_t> proposed;
    // Ten before any report, then batches of seven; each batch is reported in reverse.
    for (std::size_t batch = 10; batch > 0; batch = 7) {
      std::vector<std::size_t> pending;
      for (std::size_t i = 0; i < batch; ++i)
        if (auto p = searcher->Next()) pending.push_back(*p);
      if (pending.empty()) break;
      for (auto it = pending.rbegin(); it != pending.rend(); ++it) searcher->Report(*it, KernelMs(points[*it]));
      proposed.insert(proposed.end(), pending.begin(), pending.end());
    }
    EXPECT_EQ(Sorted(proposed), Iota(points.size()));
    EXPECT_FALSE(searcher->Next().has_value());
  }
}

TEST(Searchers, ModelAndBanditKeepPendingPointsOutOfLaterProposals) {
  // Past the initial design, with every report held back: the model's picks must skip the
  // points already proposed even though the forest has not changed.
  const auto points = KernelSpace();
  for (SearcherKind kind : kLearningKinds) {
    SCOPED_TRACE(std::string(SearcherName(kind)));
    auto searcher = MakeSearcher(kind, points, 5);
    std::vector<std::size_t> proposed;
    for (int i = 0; i < 12; ++i) {
      proposed.push_back(*searcher->Next());
      searcher->Report(proposed.back(), KernelMs(points[proposed.back()]));
    }
    for (int i = 0; i < 40; ++i) proposed.push_back(*searcher->Next());
    EXPECT_EQ(std::set<std::size_t>(proposed.begin(), proposed.end()).size(), proposed.size());
  }
}

TEST(Searchers, ASinglePointSpaceIsProposedOnceEvenWithoutParameters) {
  // A candidate without parameters has one configuration with no values.
  for (const std::vector<Config>& points : {std::vector<Config>{{128, 4}}, std::vector<Config>{Config{}}}) {
    for (SearcherKind kind : kAllKinds) {
      SCOPED_TRACE(std::string(SearcherName(kind)));
      auto searcher = MakeSearcher(kind, points, 1);
      EXPECT_EQ(searcher->Next(), std::optional<std::size_t>(0));
      EXPECT_FALSE(searcher->Next().has_value());
      searcher->Report(0, 1.5);
      EXPECT_FALSE(searcher->Next().has_value());
    }
  }
}

TEST(SearchersDeathTest, ReportingAPointNotPendingAborts) {
  const auto points = SmallSpace();
  for (SearcherKind kind : kAllKinds) {
    SCOPED_TRACE(std::string(SearcherName(kind)));
    EXPECT_DEATH(
        {
          auto searcher = MakeSearcher(kind, points, 1);
          const std::size_t p = *searcher->Next();
          searcher->Report((p + 1) % points.size(), 1.0);
        },
        "never proposed");
    EXPECT_DEATH(
        {
          auto searcher = MakeSearcher(kind, points, 1);
          const std::size_t p = *searcher->Next();
          searcher->Report(p, 1.0);
          searcher->Report(p, 1.0);
        },
        "already reported");
  }
}

TEST(Searchers, ModelAndBanditAreDeterministicForASeedAndReports) {
  const auto points = KernelSpace();
  for (SearcherKind kind : kLearningKinds) {
    SCOPED_TRACE(std::string(SearcherName(kind)));
    const Tuning a = Tune(kind, points, KernelMs, 11, 60);
    const Tuning b = Tune(kind, points, KernelMs, 11, 60);
    const Tuning other = Tune(kind, points, KernelMs, 12, 60);
    EXPECT_EQ(a.proposed, b.proposed);
    EXPECT_NE(a.proposed, other.proposed);
  }
}

TEST(Searchers, FindTheOptimumWithinTheirBudget) {
  const auto points = KernelSpace();
  const double optimum_ms = OptimumMs(points, KernelMs);
  // The bounds mean something: 3 points (0.26%) are within 5% of the optimum, 13 (1.1%)
  // within 15%. Blind sampling needs about a fifth of the space to reach the 5% bound.
  ASSERT_EQ(CountWithin(points, KernelMs, 1.05 * optimum_ms), 3u);
  ASSERT_EQ(CountWithin(points, KernelMs, 1.15 * optimum_ms), 13u);
  const std::size_t budget = points.size() / 5;  // 235 evaluations, 20% of the space
  const std::size_t tiny = 8;                    // the initial design alone

  for (SearcherKind kind : kLearningKinds) {
    SCOPED_TRACE(std::string(SearcherName(kind)));
    std::vector<double> evaluations;
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
      const Tuning t = Tune(kind, points, KernelMs, seed, budget, 1.05 * optimum_ms);
      EXPECT_LE(t.best_true_ms, 1.05 * optimum_ms) << "seed " << seed;
      evaluations.push_back(static_cast<double>(t.proposed.size()));
    }
    // Blind sampling's median is about the whole budget (241 evaluations over 20 seeds);
    // a learner needs at most half of it.
    EXPECT_LE(Median(evaluations), static_cast<double>(budget / 2));
    EXPECT_GT(Tune(kind, points, KernelMs, 1, tiny).best_true_ms, 1.05 * optimum_ms);
  }
  // Random gets the looser bound.
  EXPECT_LE(Tune(SearcherKind::kRandom, points, KernelMs, 1, budget).best_true_ms, 1.15 * optimum_ms);
  EXPECT_GT(Tune(SearcherKind::kRandom, points, KernelMs, 1, tiny).best_true_ms, 1.15 * optimum_ms);
}

TEST(Searchers, ModelAndBanditBeatRandomsMedianAtATenthOfTheSpace) {
  const auto points = KernelSpace();
  const double optimum_ms = OptimumMs(points, KernelMs);
  const std::size_t budget = points.size() / 10;  // 117 evaluations
  std::vector<double> random_ratio, model_ratio, bandit_ratio;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    random_ratio.push_back(Tune(SearcherKind::kRandom, points, KernelMs, seed, budget).best_true_ms / optimum_ms);
    model_ratio.push_back(Tune(SearcherKind::kModel, points, KernelMs, seed, budget).best_true_ms / optimum_ms);
    bandit_ratio.push_back(Tune(SearcherKind::kBandit, points, KernelMs, seed, budget).best_true_ms / optimum_ms);
  }
  EXPECT_LT(Median(model_ratio), Median(random_ratio));
  EXPECT_LT(Median(bandit_ratio), Median(random_ratio));
  EXPECT_LE(Median(bandit_ratio), 1.05);
}

TEST(ModelSearcher, LearnsToAvoidFailingRegions) {
  const auto points = KernelSpace();
  const std::size_t failing = points.size() - CountWithin(points, HalfFailingMs, INFINITY);
  ASSERT_GT(failing, points.size() * 2 / 5);
  ASSERT_LT(failing, points.size() * 3 / 5);
  const std::size_t initial = 8, rest = 100;
  const Tuning model = Tune(SearcherKind::kModel, points, HalfFailingMs, 1, initial + rest);
  std::size_t failed_after_initial = 0;
  for (std::size_t i = initial; i < model.proposed.size(); ++i)
    if (!HalfFailingMs(points[model.proposed[i]])) ++failed_after_initial;
  EXPECT_LE(failed_after_initial, rest * 3 / 10);
  // Blind sampling at the same seed fails about half the time, so the bar is not trivial.
  EXPECT_GT(Tune(SearcherKind::kRandom, points, HalfFailingMs, 1, initial + rest).failures, (initial + rest) * 3 / 10);
}

TEST(BanditSearcher, FindsANearOptimumOfALargeSpaceIn200Evaluations) {
  // 41,160 points, so the model scores a sample plus the best points' neighbours.
  std::vector<Config> points;
  for (const auto& c : KernelSpace())
    for (std::int64_t warps = 1; warps <= 16; warps *= 2)
      for (std::int64_t stages = 0; stages <= 6; ++stages)
        points.push_back({c.at(0), c.at(1), c.at(2), c.at(3), warps, stages});
  const Objective objective = [](const Config& c) -> std::optional<double> {
    if (c.at(2) * c.at(3) >= 256) return std::nullopt;
    const double warps = std::log2(static_cast<double>(c.at(4))) - 2.2, stages = static_cast<double>(c.at(5)) - 2.4;
    return BowlMs(c) * std::exp(0.1 * warps * warps + 0.05 * stages * stages);
  };
  const double optimum_ms = OptimumMs(points, objective);
  ASSERT_EQ(CountWithin(points, objective, 1.05 * optimum_ms), 6u);  // 0.015% of the space
  EXPECT_LE(Tune(SearcherKind::kBandit, points, objective, 1, 200).best_true_ms, 1.05 * optimum_ms);
}

}  // namespace
}  // namespace kf::tune
