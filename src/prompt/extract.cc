// Turning an LLM reply into a candidate source: SEARCH/REPLACE diffs against the parent when the
// reply has any, else the chosen fenced code block; then the parent's EVOLVE blocks are enforced.
// The diff machinery is also how the prompt engineer edits meta-prompt sections (meta_prompt.cc).

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "prompt/prompt.h"
#include "prompt/text.h"

namespace kf::prompt {
namespace {

Extraction Fail(ExtractKind kind, std::string error) { return Extraction{kind, "", std::move(error)}; }

// ---- SEARCH/REPLACE blocks ---------------------------------------------------------------------

/// True when the trimmed line is `count+` copies of ch (at least 5), optionally followed by
/// spaces and then word. Models vary the marker length, so any run of 5 or more is accepted.
bool IsMarker(std::string_view line, char ch, std::string_view word) {
  line = Trim(line);
  std::size_t run = 0;
  while (run < line.size() && line[run] == ch) ++run;
  if (run < 5) return false;
  return Trim(line.substr(run)) == word;
}
bool IsSearchLine(std::string_view line) { return IsMarker(line, '<', "SEARCH"); }
bool IsDividerLine(std::string_view line) { return IsMarker(line, '=', ""); }
bool IsReplaceLine(std::string_view line) { return IsMarker(line, '>', "REPLACE"); }

struct DiffBlock {
  int reply_line = 0;  // 1-based line of the SEARCH marker in the reply
  std::vector<std::string_view> search;
  std::vector<std::string_view> replace;
};

/// Parses every SEARCH/REPLACE block of the reply; text outside blocks is ignored.
core::Expected<std::vector<DiffBlock>> ParseDiffBlocks(const std::vector<std::string_view>& lines) {
  std::vector<DiffBlock> blocks;
  enum class State { kOutside, kSearch, kReplace } state = State::kOutside;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const int line_number = static_cast<int>(i) + 1;
    switch (state) {
      case State::kOutside:
        if (IsSearchLine(line)) {
          blocks.push_back(DiffBlock{line_number, {}, {}});
          state = State::kSearch;
        }
        break;
      case State::kSearch:
        if (IsDividerLine(line)) {
          state = State::kReplace;
        } else if (IsSearchLine(line) || IsReplaceLine(line)) {
          return core::MakeError(core::ErrorCode::kParse,
                                 fmt::format("the SEARCH block at reply line {} has no '=======' line before line {}",
                                             blocks.back().reply_line, line_number));
        } else {
          blocks.back().search.push_back(line);
        }
        break;
      case State::kReplace:
        if (IsReplaceLine(line)) {
          state = State::kOutside;
        } else if (IsSearchLine(line)) {
          return core::MakeError(core::ErrorCode::kParse,
                                 fmt::format("the SEARCH block at reply line {} has no '>>>>>>> REPLACE' line before "
                                             "the next SEARCH at line {}",
                                             blocks.back().reply_line, line_number));
        } else {
          blocks.back().replace.push_back(line);
        }
        break;
    }
  }
  if (state != State::kOutside) {
    return core::MakeError(core::ErrorCode::kParse,
                           fmt::format("the SEARCH block at reply line {} is not closed by '>>>>>>> REPLACE' "
                                       "(reply truncated?)",
                                       blocks.back().reply_line));
  }
  return blocks;
}

/// 0-based positions where needle occurs as consecutive whole lines of haystack.
std::vector<std::size_t> FindLines(const std::vector<std::string_view>& haystack,
                                   const std::vector<std::string_view>& needle, bool ignore_trailing_space) {
  std::vector<std::size_t> found;
  if (needle.empty() || needle.size() > haystack.size()) return found;
  auto same = [&](std::string_view a, std::string_view b) {
    return ignore_trailing_space ? TrimRight(a) == TrimRight(b) : a == b;
  };
  for (std::size_t pos = 0; pos + needle.size() <= haystack.size(); ++pos) {
    if (std::equal(needle.begin(), needle.end(), haystack.begin() + static_cast<std::ptrdiff_t>(pos), same)) {
      found.push_back(pos);
    }
  }
  return found;
}

std::string FirstLineOf(const std::vector<std::string_view>& lines) {
  auto it = std::find_if(lines.begin(), lines.end(), [](std::string_view l) { return !Trim(l).empty(); });
  return fmt::format("{:?}", it == lines.end() ? std::string_view() : *it);
}

/// Applies the blocks in order, each to the result of the ones before it.
core::Expected<std::string> ApplyBlocks(const std::vector<DiffBlock>& blocks, std::string_view text,
                                        std::string_view text_name) {
  auto fail = [](std::string message) { return core::MakeError(core::ErrorCode::kParse, std::move(message)); };
  std::string current(text);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const DiffBlock& block = blocks[b];
    const std::string where = b == 0 ? std::string(text_name)
                                     : fmt::format("{} after the previous {} block(s) were applied", text_name, b);
    const std::string name = fmt::format("SEARCH block {} of {} (reply line {}, first line {})", b + 1,
                                         blocks.size(), block.reply_line, FirstLineOf(block.search));
    if (std::all_of(block.search.begin(), block.search.end(), [](std::string_view l) { return Trim(l).empty(); })) {
      return fail(fmt::format("{} is empty; quote the exact lines to replace", name));
    }
    const std::vector<std::string_view> lines = SplitLines(current);
    std::vector<std::size_t> found = FindLines(lines, block.search, false);
    if (found.empty()) found = FindLines(lines, block.search, true);
    if (found.size() != 1) {
      std::string at;
      for (std::size_t k = 0; k < found.size() && k < 5; ++k) at += fmt::format("{}{}", k == 0 ? "" : ", ", found[k] + 1);
      return fail(found.empty()
                      ? fmt::format("{} matched 0 times in {}; it must match exactly once, so copy the lines "
                                    "exactly, including indentation",
                                    name, where)
                      : fmt::format("{} matched {} times in {} (at lines {}); add surrounding lines so it "
                                    "matches exactly once",
                                    name, found.size(), where, at));
    }
    std::vector<std::string_view> edited(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(found[0]));
    edited.insert(edited.end(), block.replace.begin(), block.replace.end());
    edited.insert(edited.end(), lines.begin() + static_cast<std::ptrdiff_t>(found[0] + block.search.size()),
                  lines.end());
    current = JoinLines(edited);
  }
  return current;
}

// ---- fenced code blocks ------------------------------------------------------------------------

struct FencedBlock {
  std::string tag;  // first word of the info string, lower-cased
  std::vector<std::string_view> lines;
  std::size_t chars = 0;
};

/// An opening fence: optional indentation, then 3+ backticks or tildes, then an info string.
struct Fence {
  std::size_t indent = 0;
  char ch = '`';
  std::size_t length = 0;
  std::string_view info;
};

std::optional<Fence> ParseFence(std::string_view line) {
  Fence fence;
  while (fence.indent < line.size() && (line[fence.indent] == ' ' || line[fence.indent] == '\t')) ++fence.indent;
  if (fence.indent == line.size() || (line[fence.indent] != '`' && line[fence.indent] != '~')) return std::nullopt;
  fence.ch = line[fence.indent];
  while (fence.indent + fence.length < line.size() && line[fence.indent + fence.length] == fence.ch) ++fence.length;
  if (fence.length < 3) return std::nullopt;
  fence.info = Trim(line.substr(fence.indent + fence.length));
  // As in CommonMark: a backtick fence's info string cannot hold backticks (that is inline code).
  if (fence.ch == '`' && fence.info.find('`') != std::string_view::npos) return std::nullopt;
  return fence;
}

bool Closes(const Fence& open, std::string_view line) {
  std::optional<Fence> fence = ParseFence(line);
  return fence && fence->ch == open.ch && fence->length >= open.length && fence->info.empty();
}

std::string TagOf(std::string_view info) {
  std::string tag(info.substr(0, std::min(info.size(), info.find_first_of(" \t{"))));
  std::transform(tag.begin(), tag.end(), tag.begin(), [](unsigned char c) { return std::tolower(c); });
  return tag;
}

bool IsCodeTag(std::string_view tag) {
  for (std::string_view code_tag : {"c", "cpp", "c++", "cuda", "cu"}) {
    if (tag == code_tag) return true;
  }
  return false;
}

Extraction ExtractFenced(const std::vector<std::string_view>& reply_lines) {
  std::vector<FencedBlock> blocks;
  std::optional<Fence> open;
  for (std::string_view line : reply_lines) {
    if (!open) {
      open = ParseFence(line);
      if (open) blocks.push_back(FencedBlock{TagOf(open->info), {}, 0});
    } else if (Closes(*open, line)) {
      open.reset();
    } else {
      // Content lines lose up to the fence's own indentation (fences nested in list items).
      std::size_t strip = 0;
      while (strip < open->indent && strip < line.size() && (line[strip] == ' ' || line[strip] == '\t')) ++strip;
      blocks.back().lines.push_back(line.substr(strip));
      blocks.back().chars += line.size() - strip + 1;
    }
  }
  if (open) return Fail(ExtractKind::kNoCode, "reply ended inside a code block (truncated?)");
  if (blocks.empty()) {
    return Fail(ExtractKind::kNoCode, "the reply has no fenced code block and no SEARCH/REPLACE block");
  }
  auto chosen = std::find_if(blocks.rbegin(), blocks.rend(), [](const FencedBlock& b) { return IsCodeTag(b.tag); });
  if (chosen == blocks.rend()) {
    // Ties go to the later block: a reply usually ends with its final answer.
    chosen = std::max_element(blocks.rbegin(), blocks.rend(),
                              [](const FencedBlock& a, const FencedBlock& b) { return a.chars < b.chars; });
  }
  return Extraction{ExtractKind::kFullFile, JoinLines(chosen->lines), ""};
}

}  // namespace

std::string_view ExtractKindName(ExtractKind k) {
  switch (k) {
    case ExtractKind::kFullFile: return "full_file";
    case ExtractKind::kDiff: return "diff";
    case ExtractKind::kNoCode: return "no_code";
    case ExtractKind::kDiffFailed: return "diff_failed";
    case ExtractKind::kEvolveViolation: return "evolve_violation";
  }
  return "unknown";
}

core::Expected<std::string> ApplySearchReplace(std::string_view reply, std::string_view text,
                                               std::string_view text_name) {
  const std::string reply_text = NormalizeNewlines(reply);
  KF_TRY(const std::vector<DiffBlock> blocks, ParseDiffBlocks(SplitLines(reply_text)));
  if (blocks.empty()) {
    return core::MakeError(core::ErrorCode::kParse,
                           fmt::format("the reply has no SEARCH/REPLACE blocks to apply to {}; answer with "
                                       "'<<<<<<< SEARCH' / '=======' / '>>>>>>> REPLACE' blocks",
                                       text_name));
  }
  return ApplyBlocks(blocks, NormalizeNewlines(text), text_name);
}

Extraction ExtractCode(std::string_view reply, std::string_view parent_code) {
  const std::string text = NormalizeNewlines(reply);
  const std::string parent = NormalizeNewlines(parent_code);
  const std::vector<std::string_view> reply_lines = SplitLines(text);
  const bool has_diff = std::any_of(reply_lines.begin(), reply_lines.end(), IsSearchLine);
  Extraction out;
  if (!has_diff) {
    out = ExtractFenced(reply_lines);
  } else if (Trim(parent).empty()) {
    return Fail(ExtractKind::kDiffFailed,
                "the reply has SEARCH/REPLACE blocks but there is no parent kernel to apply them to; "
                "send the whole file in one fenced code block");
  } else {
    core::Expected<std::string> edited = ApplySearchReplace(text, parent, "the parent");
    if (!edited.ok()) return Fail(ExtractKind::kDiffFailed, edited.error().message);
    out = Extraction{ExtractKind::kDiff, std::move(edited).value(), ""};
  }
  if (!out.ok()) return out;
  if (Trim(out.code).empty()) {
    return Fail(ExtractKind::kNoCode, has_diff ? "applying the SEARCH/REPLACE blocks left an empty file"
                                               : "the chosen code block is empty");
  }
  if (core::Expected<void> evolve = CheckEvolveBlocks(parent, out.code); !evolve.ok()) {
    out.kind = ExtractKind::kEvolveViolation;
    out.error = evolve.error().message;
  }
  return out;
}

}  // namespace kf::prompt
