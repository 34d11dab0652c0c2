// search/code_text.h — candidate code as tokens: what the search compares and classifies.
//
// A small lexer for the C family (CUDA, SYCL, OpenCL C, C++) and for Python (torch candidates),
// and three views built on it: the code with comments and string contents removed (so that a
// comment cannot claim an optimization), the native code a Python or host file carries in its
// string literals (torch's load_inline sources, OpenCL kernels in a C++ string), and a canonical
// text for novelty checks that ignores whitespace, comments and identifier names.
//
// Everything here is a pure function of its input: deterministic, thread-safe, linear in the
// size of the code, and total (unterminated comments and strings end at the end of the input;
// nothing throws or aborts on malformed code).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "task/task.h"

namespace kf::search {

enum class Language { kC, kPython };

enum class TokenKind : std::uint8_t {
  kIdentifier,  // also keywords; bytes >= 0x80 count as identifier characters
  kNumber,      // a preprocessing number: 0x1F, 1.5e-3f, 1'000'000, 3j
  kString,      // a whole string literal with prefix and quotes: R"x(...)x", f'''...'''
  kChar,        // C only: 'a', L'\n'
  kPunct,       // an operator or punctuator; multi-character ones (`::`, `->`, `+=`, `<<`) are one token
};

/// One token of the input. `text` views the input, which must outlive the token.
struct Token {
  TokenKind kind = TokenKind::kPunct;
  std::string_view text;
  int line = 1;             // 1-based line of the token's first character
  int column = 0;           // 0-based byte column of the token's first character
  bool starts_line = false; // the first token of a logical line: C, after a newline that no
                            // backslash splices; Python, after a NEWLINE outside brackets
};

/// The tokens of `code`, comments dropped. C: // and /* */ comments (a // comment continues over
/// a backslash-newline, as in C), string and char literals with any prefix (L, u8, u, U) and raw
/// strings R"d(...)d"; a ' between digits is a digit separator; preprocessor lines are ordinary
/// tokens (`#` starts_line, then `pragma`, `unroll`). Python: # comments, strings with any prefix
/// (r, b, u, f and pairs, either case), triple-quoted or not. An unterminated comment or
/// triple-quoted / raw string runs to the end of the input; an unterminated one-line string
/// ends at the end of its line.
std::vector<Token> Tokenize(std::string_view code, Language lang);

/// The contents of a string literal token (as Tokenize returns it): prefix and quotes removed,
/// escapes (\n \t \\ \" \' \xHH, octal, backslash-newline) decoded unless the literal is raw.
/// Escapes it does not know (\u, \N{...}) are kept as written.
std::string DecodeStringLiteral(std::string_view literal, Language lang);

/// The code with comments removed and every string literal replaced by `""` (a char literal by
/// `''`); everything else is kept as written. A removed comment leaves one space; the line breaks
/// a removed comment or string spanned follow it, so every line keeps its number.
std::string StripCommentsAndStrings(std::string_view code, Language lang);

/// Native code carried in string literals, with a map back to the lines of the file it came from.
struct EmbeddedCode {
  std::string text;
  /// line_map[k] is the 1-based line, in the host file, where line k+1 of `text` starts.
  /// Never empty; has one entry per line of text.
  std::vector<int> line_map;
  /// Every literal that could be code or an option (all but the left-out kinds below, prose
  /// included), decoded, with its line: compiler flags like "-use_fast_math" are looked for here.
  std::vector<std::pair<std::string, int>> literals;
};

/// The native code in the string literals of `host` (Python for torch, C++ for OpenCL): the
/// decoded contents of the literals that hold code, in order. Literals the language joins
/// (adjacent ones, or ones with a `+` between them) form one string; it holds code when it has
/// a `;` or a preprocessor directive (so names, flags and prose are left out); strings
/// are separated by a newline. Also left out: Python string statements (docstrings, bare
/// strings: they do nothing), C `#include "..."` names, `extern "C"` and asm operands.
EmbeddedCode ExtractEmbeddedCode(std::string_view host, Language lang);

/// ExtractEmbeddedCode(python, Language::kPython).text: the CUDA / C++ source of a torch
/// candidate that builds its extension with load_inline.
std::string EmbeddedNativeCode(std::string_view python);

/// A canonical text for novelty: two candidates that differ only in whitespace, comments or the
/// names they declare map to the same string; any other change (an operator, a numeric literal,
/// a called function, a type, a keyword, a member or qualified name) gives a different one.
///  - Tokens are joined by one space; a preprocessor directive ends with a newline. Python keeps
///    its block structure: one logical line per line, indented by its nesting depth (so 2- and
///    4-space indentation agree).
///  - A name the file declares (a variable, parameter, function, type, macro, template
///    parameter; in Python a def, class, parameter or assignment target) is renamed v0, v1, ...
///    in order of first appearance. Renaming goes by spelling over the whole file, not per
///    scope: two files match when their names correspond one to one. Names it only uses (keywords, builtins such as threadIdx or
///    get_local_id, library functions such as expf, types such as float4) keep their spelling,
///    as do names after `.`, `->` or `::` and before `::` (members and qualified names), and
///    Python's imported names.
///  - Numeric literals are kept as written. String literals are kept as written for cuda, sycl
///    and cpu (asm strings matter); for torch (Python) and opencl (C++ host) each string that
///    holds native code is replaced by the canonical form of that code, renamed with one
///    counter (c0, c1, ...) for all the file's embedded code, and other strings are kept.
///  - Names in `kept` are never renamed: the names the harness looks up (the task's entry
///    function, torch's ModelNew), so that code defining another name is never equal to code
///    that defines the entry.
std::string NormalizedForNovelty(std::string_view code, task::Backend backend, const std::vector<std::string>& kept = {});

}  // namespace kf::search
