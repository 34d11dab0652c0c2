// Dimension expressions: a small recursive-descent parser over 64-bit integers.
//
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '/' | '%') unary)*
//   unary   := ('-' | '+') unary | primary
//   primary := integer | name | '(' expr ')'
//
// The same parser checks syntax (no scalars given: names are collected, nothing is computed)
// and evaluates, so the two can never disagree about what is valid.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "task/task.h"

namespace kf::task {
namespace {

using core::ErrorCode;
using core::Expected;
using core::MakeError;

// Deep nesting is rejected before it can exhaust the stack.
constexpr int kMaxDepth = 64;

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

class DimParser {
 public:
  // scalars == nullptr: syntax check only; names_ collects the names used.
  DimParser(std::string_view expr, const std::map<std::string, double>* scalars) : expr_(expr), scalars_(scalars) {}

  Expected<std::int64_t> Parse() {
    SkipSpace();
    if (pos_ == expr_.size()) return Fail("is empty");
    auto value = Expr(0);
    if (!value.ok()) return value;
    SkipSpace();
    if (pos_ != expr_.size()) return Fail(fmt::format("has unexpected '{}'", expr_[pos_]));
    return value;
  }

  std::vector<std::string> TakeNames() { return std::move(names_); }

 private:
  Expected<std::int64_t> Expr(int depth) {
    auto lhs = Term(depth);
    if (!lhs.ok()) return lhs;
    std::int64_t acc = *lhs;
    for (SkipSpace(); pos_ < expr_.size() && (expr_[pos_] == '+' || expr_[pos_] == '-'); SkipSpace()) {
      char op = expr_[pos_++];
      auto rhs = Term(depth);
      if (!rhs.ok()) return rhs;
      auto r = Apply(op, acc, *rhs);
      if (!r.ok()) return r;
      acc = *r;
    }
    return acc;
  }

  Expected<std::int64_t> Term(int depth) {
    auto lhs = Unary(depth);
    if (!lhs.ok()) return lhs;
    std::int64_t acc = *lhs;
    for (SkipSpace(); pos_ < expr_.size() && (expr_[pos_] == '*' || expr_[pos_] == '/' || expr_[pos_] == '%');
         SkipSpace()) {
      char op = expr_[pos_++];
      auto rhs = Unary(depth);
      if (!rhs.ok()) return rhs;
      auto r = Apply(op, acc, *rhs);
      if (!r.ok()) return r;
      acc = *r;
    }
    return acc;
  }

  Expected<std::int64_t> Unary(int depth) {
    if (depth > kMaxDepth) return Fail(fmt::format("nests deeper than {} levels", kMaxDepth));
    SkipSpace();
    if (pos_ < expr_.size() && (expr_[pos_] == '-' || expr_[pos_] == '+')) {
      char op = expr_[pos_++];
      auto operand = Unary(depth + 1);
      if (!operand.ok() || op == '+') return operand;
      return Apply('-', 0, *operand);
    }
    return Primary(depth);
  }

  Expected<std::int64_t> Primary(int depth) {
    SkipSpace();
    if (pos_ == expr_.size()) return Fail("ends where a number, a name or '(' was expected");
    char c = expr_[pos_];
    if (c == '(') {
      std::size_t open = pos_++;
      auto inner = Expr(depth + 1);
      if (!inner.ok()) return inner;
      SkipSpace();
      if (pos_ == expr_.size() || expr_[pos_] != ')') {
        return Fail(fmt::format("has an unclosed '(' at column {}", open + 1));
      }
      ++pos_;
      return inner;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) != 0) return Number();
    if (IsNameStart(c)) return Name();
    return Fail(fmt::format("has unexpected '{}' where a number, a name or '(' was expected", c));
  }

  Expected<std::int64_t> Number() {
    std::size_t start = pos_;
    std::int64_t value = 0;
    while (pos_ < expr_.size() && std::isdigit(static_cast<unsigned char>(expr_[pos_])) != 0) {
      int digit = expr_[pos_++] - '0';
      if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, digit, &value)) {
        pos_ = start;
        return Fail("has a number too large for 64 bits");
      }
    }
    if (pos_ < expr_.size() && (IsNameChar(expr_[pos_]) || expr_[pos_] == '.')) {
      return Fail(fmt::format("has unexpected '{}' after a number (dimensions are integers)", expr_[pos_]));
    }
    return value;
  }

  Expected<std::int64_t> Name() {
    std::size_t start = pos_;
    while (pos_ < expr_.size() && IsNameChar(expr_[pos_])) ++pos_;
    std::string name(expr_.substr(start, pos_ - start));
    if (scalars_ == nullptr) {
      if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
      return 0;
    }
    auto it = scalars_->find(name);
    if (it == scalars_->end()) {
      std::string known;
      for (const auto& [k, v] : *scalars_) known += (known.empty() ? "" : ", ") + k;
      return Error(fmt::format("uses unknown name '{}' (known scalars: {})", name, known.empty() ? "none" : known));
    }
    double v = it->second;
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (!std::isfinite(v) || v != std::trunc(v) || v >= 9223372036854775808.0 || v < -9223372036854775808.0) {
      return Error(fmt::format("uses '{}' = {}, which is not an integer", name, v));
    }
    return static_cast<std::int64_t>(v);
  }

  Expected<std::int64_t> Apply(char op, std::int64_t a, std::int64_t b) {
    if (scalars_ == nullptr) return 0;
    std::int64_t r = 0;
    bool overflow = false;
    switch (op) {
      case '+':
        overflow = __builtin_add_overflow(a, b, &r);
        break;
      case '-':
        overflow = __builtin_sub_overflow(a, b, &r);
        break;
      case '*':
        overflow = __builtin_mul_overflow(a, b, &r);
        break;
      case '/':
      case '%':
        if (b == 0) return Error(fmt::format("divides by zero ({} {} 0)", a, op));
        overflow = a == std::numeric_limits<std::int64_t>::min() && b == -1;
        if (!overflow) r = op == '/' ? a / b : a % b;
        break;
      default:
        KF_CHECK(false) << "unknown operator " << op;
    }
    if (overflow) return Error(fmt::format("overflows 64 bits ({} {} {})", a, op, b));
    return r;
  }

  void SkipSpace() {
    while (pos_ < expr_.size() && std::isspace(static_cast<unsigned char>(expr_[pos_])) != 0) ++pos_;
  }

  core::Error Fail(std::string_view what) const {
    return MakeError(ErrorCode::kValidation,
                     fmt::format("dimension '{}' {} (column {})", expr_, what, std::min(pos_, expr_.size()) + 1));
  }
  core::Error Error(std::string_view what) const {
    return MakeError(ErrorCode::kValidation, fmt::format("dimension '{}' {}", expr_, what));
  }

  std::string_view expr_;
  const std::map<std::string, double>* scalars_;
  std::size_t pos_ = 0;
  std::vector<std::string> names_;
};

}  // namespace

Expected<std::int64_t> EvalDimExpr(std::string_view expr, const std::map<std::string, double>& scalars) {
  return DimParser(expr, &scalars).Parse();
}

Expected<std::vector<std::string>> DimExprNames(std::string_view expr) {
  DimParser parser(expr, nullptr);
  auto parsed = parser.Parse();
  if (!parsed.ok()) return parsed.error();
  return parser.TakeNames();
}

}  // namespace kf::task
