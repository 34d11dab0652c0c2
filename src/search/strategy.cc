#include "search/strategy.h"

#include <fmt/format.h>


namespace kf::search {

using core::ErrorCode;
using core::Expected;
using core::Json;

namespace {

/// refine: improve the best passing candidate; before one exists, repair the fittest.
class RefineStrategy final : public Strategy {
 public:
  std::string_view Name() const override { return "refine"; }
  SamplePlan Plan(std::mt19937_64&) override {
    SamplePlan plan;
    plan.parent_id = best_;
    plan.how = best_ ? "best" : "first";
    return plan;
  }
  void Record(const Evaluated& c, const std::optional<Evaluated>&) override {
    // Ties go to the later candidate only when nothing passes yet, so repairs keep moving.
    if (!best_ || (c.passed && !best_passed_) || (c.passed == best_passed_ && c.fitness > best_fitness_) ||
        (!c.passed && !best_passed_ && c.fitness == best_fitness_)) {
      best_ = c.candidate_id;
      best_fitness_ = c.fitness;
      best_passed_ = c.passed;
    }
  }
  bool WaitsForVerdicts() const override { return true; }
  std::string Serialize() const override {
    return Json{{"strategy", Name()}, {"best", best_ ? Json(*best_) : Json()}, {"best_fitness", best_fitness_},
                {"best_passed", best_passed_}}
        .dump();
  }
  void Restore(const Json& j) {
    if (!j.at("best").is_null()) best_ = j.at("best").get<std::int64_t>();
    best_fitness_ = j.at("best_fitness").get<double>();
    best_passed_ = j.at("best_passed").get<bool>();
  }

 private:
  std::optional<std::int64_t> best_;
  double best_fitness_ = 0;
  bool best_passed_ = false;
};

/// best-of-n: every sample starts from the same seed (the first one evaluated; none when the task
/// has none) and sees nothing of the other samples.
class BestOfNStrategy final : public Strategy {
 public:
  std::string_view Name() const override { return "best-of-n"; }
  SamplePlan Plan(std::mt19937_64&) override {
    SamplePlan plan;
    plan.parent_id = seed_;
    plan.how = seed_ ? "seed" : "first";
    plan.show_history = false;
    return plan;
  }
  void Record(const Evaluated& c, const std::optional<Evaluated>&) override {
    if (c.seed && !seed_) seed_ = c.candidate_id;
  }
  bool WaitsForVerdicts() const override { return false; }
  std::string Serialize() const override {
    return Json{{"strategy", Name()}, {"seed", seed_ ? Json(*seed_) : Json()}}.dump();
  }
  void Restore(const Json& j) {
    if (!j.at("seed").is_null()) seed_ = j.at("seed").get<std::int64_t>();
  }

 private:
  std::optional<std::int64_t> seed_;
};

class MapElitesStrategy final : public Strategy {
 public:
  explicit MapElitesStrategy(Archive archive) : archive_(std::move(archive)) {}
  std::string_view Name() const override { return "map-elites"; }

  SamplePlan Plan(std::mt19937_64& rng) override {
    SamplePlan plan;
    const int island = archive_.NextIsland();
    plan.island = island;
    if (archive_.MigrationDue()) archive_.Migrate();
    auto choice = archive_.SelectParent(island, rng);
    if (!choice) {
      plan.how = "first";
      return plan;
    }
    plan.parent_id = choice->member.candidate_id;
    plan.how = std::string(PickName(choice->how));
    for (const Member& m : archive_.SelectInspirations(island, choice->member, rng)) {
      plan.inspiration_ids.push_back(m.candidate_id);
    }
    plan.notes = fmt::format("The kernel to improve sits in cell {} of the archive (island {} of {}).",
                             archive_.CellLabel(choice->member.cell), island + 1, archive_.Options().islands);
    if (std::string directions = archive_.DirectionsText(); !directions.empty()) plan.notes += " " + directions;
    return plan;
  }

  void Record(const Evaluated& c, const std::optional<Evaluated>& parent) override {
    KF_CHECK(c.cell.size() == archive_.Options().axis_levels.size()) << "candidate " << c.candidate_id << " has "
                                                                      << c.cell.size() << " levels";
    const Member member{c.candidate_id, c.cell, c.fitness, c.passed};
    std::optional<Member> from;
    if (parent) from = Member{parent->candidate_id, parent->cell, parent->fitness, parent->passed};
    if (c.island && *c.island >= 0 && *c.island < archive_.Options().islands) {
      archive_.Insert(*c.island, member, from);
    } else {
      // Seeds (and candidates of a run resumed with fewer islands) start every island.
      for (int i = 0; i < archive_.Options().islands; ++i) archive_.Insert(i, member, i == 0 ? from : std::nullopt);
    }
  }
  bool WaitsForVerdicts() const override { return false; }
  const Archive* MaybeArchive() const override { return &archive_; }
  std::string Serialize() const override {
    return R"({"strategy":"map-elites","archive":)" + archive_.Serialize() + "}";
  }

 private:
  Archive archive_;
};

}  // namespace

Expected<std::unique_ptr<Strategy>> MakeStrategy(std::string_view name, const ArchiveOptions& archive) {
  if (name == "refine") return std::unique_ptr<Strategy>(std::make_unique<RefineStrategy>());
  if (name == "best-of-n") return std::unique_ptr<Strategy>(std::make_unique<BestOfNStrategy>());
  if (name == "map-elites") {
    KF_TRY_VOID(archive.Validate());
    return std::unique_ptr<Strategy>(std::make_unique<MapElitesStrategy>(Archive(archive)));
  }
  return core::MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("unknown strategy '{}'; use one of: {}", name, kStrategyNames));
}

Expected<std::unique_ptr<Strategy>> RestoreStrategy(const Json& j) {
  try {
    const std::string name = j.at("strategy").get<std::string>();
    if (name == "refine") {
      auto s = std::make_unique<RefineStrategy>();
      s->Restore(j);
      return std::unique_ptr<Strategy>(std::move(s));
    }
    if (name == "best-of-n") {
      auto s = std::make_unique<BestOfNStrategy>();
      s->Restore(j);
      return std::unique_ptr<Strategy>(std::move(s));
    }
    if (name == "map-elites") {
      KF_TRY(Archive archive, Archive::FromJson(j.at("archive")));
      return std::unique_ptr<Strategy>(std::make_unique<MapElitesStrategy>(std::move(archive)));
    }
    return core::MakeError(ErrorCode::kParse, fmt::format("stored strategy '{}' is unknown to this build", name));
  } catch (const Json::exception& e) {
    return core::MakeError(ErrorCode::kParse, fmt::format("stored strategy state is malformed: {}", e.what()));
  }
}

}  // namespace kf::search
