#include "eval/static_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "prompt/prompt.h"
#include "tune/space.h"

namespace kf::eval {
namespace {

bool IsIdentChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;  // GCC accepts $ and UTF-8 in names
}
bool IsIdentStart(char c) { return IsIdentChar(c) && !std::isdigit(static_cast<unsigned char>(c)); }
bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

/// Consumes a directive introducer ('#' or its digraph "%:") and the blanks after it.
bool ConsumeHash(std::string_view& s) {
  s = TrimLeft(s);
  if (s.starts_with('#')) {
    s.remove_prefix(1);
  } else if (s.starts_with("%:")) {
    s.remove_prefix(2);
  } else {
    return false;
  }
  s = TrimLeft(s);
  return true;
}

/// Consumes an identifier equal to one of `words` (whole word only).
bool ConsumeWord(std::string_view& s, std::initializer_list<std::string_view> words) {
  std::size_t n = 0;
  while (n < s.size() && IsIdentChar(s[n])) ++n;
  for (std::string_view w : words) {
    if (s.substr(0, n) == w) {
      s = TrimLeft(s.substr(n));
      return true;
    }
  }
  return false;
}

/// Whether the line so far is exactly `#include` (or include_next, import): a header name
/// ("..." or <...>) follows.
bool IsIncludeIntroducer(std::string_view line_so_far) {
  std::string_view s = line_so_far;
  return ConsumeHash(s) && ConsumeWord(s, {"include", "include_next", "import"}) && TrimRight(s).empty();
}

/// A `_Pragma (` just before a string literal: its contents are a directive, not data.
bool IsPragmaOperator(std::string_view text_so_far) {
  std::string_view s = TrimRight(text_so_far);
  if (!s.ends_with('(')) return false;
  s = TrimRight(s.substr(0, s.size() - 1));
  constexpr std::string_view kOp = "_Pragma";
  return s.ends_with(kOp) && (s.size() == kOp.size() || !IsIdentChar(s[s.size() - kOp.size() - 1]));
}

// ---------------------------------------------------------------------------------------------
// Stripping. Works on the translation phases a compiler applies first: line splices (a
// backslash ending a line) join lines, so `std::thr\<newline>ead` is seen as std::thread;
// the newlines they remove are re-emitted at the end of the joined line, so every later line
// keeps its number.

class Stripper {
 public:
  explicit Stripper(std::string_view in) : in_(in) { out_.reserve(in.size()); }

  std::string Run() {
    std::size_t i = Skip(0);
    while (i < in_.size()) {
      char c = in_[i];
      std::size_t next = Skip(i + 1);
      char d = At(next);
      if (c == '/' && d == '/') {
        Blank(c);
        Blank(d);
        i = LineComment(Skip(next + 1));
      } else if (c == '/' && d == '*') {
        Blank(c);
        Blank(d);
        i = BlockComment(Skip(next + 1));
      } else if (c == '"') {
        i = StringLiteral(next);
      } else if (c == '\'' && !InNumber()) {
        Blank(c);
        i = CharLiteral(next);
      } else if (c == '<' && IsIncludeIntroducer(CurrentLine())) {  // a header name, not a comparison
        Emit(c);
        i = Verbatim(next, '>');
      } else {
        Emit(c);
        i = next;
      }
    }
    FlushSplicedNewlines();
    return std::move(out_);
  }

 private:
  char At(std::size_t pos) const { return pos < in_.size() ? in_[pos] : '\0'; }

  /// The first position at or after pos that is not a line splice (backslash, optional blanks
  /// as GCC allows, newline). Each splice is counted once: callers never skip a range twice.
  std::size_t Skip(std::size_t pos) {
    while (At(pos) == '\\') {
      std::size_t k = pos + 1;
      while (k < in_.size() && IsBlank(in_[k])) ++k;
      if (At(k) != '\n') break;
      pos = k + 1;
      ++spliced_newlines_;
    }
    return pos;
  }

  void Emit(char c) {
    out_ += c;
    if (c == '\n') {
      FlushSplicedNewlines();
      line_start_ = out_.size();
    }
  }
  void Blank(char c) { Emit(c == '\n' ? '\n' : ' '); }
  void FlushSplicedNewlines() {
    out_.append(spliced_newlines_, '\n');
    spliced_newlines_ = 0;
  }

  std::string_view CurrentLine() const { return std::string_view(out_).substr(line_start_); }

  /// Whether a ' continues a number (1'000'000, 0xFF'FF) rather than opening a char literal
  /// (u8'a', L'a' and plain 'a' follow identifiers or punctuation, never a pp-number).
  bool InNumber() const {
    std::size_t start = out_.size();
    while (start > 0 && (IsIdentChar(out_[start - 1]) || out_[start - 1] == '.' || out_[start - 1] == '\'')) --start;
    if (start == out_.size()) return false;
    char first = out_[start];
    if (std::isdigit(static_cast<unsigned char>(first))) return true;
    return first == '.' && start + 1 < out_.size() && std::isdigit(static_cast<unsigned char>(out_[start + 1]));
  }

  std::size_t LineComment(std::size_t i) {
    while (i < in_.size() && in_[i] != '\n') {
      Blank(in_[i]);
      i = Skip(i + 1);
    }
    return i;  // the newline itself is emitted by the main loop
  }

  std::size_t BlockComment(std::size_t i) {
    while (i < in_.size()) {
      std::size_t next = Skip(i + 1);
      if (in_[i] == '*' && At(next) == '/') {
        Blank('*');
        Blank('/');
        return Skip(next + 1);
      }
      Blank(in_[i]);
      i = next;
    }
    return i;
  }

  /// Copies a header name (or _Pragma text) unchanged up to `close`, which is emitted too.
  std::size_t Verbatim(std::size_t i, char close) {
    while (i < in_.size() && in_[i] != '\n') {
      char c = in_[i];
      Emit(c);
      i = Skip(i + 1);
      if (c == close) break;
    }
    return i;
  }

  /// i is just past the opening quote. The quotes stay, so `extern "C"` remains visible; the
  /// text of `#include "..."` and `_Pragma("...")` is a directive, not data, and stays too.
  std::size_t StringLiteral(std::size_t i) {
    bool raw = EncodingPrefix().ends_with('R');
    bool directive = IsIncludeIntroducer(CurrentLine()) || IsPragmaOperator(out_);
    Emit('"');
    if (raw) {
      if (auto end = RawString(i)) return *end;
    }
    return directive ? Verbatim(i, '"') : Quoted(i, '"', /*keep_close=*/true);
  }

  /// i is just past the opening quote (already blanked). Char literals vanish entirely.
  std::size_t CharLiteral(std::size_t i) { return Quoted(i, '\'', /*keep_close=*/false); }

  /// Blanks an ordinary literal's body up to the unescaped closing quote; an unterminated
  /// literal ends at the line's end, as the compiler's diagnostic does.
  std::size_t Quoted(std::size_t i, char quote, bool keep_close) {
    while (i < in_.size() && in_[i] != '\n') {
      char c = in_[i];
      std::size_t next = Skip(i + 1);
      if (c == quote) {
        Emit(keep_close ? quote : ' ');
        return next;
      }
      Blank(c);
      if (c == '\\' && next < in_.size() && in_[next] != '\n') {
        Blank(in_[next]);
        next = Skip(next + 1);
      }
      i = next;
    }
    return i;
  }

  /// The identifier characters just before the opening quote (already emitted), when they
  /// form an encoding prefix: R, LR, uR, UR, u8R mark raw strings.
  std::string_view EncodingPrefix() const {
    std::size_t start = out_.size();
    while (start > 0 && IsIdentChar(out_[start - 1])) --start;
    std::string_view p = std::string_view(out_).substr(start);
    for (std::string_view known : {"R", "LR", "uR", "UR", "u8R", "L", "u", "U", "u8"}) {
      if (p == known) return p;
    }
    return {};
  }

  /// R"delim( ... )delim": i is just past the quote. Splices are not applied inside a raw
  /// string (the standard reverts them), so this reads in_ directly. Returns the position after
  /// the closing quote, or nullopt when the delimiter is malformed (then it is an ordinary,
  /// ill-formed literal).
  std::optional<std::size_t> RawString(std::size_t i) {
    constexpr std::size_t kMaxDelimiter = 16;
    std::size_t open = i;
    while (open < in_.size() && open - i <= kMaxDelimiter && in_[open] != '(') {
      char c = in_[open];
      if (c == ' ' || c == ')' || c == '\\' || c == '\n' || c == '\t' || c == '"') return std::nullopt;
      ++open;
    }
    if (At(open) != '(' || open - i > kMaxDelimiter) return std::nullopt;
    std::string terminator = fmt::format("){}\"", in_.substr(i, open - i));
    std::size_t close = in_.find(terminator, open + 1);
    std::size_t end = close == std::string_view::npos ? in_.size() : close + terminator.size() - 1;
    for (std::size_t k = i; k < end; ++k) Blank(in_[k]);
    if (end < in_.size()) Emit('"');
    return end < in_.size() ? end + 1 : end;
  }

  std::string_view in_;
  std::string out_;
  std::size_t spliced_newlines_ = 0;
  std::size_t line_start_ = 0;  // in out_
};

// ---------------------------------------------------------------------------------------------
// Tokens of the stripped code. Only what the rules need: identifiers, pp-numbers (so digits
// inside 0x1e5f are not names), "::", "->" and the digraph "%:" (for '#'), and single
// punctuation characters.

struct Token {
  std::string_view text;
  int line = 0;
};

std::vector<Token> Tokenize(std::string_view s) {
  std::vector<Token> tokens;
  int line = 1;
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    std::size_t start = i;
    if (c == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (IsBlank(c)) {
      ++i;
      continue;
    }
    bool number = std::isdigit(static_cast<unsigned char>(c)) ||
                  (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])));
    if (number) {
      ++i;
      while (i < s.size()) {
        char d = s[i];
        bool sign = (d == '+' || d == '-') && std::string_view("eEpP").find(s[i - 1]) != std::string_view::npos;
        if (!IsIdentChar(d) && d != '.' && d != '\'' && !sign) break;
        ++i;
      }
    } else if (IsIdentStart(c)) {
      while (i < s.size() && IsIdentChar(s[i])) ++i;
    } else if (s.substr(i, 2) == "::" || s.substr(i, 2) == "->" || s.substr(i, 2) == "%:") {
      i += 2;
    } else {
      ++i;
    }
    tokens.push_back({s.substr(start, i - start), line});
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Rules. A vocabulary groups patterns under a rule name and one reason. Pattern forms:
//   "clock_gettime"   the name anywhere (taking its address is as bad as calling it)
//   "std::thread"     a qualified name, token by token (spaces and comments between allowed)
//   "time("           a free-function call: not a member call (x.time(), p->time()) and not
//                     qualified by a user namespace (Timer::time()); std:: and :: still count
//   "<chrono>"        an #include / #include_next / import of the header (any directory
//                     prefix: <sys/time.h> also matches "time.h")
//   "kf_*"            any identifier with this prefix

struct Vocabulary {
  std::string_view rule;
  std::string_view reason;
  std::vector<std::string_view> patterns;
};

/// Inline assembly: banned on the host; cuda candidates need inline PTX (mma, wgmma, cp.async),
/// so there only its text is checked (CheckCudaInlineAsm).
constexpr std::string_view kInlineAsmRule = "inline_asm";
constexpr std::string_view kEscapesTimingRule = "escapes_timing";
constexpr const char* kSyclEscapesTimingReason =
    "submit all work to the sycl::queue& you are given (by reference) and let the harness wait for it: create no "
    "queues, contexts or selectors, no host tasks or native interop, and read no event profiling";
constexpr std::string_view kClockReason = "kernels must not read clocks or timers: the harness does all timing";
constexpr std::string_view kThreadReason =
    "threads outside OpenMP can outlive the timed call; parallelize with '#pragma omp parallel for' inside the "
    "entry function instead";
constexpr std::string_view kProcessReason = "kernels must not create, signal or replace processes";
constexpr std::string_view kSystemReason =
    "kernels must not use inline assembly, system calls, dynamic loading, signals, memory mapping, the "
    "environment or file and descriptor I/O; compute on the buffers you are given";
constexpr std::string_view kHarnessReason =
    "this belongs to, or could replace, the harness (kf_/KF_ names, main, extern \"C\", constructors, weak or "
    "aliased symbols); define only the entry function and your own helpers";

/// What every host C++ translation unit is checked against (cpu, and the host side of cuda,
/// sycl and opencl candidates).
const std::vector<Vocabulary>& HostVocabulary() {
  static const std::vector<Vocabulary> kHost = {
      {"reads_clock",
       kClockReason,
       {"clock_gettime", "clock_getres", "gettimeofday", "timespec_get", "getrusage", "ftime", "times(", "time(",
        "clock(", "std::time", "std::clock", "chrono", "steady_clock", "system_clock", "high_resolution_clock",
        "rdtsc", "_rdtsc", "__rdtsc", "__rdtscp", "__builtin_ia32_rdtsc", "__builtin_ia32_rdtscp",
        "__builtin_readcyclecounter", "__rdpmc", "_rdpmc", "omp_get_wtime", "omp_get_wtick", "<chrono>", "<ctime>",
        "<time.h>", "<sys/time.h>", "<sys/times.h>"}},
      {"spawns_threads",
       kThreadReason,
       {"std::thread", "jthread", "std::async", "pthread_create", "__gthread_create", "thrd_create", "<thread>",
        "<future>", "<pthread.h>", "<threads.h>"}},
      {"spawns_processes",
       kProcessReason,
       {"fork(", "vfork", "clone(", "__clone", "clone3", "posix_spawn", "posix_spawnp", "execl", "execlp", "execle",
        "execv", "execvp", "execvpe", "execve", "fexecve", "system(", "std::system", "popen", "daemon(", "setsid",
        "setpgid", "setpgrp", "kill(", "killpg", "tgkill", "raise(", "std::raise", "<spawn.h>"}},
      {"raw_system_access",
       kSystemReason,
       {"syscall", "dlopen", "dlmopen", "dlsym", "dlvsym", "ptrace", "prctl", "setrlimit",
        "prlimit", "signal(", "std::signal", "sigaction", "mprotect", "mmap", "mmap64", "munmap", "mremap", "open(",
        "open64", "openat", "fopen", "freopen", "fdopen", "creat(", "write(", "read(", "pwrite", "pwrite64", "pread",
        "pread64", "dup(", "dup2", "dup3", "fcntl", "ioctl", "socket(", "unlink", "unlinkat", "tmpfile", "mkstemp",
        "ifstream", "ofstream", "fstream", "filebuf", "filesystem", "<fstream>", "<filesystem>", "<unistd.h>",
        "<fcntl.h>", "<sys/syscall.h>", "<dlfcn.h>", "<sys/mman.h>", "<csignal>", "<signal.h>", "<sys/ioctl.h>",
        "<sys/resource.h>", "<sys/prctl.h>", "<sys/ptrace.h>", "<sys/socket.h>", "dprintf", "vdprintf", "writev",
        "readv", "pwritev", "pwritev2", "preadv", "send(", "sendto", "sendmsg", "sendfile", "splice", "vmsplice",
        "tee(", "copy_file_range", "process_vm_writev", "process_vm_readv", "getenv", "secure_getenv", "environ",
        "__environ", "setenv", "unsetenv", "putenv", "clearenv", "__libc_*", "<sys/uio.h>", "<sys/sendfile.h>"}},
      {"harness_symbol", kHarnessReason, {"kf_*", "KF_*", "kf::"}},
      {kInlineAsmRule, kSystemReason, {"asm", "__asm", "__asm__"}},
  };
  return kHost;
}

/// Extra vocabulary per backend, added to the host table.
const std::vector<Vocabulary>& BackendVocabulary(task::Backend backend) {
  static const std::vector<Vocabulary> kNone;
  static const std::vector<Vocabulary> kCuda = {
      {"escapes_timing",
       "all device work must run on the default stream inside the entry call; create no streams, graphs or "
       "events, do not change device state, and leave synchronization to the harness",
       {"cudaStreamCreate", "cudaStreamCreateWithFlags", "cudaStreamCreateWithPriority", "cudaStreamPerThread",
        "cudaStreamNonBlocking", "cudaGraphCreate", "cudaGraphLaunch", "cudaGraphInstantiate", "cudaStreamBeginCapture",
        "cudaEventCreate", "cudaEventCreateWithFlags", "cudaEventRecord", "cudaEventElapsedTime", "cudaLaunchHostFunc",
        "cudaStreamAddCallback", "cudaDeviceReset", "cudaSetDevice", "cudaDeviceSetLimit", "cudaDeviceSetCacheConfig",
        "cudaSetDeviceFlags", "cudaCtxResetPersistingL2Cache", "cudaProfilerStart", "cudaProfilerStop", "cuCtx*",
        "cuStream*", "cuGraph*", "cuEvent*", "cuLaunchHostFunc", "cuInit", "cuDevicePrimaryCtx*", "clock64",
        "__globaltimer", "globaltimer", "cudaMallocManaged", "cudaMallocHost",
        "cudaHostAlloc", "cudaHostRegister", "cudaIpc*", "<cuda_profiler_api.h>"}},
      {"library_fallback",
       "the kernel must be your own code: vendor libraries (cuBLAS, cuDNN, cuFFT, CUTLASS, Thrust, CUB device-wide "
       "algorithms) are not allowed unless the task's instructions say so",
       {"cublas*", "cublasLt*", "cudnn*", "cufft*", "cusparse*", "curand*", "cusolver*", "<cublas_v2.h>",
        "<cublasLt.h>", "<cudnn.h>", "<cufft.h>", "<cusparse.h>", "<cusolverDn.h>", "thrust::", "cutlass::",
        "DeviceReduce", "DeviceScan", "DeviceRadixSort", "DeviceSegmentedReduce", "DeviceSelect", "DeviceHistogram"}},
  };
  static const std::vector<Vocabulary> kOpenCl = {
      {"escapes_timing",
       "enqueue all work on the queue you are given and let the harness wait for it: create no contexts or queues, "
       "no user events or callbacks, and do not finish or wait on the queue yourself",
       {"clCreateCommandQueue*", "clCreateContext*", "clReleaseCommandQueue", "clRetainCommandQueue",
        "clReleaseContext", "clRetainContext", "clSetEventCallback", "clEnqueueNativeKernel", "clCreateUserEvent",
        "clGetEventProfilingInfo", "clEnqueueMarker*", "clEnqueueBarrier*", "clFinish", "clWaitForEvents",
        "clSetCommandQueueProperty"}},
  };
  // Queues the candidate declares itself are caught by CheckSyclQueues (not a single name).
  static const std::vector<Vocabulary> kSycl = {
      {"escapes_timing", kSyclEscapesTimingReason,
       {"default_selector*", "gpu_selector*", "cpu_selector*", "accelerator_selector*", "aspect_selector",
        "device_selector", "get_platforms", "get_devices", "make_queue", "make_context", "make_device", "host_task",
        "get_native*", "interop_handle", "ext_codeplay_enqueue_native_command", "ext_oneapi_enqueue_native_command",
        "AdaptiveCpp_enqueue_custom_operation", "hipSYCL_enqueue_custom_operation", "get_profiling_info",
        "sycl::context", "sycl::platform"}},
      {"library_fallback",
       "the kernel must be your own code: vendor libraries (oneMKL, oneDPL, oneDNN, cuBLAS) are not allowed unless "
       "the task's instructions say so",
       {"oneapi::mkl", "oneapi::dpl", "oneapi::dnnl", "dnnl::", "<oneapi/mkl.hpp>", "<oneapi/dpl/*>",
        "<oneapi/dnnl/*>", "cublas*", "<cublas_v2.h>"}},
  };
  switch (backend) {
    case task::Backend::kCuda: return kCuda;
    case task::Backend::kOpenCl: return kOpenCl;
    case task::Backend::kSycl: return kSycl;
    case task::Backend::kCpu:
    case task::Backend::kTorch: return kNone;
  }
  return kNone;
}

/// Attribute arguments that run code before main, or replace or redirect symbols.
const std::set<std::string_view, std::less<>>& BannedAttributes() {
  static const std::set<std::string_view, std::less<>> kBanned = {
      "constructor", "destructor", "init_priority", "weak", "weakref", "alias", "ifunc", "section", "symver"};
  return kBanned;
}

enum class Form { kName, kCall, kInclude, kPrefix };

struct Pattern {
  Form form = Form::kName;
  std::vector<std::string> tokens;  // kName, kCall: the name's tokens; kPrefix: the prefix
  std::string header;               // kInclude
  std::string excerpt;              // shown in findings
  const Vocabulary* vocabulary = nullptr;
};

Pattern ParsePattern(std::string_view text, const Vocabulary& vocabulary) {
  Pattern p;
  p.vocabulary = &vocabulary;
  p.excerpt = std::string(text);
  if (text.starts_with('<')) {
    KF_CHECK(text.ends_with('>')) << "bad include pattern " << text;
    p.form = Form::kInclude;
    p.header = std::string(text.substr(1, text.size() - 2));
    p.excerpt = fmt::format("#include {}", text);
    return p;
  }
  if (text.ends_with('*')) {
    p.form = Form::kPrefix;
    p.tokens = {std::string(text.substr(0, text.size() - 1))};
    return p;
  }
  if (text.ends_with('(')) {
    p.form = Form::kCall;
    text.remove_suffix(1);
  }
  for (const Token& t : Tokenize(text)) p.tokens.emplace_back(t.text);
  KF_CHECK(!p.tokens.empty()) << "empty pattern";
  return p;
}

std::vector<Pattern> PatternsFor(task::Backend backend) {
  std::vector<Pattern> patterns;
  for (const auto* table : {&HostVocabulary(), &BackendVocabulary(backend)}) {
    for (const Vocabulary& v : *table) {
      if (backend == task::Backend::kCuda && v.rule == kInlineAsmRule) continue;
      for (std::string_view text : v.patterns) patterns.push_back(ParsePattern(text, v));
    }
  }
  return patterns;
}

/// Compiled once per backend; read-only afterwards, so CheckStatic is thread-safe.
const std::vector<Pattern>& Patterns(task::Backend backend) {
  static const std::map<task::Backend, std::vector<Pattern>> kAll = [] {
    std::map<task::Backend, std::vector<Pattern>> all;
    for (auto b : {task::Backend::kCpu, task::Backend::kCuda, task::Backend::kSycl, task::Backend::kOpenCl,
                   task::Backend::kTorch}) {
      all[b] = PatternsFor(b);
    }
    return all;
  }();
  return kAll.at(backend);
}

/// Findings in source order, at most one per (rule, line) and per (rule, excerpt): a kernel
/// that calls std::thread ten times needs to hear it once.
class Findings {
 public:
  void Add(std::string_view rule, int line, std::string excerpt, std::string reason) {
    std::pair<std::string, int> line_key(rule, line);
    std::pair<std::string, std::string> excerpt_key(rule, excerpt);
    if (by_line_.contains(line_key) || by_excerpt_.contains(excerpt_key)) return;
    by_line_.insert(std::move(line_key));
    by_excerpt_.insert(std::move(excerpt_key));
    list_.push_back({std::string(rule), line, std::move(excerpt), std::move(reason)});
  }
  void Add(const Pattern& p, int line) {
    Add(p.vocabulary->rule, line, p.excerpt, fmt::format("'{}' is not allowed: {}", p.excerpt, p.vocabulary->reason));
  }
  std::vector<StaticFinding> Sorted() && {
    std::stable_sort(list_.begin(), list_.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
    return std::move(list_);
  }

 private:
  std::set<std::pair<std::string, int>> by_line_;
  std::set<std::pair<std::string, std::string>> by_excerpt_;
  std::vector<StaticFinding> list_;
};

struct IncludeLine {
  std::string header;     // blanks removed
  bool computed = false;  // `#include MACRO`
  std::string excerpt;
};

/// The header an #include / #include_next / #import / import line names.
std::optional<IncludeLine> ParseInclude(std::string_view line) {
  std::string_view s = TrimLeft(line);
  bool directive = ConsumeHash(s);
  if (!directive) ConsumeWord(s, {"export"});  // `export import <x>;` re-exports a header unit
  bool names_header = directive ? ConsumeWord(s, {"include", "include_next", "import"}) : ConsumeWord(s, {"import"});
  if (!names_header) return std::nullopt;
  IncludeLine inc;
  inc.excerpt = std::string(TrimRight(TrimLeft(line)));
  if (s.empty() || (s.front() != '<' && s.front() != '"')) {
    // `#include MACRO` hides the header; `import name;` is a module, not a header.
    if (!directive) return std::nullopt;
    inc.computed = true;
    return inc;
  }
  char close = s.front() == '<' ? '>' : '"';
  std::size_t end = s.find(close, 1);
  for (char c : s.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1)) {
    if (!IsBlank(c)) inc.header += c;
  }
  return inc;
}

bool HeaderMatches(std::string_view header, std::string_view banned) {
  return header == banned || (header.size() > banned.size() && header.ends_with(banned) &&
                              header[header.size() - banned.size() - 1] == '/');
}

void CheckIncludes(std::string_view stripped, const std::vector<Pattern>& patterns, Findings& findings) {
  int line_no = 0;
  std::size_t pos = 0;
  while (pos <= stripped.size()) {
    std::size_t nl = stripped.find('\n', pos);
    std::string_view line = stripped.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++line_no;
    if (auto inc = ParseInclude(line)) {
      if (inc->computed) {
        findings.Add("raw_system_access", line_no, inc->excerpt,
                     "a computed #include hides which header it pulls in; name the header directly");
      }
      for (const Pattern& p : patterns) {
        if (p.form == Form::kInclude && HeaderMatches(inc->header, p.header)) findings.Add(p, line_no);
      }
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
}

bool TokensAt(const std::vector<Token>& tokens, std::size_t i, const std::vector<std::string>& want) {
  if (i + want.size() > tokens.size()) return false;
  for (std::size_t k = 0; k < want.size(); ++k) {
    if (tokens[i + k].text != want[k]) return false;
  }
  return true;
}

bool Is(const std::vector<Token>& tokens, std::size_t i, std::string_view text) {
  return i < tokens.size() && tokens[i].text == text;
}

/// Keywords after which `name(` is still an expression (a call), not a declaration.
bool IsExpressionKeyword(std::string_view t) {
  static const std::set<std::string_view, std::less<>> kKeywords = {
      "return", "co_return", "co_yield", "co_await", "throw",  "else",   "do",     "case",  "sizeof",
      "and",    "or",        "not",      "xor",      "bitand", "bitor",  "compl",  "not_eq"};
  return kKeywords.contains(t);
}

/// A call of a free function: "name(" not after '.', '->' or a user qualifier (Timer::name),
/// and not a declaration of the candidate's own function or variable (`float time(...)`,
/// `Foo clone(3)`): those name something else. "std::name(" and "::name(" are the library's.
bool IsFreeCall(const std::vector<Token>& tokens, std::size_t i) {
  if (!Is(tokens, i + 1, "(")) return false;
  if (i == 0) return true;
  std::string_view before = tokens[i - 1].text;
  if (before == "." || before == "->") return false;
  if (before == "::") return i < 2 || tokens[i - 2].text == "std" || !IsIdentStart(tokens[i - 2].text.front());
  return !IsIdentStart(before.front()) || IsExpressionKeyword(before);
}

void CheckNames(const std::vector<Token>& tokens, const std::vector<Pattern>& patterns, Findings& findings) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    for (const Pattern& p : patterns) {
      switch (p.form) {
        case Form::kName:
          if (TokensAt(tokens, i, p.tokens)) findings.Add(p, tokens[i].line);
          break;
        case Form::kCall:
          if (TokensAt(tokens, i, p.tokens) && IsFreeCall(tokens, i)) findings.Add(p, tokens[i].line);
          break;
        case Form::kPrefix:
          if (tokens[i].text.starts_with(p.tokens.front())) findings.Add(p, tokens[i].line);
          break;
        case Form::kInclude: break;
      }
    }
  }
}

/// Index just past the bracket matching the one at `open` (or tokens.size()).
std::size_t MatchingClose(const std::vector<Token>& tokens, std::size_t open, std::string_view l, std::string_view r) {
  int depth = 0;
  for (std::size_t i = open; i < tokens.size(); ++i) {
    if (tokens[i].text == l) ++depth;
    if (tokens[i].text == r && --depth == 0) return i + 1;
  }
  return tokens.size();
}

std::string_view StripUnderscores(std::string_view name) {
  if (name.size() > 4 && name.starts_with("__") && name.ends_with("__")) return name.substr(2, name.size() - 4);
  return name;
}

/// The symbol-level tricks that are not single names: main, extern "C", constructor and weak
/// attributes in any spelling, #pragma weak and _Pragma("weak ...").
void CheckHarnessTricks(const std::vector<Token>& tokens, Findings& findings) {
  auto add = [&](int line, std::string excerpt) {
    std::string reason = fmt::format("'{}' is not allowed: {}", excerpt, kHarnessReason);
    findings.Add("harness_symbol", line, std::move(excerpt), std::move(reason));
  };
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string_view t = tokens[i].text;
    int line = tokens[i].line;
    if (t == "main" && Is(tokens, i + 1, "(") &&
        (i == 0 || (tokens[i - 1].text != "." && tokens[i - 1].text != "->" && tokens[i - 1].text != "::"))) {
      add(line, "main(");
    } else if (t == "extern" && Is(tokens, i + 1, "\"")) {
      add(line, "extern \"...\"");
    } else if ((t == "pragma" && i > 0 && (tokens[i - 1].text == "#" || tokens[i - 1].text == "%:")) ||
               (t == "_Pragma" && Is(tokens, i + 1, "(") && Is(tokens, i + 2, "\""))) {
      std::size_t word = t == "pragma" ? i + 1 : i + 3;
      if (Is(tokens, word, "weak") || Is(tokens, word, "redefine_extname")) {
        add(line, fmt::format("{} {}", t, tokens[word].text));
      }
    } else {
      std::size_t end = 0;
      if ((t == "__attribute__" || t == "__attribute" || t == "__declspec") && Is(tokens, i + 1, "(")) {
        end = MatchingClose(tokens, i + 1, "(", ")");
      } else if (t == "[" && Is(tokens, i + 1, "[")) {
        end = MatchingClose(tokens, i, "[", "]");
      }
      for (std::size_t k = i + 1; k < end; ++k) {
        if (BannedAttributes().contains(StripUnderscores(tokens[k].text))) {
          add(tokens[k].line, fmt::format("attribute {}", tokens[k].text));
        }
      }
    }
  }
}

}  // namespace

std::string StripCommentsAndStrings(std::string_view code) { return Stripper(code).Run(); }

/// `a##b` can assemble any banned name out of harmless pieces, so pasting is not allowed.
void CheckTokenPasting(std::string_view stripped, Findings& findings) {
  int line = 1;
  for (std::size_t i = 0; i + 1 < stripped.size(); ++i) {
    if (stripped[i] == '\n') ++line;
    if (stripped[i] == '#' && stripped[i + 1] == '#') {
      findings.Add("token_pasting", line, "##",
                   "token pasting (##) can build names the checks would reject; write identifiers out in full");
      return;
    }
  }
}

/// Inline PTX is allowed in cuda candidates, but not instructions that reach the system or the
/// clocks. The asm text lives in string literals, which the stripped code blanks, so this looks
/// at the raw source once the code uses asm at all (a comment naming them trips it too).
void CheckCudaInlineAsm(std::string_view code, const std::vector<Token>& tokens, Findings& findings) {
  bool uses_asm = std::any_of(tokens.begin(), tokens.end(), [](const Token& t) {
    return t.text == "asm" || t.text == "__asm" || t.text == "__asm__";
  });
  if (!uses_asm) return;
  static const std::vector<std::string_view> kBanned = {"syscall", "sysenter", "int $0x80", "int 0x80", "rdtsc",
                                                         "%clock", "%globaltimer", "globaltimer", "rdpmc"};
  for (std::string_view bad : kBanned) {
    std::size_t at = code.find(bad);
    if (at == std::string_view::npos) continue;
    int line = 1 + static_cast<int>(std::count(code.begin(), code.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    findings.Add(std::string(kInlineAsmRule), line, std::string(bad),
                 fmt::format("inline assembly may not use '{}': no system calls or clock reads; PTX for the "
                             "computation itself (mma, wgmma, cp.async, ldmatrix) is fine", bad));
  }
}

/// sycl: the only queue is the one the entry receives. A `sycl::queue` that is declared or
/// constructed rather than named by reference or pointer (or, under `using namespace sycl`, a
/// bare `queue` followed by a name or an initializer) is a second queue whose work the harness
/// would neither wait for nor time. `std::queue` and members named queue are not queues.
void CheckSyclQueues(const std::vector<Token>& tokens, Findings& findings) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].text != "queue") continue;
    const bool qualified = Is(tokens, i - 1, "::") && i >= 2;
    if (qualified && tokens[i - 2].text != "sycl") continue;
    if (!qualified && i > 0 && (Is(tokens, i - 1, ".") || Is(tokens, i - 1, "->") || Is(tokens, i - 1, "::"))) continue;
    const std::string_view next = i + 1 < tokens.size() ? tokens[i + 1].text : std::string_view();
    const bool by_reference = !next.empty() && (next.front() == '&' || next.front() == '*');
    const bool makes_one = qualified ? !by_reference
                                     : !next.empty() && (IsIdentStart(next.front()) || next == "{" || next == "(");
    if (makes_one) {
      findings.Add(kEscapesTimingRule, tokens[i].line, qualified ? "sycl::queue" : "queue", kSyclEscapesTimingReason);
    }
  }
}

std::vector<StaticFinding> CheckStatic(const task::Task& task, std::string_view code, std::string_view frozen_template) {
  Findings findings;
  if (!frozen_template.empty() && prompt::HasEvolveBlocks(frozen_template)) {
    // A tuned configuration turns the template's `// @param` lines into `#define`s of declared
    // values; compared as declarations, those lines are unchanged.
    if (auto kept = prompt::CheckEvolveBlocks(frozen_template, tune::Uninstantiate(code)); !kept.ok()) {
      findings.Add("evolve_blocks", 0, "", kept.error().message + "; change only the code between the EVOLVE-BLOCK markers");
    }
  }
  // Torch candidates are Python: the C++ vocabulary below does not apply to them.
  if (task.backend == task::Backend::kTorch) return std::move(findings).Sorted();

  std::string stripped = StripCommentsAndStrings(code);
  std::vector<Token> tokens = Tokenize(stripped);
  const std::vector<Pattern>& patterns = Patterns(task.backend);
  CheckIncludes(stripped, patterns, findings);
  CheckNames(tokens, patterns, findings);
  CheckHarnessTricks(tokens, findings);
  CheckTokenPasting(stripped, findings);
  if (task.backend == task::Backend::kCuda) CheckCudaInlineAsm(code, tokens, findings);
  if (task.backend == task::Backend::kSycl) CheckSyclQueues(tokens, findings);

  if (!task.entry.empty()) {
    std::string reference = task.entry + "_reference";
    bool has_entry = false;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i].text == reference) {
        findings.Add("calls_reference", tokens[i].line, reference,
                     fmt::format("'{}' is the task's reference, run separately by the harness; compute the result "
                                 "in '{}' yourself",
                                 reference, task.entry));
      }
      has_entry = has_entry || (tokens[i].text == task.entry && Is(tokens, i + 1, "("));
    }
    if (!has_entry) {
      findings.Add("missing_entry", 0, task.entry,
                   fmt::format("the code never names the entry function '{}'; define {}", task.entry,
                               task::EntrySignature(task, task.entry)));
    }
  }
  return std::move(findings).Sorted();
}

}  // namespace kf::eval
