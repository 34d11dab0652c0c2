// Behaviour descriptors from code: a token scan, per backend vocabulary.
//
// What is analysed: the candidate's tokens (comments gone; strings are tokens no rule reads,
// except inline-asm text and, for torch and OpenCL, the string literals that hold the kernel),
// after three clean-ups so that only code that can run counts:
//   1. `#if 0` / `#if false` groups (and the `#else` of `#if 1`) are dropped; other conditions
//      keep every branch.
//   2. Macros are expanded where they are used (parameters substituted); a macro nobody uses
//      contributes nothing. `#pragma` lines stay (they are code: `#pragma unroll`, OpenMP).
//   3. Functions nothing references are dropped when they could only be called from inside
//      the file: CUDA __device__ / __global__ functions, OpenCL C functions that are not
//      kernels, and `static` / anonymous-namespace functions (repeated until nothing changes).
//      A CUDA file that launches none of its kernels keeps them all (they may be entry points).
//
// Rules. "Buffer" below is an on-chip array (CUDA __shared__, OpenCL local, SYCL
// local_accessor or group_local_memory) or a register array (a small fixed-size local array:
// at most 64 elements where the sizes are known); it counts only when it is both written and
// read in the function that declares it (pointers taken from it count as it; passing it to a
// function counts as both).
//
// memory_opt
//   1  vector loads / stores through a vector-typed pointer that is dereferenced (float4*,
//      half2*, sycl::vec / float4, OpenCL floatN*), vloadN / vstoreN, sycl vec .load/.store,
//      __ldg / __ldcg / ... , const __restrict__ pointers (read-only path; CPU: any restrict),
//      ld.global.nc / vector ld in asm; CPU: `omp simd`, ivdep / vectorize pragmas, SSE _mm_
//      intrinsics, __builtin_assume_aligned.
//   2  a shared / local buffer written and read, with a barrier in the code; CPU: cache
//      blocking in two or more dimensions (nested loops stepping by a block size, each with an
//      inner loop starting at its variable).
//   3  a register buffer; async copies (memcpy_async, __pipeline_memcpy_async, TMA,
//      async_work_group_copy, cp.async in asm); double buffering (a shared / local buffer whose
//      first index toggles: first dimension 2 with a variable index, or `^ 1`, `% 2`, `& 1`);
//      tensor cores (mma_sync, joint_matrix_mad, mma / ldmatrix in asm); CPU: AVX / AVX-512
//      intrinsics, prefetch, AMX tiles.
// compute_opt
//   1  FMA (fmaf, __fmaf_rn, sycl::fma, mad, _mm*_fmadd_*) or fast math (__expf, rsqrtf,
//      __fdividef, sycl::native::, native_*, half_*, .approx asm) or fast-math build flags in
//      a string that holds only options (-use_fast_math, -cl-fast-relaxed-math, -ffast-math).
//   2  online softmax (an exp of the difference of two running maxima: the rescale), Welford
//      updates, sum and sum of squares accumulated by the same statement block.
//   3  flash-style (the online rescale inside a loop that reads a shared / local buffer and
//      has a barrier), matrix units (see tensor cores), scans (cub / cg / SYCL / OpenCL /
//      std scans, __shfl_up_sync, omp scan), a 2-D register tile updated by multiply-adds.
// parallelism_opt
//   1  barriers: __syncthreads*, __syncwarp, cooperative-groups block sync, bar.sync in asm,
//      item.barrier / group_barrier, barrier / work_group_barrier; CPU: OpenMP parallel / for,
//      std::execution::par.
//   2  warp / sub-group collectives: __shfl*, __ballot*, __reduce_*_sync, cub::WarpReduce,
//      SYCL group algorithms and sub-group shuffles, OpenCL sub_group_* / work_group_*
//      collectives; CPU: threads together with SIMD (omp simd, intrinsics) or an OpenMP
//      reduction clause.
//   3  cooperative-groups tiled_partition (used), grid.sync, clusters, cub block collectives,
//      SYCL hierarchical parallel_for_work_group, warp / sub-group results written to a shared
//      buffer at a warp index and read back (multi-level reduction), sub-group together with
//      work-group collectives, warp tiling (a warp index with tensor cores or a 2-D register
//      tile); CPU: OpenMP tasks / teams / distribute, nested parallel regions, collapse
//      together with threads and SIMD.

#include "search/descriptor.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/error.h"
#include "search/code_text.h"

namespace kf::search {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);
using Names = std::unordered_set<std::string_view>;

enum class Vocabulary { kCuda, kSycl, kOpenCl, kCpu };

/// A token of the analysed stream.
struct Tok {
  std::string_view text;
  int line = 0;               // in the candidate file
  TokenKind kind = TokenKind::kPunct;
  bool pragma = false;        // part of a #pragma line
  bool pragma_start = false;  // the `#` that starts one
};

inline bool IsCode(const Tok& t) { return t.kind != TokenKind::kString && t.kind != TokenKind::kChar; }
/// The most frequent test of the analysis: cheap rejections first, no library call.
inline bool Is(const Tok& t, std::string_view text) {
  if (t.text.size() != text.size() || text.empty() || t.text[0] != text[0] || !IsCode(t)) return false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (t.text[i] != text[i]) return false;
  }
  return true;
}
/// A one-character punctuator: `;`, `{`, ...
inline bool IsPunctChar(const Tok& t, char c) {
  return t.kind == TokenKind::kPunct && t.text.size() == 1 && t.text[0] == c;
}
bool IsIdent(const Tok& t) { return t.kind == TokenKind::kIdentifier; }
bool IsAssignOp(const Tok& t) {
  static const Names k = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="};
  return t.kind == TokenKind::kPunct && k.count(t.text) > 0;
}

std::optional<long long> IntegerValue(std::string_view number) {
  std::string digits;
  for (char c : number) {
    if (c != '\'') digits += c;
  }
  while (!digits.empty() && (digits.back() == 'u' || digits.back() == 'U' || digits.back() == 'l' || digits.back() == 'L')) {
    digits.pop_back();
  }
  if (digits.empty()) return std::nullopt;
  char* end = nullptr;
  const long long value = std::strtoll(digits.c_str(), &end, 0);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return value;
}

std::string At(int line, std::string_view what) { return "line " + std::to_string(line) + ": " + std::string(what); }

// ---- Clean-up 1 and 2: conditional groups, macros ----------------------------------------------

struct Macro {
  bool function_like = false;
  bool variadic = false;
  std::vector<std::string_view> params;
  std::vector<Tok> body;
};

struct Preprocessed {
  std::vector<Tok> tokens;
  std::unordered_map<std::string_view, Macro> macros;
  std::unordered_map<std::string_view, long long> constants;  // #define N 32, constexpr int N = 32
};

enum class Truth { kFalse, kTrue, kUnknown };

Truth Evaluate(const std::vector<Token>& raw, std::size_t begin, std::size_t end) {
  while (end - begin >= 3 && raw[begin].text == "(" && raw[end - 1].text == ")") {
    ++begin;
    --end;
  }
  if (end - begin != 1) return Truth::kUnknown;
  const Token& t = raw[begin];
  if (t.kind == TokenKind::kNumber) {
    const std::optional<long long> v = IntegerValue(t.text);
    if (v) return *v != 0 ? Truth::kTrue : Truth::kFalse;
  }
  if (t.text == "false") return Truth::kFalse;
  if (t.text == "true") return Truth::kTrue;
  return Truth::kUnknown;
}

class Preprocessor {
 public:
  Preprocessor(const std::vector<Token>& raw, const std::vector<int>* line_map) : raw_(raw), line_map_(line_map) {}

  Preprocessed Run() {
    Preprocessed out;
    const std::size_t n = raw_.size();
    std::size_t i = 0;
    while (i < n) {
      const Token& t = raw_[i];
      if (!(t.starts_line && t.kind == TokenKind::kPunct && t.text == "#")) {
        if (Live()) out.tokens.push_back(Convert(t));
        ++i;
        continue;
      }
      std::size_t end = i + 1;
      while (end < n && !raw_[end].starts_line) ++end;
      const std::string_view name = i + 1 < end ? raw_[i + 1].text : std::string_view();
      if (name == "if" || name == "ifdef" || name == "ifndef") {
        const bool parent = Live();
        const Truth c = name == "if" ? Evaluate(raw_, i + 2, end) : Truth::kUnknown;
        frames_.push_back(Frame{parent, parent && c != Truth::kFalse, c == Truth::kTrue});
      } else if (name == "elif" || name == "elifdef" || name == "elifndef") {
        if (!frames_.empty()) {
          Frame& f = frames_.back();
          const Truth c = name == "elif" ? Evaluate(raw_, i + 2, end) : Truth::kUnknown;
          f.live = f.parent_live && !f.any_true && c != Truth::kFalse;
          f.any_true = f.any_true || c == Truth::kTrue;
        }
      } else if (name == "else") {
        if (!frames_.empty()) frames_.back().live = frames_.back().parent_live && !frames_.back().any_true;
      } else if (name == "endif") {
        if (!frames_.empty()) frames_.pop_back();
      } else if (Live() && name == "define" && i + 2 < end && raw_[i + 2].kind == TokenKind::kIdentifier) {
        Define(i + 2, end, out);
      } else if (Live() && name == "pragma") {
        for (std::size_t k = i; k < end; ++k) {
          Tok tok = Convert(raw_[k]);
          tok.pragma = true;
          tok.pragma_start = k == i;
          out.tokens.push_back(tok);
        }
      }
      i = end;
    }
    return out;
  }

 private:
  struct Frame {
    bool parent_live = true;
    bool live = true;
    bool any_true = false;  // a branch so far was known to be taken
  };

  bool Live() const { return frames_.empty() || frames_.back().live; }

  Tok Convert(const Token& t) const {
    int line = t.line;
    if (line_map_ != nullptr && !line_map_->empty()) {
      const std::size_t index = std::min(static_cast<std::size_t>(std::max(line, 1) - 1), line_map_->size() - 1);
      line = (*line_map_)[index];
    }
    return Tok{t.text, line, t.kind, false, false};
  }

  void Define(std::size_t name_index, std::size_t end, Preprocessed& out) {
    const Token& name = raw_[name_index];
    Macro m;
    std::size_t k = name_index + 1;
    if (k < end && raw_[k].text == "(" && raw_[k].line == name.line &&
        raw_[k].column == name.column + static_cast<int>(name.text.size())) {
      m.function_like = true;
      for (++k; k < end && raw_[k].text != ")"; ++k) {
        if (raw_[k].kind == TokenKind::kIdentifier) m.params.push_back(raw_[k].text);
        if (raw_[k].text == "...") m.variadic = true;
      }
      ++k;
    }
    for (; k < end; ++k) m.body.push_back(Convert(raw_[k]));
    if (!m.function_like) {
      std::size_t b = 0, e = m.body.size();
      while (e - b >= 3 && m.body[b].text == "(" && m.body[e - 1].text == ")") {
        ++b;
        --e;
      }
      if (e - b == 1 && m.body[b].kind == TokenKind::kNumber) {
        if (const std::optional<long long> v = IntegerValue(m.body[b].text)) out.constants[name.text] = *v;
      }
    }
    out.macros[name.text] = std::move(m);
  }

  const std::vector<Token>& raw_;
  const std::vector<int>* line_map_;
  std::vector<Frame> frames_;
};

class MacroExpander {
 public:
  MacroExpander(const std::unordered_map<std::string_view, Macro>& macros, std::size_t budget)
      : macros_(macros), budget_(budget) {
    for (const auto& [name, macro] : macros_) first_chars_[static_cast<unsigned char>(name[0])] = true;
  }

  void Expand(const std::vector<Tok>& in, int depth, int line_override, std::vector<Tok>& out) {
    static constexpr std::string_view kComma = ",";
    for (std::size_t i = 0; i < in.size(); ++i) {
      Tok t = in[i];
      if (line_override > 0) t.line = line_override;
      const bool candidate = IsIdent(t) && first_chars_[static_cast<unsigned char>(t.text[0])] && !t.pragma &&
                             depth < 16 && out.size() < budget_;
      const auto it = candidate ? macros_.find(t.text) : macros_.end();
      if (it == macros_.end() || std::find(active_.begin(), active_.end(), t.text) != active_.end()) {
        out.push_back(t);
        continue;
      }
      const Macro& m = it->second;
      std::vector<Tok> body;
      if (!m.function_like) {
        body = m.body;
      } else {
        if (i + 1 >= in.size() || !Is(in[i + 1], "(")) {
          out.push_back(t);
          continue;
        }
        std::vector<std::vector<Tok>> args(1);
        int d = 0;
        std::size_t k = i + 1;
        for (; k < in.size(); ++k) {
          if (Is(in[k], "(") && d++ == 0) continue;
          if (Is(in[k], ")") && --d == 0) break;
          if (Is(in[k], ",") && d == 1) {
            args.emplace_back();
            continue;
          }
          args.back().push_back(in[k]);
        }
        if (k >= in.size()) {  // no closing parenthesis: not a use
          out.push_back(t);
          continue;
        }
        for (const Tok& b : m.body) {
          if (Is(b, "#") || Is(b, "##")) continue;  // no stringizing or pasting
          if (IsIdent(b) && b.text == "__VA_ARGS__" && m.variadic) {
            for (std::size_t a = m.params.size(); a < args.size(); ++a) {
              if (a > m.params.size()) body.push_back(Tok{kComma, b.line, TokenKind::kPunct, false, false});
              body.insert(body.end(), args[a].begin(), args[a].end());
            }
            continue;
          }
          const auto p = IsIdent(b) ? std::find(m.params.begin(), m.params.end(), b.text) : m.params.end();
          if (p != m.params.end()) {
            const std::size_t a = static_cast<std::size_t>(p - m.params.begin());
            if (a < args.size()) body.insert(body.end(), args[a].begin(), args[a].end());
            continue;
          }
          body.push_back(b);
        }
        i = k;
      }
      active_.push_back(t.text);
      Expand(body, depth + 1, t.line, out);
      active_.pop_back();
    }
  }

 private:
  const std::unordered_map<std::string_view, Macro>& macros_;
  std::size_t budget_;
  std::vector<std::string_view> active_;  // macros being expanded: not expanded again inside
  std::array<bool, 256> first_chars_{};   // first characters of macro names: a cheap pre-filter
};

/// Token positions in 32 bits: the side tables stay small (the analysis runs on every candidate).
class Positions {
 public:
  Positions() = default;
  Positions(std::size_t n, std::size_t value) : v_(n, Narrow(value)) {}
  std::size_t operator[](std::size_t i) const {
    if (i >= v_.size()) return kNone;
    return v_[i] == kNarrowNone ? kNone : v_[i];
  }
  void Set(std::size_t i, std::size_t value) { v_[i] = Narrow(value); }
  std::size_t size() const { return v_.size(); }

 private:
  static constexpr std::uint32_t kNarrowNone = UINT32_MAX;
  static std::uint32_t Narrow(std::size_t value) {
    return value >= kNarrowNone ? kNarrowNone : static_cast<std::uint32_t>(value);
  }
  std::vector<std::uint32_t> v_;
};

/// For each ( [ {, the index of its partner (and back); kNone when unbalanced.
Positions MatchBrackets(const std::vector<Tok>& t) {
  Positions match(t.size(), kNone);
  std::vector<std::size_t> stack;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!IsCode(t[i]) || t[i].text.size() != 1) continue;
    const char c = t[i].text[0];
    if (c == '(' || c == '[' || c == '{') {
      stack.push_back(i);
    } else if (c == ')' || c == ']' || c == '}') {
      const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      // Pop unclosed openers of another kind (code that does not parse still gets matched).
      while (!stack.empty() && t[stack.back()].text[0] != open) stack.pop_back();
      if (stack.empty()) continue;
      match.Set(i, stack.back());
      match.Set(stack.back(), i);
      stack.pop_back();
    }
  }
  return match;
}

// ---- Clean-up 3: functions nothing calls -------------------------------------------------------

std::vector<Tok> RemoveDeadFunctions(std::vector<Tok> t, Vocabulary vocab) {
  const Positions match = MatchBrackets(t);
  struct Function {
    std::string_view name;
    std::size_t begin = 0, end = 0;  // the whole definition, inclusive
    bool internal = false;           // only callable from this file
    bool kernel = false;             // CUDA __global__
  };
  std::vector<Function> functions;
  std::vector<bool> anonymous_scope = {false};  // namespace nesting at file scope
  std::size_t statement = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const Tok& tok = t[i];
    if (tok.pragma || Is(tok, ";")) {
      statement = i + 1;
      continue;
    }
    if (Is(tok, "}")) {
      if (anonymous_scope.size() > 1) anonymous_scope.pop_back();
      statement = i + 1;
      continue;
    }
    if (!Is(tok, "{")) continue;
    // A namespace or extern "C" block: its contents are at file scope too.
    bool ns = false, anonymous = false;
    if (i >= 1 && Is(t[i - 1], "namespace")) {
      ns = anonymous = true;
    } else if (i >= 2 && IsIdent(t[i - 1]) && Is(t[i - 2], "namespace")) {
      ns = true;
    } else if (i >= 2 && t[i - 1].kind == TokenKind::kString && Is(t[i - 2], "extern")) {
      ns = true;
    }
    if (ns) {
      anonymous_scope.push_back(anonymous || anonymous_scope.back());
      statement = i + 1;
      continue;
    }
    const std::size_t close = match[i];
    if (close == kNone) break;
    // A function definition: NAME ( ... ) [qualifiers] {
    std::size_t k = i;
    while (k > statement && (IsIdent(t[k - 1]) || Is(t[k - 1], "&") || Is(t[k - 1], "&&"))) --k;
    if (k > statement && Is(t[k - 1], ")") && match[k - 1] != kNone && match[k - 1] > statement &&
        IsIdent(t[match[k - 1] - 1])) {
      Function f{t[match[k - 1] - 1].text, statement, close, anonymous_scope.back()};
      for (std::size_t s = statement; s < match[k - 1]; ++s) {
        const std::string_view w = IsIdent(t[s]) ? t[s].text : std::string_view();
        if (w == "static") f.internal = true;
        if (vocab == Vocabulary::kCuda && (w == "__device__" || w == "__global__")) f.internal = true;
        if (vocab == Vocabulary::kCuda && w == "__global__") f.kernel = true;
      }
      if (vocab == Vocabulary::kOpenCl) {
        f.internal = true;
        for (std::size_t s = statement; s < match[k - 1]; ++s) {
          if (Is(t[s], "kernel") || Is(t[s], "__kernel")) f.internal = false;
        }
      }
      functions.push_back(f);
    }
    i = close;  // class bodies, initializers and function bodies are not file scope
    statement = i + 1;
  }
  if (std::none_of(functions.begin(), functions.end(), [](const Function& f) { return f.internal; })) return t;

  std::vector<int> owner(t.size(), -1);  // the function whose definition holds each token
  for (std::size_t f = 0; f < functions.size(); ++f) {
    for (std::size_t k = functions[f].begin; k <= functions[f].end && k < t.size(); ++k) owner[k] = static_cast<int>(f);
  }
  std::unordered_map<std::string_view, std::vector<std::size_t>> uses;  // of internal functions
  for (const Function& f : functions) {
    if (f.internal) uses[f.name];
  }
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (!IsIdent(t[k])) continue;
    const auto it = uses.find(t[k].text);
    if (it != uses.end()) it->second.push_back(k);
  }
  std::vector<bool> alive(functions.size());
  for (std::size_t f = 0; f < functions.size(); ++f) alive[f] = !functions[f].internal;
  auto propagate = [&] {  // alive: referenced from outside every dead definition
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t f = 0; f < functions.size(); ++f) {
        if (alive[f]) continue;
        for (std::size_t p : uses[functions[f].name]) {
          const int o = owner[p];
          if (o == static_cast<int>(f) || (o >= 0 && !alive[static_cast<std::size_t>(o)])) continue;
          // A prototype at file scope is not a use.
          if (o < 0 && p + 1 < t.size() && Is(t[p + 1], "(") && match[p + 1] != kNone && match[p + 1] + 1 < t.size() &&
              Is(t[match[p + 1] + 1], ";")) {
            continue;
          }
          alive[f] = true;
          changed = true;
          break;
        }
      }
    }
  };
  propagate();
  // A file that launches none of its kernels (a fragment, or launches we cannot see): all of
  // its kernels may be entry points.
  bool any_kernel = false, kernel_launched = false;
  for (std::size_t f = 0; f < functions.size(); ++f) {
    any_kernel = any_kernel || functions[f].kernel;
    kernel_launched = kernel_launched || (functions[f].kernel && alive[f]);
  }
  if (any_kernel && !kernel_launched) {
    for (std::size_t f = 0; f < functions.size(); ++f) alive[f] = alive[f] || functions[f].kernel;
    propagate();
  }
  if (std::all_of(alive.begin(), alive.end(), [](bool a) { return a; })) return t;
  std::vector<Tok> kept;
  kept.reserve(t.size());
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (owner[k] < 0 || alive[static_cast<std::size_t>(owner[k])]) kept.push_back(t[k]);
  }
  return kept;
}

// ---- The analysed code, indexed ----------------------------------------------------------------

struct Loop {
  std::size_t keyword = 0;
  std::size_t header_open = kNone, header_close = kNone;  // for / while parentheses
  std::size_t body_begin = 0, body_end = 0;               // inclusive
};

struct Pragma {
  int line = 0;
  std::size_t begin = 0, end = 0;  // tokens [begin, end): `#` `pragma` ...
  Names words;
};

struct AsmText {
  int line = 0;
  std::string text;  // the decoded template strings
};

class Code {
 public:
  Code(std::vector<Tok> tokens, Vocabulary vocab, std::unordered_map<std::string_view, long long> constants)
      : t_(std::move(tokens)), vocab_(vocab), constants_(std::move(constants)) {
    match_ = MatchBrackets(t_);
    IndexStatementsAndScopes();
    IndexNames();
    IndexLoops();
    IndexPragmasAndAsm();
  }

  Vocabulary vocab() const { return vocab_; }
  std::size_t size() const { return t_.size(); }
  const Tok& operator[](std::size_t i) const {
    static const Tok kEnd{};
    return i < t_.size() ? t_[i] : kEnd;
  }
  std::size_t Match(std::size_t i) const { return match_[i]; }
  std::size_t StatementBegin(std::size_t i) const { return stmt_begin_[i]; }
  std::size_t StatementEnd(std::size_t i) const { return stmt_end_[i]; }  // the boundary token
  int CodeDepth(std::size_t i) const { return code_depth_[i]; }
  const std::vector<std::size_t>& Uses(std::string_view name) const {
    static const std::vector<std::size_t> kNoUses;
    const auto it = uses_.find(name);
    return it == uses_.end() ? kNoUses : it->second;
  }
  const std::vector<std::size_t>& Calls() const { return calls_; }
  const std::vector<Loop>& Loops() const { return loops_; }
  const std::vector<Pragma>& Pragmas() const { return pragmas_; }
  const std::vector<AsmText>& Asm() const { return asm_; }
  std::optional<long long> Constant(std::string_view name) const {
    const auto it = constants_.find(name);
    if (it == constants_.end()) return std::nullopt;
    return it->second;
  }

  /// t[i] is a name followed by `(`, or by template arguments and `(`.
  bool IsCall(std::size_t i) const {
    if (!IsIdent((*this)[i])) return false;
    if (Is((*this)[i + 1], "(")) return true;
    if (!Is((*this)[i + 1], "<")) return false;
    int depth = 0;
    for (std::size_t k = i + 1; k < t_.size() && k < i + 64; ++k) {
      const Tok& tok = t_[k];
      if (Is(tok, "<")) ++depth;
      if (Is(tok, ">")) --depth;
      if (Is(tok, ">>")) depth -= 2;
      if (Is(tok, "(") || Is(tok, "[")) {
        if (Match(k) == kNone) return false;
        k = Match(k);
        continue;
      }
      if (Is(tok, ";") || Is(tok, "{") || Is(tok, "}")) return false;
      if (depth <= 0) return Is((*this)[k + 1], "(");
    }
    return false;
  }
  bool IsMemberCall(std::size_t i) const {
    return i > 0 && (Is(t_[i - 1], ".") || Is(t_[i - 1], "->")) && IsCall(i);
  }
  /// The namespace / class qualifiers written before t[i]: "sycl::native::" gives {sycl, native}.
  bool HasQualifier(std::size_t i, std::string_view qualifier) const {
    while (i >= 2 && Is(t_[i - 1], "::") && IsIdent(t_[i - 2])) {
      if (t_[i - 2].text == qualifier) return true;
      i -= 2;
    }
    return false;
  }
  /// The call's parentheses: t[i] is the name.
  std::size_t CallOpen(std::size_t i) const {
    for (std::size_t k = i + 1; k < t_.size() && k < i + 64; ++k) {
      if (Is(t_[k], "(")) return k;
    }
    return kNone;
  }
  /// The (, [ or { that most closely encloses i, or kNone.
  std::size_t Enclosing(std::size_t i, std::string_view open) const {
    int depth = 0;
    for (std::size_t k = i; k-- > 0;) {
      if (!IsCode(t_[k]) || t_[k].text.size() != 1) continue;
      const char c = t_[k].text[0];
      if (c == ')' || c == ']' || c == '}') {
        if (match_[k] != kNone) {
          k = match_[k];
          continue;
        }
        ++depth;
      } else if (c == '(' || c == '[' || c == '{') {
        if (depth > 0) {
          --depth;
          continue;
        }
        if (t_[k].text == open) return k;
      }
    }
    return kNone;
  }
  /// [begin, end] of the function body that holds token i (for a parameter: the body that
  /// follows); the whole code when there is none.
  std::pair<std::size_t, std::size_t> FunctionRange(std::size_t i) const {
    std::size_t open = outer_code_open_[i];
    if (open == kNone) {
      for (std::size_t k = i; k < t_.size() && k < i + 4096; ++k) {
        if (Is(t_[k], ";")) break;
        if (Is(t_[k], "{")) {
          open = k;
          break;
        }
      }
    }
    if (open == kNone || match_[open] == kNone) return {0, t_.size() == 0 ? 0 : t_.size() - 1};
    return {open, match_[open]};
  }
  /// Whether `i` lies inside a loop body that also holds `a` and `b` (each kNone = any).
  bool InLoopWith(std::size_t i, const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) const {
    auto inside = [](const Loop& l, const std::vector<std::size_t>& positions) {
      return std::any_of(positions.begin(), positions.end(),
                         [&](std::size_t p) { return p >= l.body_begin && p <= l.body_end; });
    };
    for (const Loop& l : loops_) {
      if (i >= l.body_begin && i <= l.body_end && inside(l, a) && inside(l, b)) return true;
    }
    return false;
  }

 private:
  void IndexStatementsAndScopes() {
    const std::size_t n = t_.size();
    stmt_begin_ = Positions(n, 0);
    stmt_end_ = Positions(n, n);
    code_depth_.assign(n, 0);
    outer_code_open_ = Positions(n, kNone);
    auto boundary = [&](std::size_t k) {
      const Tok& tok = t_[k];
      return tok.pragma || IsPunctChar(tok, ';') || IsPunctChar(tok, '{') || IsPunctChar(tok, '}');
    };
    std::size_t begin = 0;
    for (std::size_t k = 0; k < n; ++k) {
      stmt_begin_.Set(k, begin);
      if (boundary(k)) begin = k + 1;
    }
    std::size_t end = n;
    for (std::size_t k = n; k-- > 0;) {
      if (boundary(k)) end = k;
      stmt_end_.Set(k, end);
    }
    // Braces of namespaces, extern "C" blocks and class / struct / enum bodies are not code.
    struct Brace {
      std::size_t open;
      bool code;
    };
    std::vector<Brace> stack;
    int depth = 0;
    std::size_t outer = kNone;
    for (std::size_t k = 0; k < n; ++k) {
      if (IsPunctChar(t_[k], '{')) {
        bool code = true;
        if (k >= 1 && (Is(t_[k - 1], "namespace") || (k >= 2 && Is(t_[k - 2], "namespace")) ||
                       (t_[k - 1].kind == TokenKind::kString && k >= 2 && Is(t_[k - 2], "extern")))) {
          code = false;
        } else {
          for (std::size_t s = stmt_begin_[k]; s < k; ++s) {
            if (IsPunctChar(t_[s], '(') || IsPunctChar(t_[s], '=')) break;
            if (IsIdent(t_[s]) && (t_[s].text == "struct" || t_[s].text == "class" || t_[s].text == "union" ||
                                   t_[s].text == "enum")) {
              code = false;
            }
          }
        }
        stack.push_back({k, code});
        if (code) {
          if (depth == 0) outer = k;
          ++depth;
        }
      } else if (IsPunctChar(t_[k], '}') && !stack.empty()) {
        if (stack.back().code) --depth;
        stack.pop_back();
        code_depth_[k] = static_cast<std::uint16_t>(std::min(depth, 65535));
        outer_code_open_.Set(k, depth > 0 ? outer : kNone);
        continue;
      }
      code_depth_[k] = static_cast<std::uint16_t>(std::min(depth, 65535));
      outer_code_open_.Set(k, depth > 0 ? outer : kNone);
    }
  }

  void IndexNames() {
    for (std::size_t k = 0; k < t_.size(); ++k) {
      if (!IsIdent(t_[k])) continue;
      uses_[t_[k].text].push_back(k);
      if (!t_[k].pragma && IsCall(k)) calls_.push_back(k);
    }
  }

  /// Where the statement that starts at k ends (its last token).
  std::size_t StatementFrom(std::size_t k) const {
    while (k < t_.size()) {
      const Tok& tok = t_[k];
      if (Is(tok, "{")) return match_[k] == kNone ? t_.size() - 1 : match_[k];
      if (Is(tok, ";")) return k;
      if ((Is(tok, "(") || Is(tok, "[")) && match_[k] != kNone) {
        k = match_[k] + 1;
        continue;
      }
      ++k;
    }
    return t_.size() - 1;
  }

  void IndexLoops() {
    for (std::size_t k = 0; k + 1 < t_.size(); ++k) {
      if (t_[k].pragma) continue;
      Loop l;
      l.keyword = k;
      if ((Is(t_[k], "for") || Is(t_[k], "while")) && Is(t_[k + 1], "(") && match_[k + 1] != kNone) {
        l.header_open = k + 1;
        l.header_close = match_[k + 1];
        if (l.header_close + 1 >= t_.size()) continue;
        if (Is(t_[k], "while") && Is(t_[l.header_close + 1], ";")) continue;  // the end of a do-while
        l.body_begin = l.header_close + 1;
      } else if (Is(t_[k], "do")) {
        l.body_begin = k + 1;
      } else {
        continue;
      }
      l.body_end = StatementFrom(l.body_begin);
      loops_.push_back(l);
    }
  }

  void IndexPragmasAndAsm() {
    for (std::size_t k = 0; k < t_.size(); ++k) {
      if (t_[k].pragma_start) {
        Pragma p;
        p.line = t_[k].line;
        p.begin = k;
        p.end = k + 1;
        while (p.end < t_.size() && t_[p.end].pragma && !t_[p.end].pragma_start) {
          if (IsIdent(t_[p.end])) p.words.insert(t_[p.end].text);
          ++p.end;
        }
        pragmas_.push_back(std::move(p));
      }
      if (IsIdent(t_[k]) && (t_[k].text == "asm" || t_[k].text == "__asm__" || t_[k].text == "__asm")) {
        std::size_t j = k + 1;
        while (j < t_.size() && IsIdent(t_[j])) ++j;  // volatile, goto, inline
        if (j >= t_.size() || !Is(t_[j], "(")) continue;
        AsmText a;
        a.line = t_[k].line;
        for (++j; j < t_.size() && !Is(t_[j], ":") && !Is(t_[j], ")"); ++j) {
          if (t_[j].kind == TokenKind::kString) a.text += DecodeStringLiteral(t_[j].text, Language::kC);
        }
        asm_.push_back(std::move(a));
      }
    }
  }

  std::vector<Tok> t_;
  Vocabulary vocab_;
  std::unordered_map<std::string_view, long long> constants_;
  Positions match_, stmt_begin_, stmt_end_, outer_code_open_;
  std::vector<std::uint16_t> code_depth_;
  std::unordered_map<std::string_view, std::vector<std::size_t>> uses_;
  std::vector<std::size_t> calls_;
  std::vector<Loop> loops_;
  std::vector<Pragma> pragmas_;
  std::vector<AsmText> asm_;
};

// ---- Buffers: declared, written, read ----------------------------------------------------------

struct Buffer {
  std::string_view name;
  std::size_t decl = 0;  // the name in its declaration
  bool on_chip = true;   // shared / local memory; false: a register array
  int dims = 0;
  std::optional<long long> first_dim;
  bool initialized = false;  // `= {...}` at the declaration (a write)
};

struct BufferUse {
  int write_line = 0, read_line = 0;
  std::vector<std::size_t> reads;  // token positions
  bool variable_first_index = false;
  bool toggled_first_index = false;
  int warp_indexed_write_line = 0;  // written at a warp / sub-group index
  int mac_line = 0;                 // updated by a multiply-add (acc[i][j] += a * b, fma(a, b, acc))
  bool written() const { return write_line > 0; }
  bool read() const { return read_line > 0; }
};

const Names& FmaCalls() {
  static const Names k = {"fmaf", "fma", "__fmaf_rn", "__fmaf_rz", "__fmaf_ru", "__fmaf_rd", "__fma_rn",
                          "__fmaf_ieee_rn", "__hfma", "__hfma2", "mad", "__builtin_fma", "__builtin_fmaf"};
  return k;
}
bool IsFmaName(std::string_view name) {
  return FmaCalls().count(name) > 0 || name.find("fmadd") != std::string_view::npos ||
         name.find("fmsub") != std::string_view::npos;
}

class BufferAnalysis {
 public:
  BufferAnalysis(const Code& c, const Names& warp_ids) : c_(c), warp_ids_(warp_ids) {}

  BufferUse Classify(const Buffer& b) const {
    BufferUse use;
    if (b.initialized) use.write_line = c_[b.decl].line;
    const auto [range_begin, range_end] = c_.FunctionRange(b.decl);
    std::vector<std::pair<std::string_view, std::size_t>> names = {{b.name, b.decl}};  // with aliases
    for (std::size_t n = 0; n < names.size() && n < 16; ++n) {
      const auto [name, decl] = names[n];  // names grows inside the loop
      for (std::size_t p : c_.Uses(name)) {
        if (p == decl || p < range_begin || p > range_end) continue;
        if (p > 0 && (Is(c_[p - 1], ".") || Is(c_[p - 1], "->") || Is(c_[p - 1], "::"))) continue;
        if (const std::size_t alias = AliasDeclaredAt(p); alias != kNone) {
          const bool known = std::any_of(names.begin(), names.end(), [&](const auto& e) { return e.first == c_[alias].text; });
          if (!known) names.emplace_back(c_[alias].text, alias);
          continue;
        }
        ClassifyOccurrence(p, use);
      }
    }
    return use;
  }

 private:
  /// When the occurrence at p initializes a pointer or reference (`float* row = tile + k;`,
  /// `auto& s = *ptr;`, `float4* v = reinterpret_cast<float4*>(tile)`), the alias's position.
  std::size_t AliasDeclaredAt(std::size_t p) const {
    if (Is(c_[p + 1], "[") || Is(c_[p + 1], "(")) return kNone;
    const std::size_t begin = c_.StatementBegin(p);
    for (std::size_t k = begin; k < p; ++k) {
      if (Is(c_[k], "(") || Is(c_[k], "[")) {
        if (c_.Match(k) == kNone || c_.Match(k) > p) return kNone;
        k = c_.Match(k);
        continue;
      }
      if (!Is(c_[k], "=")) continue;
      if (k >= begin + 2 && IsIdent(c_[k - 1]) &&
          (Is(c_[k - 2], "*") || Is(c_[k - 2], "&") || IsIdent(c_[k - 2]))) {
        return k - 1;
      }
      return kNone;
    }
    return kNone;
  }

  void ClassifyOccurrence(std::size_t p, BufferUse& use) const {
    const int line = c_[p].line;
    const std::size_t begin = c_.StatementBegin(p);
    // Subscripts, member access and closing parentheses opened before p form the lvalue.
    std::size_t k = p + 1;
    std::size_t first_index_open = kNone;
    for (;;) {
      const Tok& tok = c_[k];
      if (Is(tok, "[") && c_.Match(k) != kNone) {
        if (first_index_open == kNone && k == p + 1) first_index_open = k;
        k = c_.Match(k) + 1;
      } else if ((Is(tok, ".") || Is(tok, "->")) && IsIdent(c_[k + 1])) {
        k += 2;
      } else if (Is(tok, ")") && c_.Match(k) != kNone && c_.Match(k) < p && c_.Match(k) >= begin) {
        ++k;
      } else {
        break;
      }
    }
    if (first_index_open != kNone) InspectFirstIndex(first_index_open, use);
    const Tok& op = c_[k];
    bool write = false, read = false;
    if (Is(op, "=")) {
      write = true;
    } else if (IsAssignOp(op) || Is(op, "++") || Is(op, "--") || (p > 0 && (Is(c_[p - 1], "++") || Is(c_[p - 1], "--")))) {
      write = read = true;
    } else if (const std::size_t open = PassedTo(p, begin); open != kNone) {
      // Its address is an argument: what the callee does with it.
      const std::string_view callee = c_[open - 1].text;
      static const Names kReads = {"load_matrix_sync", "joint_matrix_load", "vload2", "vload4", "vload8", "vload16"};
      static const Names kWrites = {"memcpy_async", "__pipeline_memcpy_async", "store_matrix_sync",
                                    "joint_matrix_store", "async_work_group_copy", "async_work_group_strided_copy",
                                    "vstore2", "vstore4", "vstore8", "vstore16"};
      static const Names kPure = {"fmaxf", "fminf", "fmax", "fmin", "max", "min", "expf", "__expf", "exp",
                                  "sqrtf", "rsqrtf", "fabsf", "abs", "__shfl_sync", "__shfl_down_sync",
                                  "__shfl_xor_sync", "__ldg", "static_cast", "reduce_over_group"};
      if (kWrites.count(callee) > 0) {
        // memcpy_async(dst, src, ...): the first argument is written, the second read.
        const bool first_argument = FirstArgument(open, p);
        write = first_argument || callee.rfind("vstore", 0) == 0;
        read = !write;
      } else if (kReads.count(callee) > 0 || kPure.count(callee) > 0 || IsFmaName(callee)) {
        read = true;
      } else {
        write = read = true;  // unknown callee: it may do either
      }
    } else {
      read = true;
    }
    if (write) {
      if (use.write_line == 0) use.write_line = line;
      if (first_index_open != kNone && use.warp_indexed_write_line == 0 && IndexMentionsWarp(first_index_open)) {
        use.warp_indexed_write_line = line;
      }
      if (use.mac_line == 0 && IsMultiplyAdd(k, op)) use.mac_line = line;
    }
    if (read) {
      if (use.read_line == 0) use.read_line = line;
      use.reads.push_back(p);
    }
  }

  /// When the occurrence at p passes the buffer's address to a call (`f(tile)`, `f(&tile[i])`,
  /// `f(tile + k)`), the call's `(`; kNone for values (`f(tile[i])`) and non-calls (`if (...)`).
  std::size_t PassedTo(std::size_t p, std::size_t statement_begin) const {
    static const Names kNotCallee = {"if", "while", "for", "switch", "return", "sizeof", "float", "double", "int",
                                     "unsigned", "long", "short", "bool", "half", "__half", "float2", "float4"};
    const bool address = (p > 0 && Is(c_[p - 1], "&")) || !Is(c_[p + 1], "[");
    if (!address) return kNone;
    const std::size_t open = c_.Enclosing(p, "(");
    if (open == kNone || open == 0 || open < statement_begin || !IsIdent(c_[open - 1]) ||
        kNotCallee.count(c_[open - 1].text) > 0) {
      return kNone;
    }
    return open;
  }

  bool FirstArgument(std::size_t open, std::size_t p) const {
    for (std::size_t k = open + 1; k < p; ++k) {
      if ((Is(c_[k], "(") || Is(c_[k], "[") || Is(c_[k], "{")) && c_.Match(k) != kNone) {
        k = c_.Match(k);
        continue;
      }
      if (Is(c_[k], ",")) return false;
    }
    return true;
  }

  void InspectFirstIndex(std::size_t open, BufferUse& use) const {
    const std::size_t close = c_.Match(open);
    for (std::size_t k = open + 1; k < close; ++k) {
      if (IsIdent(c_[k]) && !c_.Constant(c_[k].text)) use.variable_first_index = true;
      const bool toggle = (Is(c_[k], "^") && Is(c_[k + 1], "1")) || (Is(c_[k], "%") && Is(c_[k + 1], "2")) ||
                          (Is(c_[k], "&") && Is(c_[k + 1], "1") && k > open + 1 && !Is(c_[k - 1], "("));
      if (toggle) use.toggled_first_index = true;
    }
  }

  bool IndexMentionsWarp(std::size_t open) const {
    const std::size_t close = c_.Match(open);
    for (std::size_t k = open + 1; k < close; ++k) {
      if (IsIdent(c_[k]) && warp_ids_.count(c_[k].text) > 0) return true;
      if (IsWarpExpression(c_, k)) return true;
    }
    return false;
  }

 public:
  /// A warp / sub-group index computed at k: `x / 32`, `x / warpSize`, `x >> 5`,
  /// get_sub_group_id(), sg.get_group_id(), tile.meta_group_rank().
  static bool IsWarpExpression(const Code& c, std::size_t k) {
    const Tok& tok = c[k];
    if (Is(tok, "/") || Is(tok, ">>")) {
      const Tok& divisor = c[k + 1];
      if (Is(tok, ">>")) return Is(divisor, "5");
      if (Is(divisor, "warpSize")) return true;
      if (divisor.kind == TokenKind::kNumber) return IntegerValue(divisor.text) == 32;
      if (IsIdent(divisor)) return c.Constant(divisor.text) == 32;
      return false;
    }
    if (!IsIdent(tok)) return false;
    if (tok.text == "get_sub_group_id" || tok.text == "meta_group_rank") return c.IsCall(k);
    if ((tok.text == "get_group_id" || tok.text == "get_group_linear_id") && c.IsMemberCall(k)) {
      // On a sub-group: `sg.get_group_id()` or `it.get_sub_group().get_group_id()`.
      if (k >= 2 && Is(c[k - 2], ")")) return true;
      return k >= 2 && IsIdent(c[k - 2]) && c.vocab() == Vocabulary::kSycl && IsSubGroupName(c, c[k - 2].text);
    }
    return false;
  }

  static bool IsSubGroupName(const Code& c, std::string_view name) {
    for (std::size_t p : c.Uses(name)) {
      if (!Is(c[p + 1], "=")) continue;
      for (std::size_t k = p + 2; k < c.StatementEnd(p); ++k) {
        if (Is(c[k], "get_sub_group")) return true;
      }
    }
    return false;
  }

 private:
  /// The statement's operator at k (an assignment) adds a product: `+= a * b`, `= fma(a, b, x)`.
  bool IsMultiplyAdd(std::size_t k, const Tok& op) const {
    const std::size_t end = c_.StatementEnd(k);
    if (Is(op, "+=")) {
      for (std::size_t j = k + 1; j < end; ++j) {
        if (Is(c_[j], "*")) return true;
        if (IsIdent(c_[j]) && IsFmaName(c_[j].text)) return true;
      }
    }
    if (Is(op, "=")) {
      for (std::size_t j = k + 1; j < end; ++j) {
        if (IsIdent(c_[j]) && IsFmaName(c_[j].text) && c_.IsCall(j)) return true;
      }
    }
    return false;
  }

  const Code& c_;
  const Names& warp_ids_;
};

// ---- Rules -------------------------------------------------------------------------------------

class Describer {
 public:
  Describer(const Code& c, const std::vector<std::pair<std::string, int>>& literals) : c_(c), literals_(literals) {}

  CodeDescriptor Run() {
    CollectWarpIds();
    CollectBuffers();
    Barriers();
    Memory();
    Compute();
    Parallelism();
    CodeDescriptor d;
    d.memory = best_[0].Result();
    d.compute = best_[1].Result();
    d.parallelism = best_[2].Result();
    return d;
  }

 private:
  struct Best {
    int level = 0;
    int line = INT_MAX;
    std::string evidence;
    AxisLevel Result() const { return AxisLevel{level, level == 0 ? std::string("none found") : evidence}; }
  };

  void Add(Axis axis, int level, int line, std::string_view what) {
    Best& b = best_[static_cast<std::size_t>(axis)];
    if (level > b.level || (level == b.level && line < b.line)) {
      b.level = level;
      b.line = line;
      b.evidence = At(line, what);
    }
  }

  bool Cuda() const { return c_.vocab() == Vocabulary::kCuda; }
  bool Sycl() const { return c_.vocab() == Vocabulary::kSycl; }
  bool OpenCl() const { return c_.vocab() == Vocabulary::kOpenCl; }
  bool Cpu() const { return c_.vocab() == Vocabulary::kCpu; }

  /// The first call of one of `names` (unqualified spelling), or kNone.
  std::size_t FirstCall(std::initializer_list<std::string_view> names) const {
    std::size_t first = kNone;
    for (std::string_view name : names) {
      for (std::size_t p : c_.Uses(name)) {
        if (p < first && c_.IsCall(p)) {
          first = p;
          break;
        }
      }
    }
    return first;
  }
  template <class Pred>
  std::size_t FirstCallWhere(Pred pred) const {
    for (std::size_t p : c_.Calls()) {
      if (pred(p)) return p;
    }
    return kNone;
  }
  std::size_t FirstUse(std::string_view name) const {
    const std::vector<std::size_t>& uses = c_.Uses(name);
    return uses.empty() ? kNone : uses.front();
  }
  const AsmText* AsmWith(std::initializer_list<std::string_view> needles) const {
    for (const AsmText& a : c_.Asm()) {
      for (std::string_view needle : needles) {
        if (a.text.find(needle) != std::string::npos) return &a;
      }
    }
    return nullptr;
  }
  const Pragma* PragmaWith(std::initializer_list<std::string_view> words) const {
    for (const Pragma& p : c_.Pragmas()) {
      if (std::all_of(words.begin(), words.end(), [&](std::string_view w) { return p.words.count(w) > 0; })) return &p;
    }
    return nullptr;
  }
  /// The name at p as written, with its qualifiers: "wmma::mma_sync", "sycl::native::exp".
  std::string Name(std::size_t p) const {
    std::string name(c_[p].text);
    for (std::size_t k = p; k >= 2 && Is(c_[k - 1], "::") && IsIdent(c_[k - 2]); k -= 2) {
      name = std::string(c_[k - 2].text) + "::" + name;
    }
    return name;
  }

  // -- shared facts --

  /// Variables that hold a warp / sub-group index (`const int warp = threadIdx.x / 32;`).
  void CollectWarpIds() {
    for (std::size_t k = 0; k < c_.size(); ++k) {
      if (!BufferAnalysis::IsWarpExpression(c_, k)) continue;
      const std::size_t begin = c_.StatementBegin(k);
      for (std::size_t j = begin; j < k; ++j) {
        if (Is(c_[j], "=") && j > begin && IsIdent(c_[j - 1])) {
          warp_ids_.insert(c_[j - 1].text);
          if (warp_id_line_ == 0) warp_id_line_ = c_[j - 1].line;
          break;
        }
      }
    }
  }

  void CollectBuffers() {
    for (std::size_t k = 0; k < c_.size(); ++k) {
      const Tok& tok = c_[k];
      if (!IsIdent(tok) || tok.pragma) continue;
      if ((Cuda() && tok.text == "__shared__") || (OpenCl() && (tok.text == "local" || tok.text == "__local"))) {
        DeclaratorsAfter(k, /*arrays_only=*/Cuda());
      } else if (Sycl() && (tok.text == "local_accessor" || tok.text == "accessor") && Is(c_[k + 1], "<")) {
        SyclAccessor(k);
      } else if (Sycl() && (tok.text == "group_local_memory_for_overwrite" || tok.text == "group_local_memory") &&
                 c_.IsCall(k)) {
        const std::size_t begin = c_.StatementBegin(k);
        for (std::size_t j = begin + 1; j < k; ++j) {
          if (Is(c_[j], "=") && IsIdent(c_[j - 1])) {
            AddBuffer(j - 1, true);
            break;
          }
        }
      } else if (Is(c_[k + 1], "[")) {
        RegisterArray(k);
      }
    }
    BufferAnalysis analysis(c_, warp_ids_);
    for (const Buffer& b : buffers_) uses_.push_back(analysis.Classify(b));
  }

  void AddBuffer(std::size_t name, bool on_chip) {
    Buffer b;
    b.name = c_[name].text;
    b.decl = name;
    b.on_chip = on_chip;
    std::size_t k = name + 1;
    while (Is(c_[k], "[") && c_.Match(k) != kNone) {
      const std::size_t close = c_.Match(k);
      if (b.dims == 0 && close == k + 2) {
        if (c_[k + 1].kind == TokenKind::kNumber) b.first_dim = IntegerValue(c_[k + 1].text);
        if (IsIdent(c_[k + 1])) b.first_dim = c_.Constant(c_[k + 1].text);
      }
      ++b.dims;
      k = close + 1;
    }
    b.initialized = Is(c_[k], "=") || Is(c_[k], "{");
    buffers_.push_back(b);
  }

  /// Declarators of a __shared__ / local declaration starting at k (up to `;`, or the end of
  /// a parameter).
  void DeclaratorsAfter(std::size_t k, bool arrays_only) {
    for (std::size_t j = k + 1; j < c_.size(); ++j) {
      const Tok& tok = c_[j];
      if (Is(tok, ";") || Is(tok, "{") || Is(tok, ")") || (Is(tok, ",") && c_.CodeDepth(j) == 0)) return;
      if (Is(tok, "(") && c_.Match(j) != kNone) {  // __align__(16), alignas(16)
        j = c_.Match(j);
        continue;
      }
      if (!IsIdent(tok) || (j > 0 && Is(c_[j - 1], "::"))) continue;
      const Tok& next = c_[j + 1];
      const bool array = Is(next, "[");
      const bool pointer_param = !arrays_only && Is(c_[j - 1], "*") && (Is(next, ",") || Is(next, ")"));
      if (array || pointer_param) {
        AddBuffer(j, true);
        if (array) {
          while (Is(c_[j + 1], "[") && c_.Match(j + 1) != kNone) j = c_.Match(j + 1);
        }
      }
    }
  }

  void SyclAccessor(std::size_t k) {
    // local_accessor<T, D> NAME(...) or accessor<T, D, mode, target::local> NAME(...)
    int depth = 0;
    bool local = c_[k].text == "local_accessor";
    std::size_t j = k + 1;
    for (; j < c_.size() && j < k + 64; ++j) {
      if (Is(c_[j], "<")) ++depth;
      if (Is(c_[j], ">")) --depth;
      if (Is(c_[j], ">>")) depth -= 2;
      if (Is(c_[j], "local")) local = true;
      if (depth <= 0) break;
    }
    if (local && IsIdent(c_[j + 1])) AddBuffer(j + 1, true);
  }

  /// A small fixed-size array local to a function body: `float acc[4][4];`.
  void RegisterArray(std::size_t k) {
    static const Names kNotRegister = {"__shared__", "static", "const", "constexpr", "extern", "local", "__local",
                                       "__constant__", "constant", "__constant", "thread_local", "char",
                                       "bool", "__device__", "__global", "global", "return", "new", "delete",
                                       "sizeof", "case", "else", "typedef", "using", "operator", "struct", "class"};
    if (c_.CodeDepth(k) == 0 || k == 0) return;
    const std::size_t begin = c_.StatementBegin(k);
    if (begin >= k) return;
    // Only a type (with qualifiers and template arguments) may come before the name.
    bool has_type = false;
    for (std::size_t j = begin; j < k; ++j) {
      const Tok& tok = c_[j];
      if (IsIdent(tok)) {
        if (kNotRegister.count(tok.text) > 0) return;
        has_type = true;
        continue;
      }
      if (Is(tok, "::") || Is(tok, "<") || Is(tok, ">") || Is(tok, ",") || tok.kind == TokenKind::kNumber) continue;
      if (Is(tok, "(") && j > begin && (Is(c_[j - 1], "alignas") || Is(c_[j - 1], "__align__")) && c_.Match(j) != kNone) {
        j = c_.Match(j);
        continue;
      }
      return;
    }
    if (!has_type || !IsIdent(c_[k - 1])) return;
    // Known sizes must be small; `[]` is not a register array.
    long long elements = 1;
    for (std::size_t j = k + 1; Is(c_[j], "[") && c_.Match(j) != kNone; j = c_.Match(j) + 1) {
      const std::size_t close = c_.Match(j);
      if (close == j + 1) return;
      if (close == j + 2) {
        std::optional<long long> v;
        if (c_[j + 1].kind == TokenKind::kNumber) v = IntegerValue(c_[j + 1].text);
        if (IsIdent(c_[j + 1])) v = c_.Constant(c_[j + 1].text);
        if (v) elements *= std::max(*v, 1LL);
      }
    }
    if (elements > 64) return;
    AddBuffer(k, false);
  }

  void Barriers() {
    if (Cuda()) {
      for (std::size_t p : c_.Calls()) {
        const std::string_view n = c_[p].text;
        if (n == "__syncthreads" || n == "__syncthreads_count" || n == "__syncthreads_and" || n == "__syncthreads_or" ||
            n == "__syncwarp" || n == "__barrier_sync" || n == "__pipeline_wait_prior" ||
            n == "arrive_and_wait" || n == "consumer_wait" ||
            (n == "sync" && (c_.IsMemberCall(p) || c_.HasQualifier(p, "cg") ||
                             c_.HasQualifier(p, "cooperative_groups")))) {
          barriers_.push_back(p);
        }
      }
    } else if (Sycl()) {
      for (std::size_t p : c_.Calls()) {
        const std::string_view n = c_[p].text;
        if ((n == "barrier" && c_.IsMemberCall(p)) || n == "group_barrier") barriers_.push_back(p);
      }
    } else if (OpenCl()) {
      for (std::size_t p : c_.Calls()) {
        const std::string_view n = c_[p].text;
        if (n == "barrier" || n == "work_group_barrier" || n == "wait_group_events") barriers_.push_back(p);
      }
    }
    for (const AsmText& a : c_.Asm()) {
      if (a.text.find("bar.sync") != std::string::npos || a.text.find("barrier.sync") != std::string::npos ||
          a.text.find("cp.async.wait") != std::string::npos) {
        asm_barrier_line_ = a.line;
      }
    }
  }
  bool HasBarrier() const { return !barriers_.empty() || asm_barrier_line_ > 0; }
  int BarrierLine() const { return barriers_.empty() ? asm_barrier_line_ : c_[barriers_.front()].line; }
  std::string BarrierName() const { return barriers_.empty() ? "a barrier in asm" : Name(barriers_.front()); }

  std::string BufferKind(const Buffer& b) const {
    if (!b.on_chip) return "register array";
    if (Cuda()) return "__shared__";
    if (OpenCl()) return "local";
    return "local-memory";
  }

  // -- memory_opt --

  void Memory() {
    // Level 1: vectorized or read-only-path access.
    VectorAccess();
    if (std::size_t p = FirstCallWhere([&](std::size_t k) {
          const std::string_view n = c_[k].text;
          return (Cuda() && (n == "__ldg" || n == "__ldcg" || n == "__ldca" || n == "__ldcs" || n == "__ldlu" ||
                             n == "__ldcv" || n == "__stcg" || n == "__stcs" || n == "__stwt" || n == "__stwb")) ||
                 (OpenCl() && ((n.rfind("vload", 0) == 0 || n.rfind("vstore", 0) == 0) ||
                               n.rfind("intel_sub_group_block_", 0) == 0 || n == "prefetch")) ||
                 (Cpu() && (n.rfind("_mm_load", 0) == 0 || n.rfind("_mm_store", 0) == 0 ||
                            n.rfind("_mm_loadu", 0) == 0 || n == "__builtin_assume_aligned" ||
                            n == "assume_aligned")) ||
                 (Sycl() && (n == "load" || n == "store") && c_.IsMemberCall(k) && ArgumentCount(k) >= 2);
        });
        p != kNone) {
      Add(Axis::kMemory, 1, c_[p].line, Name(p) + (Sycl() ? " of a sycl::vec (vector access)" : " (vector / read-only access)"));
    }
    if (const AsmText* a = AsmWith({"ld.global.nc", "ld.global.v", "ld.global.L1::no_allocate"})) {
      Add(Axis::kMemory, 1, a->line, "vector / non-coherent global load in asm");
    }
    RestrictPointers();
    if (Cpu()) {
      for (const Pragma& p : c_.Pragmas()) {
        if ((p.words.count("omp") > 0 && (p.words.count("simd") > 0)) || p.words.count("ivdep") > 0 ||
            p.words.count("vectorize") > 0) {
          Add(Axis::kMemory, 1, p.line, "vectorization pragma");
        }
      }
    }

    // Level 2: on-chip tiling; CPU: cache blocking.
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      const Buffer& b = buffers_[i];
      const BufferUse& u = uses_[i];
      if (!b.on_chip || !u.written() || !u.read() || !HasBarrier()) continue;
      Add(Axis::kMemory, 2, c_[b.decl].line,
          BufferKind(b) + " " + std::string(b.name) + " written (line " + std::to_string(u.write_line) +
              ") and read (line " + std::to_string(u.read_line) + "), with " + BarrierName() + " (line " +
              std::to_string(BarrierLine()) + ")");
      if ((b.first_dim == 2 && u.variable_first_index) || u.toggled_first_index) {
        Add(Axis::kMemory, 3, c_[b.decl].line,
            "double buffering: " + std::string(b.name) + " alternates between two stages");
      }
    }
    if (Cpu()) CacheBlocking();

    // Level 3.
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      const Buffer& b = buffers_[i];
      const BufferUse& u = uses_[i];
      if (b.on_chip || !u.written() || !u.read()) continue;
      Add(Axis::kMemory, 3, c_[b.decl].line,
          "register blocking: " + std::string(b.name) + " (" + std::to_string(b.dims) +
              "-D register array) written and read");
    }
    if (std::size_t p = FirstCallWhere([&](std::size_t k) {
          const std::string_view n = c_[k].text;
          return n == "memcpy_async" || n == "__pipeline_memcpy_async" || n.find("cp_async_bulk") != std::string_view::npos ||
                 n == "async_work_group_copy" || n == "async_work_group_strided_copy";
        });
        p != kNone) {
      Add(Axis::kMemory, 3, c_[p].line, "asynchronous copy (" + Name(p) + ")");
    }
    if (const AsmText* a = AsmWith({"cp.async"})) Add(Axis::kMemory, 3, a->line, "asynchronous copy (cp.async in asm)");
    if (const AsmText* a = AsmWith({"ldmatrix"})) Add(Axis::kMemory, 3, a->line, "ldmatrix in asm (tensor-core operand load)");
    if (const std::size_t p = MatrixUnit(); p != kNone) {
      Add(Axis::kMemory, 3, c_[p].line, "tensor cores / matrix units (" + Name(p) + ")");
    }
    if (const AsmText* a = AsmWith({"mma.sync", "wgmma", "tcgen05.mma"})) {
      Add(Axis::kMemory, 3, a->line, "tensor cores (mma in asm)");
    }
    if (Cpu()) {
      if (std::size_t p = FirstCallWhere([&](std::size_t k) {
            const std::string_view n = c_[k].text;
            return n.rfind("_mm256_", 0) == 0 || n.rfind("_mm512_", 0) == 0 || n == "__builtin_prefetch" ||
                   n == "_mm_prefetch" || n.rfind("_tile_", 0) == 0;
          });
          p != kNone) {
        Add(Axis::kMemory, 3, c_[p].line, Name(p) + " (explicit AVX / prefetch / AMX)");
      }
    }
  }

  std::size_t ArgumentCount(std::size_t call) const {
    const std::size_t open = c_.CallOpen(call);
    if (open == kNone || c_.Match(open) == kNone) return 0;
    const std::size_t close = c_.Match(open);
    if (close == open + 1) return 0;
    std::size_t count = 1;
    for (std::size_t k = open + 1; k < close; ++k) {
      if ((Is(c_[k], "(") || Is(c_[k], "[") || Is(c_[k], "{")) && c_.Match(k) != kNone) {
        k = c_.Match(k);
      } else if (Is(c_[k], ",")) {
        ++count;
      }
    }
    return count;
  }

  static bool IsVectorType(std::string_view name) {
    static const Names k = {"float2",  "float3",  "float4",   "float8",  "float16",  "double2",  "double4",
                            "int2",    "int4",    "int8",     "uint2",   "uint4",    "half2",    "half4",
                            "half8",   "__half2", "__nv_bfloat162",       "char4",    "uchar4",   "short2",
                            "short4",  "ushort4", "longlong2", "ulonglong2", "long2", "ulong2", "vec"};
    return k.count(name) > 0;
  }

  /// Vector-typed pointers that are dereferenced: casts `*reinterpret_cast<float4*>(p)`,
  /// `((float4*)p)[i]`, and names declared `float4* v` (parameters included) then indexed.
  void VectorAccess() {
    Names vector_pointers;
    for (std::size_t k = 0; k < c_.size(); ++k) {
      if (!IsIdent(c_[k]) || !IsVectorType(c_[k].text)) continue;
      std::size_t j = k + 1;
      if (c_[k].text == "vec") {  // sycl::vec<float, 4>
        if (!Is(c_[j], "<")) continue;
        int depth = 0;
        for (; j < c_.size() && j < k + 32; ++j) {
          if (Is(c_[j], "<")) ++depth;
          if (Is(c_[j], ">") && --depth == 0) break;
        }
        ++j;
      }
      while (Is(c_[j], "const") || Is(c_[j], "volatile")) ++j;
      if (!Is(c_[j], "*")) continue;
      ++j;
      while (Is(c_[j], "const") || Is(c_[j], "__restrict__") || Is(c_[j], "restrict") || Is(c_[j], "__restrict")) ++j;
      if (IsIdent(c_[j]) && !Is(c_[j + 1], "(")) {
        vector_pointers.insert(c_[j].text);  // a declaration: float4* NAME
        continue;
      }
      // A cast: reinterpret_cast<const float4*>(p) or (const float4*)p.
      std::size_t cast_end = kNone;  // the cast expression's last token
      std::size_t cast_begin = kNone;
      if (Is(c_[j], ">") && Is(c_[j + 1], "(") && c_.Match(j + 1) != kNone) {
        cast_end = c_.Match(j + 1);
        std::size_t b = k;
        while (b > 0 && !Is(c_[b], "<")) --b;
        cast_begin = b > 0 ? b - 1 : 0;
      } else if (Is(c_[j], ")") && c_.Match(j) != kNone) {
        cast_begin = c_.Match(j);
        cast_end = j;  // the operand follows; a deref before or [ after the enclosing group counts
        const std::size_t outer = c_.Enclosing(cast_begin, "(");
        if (outer != kNone && c_.Match(outer) != kNone && Is(c_[c_.Match(outer) + 1], "[")) {
          Add(Axis::kMemory, 1, c_[k].line, std::string(c_[k].text) + " vector access through a cast");
          continue;
        }
      }
      if (cast_end == kNone) continue;
      const bool deref_before = cast_begin > 0 && Is(c_[cast_begin - 1], "*") &&
                                (cast_begin < 2 || !(IsIdent(c_[cast_begin - 2]) || Is(c_[cast_begin - 2], ")") ||
                                                     Is(c_[cast_begin - 2], "]") ||
                                                     c_[cast_begin - 2].kind == TokenKind::kNumber));
      const bool index_after = Is(c_[cast_end + 1], "[");
      if (deref_before || index_after) {
        Add(Axis::kMemory, 1, c_[k].line, std::string(c_[k].text) + " vector access through a cast");
        continue;
      }
      // float4* v = reinterpret_cast<float4*>(p);
      const std::size_t begin = c_.StatementBegin(k);
      for (std::size_t s = begin + 1; s < cast_begin; ++s) {
        if (Is(c_[s], "=") && IsIdent(c_[s - 1])) {
          vector_pointers.insert(c_[s - 1].text);
          break;
        }
      }
    }
    for (std::string_view name : vector_pointers) {
      for (std::size_t p : c_.Uses(name)) {
        const bool deref = p > 0 && Is(c_[p - 1], "*") &&
                           (p < 2 || !(IsIdent(c_[p - 2]) || Is(c_[p - 2], ")") || Is(c_[p - 2], "]") ||
                                       c_[p - 2].kind == TokenKind::kNumber));
        if (Is(c_[p + 1], "[") || deref) {
          Add(Axis::kMemory, 1, c_[p].line, "vector access through " + std::string(name));
          break;
        }
      }
    }
  }

  /// const T* __restrict__ (GPU: the read-only data path); CPU: any restrict pointer.
  void RestrictPointers() {
    for (std::string_view word : {"__restrict__", "__restrict", "restrict", "kernel_args_restrict"}) {
      for (std::size_t p : c_.Uses(word)) {
        if (word == "kernel_args_restrict") {
          Add(Axis::kMemory, 1, c_[p].line, "kernel_args_restrict (no aliasing: read-only loads)");
          break;
        }
        if (!Is(c_[p - 1], "*") && !Is(c_[p + 1], "*")) continue;
        bool is_const = Cpu();
        for (std::size_t k = p; k-- > 0;) {
          if (Is(c_[k], ",") || Is(c_[k], "(") || Is(c_[k], ";") || Is(c_[k], "{")) break;
          if (Is(c_[k], "const")) is_const = true;
        }
        if (is_const) {
          Add(Axis::kMemory, 1, c_[p].line, Cpu() ? "restrict pointer (no aliasing: vectorizable)"
                                                  : "const restrict pointer (read-only data path)");
          break;
        }
      }
    }
  }

  /// Loop tiling in two or more dimensions: a loop stepping by a block size whose body has a
  /// loop starting at its variable (`for (ii = 0; ii < n; ii += B) ... for (i = ii; ...)`),
  /// nested inside another such loop. One blocked dimension alone is strip-mining (chunks
  /// for threads or vectors), not cache blocking.
  void CacheBlocking() {
    std::vector<const Loop*> blocked;
    for (const Loop& outer : c_.Loops()) {
      const std::string_view var = LoopVariable(outer);
      if (var.empty() || !StepsByBlock(outer, var)) continue;
      for (const Loop& inner : c_.Loops()) {
        if (inner.keyword <= outer.body_begin || inner.keyword > outer.body_end) continue;
        const std::size_t init_eq = InitAssign(inner);
        if (init_eq != kNone && Is(c_[init_eq + 1], var)) {
          blocked.push_back(&outer);
          break;
        }
      }
    }
    for (const Loop* outer : blocked) {
      for (const Loop* inner : blocked) {
        if (inner->keyword > outer->body_begin && inner->keyword <= outer->body_end) {
          Add(Axis::kMemory, 2, c_[outer->keyword].line,
              "cache blocking: loops over " + std::string(LoopVariable(*outer)) + " and " +
                  std::string(LoopVariable(*inner)) + " step by blocks, inner loops start at them");
          return;
        }
      }
    }
  }

  /// The `=` of a for loop's init, or kNone.
  std::size_t InitAssign(const Loop& l) const {
    if (l.header_open == kNone || !Is(c_[l.keyword], "for")) return kNone;
    for (std::size_t k = l.header_open + 1; k < l.header_close; ++k) {
      if (Is(c_[k], ";")) return kNone;
      if (Is(c_[k], "=")) return k;
    }
    return kNone;
  }
  std::string_view LoopVariable(const Loop& l) const {
    const std::size_t eq = InitAssign(l);
    return eq != kNone && IsIdent(c_[eq - 1]) ? c_[eq - 1].text : std::string_view();
  }
  bool StepsByBlock(const Loop& l, std::string_view var) const {
    int semicolons = 0;
    for (std::size_t k = l.header_open + 1; k < l.header_close; ++k) {
      if (Is(c_[k], ";")) {
        ++semicolons;
        continue;
      }
      if (semicolons != 2 || !Is(c_[k], var) || !Is(c_[k + 1], "+=")) continue;
      const Tok& step = c_[k + 2];
      if (k + 3 != l.header_close) return false;
      if (step.kind == TokenKind::kNumber) return IntegerValue(step.text).value_or(1) > 1;
      return IsIdent(step);
    }
    return false;
  }

  /// Tensor cores / matrix units: wmma::mma_sync, joint_matrix_mad, AMX tile dot products.
  std::size_t MatrixUnit() const {
    return FirstCallWhere([&](std::size_t k) {
      const std::string_view n = c_[k].text;
      return n == "mma_sync" || n.rfind("__hmma_", 0) == 0 || n.rfind("__imma_", 0) == 0 || n == "joint_matrix_mad" ||
             (n.rfind("intel_sub_group_", 0) == 0 && n.find("matrix_mad") != std::string_view::npos) ||
             n.rfind("_tile_dp", 0) == 0;
    });
  }

  // -- compute_opt --

  void Compute() {
    // Level 1: FMA and fast math.
    if (std::size_t p = FirstCallWhere([&](std::size_t k) { return IsFastMath(k); }); p != kNone) {
      Add(Axis::kCompute, 1, c_[p].line, Name(p) + (IsFmaName(c_[p].text) ? " (fused multiply-add)" : " (fast math)"));
    }
    if (const AsmText* a = AsmWith({"fma.rn", ".approx"})) Add(Axis::kCompute, 1, a->line, "fma / approximate math in asm");
    static const Names kFastFlags = {"-use_fast_math", "--use_fast_math", "-ffast-math", "-cl-fast-relaxed-math",
                                     "-cl-mad-enable", "-cl-unsafe-math-optimizations", "-Ofast"};
    for (const auto& [text, line] : literals_) {
      bool options_only = true, fast = false;
      std::size_t words = 0;
      for (std::size_t b = 0; b < text.size();) {
        while (b < text.size() && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
        std::size_t e = b;
        while (e < text.size() && !std::isspace(static_cast<unsigned char>(text[e]))) ++e;
        if (e > b) {
          const std::string_view word(text.data() + b, e - b);
          ++words;
          if (word[0] != '-') options_only = false;
          if (kFastFlags.count(word) > 0) fast = true;
        }
        b = e;
      }
      if (fast && options_only && words > 0) Add(Axis::kCompute, 1, line, "fast-math build flag");
    }

    // Level 2: single-pass / online algorithms.
    const std::size_t rescale = OnlineRescale();
    if (rescale != kNone) {
      Add(Axis::kCompute, 2, c_[rescale].line, "online softmax: rescale by " + Name(rescale) + "(old max - new max)");
    }
    SinglePassStatistics();

    // Level 3: flash-style, matrix units, scans, register-tile micro-kernels.
    if (rescale != kNone) {
      std::vector<std::size_t> on_chip_reads;
      for (std::size_t i = 0; i < buffers_.size(); ++i) {
        if (buffers_[i].on_chip && uses_[i].written()) {
          on_chip_reads.insert(on_chip_reads.end(), uses_[i].reads.begin(), uses_[i].reads.end());
        }
      }
      if (c_.InLoopWith(rescale, on_chip_reads, barriers_)) {
        Add(Axis::kCompute, 3, c_[rescale].line, "flash-style: online softmax inside a loop over tiles staged in on-chip memory");
      }
    }
    if (const std::size_t p = MatrixUnit(); p != kNone) Add(Axis::kCompute, 3, c_[p].line, "matrix units (" + Name(p) + ")");
    if (const AsmText* a = AsmWith({"mma.sync", "wgmma", "tcgen05.mma"})) Add(Axis::kCompute, 3, a->line, "matrix units (mma in asm)");
    if (std::size_t p = FirstCallWhere([&](std::size_t k) { return IsScan(k); }); p != kNone) {
      Add(Axis::kCompute, 3, c_[p].line, "scan (" + Name(p) + ")");
    }
    if (const Pragma* p = PragmaWith({"omp", "scan"})) Add(Axis::kCompute, 3, p->line, "scan (omp scan)");
    if (const Pragma* p = PragmaWith({"omp", "inscan"})) Add(Axis::kCompute, 3, p->line, "scan (omp inscan reduction)");
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      if (!buffers_[i].on_chip && buffers_[i].dims >= 2 && uses_[i].mac_line > 0 && uses_[i].read()) {
        Add(Axis::kCompute, 3, uses_[i].mac_line,
            "register-tile micro-kernel: multiply-adds into " + std::string(buffers_[i].name) + " (2-D register tile)");
      }
    }
  }

  bool IsFastMath(std::size_t k) const {
    const std::string_view n = c_[k].text;
    if (Cuda()) {
      static const Names kCuda = {"__expf", "__exp10f", "__logf", "__log2f", "__log10f", "__sinf", "__cosf",
                                  "__sincosf", "__tanf", "__powf", "__fdividef", "__frcp_rn", "__frsqrt_rn",
                                  "rsqrtf", "__saturatef", "hexp", "h2exp", "hrsqrt", "h2rsqrt", "__tanhf"};
      return kCuda.count(n) > 0 || FmaCalls().count(n) > 0;
    }
    if (Sycl()) {
      return ((n == "fma" || n == "mad") && !c_.IsMemberCall(k)) || c_.HasQualifier(k, "native") ||
             c_.HasQualifier(k, "half_precision");
    }
    if (OpenCl()) {
      return n == "mad" || n == "fma" || n.rfind("native_", 0) == 0 || n.rfind("half_", 0) == 0;
    }
    return n == "fma" || n == "fmaf" || n == "__builtin_fma" || n == "__builtin_fmaf" ||
           n.find("fmadd") != std::string_view::npos || n.find("fmsub") != std::string_view::npos ||
           n.find("fnmadd") != std::string_view::npos;
  }

  bool IsScan(std::size_t k) const {
    const std::string_view n = c_[k].text;
    static const Names kScans = {"InclusiveSum",  "ExclusiveSum",  "InclusiveScan", "ExclusiveScan",
                                 "inclusive_scan", "exclusive_scan", "inclusive_scan_over_group",
                                 "exclusive_scan_over_group", "joint_inclusive_scan", "joint_exclusive_scan"};
    if (kScans.count(n) > 0) return true;
    if (Cuda() && n == "__shfl_up_sync") return true;
    if (OpenCl() && (n.rfind("work_group_scan_", 0) == 0 || n.rfind("sub_group_scan_", 0) == 0)) return true;
    return false;
  }

  /// The exp call of an online-softmax rescale: exp(A - B) where A and B are both running
  /// maxima. A running maximum is carried across iterations: it lies on a cycle of
  /// assignments (`m = fmaxf(m, x)`, or `m_new = fmaxf(m, x); ... m = m_new;`) that goes
  /// through a max call; a plain copy of one (`m_old = m;`) counts too. `exp(x - m)` of the
  /// straightforward softmax has only one.
  std::size_t OnlineRescale() const {
    static const Names kMax = {"fmaxf", "fmax", "max", "__hmax", "maximum"};
    static const Names kExp = {"expf", "__expf", "exp", "exp2f", "exp2", "__exp2f", "hexp", "native_exp", "native_exp2"};
    struct Edge {
      std::string_view to;
      bool through_max;
    };
    std::unordered_map<std::string_view, std::vector<Edge>> edges;  // assigned name -> names it came from
    for (std::size_t p : c_.Calls()) {
      if (kMax.count(c_[p].text) == 0) continue;
      const std::string_view target = AssignedName(p);
      const std::size_t open = c_.CallOpen(p);
      if (target.empty() || open == kNone || c_.Match(open) == kNone) continue;
      for (std::size_t k = open + 1; k < c_.Match(open); ++k) {
        if (IsIdent(c_[k]) && !c_.IsCall(k) && !Is(c_[k - 1], ".")) edges[target].push_back({c_[k].text, true});
      }
    }
    if (edges.empty()) return kNone;
    for (std::size_t k = 1; k + 2 < c_.size(); ++k) {  // copies: m = m_new; m_i[r] = m_new;
      if (Is(c_[k], "=") && IsIdent(c_[k + 1]) && Is(c_[k + 2], ";")) {
        const std::string_view target = AssignedName(k + 1);
        if (!target.empty()) edges[target].push_back({c_[k + 1].text, false});
      }
    }
    Names running;
    for (const auto& [start, out] : edges) {
      // Depth-first search for a path back to `start` that used a max edge.
      std::vector<std::pair<std::string_view, bool>> stack;
      std::unordered_set<std::string> visited;
      for (const Edge& e : out) stack.emplace_back(e.to, e.through_max);
      while (!stack.empty()) {
        const auto [name, used_max] = stack.back();
        stack.pop_back();
        if (name == start && used_max) {
          running.insert(start);
          break;
        }
        if (!visited.insert(std::string(name) + (used_max ? "+" : "-")).second) continue;
        const auto it = edges.find(name);
        if (it == edges.end()) continue;
        for (const Edge& e : it->second) stack.emplace_back(e.to, used_max || e.through_max);
      }
    }
    if (running.empty()) return kNone;
    Names derived = running;
    for (const auto& [target, out] : edges) {
      for (const Edge& e : out) {
        if (!e.through_max && running.count(e.to) > 0) derived.insert(target);
      }
    }
    for (std::size_t p : c_.Calls()) {
      if (kExp.count(c_[p].text) == 0) continue;
      const std::size_t open = c_.CallOpen(p);
      if (open == kNone || c_.Match(open) == kNone) continue;
      Names seen;
      bool minus = false;
      for (std::size_t k = open + 1; k < c_.Match(open); ++k) {
        if (Is(c_[k], "-")) minus = true;
        if (IsIdent(c_[k]) && derived.count(c_[k].text) > 0 && !Is(c_[k - 1], ".")) seen.insert(c_[k].text);
      }
      if (minus && seen.size() >= 2) return p;
    }
    return kNone;
  }

  /// The name the statement holding k assigns: `NAME = ...` or `NAME[...] = ...`.
  std::string_view AssignedName(std::size_t k) const {
    const std::size_t begin = c_.StatementBegin(k);
    for (std::size_t j = begin; j < k; ++j) {
      if (!Is(c_[j], "=")) continue;
      if (j == begin) return {};
      std::size_t n = j - 1;
      while (n > begin && Is(c_[n], "]") && c_.Match(n) != kNone) n = c_.Match(n) - 1;
      return IsIdent(c_[n]) ? c_[n].text : std::string_view();
    }
    return {};
  }

  /// Welford updates (mean += delta / n with delta = x - mean) and sum plus sum of squares
  /// accumulated in the same block.
  void SinglePassStatistics() {
    struct Accumulation {
      std::string_view target;
      std::string operand;  // the added expression's tokens
      std::size_t block;    // the enclosing `{`
      int line;
    };
    std::vector<Accumulation> sums, squares;
    for (std::size_t k = 1; k < c_.size(); ++k) {
      if (!Is(c_[k], "+=") || !IsIdent(c_[k - 1])) continue;
      const std::size_t end = c_.StatementEnd(k);
      const std::size_t block = c_.Enclosing(k, "{");
      std::vector<std::string_view> rhs;
      for (std::size_t j = k + 1; j < end; ++j) rhs.push_back(c_[j].text);
      std::string joined;
      for (std::string_view r : rhs) joined += std::string(r) + " ";
      // Welford: mean += delta / count, where delta = x - mean.
      if (rhs.size() == 3 && rhs[1] == "/" && WelfordDelta(rhs[0], c_[k - 1].text)) {
        Add(Axis::kCompute, 2, c_[k].line, "single pass: Welford update of " + Name(k - 1));
      }
      // q += v * v
      const std::size_t half = rhs.size() / 2;
      if (rhs.size() % 2 == 1 && rhs.size() >= 3 && rhs[half] == "*" &&
          std::equal(rhs.begin(), rhs.begin() + static_cast<std::ptrdiff_t>(half), rhs.begin() + static_cast<std::ptrdiff_t>(half) + 1)) {
        std::string operand;
        for (std::size_t j = 0; j < half; ++j) operand += std::string(rhs[j]) + " ";
        squares.push_back({c_[k - 1].text, operand, block, c_[k].line});
      } else {
        sums.push_back({c_[k - 1].text, joined, block, c_[k].line});
      }
    }
    for (const Accumulation& q : squares) {
      for (const Accumulation& s : sums) {
        if (s.block == q.block && s.operand == q.operand && s.target != q.target) {
          Add(Axis::kCompute, 2, std::min(s.line, q.line),
              "single pass: sum and sum of squares of the same value accumulated together");
        }
      }
    }
  }

  bool WelfordDelta(std::string_view delta, std::string_view mean) const {
    for (std::size_t p : c_.Uses(delta)) {
      if (!Is(c_[p + 1], "=")) continue;
      for (std::size_t k = p + 2; k + 1 < c_.StatementEnd(p); ++k) {
        if (Is(c_[k], "-") && Is(c_[k + 1], mean)) return true;
      }
    }
    return false;
  }

  // -- parallelism_opt --

  void Parallelism() {
    // Level 1: barriers.
    if (!barriers_.empty()) Add(Axis::kParallelism, 1, c_[barriers_.front()].line, Name(barriers_.front()) + " (barrier)");
    if (const AsmText* a = AsmWith({"bar.sync", "barrier.sync", "bar.arrive"})) {
      Add(Axis::kParallelism, 1, a->line, "barrier in asm");
    }
    if (OpenCl()) {
      if (std::size_t p = FirstCall({"sub_group_barrier"}); p != kNone) Add(Axis::kParallelism, 1, c_[p].line, "sub_group_barrier");
    }

    // Level 2: warp / sub-group collectives.
    std::size_t warp = kNone;          // first warp / sub-group collective
    std::size_t sub_group = kNone;     // SYCL / OpenCL: first collective over a sub-group
    std::size_t work_group = kNone;    // SYCL / OpenCL: first collective over a work-group
    for (std::size_t p : c_.Calls()) {
      const Collective kind = CollectiveAt(p);
      if (kind == Collective::kNone) continue;
      if (warp == kNone) warp = p;
      if (kind == Collective::kSubGroup && sub_group == kNone) sub_group = p;
      if (kind == Collective::kWorkGroup && work_group == kNone) work_group = p;
    }
    if (warp != kNone) Add(Axis::kParallelism, 2, c_[warp].line, Name(warp) + " (warp / sub-group collective)");
    if (const AsmText* a = AsmWith({"shfl.sync", "redux.sync", "vote.sync"})) {
      Add(Axis::kParallelism, 2, a->line, "warp collective in asm");
    }
    if (Cuda()) {
      if (std::size_t p = FirstUse("WarpReduce"); p != kNone) Add(Axis::kParallelism, 2, c_[p].line, "cub::WarpReduce");
    }

    // Level 3: hierarchies.
    const bool has_warp_level = warp != kNone || AsmWith({"shfl.sync", "redux.sync"}) != nullptr;
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      const BufferUse& u = uses_[i];
      if (buffers_[i].on_chip && has_warp_level && u.warp_indexed_write_line > 0 && u.read()) {
        Add(Axis::kParallelism, 3, u.warp_indexed_write_line,
            "multi-level reduction: per-warp (sub-group) results written to " + std::string(buffers_[i].name) +
                " at the warp index and combined across the block");
      }
    }
    if ((Sycl() || OpenCl()) && sub_group != kNone && work_group != kNone) {
      Add(Axis::kParallelism, 3, c_[std::max(sub_group, work_group)].line,
          "multi-level: sub-group collective (line " + std::to_string(c_[sub_group].line) +
              ") and work-group collective (line " + std::to_string(c_[work_group].line) + ")");
    }
    if (Cuda()) CudaHierarchy();
    if (Sycl()) {
      if (std::size_t p = FirstCall({"parallel_for_work_group"}); p != kNone) {
        Add(Axis::kParallelism, 3, c_[p].line, "hierarchical parallel_for_work_group");
      }
    }
    if (!warp_ids_.empty()) {
      const std::size_t mma = MatrixUnit();
      bool register_tile = false;
      for (std::size_t i = 0; i < buffers_.size(); ++i) {
        register_tile = register_tile || (!buffers_[i].on_chip && buffers_[i].dims >= 2 && uses_[i].mac_line > 0);
      }
      if (mma != kNone || register_tile) {
        Add(Axis::kParallelism, 3, warp_id_line_,
            std::string("warp tiling: a warp index selects each warp's ") +
                (mma != kNone ? "tensor-core tile" : "register tile"));
      }
    }
    if (Cpu()) CpuThreads();
  }

  enum class Collective { kNone, kWarp, kSubGroup, kWorkGroup };

  Collective CollectiveAt(std::size_t p) const {
    const std::string_view n = c_[p].text;
    if (Cuda()) {
      const bool shfl = n.rfind("__shfl", 0) == 0;
      const bool vote = n.rfind("__ballot", 0) == 0 || n == "__any_sync" || n == "__all_sync" || n == "__match_any_sync" ||
                        n == "__match_all_sync";
      const bool reduce = n.rfind("__reduce_", 0) == 0 && n.size() > 5 && n.substr(n.size() - 5) == "_sync";
      const bool tile_member = c_.IsMemberCall(p) && (n == "shfl" || n == "shfl_down" || n == "shfl_up" ||
                                                      n == "shfl_xor" || n == "ballot" || n == "any" || n == "all");
      return shfl || vote || reduce || tile_member ? Collective::kWarp : Collective::kNone;
    }
    if (Sycl()) {
      static const Names kGroupAlgorithms = {
          "reduce_over_group", "shift_group_left", "shift_group_right", "permute_group_by_xor", "select_from_group",
          "group_broadcast", "any_of_group", "all_of_group", "none_of_group", "joint_reduce",
          "inclusive_scan_over_group", "exclusive_scan_over_group"};
      if (c_.IsMemberCall(p) && (n == "shuffle" || n == "shuffle_down" || n == "shuffle_up" || n == "shuffle_xor")) {
        return Collective::kSubGroup;
      }
      if (kGroupAlgorithms.count(n) == 0) return Collective::kNone;
      // Over a sub-group when the first argument names one.
      const std::size_t open = c_.CallOpen(p);
      for (std::size_t k = open + 1; open != kNone && k < c_.size() && !Is(c_[k], ",") && !Is(c_[k], ")"); ++k) {
        if (Is(c_[k], "get_sub_group") || (IsIdent(c_[k]) && BufferAnalysis::IsSubGroupName(c_, c_[k].text))) {
          return Collective::kSubGroup;
        }
      }
      return Collective::kWorkGroup;
    }
    if (OpenCl()) {
      if (n == "sub_group_barrier") return Collective::kNone;
      if (n.rfind("sub_group_", 0) == 0 || n.rfind("intel_sub_group_shuffle", 0) == 0) return Collective::kSubGroup;
      if (n.rfind("work_group_", 0) == 0 && n != "work_group_barrier") return Collective::kWorkGroup;
    }
    return Collective::kNone;
  }

  void CudaHierarchy() {
    for (std::size_t p : c_.Uses("tiled_partition")) {
      if (!c_.IsCall(p)) continue;
      // Used: the partition is stored and the variable appears again.
      const std::size_t begin = c_.StatementBegin(p);
      for (std::size_t j = begin + 1; j < p; ++j) {
        if (Is(c_[j], "=") && IsIdent(c_[j - 1]) && c_.Uses(c_[j - 1].text).size() >= 2) {
          Add(Axis::kParallelism, 3, c_[p].line, "cooperative groups: tiled_partition into " + Name(j - 1));
          break;
        }
      }
    }
    if (std::size_t p = FirstCall({"this_grid"}); p != kNone && FirstCall({"sync"}) != kNone) {
      Add(Axis::kParallelism, 3, c_[p].line, "cooperative groups: grid-wide sync");
    }
    if (std::size_t p = FirstCall({"this_cluster"}); p != kNone) Add(Axis::kParallelism, 3, c_[p].line, "thread-block cluster");
    if (std::size_t p = FirstUse("__cluster_dims__"); p != kNone) Add(Axis::kParallelism, 3, c_[p].line, "thread-block cluster");
    if (const AsmText* a = AsmWith({"barrier.cluster"})) Add(Axis::kParallelism, 3, a->line, "cluster barrier in asm");
    for (std::string_view cub : {"BlockReduce", "BlockScan", "BlockRadixSort"}) {
      if (std::size_t p = FirstUse(cub); p != kNone && c_.HasQualifier(p, "cub")) {
        Add(Axis::kParallelism, 3, c_[p].line, "cub::" + std::string(cub) + " (warp and block levels)");
      }
    }
  }

  void CpuThreads() {
    const Pragma* threads = nullptr;
    for (const Pragma& p : c_.Pragmas()) {
      if (p.words.count("omp") > 0 && (p.words.count("parallel") > 0 || p.words.count("for") > 0)) {
        threads = &p;
        break;
      }
    }
    std::size_t par_policy = kNone;
    for (std::string_view policy : {"par", "par_unseq"}) {
      for (std::size_t p : c_.Uses(policy)) {
        if (c_.HasQualifier(p, "execution") && par_policy == kNone) par_policy = p;
      }
    }
    if (threads != nullptr) Add(Axis::kParallelism, 1, threads->line, "OpenMP threads");
    if (par_policy != kNone) Add(Axis::kParallelism, 1, c_[par_policy].line, "parallel execution policy");
    if (threads == nullptr && par_policy == kNone) return;
    // Level 2: threads and SIMD, or reductions.
    const Pragma* simd = PragmaWith({"omp", "simd"});
    const std::size_t intrinsic =
        FirstCallWhere([&](std::size_t k) { return c_[k].text.rfind("_mm", 0) == 0; });
    const Pragma* reduction = PragmaWith({"omp", "reduction"});
    if (simd != nullptr) Add(Axis::kParallelism, 2, simd->line, "threads with omp simd");
    if (intrinsic != kNone) Add(Axis::kParallelism, 2, c_[intrinsic].line, "threads with SIMD intrinsics");
    if (reduction != nullptr) Add(Axis::kParallelism, 2, reduction->line, "OpenMP reduction across threads");
    // Level 3.
    for (std::string_view word : {"task", "taskloop", "teams", "distribute"}) {
      if (const Pragma* p = PragmaWith({"omp", word})) Add(Axis::kParallelism, 3, p->line, "OpenMP " + std::string(word));
    }
    const Pragma* collapse = PragmaWith({"omp", "collapse"});
    if (collapse != nullptr && (simd != nullptr || intrinsic != kNone)) {
      Add(Axis::kParallelism, 3, collapse->line, "collapsed parallel loop nest with SIMD inside");
    }
    // Nested parallel regions: a parallel pragma inside the statement after another.
    for (const Pragma& outer : c_.Pragmas()) {
      if (outer.words.count("omp") == 0 || outer.words.count("parallel") == 0 || outer.end >= c_.size()) continue;
      std::size_t body_end = outer.end;
      while (body_end < c_.size() && c_[body_end].pragma) ++body_end;
      const Loop* loop = nullptr;
      for (const Loop& l : c_.Loops()) {
        if (l.keyword == body_end) loop = &l;
      }
      const std::size_t last = loop != nullptr ? loop->body_end
                               : Is(c_[body_end], "{") && c_.Match(body_end) != kNone ? c_.Match(body_end)
                                                                                       : body_end;
      for (const Pragma& inner : c_.Pragmas()) {
        if (inner.begin > outer.end && inner.begin <= last && inner.words.count("omp") > 0 &&
            inner.words.count("parallel") > 0) {
          Add(Axis::kParallelism, 3, inner.line, "nested parallel region");
        }
      }
    }
  }

  const Code& c_;
  const std::vector<std::pair<std::string, int>>& literals_;
  std::array<Best, 3> best_;
  Names warp_ids_;
  int warp_id_line_ = 0;
  std::vector<Buffer> buffers_;
  std::vector<BufferUse> uses_;
  std::vector<std::size_t> barriers_;
  int asm_barrier_line_ = 0;
};

bool HasCudaKernel(const std::vector<Token>& tokens) {
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    if (tokens[k].text == "__global__") return true;
    if (tokens[k].text == "<<" && k + 1 < tokens.size() && tokens[k + 1].text == "<") return true;
  }
  return false;
}

}  // namespace

std::string_view AxisName(Axis axis) {
  switch (axis) {
    case Axis::kMemory:
      return "memory_opt";
    case Axis::kCompute:
      return "compute_opt";
    case Axis::kParallelism:
      return "parallelism_opt";
  }
  KF_CHECK(false) << "bad Axis " << static_cast<int>(axis);
  return "";
}

const AxisLevel& CodeDescriptor::At(Axis axis) const {
  switch (axis) {
    case Axis::kMemory:
      return memory;
    case Axis::kCompute:
      return compute;
    case Axis::kParallelism:
      return parallelism;
  }
  KF_CHECK(false) << "bad Axis " << static_cast<int>(axis);
  return memory;
}

CodeDescriptor DescribeCode(std::string_view code, task::Backend backend) {
  // What to analyse: the file, or the native code in its strings (torch, OpenCL).
  EmbeddedCode embedded;
  std::vector<Token> raw;
  const std::vector<int>* line_map = nullptr;
  Vocabulary vocab = Vocabulary::kCpu;
  switch (backend) {
    case task::Backend::kTorch:
      embedded = ExtractEmbeddedCode(code, Language::kPython);
      raw = Tokenize(embedded.text, Language::kC);
      line_map = &embedded.line_map;
      vocab = HasCudaKernel(raw) ? Vocabulary::kCuda : Vocabulary::kCpu;
      break;
    case task::Backend::kOpenCl:
      embedded = ExtractEmbeddedCode(code, Language::kC);
      raw = Tokenize(embedded.text, Language::kC);
      line_map = &embedded.line_map;
      vocab = Vocabulary::kOpenCl;
      break;
    case task::Backend::kCuda:
      raw = Tokenize(code, Language::kC);
      vocab = Vocabulary::kCuda;
      break;
    case task::Backend::kSycl:
      raw = Tokenize(code, Language::kC);
      vocab = Vocabulary::kSycl;
      break;
    case task::Backend::kCpu:
      raw = Tokenize(code, Language::kC);
      vocab = Vocabulary::kCpu;
      break;
  }
  // Only code that can run: live #if groups, macros where used, functions something calls.
  Preprocessed pre = Preprocessor(raw, line_map).Run();
  std::vector<Token>().swap(raw);  // freed early, so later stages reuse its memory
  std::vector<Tok> expanded;
  if (pre.macros.empty()) {
    expanded = std::move(pre.tokens);
  } else {
    expanded.reserve(2 * pre.tokens.size() + 64);
    MacroExpander(pre.macros, 8 * pre.tokens.size() + 4096).Expand(pre.tokens, 0, 0, expanded);
    std::vector<Tok>().swap(pre.tokens);
  }
  // constexpr int N = 32; / const int N = 32;
  for (std::size_t k = 2; k + 2 < expanded.size(); ++k) {
    if (Is(expanded[k], "=") && IsIdent(expanded[k - 1]) && expanded[k + 1].kind == TokenKind::kNumber &&
        Is(expanded[k + 2], ";")) {
      bool constant = false;
      for (std::size_t j = k - 1; j-- > 0 && IsIdent(expanded[j]);) {
        constant = constant || expanded[j].text == "constexpr" || expanded[j].text == "const";
      }
      if (constant) {
        if (const std::optional<long long> v = IntegerValue(expanded[k + 1].text)) pre.constants[expanded[k - 1].text] = *v;
      }
    }
  }
  const Code analysed(RemoveDeadFunctions(std::move(expanded), vocab), vocab, std::move(pre.constants));
  return Describer(analysed, embedded.literals).Run();
}

}  // namespace kf::search
