// tune/space.h — a candidate's declared parameter space: what may vary, and what may not.
//
// A candidate declares parameters and constraints in line comments (DESIGN.md, Tuning):
//
//   // @param BLOCK: 64, 128, 256, 512        a list of integers
//   // @param VEC: 1..8                       an inclusive range; `1..16 step 4` strides
//   // @param TILE: pow2(8..64)               the powers of two in a range: 8, 16, 32, 64
//   // @constraint BLOCK * VEC <= 1024        C-like expression over parameters, the shape's
//                                             scalars and device limits; nonzero = allowed
//   // @threads BLOCK_X * BLOCK_Y             threads per block (work-group) of the launch
//   // @shared_bytes 2 * TILE * TILE * 4      static shared (local) memory per block
//
// Values are substituted as macros: an instantiation replaces each `// @param` line with
// `#define NAME value  // @param ...` on the same line, so compiler messages keep their line
// numbers and a value may be used as a template argument. The first listed value is the
// parameter's default (used when a parameterized kernel is evaluated without tuning).
//
// Expressions: integer and decimal literals, names, + - * / % (on integers `/` truncates as in
// C), comparisons, && || !, parentheses, min(a, b), max(a, b). `@threads` and
// `@shared_bytes` are checked against the device's limits (`max_threads_per_block`,
// `max_shared_bytes_per_block`), which constraints may also name, before anything compiles.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace kf::tune {

/// One value per parameter, in declaration order.
using Config = std::vector<std::int64_t>;

struct Param {
  std::string name;                  // a C identifier: [A-Za-z_][A-Za-z0-9_]*
  std::vector<std::int64_t> values;  // in declaration order, duplicates dropped; never empty
  int line = 0;                      // 1-based line of the declaration
};

/// The names an expression may use besides the parameters, with their values at one point.
struct Environment {
  std::map<std::string, double> scalars;  // the shape's scalars (task.yaml `shapes`)
  std::map<std::string, double> limits;   // device limits; an absent limit is not checked
};

/// The device limit names constraints may use.
inline constexpr std::string_view kMaxThreadsPerBlock = "max_threads_per_block";
inline constexpr std::string_view kMaxSharedBytesPerBlock = "max_shared_bytes_per_block";

class ParamSpace {
 public:
  ParamSpace();
  ~ParamSpace();
  ParamSpace(const ParamSpace&);
  ParamSpace& operator=(const ParamSpace&);
  ParamSpace(ParamSpace&&) noexcept;
  ParamSpace& operator=(ParamSpace&&) noexcept;

  /// Every declaration of `source`. kValidation listing every problem at once, one per line
  /// as "<file>:<line>: <what is wrong>" (a bad list or range, a duplicate parameter, an
  /// expression that does not parse or names something that is neither a parameter nor in
  /// `scalar_names` nor a device limit). A source without declarations gives an empty space.
  static core::Expected<ParamSpace> Parse(std::string_view source, std::string_view file,
                                          const std::vector<std::string>& scalar_names = {});

  bool empty() const { return params_.empty(); }
  const std::vector<Param>& params() const { return params_; }
  /// The size of the cross product of the value lists, constraints ignored.
  double CrossProductSize() const;
  /// Every parameter's first value.
  Config Default() const;

  /// Every configuration allowed under `env`, in lexicographic order of value positions. A
  /// constraint is checked as soon as the parameters it names are assigned, so a subtree that
  /// breaks it is never walked. kInvalidArgument when more than `max_points` are allowed, or
  /// when listing them takes more than 10 constraint checks per `max_points`.
  core::Expected<std::vector<Config>> Enumerate(const Environment& env, std::size_t max_points = 5'000'000) const;
  /// Why `config` is not allowed under `env` ("BLOCK * VEC <= 1024 (line 7) is false"), or nullopt.
  std::optional<std::string> Violation(const Config& config, const Environment& env) const;

  /// `source` with each declaration `// @param NAME: ...` turned into `#define NAME value  //
  /// @param NAME: ...`, on the same line. `config` must have one value per parameter.
  std::string Instantiate(std::string_view source, const Config& config) const;
  /// "BLOCK=128 VEC=4".
  std::string Label(const Config& config) const;
  /// The configuration an instantiation of this space's source holds (each declaration line
  /// read back as `#define NAME value`), or nullopt when a line is not one or a value is not
  /// declared.
  std::optional<Config> ValuesIn(std::string_view instantiated) const;
  /// The configuration a label names (text after the last NAME=VALUE pair is ignored), or
  /// nullopt when a parameter is missing or a value is not one of its declared values.
  std::optional<Config> ParseLabel(std::string_view label) const;

 private:
  struct Rule;  // a parsed constraint or device-limit check
  std::vector<Param> params_;
  std::vector<std::unique_ptr<Rule>> rules_;
};

/// Whether `source` has a `// @param` declaration (a cheap scan; Parse says whether it is valid).
bool DeclaresParams(std::string_view source);

/// The inverse of Instantiate, line by line: `#define NAME V  // @param NAME: SPEC` becomes
/// `// @param NAME: SPEC` when V is one of SPEC's values; other lines are kept. Lets the
/// EVOLVE-block check compare an instantiated candidate with its declaring template.
std::string Uninstantiate(std::string_view source);

}  // namespace kf::tune
