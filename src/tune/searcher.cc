// tune/searcher.cc — the four searchers. Model and bandit share one Explorer: the points'
// features and neighbours, what was proposed and reported, and the random-forest surrogate.
#include "tune/searcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>
#include <utility>

namespace kf::tune {

namespace {

constexpr std::string_view kSearcherNames = "exhaustive, random, model, bandit";

// Surrogate settings. A few hundred reports at most in practice, so the forest is refit
// from scratch whenever new reports arrived; these keep one fit plus one scoring pass in
// the low milliseconds.
constexpr int kTrees = 32;
constexpr int kMaxDepth = 10;
constexpr std::size_t kMinLeaf = 2;
// Failures train as this factor worse than the worst success: clearly bad, yet on the same
// scale, so one failure does not flatten the differences between successes.
const double kFailurePenalty = std::log(4.0);
// Above this many unproposed points the model scores a random sample of this size, plus
// the one-parameter neighbours of the best few points so refinement is never sampled away.
constexpr std::size_t kScoreLimit = 4000;
constexpr std::size_t kRefinedBest = 3;
// Past this many reports, refit only once the data grew by a sixteenth: a searcher driven to
// exhaustion on a huge space must not refit a forest of ten thousand rows per point.
constexpr std::size_t kAlwaysRefitBelow = 512;
// UCB1's exploration weight. Rewards (improvements) get rare as a search converges, so the
// textbook sqrt(2) would make the bandit round-robin; a smaller weight lets it exploit.
constexpr double kExploration = 0.5;

// Our own draws rather than std::uniform_*_distribution, whose algorithms are left to the
// standard library: a seed gives the same sequence whichever library built the binary.
std::size_t UniformIndex(std::mt19937_64& rng, std::size_t n) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t limit = max - max % n;  // a multiple of n, so r % n is unbiased below it
  std::uint64_t r = rng();
  while (r >= limit) r = rng();
  return static_cast<std::size_t>(r % n);
}

/// Proposed and reported points; enforces Report's contract for every searcher.
class Ledger {
 public:
  explicit Ledger(std::size_t points) : state_(points, State::kUnproposed) {}

  bool proposed(std::size_t point) const { return state_[point] != State::kUnproposed; }
  void Propose(std::size_t point) {
    KF_CHECK(state_[point] == State::kUnproposed) << "point " << point << " proposed twice";
    state_[point] = State::kPending;
  }
  void Report(std::size_t point, std::optional<double> cost) {
    KF_CHECK(point < state_.size()) << "point " << point << " of " << state_.size();
    KF_CHECK(state_[point] == State::kPending)
        << "point " << point << (state_[point] == State::kReported ? " was already reported" : " was never proposed");
    KF_CHECK(!cost || (std::isfinite(*cost) && *cost > 0)) << "cost " << *cost << " of point " << point;
    state_[point] = State::kReported;
  }

 private:
  enum class State : std::uint8_t { kUnproposed, kPending, kReported };
  std::vector<State> state_;
};

class ExhaustiveSearcher final : public Searcher {
 public:
  explicit ExhaustiveSearcher(std::size_t points) : points_(points), ledger_(points) {}
  std::optional<std::size_t> Next() override {
    if (next_ == points_) return std::nullopt;
    ledger_.Propose(next_);
    return next_++;
  }
  void Report(std::size_t point, std::optional<double> cost) override { ledger_.Report(point, cost); }

 private:
  std::size_t points_;
  std::size_t next_ = 0;
  Ledger ledger_;
};

class RandomSearcher final : public Searcher {
 public:
  RandomSearcher(std::size_t points, std::uint64_t seed) : order_(points), ledger_(points) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::mt19937_64 rng(seed);
    for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[UniformIndex(rng, i)]);
  }
  std::optional<std::size_t> Next() override {
    if (next_ == order_.size()) return std::nullopt;
    ledger_.Propose(order_[next_]);
    return order_[next_++];
  }
  void Report(std::size_t point, std::optional<double> cost) override { ledger_.Report(point, cost); }

 private:
  std::vector<std::size_t> order_;
  std::size_t next_ = 0;
  Ledger ledger_;
};

/// A random forest of regression trees predicting a mean and a variance.
class Forest {
 public:
  /// Fits on `rows` (indices into the row-major `features`, `dims` wide) with `targets`.
  void Fit(const std::vector<float>& features, std::size_t dims, const std::vector<std::size_t>& rows,
           const std::vector<double>& targets, std::mt19937_64& rng) {
    // Splits work on each feature's rank among the training values: parameters take few
    // distinct values, so a node's best split comes from a histogram instead of a sort.
    dims_ = dims;
    y_ = targets;
    levels_.assign(dims, {});
    rank_.resize(rows.size() * dims);
    for (std::size_t f = 0; f < dims; ++f) {
      auto& levels = levels_[f];
      for (std::size_t row : rows) levels.push_back(features[row * dims + f]);
      std::sort(levels.begin(), levels.end());
      levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
      for (std::size_t i = 0; i < rows.size(); ++i)
        rank_[i * dims + f] = static_cast<std::uint32_t>(
            std::lower_bound(levels.begin(), levels.end(), features[rows[i] * dims + f]) - levels.begin());
    }
    trees_.assign(kTrees, {});
    std::vector<std::size_t> sample(rows.size());
    for (auto& tree : trees_) {
      for (auto& s : sample) s = UniformIndex(rng, rows.size());
      Grow(tree, sample, 0, sample.size(), 0, rng);
    }
  }

  bool fitted() const { return !trees_.empty(); }

  /// The mean over trees of each point's prediction, and the total variance: the trees'
  /// disagreement plus the spread inside the leaves, so a region seen once stays uncertain.
  void Predict(const std::vector<float>& features, const std::vector<std::size_t>& points, std::vector<double>& mean,
               std::vector<double>& variance) const {
    // Tree by tree, so one tree's nodes stay in cache while every point walks it.
    mean.assign(points.size(), 0.0);
    variance.assign(points.size(), 0.0);
    std::vector<double> leaf_var(points.size(), 0.0);
    for (const auto& tree : trees_) {
      for (std::size_t i = 0; i < points.size(); ++i) {
        const float* x = &features[points[i] * dims_];
        std::size_t n = 0;
        while (tree[n].feature >= 0) n = x[tree[n].feature] <= tree[n].threshold ? tree[n].left : tree[n].right;
        mean[i] += tree[n].mean;
        variance[i] += tree[n].mean * tree[n].mean;
        leaf_var[i] += tree[n].var;
      }
    }
    const double k = static_cast<double>(trees_.size());
    for (std::size_t i = 0; i < points.size(); ++i) {
      mean[i] /= k;
      variance[i] = std::max(0.0, variance[i] / k - mean[i] * mean[i]) + leaf_var[i] / k;
    }
  }

 private:
  struct Node {
    int feature = -1;  // -1: a leaf
    float threshold = 0;
    std::uint32_t left = 0, right = 0;
    double mean = 0, var = 0;
  };
  using Tree = std::vector<Node>;
  struct Level {  // the samples of a node that share one rank of a feature
    std::uint32_t rank;
    std::size_t count;
    double sum;
  };

  // Grows the subtree of sample[begin, end) and returns its node's position in `tree`.
  std::size_t Grow(Tree& tree, std::vector<std::size_t>& sample, std::size_t begin, std::size_t end, int depth,
                   std::mt19937_64& rng) {
    const std::size_t me = tree.size();
    tree.emplace_back();
    const std::size_t n = end - begin;
    double sum = 0, sum_sq = 0;
    for (std::size_t i = begin; i < end; ++i) {
      sum += y_[sample[i]];
      sum_sq += y_[sample[i]] * y_[sample[i]];
    }
    tree[me].mean = sum / static_cast<double>(n);
    tree[me].var = std::max(0.0, sum_sq / static_cast<double>(n) - tree[me].mean * tree[me].mean);
    if (n < 2 * kMinLeaf || depth >= kMaxDepth || tree[me].var < 1e-12) return me;

    // Random feature subsets decorrelate the trees; with few parameters, two thirds of them
    // keep each tree accurate enough. Constant features do not count towards the subset.
    const std::size_t tries = std::max<std::size_t>(1, (2 * dims_ + 2) / 3);
    std::vector<std::size_t> order(dims_);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::size_t tried = 0;
    int best_feature = -1;
    std::uint32_t best_rank = 0;  // the split sends ranks <= best_rank left
    double best_score = sum * sum / static_cast<double>(n) + 1e-12;  // a split must lower the squared error
    for (std::size_t f = 0; f < dims_ && tried < tries; ++f) {
      std::swap(order[f], order[f + UniformIndex(rng, dims_ - f)]);
      const std::size_t feature = order[f];
      CollectLevels(sample, begin, end, feature);
      if (node_levels_.size() < 2) continue;
      ++tried;
      std::size_t left_count = 0;
      double left = 0;
      for (std::size_t i = 0; i + 1 < node_levels_.size(); ++i) {
        left_count += node_levels_[i].count;
        left += node_levels_[i].sum;
        if (left_count < kMinLeaf || n - left_count < kMinLeaf) continue;
        const double nl = static_cast<double>(left_count), nr = static_cast<double>(n - left_count);
        // Maximizing sum_l^2/n_l + sum_r^2/n_r minimizes the children's squared error.
        const double score = left * left / nl + (sum - left) * (sum - left) / nr;
        if (score > best_score) {
          best_score = score;
          best_feature = static_cast<int>(feature);
          best_rank = node_levels_[i].rank;
          // Halfway to the next value present here, so unseen values in between split evenly.
          const auto& levels = levels_[feature];
          tree[me].threshold = levels[best_rank] + (levels[node_levels_[i + 1].rank] - levels[best_rank]) / 2;
        }
      }
    }
    if (best_feature < 0) return me;

    const auto f = static_cast<std::size_t>(best_feature);
    const auto mid = std::partition(sample.begin() + static_cast<std::ptrdiff_t>(begin),
                                    sample.begin() + static_cast<std::ptrdiff_t>(end),
                                    [&](std::size_t s) { return rank_[s * dims_ + f] <= best_rank; });
    const auto split = static_cast<std::size_t>(mid - sample.begin());
    tree[me].feature = best_feature;
    const std::size_t left = Grow(tree, sample, begin, split, depth + 1, rng);
    const std::size_t right = Grow(tree, sample, split, end, depth + 1, rng);
    tree[me].left = static_cast<std::uint32_t>(left);
    tree[me].right = static_cast<std::uint32_t>(right);
    return me;
  }

  // Fills node_levels_ with the ranks of `feature` present in sample[begin, end), ascending.
  void CollectLevels(const std::vector<std::size_t>& sample, std::size_t begin, std::size_t end, std::size_t feature) {
    node_levels_.clear();
    const std::size_t n = end - begin, bins = levels_[feature].size();
    if (4 * n >= bins) {  // a histogram over every rank is cheaper than a sort
      bin_count_.assign(bins, 0);
      bin_sum_.assign(bins, 0.0);
      for (std::size_t i = begin; i < end; ++i) {
        const std::uint32_t r = rank_[sample[i] * dims_ + feature];
        ++bin_count_[r];
        bin_sum_[r] += y_[sample[i]];
      }
      for (std::uint32_t r = 0; r < bins; ++r)
        if (bin_count_[r]) node_levels_.push_back({r, bin_count_[r], bin_sum_[r]});
      return;
    }
    pairs_.clear();
    for (std::size_t i = begin; i < end; ++i) pairs_.emplace_back(rank_[sample[i] * dims_ + feature], y_[sample[i]]);
    std::sort(pairs_.begin(), pairs_.end());
    for (const auto& [r, y] : pairs_) {
      if (node_levels_.empty() || node_levels_.back().rank != r) node_levels_.push_back({r, 0, 0.0});
      ++node_levels_.back().count;
      node_levels_.back().sum += y;
    }
  }

  std::size_t dims_ = 0;
  std::vector<std::vector<float>> levels_;  // each feature's distinct training values, ascending
  std::vector<std::uint32_t> rank_;         // each training row's rank in levels_, row-major
  std::vector<double> y_;                   // the training targets
  std::vector<Tree> trees_;
  // Scratch space of Grow, kept to avoid allocating per node.
  std::vector<Level> node_levels_;
  std::vector<std::size_t> bin_count_;
  std::vector<double> bin_sum_;
  std::vector<std::pair<std::uint32_t, double>> pairs_;
};

// Expected improvement below `best` of a normal(mean, variance) prediction.
double ExpectedImprovement(double best, double mean, double variance) {
  const double gain = best - mean;
  if (variance <= 1e-18) return std::max(gain, 0.0);
  const double sd = std::sqrt(variance);
  const double z = gain / sd;
  const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
  const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2.0 * 3.14159265358979323846);
  return gain * cdf + sd * pdf;
}

struct ConfigPtrHash {
  std::size_t operator()(const Config* c) const {
    std::size_t h = 1469598103934665603ull;
    for (std::int64_t v : *c) h = (h ^ static_cast<std::size_t>(v)) * 1099511628211ull;
    return h;
  }
};
struct ConfigPtrEqual {
  bool operator()(const Config* a, const Config* b) const { return *a == *b; }
};

/// What model and bandit share: the points' geometry, the proposals and reports, and the
/// surrogate fitted on every report whichever arm proposed the point.
class Explorer {
 public:
  Explorer(const std::vector<Config>& points, std::uint64_t seed)
      : points_(points), dims_(points.front().size()), ledger_(points.size()), rng_(seed) {
    features_.resize(points.size() * dims_);
    values_.resize(dims_);
    for (std::size_t p = 0; p < points.size(); ++p) {
      KF_CHECK(points[p].size() == dims_) << "point " << p << " has " << points[p].size() << " values, not " << dims_;
      for (std::size_t d = 0; d < dims_; ++d) {
        // log2, as the header promises: kernel parameters are mostly powers of two. The trees
        // only use each feature's order, so the signed form just keeps zero and negatives
        // ordered instead of undefined.
        const double v = static_cast<double>(points[p][d]);
        features_[p * dims_ + d] = static_cast<float>(std::copysign(std::log2(1 + std::abs(v)), v));
        values_[d].push_back(points[p][d]);
      }
      index_.emplace(&points[p], p);
    }
    for (auto& v : values_) {
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
    }
    pool_.resize(points.size());
    std::iota(pool_.begin(), pool_.end(), std::size_t{0});
    pool_pos_ = pool_;
    stamp_.assign(points.size(), 0);
    // The initial design: enough random points to give every parameter a few splits.
    initial_design_ = std::min(points.size(), std::max<std::size_t>(8, 2 * dims_));
  }

  bool exhausted() const { return pool_.empty(); }
  std::size_t proposed() const { return points_.size() - pool_.size(); }
  std::size_t initial_design() const { return initial_design_; }

  std::size_t TakeRandom() {
    const std::size_t p = pool_[UniformIndex(rng_, pool_.size())];
    Take(p);
    return p;
  }

  /// The unproposed point of highest expected improvement; nullopt until something succeeded.
  std::optional<std::size_t> TakeByModel() {
    if (top_.empty()) return std::nullopt;
    MaybeRefit();
    const std::vector<std::size_t>& candidates = Candidates();
    const double best = std::log(top_.front().first);
    forest_.Predict(features_, candidates, mean_, variance_);
    std::size_t pick = 0;
    double pick_ei = -1;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const double ei = ExpectedImprovement(best, mean_[i], variance_[i]);
      // Where the forest sees no chance of improvement anywhere, the lowest mean still ranks.
      if (ei > pick_ei || (ei == pick_ei && mean_[i] < mean_[pick])) {
        pick = i;
        pick_ei = ei;
      }
    }
    pick = candidates[pick];
    Take(pick);
    return pick;
  }

  /// An unproposed point one position away from the best point in one parameter (in that
  /// parameter's sorted distinct values); nullopt when there is none or nothing succeeded.
  std::optional<std::size_t> TakeNeighbourOfBest() {
    if (top_.empty()) return std::nullopt;
    std::vector<std::size_t> found;
    ForEachNeighbour(top_.front().second, /*adjacent_only=*/true, [&](std::size_t p) { found.push_back(p); });
    if (found.empty()) return std::nullopt;
    const std::size_t p = found[UniformIndex(rng_, found.size())];
    Take(p);
    return p;
  }

  /// Records a report; true when it beat every success reported before.
  bool Record(std::size_t point, std::optional<double> cost) {
    ledger_.Report(point, cost);
    reports_.emplace_back(point, cost);
    if (!cost) return false;
    worst_cost_ = std::max(worst_cost_, *cost);
    const bool improved = top_.empty() || *cost < top_.front().first;
    top_.emplace_back(*cost, point);
    std::sort(top_.begin(), top_.end());
    if (top_.size() > kRefinedBest) top_.pop_back();
    return improved;
  }

 private:
  void Take(std::size_t p) {
    ledger_.Propose(p);
    // Swap-remove keeps a uniform draw from the pool O(1).
    const std::size_t at = pool_pos_[p];
    pool_[at] = pool_.back();
    pool_pos_[pool_[at]] = at;
    pool_.pop_back();
  }

  void MaybeRefit() {
    const std::size_t fresh = reports_.size() - fitted_reports_;
    if (forest_.fitted() && (fresh == 0 || (fitted_reports_ >= kAlwaysRefitBelow && fresh * 16 < fitted_reports_)))
      return;
    std::vector<std::size_t> rows;
    std::vector<double> targets;
    const double failed = std::log(worst_cost_) + kFailurePenalty;
    for (const auto& [point, cost] : reports_) {
      rows.push_back(point);
      targets.push_back(cost ? std::log(*cost) : failed);
    }
    forest_.Fit(features_, dims_, rows, targets, rng_);
    fitted_reports_ = reports_.size();
  }

  // The points to score: every unproposed one, or a random sample plus the neighbours of the
  // best few points when there are too many.
  const std::vector<std::size_t>& Candidates() {
    if (pool_.size() <= kScoreLimit) return pool_;
    candidates_.clear();
    ++stamp_now_;
    auto add = [&](std::size_t p) {
      if (stamp_[p] == stamp_now_) return;
      stamp_[p] = stamp_now_;
      candidates_.push_back(p);
    };
    for (const auto& [cost, point] : top_) ForEachNeighbour(point, /*adjacent_only=*/false, add);
    for (std::size_t i = 0; i < kScoreLimit; ++i) add(pool_[UniformIndex(rng_, pool_.size())]);
    return candidates_;
  }

  // Calls `visit` with each unproposed point that differs from `center` in one parameter: by
  // one position in its sorted distinct values when `adjacent_only`, by any value otherwise.
  void ForEachNeighbour(std::size_t center, bool adjacent_only, const std::function<void(std::size_t)>& visit) {
    Config probe = points_[center];
    for (std::size_t d = 0; d < dims_; ++d) {
      const auto& values = values_[d];
      const auto at =
          static_cast<std::size_t>(std::lower_bound(values.begin(), values.end(), probe[d]) - values.begin());
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (i == at || (adjacent_only && i + 1 != at && i != at + 1)) continue;
        probe[d] = values[i];
        const auto it = index_.find(&probe);
        if (it != index_.end() && !ledger_.proposed(it->second)) visit(it->second);
      }
      probe[d] = points_[center][d];
    }
  }

  const std::vector<Config>& points_;
  std::size_t dims_;
  std::vector<float> features_;                   // row-major, points x dims
  std::vector<std::vector<std::int64_t>> values_;  // each parameter's sorted distinct values
  std::unordered_map<const Config*, std::size_t, ConfigPtrHash, ConfigPtrEqual> index_;
  std::size_t initial_design_ = 0;

  Ledger ledger_;
  std::vector<std::size_t> pool_;      // unproposed points, in no particular order
  std::vector<std::size_t> pool_pos_;  // each unproposed point's position in pool_
  std::vector<std::pair<std::size_t, std::optional<double>>> reports_;
  std::vector<std::pair<double, std::size_t>> top_;  // the best successes, cheapest first
  double worst_cost_ = 0;

  Forest forest_;
  std::size_t fitted_reports_ = 0;
  std::vector<std::size_t> candidates_;
  std::vector<double> mean_, variance_;  // the forest's predictions at candidates_
  std::vector<std::uint32_t> stamp_;  // stamp_[p] == stamp_now_: p is already a candidate
  std::uint32_t stamp_now_ = 0;
  std::mt19937_64 rng_;
};

class ModelSearcher final : public Searcher {
 public:
  ModelSearcher(const std::vector<Config>& points, std::uint64_t seed) : explorer_(points, seed) {}
  std::optional<std::size_t> Next() override {
    if (explorer_.exhausted()) return std::nullopt;
    if (explorer_.proposed() >= explorer_.initial_design())
      if (auto p = explorer_.TakeByModel()) return p;
    return explorer_.TakeRandom();
  }
  void Report(std::size_t point, std::optional<double> cost) override { explorer_.Record(point, cost); }

 private:
  Explorer explorer_;
};

class BanditSearcher final : public Searcher {
 public:
  BanditSearcher(const std::vector<Config>& points, std::uint64_t seed)
      : explorer_(points, seed), arm_of_(points.size(), kNoArm) {}

  std::optional<std::size_t> Next() override {
    if (explorer_.exhausted()) return std::nullopt;
    // The initial design belongs to no arm: early improvements are easy and would flatter
    // whichever arm happened to propose them.
    if (explorer_.proposed() < explorer_.initial_design()) return explorer_.TakeRandom();
    const std::size_t arm = ChooseArm();
    std::optional<std::size_t> p;
    if (arm == kModel) p = explorer_.TakeByModel();
    if (arm == kLocal) p = explorer_.TakeNeighbourOfBest();
    if (!p) p = explorer_.TakeRandom();
    arm_of_[*p] = static_cast<std::int8_t>(arm);
    ++pulls_[arm];
    return p;
  }

  void Report(std::size_t point, std::optional<double> cost) override {
    const bool improved = explorer_.Record(point, cost);
    if (arm_of_[point] == kNoArm) return;
    const auto arm = static_cast<std::size_t>(arm_of_[point]);
    ++reported_[arm];
    if (improved) rewards_[arm] += 1;
  }

 private:
  static constexpr std::int8_t kNoArm = -1;
  static constexpr std::size_t kRandom = 0, kModel = 1, kLocal = 2, kArms = 3;

  // UCB1 with pulls counted at proposal: pending points already damp an arm's bonus, so a
  // batch of Next calls spreads over the arms. Untried arms go first, model before local.
  std::size_t ChooseArm() const {
    for (std::size_t arm : {kModel, kLocal, kRandom})
      if (pulls_[arm] == 0) return arm;
    const double total = static_cast<double>(pulls_[0] + pulls_[1] + pulls_[2]);
    std::size_t pick = kModel;
    double pick_score = -1;
    for (std::size_t arm : {kModel, kLocal, kRandom}) {
      const double mean = reported_[arm] ? rewards_[arm] / static_cast<double>(reported_[arm]) : 1.0;
      const double score = mean + kExploration * std::sqrt(2.0 * std::log(total) / static_cast<double>(pulls_[arm]));
      if (score > pick_score) {
        pick = arm;
        pick_score = score;
      }
    }
    return pick;
  }

  Explorer explorer_;
  std::vector<std::int8_t> arm_of_;  // the arm that proposed each point, kNoArm for the initial design
  std::array<std::size_t, kArms> pulls_{};
  std::array<std::size_t, kArms> reported_{};
  std::array<double, kArms> rewards_{};
};

}  // namespace

core::Expected<SearcherKind> ParseSearcherKind(std::string_view name) {
  for (SearcherKind kind :
       {SearcherKind::kExhaustive, SearcherKind::kRandom, SearcherKind::kModel, SearcherKind::kBandit})
    if (name == SearcherName(kind)) return kind;
  return core::MakeError(core::ErrorCode::kInvalidArgument,
                         fmt::format("unknown searcher '{}'; use one of: {}", name, kSearcherNames));
}

std::string_view SearcherName(SearcherKind kind) {
  switch (kind) {
    case SearcherKind::kExhaustive: return "exhaustive";
    case SearcherKind::kRandom: return "random";
    case SearcherKind::kModel: return "model";
    case SearcherKind::kBandit: return "bandit";
  }
  return "unknown";
}

SearcherKind DefaultSearcher(std::size_t points, std::size_t budget) {
  return points <= kExhaustiveUpTo && budget >= points ? SearcherKind::kExhaustive : SearcherKind::kBandit;
}

std::unique_ptr<Searcher> MakeSearcher(SearcherKind kind, const std::vector<Config>& points, std::uint64_t seed) {
  KF_CHECK(!points.empty()) << "a searcher needs at least one point";
  switch (kind) {
    case SearcherKind::kExhaustive: return std::make_unique<ExhaustiveSearcher>(points.size());
    case SearcherKind::kRandom: return std::make_unique<RandomSearcher>(points.size(), seed);
    case SearcherKind::kModel: return std::make_unique<ModelSearcher>(points, seed);
    case SearcherKind::kBandit: return std::make_unique<BanditSearcher>(points, seed);
  }
  KF_CHECK(false) << "unknown searcher kind " << static_cast<int>(kind);
  return nullptr;
}

}  // namespace kf::tune
