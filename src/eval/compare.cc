#include "eval/compare.h"

#include <cmath>
#include <cstring>

#include "eval/input_gen.h"

namespace kf::eval {

std::vector<std::int64_t> Coordinate(const std::vector<std::int64_t>& dims, std::int64_t flat) {
  std::vector<std::int64_t> coord(dims.size(), 0);
  for (std::size_t k = dims.size(); k-- > 0;) {
    if (dims[k] <= 0) continue;
    coord[k] = flat % dims[k];
    flat /= dims[k];
  }
  return coord;
}

std::optional<Mismatch> CompareOutput(const task::ArgSpec& arg, const std::vector<std::int64_t>& dims,
                                      const unsigned char* expected, const unsigned char* actual,
                                      const task::Tolerance& tolerance, unsigned char int_poison) {
  std::int64_t total = 1;
  for (std::int64_t d : dims) total *= d;
  Mismatch m;
  m.arg = arg.name;
  m.total = total;
  for (std::int64_t i = 0; i < total; ++i) {
    const double e = LoadAsDouble(arg.dtype, expected, i);
    const double a = LoadAsDouble(arg.dtype, actual, i);
    bool bad = false;
    const char* kind = "value";
    if (std::isfinite(e)) {
      const double abs_err = std::fabs(a - e);
      if (!std::isfinite(a)) {
        bad = true;
        kind = "nonfinite";
      } else {
        bad = !(abs_err <= tolerance.atol + tolerance.rtol * std::fabs(e));
        m.max_abs_error = std::max(m.max_abs_error, abs_err);
        if (e != 0) m.max_rel_error = std::max(m.max_rel_error, abs_err / std::fabs(e));
      }
    } else {
      bad = std::isnan(e) ? !std::isnan(a) : a != e;
      kind = "nonfinite";
    }
    if (!bad) continue;
    if (IsPoison(arg.dtype, actual, i, int_poison)) kind = "unwritten";
    if (m.bad_count++ == 0) {
      m.first_bad_index = i;
      m.first_bad_coord = Coordinate(dims, i);
      m.expected = e;
      m.actual = a;
      m.kind = kind;
    }
  }
  if (m.bad_count == 0) return std::nullopt;
  return m;
}

std::optional<Mismatch> CompareInput(const task::ArgSpec& arg, const std::vector<std::int64_t>& dims,
                                     std::string_view original, const unsigned char* now) {
  if (std::memcmp(original.data(), now, original.size()) == 0) return std::nullopt;
  const std::size_t size = task::DTypeSize(arg.dtype);
  const auto* before = reinterpret_cast<const unsigned char*>(original.data());
  Mismatch m;
  m.arg = arg.name;
  m.kind = "input_mutated";
  m.total = static_cast<std::int64_t>(original.size() / size);
  for (std::int64_t i = 0; i < m.total; ++i) {
    if (std::memcmp(before + i * size, now + i * size, size) == 0) continue;
    if (m.bad_count++ == 0) {
      m.first_bad_index = i;
      m.first_bad_coord = Coordinate(dims, i);
      m.expected = LoadAsDouble(arg.dtype, before, i);
      m.actual = LoadAsDouble(arg.dtype, now, i);
    }
  }
  return m;
}

}  // namespace kf::eval
