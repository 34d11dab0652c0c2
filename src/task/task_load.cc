// LoadTask: task.yaml → Task, validating everything and reporting every problem at once.
//
// Parsing never stops at the first problem: each reader records what is wrong with the node's
// line and column and returns nullopt, and later checks skip only what depends on a broken part
// (a shape is not evaluated against an arg whose dimensions did not parse), so one mistake gives
// one message rather than a cascade.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "core/yaml.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/json.h"
#include "task/task.h"

namespace kf::task {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::MakeError;

constexpr std::string_view kTaskFile = "task.yaml";

// ---------------------------------------------------------------------------------------------
// Problems and suggestions

struct Problem {
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string message;
};

class Problems {
 public:
  void Add(const YAML::Mark& mark, std::string message) {
    bool known = !mark.is_null();
    problems_.push_back({known ? mark.line + 1 : 0, known ? mark.column + 1 : 0, std::move(message)});
  }
  void Add(const YAML::Node& node, std::string message) { Add(node.Mark(), std::move(message)); }
  std::size_t size() const { return problems_.size(); }

  core::Error ToError(const std::string& file) const {
    std::vector<Problem> sorted = problems_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::string message = fmt::format("{} problem{} in {}:", sorted.size(), sorted.size() == 1 ? "" : "s", file);
    for (const Problem& p : sorted) message += fmt::format("\n{}:{}:{}: {}", file, p.line, p.column, p.message);
    return MakeError(ErrorCode::kValidation, std::move(message));
  }

 private:
  std::vector<Problem> problems_;
};

// Optimal string alignment distance: edits, with a swap of neighbours counting as one.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean 'x'?)" for the closest candidate if it is plausibly a typo, else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string_view c : candidates) {
    std::size_t distance = EditDistance(word, c);
    if (distance < best_distance) {
      best = c;
      best_distance = distance;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  if (best.empty() || best_distance > limit || best_distance >= word.size()) return "";
  return fmt::format(" (did you mean '{}'?)", best);
}

std::string OneOf(const std::vector<std::string_view>& options) { return fmt::format("{}", fmt::join(options, ", ")); }

// ---------------------------------------------------------------------------------------------
// Typed readers: each reports a problem at the node and returns nullopt when the node is wrong.


std::optional<std::string> ReadString(Problems& problems, const YAML::Node& node, std::string_view what) {
  if (!node.IsScalar()) {
    problems.Add(node, fmt::format("{} must be a string, got {}", what, core::DescribeYamlNode(node)));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<double> ReadNumber(Problems& problems, const YAML::Node& node, std::string_view what) {
  double value = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value)) {
    problems.Add(node, fmt::format("{} must be a finite number, got {}", what, core::DescribeYamlNode(node)));
    return std::nullopt;
  }
  return value;
}

bool IsIntegral(double v) { return std::isfinite(v) && v == std::trunc(v); }

std::optional<std::int64_t> ReadInteger(Problems& problems, const YAML::Node& node, std::string_view what) {
  double value = 0;
  // Exact integers only: doubles represent every integer up to 2^53.
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !IsIntegral(value) ||
      std::fabs(value) > 9007199254740992.0) {
    problems.Add(node, fmt::format("{} must be an integer, got {}", what, core::DescribeYamlNode(node)));
    return std::nullopt;
  }
  return static_cast<std::int64_t>(value);
}

std::optional<bool> ReadBool(Problems& problems, const YAML::Node& node, std::string_view what) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    problems.Add(node, fmt::format("{} must be true or false, got {}", what, core::DescribeYamlNode(node)));
    return std::nullopt;
  }
  return value;
}

// Reads a scalar that must name one of `names`; returns its index.
std::optional<std::size_t> ReadChoice(Problems& problems, const YAML::Node& node, std::string_view what,
                                      const std::vector<std::string_view>& names) {
  auto text = ReadString(problems, node, what);
  if (!text) return std::nullopt;
  auto it = std::find(names.begin(), names.end(), *text);
  if (it != names.end()) return static_cast<std::size_t>(it - names.begin());
  problems.Add(
      node, fmt::format("unknown {} '{}'{}; expected one of {}", what, *text, DidYouMean(*text, names), OneOf(names)));
  return std::nullopt;
}

template <class T>
bool InRange(Problems& problems, const YAML::Node& node, std::string_view what, T value, T low, T high) {
  if (value >= low && value <= high) return true;
  problems.Add(node, fmt::format("{} must be between {} and {}, got {}", what, low, high, value));
  return false;
}

// A map's entries by key, with unknown and duplicate keys already reported.
class Fields {
 public:
  Fields(Problems& problems, const YAML::Node& map, std::string_view where,
         const std::vector<std::string_view>& allowed)
      : problems_(problems), map_(map), where_(where) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      YAML::Node key = it->first;  // a copy: the iterator hands out a temporary pair
      if (!key.IsScalar()) {
        problems.Add(key, fmt::format("keys in {} must be plain names, got {}", where, core::DescribeYamlNode(key)));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        problems.Add(key, fmt::format("unknown key '{}' in {}{}; expected one of {}", name, where,
                                      DidYouMean(name, allowed), OneOf(allowed)));
        continue;
      }
      auto [pos, inserted] = entries_.emplace(name, it->second);
      if (!inserted) {
        problems.Add(
            key, fmt::format("duplicate key '{}' in {} (first at line {})", name, where, pos->second.Mark().line + 1));
      }
    }
  }

  std::optional<YAML::Node> Get(std::string_view key) const {
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  /// Like Get, but reports a missing key at the map.
  std::optional<YAML::Node> Require(std::string_view key, std::string_view hint = "") const {
    auto node = Get(key);
    if (!node) problems_.Add(map_, fmt::format("missing required key '{}' in {}{}", key, where_, hint));
    return node;
  }

 private:
  Problems& problems_;
  YAML::Node map_;
  std::string where_;
  std::map<std::string, YAML::Node> entries_;
};

// ---------------------------------------------------------------------------------------------
// Names and dtypes


// Checks a name that becomes a C++ identifier in generated code.
bool CheckIdentifier(Problems& problems, const YAML::Node& node, std::string_view what, const std::string& name) {
  if (!IsCIdentifier(name)) {
    problems.Add(node, fmt::format("{} '{}' must be a C identifier (letters, digits, '_'; not starting with a digit)",
                                   what, name));
    return false;
  }
  if (IsCppKeyword(name)) {
    problems.Add(node, fmt::format("{} '{}' is a C++ keyword; choose another name", what, name));
    return false;
  }
  if (name.rfind("__", 0) == 0 ||
      (name.size() > 1 && name[0] == '_' && std::isupper(static_cast<unsigned char>(name[1])) != 0)) {
    problems.Add(node,
                 fmt::format("{} '{}' is reserved for the compiler (leading '__' or '_' and a capital)", what, name));
    return false;
  }
  return true;
}

// Whether `word` occurs in `text` as a whole identifier.
bool MentionsIdentifier(std::string_view text, std::string_view word) {
  auto is_name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; };
  for (std::size_t pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
    bool starts = pos == 0 || !is_name_char(text[pos - 1]);
    bool ends = pos + word.size() == text.size() || !is_name_char(text[pos + word.size()]);
    if (starts && ends) return true;
  }
  return false;
}

const std::vector<std::string_view> kBackendNames = {"cpu", "cuda", "sycl", "opencl", "torch"};
const std::vector<Backend> kBackends = {Backend::kCpu, Backend::kCuda, Backend::kSycl, Backend::kOpenCl,
                                        Backend::kTorch};
const std::vector<std::string_view> kDTypeNames = {"f32", "f64", "f16", "bf16", "i8", "i32", "i64", "u8"};
const std::vector<DType> kDTypes = {DType::kF32, DType::kF64, DType::kF16, DType::kBF16,
                                    DType::kI8,  DType::kI32, DType::kI64, DType::kU8};
const std::vector<std::string_view> kRoleNames = {"input", "output", "scalar"};
const std::vector<ArgRole> kRoles = {ArgRole::kInput, ArgRole::kOutput, ArgRole::kScalar};
const std::vector<std::string_view> kDistNames = {"normal", "uniform", "integers", "constant"};
const std::vector<Dist> kDists = {Dist::kNormal, Dist::kUniform, Dist::kIntegers, Dist::kConstant};

bool IsScalarDType(DType t) { return t == DType::kI32 || t == DType::kI64 || t == DType::kF32 || t == DType::kF64; }

// The values a dtype holds: integer types exactly, float types up to their largest finite value.
struct DTypeRange {
  double low, high;
  bool integral;
};
DTypeRange RangeOf(DType t) {
  switch (t) {
    case DType::kF32:
      return {-3.4028234663852886e38, 3.4028234663852886e38, false};
    case DType::kF64:
      return {-std::numeric_limits<double>::max(), std::numeric_limits<double>::max(), false};
    case DType::kF16:
      return {-65504.0, 65504.0, false};
    case DType::kBF16:
      return {-3.3895313892515355e38, 3.3895313892515355e38, false};
    case DType::kI8:
      return {-128.0, 127.0, true};
    case DType::kI32:
      return {-2147483648.0, 2147483647.0, true};
    case DType::kI64:
      return {-9007199254740992.0, 9007199254740992.0, true};  // exact in a double
    case DType::kU8:
      return {0.0, 255.0, true};
  }
  KF_CHECK(false) << "bad DType";
  return {};
}

// Reports a value that the dtype cannot hold exactly (a fraction for integers, out of range).
bool CheckFitsDType(Problems& problems, const YAML::Node& node, std::string_view what, double value, DType t) {
  DTypeRange range = RangeOf(t);
  if (range.integral && !IsIntegral(value)) {
    problems.Add(node, fmt::format("{} must be an integer for dtype {}, got {}", what, DTypeName(t), value));
    return false;
  }
  if (value < range.low || value > range.high) {
    problems.Add(node, fmt::format("{} = {} does not fit dtype {} ({} to {})", what, value, DTypeName(t), range.low,
                                   range.high));
    return false;
  }
  return true;
}

std::string FormatValue(double v) {
  if (IsIntegral(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{}", v);
}

// ---------------------------------------------------------------------------------------------
// The loader

// What the loader remembers about an arg beyond ArgSpec, for checks that need all args first.
struct ArgNodes {
  YAML::Node item;
  std::vector<YAML::Node> dims;  // one per dimension that parsed
  std::vector<std::vector<std::string>> dim_names;
  bool dims_ok = true;  // every dimension parsed and names only integer scalars
  bool ok = true;       // name, role and dtype are valid
};

class Loader {
 public:
  Loader(fs::path dir, std::string yaml_text) : dir_(std::move(dir)), yaml_text_(std::move(yaml_text)) {}

  core::Expected<Task> Load(const std::string& file_for_messages) {
    YAML::Node root;
    try {
      root = YAML::Load(yaml_text_);
    } catch (const YAML::Exception& e) {
      problems_.Add(e.mark, fmt::format("YAML syntax error: {}", e.msg));
      return problems_.ToError(file_for_messages);
    }
    if (!root.IsMap()) {
      // An empty document has no position; its problem is at the start of the file.
      if (root.IsNull()) {
        problems_.Add(YAML::Mark(), "task.yaml is empty; it needs at least name, backend, entry, args, shapes and reference");
      } else {
        problems_.Add(root, fmt::format("task.yaml must be a map of keys (name, backend, ...), got {}", core::DescribeYamlNode(root)));
      }
      return problems_.ToError(file_for_messages);
    }
    ReadTop(root);
    if (problems_.size() > 0) return problems_.ToError(file_for_messages);
    task_.content_hash = ContentHash();
    return std::move(task_);
  }

 private:
  void ReadTop(const YAML::Node& root) {
    Fields f(problems_, root, "task.yaml",
             {"name", "description", "backend", "entry", "args", "shapes", "tolerance", "reference", "seeds",
              "instructions", "targets", "timing", "correctness_trials", "timeout", "memory_limit_mb", "flops",
              "bytes", "torch"});
    task_.dir = dir_;
    if (auto n = f.Require("name")) ReadName(*n);
    if (auto n = f.Get("description")) task_.description = ReadString(problems_, *n, "description").value_or("");
    bool backend_ok = false;
    if (auto n = f.Require("backend", fmt::format(" (one of {})", OneOf(kBackendNames)))) {
      auto i = ReadChoice(problems_, *n, "backend", kBackendNames);
      backend_ok = i.has_value();
      if (i) task_.backend = kBackends[*i];
    }
    const bool torch = backend_ok && task_.backend == Backend::kTorch;
    bool entry_ok = false;
    bool args_ok = false;
    if (torch) {
      // KernelBench form: the reference module's get_inputs() makes the inputs, so the keys
      // that describe a C entry point have no meaning here.
      for (const char* key : {"entry", "args", "shapes", "flops", "bytes"}) {
        if (auto n = f.Get(key)) {
          problems_.Add(*n, fmt::format("'{}' does not apply to torch tasks: the reference module defines Model, "
                                        "get_inputs() and get_init_inputs(); input configurations go under torch: "
                                        "configs",
                                        key));
        }
      }
      ApplyTorchDefaults();
      if (auto n = f.Get("torch")) ReadTorch(*n);
      AddTorchConfigShapes();
    } else {
      if (auto n = f.Get("torch")) problems_.Add(*n, "'torch' applies only to tasks with backend: torch");
      std::optional<YAML::Node> entry_node = f.Require("entry", " (the C function a kernel defines)");
      if (entry_node) entry_ok = ReadEntry(*entry_node);
      if (auto n = f.Require("args")) args_ok = ReadArgs(*n);
      if (backend_ok && !CheckBackendParamNames()) args_ok = false;
      if (auto n = f.Require("shapes", " (a list of problem sizes, e.g. [{n: 1024}])")) ReadShapes(*n);
    }
    if (auto n = f.Get("flops"); n && !torch) ReadWorkExpr(*n, "flops", task_.flops, task_.flops_loc);
    if (auto n = f.Get("bytes"); n && !torch) ReadWorkExpr(*n, "bytes", task_.bytes, task_.bytes_loc);
    if (auto n = f.Get("tolerance")) ReadTolerance(*n);
    std::optional<YAML::Node> reference_node = f.Require("reference", " (the file with the reference implementation)");
    if (reference_node) ReadReference(*reference_node, backend_ok && entry_ok, args_ok);
    if (auto n = f.Get("seeds")) ReadSeeds(*n, backend_ok && entry_ok);
    if (auto n = f.Get("instructions")) task_.instructions = ReadString(problems_, *n, "instructions").value_or("");
    if (auto n = f.Get("targets")) ReadTargets(*n);
    if (auto n = f.Get("timing")) ReadTiming(*n);
    if (auto n = f.Get("correctness_trials")) {
      if (auto v = ReadInteger(problems_, *n, "correctness_trials");
          v && InRange<std::int64_t>(problems_, *n, "correctness_trials", *v, 1, 100)) {
        task_.correctness_trials = static_cast<int>(*v);
      }
    }
    if (auto n = f.Get("timeout")) {
      if (auto v = ReadNumber(problems_, *n, "timeout");
          v && InRange(problems_, *n, "timeout (seconds)", *v, 1e-3, 86400.0)) {
        task_.timeout_seconds = *v;
      }
    }
    if (auto n = f.Get("memory_limit_mb")) {
      constexpr std::int64_t kMaxMb = std::int64_t{1} << 30;  // 1 PiB: anything above is a typo
      if (auto v = ReadInteger(problems_, *n, "memory_limit_mb");
          v && InRange<std::int64_t>(problems_, *n, "memory_limit_mb", *v, 1, kMaxMb)) {
        task_.memory_limit_bytes = static_cast<std::uint64_t>(*v) << 20;
      }
    }
  }

  void ReadName(const YAML::Node& node) {
    auto name = ReadString(problems_, node, "name");
    if (!name) return;
    bool ok = !name->empty() && name->size() <= 100 && std::isalnum(static_cast<unsigned char>((*name)[0])) != 0 &&
              std::all_of(name->begin(), name->end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
              });
    if (!ok) {
      problems_.Add(
          node, fmt::format("name '{}' must start with a letter or digit and use only letters, digits, '_', '-', '.' "
                            "(at most 100 characters); it names run folders",
                            *name));
      return;
    }
    task_.name = *name;
  }

  bool ReadEntry(const YAML::Node& node) {
    auto entry = ReadString(problems_, node, "entry");
    if (!entry || !CheckIdentifier(problems_, node, "entry", *entry)) return false;
    if (*entry == "main") {
      problems_.Add(node, "entry cannot be 'main'; the harness defines main");
      return false;
    }
    task_.entry = *entry;
    return true;
  }

  // Returns whether every arg is valid (so EntrySignature can be shown in messages).
  bool ReadArgs(const YAML::Node& node) {
    if (!node.IsSequence() || node.size() == 0) {
      problems_.Add(node, fmt::format("args must be a non-empty list of {{name, role, dtype, shape}} maps, got {}",
                                      core::DescribeYamlNode(node)));
      return false;
    }
    std::map<std::string, int> first_line;
    for (std::size_t i = 0; i < node.size(); ++i) {
      ArgNodes nodes;
      nodes.item = node[i];
      ArgSpec arg = ReadArg(nodes, fmt::format("args[{}]", i));
      if (!arg.name.empty()) {
        auto [pos, inserted] = first_line.emplace(arg.name, arg.loc.line);
        if (!inserted) {
          problems_.Add(nodes.item, fmt::format("duplicate arg name '{}' (first at line {})", arg.name, pos->second));
          nodes.ok = false;
        }
      }
      task_.args.push_back(std::move(arg));
      arg_nodes_.push_back(std::move(nodes));
    }
    bool has_output =
        std::any_of(task_.args.begin(), task_.args.end(), [](const ArgSpec& a) { return a.role == ArgRole::kOutput; });
    bool all_ok = std::all_of(arg_nodes_.begin(), arg_nodes_.end(), [](const ArgNodes& a) { return a.ok; });
    if (all_ok && !has_output) problems_.Add(node, "args has no output; a kernel must write at least one output arg");
    CheckDimNames();
    return all_ok && has_output;
  }

  ArgSpec ReadArg(ArgNodes& nodes, const std::string& where) {
    ArgSpec arg;
    const YAML::Node& item = nodes.item;
    arg.loc = {std::string(kTaskFile), item.Mark().line + 1, item.Mark().column + 1};
    if (!item.IsMap()) {
      problems_.Add(item, fmt::format("{} must be a map like {{name: x, role: input, dtype: f32, shape: [n]}}, got {}",
                                      where, core::DescribeYamlNode(item)));
      nodes.ok = false;
      return arg;
    }
    Fields f(problems_, item, where, {"name", "role", "dtype", "shape", "init", "value"});
    if (auto n = f.Require("name")) {
      // An invalid name is still kept, so shapes and dimensions that use it do not report it again.
      auto name = ReadString(problems_, *n, "arg name");
      if (name) arg.name = *name;
      if (!name || !CheckIdentifier(problems_, *n, "arg name", *name)) nodes.ok = false;
    } else {
      nodes.ok = false;
    }
    std::string label = arg.name.empty() ? where : fmt::format("'{}'", arg.name);
    bool role_ok = false, dtype_ok = false;
    if (auto n = f.Require("role", fmt::format(" (one of {})", OneOf(kRoleNames)))) {
      auto i = ReadChoice(problems_, *n, "role", kRoleNames);
      role_ok = i.has_value();
      if (i) arg.role = kRoles[*i];
    }
    if (auto n = f.Require("dtype", fmt::format(" (one of {})", OneOf(kDTypeNames)))) {
      auto i = ReadChoice(problems_, *n, "dtype", kDTypeNames);
      dtype_ok = i.has_value();
      if (i) arg.dtype = kDTypes[*i];
    }
    nodes.ok = nodes.ok && role_ok && dtype_ok;
    nodes.dims_ok = false;
    if (!role_ok) {
      // Without a role the requirements are unknown, but what is there can still be checked.
      if (auto n = f.Get("shape")) ReadShapeDims(*n, label, arg, nodes);
      if (auto n = f.Get("init"); n && dtype_ok) ReadInit(*n, label, arg);
      return arg;
    }

    if (arg.role == ArgRole::kScalar) {
      if (dtype_ok && !IsScalarDType(arg.dtype)) {
        problems_.Add(*f.Get("dtype"), fmt::format("scalar {} has dtype {}; scalars take i32, i64, f32 or f64", label,
                                                   DTypeName(arg.dtype)));
        nodes.ok = false;
      }
      if (auto n = f.Get("shape"))
        problems_.Add(*n, fmt::format("scalar {} takes no shape (scalars are passed by value)", label));
      if (auto n = f.Get("init"))
        problems_.Add(*n, fmt::format("init applies to inputs only; scalar {} takes 'value'", label));
      if (auto n = f.Get("value")) {
        auto v = ReadNumber(problems_, *n, fmt::format("value of {}", label));
        if (v && (!dtype_ok || CheckFitsDType(problems_, *n, fmt::format("value of {}", label), *v, arg.dtype)))
          arg.default_value = *v;
      }
      return arg;
    }

    if (auto n = f.Get("value"))
      problems_.Add(*n, fmt::format("value applies to scalars only; {} is an {}", label, RoleName(arg.role)));
    if (auto n = f.Require(
            "shape", fmt::format(" ({} {} needs a shape, e.g. shape: [rows, cols])", RoleName(arg.role), label))) {
      nodes.dims_ok = ReadShapeDims(*n, label, arg, nodes);
    }
    if (dtype_ok) {
      arg.init = DTypeIsFloat(arg.dtype) ? InitSpec{} : InitSpec{.dist = Dist::kIntegers, .low = 0, .high = 9};
    }
    if (auto n = f.Get("init")) {
      if (arg.role == ArgRole::kOutput) {
        problems_.Add(*n, fmt::format("init applies to inputs only; output {} is written by the kernel", label));
      } else if (dtype_ok) {
        ReadInit(*n, label, arg);
      }
    }
    return arg;
  }

  // The backend's context parameters come first in the entry signature; an arg may not reuse
  // their names. Returns whether none does.
  bool CheckBackendParamNames() {
    std::vector<std::string_view> taken;
    if (task_.backend == Backend::kSycl) taken = {"queue"};
    if (task_.backend == Backend::kOpenCl) taken = {"context", "queue"};
    bool ok = true;
    for (std::size_t i = 0; i < task_.args.size(); ++i) {
      if (std::find(taken.begin(), taken.end(), task_.args[i].name) == taken.end()) continue;
      problems_.Add(arg_nodes_[i].item, fmt::format("arg name '{}' is taken by the {} backend's entry parameters ({}); "
                                                    "rename the arg",
                                                    task_.args[i].name, BackendName(task_.backend), OneOf(taken)));
      ok = false;
    }
    return ok;
  }

  bool ReadShapeDims(const YAML::Node& node, const std::string& label, ArgSpec& arg, ArgNodes& nodes) {
    if (!node.IsSequence() || node.size() == 0) {
      problems_.Add(node, fmt::format("shape of {} must be a non-empty list of dimensions, e.g. [rows, cols], got {}",
                                      label, core::DescribeYamlNode(node)));
      return false;
    }
    bool ok = true;
    for (std::size_t d = 0; d < node.size(); ++d) {
      YAML::Node dim = node[d];
      auto text = ReadString(problems_, dim, fmt::format("dimension {} of {}", d, label));
      if (!text) {
        ok = false;
        continue;
      }
      auto names = DimExprNames(*text);
      if (!names.ok()) {
        problems_.Add(dim, fmt::format("in {}: {}", label, names.error().message));
        ok = false;
        continue;
      }
      arg.shape.push_back(*text);
      nodes.dims.push_back(dim);
      nodes.dim_names.push_back(std::move(names).value());
    }
    return ok;
  }

  void ReadInit(const YAML::Node& node, const std::string& label, ArgSpec& arg) {
    std::string where = fmt::format("init of {}", label);
    if (!node.IsMap()) {
      problems_.Add(
          node, fmt::format("{} must be a map like {{dist: normal, mean: 0, std: 1}}, got {}", where, core::DescribeYamlNode(node)));
      return;
    }
    Fields f(problems_, node, where, {"dist", "mean", "std", "low", "high", "value"});
    auto dist_node = f.Require("dist", fmt::format(" (one of {})", OneOf(kDistNames)));
    if (!dist_node) return;
    auto index = ReadChoice(problems_, *dist_node, "dist", kDistNames);
    if (!index) return;
    InitSpec init;
    init.dist = kDists[*index];
    static const std::map<Dist, std::vector<std::string_view>> kParams = {{Dist::kNormal, {"mean", "std"}},
                                                                          {Dist::kUniform, {"low", "high"}},
                                                                          {Dist::kIntegers, {"low", "high"}},
                                                                          {Dist::kConstant, {"value"}}};
    const std::vector<std::string_view>& params = kParams.at(init.dist);
    for (std::string_view key : {"mean", "std", "low", "high", "value"}) {
      auto n = f.Get(key);
      if (n && std::find(params.begin(), params.end(), key) == params.end()) {
        problems_.Add(
            *n, fmt::format("'{}' does not apply to dist '{}' (it takes {})", key, kDistNames[*index], OneOf(params)));
      }
    }
    auto number = [&](std::string_view key, double fallback) -> std::optional<double> {
      auto n = f.Get(key);
      if (!n) return fallback;
      auto v = ReadNumber(problems_, *n, fmt::format("{} of {}", key, where));
      if (v && init.dist != Dist::kNormal &&
          !CheckFitsDType(problems_, *n, fmt::format("{} of {}", key, where), *v, arg.dtype)) {
        return std::nullopt;
      }
      return v;
    };
    bool integral_dtype = !DTypeIsFloat(arg.dtype);
    switch (init.dist) {
      case Dist::kNormal: {
        auto mean = number("mean", 0.0), stddev = number("std", 1.0);
        if (stddev && *stddev < 0)
          problems_.Add(*f.Get("std"), fmt::format("std of {} must be >= 0, got {}", where, *stddev));
        init.mean = mean.value_or(0.0);
        init.stddev = stddev.value_or(1.0);
        break;
      }
      case Dist::kUniform:
      case Dist::kIntegers: {
        bool integers = init.dist == Dist::kIntegers;
        auto low = number("low", 0.0), high = number("high", integers ? 9.0 : 1.0);
        if (integers) {
          for (auto* bound : {&low, &high}) {
            std::string_view key = bound == &low ? "low" : "high";
            if (*bound && !IsIntegral(**bound)) {
              problems_.Add(*f.Get(key), fmt::format("{} of {} must be an integer for dist 'integers', got {}", key,
                                                     where, **bound));
              bound->reset();
            }
          }
        }
        if (low && high && (integers ? *low > *high : *low >= *high)) {
          problems_.Add(node,
                        fmt::format("{}: low ({}) must be {} high ({})", where, *low, integers ? "<=" : "<", *high));
        }
        init.low = low.value_or(0.0);
        init.high = high.value_or(1.0);
        break;
      }
      case Dist::kConstant: {
        if (f.Require("value")) init.value = number("value", 0.0).value_or(0.0);
        break;
      }
    }
    if (integral_dtype && (init.dist == Dist::kNormal || init.dist == Dist::kUniform)) {
      problems_.Add(*dist_node,
                    fmt::format("dist '{}' makes fractions; {} input {} takes dist 'integers' or 'constant'",
                                kDistNames[*index], DTypeName(arg.dtype), label));
    }
    arg.init = init;
  }

  // Every name in a dimension must be an integer scalar arg; checked once all args are known.
  void CheckDimNames() {
    std::vector<std::string_view> scalar_names = ScalarNames();
    for (std::size_t i = 0; i < task_.args.size(); ++i) {
      ArgNodes& nodes = arg_nodes_[i];
      for (std::size_t d = 0; d < nodes.dim_names.size(); ++d) {
        for (const std::string& name : nodes.dim_names[d]) {
          const std::string& dim = task_.args[i].shape[d];
          std::string subject = dim == name
                                    ? fmt::format("dimension '{}' of '{}'", dim, task_.args[i].name)
                                    : fmt::format("'{}' in dimension '{}' of '{}'", name, dim, task_.args[i].name);
          if (CheckIntegerScalar(nodes.dims[d], name, subject, "dimensions", scalar_names)) continue;
          nodes.dims_ok = false;
        }
      }
    }
  }

  // Reports (at node) a name in an expression that is not an integer scalar arg; returns
  // whether it is one. `subject` names the use, `users` who may use only integer scalars.
  bool CheckIntegerScalar(const YAML::Node& node, const std::string& name, const std::string& subject,
                          std::string_view users, const std::vector<std::string_view>& scalar_names) {
    const ArgSpec* target = task_.FindArg(name);
    if (target == nullptr) {
      problems_.Add(node, fmt::format("{} is not a scalar arg{}", subject, DidYouMean(name, scalar_names)));
    } else if (target->role != ArgRole::kScalar) {
      problems_.Add(node,
                    fmt::format("{} is an {}; {} may use only scalar args", subject, RoleName(target->role), users));
    } else if (DTypeIsFloat(target->dtype)) {
      problems_.Add(node, fmt::format("{} is a scalar of dtype {}; {} need i32 or i64 scalars", subject,
                                      DTypeName(target->dtype), users));
    } else {
      return true;
    }
    return false;
  }

  // `flops` or `bytes`: an expression over the integer scalars, evaluated for every shape so a
  // mistake shows at load time rather than after a candidate was timed.
  void ReadWorkExpr(const YAML::Node& node, std::string_view key, std::string& out, SourceLoc& loc) {
    auto text = ReadString(problems_, node, key);
    if (!text) return;
    auto names = DimExprNames(*text);
    if (!names.ok()) {
      problems_.Add(node, fmt::format("in {}: {}", key, names.error().message));
      return;
    }
    if (task_.args.empty()) return;  // already reported; every name would be reported again
    std::vector<std::string_view> scalar_names = ScalarNames();
    bool names_ok = true;
    for (const std::string& name : *names) {
      std::string subject = fmt::format("'{}' in {} '{}'", name, key, *text);
      names_ok = CheckIntegerScalar(node, name, subject, std::string(key), scalar_names) && names_ok;
    }
    if (!names_ok) return;
    for (std::size_t i = 0; i < task_.shapes.size(); ++i) {
      if (!shape_complete_[i]) continue;
      auto value = EvalDimExpr(*text, task_.shapes[i].scalars);
      if (!value.ok()) {
        problems_.Add(node, fmt::format("{} for shape {}: {}", key, task_.shapes[i].label, value.error().message));
      } else if (*value < 0) {
        problems_.Add(node, fmt::format("{} '{}' is {} for shape {}; it must be >= 0", key, *text, *value,
                                        task_.shapes[i].label));
      }
    }
    out = *text;
    loc = {std::string(kTaskFile), node.Mark().line + 1, node.Mark().column + 1};
  }

  void ReadShapes(const YAML::Node& node) {
    if (!node.IsSequence() || node.size() == 0) {
      problems_.Add(
          node, fmt::format("shapes must be a non-empty list of maps from scalar to value, e.g. [{{n: 1024}}], got {}",
                            core::DescribeYamlNode(node)));
      return;
    }
    // Without args (already reported) every key would be reported again as unknown.
    if (task_.args.empty()) return;
    std::vector<std::string_view> scalar_names = ScalarNames();
    std::map<std::string, int> label_lines;
    for (std::size_t i = 0; i < node.size(); ++i) {
      YAML::Node item = node[i];
      std::string where = fmt::format("shapes[{}]", i);
      if (!item.IsMap()) {
        problems_.Add(item, fmt::format("{} must be a map from scalar to value, e.g. {{rows: 4096}}, got {}", where,
                                        core::DescribeYamlNode(item)));
        continue;
      }
      Shape shape;
      shape.loc = {std::string(kTaskFile), item.Mark().line + 1, item.Mark().column + 1};
      bool complete = ReadShapeValues(item, where, scalar_names, shape);
      std::vector<std::string> parts;
      for (const ArgSpec& a : task_.args) {
        if (auto it = shape.scalars.find(a.name); a.role == ArgRole::kScalar && it != shape.scalars.end()) {
          parts.push_back(fmt::format("{}={}", a.name, FormatValue(it->second)));
        }
      }
      shape.label = fmt::format("{}", fmt::join(parts, ","));
      if (complete) {
        auto [pos, inserted] = label_lines.emplace(shape.label, shape.loc.line);
        if (!inserted)
          problems_.Add(item, fmt::format("shape {} repeats the one at line {}", shape.label, pos->second));
        CheckShapeDims(item, shape);
      }
      task_.shapes.push_back(std::move(shape));
      shape_complete_.push_back(complete);
    }
  }

  // Returns whether the shape gives a valid value to every scalar.
  bool ReadShapeValues(const YAML::Node& item, const std::string& where,
                       const std::vector<std::string_view>& scalar_names, Shape& shape) {
    bool complete = true;
    std::set<std::string> named;  // set here, even if to a bad value already reported
    for (auto it = item.begin(); it != item.end(); ++it) {
      YAML::Node key = it->first;  // a copy: the iterator hands out a temporary pair
      std::string name = key.IsScalar() ? key.Scalar() : "";
      const ArgSpec* arg = task_.FindArg(name);
      if (arg == nullptr || name.empty()) {
        problems_.Add(key, fmt::format("{} sets '{}', which is not a scalar arg{}", where,
                                       key.IsScalar() ? name : core::DescribeYamlNode(key), DidYouMean(name, scalar_names)));
        complete = false;
        continue;
      }
      if (arg->role != ArgRole::kScalar) {
        problems_.Add(key, fmt::format("{} sets '{}', which is an {}; shapes set scalar args only", where, name,
                                       RoleName(arg->role)));
        complete = false;
        continue;
      }
      if (!named.insert(name).second) {
        problems_.Add(key, fmt::format("{} sets '{}' twice", where, name));
        complete = false;
        continue;
      }
      YAML::Node value = it->second;
      std::string what = fmt::format("'{}' in {}", name, where);
      auto v = ReadNumber(problems_, value, what);
      if (!v || !CheckFitsDType(problems_, value, what, *v, arg->dtype)) {
        complete = false;
        continue;
      }
      shape.scalars[name] = *v;
    }
    for (const ArgSpec& a : task_.args) {
      if (a.role != ArgRole::kScalar || a.name.empty() || named.count(a.name) != 0) continue;
      if (a.default_value) {
        shape.scalars[a.name] = *a.default_value;
      } else {
        problems_.Add(item, fmt::format("{} gives no value for scalar '{}' (and '{}' has no default 'value')", where,
                                        a.name, a.name));
        complete = false;
      }
    }
    return complete;
  }

  void CheckShapeDims(const YAML::Node& item, const Shape& shape) {
    for (std::size_t i = 0; i < task_.args.size(); ++i) {
      const ArgSpec& arg = task_.args[i];
      if (arg.role == ArgRole::kScalar || !arg_nodes_[i].dims_ok) continue;
      auto elements = ArgElements(arg, shape);
      if (!elements.ok()) problems_.Add(item, elements.error().message);
    }
  }

  void ReadTolerance(const YAML::Node& node) {
    if (!node.IsMap()) {
      problems_.Add(node,
                    fmt::format("tolerance must be a map like {{atol: 1.0e-5, rtol: 1.0e-5}}, got {}", core::DescribeYamlNode(node)));
      return;
    }
    Fields f(problems_, node, "tolerance", {"atol", "rtol"});
    for (auto [key, field] : {std::pair{"atol", &Tolerance::atol}, std::pair{"rtol", &Tolerance::rtol}}) {
      auto n = f.Get(key);
      if (!n) continue;
      auto v = ReadNumber(problems_, *n, fmt::format("tolerance {}", key));
      if (!v) continue;
      if (*v < 0) {
        problems_.Add(*n, fmt::format("tolerance {} must be >= 0, got {}", key, *v));
        continue;
      }
      task_.tolerance.*field = *v;
    }
  }

  // Reads a file named by a path relative to the task folder.
  std::optional<std::string> ReadPackageFile(const YAML::Node& node, std::string_view what, std::string& relative) {
    auto text = ReadString(problems_, node, what);
    if (!text) return std::nullopt;
    fs::path path(*text);
    if (text->empty() || path.is_absolute()) {
      problems_.Add(node, fmt::format("{} must be a file path relative to the task folder, got '{}'", what, *text));
      return std::nullopt;
    }
    fs::path full = dir_ / path;
    std::error_code ec;
    if (!fs::is_regular_file(full, ec)) {
      problems_.Add(node, fmt::format("{} '{}' not found: no file {}", what, *text, full.string()));
      return std::nullopt;
    }
    auto contents = core::ReadFile(full);
    if (!contents.ok()) {
      problems_.Add(node, fmt::format("{} '{}' cannot be read: {}", what, *text, contents.error().message));
      return std::nullopt;
    }
    relative = *text;
    return std::move(contents).value();
  }

  void ReadReference(const YAML::Node& node, bool entry_known, bool args_ok) {
    auto source = ReadPackageFile(node, "reference", task_.reference_file);
    if (!source) return;
    task_.reference_source = *source;
    if (task_.backend == Backend::kTorch) {
      for (const char* name : {"Model", "get_inputs", "get_init_inputs"}) {
        if (!MentionsIdentifier(task_.reference_source, name)) {
          problems_.Add(node, fmt::format("reference '{}' does not define {}; a torch reference is a KernelBench-form "
                                          "module with class Model(nn.Module), get_inputs() and get_init_inputs()",
                                          task_.reference_file, name));
        }
      }
      return;
    }
    if (!entry_known) return;
    std::string function = task_.entry + "_reference";
    if (!MentionsIdentifier(task_.reference_source, function)) {
      std::string expected =
          args_ok ? fmt::format(": {}", EntrySignature(task_, function)) : fmt::format(" {}", function);
      problems_.Add(node, fmt::format("reference '{}' does not define {}; it must define{}", task_.reference_file,
                                      function, expected));
    }
  }

  void ReadSeeds(const YAML::Node& node, bool entry_known) {
    if (!node.IsSequence()) {
      problems_.Add(node, fmt::format("seeds must be a list of files, e.g. [seed.cpp], got {}", core::DescribeYamlNode(node)));
      return;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      Task::Seed seed;
      auto source = ReadPackageFile(node[i], "seed", seed.file);
      if (!source) continue;
      seed.source = std::move(source).value();
      if (entry_known && task_.backend != Backend::kTorch && !MentionsIdentifier(seed.source, task_.entry)) {
        problems_.Add(node[i], fmt::format("seed '{}' does not define the entry function {}", seed.file, task_.entry));
      }
      if (task_.backend == Backend::kTorch && !MentionsIdentifier(seed.source, "ModelNew")) {
        problems_.Add(node[i], fmt::format("seed '{}' does not define class ModelNew", seed.file));
      }
      task_.seeds.push_back(std::move(seed));
    }
  }

  // KernelBench's protocol: fp32 allclose at 1e-4, 5 correctness trials, 100 timed trials.
  // Keys given in task.yaml (read after this) override these.
  void ApplyTorchDefaults() {
    task_.tolerance = Tolerance{1e-4, 1e-4};
    task_.correctness_trials = 5;
    task_.timing = TimingSpec{10, 100, 100, 60.0, true};
    task_.timeout_seconds = 600;  // load_inline builds inside the child on first use
  }

  void ReadTorch(const YAML::Node& node) {
    if (!node.IsMap()) {
      problems_.Add(node, fmt::format("torch must be a map like {{device: auto, configs: [...]}}, got {}", core::DescribeYamlNode(node)));
      return;
    }
    Fields f(problems_, node, "torch",
             {"python", "device", "backward", "allowed_ops", "max_speedup", "compile_baseline", "configs"});
    TorchSpec& t = task_.torch;
    if (auto n = f.Get("python")) {
      if (auto v = ReadString(problems_, *n, "torch python")) {
        if (v->empty()) problems_.Add(*n, "torch python must name an interpreter, e.g. python3");
        else t.python = *v;
      }
    }
    if (auto n = f.Get("device")) {
      static const std::vector<std::string_view> kDevices = {"auto", "cuda", "cpu"};
      if (auto i = ReadChoice(problems_, *n, "torch device", kDevices)) t.device = std::string(kDevices[*i]);
    }
    if (auto n = f.Get("backward")) t.backward = ReadBool(problems_, *n, "torch backward").value_or(false);
    if (auto n = f.Get("compile_baseline")) {
      t.compile_baseline = ReadBool(problems_, *n, "torch compile_baseline").value_or(true);
    }
    if (auto n = f.Get("max_speedup")) {
      if (auto v = ReadNumber(problems_, *n, "torch max_speedup"); v && InRange(problems_, *n, "torch max_speedup", *v, 1.0, 1e6)) {
        t.max_speedup = *v;
      }
    }
    if (auto n = f.Get("allowed_ops")) {
      if (!n->IsSequence()) {
        problems_.Add(*n, fmt::format("torch allowed_ops must be a list of aten op names, e.g. [aten::sum], got {}",
                                      core::DescribeYamlNode(*n)));
      } else {
        for (std::size_t i = 0; i < n->size(); ++i) {
          auto op = ReadString(problems_, (*n)[i], "torch allowed_ops entry");
          if (!op) continue;
          if (op->rfind("aten::", 0) != 0 || op->size() <= 6) {
            problems_.Add((*n)[i], fmt::format("allowed op '{}' must be an aten op name such as aten::sum", *op));
            continue;
          }
          t.allowed_ops.push_back(*op);
        }
      }
    }
    if (auto n = f.Get("configs")) ReadTorchConfigs(*n);
  }

  void ReadTorchConfigs(const YAML::Node& node) {
    if (!node.IsSequence() || node.size() == 0) {
      problems_.Add(node, fmt::format("torch configs must be a non-empty list like [{{label: small, inputs: "
                                      "{{batch_size: 16}}}}], got {}",
                                      core::DescribeYamlNode(node)));
      return;
    }
    std::set<std::string> labels;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node& c = node[i];
      if (!c.IsMap()) {
        problems_.Add(c, fmt::format("torch config must be a map with inputs and/or init, got {}", core::DescribeYamlNode(c)));
        continue;
      }
      Fields f(problems_, c, "torch config", {"label", "inputs", "init"});
      TorchConfig config;
      config.loc = {std::string(kTaskFile), c.Mark().line + 1, c.Mark().column + 1};
      bool ok = true;
      for (auto [key, out] : {std::pair{"inputs", &config.inputs_json}, std::pair{"init", &config.init_json}}) {
        auto n = f.Get(key);
        if (!n) continue;
        if (!n->IsMap()) {
          problems_.Add(*n, fmt::format("torch config {} must be a map of keyword arguments for {}, got {}", key,
                                        std::string_view(key) == "inputs" ? "get_inputs()" : "get_init_inputs()",
                                        core::DescribeYamlNode(*n)));
          ok = false;
          continue;
        }
        auto json = YamlToJsonText(*n);
        if (!json) {
          ok = false;
          continue;
        }
        *out = *json;
      }
      if (auto n = f.Get("label")) {
        config.label = ReadString(problems_, *n, "torch config label").value_or("");
      }
      if (config.label.empty()) config.label = DefaultConfigLabel(c);
      if (!labels.insert(config.label).second) {
        problems_.Add(c, fmt::format("torch config label '{}' is used twice; labels name configurations in reports",
                                     config.label));
        ok = false;
      }
      if (ok) task_.torch.configs.push_back(std::move(config));
    }
  }

  // "batch_size=16,init_method=random": the keyword arguments in order, or "default".
  static std::string DefaultConfigLabel(const YAML::Node& c) {
    std::string label;
    for (const char* key : {"inputs", "init"}) {
      if (!c[key] || !c[key].IsMap()) continue;
      for (auto it = c[key].begin(); it != c[key].end(); ++it) {
        if (!label.empty()) label += ",";
        label += it->first.Scalar() + "=" + (it->second.IsScalar() ? it->second.Scalar() : std::string("..."));
      }
    }
    return label.empty() ? "default" : label;
  }

  // A YAML value as JSON text: maps, lists, null, booleans, integers, floats and strings (a
  // plain scalar that reads as a number or boolean is one; quoted scalars stay strings).
  std::optional<std::string> YamlToJsonText(const YAML::Node& node) {
    std::function<std::optional<core::Json>(const YAML::Node&)> convert = [&](const YAML::Node& n) -> std::optional<core::Json> {
      switch (n.Type()) {
        case YAML::NodeType::Null: return core::Json(nullptr);
        case YAML::NodeType::Sequence: {
          core::Json a = core::Json::array();
          for (const auto& item : n) {
            auto v = convert(item);
            if (!v) return std::nullopt;
            a.push_back(std::move(*v));
          }
          return a;
        }
        case YAML::NodeType::Map: {
          core::Json o = core::Json::object();
          for (auto it = n.begin(); it != n.end(); ++it) {
            if (!it->first.IsScalar()) {
              problems_.Add(it->first, "keyword argument names must be plain names");
              return std::nullopt;
            }
            auto v = convert(it->second);
            if (!v) return std::nullopt;
            o[it->first.Scalar()] = std::move(*v);
          }
          return o;
        }
        case YAML::NodeType::Scalar: {
          const std::string& text = n.Scalar();
          if (n.Tag() == "!") return core::Json(text);  // quoted
          if (text == "true" || text == "false") return core::Json(text == "true");
          if (text == "null" || text == "~") return core::Json(nullptr);
          std::int64_t i = 0;
          if (YAML::convert<std::int64_t>::decode(n, i) && text.find_first_of(".eE") == std::string::npos) return core::Json(i);
          double d = 0;
          if (YAML::convert<double>::decode(n, d)) return core::Json(d);
          return core::Json(text);
        }
        case YAML::NodeType::Undefined: break;
      }
      problems_.Add(n, "unsupported value");
      return std::nullopt;
    };
    auto json = convert(node);
    if (!json) return std::nullopt;
    return json->dump();
  }

  // One Shape per configuration, so timings and reports are per configuration.
  void AddTorchConfigShapes() {
    if (task_.torch.configs.empty()) task_.torch.configs.push_back(TorchConfig{"default", "{}", "{}", {}});
    for (const TorchConfig& c : task_.torch.configs) {
      Shape shape;
      shape.label = c.label;
      shape.loc = c.loc;
      task_.shapes.push_back(std::move(shape));
    }
  }

  void ReadTargets(const YAML::Node& node) {
    if (!node.IsSequence()) {
      problems_.Add(node,
                    fmt::format("targets must be a list of hardware tags, e.g. [h100, xeon], got {}", core::DescribeYamlNode(node)));
      return;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      auto tag = ReadString(problems_, node[i], "target");
      if (!tag) continue;
      const bool token = !tag->empty() && tag->size() <= 64 && tag->front() != '.' && std::all_of(tag->begin(), tag->end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
      });
      if (!token) {
        problems_.Add(node[i], fmt::format("target '{}' is not a hardware tag: 1 to 64 letters, digits, '-', '_' or '.', "
                                           "not starting with '.' (e.g. cuda-sm90, cpu-x86_64)", *tag));
        continue;
      }
      if (std::find(task_.targets.begin(), task_.targets.end(), *tag) != task_.targets.end()) {
        problems_.Add(node[i], fmt::format("target '{}' is listed twice", *tag));
        continue;
      }
      task_.targets.push_back(*tag);
    }
  }

  void ReadTiming(const YAML::Node& node) {
    if (!node.IsMap()) {
      problems_.Add(node,
                    fmt::format("timing must be a map like {{warmup: 3, min_trials: 10}}, got {}", core::DescribeYamlNode(node)));
      return;
    }
    Fields f(problems_, node, "timing", {"warmup", "min_trials", "max_trials", "max_seconds", "flush_cache"});
    TimingSpec& t = task_.timing;
    auto integer = [&](std::string_view key, std::int64_t low, std::int64_t high, int& out) {
      auto n = f.Get(key);
      if (!n) return;
      std::string what = fmt::format("timing {}", key);
      if (auto v = ReadInteger(problems_, *n, what); v && InRange(problems_, *n, what, *v, low, high))
        out = static_cast<int>(*v);
    };
    integer("warmup", 0, 10000, t.warmup);
    integer("min_trials", 1, 1000000, t.min_trials);
    integer("max_trials", 1, 1000000, t.max_trials);
    if (auto n = f.Get("max_seconds")) {
      if (auto v = ReadNumber(problems_, *n, "timing max_seconds");
          v && InRange(problems_, *n, "timing max_seconds", *v, 1e-3, 3600.0)) {
        t.max_seconds_per_shape = *v;
      }
    }
    if (auto n = f.Get("flush_cache"))
      t.flush_cache = ReadBool(problems_, *n, "timing flush_cache").value_or(t.flush_cache);
    if (t.min_trials > t.max_trials) {
      problems_.Add(
          node,
          fmt::format("timing min_trials ({}) must be <= max_trials ({}){}", t.min_trials, t.max_trials,
                      f.Get("min_trials") && f.Get("max_trials") ? "" : " (the default applies where one is not set)"));
    }
  }

  std::vector<std::string_view> ScalarNames() const {
    std::vector<std::string_view> names;
    for (const ArgSpec& a : task_.args) {
      if (a.role == ArgRole::kScalar && !a.name.empty()) names.push_back(a.name);
    }
    return names;
  }

  std::string ContentHash() const {
    core::Sha256 sha;
    sha.Field(yaml_text_).Field(task_.reference_file).Field(task_.reference_source);
    for (const Task::Seed& seed : task_.seeds) sha.Field(seed.file).Field(seed.source);
    return sha.HexDigest();
  }

  fs::path dir_;
  std::string yaml_text_;
  Problems problems_;
  Task task_;
  std::vector<ArgNodes> arg_nodes_;  // parallel to task_.args
  std::vector<bool> shape_complete_;  // parallel to task_.shapes: every scalar has a valid value
};

}  // namespace

core::Expected<Task> LoadTask(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    return MakeError(ErrorCode::kNotFound, fmt::format("task folder {} does not exist", dir.string()));
  }
  if (!fs::is_directory(dir, ec)) {
    return MakeError(ErrorCode::kNotFound,
                     fmt::format("{} is not a folder; give the task folder that holds task.yaml", dir.string()));
  }
  fs::path yaml_path = dir / kTaskFile;
  if (!fs::exists(yaml_path, ec)) {
    return MakeError(
        ErrorCode::kNotFound,
        fmt::format("no task.yaml in {}; a task package is a folder with task.yaml and a reference", dir.string()));
  }
  KF_TRY(std::string yaml_text, core::ReadFile(yaml_path));
  fs::path absolute = fs::absolute(dir, ec).lexically_normal();
  if (ec) return MakeError(ErrorCode::kIo, fmt::format("cannot resolve {}: {}", dir.string(), ec.message()));
  if (!absolute.has_filename()) absolute = absolute.parent_path();
  return Loader(absolute, std::move(yaml_text)).Load(yaml_path.string());
}

}  // namespace kf::task
