#include "prompt/text.h"

#include <algorithm>

namespace kf::prompt {
namespace {
constexpr std::string_view kBlank = " \t\v\f\r\n";
}  // namespace

std::string NormalizeNewlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i]);
  }
  return out;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

std::string JoinLines(const std::vector<std::string_view>& lines) {
  std::string out;
  for (std::string_view line : lines) {
    out.append(line);
    out.push_back('\n');
  }
  return out;
}

std::string_view TrimRight(std::string_view s) {
  std::size_t end = s.find_last_not_of(kBlank);
  return end == std::string_view::npos ? std::string_view() : s.substr(0, end + 1);
}

std::string_view Trim(std::string_view s) {
  s = TrimRight(s);
  std::size_t begin = s.find_first_not_of(kBlank);
  return begin == std::string_view::npos ? std::string_view() : s.substr(begin);
}

std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool gap = false;
  for (char c : Trim(text)) {
    if (kBlank.find(c) != std::string_view::npos) {
      gap = true;
      continue;
    }
    if (gap) out.push_back(' ');
    gap = false;
    out.push_back(c);
  }
  return out;
}

std::string FenceFor(std::string_view text) {
  std::size_t longest = 0;
  std::size_t run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<std::size_t>(3, longest + 1), '`');
}

}  // namespace kf::prompt
