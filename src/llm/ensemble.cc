// Ensemble specs from the command line, from files and from stored JSON, and the model picker.
//
// The file and the stored JSON share one reader: JSON is YAML, so EnsembleSpec::FromJson feeds
// its dump through the same validation as a user's file. The command line's list has its own
// syntax but the same range checks.
#include "llm/ensemble.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <span>
#include <tuple>
#include <variant>

#include "core/yaml.h"
#include "core/fs.h"

namespace kf::llm {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr char kWeighted[] = "weighted";
constexpr char kUcb[] = "ucb";

// ---------------------------------------------------------------------------------------------
// Range checks shared by every source of a spec: each returns what is wrong, or "" when valid.

std::string WeightProblem(double weight) {
  if (std::isfinite(weight) && weight > 0) return "";
  return fmt::format("weight must be a positive finite number (a relative share of requests), got {}", weight);
}

std::string TemperatureProblem(double temperature) {
  if (std::isfinite(temperature) && temperature >= 0 && temperature <= 2) return "";
  return fmt::format("temperature must be between 0 and 2, got {}", temperature);
}

std::string MaxTokensProblem(std::int64_t max_tokens) {
  if (max_tokens >= 1 && max_tokens <= std::numeric_limits<int>::max()) return "";
  return fmt::format("max_tokens must be a positive integer, got {}", max_tokens);
}

std::string ExplorationProblem(double exploration) {
  if (std::isfinite(exploration) && exploration >= 0) return "";
  return fmt::format("ucb_exploration must be a finite number >= 0 (0: none; 1: UCB1's usual amount), got {}",
                     exploration);
}

std::string DuplicateProblem(const std::string& model, std::string_view first_at) {
  return fmt::format("model '{}' is listed twice (first {}); list each model once and raise its weight instead", model,
                     first_at);
}

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  std::size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// ---------------------------------------------------------------------------------------------
// The file (and stored JSON) reader. Like task.yaml's loader it reports every problem at once,
// each at its node's line and column.

struct Problem {
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string message;
};


constexpr std::string_view kTopKeys[] = {"models", "selection", "ucb_exploration"};
constexpr std::string_view kModelKeys[] = {"model", "weight", "temperature", "max_tokens"};

class SpecReader {
 public:
  explicit SpecReader(std::string source) : source_(std::move(source)) {}

  core::Expected<EnsembleSpec> Read(const std::string& text) {
    try {
      ReadRoot(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      Add(e.mark, fmt::format("YAML syntax error: {}", e.msg));
    }
    if (!problems_.empty()) return ToError();
    return std::move(spec_);
  }

 private:
  void Add(const YAML::Mark& mark, std::string message) {
    bool known = !mark.is_null();
    problems_.push_back({known ? mark.line + 1 : 0, known ? mark.column + 1 : 0, std::move(message)});
  }
  void Add(const YAML::Node& node, std::string message) { Add(node.Mark(), std::move(message)); }
  // Reports `problem` at node unless it is empty; returns whether it was empty.
  bool Check(const YAML::Node& node, std::string_view where, std::string problem) {
    if (problem.empty()) return true;
    Add(node, fmt::format("{}: {}", where, problem));
    return false;
  }

  core::Error ToError() const {
    std::vector<Problem> sorted = problems_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::string message = fmt::format("{} problem{} in {}:", sorted.size(), sorted.size() == 1 ? "" : "s", source_);
    for (const Problem& p : sorted) message += fmt::format("\n{}:{}:{}: {}", source_, p.line, p.column, p.message);
    return MakeError(ErrorCode::kValidation, std::move(message));
  }

  // A map's values by key; unknown and repeated keys are reported.
  std::map<std::string, YAML::Node> Entries(const YAML::Node& map, std::string_view where,
                                            std::span<const std::string_view> allowed) {
    std::map<std::string, YAML::Node> entries;
    for (auto it = map.begin(); it != map.end(); ++it) {
      YAML::Node key = it->first;  // a copy: the iterator hands out a temporary pair
      if (!key.IsScalar()) {
        Add(key, fmt::format("{}: keys must be plain names, got {}", where, core::DescribeYamlNode(key)));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        Add(key, fmt::format("{}: unknown key '{}'; expected one of {}", where, name, fmt::join(allowed, ", ")));
        continue;
      }
      auto [pos, inserted] = entries.emplace(name, it->second);
      if (!inserted) {
        Add(key, fmt::format("{}: key '{}' appears twice (first at line {}); keep one", where, name,
                             pos->second.Mark().line + 1));
      }
    }
    return entries;
  }

  std::optional<double> ReadNumber(const YAML::Node& node, std::string_view what) {
    double value = 0;
    if (node.IsScalar() && YAML::convert<double>::decode(node, value)) return value;
    Add(node, fmt::format("{} must be a number, got {}", what, core::DescribeYamlNode(node)));
    return std::nullopt;
  }

  std::optional<std::int64_t> ReadInteger(const YAML::Node& node, std::string_view what) {
    double value = 0;
    // Exact integers only: doubles hold every integer up to 2^53.
    if (node.IsScalar() && YAML::convert<double>::decode(node, value) && value == std::trunc(value) &&
        std::fabs(value) <= 9007199254740992.0) {
      return static_cast<std::int64_t>(value);
    }
    Add(node, fmt::format("{} must be an integer, got {}", what, core::DescribeYamlNode(node)));
    return std::nullopt;
  }

  void ReadRoot(const YAML::Node& root) {
    if (!root.IsMap()) {
      Add(root.IsNull() ? YAML::Mark() : root.Mark(),
          fmt::format("an ensemble file is a map with a 'models' list (e.g. models: [{{model: gpt-4.1-mini, "
                      "weight: 3}}]), got {}",
                      core::DescribeYamlNode(root)));
      return;
    }
    std::map<std::string, YAML::Node> top = Entries(root, "the ensemble", kTopKeys);
    if (auto it = top.find("models"); it != top.end()) {
      ReadModels(it->second);
    } else {
      Add(root, "missing 'models': list the models to use, e.g. models: [{model: gpt-4.1-mini, weight: 3}]");
    }
    if (auto it = top.find("selection"); it != top.end()) {
      if (!it->second.IsScalar()) {
        Add(it->second, fmt::format("selection must be {} or {}, got {}", kWeighted, kUcb, core::DescribeYamlNode(it->second)));
      } else if (core::Expected<Selection> selection = ParseSelection(it->second.Scalar()); selection.ok()) {
        spec_.selection = *selection;
      } else {
        Add(it->second, selection.error().message);
      }
    }
    if (auto it = top.find("ucb_exploration"); it != top.end()) {
      auto exploration = ReadNumber(it->second, "ucb_exploration");
      if (exploration && Check(it->second, "the ensemble", ExplorationProblem(*exploration))) {
        spec_.ucb_exploration = *exploration;
      }
    }
  }

  void ReadModels(const YAML::Node& node) {
    if (!node.IsSequence() || node.size() == 0) {
      Add(node, fmt::format("'models' must be a non-empty list of models, got {}", core::DescribeYamlNode(node)));
      return;
    }
    std::map<std::string, int> first_line;
    for (std::size_t i = 0; i < node.size(); ++i) {
      YAML::Node item = node[i];
      std::optional<ModelSpec> model = ReadModel(item, fmt::format("models[{}]", i));
      if (!model) continue;
      auto [pos, inserted] = first_line.emplace(model->model, item.Mark().line + 1);
      if (!inserted) {
        Add(item,
            fmt::format("models[{}]: {}", i, DuplicateProblem(model->model, fmt::format("at line {}", pos->second))));
        continue;
      }
      spec_.models.push_back(std::move(*model));
    }
  }

  std::optional<ModelSpec> ReadModel(const YAML::Node& item, const std::string& index) {
    ModelSpec model;
    if (item.IsScalar()) {
      model.model = Trim(item.Scalar());
      if (!model.model.empty()) return model;
      Add(item, fmt::format("{}: the model name is empty; name a model, e.g. gpt-4.1-mini", index));
      return std::nullopt;
    }
    if (!item.IsMap()) {
      Add(item, fmt::format("{} must be a model name or a map with 'model' and optional {}, {}, {}; got {}", index,
                            kModelKeys[1], kModelKeys[2], kModelKeys[3], core::DescribeYamlNode(item)));
      return std::nullopt;
    }
    std::map<std::string, YAML::Node> fields = Entries(item, index, kModelKeys);
    auto name = fields.find("model");
    if (name == fields.end()) {
      Add(item, fmt::format("{} has no 'model': name the model, e.g. model: gpt-4.1-mini", index));
      return std::nullopt;
    }
    if (!name->second.IsScalar() || Trim(name->second.Scalar()).empty()) {
      Add(name->second,
          fmt::format("{}: 'model' must be a model name such as gpt-4.1-mini, got {}", index, core::DescribeYamlNode(name->second)));
      return std::nullopt;
    }
    model.model = Trim(name->second.Scalar());
    std::string where = fmt::format("{} ({})", index, model.model);
    // Every field is checked (so all its problems are reported) before the entry is dropped.
    bool ok = true;
    if (auto it = fields.find("weight"); it != fields.end()) {
      auto weight = ReadNumber(it->second, where + ": weight");
      if (weight && Check(it->second, where, WeightProblem(*weight))) {
        model.weight = *weight;
      } else {
        ok = false;
      }
    }
    if (auto it = fields.find("temperature"); it != fields.end()) {
      auto temperature = ReadNumber(it->second, where + ": temperature");
      if (temperature && Check(it->second, where, TemperatureProblem(*temperature))) {
        model.temperature = temperature;
      } else {
        ok = false;
      }
    }
    if (auto it = fields.find("max_tokens"); it != fields.end()) {
      auto max_tokens = ReadInteger(it->second, where + ": max_tokens");
      if (max_tokens && Check(it->second, where, MaxTokensProblem(*max_tokens))) {
        model.max_tokens = static_cast<int>(*max_tokens);
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return model;
  }

  std::string source_;
  std::vector<Problem> problems_;
  EnsembleSpec spec_;
};

// ---------------------------------------------------------------------------------------------
// The command line's list.

// One MODEL[@WEIGHT] item; returns the problem text on failure.
std::variant<ModelSpec, std::string> ParseItem(std::string_view item) {
  ModelSpec model;
  std::size_t at = item.rfind('@');
  model.model = std::string(Trim(item.substr(0, at)));
  if (model.model.empty()) {
    return std::string("the model name is empty; write MODEL or MODEL@WEIGHT, e.g. gpt-4.1-mini@3");
  }
  if (at == std::string_view::npos) return model;
  std::string_view weight_text = Trim(item.substr(at + 1));
  auto [end, ec] = std::from_chars(weight_text.data(), weight_text.data() + weight_text.size(), model.weight);
  if (weight_text.empty() || ec != std::errc() || end != weight_text.data() + weight_text.size()) {
    return fmt::format(
        "'{}' after '@' is not a weight; write MODEL@WEIGHT with a number (gpt-4.1-mini@3), or, when "
        "'@' is part of the model's name, add a weight: {}@1",
        weight_text, Trim(item));
  }
  if (std::string problem = WeightProblem(model.weight); !problem.empty()) return problem;
  return model;
}

// ---------------------------------------------------------------------------------------------
// Stored picker state.

core::Expected<double> StoredAmount(const core::Json& arm, const char* key, std::size_t index) {
  auto it = arm.find(key);
  if (it == arm.end() || !it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0) {
    return MakeError(ErrorCode::kValidation,
                     fmt::format("stored model picker: arms[{}].{} must be a finite number >= 0", index, key));
  }
  return it->get<double>();
}

}  // namespace

const char* SelectionName(Selection selection) { return selection == Selection::kUcb ? kUcb : kWeighted; }

core::Expected<Selection> ParseSelection(std::string_view name) {
  if (name == kWeighted) return Selection::kWeighted;
  if (name == kUcb) return Selection::kUcb;
  return MakeError(ErrorCode::kInvalidArgument,
                   fmt::format("unknown selection '{}'; use {} (requests shared by weight) or {} (a bandit that "
                               "favours the most improvement per dollar)",
                               name, kWeighted, kUcb));
}

core::Json EnsembleSpec::ToJson() const {
  core::Json models_json = core::Json::array();
  for (const ModelSpec& m : models) {
    core::Json entry = {{"model", m.model}, {"weight", m.weight}};
    if (m.temperature) entry["temperature"] = *m.temperature;
    if (m.max_tokens) entry["max_tokens"] = *m.max_tokens;
    models_json.push_back(std::move(entry));
  }
  return {{"models", std::move(models_json)},
          {"selection", SelectionName(selection)},
          {"ucb_exploration", ucb_exploration}};
}

core::Expected<EnsembleSpec> EnsembleSpec::FromJson(const core::Json& json) {
  // Indented so that a problem's line points at its entry.
  return SpecReader("stored ensemble (run configuration)").Read(json.dump(2));
}

core::Expected<EnsembleSpec> LoadEnsembleFile(const std::filesystem::path& path) {
  KF_TRY(std::string text, core::ReadFile(path));
  return SpecReader(path.string()).Read(text);
}

core::Expected<EnsembleSpec> ParseModelList(std::string_view list) {
  EnsembleSpec spec;
  std::vector<std::string> problems;
  if (Trim(list).empty()) {
    problems.push_back("no model given; write e.g. gpt-4.1-mini, or gpt-4.1-mini@3,anthropic:claude-sonnet-4-5@1");
  } else {
    std::map<std::string, std::size_t> first_item;
    std::size_t index = 1;
    for (std::size_t begin = 0; begin <= list.size(); ++index) {
      std::size_t end = std::min(list.find(',', begin), list.size());
      std::string_view item = Trim(list.substr(begin, end - begin));
      begin = end + 1;
      if (item.empty()) {
        problems.push_back(fmt::format("item {} is empty; separate models with single commas", index));
        continue;
      }
      auto parsed = ParseItem(item);
      if (const std::string* problem = std::get_if<std::string>(&parsed)) {
        problems.push_back(fmt::format("item {} '{}': {}", index, item, *problem));
        continue;
      }
      ModelSpec& model = std::get<ModelSpec>(parsed);
      auto [pos, inserted] = first_item.emplace(model.model, index);
      if (!inserted) {
        problems.push_back(fmt::format("item {} '{}': {}", index, item,
                                       DuplicateProblem(model.model, fmt::format("as item {}", pos->second))));
        continue;
      }
      spec.models.push_back(std::move(model));
    }
  }
  if (problems.empty()) return spec;
  return MakeError(ErrorCode::kInvalidArgument, fmt::format("model list '{}': {}", list, fmt::join(problems, "; ")));
}

double BanditCostUsd(const Completion& completion) {
  return completion.priced ? completion.cost_usd : CostUsd(kUnpricedPrice, completion.usage);
}

// ---------------------------------------------------------------------------------------------
// ModelPicker

ModelPicker::ModelPicker(EnsembleSpec spec) : spec_(std::move(spec)), arms_(spec_.models.size()) {
  KF_CHECK(!spec_.models.empty()) << "a ModelPicker needs at least one model";
}

std::size_t ModelPicker::Pick(std::mt19937_64& rng) {
  std::size_t arm = spec_.selection == Selection::kUcb ? PickUcb() : PickWeighted(rng);
  ++arms_[arm].pending;
  return arm;
}

std::size_t ModelPicker::PickWeighted(std::mt19937_64& rng) const {
  double total_weight = 0;
  for (const ModelSpec& m : spec_.models) total_weight += m.weight;
  // 53 random bits as a double in [0, 1): the same draw on every platform, which
  // std::uniform_real_distribution does not promise.
  double target = static_cast<double>(rng() >> 11) * 0x1.0p-53 * total_weight;
  double cumulative = 0;
  for (std::size_t i = 0; i < spec_.models.size(); ++i) {
    cumulative += spec_.models[i].weight;
    if (target < cumulative) return i;
  }
  return spec_.models.size() - 1;  // target rounded up to the total
}

std::size_t ModelPicker::PickUcb() const {
  double total_picks = 0;
  for (std::size_t i = 0; i < arms_.size(); ++i) {
    const ArmStats& a = arms_[i];
    if (a.samples + a.pending == 0) return i;
    total_picks += static_cast<double>(a.samples + a.pending);
  }
  double best_rate = 0;
  for (std::size_t i = 0; i < arms_.size(); ++i) best_rate = std::max(best_rate, ImprovementPerUsd(i));
  std::size_t best_arm = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < arms_.size(); ++i) {
    const ArmStats& a = arms_[i];
    double value = a.samples == 0 ? 1.0 : best_rate > 0 ? ImprovementPerUsd(i) / best_rate : 0.0;
    double picks = static_cast<double>(a.samples + a.pending);
    double score = value + spec_.ucb_exploration * std::sqrt(2 * std::log(total_picks) / picks);
    if (score > best_score) {
      best_score = score;
      best_arm = i;
    }
  }
  return best_arm;
}

void ModelPicker::Record(std::size_t arm, double improvement, double cost_usd) {
  KF_CHECK(arm < arms_.size()) << "arm " << arm << " of " << arms_.size();
  KF_CHECK(std::isfinite(improvement)) << "improvement " << improvement;
  KF_CHECK(std::isfinite(cost_usd) && cost_usd >= 0) << "cost_usd " << cost_usd;
  ArmStats& a = arms_[arm];
  if (a.pending > 0) --a.pending;
  ++a.samples;
  a.total_improvement += std::max(0.0, improvement);
  a.total_cost_usd += cost_usd;
}

void ModelPicker::Cancel(std::size_t arm) {
  KF_CHECK(arm < arms_.size()) << "arm " << arm << " of " << arms_.size();
  KF_CHECK(arms_[arm].pending > 0) << "Cancel without a pending Pick of arm " << arm;
  --arms_[arm].pending;
}

const ArmStats& ModelPicker::Stats(std::size_t arm) const {
  KF_CHECK(arm < arms_.size()) << "arm " << arm << " of " << arms_.size();
  return arms_[arm];
}

double ModelPicker::ImprovementPerUsd(std::size_t arm) const {
  const ArmStats& a = Stats(arm);
  if (a.samples == 0) return 0;
  return a.total_improvement / std::max(a.total_cost_usd, static_cast<double>(a.samples) * kMinSampleCostUsd);
}

core::Json ModelPicker::ToJson() const {
  core::Json arms_json = core::Json::array();
  for (const ArmStats& a : arms_) {
    arms_json.push_back(
        {{"samples", a.samples}, {"total_improvement", a.total_improvement}, {"total_cost_usd", a.total_cost_usd}});
  }
  return {{"ensemble", spec_.ToJson()}, {"arms", std::move(arms_json)}};
}

core::Expected<ModelPicker> ModelPicker::FromJson(const core::Json& json) {
  if (!json.is_object() || !json.contains("ensemble") || !json.contains("arms")) {
    return MakeError(ErrorCode::kValidation, "stored model picker: expected an object with 'ensemble' and 'arms'");
  }
  KF_TRY(EnsembleSpec spec, EnsembleSpec::FromJson(json["ensemble"]));
  const core::Json& arms_json = json["arms"];
  if (!arms_json.is_array() || arms_json.size() != spec.models.size()) {
    return MakeError(
        ErrorCode::kValidation,
        fmt::format("stored model picker: 'arms' must be a list with one entry per model ({})", spec.models.size()));
  }
  ModelPicker picker(std::move(spec));
  for (std::size_t i = 0; i < arms_json.size(); ++i) {
    const core::Json& arm = arms_json[i];
    auto samples = arm.find("samples");  // end() for a non-object too
    if (samples == arm.end() || !samples->is_number_integer() || samples->get<std::int64_t>() < 0) {
      return MakeError(ErrorCode::kValidation,
                       fmt::format("stored model picker: arms[{}].samples must be an integer >= 0", i));
    }
    picker.arms_[i].samples = samples->get<std::int64_t>();
    KF_TRY(picker.arms_[i].total_improvement, StoredAmount(arm, "total_improvement", i));
    KF_TRY(picker.arms_[i].total_cost_usd, StoredAmount(arm, "total_cost_usd", i));
  }
  return picker;
}

}  // namespace kf::llm
