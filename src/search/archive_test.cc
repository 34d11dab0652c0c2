// Unit tests of the MAP-Elites archive: elites, population, islands, selection mix, moves,
// metrics and exact restore.
#include "search/archive.h"

#include <gtest/gtest.h>

#include <map>

namespace kf::search {
namespace {

Member M(std::int64_t id, std::vector<int> cell, double fitness, bool passed = true) {
  return Member{id, std::move(cell), fitness, passed};
}

ArchiveOptions OneIsland() {
  ArchiveOptions o;
  o.islands = 1;
  o.population_size = 3;
  return o;
}

TEST(ArchiveTest, ReplacesEliteOnlyWithStrictlyBetterCandidate) {
  Archive a(OneIsland());
  EXPECT_EQ(a.Insert(0, M(1, {1, 0, 0}, 6.0)), Placement::kNewCell);
  EXPECT_EQ(a.Insert(0, M(2, {1, 0, 0}, 5.5)), Placement::kPopulation);
  EXPECT_EQ(a.Insert(0, M(3, {1, 0, 0}, 6.0)), Placement::kPopulation);  // a tie keeps the incumbent
  EXPECT_EQ(a.Elite(0, {1, 0, 0})->candidate_id, 1);
  EXPECT_EQ(a.Insert(0, M(4, {1, 0, 0}, 7.0)), Placement::kNewElite);
  EXPECT_EQ(a.Elite(0, {1, 0, 0})->candidate_id, 4);
  // The displaced elite joins the population.
  std::vector<std::int64_t> ids;
  for (const Member& m : a.Population(0)) ids.push_back(m.candidate_id);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{2, 3, 1}));
}

TEST(ArchiveTest, PopulationIsBoundedAndDropsTheLeastFitOldestFirst) {
  Archive a(OneIsland());
  a.Insert(0, M(1, {0, 0, 0}, 9.0));
  a.Insert(0, M(2, {0, 0, 0}, 5.0));
  a.Insert(0, M(3, {0, 0, 0}, 4.0));
  a.Insert(0, M(4, {0, 0, 0}, 4.0));
  EXPECT_EQ(a.Insert(0, M(5, {0, 0, 0}, 6.0)), Placement::kPopulation);
  std::vector<std::int64_t> ids;
  for (const Member& m : a.Population(0)) ids.push_back(m.candidate_id);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{2, 4, 5}));  // 3 was the oldest of the two 4.0s
  EXPECT_EQ(a.Insert(0, M(6, {0, 0, 0}, 1.0)), Placement::kDiscarded);
}

TEST(ArchiveTest, CoverageAndQdScoreGrowWithNewPassingCells) {
  Archive a(OneIsland());
  EXPECT_EQ(a.Metrics().coverage, 0);
  a.Insert(0, M(1, {0, 0, 0}, 6.0));
  EXPECT_DOUBLE_EQ(a.Metrics().coverage, 1.0 / 64);
  EXPECT_DOUBLE_EQ(a.Metrics().qd_score, 6.0);
  a.Insert(0, M(2, {2, 1, 0}, 7.5));
  a.Insert(0, M(3, {3, 3, 3}, 2.0, /*passed=*/false));  // a failing elite fills a cell, not coverage
  ArchiveMetrics m = a.Metrics();
  EXPECT_DOUBLE_EQ(m.coverage, 2.0 / 64);
  EXPECT_DOUBLE_EQ(m.qd_score, 13.5);
  EXPECT_EQ(m.cells_filled, 3);
  EXPECT_DOUBLE_EQ(m.best_fitness, 7.5);
}

TEST(ArchiveTest, MigrationCopiesBestElitesToTheNextIslandOfTheRing) {
  ArchiveOptions o;
  o.islands = 3;
  o.migrants = 1;
  o.migration_interval = 2;
  Archive a(o);
  a.Insert(0, M(1, {0, 0, 0}, 6.0));
  a.Insert(0, M(2, {1, 0, 0}, 8.0));
  a.Insert(1, M(3, {1, 0, 0}, 7.0));
  a.Insert(2, M(4, {2, 0, 0}, 5.5));
  EXPECT_FALSE(a.MigrationDue());
  for (int i = 0; i < 6; ++i) a.NextIsland();  // two generations of three islands
  ASSERT_TRUE(a.MigrationDue());
  EXPECT_EQ(a.Migrate(), 3);
  EXPECT_FALSE(a.MigrationDue());
  // Island 0's best (id 2) beats island 1's elite of the same cell; island 1's best (3, taken
  // before the migration) reaches island 2; island 2's reaches island 0.
  EXPECT_EQ(a.Elite(1, {1, 0, 0})->candidate_id, 2);
  EXPECT_EQ(a.Elite(2, {1, 0, 0})->candidate_id, 3);
  EXPECT_EQ(a.Elite(0, {2, 0, 0})->candidate_id, 4);
  // Copies: the source keeps its elites.
  EXPECT_EQ(a.Elite(0, {1, 0, 0})->candidate_id, 2);
  EXPECT_EQ(a.Elite(1, {1, 0, 0})->candidate_id, 2);
  EXPECT_FALSE(a.Elite(2, {0, 0, 0}).has_value());  // only the best one migrated
}

TEST(ArchiveTest, SelectionFrequenciesFollowTheConfiguredMix) {
  ArchiveOptions o;
  o.islands = 2;
  o.exploit_share = 0.5;
  o.explore_share = 0.3;
  o.temperature = 1.0;
  Archive a(o);
  a.Insert(0, M(1, {0, 0, 0}, 6.0));
  a.Insert(0, M(2, {1, 0, 0}, 6.0 + std::log(3.0)));  // softmax weight 3 vs 1
  a.Insert(0, M(3, {1, 0, 0}, 5.0));                   // population of island 0
  a.Insert(1, M(4, {3, 3, 3}, 5.5));
  std::mt19937_64 rng(42);
  std::map<Pick, int> how;
  std::map<std::int64_t, int> picked;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    auto c = a.SelectParent(0, rng);
    ASSERT_TRUE(c.has_value());
    ++how[c->how];
    ++picked[c->member.candidate_id];
  }
  EXPECT_NEAR(how[Pick::kExploit] / double(n), 0.5, 0.01);
  EXPECT_NEAR(how[Pick::kExplore] / double(n), 0.3, 0.01);
  EXPECT_NEAR(how[Pick::kRandom] / double(n), 0.2, 0.01);
  // exploit: 1 at 1/4, 2 at 3/4; explore: 1, 2, 3 at 1/3 each; random: 1, 2, 4 at 1/3 each.
  EXPECT_NEAR(picked[1] / double(n), 0.5 / 4 + 0.3 / 3 + 0.2 / 3, 0.01);
  EXPECT_NEAR(picked[2] / double(n), 0.5 * 3 / 4 + 0.3 / 3 + 0.2 / 3, 0.01);
  EXPECT_NEAR(picked[3] / double(n), 0.3 / 3, 0.01);
  EXPECT_NEAR(picked[4] / double(n), 0.2 / 3, 0.01);
}

TEST(ArchiveTest, AnEmptyIslandBorrowsParentsAndAnEmptyArchiveHasNone) {
  ArchiveOptions o;
  o.islands = 2;
  Archive a(o);
  std::mt19937_64 rng(1);
  EXPECT_FALSE(a.SelectParent(1, rng).has_value());
  a.Insert(0, M(7, {0, 1, 0}, 6.0));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.SelectParent(1, rng)->member.candidate_id, 7);
}

TEST(ArchiveTest, InspirationsComeFromOtherCellsAndPreferHigherLevels) {
  ArchiveOptions o = OneIsland();
  o.inspirations = 1;
  Archive a(o);
  a.Insert(0, M(1, {0, 0, 0}, 6.0));
  a.Insert(0, M(2, {0, 0, 0}, 5.0));  // same cell as the parent: never an inspiration
  a.Insert(0, M(3, {1, 0, 0}, 6.0));  // weight (1 + 1) x 2 = 4
  a.Insert(0, M(4, {3, 3, 3}, 6.0));  // weight (1 + 9) x 2 = 20
  std::mt19937_64 rng(3);
  std::map<std::int64_t, int> seen;
  const int n = 24000;
  for (int i = 0; i < n; ++i) {
    auto insp = a.SelectInspirations(0, *a.Elite(0, {0, 0, 0}), rng);
    ASSERT_EQ(insp.size(), 1u);
    ++seen[insp[0].candidate_id];
  }
  EXPECT_EQ(seen.count(1) + seen.count(2), 0u);
  EXPECT_NEAR(seen[4] / double(n), 20.0 / 24, 0.01);
}

TEST(ArchiveTest, CountsMovesPerAxisAndNamesTheDirectionsThatHelped) {
  Archive a(OneIsland());
  Member parent = M(1, {0, 1, 1}, 6.0);
  a.Insert(0, parent);
  EXPECT_EQ(a.DirectionsText(), "");
  a.Insert(0, M(2, {1, 1, 1}, 7.0), parent);  // memory up, improved
  a.Insert(0, M(3, {2, 1, 0}, 6.5), parent);  // memory up, parallelism down, improved
  a.Insert(0, M(4, {0, 1, 0}, 2.0), parent);  // parallelism down, worse
  a.Insert(0, M(5, {0, 1, 0}, 1.0), parent);  // parallelism down, worse
  EXPECT_EQ(a.Moves()[0], (AxisMoves{2, 2, 0, 0}));
  EXPECT_EQ(a.Moves()[1], (AxisMoves{0, 0, 0, 0}));
  EXPECT_EQ(a.Moves()[2], (AxisMoves{0, 0, 3, 1}));
  EXPECT_EQ(a.DirectionsText(),
            "In this run, raising memory_opt (2 of 2 such moves improved fitness) has helped. So far lowering "
            "parallelism_opt (1 of 3 such moves improved fitness) has not helped.");
}

TEST(ArchiveTest, RestoresExactlyFromJson) {
  ArchiveOptions o;
  o.islands = 3;
  o.population_size = 4;
  o.migration_interval = 1;
  Archive a(o);
  std::mt19937_64 fill(9);
  for (int id = 1; id <= 200; ++id) {
    std::vector<int> cell = {int(fill() % 4), int(fill() % 4), int(fill() % 4)};
    a.Insert(a.NextIsland(), M(id, cell, 5.0 + (fill() % 1000) / 100.0, fill() % 3 != 0),
             id > 1 ? std::optional<Member>(M(id - 1, {1, 1, 1}, 6.0)) : std::nullopt);
    if (a.MigrationDue()) a.Migrate();
  }
  auto restored = Archive::FromJson(core::Json::parse(a.ToJson().dump()));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_TRUE(*restored == a);
  // The same draws follow from the same generator state.
  std::mt19937_64 r1(5), r2(5);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(a.SelectParent(i % 3, r1)->member, restored->SelectParent(i % 3, r2)->member);
  }
}

TEST(ArchiveTest, RejectsMalformedStoredStateAndBadOptions) {
  Archive a(OneIsland());
  a.Insert(0, M(1, {0, 0, 0}, 6.0));
  core::Json j = a.ToJson();
  j["islands"][0]["elites"][0][3] = {0, 9, 0};  // a member is [id, fitness, passed, cell]
  auto bad = Archive::FromJson(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("outside the archive's axes"), std::string::npos) << bad.error().message;
  j = a.ToJson();
  j.erase("samples");
  EXPECT_FALSE(Archive::FromJson(j).ok());
  ArchiveOptions o;
  o.exploit_share = 0.8;
  o.explore_share = 0.5;
  EXPECT_FALSE(o.Validate().ok());
  o = ArchiveOptions();
  o.axis_levels = {4, 4};
  EXPECT_NE(o.Validate().error().message.find("axis"), std::string::npos);
}

TEST(ArchiveTest, ProfileAxesBinMetricsAndExtendTheCells) {
  auto axis = ProfileAxis::Parse("dram_throughput_pct:30,60,85");
  ASSERT_TRUE(axis.ok()) << axis.error().message;
  EXPECT_EQ(axis->Levels(), 4);
  EXPECT_EQ(axis->LevelOf(std::nullopt), 0);
  EXPECT_EQ(axis->LevelOf(10), 0);
  EXPECT_EQ(axis->LevelOf(30), 1);
  EXPECT_EQ(axis->LevelOf(59.9), 1);
  EXPECT_EQ(axis->LevelOf(99), 3);
  for (const char* bad : {"dram", ":30", "dram:", "dram:30,20", "dram:x"}) {
    EXPECT_FALSE(ProfileAxis::Parse(bad).ok()) << bad;
  }
  ArchiveOptions o = OneIsland().WithProfileAxes({*axis});
  ASSERT_TRUE(o.Validate().ok());
  EXPECT_EQ(o.axis_levels, (std::vector<int>{4, 4, 4, 4}));
  Archive a(o);
  a.Insert(0, M(1, {0, 0, 0, 0}, 6.0));
  a.Insert(0, M(2, {0, 0, 0, 3}, 6.5));  // same code cell, memory-bound kernel: a cell of its own
  EXPECT_EQ(a.Metrics().cells_filled, 2);
  EXPECT_EQ(a.CellLabel({0, 0, 0, 3}), "memory_opt=0 compute_opt=0 parallelism_opt=0 dram_throughput_pct=3");
  auto restored = ArchiveOptions::FromJson(o.ToJson());
  ASSERT_TRUE(restored.ok());
  EXPECT_TRUE(*restored == o);
}

}  // namespace
}  // namespace kf::search
