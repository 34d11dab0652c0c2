// search/archive.h — the MAP-Elites archive: cells keyed by behaviour descriptor, islands,
// parent and inspiration selection, migration, and the search's own statistics.
//
// A cell is one combination of axis levels (the three code axes of search/descriptor.h, then
// any profile axes of the run). Each island keeps, per cell, its elite (the highest fitness seen
// there; a tie keeps the incumbent) and beside the elites a bounded population of other members
// for exploration. Every `migration_interval` generations (a generation is one sample per
// island) each island's best elites are copied to the next island of the ring. The archive also
// counts cell-to-cell moves per axis (did raising memory_opt help?) and reports QD score,
// coverage and best fitness. It holds ids and numbers only, never code, so it stays small
// whatever the number of candidates; ToJson/FromJson restore it exactly.
// Not thread-safe: the engine's loop thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace kf::search {

/// An extra archive axis from a profiler metric (the run's choice, e.g. DRAM throughput): the
/// metric's value falls into level 0 below edges[0], level i between edges[i-1] and edges[i],
/// level edges.size() above the last edge. A candidate without the metric (not profiled) is at
/// level 0.
struct ProfileAxis {
  std::string metric;          // a name the engine can read off a profile, e.g. "dram_throughput_pct"
  std::vector<double> edges;   // increasing
  int LevelOf(std::optional<double> value) const;
  int Levels() const { return static_cast<int>(edges.size()) + 1; }
  /// "dram_throughput_pct:30,60,85"; kInvalidArgument saying what is wrong.
  static core::Expected<ProfileAxis> Parse(std::string_view spec);
  friend bool operator==(const ProfileAxis&, const ProfileAxis&) = default;
};

struct ArchiveOptions {
  int islands = 4;
  /// Generations between ring migrations; 0 turns migration off.
  int migration_interval = 8;
  /// Elites each island copies to the next at a migration (its best, by fitness).
  int migrants = 2;
  /// Members per island kept besides the elites (lowest fitness leaves first, oldest on ties).
  int population_size = 32;
  /// Parent selection mix: softmax over the island's elite fitness, uniform over the island's
  /// members (elites and population), and (the rest) uniform over every elite of every island.
  double exploit_share = 0.6;
  double explore_share = 0.3;
  /// Softmax temperature in fitness units (fitness = status level 0-5 plus speedup).
  double temperature = 0.5;
  /// Elites from other cells shown beside the parent.
  int inspirations = 2;
  /// Level count per axis; cells are their product. The three code axes come first.
  std::vector<int> axis_levels = {4, 4, 4};
  std::vector<std::string> axis_names = {"memory_opt", "compute_opt", "parallelism_opt"};
  /// Axes after the three code axes; axis_levels and axis_names include them (WithProfileAxes).
  std::vector<ProfileAxis> profile_axes;

  /// These options with `axes` appended after the code axes.
  ArchiveOptions WithProfileAxes(std::vector<ProfileAxis> axes) const;

  /// Ok, or kInvalidArgument naming the first bad option and its allowed range.
  core::Expected<void> Validate() const;
  core::Json ToJson() const;
  static core::Expected<ArchiveOptions> FromJson(const core::Json& j);
};

/// A candidate as the archive sees it.
struct Member {
  std::int64_t candidate_id = 0;
  std::vector<int> cell;  // one level per axis, each in [0, axis_levels[i])
  double fitness = 0;
  bool passed = false;  // correct (status passed); only these count for QD score and coverage
  friend bool operator==(const Member&, const Member&) = default;
};

enum class Pick { kExploit, kExplore, kRandom };
std::string_view PickName(Pick p);  // "exploit", "explore", "random"

struct ParentChoice {
  Member member;
  Pick how = Pick::kExploit;
};

/// What an insertion changed on its island.
enum class Placement {
  kNewCell,      // the cell was empty: the member is its first elite
  kNewElite,     // it beat the cell's elite, which moves to the population
  kPopulation,   // it did not beat the elite and joined the population
  kDiscarded,    // worse than the elite and than the whole full population
};
std::string_view PlacementName(Placement p);

/// Moves along one axis between a parent's cell and its child's, and how often they improved.
struct AxisMoves {
  int raised = 0, raised_improved = 0;
  int lowered = 0, lowered_improved = 0;
  friend bool operator==(const AxisMoves&, const AxisMoves&) = default;
};

struct ArchiveMetrics {
  double qd_score = 0;      // sum over cells (all islands merged) of the best passing fitness
  double coverage = 0;      // cells with a passing elite / all cells, in [0, 1]
  double best_fitness = 0;  // over every member ever inserted (0 when none)
  int cells_filled = 0;     // cells with any elite, passing or not
  int members = 0;          // elites and population over all islands (copies counted)
};

class Archive {
 public:
  /// `options` must be valid (KF_CHECK).
  explicit Archive(ArchiveOptions options);

  const ArchiveOptions& Options() const { return options_; }

  /// Adds an evaluated member to `island`. With `parent` (the member it was bred from), the
  /// move between their cells is counted per axis. The cell must have one level per axis.
  Placement Insert(int island, const Member& member, const std::optional<Member>& parent = std::nullopt);

  /// The island the next sample belongs to (round robin); each call counts one sample.
  int NextIsland();
  /// Samples counted by NextIsland / islands.
  std::int64_t Generation() const { return samples_ / options_.islands; }
  bool MigrationDue() const;
  /// Copies each island's best `migrants` elites into the next island (from the state before
  /// the migration, so nothing travels two hops at once). Returns the placements that changed
  /// a cell of the receiving island.
  int Migrate();

  /// A parent for a sample on `island` by the configured mix; an island without members
  /// borrows from all islands. nullopt only when the archive is empty.
  std::optional<ParentChoice> SelectParent(int island, std::mt19937_64& rng) const;
  /// Up to `inspirations` distinct elites of cells other than the parent's (the parent's island
  /// first, then all islands), drawn with weight (1 + sum of levels) x (2 when passing): higher
  /// optimization levels are preferred.
  std::vector<Member> SelectInspirations(int island, const Member& parent, std::mt19937_64& rng) const;

  /// Per axis, in axis order.
  const std::vector<AxisMoves>& Moves() const { return moves_; }
  /// Sentences for the prompt naming the directions that helped or did not (an axis needs two
  /// moves in a direction to be named); empty when there is nothing to say yet.
  std::string DirectionsText() const;
  /// "memory_opt=2 compute_opt=1 parallelism_opt=0".
  std::string CellLabel(const std::vector<int>& cell) const;

  ArchiveMetrics Metrics() const;
  /// The elite of `cell` on `island`, if any.
  std::optional<Member> Elite(int island, const std::vector<int>& cell) const;
  /// Every elite of an island, in cell order.
  std::vector<Member> Elites(int island) const;
  const std::vector<Member>& Population(int island) const;

  /// The whole state as JSON text, written directly: the engine saves it with every evaluation,
  /// and building a JSON tree of a full archive cost a millisecond.
  std::string Serialize() const;
  core::Json ToJson() const { return core::Json::parse(Serialize()); }
  /// Reads what Serialize wrote; kParse naming the first field that is missing or out of range.
  static core::Expected<Archive> FromJson(const core::Json& j);

  friend bool operator==(const Archive&, const Archive&) = default;

 private:
  struct Island {
    std::vector<std::pair<std::vector<int>, Member>> cells;  // sorted by cell
    std::vector<Member> population;                          // in insertion order
    friend bool operator==(const Island&, const Island&) = default;
  };

  Placement Place(Island& island, const Member& member);
  void AddToPopulation(Island& island, const Member& member);
  std::vector<Member> AllElites() const;

  ArchiveOptions options_;
  std::vector<Island> islands_;
  std::vector<AxisMoves> moves_;
  std::int64_t samples_ = 0;
  std::int64_t last_migration_generation_ = 0;
  double best_fitness_ = 0;
  bool any_member_ = false;
};

bool operator==(const ArchiveOptions&, const ArchiveOptions&);

}  // namespace kf::search
