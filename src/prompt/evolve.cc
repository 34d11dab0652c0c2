// EVOLVE-block enforcement: a file is a sequence of frozen regions separated by evolvable
// blocks. Marker lines belong to the frozen regions, so the candidate must keep them too.

#include <fmt/format.h>

#include <string>
#include <vector>

#include "prompt/prompt.h"
#include "prompt/text.h"

namespace kf::prompt {
namespace {

/// Consecutive lines of one file that may not change.
struct FrozenRegion {
  int first_line = 1;  // 1-based line number of lines.front() in its file
  std::vector<std::string_view> lines;
};

/// The frozen regions of a file with n blocks: n + 1 of them, in file order. Region i ends with
/// the START marker of block i; region i + 1 begins with that block's END marker.
core::Expected<std::vector<FrozenRegion>> SplitFrozen(const std::vector<std::string_view>& lines,
                                                      std::string_view which) {
  auto fail = [&](int line_number, const std::string& what) {
    return core::MakeError(core::ErrorCode::kValidation,
                           fmt::format("malformed EVOLVE markers in the {}: line {}: {}", which, line_number, what));
  };
  std::vector<FrozenRegion> regions(1);
  int open_line = 0;  // line of the START marker of the open block, 0 when none is open
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const int line_number = static_cast<int>(i) + 1;
    const bool is_start = lines[i].find(kEvolveStart) != std::string_view::npos;
    const bool is_end = lines[i].find(kEvolveEnd) != std::string_view::npos;
    if (is_start && is_end) {
      return fail(line_number, fmt::format("one line holds both {} and {}; put each marker on its own line",
                                           kEvolveStart, kEvolveEnd));
    }
    if (is_start) {
      if (open_line != 0) {
        return fail(line_number, fmt::format("{} inside the block opened at line {}; blocks cannot nest",
                                             kEvolveStart, open_line));
      }
      regions.back().lines.push_back(lines[i]);
      open_line = line_number;
    } else if (is_end) {
      if (open_line == 0) return fail(line_number, fmt::format("{} without an open {}", kEvolveEnd, kEvolveStart));
      regions.push_back(FrozenRegion{line_number, {lines[i]}});
      open_line = 0;
    } else if (open_line == 0) {
      regions.back().lines.push_back(lines[i]);
    }
  }
  if (open_line != 0) return fail(open_line, fmt::format("{} is never closed by an {}", kEvolveStart, kEvolveEnd));
  return regions;
}

std::string Quoted(const std::vector<std::string_view>& lines, std::size_t k) {
  return k < lines.size() ? fmt::format("{:?}", lines[k]) : std::string("(end of file)");
}

}  // namespace

bool HasEvolveBlocks(std::string_view code) {
  return code.find(kEvolveStart) != std::string_view::npos || code.find(kEvolveEnd) != std::string_view::npos;
}

core::Expected<void> CheckEvolveBlocks(std::string_view original, std::string_view candidate) {
  if (!HasEvolveBlocks(original)) return core::Ok();
  const std::string original_text = NormalizeNewlines(original);
  const std::string candidate_text = NormalizeNewlines(candidate);
  KF_TRY(const std::vector<FrozenRegion> before, SplitFrozen(SplitLines(original_text), "original"));
  KF_TRY(const std::vector<FrozenRegion> after, SplitFrozen(SplitLines(candidate_text), "candidate"));
  if (before.size() != after.size()) {
    return core::MakeError(
        core::ErrorCode::kValidation,
        fmt::format("the original has {} EVOLVE block(s) but the candidate has {}; keep every {} and {} line as it is",
                    before.size() - 1, after.size() - 1, kEvolveStart, kEvolveEnd));
  }
  for (std::size_t r = 0; r < before.size(); ++r) {
    const std::vector<std::string_view>& was = before[r].lines;
    const std::vector<std::string_view>& now = after[r].lines;
    for (std::size_t k = 0; k < std::max(was.size(), now.size()); ++k) {
      if (k < was.size() && k < now.size() && was[k] == now[k]) continue;
      const int first = before[r].first_line;
      return core::MakeError(
          core::ErrorCode::kValidation,
          fmt::format("line {} of the original is outside the EVOLVE blocks (frozen lines {}-{}) and was changed:\n"
                      "  original:  {}\n"
                      "  candidate: {}\n"
                      "Only code between {} and {} lines may change.",
                      first + static_cast<int>(k), first, first + static_cast<int>(was.size()) - 1, Quoted(was, k),
                      Quoted(now, k), kEvolveStart, kEvolveEnd));
    }
  }
  return core::Ok();
}

}  // namespace kf::prompt
