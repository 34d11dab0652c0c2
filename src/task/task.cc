#include "task/task.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace kf::task {

std::string_view BackendName(Backend b) {
  switch (b) {
    case Backend::kCpu:
      return "cpu";
    case Backend::kCuda:
      return "cuda";
    case Backend::kSycl:
      return "sycl";
    case Backend::kOpenCl:
      return "opencl";
    case Backend::kTorch:
      return "torch";
  }
  KF_CHECK(false) << "bad Backend " << static_cast<int>(b);
  return "";
}

std::string_view CandidateExtension(Backend b) {
  switch (b) {
    case Backend::kTorch:
      return ".py";
    case Backend::kCuda:
      return ".cu";
    default:
      return ".cpp";
  }
}

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF64:
      return "f64";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kI8:
      return "i8";
    case DType::kI32:
      return "i32";
    case DType::kI64:
      return "i64";
    case DType::kU8:
      return "u8";
  }
  KF_CHECK(false) << "bad DType " << static_cast<int>(t);
  return "";
}

std::string_view DTypeCType(DType t) {
  switch (t) {
    case DType::kF32:
      return "float";
    case DType::kF64:
      return "double";
    case DType::kF16:
      return "uint16_t";
    case DType::kBF16:
      return "uint16_t";
    case DType::kI8:
      return "int8_t";
    case DType::kI32:
      return "int32_t";
    case DType::kI64:
      return "int64_t";
    case DType::kU8:
      return "uint8_t";
  }
  KF_CHECK(false) << "bad DType " << static_cast<int>(t);
  return "";
}

std::size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kF64:
      return 8;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 2;
    case DType::kI8:
      return 1;
    case DType::kI32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kU8:
      return 1;
  }
  KF_CHECK(false) << "bad DType " << static_cast<int>(t);
  return 0;
}

bool DTypeIsFloat(DType t) { return t == DType::kF32 || t == DType::kF64 || t == DType::kF16 || t == DType::kBF16; }

std::string_view RoleName(ArgRole r) {
  switch (r) {
    case ArgRole::kInput:
      return "input";
    case ArgRole::kOutput:
      return "output";
    case ArgRole::kScalar:
      return "scalar";
  }
  KF_CHECK(false) << "bad ArgRole " << static_cast<int>(r);
  return "";
}

const ArgSpec* Task::FindArg(std::string_view arg_name) const {
  for (const ArgSpec& arg : args) {
    if (arg.name == arg_name) return &arg;
  }
  return nullptr;
}

core::Expected<std::vector<std::int64_t>> ArgDims(const ArgSpec& arg, const Shape& shape) {
  std::vector<std::int64_t> dims;
  dims.reserve(arg.shape.size());
  for (std::size_t i = 0; i < arg.shape.size(); ++i) {
    auto dim = EvalDimExpr(arg.shape[i], shape.scalars);
    if (!dim.ok()) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("shape {}: in '{}', {}", shape.label, arg.name, dim.error().message));
    }
    if (*dim < 0) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("shape {}: dimension {} of '{}' ('{}') is {}; dimensions must be >= 0",
                                         shape.label, i, arg.name, arg.shape[i], *dim));
    }
    dims.push_back(*dim);
  }
  return dims;
}

core::Expected<std::int64_t> ArgElements(const ArgSpec& arg, const Shape& shape) {
  KF_TRY(std::vector<std::int64_t> dims, ArgDims(arg, shape));
  std::int64_t elements = 1;
  for (std::int64_t d : dims) {
    if (__builtin_mul_overflow(elements, d, &elements)) {
      return core::MakeError(
          core::ErrorCode::kValidation,
          fmt::format("shape {}: '{}' has more elements than fit in 64 bits", shape.label, arg.name));
    }
  }
  return elements;
}

bool IsCIdentifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) != 0 || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
}

bool IsCppKeyword(std::string_view s) {
  // clang-format off
  static const std::set<std::string_view> kKeywords = {
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch",
      "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "const", "consteval", "constexpr",
      "constinit", "const_cast", "continue", "co_await", "co_return", "co_yield", "decltype", "default", "delete",
      "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
      "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
      "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
      "requires", "restrict", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast",
      "struct", "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename",
      "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq"};
  // clang-format on
  return kKeywords.count(s) != 0;
}

std::vector<std::string> ScalarNames(const Task& task) {
  std::vector<std::string> names;
  for (const ArgSpec& a : task.args) {
    if (a.role == ArgRole::kScalar) names.push_back(a.name);
  }
  return names;
}

std::string EntrySignature(const Task& task, std::string_view function_name) {
  std::vector<std::string> params;
  if (task.backend == Backend::kSycl) params.emplace_back("sycl::queue& queue");
  if (task.backend == Backend::kOpenCl) {
    params.emplace_back("cl_context context");
    params.emplace_back("cl_command_queue queue");
  }
  for (const ArgSpec& arg : task.args) {
    std::string_view ctype = DTypeCType(arg.dtype);
    if (arg.role == ArgRole::kScalar) {
      params.push_back(fmt::format("{} {}", ctype, arg.name));
    } else if (task.backend == Backend::kOpenCl) {
      params.push_back(fmt::format("cl_mem {}", arg.name));
    } else {
      params.push_back(fmt::format("{}{}* {}", arg.role == ArgRole::kInput ? "const " : "", ctype, arg.name));
    }
  }
  return fmt::format("void {}({})", function_name, fmt::join(params, ", "));
}

}  // namespace kf::task
