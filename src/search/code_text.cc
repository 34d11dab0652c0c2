// One hand-written lexer per language family (no std::regex: it runs on every candidate and must
// stay linear), and the views built from its tokens.

#include "search/code_text.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace kf::search {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsIdentStart(char c) { return IsAlpha(c) || c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// Longest first, so that the first match is the longest one.
constexpr std::array<std::string_view, 27> kCPunct = {
    "<<=", ">>=", "...", "->*", "<=>", "::", "->", "++", "--", "<<", ">>", "<=", ">=", "==",
    "!=",  "&&",  "||",  "+=",  "-=",  "*=", "/=", "%=", "&=", "|=", "^=", "##", ".*"};
constexpr std::array<std::string_view, 24> kPythonPunct = {
    "**=", "//=", ">>=", "<<=", "...", "**", "//", "==", "!=", "<=", ">=", "->",
    "+=",  "-=",  "*=",  "/=",  "%=",  "&=", "|=", "^=", "<<", ">>", ":=", "@="};

/// Appends decoded characters and records, for each newline, the host line the next
/// character comes from.
class Sink {
 public:
  Sink(std::string* text, std::vector<int>* line_map) : text_(text), line_map_(line_map) {}
  void Put(char c, int next_line) {
    text_->push_back(c);
    if (c == '\n' && line_map_ != nullptr) line_map_->push_back(next_line);
  }

 private:
  std::string* text_;
  std::vector<int>* line_map_;
};

// ---- Lexer -------------------------------------------------------------------------------------

class Lexer {
 public:
  Lexer(std::string_view code, Language lang) : s_(code), lang_(lang) {}

  std::vector<Token> Run() {
    std::vector<Token> tokens;
    tokens.reserve(s_.size() / 4 + 16);
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\n') {
        NewLine(i_ + 1);
        if (lang_ == Language::kC || depth_ == 0) at_line_start_ = true;
        ++i_;
      } else if (c == '\\' && SpliceLength(i_) > 0) {
        const std::size_t n = SpliceLength(i_);
        NewLine(i_ + n);
        i_ += n;
      } else if (IsSpace(c)) {
        ++i_;
      } else if (lang_ == Language::kC && c == '/' && Peek(1) == '/') {
        SkipLineComment();
      } else if (lang_ == Language::kC && c == '/' && Peek(1) == '*') {
        SkipBlockComment();
      } else if (lang_ == Language::kPython && c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else {
        tokens.push_back(Next());
      }
    }
    return tokens;
  }

 private:
  char Peek(std::size_t ahead) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }

  /// Length of a backslash-newline at pos (2, or 3 with \r\n), else 0.
  std::size_t SpliceLength(std::size_t pos) const {
    if (pos + 1 < s_.size() && s_[pos + 1] == '\n') return 2;
    if (pos + 2 < s_.size() && s_[pos + 1] == '\r' && s_[pos + 2] == '\n') return 3;
    return 0;
  }

  void NewLine(std::size_t next_line_begin) {
    ++line_;
    line_begin_ = next_line_begin;
  }

  void SkipLineComment() {
    while (i_ < s_.size() && s_[i_] != '\n') {
      if (s_[i_] == '\\' && SpliceLength(i_) > 0) {  // a spliced // comment goes on
        const std::size_t n = SpliceLength(i_);
        NewLine(i_ + n);
        i_ += n;
      } else {
        ++i_;
      }
    }
  }

  void SkipBlockComment() {
    i_ += 2;
    while (i_ < s_.size() && !(s_[i_] == '*' && Peek(1) == '/')) {
      if (s_[i_] == '\n') NewLine(i_ + 1);
      ++i_;
    }
    i_ = std::min(s_.size(), i_ + 2);
  }

  Token Next() {
    const std::size_t start = i_;
    Token t;
    t.line = line_;
    t.column = static_cast<int>(start - line_begin_);
    t.starts_line = at_line_start_;
    at_line_start_ = false;
    const char c = s_[i_];
    if (IsIdentStart(c)) {
      while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
      const std::string_view word = s_.substr(start, i_ - start);
      if (i_ < s_.size() && (s_[i_] == '"' || s_[i_] == '\'') && IsStringPrefix(word, s_[i_])) {
        t.kind = s_[i_] == '\'' && lang_ == Language::kC ? TokenKind::kChar : TokenKind::kString;
        LexQuoted(word);
      } else {
        t.kind = TokenKind::kIdentifier;
      }
    } else if (IsDigit(c) || (c == '.' && IsDigit(Peek(1)))) {
      t.kind = TokenKind::kNumber;
      LexNumber();
    } else if (c == '"' || c == '\'') {
      t.kind = c == '\'' && lang_ == Language::kC ? TokenKind::kChar : TokenKind::kString;
      LexQuoted({});
    } else {
      t.kind = TokenKind::kPunct;
      LexPunct();
    }
    t.text = s_.substr(start, i_ - start);
    return t;
  }

  bool IsStringPrefix(std::string_view word, char quote) const {
    if (lang_ == Language::kC) {
      static const std::unordered_set<std::string_view> kPrefixes = {"L", "u8", "u", "U", "R", "LR", "u8R", "uR", "UR"};
      return kPrefixes.count(word) > 0 && !(quote == '\'' && word.back() == 'R');
    }
    if (word.size() > 2) return false;
    for (char p : word) {
      const char l = static_cast<char>(p | 0x20);
      if (l != 'r' && l != 'b' && l != 'u' && l != 'f') return false;
    }
    return true;
  }

  void LexNumber() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if ((c == 'e' || c == 'E' || c == 'p' || c == 'P') && (Peek(1) == '+' || Peek(1) == '-')) {
        i_ += 2;
      } else if (c == '\'' && lang_ == Language::kC && IsHexDigit(Peek(1))) {
        i_ += 2;  // digit separator
      } else if (IsIdentChar(c) || c == '.') {
        ++i_;
      } else {
        break;
      }
    }
  }

  void LexPunct() {
    // Only these characters start a multi-character operator.
    static constexpr std::string_view kMultiStart = "<>.-:+&|=!*/%^#@";
    if (kMultiStart.find(s_[i_]) == std::string_view::npos || i_ + 1 >= s_.size()) {
      ++i_;
      TrackDepth();
      return;
    }
    const std::string_view rest = s_.substr(i_);
    auto try_list = [&](const auto& list) {
      for (std::string_view p : list) {
        if (rest.substr(0, p.size()) == p) {
          i_ += p.size();
          return true;
        }
      }
      return false;
    };
    const bool matched = lang_ == Language::kC ? try_list(kCPunct) : try_list(kPythonPunct);
    if (!matched) ++i_;
    TrackDepth();
  }

  /// Python: brackets, inside which a newline does not end the logical line.
  void TrackDepth() {
    if (lang_ != Language::kPython) return;
    const char c = s_[i_ - 1];
    if (c == '(' || c == '[' || c == '{') ++depth_;
    if ((c == ')' || c == ']' || c == '}') && depth_ > 0) --depth_;
  }

  /// At the opening quote; `prefix` is what came before it.
  void LexQuoted(std::string_view prefix) {
    const char quote = s_[i_];
    const bool raw = lang_ == Language::kC ? !prefix.empty() && prefix.back() == 'R'
                                          : prefix.find_first_of("rR") != std::string_view::npos;
    if (lang_ == Language::kC && raw && LexCRaw()) return;
    if (lang_ == Language::kPython && Peek(1) == quote && Peek(2) == quote) {
      i_ += 3;
      while (i_ < s_.size()) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
          if (s_[i_ + 1] == '\n') NewLine(i_ + 2);
          i_ += 2;
        } else if (s_[i_] == quote && Peek(1) == quote && Peek(2) == quote) {
          i_ += 3;
          return;
        } else {
          if (s_[i_] == '\n') NewLine(i_ + 1);
          ++i_;
        }
      }
      return;
    }
    ++i_;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\\' && i_ + 1 < s_.size()) {
        const std::size_t splice = SpliceLength(i_);
        if (splice > 0) {
          NewLine(i_ + splice);
          i_ += splice;
        } else {
          i_ += 2;
        }
      } else if (c == quote) {
        ++i_;
        return;
      } else if (c == '\n') {
        return;  // unterminated: the literal ends with its line
      } else {
        ++i_;
      }
    }
  }

  /// At the quote of R"delim( ... )delim". False (nothing consumed) when the delimiter is not
  /// valid, so the caller lexes an ordinary string.
  bool LexCRaw() {
    std::size_t j = i_ + 1;
    while (j < s_.size() && j - i_ - 1 <= 16 && s_[j] != '(') {
      const char c = s_[j];
      if (c == ' ' || c == ')' || c == '\\' || c == '\n' || c == '\t' || c == '"') return false;
      ++j;
    }
    if (j >= s_.size() || s_[j] != '(') return false;
    const std::string closing = ")" + std::string(s_.substr(i_ + 1, j - i_ - 1)) + "\"";
    const std::size_t end = s_.find(closing, j + 1);
    const std::size_t stop = end == std::string_view::npos ? s_.size() : end + closing.size();
    for (std::size_t k = i_; k < stop; ++k) {
      if (s_[k] == '\n') NewLine(k + 1);
    }
    i_ = stop;
    return true;
  }

  std::string_view s_;
  Language lang_;
  std::size_t i_ = 0;
  int line_ = 1;
  std::size_t line_begin_ = 0;
  bool at_line_start_ = true;
  int depth_ = 0;  // Python bracket depth: newlines inside brackets do not end a logical line
};

// ---- String literals ---------------------------------------------------------------------------

struct LiteralParts {
  std::string_view body;  // between the quotes (or the raw delimiters)
  bool raw = false;
  int body_line_offset = 0;  // newlines between the token's start and the body (none so far)
};

LiteralParts SplitLiteral(std::string_view literal, Language lang) {
  LiteralParts parts;
  const std::size_t q = literal.find_first_of("\"'");
  if (q == std::string_view::npos) return parts;
  const std::string_view prefix = literal.substr(0, q);
  const char quote = literal[q];
  if (lang == Language::kC) {
    parts.raw = !prefix.empty() && prefix.back() == 'R';
    if (parts.raw) {
      const std::size_t open = literal.find('(', q);
      if (open != std::string_view::npos) {
        const std::string closing = ")" + std::string(literal.substr(q + 1, open - q - 1)) + "\"";
        std::string_view body = literal.substr(open + 1);
        if (body.size() >= closing.size() && body.substr(body.size() - closing.size()) == closing) {
          body.remove_suffix(closing.size());
        }
        parts.body = body;
        return parts;
      }
      parts.raw = false;  // lexed as an ordinary string
    }
  } else {
    parts.raw = prefix.find_first_of("rR") != std::string_view::npos;
  }
  std::size_t quotes = 1;
  if (lang == Language::kPython && literal.size() >= q + 3 && literal[q + 1] == quote && literal[q + 2] == quote) {
    quotes = 3;
  }
  std::string_view body = literal.substr(q + quotes);
  const std::string_view closing = literal.substr(q, quotes);
  // The closing quotes are there unless the literal ran into the end of its line or input; an
  // escaped quote at the very end is not a closing one.
  if (body.size() >= quotes && body.substr(body.size() - quotes) == closing) {
    std::size_t backslashes = 0;
    for (std::size_t k = body.size() - quotes; k > 0 && body[k - 1] == '\\'; --k) ++backslashes;
    if (backslashes % 2 == 0) body.remove_suffix(quotes);
  }
  parts.body = body;
  return parts;
}

/// Decodes a literal token that starts on `line`, reporting newlines to `sink`.
void DecodeInto(std::string_view literal, Language lang, int line, Sink& sink) {
  const LiteralParts parts = SplitLiteral(literal, lang);
  const std::string_view b = parts.body;
  for (std::size_t k = 0; k < b.size(); ++k) {
    const char c = b[k];
    if (c == '\n') {
      ++line;
      sink.Put('\n', line);
      continue;
    }
    if (c != '\\' || k + 1 >= b.size()) {
      sink.Put(c, line);
      continue;
    }
    const char e = b[k + 1];
    if (e == '\n' || (e == '\r' && k + 2 < b.size() && b[k + 2] == '\n')) {  // line continuation
      ++line;
      if (parts.raw) {  // Python raw strings keep both characters
        sink.Put('\\', line);
        sink.Put('\n', line);
      }
      k += e == '\n' ? 1 : 2;
      continue;
    }
    if (parts.raw) {
      sink.Put(c, line);
      continue;
    }
    ++k;
    switch (e) {
      case 'n': sink.Put('\n', line); break;
      case 't': sink.Put('\t', line); break;
      case 'r': sink.Put('\r', line); break;
      case 'a': sink.Put('\a', line); break;
      case 'b': sink.Put('\b', line); break;
      case 'f': sink.Put('\f', line); break;
      case 'v': sink.Put('\v', line); break;
      case '\\': case '\'': case '"': case '?': sink.Put(e, line); break;
      case 'x': {
        int value = 0;
        std::size_t n = 0;
        while (k + 1 < b.size() && IsHexDigit(b[k + 1]) && n < 2) {
          const char h = b[++k];
          value = value * 16 + (IsDigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
          ++n;
        }
        if (n == 0) {
          sink.Put('\\', line);
          sink.Put('x', line);
        } else {
          sink.Put(static_cast<char>(value), line);
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int value = e - '0';
          for (int n = 1; n < 3 && k + 1 < b.size() && b[k + 1] >= '0' && b[k + 1] <= '7'; ++n) {
            value = value * 8 + (b[++k] - '0');
          }
          sink.Put(static_cast<char>(value), line);
        } else {  // \u, \N{...} and unknown escapes stay as written
          sink.Put('\\', line);
          sink.Put(e, line);
        }
    }
  }
}

bool IsPunct(const Token& t, std::string_view text) { return t.kind == TokenKind::kPunct && t.text == text; }
bool IsWord(const Token& t, std::string_view text) { return t.kind == TokenKind::kIdentifier && t.text == text; }

/// Marks the string tokens that are not native code. C: the names of #include / #pragma /
/// #error / #line / #warning directives, `extern "C"`, asm operands, _Pragma. Python: string
/// statements (a logical line made of strings only: docstrings and bare strings).
std::vector<bool> NonCodeStrings(const std::vector<Token>& tokens, Language lang) {
  std::vector<bool> skip(tokens.size(), false);
  const std::size_t n = tokens.size();
  if (lang == Language::kPython) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!tokens[i].starts_line || tokens[i].kind != TokenKind::kString) continue;
      std::size_t j = i;
      while (j < n && tokens[j].kind == TokenKind::kString && (j == i || !tokens[j].starts_line)) ++j;
      if (j == n || tokens[j].starts_line) {
        for (std::size_t k = i; k < j; ++k) skip[k] = true;
      }
    }
    return skip;
  }
  static const std::unordered_set<std::string_view> kDirectivesWithoutCode = {"include", "include_next", "import",
                                                                              "pragma",  "error",        "warning",
                                                                              "line"};
  static const std::unordered_set<std::string_view> kAsm = {"asm", "__asm__", "__asm"};
  for (std::size_t i = 0; i < n; ++i) {
    const Token& t = tokens[i];
    if (t.starts_line && IsPunct(t, "#") && i + 1 < n && kDirectivesWithoutCode.count(tokens[i + 1].text) > 0) {
      for (std::size_t k = i + 1; k < n && !tokens[k].starts_line; ++k) skip[k] = true;
    } else if (IsWord(t, "extern") && i + 1 < n && tokens[i + 1].kind == TokenKind::kString) {
      skip[i + 1] = true;
    } else if (t.kind == TokenKind::kIdentifier && (kAsm.count(t.text) > 0 || t.text == "_Pragma")) {
      std::size_t k = i + 1;
      while (k < n && tokens[k].kind == TokenKind::kIdentifier) ++k;  // volatile, goto, inline
      if (k < n && IsPunct(tokens[k], "(")) {
        int depth = 0;
        for (; k < n; ++k) {
          if (IsPunct(tokens[k], "(")) ++depth;
          if (IsPunct(tokens[k], ")") && --depth == 0) break;
          skip[k] = true;
        }
      }
    }
  }
  return skip;
}

/// A run of string literals the language joins into one: adjacent literals, or literals with
/// a `+` between them.
struct StringGroup {
  std::size_t first = 0, last = 0;  // token indexes, inclusive; tokens between are strings or `+`
};

std::vector<StringGroup> CodeStringGroups(const std::vector<Token>& tokens, Language lang) {
  const std::vector<bool> skip = NonCodeStrings(tokens, lang);
  std::vector<StringGroup> groups;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].kind != TokenKind::kString || skip[i]) continue;
    StringGroup g{i, i};
    for (;;) {
      std::size_t next = g.last + 1;
      if (next + 1 < tokens.size() && IsPunct(tokens[next], "+")) ++next;
      if (next < tokens.size() && tokens[next].kind == TokenKind::kString && !skip[next]) {
        g.last = next;
      } else {
        break;
      }
    }
    groups.push_back(g);
    i = g.last;
  }
  return groups;
}

std::string DecodeGroup(const std::vector<Token>& tokens, const StringGroup& g, Language lang) {
  std::string text;
  Sink sink(&text, nullptr);
  for (std::size_t k = g.first; k <= g.last; ++k) {
    if (tokens[k].kind == TokenKind::kString) DecodeInto(tokens[k].text, lang, tokens[k].line, sink);
  }
  return text;
}

// ---- Novelty -----------------------------------------------------------------------------------

const std::unordered_set<std::string_view>& CKeywords() {
  static const std::unordered_set<std::string_view> k = {
      "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char", "char8_t", "char16_t",
      "char32_t", "class", "concept", "const", "consteval", "constexpr", "constinit", "const_cast", "continue",
      "co_await", "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast", "else",
      "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int",
      "long", "mutable", "namespace", "new", "noexcept", "not", "nullptr", "operator", "or", "private",
      "protected", "public", "register", "reinterpret_cast", "requires", "return", "short", "signed", "sizeof",
      "static", "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local", "throw",
      "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
      "wchar_t", "while", "restrict", "__restrict", "__restrict__", "__global__", "__device__", "__host__",
      "__shared__", "__constant__", "__managed__", "__forceinline__", "__noinline__", "__launch_bounds__",
      "__grid_constant__", "__cluster_dims__", "kernel", "__kernel", "global", "__global", "local", "__local",
      "__constant", "__private", "read_only", "write_only", "read_write", "half", "size_t", "__asm__",
      "__volatile__", "__attribute__", "define", "include", "pragma", "ifdef", "ifndef", "endif", "elif",
      "defined", "undef", "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize"};
  return k;
}

/// Keywords after which a name cannot be a declarator (`return x;`, `else f(x);`).
const std::unordered_set<std::string_view>& CNonTypeKeywords() {
  static const std::unordered_set<std::string_view> k = {
      "return", "else", "case", "goto", "throw", "new", "delete", "sizeof", "alignof", "do", "if", "while", "for",
      "switch", "break", "continue", "default", "co_return", "co_yield", "co_await", "static_assert", "and", "or",
      "not", "operator", "typeid", "decltype", "noexcept", "requires", "this", "true", "false", "nullptr", "using",
      "public", "private", "protected", "friend", "template", "__launch_bounds__", "__attribute__", "alignas",
      "asm", "__asm__", "__volatile__", "volatile_"};
  return k;
}

const std::unordered_set<std::string_view>& PythonKeywords() {
  static const std::unordered_set<std::string_view> k = {
      "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
      "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
      "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield"};
  return k;
}

bool IsMemberAccess(const Token& t) {
  return t.kind == TokenKind::kPunct && (t.text == "." || t.text == "->" || t.text == "::" || t.text == ".*" ||
                                          t.text == "->*");
}

/// The names a C-family token stream declares (see NormalizedForNovelty).
void CollectCDeclared(const std::vector<Token>& t, std::unordered_set<std::string_view>& declared) {
  const auto& keywords = CKeywords();
  const auto& non_type = CNonTypeKeywords();
  static const std::unordered_set<std::string_view> kFollow = {"=", ";", ",", "(", "[", ")", "{", ":", ">"};
  static const std::unordered_set<std::string_view> kTagKeywords = {"struct", "class", "union", "enum",
                                                                    "namespace", "typename", "concept"};
  const std::size_t n = t.size();
  bool in_directive = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (t[i].starts_line) in_directive = IsPunct(t[i], "#");
    if (t[i].kind != TokenKind::kIdentifier || keywords.count(t[i].text) > 0) continue;
    if (i == 0) continue;
    const Token& prev = t[i - 1];
    if (in_directive) {
      // #define NAME / NAME(PARAMS): the name and its parameters.
      if (i >= 2 && IsWord(prev, "define") && IsPunct(t[i - 2], "#")) {
        declared.insert(t[i].text);
        const bool function_like = i + 1 < n && IsPunct(t[i + 1], "(") && t[i + 1].line == t[i].line &&
                                   t[i + 1].column == t[i].column + static_cast<int>(t[i].text.size());
        if (function_like) {
          for (std::size_t k = i + 2; k < n && !t[k].starts_line && !IsPunct(t[k], ")"); ++k) {
            if (t[k].kind == TokenKind::kIdentifier) declared.insert(t[k].text);
          }
        }
      }
      continue;  // other directive words (pragma clauses, include names) are not declarations
    }
    if (IsMemberAccess(prev)) continue;
    if (prev.kind == TokenKind::kIdentifier && kTagKeywords.count(prev.text) > 0) {
      declared.insert(t[i].text);
      continue;
    }
    if (IsWord(prev, "using") && i + 1 < n && IsPunct(t[i + 1], "=")) {
      declared.insert(t[i].text);
      continue;
    }
    const bool prev_type = (prev.kind == TokenKind::kIdentifier && non_type.count(prev.text) == 0) ||
                           (prev.kind == TokenKind::kPunct &&
                            (prev.text == "*" || prev.text == "&" || prev.text == "&&" || prev.text == ">"));
    if (prev_type && i + 1 < n && t[i + 1].kind == TokenKind::kPunct && kFollow.count(t[i + 1].text) > 0) {
      declared.insert(t[i].text);
    }
  }
}

/// The names a Python token stream declares: def / class names, parameters, assignment and
/// loop targets, with / except aliases.
void CollectPythonDeclared(const std::vector<Token>& t, std::unordered_set<std::string_view>& declared) {
  const auto& keywords = PythonKeywords();
  const std::size_t n = t.size();
  auto ident = [&](std::size_t k) { return k < n && t[k].kind == TokenKind::kIdentifier && keywords.count(t[k].text) == 0; };
  std::size_t line_start = 0;
  while (line_start < n) {
    std::size_t line_end = line_start + 1;
    while (line_end < n && !t[line_end].starts_line) ++line_end;
    const bool import_line = IsWord(t[line_start], "import") || IsWord(t[line_start], "from");
    // Assignment targets: names at bracket depth 0 before the last top-level `=` (or augmented
    // assignment), not attributes, subscripts, calls or annotations.
    std::size_t last_assign = line_start;
    bool has_assign = false;
    int depth = 0;
    for (std::size_t k = line_start; k < line_end; ++k) {
      const Token& tok = t[k];
      if (tok.kind == TokenKind::kPunct) {
        if (tok.text == "(" || tok.text == "[" || tok.text == "{") ++depth;
        if (tok.text == ")" || tok.text == "]" || tok.text == "}") --depth;
        const bool assign = tok.text == "=" || (tok.text.size() >= 2 && tok.text.back() == '=' &&
                                                tok.text != "==" && tok.text != "!=" && tok.text != "<=" &&
                                                tok.text != ">=");
        if (assign && depth == 0) {
          last_assign = k;
          has_assign = true;
        }
      }
    }
    if (has_assign && !IsWord(t[line_start], "def") && !IsWord(t[line_start], "class")) {
      depth = 0;
      for (std::size_t k = line_start; k < last_assign; ++k) {
        const Token& tok = t[k];
        if (IsPunct(tok, "(") || IsPunct(tok, "[") || IsPunct(tok, "{")) ++depth;
        if (IsPunct(tok, ")") || IsPunct(tok, "]") || IsPunct(tok, "}")) --depth;
        if (depth != 0 || !ident(k)) continue;
        if (k > line_start && (IsPunct(t[k - 1], ".") || IsPunct(t[k - 1], ":"))) continue;
        if (k + 1 < n && (IsPunct(t[k + 1], ".") || IsPunct(t[k + 1], "[") || IsPunct(t[k + 1], "("))) continue;
        declared.insert(tok.text);
      }
    }
    for (std::size_t k = line_start; k < line_end; ++k) {
      const Token& tok = t[k];
      if ((IsWord(tok, "def") || IsWord(tok, "class")) && ident(k + 1)) {
        declared.insert(t[k + 1].text);
        if (IsWord(tok, "def") && k + 2 < n && IsPunct(t[k + 2], "(")) {
          int d = 0;
          for (std::size_t p = k + 2; p < line_end; ++p) {
            if (IsPunct(t[p], "(") || IsPunct(t[p], "[") || IsPunct(t[p], "{")) ++d;
            if (IsPunct(t[p], ")") || IsPunct(t[p], "]") || IsPunct(t[p], "}")) {
              if (--d == 0) break;
            }
            if (d == 1 && ident(p)) {
              const Token& before = t[p - 1];
              if (IsPunct(before, "(") || IsPunct(before, ",") || IsPunct(before, "*") || IsPunct(before, "**")) {
                declared.insert(t[p].text);
              }
            }
          }
        }
      } else if (IsWord(tok, "lambda")) {
        for (std::size_t p = k + 1; p < line_end && !IsPunct(t[p], ":"); ++p) {
          if (ident(p)) declared.insert(t[p].text);
        }
      } else if (IsWord(tok, "for")) {
        for (std::size_t p = k + 1; p < line_end && !IsWord(t[p], "in"); ++p) {
          if (ident(p) && !IsPunct(t[p - 1], ".")) declared.insert(t[p].text);
        }
      } else if (IsWord(tok, "as") && !import_line && ident(k + 1)) {
        declared.insert(t[k + 1].text);
      } else if (IsPunct(tok, ":=") && k > line_start && ident(k - 1)) {
        declared.insert(t[k - 1].text);
      }
    }
    line_start = line_end;
  }
}

/// Renames declared names in order of first appearance.
class Renamer {
 public:
  explicit Renamer(char prefix) : prefix_(prefix) {}
  std::string_view Name(std::string_view original) {
    auto it = names_.find(original);
    if (it == names_.end()) {
      it = names_.emplace(original, prefix_ + std::to_string(names_.size())).first;
    }
    return it->second;
  }

 private:
  char prefix_;
  std::unordered_map<std::string_view, std::string> names_;
};

void AppendToken(std::string& out, std::string_view text) {
  if (!out.empty() && out.back() != '\n' && out.back() != ' ') out += ' ';
  out += text;
}

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

/// Canonical C-family text of `t`; `embedded` (when set) canonicalizes a string group.
template <class EmbeddedFn>
std::string CanonicalC(const std::vector<Token>& t, const std::unordered_set<std::string_view>& declared,
                       Renamer& renamer, const std::vector<StringGroup>* groups, EmbeddedFn embedded) {
  std::string out;
  bool in_directive = false;
  std::size_t next_group = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i].starts_line) {
      if (in_directive && !out.empty() && out.back() != '\n') out += '\n';
      in_directive = IsPunct(t[i], "#");
      if (in_directive && !out.empty() && out.back() != '\n') out += '\n';
    }
    if (groups != nullptr && next_group < groups->size() && (*groups)[next_group].first == i) {
      AppendToken(out, embedded((*groups)[next_group]));
      i = (*groups)[next_group].last;
      ++next_group;
      continue;
    }
    const Token& tok = t[i];
    const bool rename = tok.kind == TokenKind::kIdentifier && declared.count(tok.text) > 0 &&
                        !(i > 0 && IsMemberAccess(t[i - 1]));
    AppendToken(out, rename ? renamer.Name(tok.text) : tok.text);
  }
  if (in_directive && !out.empty() && out.back() != '\n') out += '\n';
  return out;
}

/// Canonicalizes the native code in a host file's string groups with one renamer for them all.
class EmbeddedCanonicalizer {
 public:
  EmbeddedCanonicalizer(const std::vector<Token>& host, const std::vector<StringGroup>& groups, Language lang)
      : renamer_('c') {
    for (const StringGroup& g : groups) {
      Group e;
      e.text = DecodeGroup(host, g, lang);
      decoded_.push_back(std::move(e));
    }
    for (Group& e : decoded_) {
      e.tokens = Tokenize(e.text, Language::kC);
      e.is_code = std::any_of(e.tokens.begin(), e.tokens.end(),
                              [](const Token& tok) { return IsPunct(tok, "{") || IsPunct(tok, ";"); });
      if (e.is_code) CollectCDeclared(e.tokens, declared_);
    }
  }

  std::string Canonical(std::size_t index) {
    const Group& e = decoded_[index];
    if (!e.is_code) return Quoted(e.text);
    const std::vector<StringGroup>* no_groups = nullptr;
    return Quoted(CanonicalC(e.tokens, declared_, renamer_, no_groups, [](const StringGroup&) { return std::string(); }));
  }

 private:
  struct Group {
    std::string text;
    std::vector<Token> tokens;  // view `text`, which must not move after tokenizing
    bool is_code = false;
  };
  std::vector<Group> decoded_;  // filled completely before tokenizing, so the texts stay put
  std::unordered_set<std::string_view> declared_;
  Renamer renamer_;
};

std::string NormalizedPython(std::string_view code, const std::vector<std::string>& kept) {
  const std::vector<Token> t = Tokenize(code, Language::kPython);
  std::unordered_set<std::string_view> declared;
  CollectPythonDeclared(t, declared);
  for (const std::string& name : kept) declared.erase(name);
  const std::vector<StringGroup> groups = CodeStringGroups(t, Language::kPython);
  EmbeddedCanonicalizer embedded(t, groups, Language::kPython);
  Renamer renamer('v');
  std::vector<int> indents = {0};
  std::string out;
  std::size_t next_group = 0;
  bool import_line = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const Token& tok = t[i];
    if (tok.starts_line) {
      while (indents.size() > 1 && indents.back() > tok.column) indents.pop_back();
      if (tok.column > indents.back()) indents.push_back(tok.column);
      if (!out.empty()) out += '\n';
      out.append(2 * (indents.size() - 1), ' ');
      import_line = IsWord(tok, "import") || IsWord(tok, "from");
    }
    if (next_group < groups.size() && groups[next_group].first == i) {
      AppendToken(out, embedded.Canonical(next_group));
      i = groups[next_group].last;
      ++next_group;
      continue;
    }
    if (tok.kind == TokenKind::kString) {  // a docstring or other string statement
      AppendToken(out, Quoted(DecodeStringLiteral(tok.text, Language::kPython)));
      continue;
    }
    const bool rename = !import_line && tok.kind == TokenKind::kIdentifier && declared.count(tok.text) > 0 &&
                        !(i > 0 && IsPunct(t[i - 1], "."));
    AppendToken(out, rename ? renamer.Name(tok.text) : tok.text);
  }
  if (!out.empty()) out += '\n';
  return out;
}

std::string NormalizedC(std::string_view code, bool strings_hold_code, const std::vector<std::string>& kept) {
  const std::vector<Token> t = Tokenize(code, Language::kC);
  std::unordered_set<std::string_view> declared;
  CollectCDeclared(t, declared);
  for (const std::string& name : kept) declared.erase(name);
  Renamer renamer('v');
  if (!strings_hold_code) {
    const std::vector<StringGroup>* no_groups = nullptr;
    return CanonicalC(t, declared, renamer, no_groups, [](const StringGroup&) { return std::string(); });
  }
  const std::vector<StringGroup> groups = CodeStringGroups(t, Language::kC);
  EmbeddedCanonicalizer embedded(t, groups, Language::kC);
  std::size_t index = 0;
  return CanonicalC(t, declared, renamer, &groups, [&](const StringGroup&) { return embedded.Canonical(index++); });
}

}  // namespace

std::vector<Token> Tokenize(std::string_view code, Language lang) { return Lexer(code, lang).Run(); }

std::string DecodeStringLiteral(std::string_view literal, Language lang) {
  std::string text;
  Sink sink(&text, nullptr);
  DecodeInto(literal, lang, 1, sink);
  return text;
}

std::string StripCommentsAndStrings(std::string_view code, Language lang) {
  const std::vector<Token> tokens = Tokenize(code, lang);
  std::string out;
  out.reserve(code.size());
  std::size_t pos = 0;  // copied up to here
  // Copies the gap before a token with its comments turned into a space plus their newlines.
  auto copy_gap = [&](std::size_t end) {
    std::size_t k = pos;
    while (k < end) {
      const char c = code[k];
      const bool c_comment = lang == Language::kC && c == '/' && k + 1 < end && (code[k + 1] == '/' || code[k + 1] == '*');
      const bool py_comment = lang == Language::kPython && c == '#';
      if (!c_comment && !py_comment) {
        out += c;
        ++k;
        continue;
      }
      // The lexer already found where the comment ends; here a comment runs to the next token
      // boundary of the same kind: end of line (keeping spliced lines), or */.
      std::size_t stop = k + 2;
      if (lang == Language::kC && code[k + 1] == '*') {
        const std::size_t close = code.find("*/", k + 2);
        stop = close == std::string_view::npos || close + 2 > end ? end : close + 2;
      } else {
        stop = k;
        while (stop < end && code[stop] != '\n') {
          std::size_t step = 1;
          if (lang == Language::kC && code[stop] == '\\') {  // a spliced // comment goes on
            if (stop + 1 < end && code[stop + 1] == '\n') step = 2;
            if (stop + 2 < end && code[stop + 1] == '\r' && code[stop + 2] == '\n') step = 3;
          }
          stop += step;
        }
      }
      out += ' ';
      for (std::size_t m = k; m < stop; ++m) {
        if (code[m] == '\n') out += '\n';
      }
      k = stop;
    }
    pos = end;
  };
  for (const Token& t : tokens) {
    const std::size_t begin = static_cast<std::size_t>(t.text.data() - code.data());
    copy_gap(begin);
    if (t.kind == TokenKind::kString || t.kind == TokenKind::kChar) {
      out += t.kind == TokenKind::kString ? "\"\"" : "''";
      out.append(static_cast<std::size_t>(std::count(t.text.begin(), t.text.end(), '\n')), '\n');
    } else {
      out += t.text;
    }
    pos = begin + t.text.size();
  }
  copy_gap(code.size());
  return out;
}

/// Whether decoded string contents look like native code rather than prose, a name or a flag:
/// they hold a `;` or a preprocessor directive (a `{` alone is not enough: f-string fields).
bool LooksLikeCode(std::string_view text) {
  for (const Token& t : Tokenize(text, Language::kC)) {
    if (IsPunct(t, ";") || (t.starts_line && IsPunct(t, "#"))) return true;
  }
  return false;
}

EmbeddedCode ExtractEmbeddedCode(std::string_view host, Language lang) {
  const std::vector<Token> tokens = Tokenize(host, lang);
  EmbeddedCode code;
  std::vector<StringGroup> groups;
  for (const StringGroup& g : CodeStringGroups(tokens, lang)) {
    for (std::size_t k = g.first; k <= g.last; ++k) {
      if (tokens[k].kind == TokenKind::kString) {
        code.literals.emplace_back(DecodeStringLiteral(tokens[k].text, lang), tokens[k].line);
      }
    }
    if (LooksLikeCode(DecodeGroup(tokens, g, lang))) groups.push_back(g);
  }
  code.line_map.push_back(groups.empty() ? 1 : tokens[groups.front().first].line);
  Sink sink(&code.text, &code.line_map);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (g > 0) sink.Put('\n', tokens[groups[g].first].line);
    for (std::size_t k = groups[g].first; k <= groups[g].last; ++k) {
      const Token& t = tokens[k];
      if (t.kind != TokenKind::kString) continue;
      // A line that has no text yet starts where this literal does ("a\n" "b": b's line).
      if (code.text.empty() || code.text.back() == '\n') code.line_map.back() = t.line;
      DecodeInto(t.text, lang, t.line, sink);
    }
  }
  return code;
}

std::string EmbeddedNativeCode(std::string_view python) { return ExtractEmbeddedCode(python, Language::kPython).text; }

std::string NormalizedForNovelty(std::string_view code, task::Backend backend, const std::vector<std::string>& kept) {
  switch (backend) {
    case task::Backend::kTorch:
      return NormalizedPython(code, kept);
    case task::Backend::kOpenCl:
      return NormalizedC(code, /*strings_hold_code=*/true, kept);
    case task::Backend::kCpu:
    case task::Backend::kCuda:
    case task::Backend::kSycl:
      break;
  }
  return NormalizedC(code, /*strings_hold_code=*/false, kept);
}

}  // namespace kf::search
