#include "eval/evaluator_common.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdint>
#include <random>
#include <vector>

#include "eval/cpu_backend.h"

namespace kf::eval {
namespace {

std::string Coord(const std::vector<std::int64_t>& c) {
  std::string s = "[";
  for (std::size_t i = 0; i < c.size(); ++i) s += (i > 0 ? "," : "") + std::to_string(c[i]);
  return s + "]";
}

}  // namespace

std::string Tail(const std::string& text, std::size_t cap) {
  return text.size() <= cap ? text : "[...]\n" + text.substr(text.size() - cap);
}

std::string MachineId() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}|{}", host, CpuModel());
}

std::string DescribeMismatch(const Mismatch& m, std::string_view unit) {
  const std::string where = m.trial < 0 ? fmt::format("{} {} (re-check after timing)", unit, m.shape_label)
                                        : fmt::format("{} {} (trial {})", unit, m.shape_label, m.trial);
  if (m.kind == "input_mutated") {
    return fmt::format("input {} was modified by the kernel on {}: {} of {} elements changed, first at index {} {} "
                       "({} -> {}); inputs are read-only",
                       m.arg, where, m.bad_count, m.total, m.first_bad_index, Coord(m.first_bad_coord), m.expected,
                       m.actual);
  }
  std::string s = fmt::format("{}: {} of {} elements differ on {}; first at index {} {}: expected {} got {}", m.arg,
                              m.bad_count, m.total, where, m.first_bad_index, Coord(m.first_bad_coord), m.expected,
                              m.actual);
  if (m.kind == "unwritten") s += " (never written)";
  if (m.kind == "nonfinite") s += " (non-finite)";
  s += fmt::format("; max abs error {:.3g}, max rel error {:.3g}", m.max_abs_error, m.max_rel_error);
  if (m.trial < 0) s += "; the kernel must give the same result on every call";
  return s;
}

std::string Nonce() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

}  // namespace kf::eval
