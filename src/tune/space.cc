#include "tune/space.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <utility>

#include "task/task.h"

namespace kf::tune {
namespace {

using core::ErrorCode;
using core::Expected;

// A spec or range with more values than this is almost certainly a typo (1..1000000).
constexpr std::size_t kMaxValuesPerParam = 4096;
// Bounds on what an (adversarial) declaration can make the tuner do.
constexpr std::size_t kMaxParams = 64;
constexpr std::size_t kMaxExpressionChars = 2000;
constexpr int kMaxExpressionDepth = 64;
// Constraint checks per configuration allowed, at most, while listing a space.
constexpr std::size_t kStepsPerPoint = 10;

/// Names a macro must not take: C++ keywords, `defined`, names every header relies on, and the
/// implementation's reserved names (a leading underscore) such as __CUDA_ARCH__.
bool IsReservedName(std::string_view name) {
  return name.empty() || name[0] == '_' || task::IsCppKeyword(name) || name == "defined" || name == "NDEBUG" ||
         name == "assert";
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return lines;
}

/// A declaration line: `// @<keyword> <rest>` alone on its line (code before it would make the
/// directive ambiguous about where it applies).
struct Directive {
  std::string_view keyword;  // "param", "constraint", "threads", "shared_bytes", or another word
  std::string_view rest;
};

std::optional<Directive> ReadDirective(std::string_view line) {
  line = Trim(line);
  if (line.substr(0, 2) != "//") return std::nullopt;
  line = Trim(line.substr(2));
  if (line.empty() || line[0] != '@') return std::nullopt;
  line.remove_prefix(1);
  std::size_t n = 0;
  while (n < line.size() && (std::isalnum(static_cast<unsigned char>(line[n])) || line[n] == '_')) ++n;
  return Directive{line.substr(0, n), Trim(line.substr(n))};
}

bool IsDeclarationKeyword(std::string_view k) {
  return k == "param" || k == "constraint" || k == "threads" || k == "shared_bytes";
}

std::optional<std::int64_t> ParseInt(std::string_view s) {
  s = Trim(s);
  if (s.empty()) return std::nullopt;
  bool negative = false;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return negative ? -v : v;
}

/// `64, 128`, `1..8`, `1..16 step 4`, `pow2(8..64)`, mixed by commas.
Expected<std::vector<std::int64_t>> ParseValues(std::string_view spec) {
  std::vector<std::int64_t> values;
  auto add = [&](std::int64_t v) -> Expected<void> {
    if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
    if (values.size() > kMaxValuesPerParam) {
      return core::MakeError(ErrorCode::kValidation, fmt::format("more than {} values", kMaxValuesPerParam));
    }
    return core::Ok();
  };
  auto range = [&](std::string_view text, bool pow2) -> Expected<void> {
    std::int64_t step = 1;
    if (const auto at = text.find(" step "); at != std::string_view::npos) {
      auto s = ParseInt(text.substr(at + 6));
      if (!s || *s <= 0) return core::MakeError(ErrorCode::kValidation, fmt::format("'{}': step must be a positive integer", text));
      step = *s;
      text = text.substr(0, at);
    }
    const auto dots = text.find("..");
    auto lo = ParseInt(text.substr(0, dots));
    auto hi = ParseInt(text.substr(dots + 2));
    if (!lo || !hi) return core::MakeError(ErrorCode::kValidation, fmt::format("'{}' is not a range of integers (LO..HI)", text));
    if (*lo > *hi) return core::MakeError(ErrorCode::kValidation, fmt::format("'{}' is empty: {} > {}", text, *lo, *hi));
    if (pow2) {
      if (step != 1) return core::MakeError(ErrorCode::kValidation, "pow2(...) takes no step");
      for (std::int64_t v = 1; v <= *hi && v > 0; v *= 2) {
        if (v >= *lo) KF_TRY_VOID(add(v));
      }
      return core::Ok();
    }
    if ((*hi - *lo) / step >= static_cast<std::int64_t>(kMaxValuesPerParam)) {
      return core::MakeError(ErrorCode::kValidation, fmt::format("'{}' has more than {} values", text, kMaxValuesPerParam));
    }
    for (std::int64_t v = *lo; v <= *hi; v += step) KF_TRY_VOID(add(v));
    return core::Ok();
  };
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i <= spec.size(); ++i) {
    if (i < spec.size() && spec[i] == '(') ++depth;
    if (i < spec.size() && spec[i] == ')') --depth;
    if (i < spec.size() && (spec[i] != ',' || depth > 0)) continue;
    std::string_view item = Trim(spec.substr(start, i - start));
    start = i + 1;
    if (item.empty()) return core::MakeError(ErrorCode::kValidation, "an empty value in the list");
    if (item.substr(0, 4) == "pow2") {
      std::string_view inner = Trim(item.substr(4));
      if (inner.size() < 2 || inner.front() != '(' || inner.back() != ')' || inner.find("..") == std::string_view::npos) {
        return core::MakeError(ErrorCode::kValidation, fmt::format("'{}': write pow2(LO..HI)", item));
      }
      KF_TRY_VOID(range(Trim(inner.substr(1, inner.size() - 2)), true));
    } else if (item.find("..") != std::string_view::npos) {
      KF_TRY_VOID(range(item, false));
    } else if (auto v = ParseInt(item)) {
      KF_TRY_VOID(add(*v));
    } else {
      return core::MakeError(ErrorCode::kValidation,
                             fmt::format("'{}' is not an integer, a range LO..HI or pow2(LO..HI)", item));
    }
  }
  if (values.empty()) return core::MakeError(ErrorCode::kValidation, "no values");
  return values;
}

// --- expressions ----------------------------------------------------------------------------

struct Value {
  double v = 0;
  bool integral = true;
};

/// A compiled expression: a tree of closures over the values of the names it uses.
using Eval = std::function<Expected<Value>(const std::vector<double>&)>;

/// Recursive descent over C precedence: || && (== !=) (< <= > >=) (+ -) (* / %) unary primary.
class ExprParser {
 public:
  /// `slot_of` maps a name to its slot in the value vector, or nullopt when unknown.
  ExprParser(std::string_view text, std::function<std::optional<int>(const std::string&)> slot_of)
      : text_(text), slot_of_(std::move(slot_of)) {}

  Expected<Eval> Parse() {
    if (text_.size() > kMaxExpressionChars) return Fail(fmt::format("longer than {} characters", kMaxExpressionChars));
    KF_TRY(Eval e, Or());
    Skip();
    if (pos_ != text_.size()) return Fail(fmt::format("unexpected '{}'", text_.substr(pos_, 12)));
    return e;
  }
  const std::vector<int>& slots() const { return slots_; }

 private:
  core::Error Fail(const std::string& what) const {
    return core::Error{ErrorCode::kValidation, fmt::format("'{}': {} at column {}", text_, what, pos_ + 1)};
  }
  void Skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Eat(std::string_view op) {
    Skip();
    if (text_.substr(pos_, op.size()) != op) return false;
    // `<` must not swallow `<=`, `!` not `!=`, `=` alone is not an operator.
    if (op.size() == 1 && pos_ + 1 < text_.size() && text_[pos_ + 1] == '=' && (op == "<" || op == ">" || op == "!")) {
      return false;
    }
    pos_ += op.size();
    return true;
  }

  using Binary = std::function<Expected<Value>(Value, Value)>;
  template <typename Next>
  Expected<Eval> Level(Next next, std::vector<std::pair<std::string_view, Binary>> ops) {
    KF_TRY(Eval left, next());
    for (;;) {
      const Binary* op = nullptr;
      for (auto& [name, f] : ops) {
        if (Eat(name)) {
          op = &f;
          break;
        }
      }
      if (!op) return left;
      KF_TRY(Eval right, next());
      left = [left = std::move(left), right = std::move(right), f = *op](const std::vector<double>& x) -> Expected<Value> {
        KF_TRY(Value a, left(x));
        KF_TRY(Value b, right(x));
        return f(a, b);
      };
    }
  }

  static Value Bool(bool b) { return {b ? 1.0 : 0.0, true}; }
  static Binary Cmp(std::function<bool(double, double)> f) {
    return [f](Value a, Value b) -> Expected<Value> { return Bool(f(a.v, b.v)); };
  }

  /// Nesting through parentheses, unary operators and min/max, bounded so that no declaration
  /// can exhaust the stack.
  struct Nested {
    explicit Nested(int& depth) : depth_(depth) { ++depth_; }
    ~Nested() { --depth_; }
    int& depth_;
  };
  Expected<Eval> Or() {
    Nested nested(depth_);
    if (depth_ > kMaxExpressionDepth) return Fail(fmt::format("nested more than {} deep", kMaxExpressionDepth));
    return Level([this] { return And(); }, {{"||", [](Value a, Value b) -> Expected<Value> { return Bool(a.v != 0 || b.v != 0); }}});
  }
  Expected<Eval> And() {
    return Level([this] { return Equality(); },
                 {{"&&", [](Value a, Value b) -> Expected<Value> { return Bool(a.v != 0 && b.v != 0); }}});
  }
  Expected<Eval> Equality() {
    return Level([this] { return Relational(); },
                 {{"==", Cmp(std::equal_to<double>())}, {"!=", Cmp(std::not_equal_to<double>())}});
  }
  Expected<Eval> Relational() {
    return Level([this] { return Additive(); }, {{"<=", Cmp(std::less_equal<double>())},
                                                  {">=", Cmp(std::greater_equal<double>())},
                                                  {"<", Cmp(std::less<double>())},
                                                  {">", Cmp(std::greater<double>())}});
  }
  Expected<Eval> Additive() {
    return Level([this] { return Multiplicative(); },
                 {{"+", [](Value a, Value b) -> Expected<Value> { return Value{a.v + b.v, a.integral && b.integral}; }},
                  {"-", [](Value a, Value b) -> Expected<Value> { return Value{a.v - b.v, a.integral && b.integral}; }}});
  }
  Expected<Eval> Multiplicative() {
    return Level([this] { return Unary(); },
                 {{"*", [](Value a, Value b) -> Expected<Value> { return Value{a.v * b.v, a.integral && b.integral}; }},
                  {"/",
                   [](Value a, Value b) -> Expected<Value> {
                     if (b.v == 0) return core::MakeError(ErrorCode::kInvalidArgument, "division by zero");
                     const bool integral = a.integral && b.integral;
                     return Value{integral ? std::trunc(a.v / b.v) : a.v / b.v, integral};
                   }},
                  {"%", [](Value a, Value b) -> Expected<Value> {
                     if (!a.integral || !b.integral) {
                       return core::MakeError(ErrorCode::kInvalidArgument, "% of a non-integer");
                     }
                     if (b.v == 0) return core::MakeError(ErrorCode::kInvalidArgument, "modulo by zero");
                     return Value{std::fmod(a.v, b.v), true};
                   }}});
  }
  Expected<Eval> Unary() {
    Nested nested(depth_);
    if (depth_ > kMaxExpressionDepth) return Fail(fmt::format("nested more than {} deep", kMaxExpressionDepth));
    if (Eat("-")) {
      KF_TRY(Eval e, Unary());
      return Eval([e](const std::vector<double>& x) -> Expected<Value> {
        KF_TRY(Value a, e(x));
        return Value{-a.v, a.integral};
      });
    }
    if (Eat("!")) {
      KF_TRY(Eval e, Unary());
      return Eval([e](const std::vector<double>& x) -> Expected<Value> {
        KF_TRY(Value a, e(x));
        return Bool(a.v == 0);
      });
    }
    return Primary();
  }
  Expected<Eval> Primary() {
    Skip();
    if (Eat("(")) {
      KF_TRY(Eval e, Or());
      if (!Eat(")")) return Fail("missing ')'");
      return e;
    }
    if (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) {
      std::size_t end = pos_;
      while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '.')) ++end;
      const std::string literal(text_.substr(pos_, end - pos_));
      char* stop = nullptr;
      const double v = std::strtod(literal.c_str(), &stop);
      if (stop != literal.c_str() + literal.size()) return Fail(fmt::format("'{}' is not a number", literal));
      pos_ = end;
      const Value value{v, literal.find_first_of(".eE") == std::string::npos};
      return Eval([value](const std::vector<double>&) -> Expected<Value> { return value; });
    }
    std::size_t end = pos_;
    while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) ++end;
    if (end == pos_) return Fail(pos_ < text_.size() ? fmt::format("unexpected '{}'", text_[pos_]) : "unexpected end");
    const std::string name(text_.substr(pos_, end - pos_));
    pos_ = end;
    if (name == "min" || name == "max") {
      if (!Eat("(")) return Fail(fmt::format("{} takes (a, b)", name));
      KF_TRY(Eval a, Or());
      if (!Eat(",")) return Fail(fmt::format("{} takes (a, b)", name));
      KF_TRY(Eval b, Or());
      if (!Eat(")")) return Fail("missing ')'");
      const bool is_min = name == "min";
      return Eval([a, b, is_min](const std::vector<double>& x) -> Expected<Value> {
        KF_TRY(Value va, a(x));
        KF_TRY(Value vb, b(x));
        return (va.v < vb.v) == is_min ? va : vb;
      });
    }
    const std::optional<int> slot = slot_of_(name);
    if (!slot) return Fail(fmt::format("'{}' is neither a parameter, a shape scalar nor a device limit", name));
    if (std::find(slots_.begin(), slots_.end(), *slot) == slots_.end()) slots_.push_back(*slot);
    const int s = *slot;
    return Eval([s](const std::vector<double>& x) -> Expected<Value> {
      const double v = x[static_cast<std::size_t>(s)];
      return Value{v, v == std::trunc(v)};
    });
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::function<std::optional<int>(const std::string&)> slot_of_;
  std::vector<int> slots_;
};

}  // namespace

// Values are laid out as [parameters..., names of the environment...]; a rule records which
// environment names it reads, and the highest parameter it needs before it can be checked.
struct ParamSpace::Rule {
  enum class Kind { kConstraint, kThreads, kSharedBytes };
  Kind kind = Kind::kConstraint;
  std::string text;
  int line = 0;
  Eval eval;
  std::vector<std::string> env_names;  // env slot k (after the parameters) is env_names[k]
  std::vector<int> slots;              // slots the expression reads
  int last_param = -1;                 // the highest parameter index it reads

  /// Why the rule fails at `x` (the parameters, then env_names' values), or nullopt. A limit
  /// rule whose limit is unknown passes.
  std::optional<std::string> Check(const std::vector<double>& x, const Environment& env) const {
    auto value = eval(x);
    if (!value.ok()) return fmt::format("{} (line {}): {}", text, line, value.error().message);
    switch (kind) {
      case Kind::kConstraint:
        if (value->v == 0) return fmt::format("{} (line {}) is false", text, line);
        return std::nullopt;
      case Kind::kThreads:
      case Kind::kSharedBytes: {
        const bool threads = kind == Kind::kThreads;
        const std::string_view limit = threads ? kMaxThreadsPerBlock : kMaxSharedBytesPerBlock;
        const char* what = threads ? "threads per block" : "shared bytes per block";
        if (threads && value->v < 1) return fmt::format("{} {} = {} (line {}) is below 1", what, text, value->v, line);
        if (value->v < 0) return fmt::format("{} {} = {} (line {}) is negative", what, text, value->v, line);
        auto it = env.limits.find(std::string(limit));
        if (it != env.limits.end() && value->v > it->second) {
          return fmt::format("{} {} = {} (line {}) exceeds the device's {}", what, text, value->v, line, it->second);
        }
        return std::nullopt;
      }
    }
    return std::nullopt;
  }
};

ParamSpace::ParamSpace() = default;
ParamSpace::~ParamSpace() = default;
ParamSpace::ParamSpace(ParamSpace&&) noexcept = default;
ParamSpace& ParamSpace::operator=(ParamSpace&&) noexcept = default;
ParamSpace::ParamSpace(const ParamSpace& other) : params_(other.params_) {
  for (const auto& r : other.rules_) rules_.push_back(std::make_unique<Rule>(*r));
}
ParamSpace& ParamSpace::operator=(const ParamSpace& other) {
  if (this != &other) *this = ParamSpace(other);
  return *this;
}

Expected<ParamSpace> ParamSpace::Parse(std::string_view source, std::string_view file,
                                       const std::vector<std::string>& scalar_names) {
  ParamSpace space;
  std::vector<std::string> problems;
  auto problem = [&](int line, const std::string& what) { problems.push_back(fmt::format("{}:{}: {}", file, line, what)); };
  const std::vector<std::string_view> lines = Lines(source);

  // Parameters first: a constraint may name a parameter declared below it.
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto d = ReadDirective(lines[i]);
    if (!d || d->keyword != "param") continue;
    const int line = static_cast<int>(i + 1);
    const auto colon = d->rest.find(':');
    if (colon == std::string_view::npos) {
      problem(line, "@param needs NAME: VALUES (for example `// @param BLOCK: 64, 128, 256`)");
      continue;
    }
    const std::string name(Trim(d->rest.substr(0, colon)));
    if (!task::IsCIdentifier(name)) {
      problem(line, fmt::format("@param name '{}' is not a C identifier", name));
      continue;
    }
    if (IsReservedName(name)) {
      problem(line, fmt::format("@param {} is a keyword or a reserved name; pick another", name));
      continue;
    }
    if (space.params_.size() >= kMaxParams) {
      problem(line, fmt::format("more than {} parameters", kMaxParams));
      continue;
    }
    if (name == "min" || name == "max" || name == kMaxThreadsPerBlock || name == kMaxSharedBytesPerBlock ||
        std::find(scalar_names.begin(), scalar_names.end(), name) != scalar_names.end()) {
      problem(line, fmt::format("@param {} would hide the name of a function, device limit or shape scalar", name));
      continue;
    }
    if (auto dup = std::find_if(space.params_.begin(), space.params_.end(), [&](const Param& p) { return p.name == name; });
        dup != space.params_.end()) {
      problem(line, fmt::format("@param {} is declared twice (first on line {})", name, dup->line));
      continue;
    }
    auto values = ParseValues(d->rest.substr(colon + 1));
    if (!values.ok()) {
      problem(line, fmt::format("@param {}: {}", name, values.error().message));
      continue;
    }
    space.params_.push_back(Param{name, std::move(*values), line});
  }

  std::vector<std::string> env_names = scalar_names;
  env_names.emplace_back(kMaxThreadsPerBlock);
  env_names.emplace_back(kMaxSharedBytesPerBlock);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto d = ReadDirective(lines[i]);
    if (!d || d->keyword == "param") continue;
    const int line = static_cast<int>(i + 1);
    if (!IsDeclarationKeyword(d->keyword)) {
      // Only near-misses of ours: `// @brief` and the like belong to documentation tools.
      if (d->keyword == "params" || d->keyword == "constraints" || d->keyword == "thread" ||
          d->keyword == "shared" || d->keyword == "shared_mem") {
        problem(line, fmt::format("@{} is not a declaration; use @param, @constraint, @threads or @shared_bytes",
                                  d->keyword));
      }
      continue;
    }
    if (d->rest.empty()) {
      problem(line, fmt::format("@{} needs an expression", d->keyword));
      continue;
    }
    auto slot_of = [&](const std::string& name) -> std::optional<int> {
      for (std::size_t p = 0; p < space.params_.size(); ++p) {
        if (space.params_[p].name == name) return static_cast<int>(p);
      }
      for (std::size_t e = 0; e < env_names.size(); ++e) {
        if (env_names[e] == name) return static_cast<int>(space.params_.size() + e);
      }
      return std::nullopt;
    };
    ExprParser parser(d->rest, slot_of);
    auto eval = parser.Parse();
    if (!eval.ok()) {
      problem(line, fmt::format("@{} {}", d->keyword, eval.error().message));
      continue;
    }
    auto rule = std::make_unique<Rule>();
    rule->kind = d->keyword == "constraint" ? Rule::Kind::kConstraint
                 : d->keyword == "threads"  ? Rule::Kind::kThreads
                                            : Rule::Kind::kSharedBytes;
    rule->text = std::string(d->rest);
    rule->line = line;
    rule->eval = std::move(*eval);
    rule->env_names = env_names;
    rule->slots = parser.slots();
    for (int s : rule->slots) {
      if (s < static_cast<int>(space.params_.size())) rule->last_param = std::max(rule->last_param, s);
    }
    space.rules_.push_back(std::move(rule));
  }
  if (space.params_.empty() && !space.rules_.empty()) {
    problem(space.rules_.front()->line, "a constraint without any @param to constrain");
  }
  if (!problems.empty()) {
    return core::MakeError(ErrorCode::kValidation, fmt::format("{}", fmt::join(problems, "\n")));
  }
  return space;
}

double ParamSpace::CrossProductSize() const {
  double n = 1;
  for (const Param& p : params_) n *= static_cast<double>(p.values.size());
  return params_.empty() ? 0 : n;
}

Config ParamSpace::Default() const {
  Config c;
  for (const Param& p : params_) c.push_back(p.values.front());
  return c;
}

namespace {
/// The value vector a rule reads: the parameters assigned so far, then the environment.
std::vector<double> ValuesFor(const Config& partial, std::size_t n_params, const std::vector<std::string>& env_names,
                              const Environment& env) {
  std::vector<double> x(n_params + env_names.size(), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t i = 0; i < partial.size(); ++i) x[i] = static_cast<double>(partial[i]);
  for (std::size_t e = 0; e < env_names.size(); ++e) {
    if (auto it = env.scalars.find(env_names[e]); it != env.scalars.end()) x[n_params + e] = it->second;
    if (auto it = env.limits.find(env_names[e]); it != env.limits.end()) x[n_params + e] = it->second;
  }
  return x;
}
}  // namespace

Expected<std::vector<Config>> ParamSpace::Enumerate(const Environment& env, std::size_t max_points) const {
  std::vector<Config> out;
  if (params_.empty()) return out;
  // Which rules become checkable once parameter k is assigned; a rule that reads an absent
  // environment name (a device limit nobody measured) is skipped unless it is a limit rule.
  std::vector<std::vector<const Rule*>> due(params_.size());
  std::vector<const Rule*> constant;  // reads no parameter
  for (const auto& rule : rules_) {
    (rule->last_param < 0 ? constant : due[static_cast<std::size_t>(rule->last_param)]).push_back(rule.get());
  }
  const std::vector<std::string>& env_names = rules_.empty() ? std::vector<std::string>() : rules_.front()->env_names;
  auto missing_name = [&](const Rule& rule, const std::vector<double>& x) {
    for (int s : rule.slots) {
      if (s >= static_cast<int>(params_.size()) && std::isnan(x[static_cast<std::size_t>(s)])) return true;
    }
    return false;
  };
  std::vector<double> x = ValuesFor({}, params_.size(), env_names, env);
  for (const Rule* rule : constant) {
    if (missing_name(*rule, x)) continue;
    if (rule->Check(x, env)) return out;  // nothing is allowed
  }
  Config current(params_.size());
  bool too_many = false;
  std::size_t steps = 0;
  std::function<void(std::size_t)> walk = [&](std::size_t k) {
    if (too_many) return;
    if (k == params_.size()) {
      if (out.size() >= max_points) {
        too_many = true;
        return;
      }
      out.push_back(current);
      return;
    }
    for (std::int64_t v : params_[k].values) {
      if (++steps > kStepsPerPoint * max_points) {
        too_many = true;
        return;
      }
      current[k] = v;
      x[k] = static_cast<double>(v);
      bool ok = true;
      for (const Rule* rule : due[k]) {
        if (!missing_name(*rule, x) && rule->Check(x, env)) {
          ok = false;
          break;
        }
      }
      if (ok) walk(k + 1);
    }
    x[k] = std::numeric_limits<double>::quiet_NaN();
  };
  walk(0);
  if (too_many) {
    return core::MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("the parameter space allows more than {} configurations, or takes more than {} "
                                       "steps to list; narrow the value lists or add constraints",
                                       max_points, kStepsPerPoint * max_points));
  }
  return out;
}

std::optional<std::string> ParamSpace::Violation(const Config& config, const Environment& env) const {
  KF_CHECK(config.size() == params_.size()) << "a configuration has one value per parameter";
  for (std::size_t k = 0; k < params_.size(); ++k) {
    const auto& values = params_[k].values;
    if (std::find(values.begin(), values.end(), config[k]) == values.end()) {
      return fmt::format("{}={} is not one of the values declared on line {}", params_[k].name, config[k],
                         params_[k].line);
    }
  }
  if (rules_.empty()) return std::nullopt;
  const std::vector<double> x = ValuesFor(config, params_.size(), rules_.front()->env_names, env);
  for (const auto& rule : rules_) {
    bool missing = false;
    for (int s : rule->slots) missing = missing || std::isnan(x[static_cast<std::size_t>(s)]);
    if (missing) {
      if (rule->kind == Rule::Kind::kConstraint) {
        return fmt::format("{} (line {}) names a shape scalar or device limit that is not known here", rule->text,
                           rule->line);
      }
      continue;
    }
    if (auto why = rule->Check(x, env)) return why;
  }
  return std::nullopt;
}

std::string ParamSpace::Instantiate(std::string_view source, const Config& config) const {
  KF_CHECK(config.size() == params_.size()) << "a configuration has one value per parameter";
  std::string out;
  out.reserve(source.size() + 16 * params_.size());
  const std::vector<std::string_view> lines = Lines(source);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const int line = static_cast<int>(i + 1);
    auto p = std::find_if(params_.begin(), params_.end(), [&](const Param& q) { return q.line == line; });
    if (p != params_.end()) {
      const std::size_t indent = lines[i].find_first_not_of(" \t");
      out += lines[i].substr(0, indent);
      out += fmt::format("#define {} {}  {}", p->name, config[static_cast<std::size_t>(p - params_.begin())],
                         lines[i].substr(indent));
    } else {
      out += lines[i];
    }
    if (i + 1 < lines.size()) out += '\n';
  }
  return out;
}

std::string ParamSpace::Label(const Config& config) const {
  std::string out;
  for (std::size_t k = 0; k < params_.size() && k < config.size(); ++k) {
    out += fmt::format("{}{}={}", k ? " " : "", params_[k].name, config[k]);
  }
  return out;
}

std::optional<Config> ParamSpace::ValuesIn(std::string_view instantiated) const {
  const std::vector<std::string_view> lines = Lines(instantiated);
  Config config;
  for (const Param& p : params_) {
    if (p.line < 1 || static_cast<std::size_t>(p.line) > lines.size()) return std::nullopt;
    std::string_view line = Trim(lines[static_cast<std::size_t>(p.line - 1)]);
    const std::string prefix = "#define " + p.name + " ";
    if (line.substr(0, prefix.size()) != prefix) return std::nullopt;
    line.remove_prefix(prefix.size());
    auto value = ParseInt(line.substr(0, line.find(' ')));
    if (!value || std::find(p.values.begin(), p.values.end(), *value) == p.values.end()) return std::nullopt;
    config.push_back(*value);
  }
  return config;
}

std::optional<Config> ParamSpace::ParseLabel(std::string_view label) const {
  std::map<std::string, std::int64_t> given;
  std::size_t pos = 0;
  while (pos < label.size()) {
    const std::size_t end = std::min(label.find(' ', pos), label.size());
    std::string_view token = label.substr(pos, end - pos);
    pos = end + 1;
    if (token.empty()) continue;
    const auto eq = token.find('=');
    if (eq == std::string_view::npos) break;
    auto value = ParseInt(token.substr(eq + 1));
    if (!value) return std::nullopt;
    given[std::string(token.substr(0, eq))] = *value;
  }
  Config config;
  for (const Param& p : params_) {
    auto it = given.find(p.name);
    if (it == given.end() || std::find(p.values.begin(), p.values.end(), it->second) == p.values.end()) return std::nullopt;
    config.push_back(it->second);
  }
  return config;
}

bool DeclaresParams(std::string_view source) {
  for (std::string_view line : Lines(source)) {
    if (auto d = ReadDirective(line); d && d->keyword == "param") return true;
  }
  return false;
}

std::string Uninstantiate(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  const std::vector<std::string_view> lines = Lines(source);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    const std::size_t indent = std::min(line.find_first_not_of(" \t"), line.size());
    std::string_view t = line.substr(indent);
    bool restored = false;
    if (t.substr(0, 8) == "#define ") {
      const auto comment = t.find("//");
      if (comment != std::string_view::npos) {
        auto d = ReadDirective(t.substr(comment));
        std::string_view def = Trim(t.substr(8, comment - 8));
        const auto space = def.find(' ');
        if (d && d->keyword == "param" && space != std::string_view::npos) {
          const std::string_view name = def.substr(0, space);
          const auto value = ParseInt(def.substr(space + 1));
          const auto colon = d->rest.find(':');
          if (value && colon != std::string_view::npos && Trim(d->rest.substr(0, colon)) == name) {
            auto values = ParseValues(d->rest.substr(colon + 1));
            if (values.ok() && std::find(values->begin(), values->end(), *value) != values->end()) {
              out += line.substr(0, indent);
              out += t.substr(comment);
              restored = true;
            }
          }
        }
      }
    }
    if (!restored) out += line;
    if (i + 1 < lines.size()) out += '\n';
  }
  return out;
}

}  // namespace kf::tune
