#include "eval/eval_result.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <utility>

namespace kf::eval {
namespace {

constexpr std::array<std::pair<Status, std::string_view>, 9> kStatusNames = {{
    {Status::kStaticRejected, "static_rejected"},
    {Status::kCompileError, "compile_error"},
    {Status::kRuntimeError, "runtime_error"},
    {Status::kTimeout, "timeout"},
    {Status::kWrongShape, "wrong_shape"},
    {Status::kWrongValue, "wrong_value"},
    {Status::kImplausible, "implausible"},
    {Status::kPassed, "passed"},
    {Status::kWorkerLost, "worker_lost"},
}};

// ---------------------------------------------------------------------------------------------
// JSON. Non-finite doubles (a NaN "actual", an infinite relative error) are legitimate values
// here, but JSON has no spelling for them, so they travel as the strings "nan", "inf", "-inf".

core::Json NumberToJson(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

std::string_view JsonTypeName(const core::Json& j) {
  switch (j.type()) {
    case core::Json::value_t::null: return "null";
    case core::Json::value_t::object: return "an object";
    case core::Json::value_t::array: return "an array";
    case core::Json::value_t::string: return "a string";
    case core::Json::value_t::boolean: return "a boolean";
    case core::Json::value_t::number_integer:
    case core::Json::value_t::number_unsigned: return "an integer";
    case core::Json::value_t::number_float: return "a number";
    default: return "not a JSON value";
  }
}

/// Reads the fields of one JSON object. The first problem is remembered (with the field's
/// path, e.g. "timings[1].median_ms") and later reads return defaults, so a parser reads like
/// a list of fields and checks `error` once at the end.
class FieldReader {
 public:
  FieldReader(const core::Json& object, std::string path, std::optional<core::Error>* error)
      : object_(object), path_(std::move(path)), error_(error) {
    if (!object_.is_object()) Fail(fmt::format("{} is {}, expected an object", Where(), JsonTypeName(object_)));
  }

  const core::Json* Find(std::string_view key) {
    if (*error_ || !object_.is_object()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end()) {
      Fail(fmt::format("missing field '{}'", Path(key)));
      return nullptr;
    }
    return &*it;
  }

  std::string String(std::string_view key) {
    const core::Json* v = Find(key);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      WrongType(key, *v, "a string");
      return {};
    }
    return v->get<std::string>();
  }

  double Number(std::string_view key) {
    const core::Json* v = Find(key);
    if (v == nullptr) return 0;
    if (v->is_number()) return v->get<double>();
    if (v->is_string()) {
      const auto& s = v->get_ref<const std::string&>();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
    }
    WrongType(key, *v, "a number (or \"nan\", \"inf\", \"-inf\")");
    return 0;
  }

  /// Like Number, but a missing field reads as 0 (fields added after results were stored).
  double OptionalNumber(std::string_view key) {
    if (*error_ || !object_.is_object() || !object_.contains(key)) return 0;
    return Number(key);
  }

  std::int64_t Integer(std::string_view key) {
    const core::Json* v = Find(key);
    if (v == nullptr) return 0;
    if (v->is_number_integer()) return v->get<std::int64_t>();
    WrongType(key, *v, "an integer");
    return 0;
  }

  bool Bool(std::string_view key) {
    const core::Json* v = Find(key);
    if (v == nullptr) return false;
    if (v->is_boolean()) return v->get<bool>();
    WrongType(key, *v, "a boolean");
    return false;
  }

  /// The array under key; nullptr on error.
  const core::Json* Array(std::string_view key) {
    const core::Json* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
      WrongType(key, *v, "an array");
      return nullptr;
    }
    return v;
  }

  std::string Path(std::string_view key) const { return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key); }

 private:
  std::string Where() const { return path_.empty() ? std::string("the document") : fmt::format("field '{}'", path_); }
  void WrongType(std::string_view key, const core::Json& v, std::string_view expected) {
    Fail(fmt::format("field '{}' is {}, expected {}", Path(key), JsonTypeName(v), expected));
  }
  void Fail(std::string message) {
    if (!*error_) *error_ = core::MakeError(core::ErrorCode::kParse, "eval result: " + std::move(message));
  }

  const core::Json& object_;
  std::string path_;
  std::optional<core::Error>* error_;
};

core::Json MismatchToJson(const Mismatch& m) {
  return {
      {"arg", m.arg},
      {"shape_label", m.shape_label},
      {"trial", m.trial},
      {"bad_count", m.bad_count},
      {"total", m.total},
      {"first_bad_index", m.first_bad_index},
      {"first_bad_coord", m.first_bad_coord},
      {"expected", NumberToJson(m.expected)},
      {"actual", NumberToJson(m.actual)},
      {"max_abs_error", NumberToJson(m.max_abs_error)},
      {"max_rel_error", NumberToJson(m.max_rel_error)},
      {"kind", m.kind},
  };
}

Mismatch MismatchFromJson(const core::Json& j, std::optional<core::Error>* error) {
  FieldReader in(j, "mismatch", error);
  Mismatch m;
  m.arg = in.String("arg");
  m.shape_label = in.String("shape_label");
  m.trial = static_cast<int>(in.Integer("trial"));
  m.bad_count = in.Integer("bad_count");
  m.total = in.Integer("total");
  m.first_bad_index = in.Integer("first_bad_index");
  if (const core::Json* coord = in.Array("first_bad_coord")) {
    for (std::size_t i = 0; i < coord->size() && !*error; ++i) {
      if (!(*coord)[i].is_number_integer()) {
        *error = core::MakeError(core::ErrorCode::kParse,
                                 fmt::format("eval result: field 'mismatch.first_bad_coord[{}]' is {}, expected an integer",
                                             i, JsonTypeName((*coord)[i])));
        break;
      }
      m.first_bad_coord.push_back((*coord)[i].get<std::int64_t>());
    }
  }
  m.expected = in.Number("expected");
  m.actual = in.Number("actual");
  m.max_abs_error = in.Number("max_abs_error");
  m.max_rel_error = in.Number("max_rel_error");
  m.kind = in.String("kind");
  return m;
}

core::Json TimingToJson(const ShapeTiming& t) {
  return {
      {"shape_label", t.shape_label},
      {"trials", t.trials},
      {"median_ms", NumberToJson(t.median_ms)},
      {"min_ms", NumberToJson(t.min_ms)},
      {"cv", NumberToJson(t.cv)},
      {"reference_median_ms", NumberToJson(t.reference_median_ms)},
      {"speedup", NumberToJson(t.speedup)},
      {"achieved_gbps", NumberToJson(t.achieved_gbps)},
      {"achieved_gflops", NumberToJson(t.achieved_gflops)},
      {"bandwidth_fraction", NumberToJson(t.bandwidth_fraction)},
      {"compute_fraction", NumberToJson(t.compute_fraction)},
      {"compile_median_ms", NumberToJson(t.compile_median_ms)},
      {"speedup_vs_compile", NumberToJson(t.speedup_vs_compile)},
  };
}

ShapeTiming TimingFromJson(const core::Json& j, std::string path, std::optional<core::Error>* error) {
  FieldReader in(j, std::move(path), error);
  ShapeTiming t;
  t.shape_label = in.String("shape_label");
  t.trials = static_cast<int>(in.Integer("trials"));
  t.median_ms = in.Number("median_ms");
  t.min_ms = in.Number("min_ms");
  t.cv = in.Number("cv");
  t.reference_median_ms = in.Number("reference_median_ms");
  t.speedup = in.Number("speedup");
  t.achieved_gbps = in.OptionalNumber("achieved_gbps");
  t.achieved_gflops = in.OptionalNumber("achieved_gflops");
  t.bandwidth_fraction = in.OptionalNumber("bandwidth_fraction");
  t.compute_fraction = in.OptionalNumber("compute_fraction");
  t.compile_median_ms = in.OptionalNumber("compile_median_ms");
  t.speedup_vs_compile = in.OptionalNumber("speedup_vs_compile");
  return t;
}

core::Json PhasesToJson(const PhaseTimes& p) {
  return {
      {"static_ms", NumberToJson(p.static_ms)},
      {"compile_ms", NumberToJson(p.compile_ms)},
      {"compile_cached", p.compile_cached},
      {"correctness_ms", NumberToJson(p.correctness_ms)},
      {"timing_ms", NumberToJson(p.timing_ms)},
      {"kernel_ms", NumberToJson(p.kernel_ms)},
      {"flush_ms", NumberToJson(p.flush_ms)},
      {"total_ms", NumberToJson(p.total_ms)},
  };
}

PhaseTimes PhasesFromJson(const core::Json& j, std::optional<core::Error>* error) {
  FieldReader in(j, "phases", error);
  PhaseTimes p;
  p.static_ms = in.Number("static_ms");
  p.compile_ms = in.Number("compile_ms");
  p.compile_cached = in.Bool("compile_cached");
  p.correctness_ms = in.Number("correctness_ms");
  p.timing_ms = in.Number("timing_ms");
  p.kernel_ms = in.Number("kernel_ms");
  p.flush_ms = in.Number("flush_ms");
  p.total_ms = in.Number("total_ms");
  return p;
}

// ---------------------------------------------------------------------------------------------
// Text. Everything here may end up in a prompt with a hard character budget, so each piece is
// built to a budget and the final text is clamped once more as a guarantee.

/// A single log line longer than this (template backtraces) is cut, so that one line cannot
/// eat the budget meant for several errors.
constexpr std::size_t kMaxLogLineChars = 400;
/// Context kept around a compiler line that mentions an error: gcc prints "In function ..."
/// before it and the source line plus a caret line after it.
constexpr std::size_t kErrorContextBefore = 1;
constexpr std::size_t kErrorContextAfter = 2;

/// Cuts s to at most max_chars bytes without splitting a UTF-8 sequence.
void ClampUtf8(std::string& s, std::size_t max_chars) {
  if (s.size() <= max_chars) return;
  std::size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string line(text.substr(0, nl));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > kMaxLogLineChars) {
      ClampUtf8(line, kMaxLogLineChars);
      line += " [...]";
    }
    lines.push_back(std::move(line));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

bool MentionsError(std::string_view line) {
  static constexpr std::string_view kWord = "error";
  auto it = std::search(line.begin(), line.end(), kWord.begin(), kWord.end(),
                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  return it != line.end();
}

enum class NotePlace { kBefore, kAfter };

/// Lines taken in `order` (a priority list of line indices, duplicates allowed) while they fit
/// in max_chars, printed in their original order; a note counts the lines left out.
std::string SelectLines(const std::vector<std::string>& lines, const std::vector<std::size_t>& order,
                        std::size_t max_chars, NotePlace note_place) {
  auto note = [&](std::size_t omitted) {
    return note_place == NotePlace::kAfter ? fmt::format("[... {} more lines]", omitted)
                                           : fmt::format("[... {} earlier lines]", omitted);
  };
  std::size_t total_chars = 0;
  for (const auto& l : lines) total_chars += l.size() + 1;
  if (total_chars <= max_chars) {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
  const std::size_t reserve = note(lines.size()).size() + 1;
  std::vector<std::string> kept(lines.size());  // "" = left out; kept lines end with '\n'
  std::size_t used = 0, kept_count = 0;
  for (std::size_t i : order) {
    if (!kept[i].empty()) continue;
    std::string line = lines[i] + "\n";
    if (used + line.size() + reserve > max_chars) {
      // A first line too long for the whole budget is cut rather than leaving nothing.
      if (kept_count > 0 || max_chars <= reserve + 1) break;
      ClampUtf8(line, max_chars - reserve - 1);
      line += "\n";
      kept[i] = std::move(line);
      ++kept_count;
      break;
    }
    used += line.size();
    kept[i] = std::move(line);
    ++kept_count;
  }
  std::string out;
  if (note_place == NotePlace::kBefore) out += note(lines.size() - kept_count) + "\n";
  for (const auto& line : kept) out += line;
  if (note_place == NotePlace::kAfter) out += note(lines.size() - kept_count) + "\n";
  ClampUtf8(out, max_chars);
  return out;
}

std::string HeadLines(std::string_view text, std::size_t max_chars) {
  auto lines = SplitLines(text);
  std::vector<std::size_t> order(lines.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  return SelectLines(lines, order, max_chars, NotePlace::kAfter);
}

std::string TailLines(std::string_view text, std::size_t max_chars) {
  auto lines = SplitLines(text);
  std::vector<std::size_t> order(lines.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = order.size() - 1 - i;
  return SelectLines(lines, order, max_chars, NotePlace::kBefore);
}

/// The compiler's first errors with a little context; the head of the log when no line
/// mentions an error (a linker or driver failure). Warnings before the errors give way.
std::string FirstCompilerErrors(std::string_view log, std::size_t max_chars) {
  auto lines = SplitLines(log);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!MentionsError(lines[i])) continue;
    std::size_t from = i >= kErrorContextBefore ? i - kErrorContextBefore : 0;
    std::size_t to = std::min(lines.size() - 1, i + kErrorContextAfter);
    for (std::size_t k = from; k <= to; ++k) order.push_back(k);
  }
  if (order.empty()) return HeadLines(log, max_chars);
  return SelectLines(lines, order, max_chars, NotePlace::kAfter);
}

std::string FormatMs(double ms) {
  if (!std::isfinite(ms) || ms == 0) return fmt::format("{}", ms);
  if (ms < 1) return fmt::format("{:.3g}", ms);
  if (ms < 100) return fmt::format("{:.3f}", ms);
  return fmt::format("{:.1f}", ms);
}

std::string FormatValue(double v) { return fmt::format("{:.6g}", v); }

std::string FormatCoord(const std::vector<std::int64_t>& coord) { return fmt::format("[{}]", fmt::join(coord, ", ")); }

std::string MismatchSummary(const Mismatch& m) {
  if (m.kind == "unwritten") return fmt::format("{}: {} of {} elements never written", m.arg, m.bad_count, m.total);
  if (m.kind == "input_mutated")
    return fmt::format("{}: input modified by the kernel, {} of {} elements changed", m.arg, m.bad_count, m.total);
  if (m.kind == "nonfinite") return fmt::format("{}: {} of {} elements are NaN or Inf", m.arg, m.bad_count, m.total);
  return fmt::format("{}: {} of {} elements differ", m.arg, m.bad_count, m.total);
}

std::string MismatchDetails(const Mismatch& m) {
  std::string trial = m.trial < 0 ? "re-check after timing" : fmt::format("trial {}", m.trial);
  std::string out = fmt::format("  shape {}, {}, kind {}\n", m.shape_label, trial, m.kind.empty() ? "value" : m.kind);
  if (m.first_bad_index >= 0) {
    out += fmt::format("  first bad element: flat index {}", m.first_bad_index);
    if (!m.first_bad_coord.empty()) out += ", coordinate " + FormatCoord(m.first_bad_coord);
    out += fmt::format(": expected {}, got {}\n", FormatValue(m.expected), FormatValue(m.actual));
  }
  out += fmt::format("  max abs error {}, max rel error {}\n", FormatValue(m.max_abs_error), FormatValue(m.max_rel_error));
  return out;
}

std::string SpeedupSummary(const EvalResult& r) {
  return fmt::format("speedup {:.2f}x (geomean over {} shape{})", r.speedup, r.timings.size(),
                     r.timings.size() == 1 ? "" : "s");
}

/// "-" for a throughput that was not computed (0).
std::string FormatRate(double v) { return v > 0 ? fmt::format("{:.4g}", v) : "-"; }
std::string FormatPercent(double fraction) { return fraction > 0 ? fmt::format("{:.1f}%", fraction * 100) : "-"; }

std::string TimingTable(const std::vector<ShapeTiming>& timings) {
  std::size_t width = 5;
  bool throughput = false;  // the "% of peak" columns appear once the plausibility stage ran
  for (const auto& t : timings) {
    width = std::max(width, t.shape_label.size());
    throughput = throughput || t.achieved_gbps > 0 || t.achieved_gflops > 0;
  }
  std::string out = fmt::format("  {:<{}}  {:>10}  {:>10}  {:>6}  {:>12}  {:>8}", "shape", width, "median ms", "min ms",
                                "cv", "reference ms", "speedup");
  if (throughput) out += fmt::format("  {:>9}  {:>8}  {:>9}  {:>9}", "GB/s", "% peak", "GFLOP/s", "% peak");
  out += "\n";
  for (const auto& t : timings) {
    out += fmt::format("  {:<{}}  {:>10}  {:>10}  {:>5.1f}%  {:>12}  {:>7.2f}x", t.shape_label, width,
                       FormatMs(t.median_ms), FormatMs(t.min_ms), t.cv * 100, FormatMs(t.reference_median_ms),
                       t.speedup);
    if (throughput) {
      out += fmt::format("  {:>9}  {:>8}  {:>9}  {:>9}", FormatRate(t.achieved_gbps), FormatPercent(t.bandwidth_fraction),
                         FormatRate(t.achieved_gflops), FormatPercent(t.compute_fraction));
    }
    out += "\n";
  }
  return out;
}

std::string PhaseLine(const PhaseTimes& p) {
  return fmt::format("time: static {} ms | compile {} ms{} | correctness {} ms | timing {} ms | total {} ms\n",
                     FormatMs(p.static_ms), FormatMs(p.compile_ms), p.compile_cached ? " (cached)" : "",
                     FormatMs(p.correctness_ms), FormatMs(p.timing_ms), FormatMs(p.total_ms));
}

std::string UpperName(Status s) {
  std::string name(StatusName(s));
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

/// The log as the reader needs it: the first compiler errors, the static findings from the
/// top, or the tail of a crashed program's stderr.
std::string LogExcerpt(const EvalResult& r, std::size_t max_chars) {
  switch (r.status) {
    case Status::kCompileError: return FirstCompilerErrors(r.log, max_chars);
    case Status::kStaticRejected: return HeadLines(r.log, max_chars);
    default: return TailLines(r.log, max_chars);
  }
}

std::string_view LogTitle(Status s) {
  switch (s) {
    case Status::kCompileError: return "compiler errors (first shown):";
    case Status::kStaticRejected: return "static check findings:";
    default: return "stderr (last lines):";
  }
}

}  // namespace

std::string_view StatusName(Status s) {
  for (const auto& [status, name] : kStatusNames) {
    if (status == s) return name;
  }
  KF_CHECK(false) << "unknown Status " << static_cast<int>(s);
  return {};
}

core::Expected<Status> ParseStatus(std::string_view name) {
  for (const auto& [status, status_name] : kStatusNames) {
    if (status_name == name) return status;
  }
  std::vector<std::string_view> names;
  for (const auto& entry : kStatusNames) names.push_back(entry.second);
  return core::MakeError(core::ErrorCode::kParse,
                         fmt::format("unknown status '{}' (expected one of: {})", name, fmt::join(names, ", ")));
}

int StatusLevel(Status s) {
  switch (s) {
    case Status::kStaticRejected: return 0;
    case Status::kCompileError: return 1;
    case Status::kRuntimeError:
    case Status::kTimeout:
    case Status::kWorkerLost: return 2;
    case Status::kWrongShape: return 3;
    case Status::kWrongValue:
    case Status::kImplausible: return 4;
    case Status::kPassed: return 5;
  }
  KF_CHECK(false) << "unknown Status " << static_cast<int>(s);
  return 0;
}

double EvalResult::Fitness() const {
  double level = StatusLevel(status);
  if (status == Status::kPassed && std::isfinite(speedup) && speedup > 0) return level + speedup;
  return level;
}

void SetGeometricMeans(EvalResult& r) {
  if (r.timings.empty()) return;
  double log_speedup = 0, log_median = 0, log_compile = 0;
  bool all_compiled = true;
  for (const ShapeTiming& t : r.timings) {
    log_speedup += std::log(t.speedup);
    log_median += std::log(std::max(t.median_ms, 1e-6));
    if (t.speedup_vs_compile > 0) {
      log_compile += std::log(t.speedup_vs_compile);
    } else {
      all_compiled = false;
    }
  }
  const double n = static_cast<double>(r.timings.size());
  r.speedup = std::exp(log_speedup / n);
  r.median_ms = std::exp(log_median / n);
  r.speedup_vs_compile = all_compiled ? std::exp(log_compile / n) : 0;
}

core::Json EvalResult::ToJson() const {
  core::Json timings_json = core::Json::array();
  for (const auto& t : timings) timings_json.push_back(TimingToJson(t));
  core::Json profile_json = core::Json::array();
  for (const auto& k : profile) profile_json.push_back(k.ToJson());
  return {
      {"status", StatusName(status)},
      // What children printed may be any bytes; JSON needs UTF-8.
      {"message", core::ValidUtf8(message)},
      {"log", core::ValidUtf8(log)},
      {"mismatch", mismatch ? MismatchToJson(*mismatch) : core::Json(nullptr)},
      {"timings", std::move(timings_json)},
      {"speedup", NumberToJson(speedup)},
      {"median_ms", NumberToJson(median_ms)},
      {"speedup_vs_compile", NumberToJson(speedup_vs_compile)},
      {"phases", PhasesToJson(phases)},
      {"code_hash", code_hash},
      {"profile", std::move(profile_json)},
      {"configuration", core::ValidUtf8(configuration)},
      {"tuning", core::ValidUtf8(tuning)},
  };
}

core::Expected<EvalResult> EvalResult::FromJson(const core::Json& j) {
  std::optional<core::Error> error;
  FieldReader in(j, "", &error);
  EvalResult r;
  std::string status_name = in.String("status");
  if (!error) {
    auto status = ParseStatus(status_name);
    if (!status.ok()) return core::MakeError(core::ErrorCode::kParse, "eval result: field 'status': " + status.error().message);
    r.status = *status;
  }
  r.message = in.String("message");
  r.log = in.String("log");
  if (const core::Json* m = in.Find("mismatch"); m != nullptr && !m->is_null()) r.mismatch = MismatchFromJson(*m, &error);
  if (const core::Json* timings = in.Array("timings")) {
    for (std::size_t i = 0; i < timings->size(); ++i) {
      r.timings.push_back(TimingFromJson((*timings)[i], fmt::format("timings[{}]", i), &error));
    }
  }
  r.speedup = in.Number("speedup");
  r.median_ms = in.Number("median_ms");
  r.speedup_vs_compile = in.OptionalNumber("speedup_vs_compile");
  if (const core::Json* p = in.Find("phases")) r.phases = PhasesFromJson(*p, &error);
  r.code_hash = in.String("code_hash");
  // Optional: results stored before profiling existed have none.
  if (j.is_object() && j.contains("profile") && j["profile"].is_array()) {
    for (const auto& k : j["profile"]) {
      auto kernel = KernelProfile::FromJson(k);
      if (!kernel.ok()) return core::MakeError(core::ErrorCode::kParse, "eval result: field 'profile': " + kernel.error().message);
      r.profile.push_back(std::move(kernel).value());
    }
  }
  // Optional: results stored before tuning existed have neither.
  if (j.is_object() && j.contains("configuration") && j["configuration"].is_string()) {
    r.configuration = j["configuration"].get<std::string>();
  }
  if (j.is_object() && j.contains("tuning") && j["tuning"].is_string()) r.tuning = j["tuning"].get<std::string>();
  if (error) return *error;
  return r;
}

std::string FeedbackText(const EvalResult& r, std::size_t max_chars) {
  std::string out = fmt::format("status: {}\n", StatusName(r.status));
  if (!r.message.empty()) {
    std::string message = r.message;
    ClampUtf8(message, max_chars / 2);
    out += message + "\n";
  }
  if (!r.configuration.empty()) out += "configuration: " + r.configuration + "\n";
  if (r.mismatch) out += "mismatch: " + MismatchSummary(*r.mismatch) + "\n" + MismatchDetails(*r.mismatch);
  if (r.status == Status::kPassed || !r.timings.empty()) {
    if (r.status == Status::kPassed) out += SpeedupSummary(r) + "\n";
    out += TimingTable(r.timings);
  }
  if (!r.tuning.empty()) out += r.tuning;
  if (!r.profile.empty()) out += ProfileFeedback(r.profile);
  if (!r.log.empty() && out.size() + 64 < max_chars) {
    std::string_view title = LogTitle(r.status);
    out += fmt::format("{}\n", title);
    out += LogExcerpt(r, max_chars - out.size());
  }
  ClampUtf8(out, max_chars);
  return out;
}

std::string HumanVerdict(const EvalResult& r) {
  constexpr std::size_t kTerminalLogChars = 4000;
  std::string out = UpperName(r.status) + "  ";
  bool message_shown = false;
  if (r.status == Status::kPassed) {
    out += SpeedupSummary(r) + "\n";
  } else if (r.mismatch) {
    out += MismatchSummary(*r.mismatch) + "\n";
  } else {
    out += r.message + "\n";
    message_shown = true;
  }
  if (!message_shown && !r.message.empty()) out += "  " + r.message + "\n";
  if (!r.configuration.empty()) out += "  configuration " + r.configuration + "\n";
  if (r.mismatch) out += MismatchDetails(*r.mismatch);
  if (!r.timings.empty()) out += TimingTable(r.timings);
  if (!r.profile.empty()) out += ProfileFeedback(r.profile, 16);
  if (!r.log.empty() && r.status != Status::kPassed) {
    out += fmt::format("{}\n", LogTitle(r.status));
    out += LogExcerpt(r, kTerminalLogChars);
  }
  out += PhaseLine(r.phases);
  return out;
}

}  // namespace kf::eval
