// Unit tests of the strategies' parent choice and their exact restore.
#include "search/strategy.h"

#include <gtest/gtest.h>

namespace kf::search {
namespace {

Evaluated E(std::int64_t id, std::optional<std::int64_t> parent, std::vector<int> cell, double fitness, bool passed,
            std::optional<int> island = std::nullopt) {
  return Evaluated{id, parent, std::move(cell), fitness, passed, island, /*seed=*/!parent.has_value()};
}

std::unique_ptr<Strategy> Make(std::string_view name, ArchiveOptions o = {}) {
  auto s = MakeStrategy(name, o);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return std::move(s).value();
}

TEST(StrategyTest, RefineImprovesTheBestPassingCandidateAndRepairsBeforeOnePasses) {
  auto s = Make("refine");
  std::mt19937_64 rng(1);
  EXPECT_FALSE(s->Plan(rng).parent_id.has_value());
  s->Record(E(1, std::nullopt, {0, 0, 0}, 2.0, false), std::nullopt);
  s->Record(E(2, 1, {0, 0, 0}, 4.0, false), std::nullopt);
  EXPECT_EQ(s->Plan(rng).parent_id, 2);
  s->Record(E(3, 2, {0, 0, 0}, 5.9, true), std::nullopt);
  s->Record(E(4, 3, {0, 0, 0}, 4.0, false), std::nullopt);  // a failing child never displaces a pass
  EXPECT_EQ(s->Plan(rng).parent_id, 3);
  EXPECT_TRUE(s->WaitsForVerdicts());
}

TEST(StrategyTest, BestOfNAlwaysStartsFromTheFirstSeed) {
  auto s = Make("best-of-n");
  std::mt19937_64 rng(1);
  // A first version written without a seed is not a seed: samples stay independent.
  s->Record(Evaluated{9, std::nullopt, {0, 0, 0}, 6.0, true, std::nullopt, /*seed=*/false}, std::nullopt);
  EXPECT_FALSE(s->Plan(rng).parent_id.has_value());
  EXPECT_FALSE(s->Plan(rng).show_history);
  s->Record(E(1, std::nullopt, {0, 0, 0}, 6.0, true), std::nullopt);
  s->Record(E(2, std::nullopt, {0, 0, 0}, 7.0, true), std::nullopt);
  s->Record(E(3, 1, {0, 0, 0}, 9.0, true), std::nullopt);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s->Plan(rng).parent_id, 1);
  EXPECT_FALSE(s->WaitsForVerdicts());
}

TEST(StrategyTest, MapElitesPlansRoundRobinOverIslandsWithInspirationsAndNotes) {
  ArchiveOptions o;
  o.islands = 2;
  o.inspirations = 1;
  auto s = Make("map-elites", o);
  std::mt19937_64 rng(7);
  EXPECT_FALSE(s->Plan(rng).parent_id.has_value());  // island 0, empty archive
  s->Record(E(1, std::nullopt, {0, 0, 0}, 6.0, true), std::nullopt);  // a seed starts both islands
  s->Record(E(2, 1, {2, 0, 1}, 7.0, true, 1), E(1, std::nullopt, {0, 0, 0}, 6.0, true));
  SamplePlan p = s->Plan(rng);  // island 1
  EXPECT_EQ(p.island, 1);
  ASSERT_TRUE(p.parent_id.has_value());
  EXPECT_EQ(p.inspiration_ids.size(), 1u);
  EXPECT_NE(p.notes.find("island 2 of 2"), std::string::npos) << p.notes;
  EXPECT_EQ(s->MaybeArchive()->Elite(0, {2, 0, 1}), std::nullopt);  // island 0 did not get it
  EXPECT_EQ(s->MaybeArchive()->Moves()[0].raised, 1);
}

TEST(StrategyTest, EveryStrategyRestoresToTheSamePlans) {
  for (std::string_view name : {"refine", "best-of-n", "map-elites"}) {
    auto s = Make(name);
    s->Record(E(1, std::nullopt, {0, 0, 0}, 6.0, true), std::nullopt);
    s->Record(E(2, 1, {1, 1, 0}, 6.5, true, 0), E(1, std::nullopt, {0, 0, 0}, 6.0, true));
    auto restored = RestoreStrategy(core::Json::parse(s->Serialize()));
    ASSERT_TRUE(restored.ok()) << restored.error().message;
    EXPECT_EQ((*restored)->Serialize(), s->Serialize()) << name;
    std::mt19937_64 a(3), b(3);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(s->Plan(a).parent_id, (*restored)->Plan(b).parent_id) << name;
  }
}

TEST(StrategyTest, UnknownNamesAreRejectedWithTheKnownOnes) {
  auto s = MakeStrategy("evolve", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("map-elites, refine, best-of-n"), std::string::npos);
  EXPECT_FALSE(RestoreStrategy(core::Json{{"strategy", "x"}}).ok());
  EXPECT_FALSE(RestoreStrategy(core::Json{{"strategy", "map-elites"}}).ok());
}

}  // namespace
}  // namespace kf::search
