// task/task.h — task packages: what to compute, the reference, the shapes that matter.
//
// A task package is a folder with task.yaml, a reference and optional seeds (DESIGN.md).
// LoadTask parses and validates it completely: every problem is reported at once, each with
// "task.yaml:LINE:COL: message", and unknown keys are errors. A loaded Task is immutable and
// safe to share between threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace kf::task {

enum class Backend { kCpu, kCuda, kSycl, kOpenCl, kTorch };
enum class DType { kF32, kF64, kF16, kBF16, kI8, kI32, kI64, kU8 };
enum class ArgRole { kInput, kOutput, kScalar };
enum class Dist { kNormal, kUniform, kIntegers, kConstant };

std::string_view BackendName(Backend b);   // "cpu", "cuda", ...
std::string_view CandidateExtension(Backend b);  // a candidate file's: ".py" (torch), ".cu" (cuda), ".cpp"
std::string_view DTypeName(DType t);       // "f32", ...
std::string_view DTypeCType(DType t);      // "float", "double", "uint16_t" (f16, bf16), "int32_t", ...
std::size_t DTypeSize(DType t);
bool DTypeIsFloat(DType t);                // f32, f64, f16, bf16
std::string_view RoleName(ArgRole r);      // "input", "output", "scalar"
/// A name C and C++ accept as an identifier, and whether it is a C++ keyword (neither may name
/// an argument; tune/space.h refuses keywords as parameter names too).
bool IsCIdentifier(std::string_view s);
bool IsCppKeyword(std::string_view s);

/// A position in a task file, for error messages.
struct SourceLoc {
  std::string file;  // relative to the task dir, e.g. "task.yaml"
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;
};

struct InitSpec {
  Dist dist = Dist::kNormal;
  double mean = 0.0, stddev = 1.0;  // normal
  double low = 0.0, high = 1.0;     // uniform [low, high); integers [low, high] inclusive
  double value = 0.0;               // constant
};

struct ArgSpec {
  std::string name;
  ArgRole role = ArgRole::kInput;
  DType dtype = DType::kF32;
  /// Dimension expressions over scalar args (e.g. "rows", "cols*2", "(n+1)/2"); empty for scalars.
  std::vector<std::string> shape;
  InitSpec init;                         // inputs only
  std::optional<double> default_value;   // scalars: used when a shape does not set it
  SourceLoc loc;
};

/// One concrete problem size: a value for every scalar arg.
struct Shape {
  std::map<std::string, double> scalars;
  SourceLoc loc;
  /// "rows=4096,cols=1024", in argument order; stable, used in reports and cache keys.
  std::string label;
};

struct Tolerance {
  double atol = 1e-5;
  double rtol = 1e-5;
};

/// How timing is done. Defaults suit small CPU kernels; a task may override any field.
struct TimingSpec {
  int warmup = 3;
  int min_trials = 10;
  int max_trials = 100;
  double max_seconds_per_shape = 1.0;  // stop adding trials past this once min_trials ran
  bool flush_cache = true;             // evict the kernel's buffers from cache before each trial
};

/// backend: torch — one input configuration of a KernelBench / robust-kbench problem: keyword
/// arguments for the reference module's get_inputs() and get_init_inputs().
struct TorchConfig {
  std::string label;      // "default", or "batch_size=16,init_method=random"
  std::string inputs_json = "{}";  // a JSON object: kwargs for get_inputs()
  std::string init_json = "{}";    // a JSON object: kwargs for get_init_inputs()
  SourceLoc loc;
};

/// backend: torch — the `torch:` section of task.yaml. The reference file is a Python module
/// defining class Model(nn.Module), get_inputs() and get_init_inputs() (KernelBench form); a
/// candidate is a Python module defining class ModelNew with the same constructor and forward.
struct TorchSpec {
  std::string python = "python3";        // the interpreter (with torch); $KF_PYTHON overrides
  std::string device = "auto";           // "auto" (cuda when torch sees a GPU, else cpu), "cuda", "cpu"
  bool backward = false;                 // also check gradients of every input and parameter
  std::vector<std::string> allowed_ops;  // aten ops ModelNew.forward may run, on top of the default list
  double max_speedup = 20;               // a speedup vs eager above this is re-verified with fresh inputs
  bool compile_baseline = true;          // also time torch.compile(Model) when this torch has it
  std::vector<TorchConfig> configs;      // at least one after loading ("default", {} {})
};

struct Task {
  std::filesystem::path dir;  // absolute
  std::string name;
  std::string description;
  Backend backend = Backend::kCpu;
  std::string entry;
  std::vector<ArgSpec> args;
  std::vector<Shape> shapes;
  Tolerance tolerance;
  std::string reference_file;    // relative to dir
  std::string reference_source;  // its contents
  struct Seed {
    std::string file;    // relative to dir
    std::string source;  // its contents
  };
  std::vector<Seed> seeds;
  std::string instructions;
  std::vector<std::string> targets;
  TimingSpec timing;
  int correctness_trials = 3;    // fresh inputs per trial, per shape
  double timeout_seconds = 60;   // wall-clock limit for one run of the harness
  std::uint64_t memory_limit_bytes = 0;  // 0: derived from the buffer sizes
  /// Work per call of the entry, as dimension expressions over the integer scalars (the same
  /// grammar as shapes), for the plausibility check. `flops`: arithmetic operations (an FMA
  /// counts 2); empty means unknown, and no FLOP/s check is done. `bytes`: the minimum bytes a
  /// correct kernel must move; empty means the sum of all input and output buffers.
  /// Validated against every shape at load time (non-negative, no overflow).
  std::string flops;
  std::string bytes;
  SourceLoc flops_loc, bytes_loc;  // where they were set, for messages
  /// backend: torch only. For torch tasks `entry`, `args` are empty and `shapes` holds one
  /// Shape per configuration (label = its label, no scalars), so timings are per configuration.
  TorchSpec torch;
  /// SHA-256 over task.yaml, the reference and the seeds; keys caches of reference results.
  std::string content_hash;

  const ArgSpec* FindArg(std::string_view name) const;
};

/// Loads and validates dir/task.yaml. On failure the Error has code kValidation and a message
/// with one line per problem: "<dir>/task.yaml:12:5: unknown key 'tolerence' (did you mean
/// 'tolerance'?)".
/// The task's scalar arguments (the names its shapes give values to), in argument order.
std::vector<std::string> ScalarNames(const Task& task);

core::Expected<Task> LoadTask(const std::filesystem::path& dir);

/// Evaluates a dimension expression: integers, scalar names, + - * / % and parentheses,
/// with integer arithmetic; division by zero and unknown names are errors.
core::Expected<std::int64_t> EvalDimExpr(std::string_view expr, const std::map<std::string, double>& scalars);

/// Checks the syntax of a dimension expression without evaluating it and returns the names it
/// uses, in order of first appearance; kValidation with the column on a syntax error.
core::Expected<std::vector<std::string>> DimExprNames(std::string_view expr);

/// The concrete dimensions of an array arg for a shape (errors if an expression fails or is < 0).
core::Expected<std::vector<std::int64_t>> ArgDims(const ArgSpec& arg, const Shape& shape);
/// Element count of an array arg for a shape.
core::Expected<std::int64_t> ArgElements(const ArgSpec& arg, const Shape& shape);

/// The C++ declaration a candidate must define, e.g.
/// "void row_softmax(const float* x, float* y, int32_t rows, int32_t cols)".
/// Inputs are const pointers, outputs pointers, scalars by value, in args order.
/// The backend adds its context first: sycl "sycl::queue& queue, ", opencl
/// "cl_context context, cl_command_queue queue, " with every array passed as cl_mem.
std::string EntrySignature(const Task& task, std::string_view function_name);

}  // namespace kf::task
