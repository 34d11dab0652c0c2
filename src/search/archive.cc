#include "search/archive.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

namespace kf::search {

using core::ErrorCode;
using core::Expected;
using core::Json;

namespace {

core::Error Invalid(std::string message) { return core::MakeError(ErrorCode::kInvalidArgument, std::move(message)); }

bool LessFit(const Member& a, const Member& b) { return a.fitness < b.fitness; }

/// Draws an index with probability proportional to weights (all >= 0, at least one > 0).
std::size_t DrawWeighted(const std::vector<double>& weights, std::mt19937_64& rng) {
  double total = 0;
  for (double w : weights) total += w;
  double x = std::uniform_real_distribution<double>(0, total)(rng);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (x < weights[i]) return i;
    x -= weights[i];
  }
  return weights.size() - 1;  // rounding at the very top of the range
}

std::size_t DrawUniform(std::size_t n, std::mt19937_64& rng) {
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}

Member MemberFrom(const Json& j) {
  return Member{j.at(0).get<std::int64_t>(), j.at(3).get<std::vector<int>>(), j.at(1).get<double>(), j.at(2).get<bool>()};
}

}  // namespace

// --- options -------------------------------------------------------------------------------

int ProfileAxis::LevelOf(std::optional<double> value) const {
  if (!value || !std::isfinite(*value)) return 0;
  return static_cast<int>(std::upper_bound(edges.begin(), edges.end(), *value) - edges.begin());
}

Expected<ProfileAxis> ProfileAxis::Parse(std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Invalid(fmt::format("profile axis '{}' must read METRIC:EDGE,EDGE,... (e.g. dram_throughput_pct:30,60,85)", spec));
  }
  ProfileAxis axis;
  axis.metric = std::string(spec.substr(0, colon));
  std::string_view rest = spec.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string item(rest.substr(0, comma));
    char* end = nullptr;
    const double edge = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(edge)) {
      return Invalid(fmt::format("profile axis '{}': edge '{}' is not a number", spec, item));
    }
    if (!axis.edges.empty() && edge <= axis.edges.back()) {
      return Invalid(fmt::format("profile axis '{}': edges must increase ({} after {})", spec, edge, axis.edges.back()));
    }
    axis.edges.push_back(edge);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (axis.edges.empty() || axis.edges.size() > 15) {
    return Invalid(fmt::format("profile axis '{}' needs 1 to 15 edges", spec));
  }
  return axis;
}

ArchiveOptions ArchiveOptions::WithProfileAxes(std::vector<ProfileAxis> axes) const {
  ArchiveOptions o = *this;
  for (ProfileAxis& axis : axes) {
    o.axis_levels.push_back(axis.Levels());
    o.axis_names.push_back(axis.metric);
    o.profile_axes.push_back(std::move(axis));
  }
  return o;
}

Expected<void> ArchiveOptions::Validate() const {
  if (islands < 1 || islands > 64) return Invalid(fmt::format("islands is {}; use 1 to 64", islands));
  if (migration_interval < 0) return Invalid(fmt::format("migration_interval is {}; use 0 (off) or more", migration_interval));
  if (migrants < 0) return Invalid(fmt::format("migrants is {}; use 0 or more", migrants));
  if (population_size < 0) return Invalid(fmt::format("population_size is {}; use 0 or more", population_size));
  auto share = [](double s) { return std::isfinite(s) && s >= 0 && s <= 1; };
  if (!share(exploit_share) || !share(explore_share) || exploit_share + explore_share > 1 + 1e-9) {
    return Invalid(fmt::format("exploit_share {} and explore_share {} must each be in [0, 1] and sum to at most 1",
                               exploit_share, explore_share));
  }
  if (!std::isfinite(temperature) || temperature <= 0) {
    return Invalid(fmt::format("temperature is {}; use a positive number (fitness units)", temperature));
  }
  if (inspirations < 0) return Invalid(fmt::format("inspirations is {}; use 0 or more", inspirations));
  if (axis_levels.empty() || axis_levels.size() != axis_names.size()) {
    return Invalid(fmt::format("{} axis names for {} axis level counts; give one name per axis", axis_names.size(),
                               axis_levels.size()));
  }
  double cells = 1;
  for (std::size_t a = 0; a < axis_levels.size(); ++a) {
    if (axis_levels[a] < 1 || axis_levels[a] > 64) {
      return Invalid(fmt::format("axis {} has {} levels; use 1 to 64", axis_names[a], axis_levels[a]));
    }
    cells *= axis_levels[a];
  }
  if (cells > 1e6) return Invalid(fmt::format("the axes make {} cells; keep it under a million", cells));
  if (profile_axes.size() > axis_levels.size()) return Invalid("more profile axes than axes");
  for (std::size_t k = 0; k < profile_axes.size(); ++k) {
    const std::size_t a = axis_levels.size() - profile_axes.size() + k;
    if (axis_levels[a] != profile_axes[k].Levels() || axis_names[a] != profile_axes[k].metric) {
      return Invalid(fmt::format("profile axis {} does not match axis {} ({}, {} levels)", profile_axes[k].metric, a,
                                 axis_names[a], axis_levels[a]));
    }
  }
  return core::Ok();
}

Json ArchiveOptions::ToJson() const {
  Json axes = Json::array();
  for (const ProfileAxis& a : profile_axes) axes.push_back({{"metric", a.metric}, {"edges", a.edges}});
  return {{"profile_axes", axes},
          {"islands", islands},         {"migration_interval", migration_interval},
          {"migrants", migrants},       {"population_size", population_size},
          {"exploit_share", exploit_share}, {"explore_share", explore_share},
          {"temperature", temperature}, {"inspirations", inspirations},
          {"axis_levels", axis_levels}, {"axis_names", axis_names}};
}

Expected<ArchiveOptions> ArchiveOptions::FromJson(const Json& j) {
  ArchiveOptions o;
  try {
    o.islands = j.value("islands", o.islands);
    o.migration_interval = j.value("migration_interval", o.migration_interval);
    o.migrants = j.value("migrants", o.migrants);
    o.population_size = j.value("population_size", o.population_size);
    o.exploit_share = j.value("exploit_share", o.exploit_share);
    o.explore_share = j.value("explore_share", o.explore_share);
    o.temperature = j.value("temperature", o.temperature);
    o.inspirations = j.value("inspirations", o.inspirations);
    o.axis_levels = j.value("axis_levels", o.axis_levels);
    o.axis_names = j.value("axis_names", o.axis_names);
    for (const Json& a : j.value("profile_axes", Json::array())) {
      o.profile_axes.push_back(ProfileAxis{a.at("metric").get<std::string>(), a.at("edges").get<std::vector<double>>()});
    }
  } catch (const Json::exception& e) {
    return core::MakeError(ErrorCode::kParse, fmt::format("archive options: {}", e.what()));
  }
  KF_TRY_VOID(o.Validate());
  return o;
}

bool operator==(const ArchiveOptions& a, const ArchiveOptions& b) { return a.ToJson() == b.ToJson(); }

std::string_view PickName(Pick p) {
  switch (p) {
    case Pick::kExploit: return "exploit";
    case Pick::kExplore: return "explore";
    case Pick::kRandom: return "random";
  }
  return "?";
}

std::string_view PlacementName(Placement p) {
  switch (p) {
    case Placement::kNewCell: return "new_cell";
    case Placement::kNewElite: return "new_elite";
    case Placement::kPopulation: return "population";
    case Placement::kDiscarded: return "discarded";
  }
  return "?";
}

// --- archive -------------------------------------------------------------------------------

Archive::Archive(ArchiveOptions options) : options_(std::move(options)) {
  auto valid = options_.Validate();
  KF_CHECK(valid.ok()) << valid.error().message;
  islands_.resize(static_cast<std::size_t>(options_.islands));
  moves_.resize(options_.axis_levels.size());
}

Placement Archive::Insert(int island, const Member& member, const std::optional<Member>& parent) {
  KF_CHECK(island >= 0 && island < options_.islands) << "island " << island << " of " << options_.islands;
  KF_CHECK(member.cell.size() == options_.axis_levels.size()) << "cell has " << member.cell.size() << " levels";
  for (std::size_t a = 0; a < member.cell.size(); ++a) {
    KF_CHECK(member.cell[a] >= 0 && member.cell[a] < options_.axis_levels[a]) << "level out of range on axis " << a;
  }
  if (parent && parent->cell.size() == member.cell.size()) {
    const bool improved = member.fitness > parent->fitness;
    for (std::size_t a = 0; a < member.cell.size(); ++a) {
      if (member.cell[a] > parent->cell[a]) {
        ++moves_[a].raised;
        moves_[a].raised_improved += improved;
      } else if (member.cell[a] < parent->cell[a]) {
        ++moves_[a].lowered;
        moves_[a].lowered_improved += improved;
      }
    }
  }
  best_fitness_ = any_member_ ? std::max(best_fitness_, member.fitness) : member.fitness;
  any_member_ = true;
  return Place(islands_[static_cast<std::size_t>(island)], member);
}

Placement Archive::Place(Island& island, const Member& member) {
  auto it = std::lower_bound(island.cells.begin(), island.cells.end(), member.cell,
                             [](const auto& entry, const std::vector<int>& cell) { return entry.first < cell; });
  if (it == island.cells.end() || it->first != member.cell) {
    island.cells.insert(it, {member.cell, member});
    return Placement::kNewCell;
  }
  if (it->second.candidate_id == member.candidate_id) return Placement::kDiscarded;  // already the elite
  if (member.fitness > it->second.fitness) {
    AddToPopulation(island, it->second);
    it->second = member;
    return Placement::kNewElite;
  }
  const std::size_t before = island.population.size();
  AddToPopulation(island, member);
  const bool kept = std::any_of(island.population.begin(), island.population.end(),
                                [&](const Member& m) { return m.candidate_id == member.candidate_id; });
  return kept || island.population.size() > before ? Placement::kPopulation : Placement::kDiscarded;
}

void Archive::AddToPopulation(Island& island, const Member& member) {
  if (options_.population_size == 0) return;
  for (const Member& m : island.population) {
    if (m.candidate_id == member.candidate_id) return;  // a migrated copy arriving twice
  }
  island.population.push_back(member);
  if (static_cast<int>(island.population.size()) <= options_.population_size) return;
  // min_element returns the first minimum: the oldest among the least fit leaves.
  island.population.erase(std::min_element(island.population.begin(), island.population.end(), LessFit));
}

int Archive::NextIsland() { return static_cast<int>(samples_++ % options_.islands); }

bool Archive::MigrationDue() const {
  return options_.islands > 1 && options_.migration_interval > 0 &&
         Generation() >= last_migration_generation_ + options_.migration_interval;
}

int Archive::Migrate() {
  last_migration_generation_ = Generation();
  std::vector<std::vector<Member>> outgoing(islands_.size());
  for (std::size_t i = 0; i < islands_.size(); ++i) {
    std::vector<Member> elites = Elites(static_cast<int>(i));
    std::stable_sort(elites.begin(), elites.end(), [](const Member& a, const Member& b) { return LessFit(b, a); });
    if (static_cast<int>(elites.size()) > options_.migrants) elites.resize(static_cast<std::size_t>(options_.migrants));
    outgoing[i] = std::move(elites);
  }
  int changed = 0;
  for (std::size_t i = 0; i < islands_.size(); ++i) {
    Island& target = islands_[(i + 1) % islands_.size()];
    for (const Member& m : outgoing[i]) {
      Placement p = Place(target, m);
      changed += p == Placement::kNewCell || p == Placement::kNewElite;
    }
  }
  return changed;
}

std::vector<Member> Archive::Elites(int island) const {
  std::vector<Member> out;
  for (const auto& [cell, m] : islands_.at(static_cast<std::size_t>(island)).cells) out.push_back(m);
  return out;
}

const std::vector<Member>& Archive::Population(int island) const {
  return islands_.at(static_cast<std::size_t>(island)).population;
}

std::optional<Member> Archive::Elite(int island, const std::vector<int>& cell) const {
  for (const auto& [c, m] : islands_.at(static_cast<std::size_t>(island)).cells) {
    if (c == cell) return m;
  }
  return std::nullopt;
}

std::vector<Member> Archive::AllElites() const {
  std::vector<Member> out;
  std::set<std::int64_t> seen;  // a migrated elite is one candidate, drawn once
  for (std::size_t i = 0; i < islands_.size(); ++i) {
    for (const auto& [cell, m] : islands_[i].cells) {
      if (seen.insert(m.candidate_id).second) out.push_back(m);
    }
  }
  return out;
}

std::optional<ParentChoice> Archive::SelectParent(int island, std::mt19937_64& rng) const {
  const Island& home = islands_.at(static_cast<std::size_t>(island));
  const double r = std::uniform_real_distribution<double>(0, 1)(rng);
  const std::vector<Member> elites = home.cells.empty() ? AllElites() : Elites(island);
  if (elites.empty()) return std::nullopt;
  if (r < options_.exploit_share) {
    const double top = std::max_element(elites.begin(), elites.end(), LessFit)->fitness;
    std::vector<double> weights;
    for (const Member& m : elites) weights.push_back(std::exp((m.fitness - top) / options_.temperature));
    return ParentChoice{elites[DrawWeighted(weights, rng)], Pick::kExploit};
  }
  if (r < options_.exploit_share + options_.explore_share) {
    std::vector<Member> members = elites;
    if (!home.cells.empty()) members.insert(members.end(), home.population.begin(), home.population.end());
    return ParentChoice{members[DrawUniform(members.size(), rng)], Pick::kExplore};
  }
  const std::vector<Member> all = AllElites();
  return ParentChoice{all[DrawUniform(all.size(), rng)], Pick::kRandom};
}

std::vector<Member> Archive::SelectInspirations(int island, const Member& parent, std::mt19937_64& rng) const {
  std::vector<Member> out;
  std::set<std::int64_t> taken = {parent.candidate_id};
  auto draw_from = [&](std::vector<Member> pool) {
    std::erase_if(pool, [&](const Member& m) { return m.cell == parent.cell || taken.count(m.candidate_id) > 0; });
    while (static_cast<int>(out.size()) < options_.inspirations && !pool.empty()) {
      std::vector<double> weights;
      for (const Member& m : pool) {
        int levels = 0;
        for (int l : m.cell) levels += l;
        weights.push_back((1.0 + levels) * (m.passed ? 2.0 : 1.0));
      }
      const std::size_t k = DrawWeighted(weights, rng);
      taken.insert(pool[k].candidate_id);
      out.push_back(pool[k]);
      pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(k));
    }
  };
  draw_from(Elites(island));
  draw_from(AllElites());
  return out;
}

std::string Archive::CellLabel(const std::vector<int>& cell) const {
  std::string out;
  for (std::size_t a = 0; a < cell.size() && a < options_.axis_names.size(); ++a) {
    out += fmt::format("{}{}={}", a == 0 ? "" : " ", options_.axis_names[a], cell[a]);
  }
  return out;
}

std::string Archive::DirectionsText() const {
  std::vector<std::string> helped, not_helped;
  for (std::size_t a = 0; a < moves_.size(); ++a) {
    const AxisMoves& m = moves_[a];
    auto judge = [&](const char* verb, int moves, int improved) {
      if (moves < 2) return;
      std::string s = fmt::format("{} {} ({} of {} such moves improved fitness)", verb, options_.axis_names[a],
                                  improved, moves);
      (2 * improved >= moves ? helped : not_helped).push_back(std::move(s));
    };
    judge("raising", m.raised, m.raised_improved);
    judge("lowering", m.lowered, m.lowered_improved);
  }
  std::string out;
  if (!helped.empty()) out += fmt::format("In this run, {} has helped.", fmt::join(helped, "; "));
  if (!not_helped.empty()) {
    out += fmt::format("{}So far {} has not helped.", out.empty() ? "" : " ", fmt::join(not_helped, "; "));
  }
  return out;
}

ArchiveMetrics Archive::Metrics() const {
  // Called with every verdict: one flat vector of the islands' elites, sorted so that copies of
  // a cell on several islands are neighbours, instead of a tree node per cell.
  ArchiveMetrics m;
  std::vector<const std::pair<std::vector<int>, Member>*> elites;
  for (const Island& island : islands_) {
    m.members += static_cast<int>(island.cells.size() + island.population.size());
    for (const auto& entry : island.cells) elites.push_back(&entry);
  }
  std::sort(elites.begin(), elites.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  int passing_cells = 0;
  for (std::size_t i = 0; i < elites.size();) {
    std::optional<double> best_passing;
    std::size_t j = i;
    for (; j < elites.size() && elites[j]->first == elites[i]->first; ++j) {
      const Member& elite = elites[j]->second;
      if (elite.passed) best_passing = std::max(best_passing.value_or(elite.fitness), elite.fitness);
    }
    ++m.cells_filled;
    if (best_passing) {
      ++passing_cells;
      m.qd_score += *best_passing;
    }
    i = j;
  }
  double cells = 1;
  for (int levels : options_.axis_levels) cells *= levels;
  m.coverage = passing_cells / cells;
  m.best_fitness = best_fitness_;
  return m;
}

std::string Archive::Serialize() const {
  // Members as [id, fitness, passed, [levels]]; doubles in fmt's shortest exact form.
  fmt::memory_buffer out;
  auto member = [&](const Member& m) {
    fmt::format_to(std::back_inserter(out), "[{},{},{},[{}]]", m.candidate_id, m.fitness, m.passed ? "true" : "false",
                   fmt::join(m.cell, ","));
  };
  fmt::format_to(std::back_inserter(out), "{{\"options\":{},\"islands\":[", options_.ToJson().dump());
  for (std::size_t i = 0; i < islands_.size(); ++i) {
    fmt::format_to(std::back_inserter(out), "{}{{\"elites\":[", i == 0 ? "" : ",");
    bool first = true;
    for (const auto& [cell, m] : islands_[i].cells) {
      if (!first) out.push_back(',');
      first = false;
      member(m);
    }
    fmt::format_to(std::back_inserter(out), "],\"population\":[");
    first = true;
    for (const Member& m : islands_[i].population) {
      if (!first) out.push_back(',');
      first = false;
      member(m);
    }
    fmt::format_to(std::back_inserter(out), "]}}");
  }
  fmt::format_to(std::back_inserter(out), "],\"moves\":[");
  for (std::size_t a = 0; a < moves_.size(); ++a) {
    const AxisMoves& m = moves_[a];
    fmt::format_to(std::back_inserter(out), "{}[{},{},{},{}]", a == 0 ? "" : ",", m.raised, m.raised_improved, m.lowered,
                   m.lowered_improved);
  }
  fmt::format_to(std::back_inserter(out), "],\"samples\":{},\"last_migration_generation\":{},\"best_fitness\":{},"
                 "\"any_member\":{}}}",
                 samples_, last_migration_generation_, best_fitness_, any_member_ ? "true" : "false");
  return fmt::to_string(out);
}

Expected<Archive> Archive::FromJson(const Json& j) {
  try {
    KF_TRY(ArchiveOptions options, ArchiveOptions::FromJson(j.at("options")));
    Archive a(options);
    const Json& islands = j.at("islands");
    if (islands.size() != a.islands_.size()) {
      return core::MakeError(ErrorCode::kParse, fmt::format("archive: {} islands stored, {} configured",
                                                            islands.size(), a.islands_.size()));
    }
    for (std::size_t i = 0; i < islands.size(); ++i) {
      for (const Json& e : islands[i].at("elites")) {
        Member m = MemberFrom(e);
        bool in_range = m.cell.size() == options.axis_levels.size();
        for (std::size_t k = 0; in_range && k < m.cell.size(); ++k) {
          in_range = m.cell[k] >= 0 && m.cell[k] < options.axis_levels[k];
        }
        if (!in_range) {
          return core::MakeError(ErrorCode::kParse, fmt::format("archive: candidate {} has cell [{}], outside the "
                                                                "archive's axes",
                                                                m.candidate_id, fmt::join(m.cell, ", ")));
        }
        a.islands_[i].cells.emplace_back(m.cell, m);
      }
      std::sort(a.islands_[i].cells.begin(), a.islands_[i].cells.end(),
                [](const auto& x, const auto& y) { return x.first < y.first; });
      for (const Json& e : islands[i].at("population")) a.islands_[i].population.push_back(MemberFrom(e));
    }
    const Json& moves = j.at("moves");
    if (moves.size() != a.moves_.size()) return core::MakeError(ErrorCode::kParse, "archive: move counts per axis do not match the axes");
    for (std::size_t k = 0; k < moves.size(); ++k) {
      a.moves_[k] = AxisMoves{moves[k].at(0).get<int>(), moves[k].at(1).get<int>(), moves[k].at(2).get<int>(),
                              moves[k].at(3).get<int>()};
    }
    a.samples_ = j.at("samples").get<std::int64_t>();
    a.last_migration_generation_ = j.at("last_migration_generation").get<std::int64_t>();
    a.best_fitness_ = j.at("best_fitness").get<double>();
    a.any_member_ = j.at("any_member").get<bool>();
    return a;
  } catch (const Json::exception& e) {
    return core::MakeError(ErrorCode::kParse, fmt::format("stored archive is malformed: {}", e.what()));
  }
}

}  // namespace kf::search
