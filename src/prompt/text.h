// prompt/text.h — line-level text helpers shared by prompt building, code extraction and
// EVOLVE-block checking. Internal to the prompt module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kf::prompt {

/// Returns text with every "\r\n" replaced by "\n".
std::string NormalizeNewlines(std::string_view text);

/// Splits text into lines on '\n'. A final '\n' ends the last line rather than starting an empty
/// one: "a\nb\n" and "a\nb" both give {"a", "b"}; "" gives {}. The views point into text.
std::vector<std::string_view> SplitLines(std::string_view text);

/// Joins lines with '\n' and ends the result with '\n' (empty input gives "").
std::string JoinLines(const std::vector<std::string_view>& lines);

std::string_view TrimRight(std::string_view s);
std::string_view Trim(std::string_view s);

/// Text with every run of whitespace (newlines included) replaced by one space, trimmed: one
/// line for a label, and the form in which two texts count as the same.
std::string CollapseWhitespace(std::string_view text);

/// A run of backticks longer than any run inside text (at least three), so that text can sit
/// inside a Markdown fence made of it without closing the fence early.
std::string FenceFor(std::string_view text);

}  // namespace kf::prompt
