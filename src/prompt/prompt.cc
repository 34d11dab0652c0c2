// The refine prompt. Sections follow the order an engineer reads a ticket in: what to compute,
// the contract (signature, arguments, shapes, tolerance), the reference, the current kernel and
// its verdict, what was tried before, other kernels to borrow from, what the search has learnt,
// the guidance (the meta-prompt's sections), the goal, and how to answer. Everything is derived
// from the inputs alone, so equal inputs give byte-identical prompts.

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "prompt/prompt.h"
#include "prompt/text.h"

namespace kf::prompt {
namespace {

/// Lines of an earlier attempt's code shown before it is cut; attempts are context, not the base.
constexpr std::size_t kMaxHistoryCodeLines = 60;

std::string_view BackendRules(task::Backend backend) {
  switch (backend) {
    case task::Backend::kCpu:
      return "Target: CPU. The file is C++ compiled with g++ -O3 -march=native -fopenmp; the entry receives host "
             "pointers. OpenMP pragmas and SIMD intrinsics (<immintrin.h> and friends) are allowed. Do not start "
             "threads or processes other than through OpenMP.";
    case task::Backend::kCuda:
      return "Target: NVIDIA GPU. The file is CUDA C++ compiled with nvcc for the detected architecture; the entry "
             "receives device pointers and launches its work on the default stream. Do not create streams or host "
             "threads, and use no libraries (cuBLAS, cuDNN, CUTLASS) unless the task instructions allow them.";
    case task::Backend::kSycl:
      return "Target: SYCL device. The file is SYCL 2020 C++ compiled with icpx -fsycl or AdaptiveCpp; the entry "
             "receives a sycl::queue& and USM device pointers and submits all work to that queue. Do not create "
             "other queues or host threads.";
    case task::Backend::kOpenCl:
      return "Target: OpenCL device. The file is host C++ compiled with g++ against the OpenCL ICD; the entry "
             "receives a cl_context, a cl_command_queue and cl_mem buffers, builds its kernels from source strings "
             "and enqueues all work on that queue. Do not create other queues or host threads.";
    case task::Backend::kTorch:
      return "Target: PyTorch (KernelBench form). The file is one Python module defining class ModelNew(nn.Module), a "
             "drop-in replacement for the reference's Model (same constructor and forward arguments), whose forward "
             "runs your own kernels built with torch.utils.cpp_extension.load_inline (CUDA C++ on an NVIDIA GPU, C++ "
             "on a CPU). forward may allocate outputs (torch.empty) and reshape or view tensors; every other PyTorch "
             "op it runs is audited and counts as falling back to PyTorch. No try/except fallbacks, no other "
             "streams or threads, no patching of timers or modules, and do not use or subclass Model.";
  }
  return "";
}

std::string_view CodeTag(task::Backend backend) { return backend == task::Backend::kTorch ? "python" : "cpp"; }

std::string Fenced(std::string_view tag, std::string_view body) {
  const std::string fence = FenceFor(body);
  std::string text = fmt::format("{}{}\n{}", fence, tag, body);
  if (!text.ends_with('\n')) text.push_back('\n');
  return text + fence + "\n";
}

/// Feedback is shown verbatim; an empty one says so rather than showing an empty block.
std::string FeedbackBlock(std::string_view feedback) {
  return Trim(feedback).empty() ? std::string("(no evaluation feedback)\n") : Fenced("text", feedback);
}

/// Markdown table cells cannot hold '|'.
std::string Cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string InitText(const task::ArgSpec& arg) {
  switch (arg.role) {
    case task::ArgRole::kOutput: return "written by the kernel";
    case task::ArgRole::kScalar:
      return arg.default_value ? fmt::format("default {}", *arg.default_value) : std::string("set per shape");
    case task::ArgRole::kInput: break;
  }
  const task::InitSpec& init = arg.init;
  switch (init.dist) {
    case task::Dist::kNormal: return fmt::format("normal(mean={}, stddev={})", init.mean, init.stddev);
    case task::Dist::kUniform: return fmt::format("uniform [{}, {})", init.low, init.high);
    case task::Dist::kIntegers: return fmt::format("integers [{}, {}]", init.low, init.high);
    case task::Dist::kConstant: return fmt::format("constant {}", init.value);
  }
  return "";
}

std::string ShapeText(const task::ArgSpec& arg) {
  if (arg.role == task::ArgRole::kScalar) return "scalar";
  return fmt::format("[{}]", fmt::join(arg.shape, ", "));
}

std::string ShapeLabel(const task::Shape& shape) {
  if (!shape.label.empty()) return shape.label;
  std::string label;
  for (const auto& [name, value] : shape.scalars) label += fmt::format("{}{}={}", label.empty() ? "" : ",", name, value);
  return label;
}

std::string SystemMessage(const task::Task& task) {
  return fmt::format(
      "You are an expert GPU/CPU performance engineer. You improve one kernel at a time: you get a task, the "
      "current kernel and its evaluation, and you reply with a kernel that is correct and faster.\n"
      "{}\n"
      "Rules for every kernel:\n"
      "- Compute every output from the current inputs on every call: no caching between calls and no special "
      "cases for the test shapes or data. Do not modify the inputs.\n"
      "- Never call or include the reference implementation.\n"
      "- Never read clocks or timers, and do no file, network or console I/O.\n",
      BackendRules(task.backend));
}

std::string TaskSection(const task::Task& task) {
  std::string out = fmt::format("# Task: {} (backend: {})\n", task.name, task::BackendName(task.backend));
  if (!Trim(task.description).empty()) out += fmt::format("{}\n", Trim(task.description));
  if (!Trim(task.instructions).empty()) out += fmt::format("\n## Instructions\n{}\n", Trim(task.instructions));
  return out;
}

std::string ContractSection(const task::Task& task) {
  std::string out = "\n## Entry point\n";
  if (task.backend == task::Backend::kTorch) {
    out += "The file must define class ModelNew with the same constructor and forward arguments as Model in the "
           "reference.\n";
  } else {
    out += "The file must define this function exactly (same name, parameter types and order):\n";
    out += Fenced("cpp", task::EntrySignature(task, task.entry) + ";");
  }
  if (task.backend == task::Backend::kTorch) {
    out += "\n## Input configurations\nEvery configuration is checked for correctness (inputs from the reference's "
           "get_inputs(**inputs), Model(*get_init_inputs(**init))); speed is the geometric mean over them, against "
           "PyTorch eager and torch.compile.\n";
    for (const task::TorchConfig& c : task.torch.configs) {
      out += fmt::format("- {}: inputs {}, init {}\n", c.label, c.inputs_json, c.init_json);
    }
    if (task.torch.backward) {
      out += "Gradients are checked too: out.backward(grad) must give the gradients of every input and parameter "
             "that PyTorch autograd gives for Model.\n";
    }
    out += fmt::format(
        "\n## Tolerance\nEach output element must satisfy |out - ref| <= atol + rtol * |ref| with atol = {}, rtol = "
        "{}; NaN or Inf where the reference has none fails.\n",
        task.tolerance.atol, task.tolerance.rtol);
    out += fmt::format("\n## Reference ({})\n", task.reference_file);
    out += Fenced("python", task.reference_source);
    return out;
  }
  out += "\n## Arguments\n| name | role | dtype | shape | init |\n|---|---|---|---|---|\n";
  for (const task::ArgSpec& arg : task.args) {
    out += fmt::format("| {} | {} | {} | {} | {} |\n", Cell(arg.name), task::RoleName(arg.role),
                       task::DTypeName(arg.dtype), Cell(ShapeText(arg)), Cell(InitText(arg)));
  }
  const bool has_half = std::any_of(task.args.begin(), task.args.end(), [](const task::ArgSpec& arg) {
    return arg.dtype == task::DType::kF16 || arg.dtype == task::DType::kBF16;
  });
  if (has_half) {
    out += "f16 and bf16 elements are passed as their raw 16-bit patterns (uint16_t).\n";
  }
  out += "\n## Shapes\nEvery shape is checked for correctness; speed is the geometric mean of the times over all "
         "shapes.\n";
  for (const task::Shape& shape : task.shapes) out += fmt::format("- {}\n", ShapeLabel(shape));
  out += fmt::format(
      "\n## Tolerance\nEach output element must satisfy |out - ref| <= atol + rtol * |ref| with atol = {}, rtol = "
      "{}.\n",
      task.tolerance.atol, task.tolerance.rtol);
  const std::string_view reference_tag =
      task.reference_file.ends_with(".py") ? std::string_view("python") : std::string_view("cpp");
  out += fmt::format("\n## Reference ({})\n", task.reference_file.empty() ? "reference" : task.reference_file);
  out += Fenced(reference_tag, task.reference_source);
  return out;
}

std::string ParentSection(const task::Task& task, const ShownKernel& parent) {
  if (Trim(parent.code).empty()) return "\n## Current kernel\nThere is none yet: write the first version.\n";
  std::string out = "\n## Current kernel\n" + Fenced(CodeTag(task.backend), parent.code);
  out += "\n## Evaluation of the current kernel\n" + FeedbackBlock(parent.feedback);
  return out;
}

std::string HistorySection(const task::Task& task, const RefineInput& input) {
  const std::size_t shown = std::min(input.history.size(), input.max_history);
  if (shown == 0) return "";
  std::string out = "\n## Earlier attempts (oldest first)\n";
  for (std::size_t i = input.history.size() - shown; i < input.history.size(); ++i) {
    const ShownKernel& attempt = input.history[i];
    std::vector<std::string_view> lines = SplitLines(attempt.code);
    std::string code;
    if (lines.size() > kMaxHistoryCodeLines) {
      const std::size_t hidden = lines.size() - kMaxHistoryCodeLines;
      lines.resize(kMaxHistoryCodeLines);
      code = JoinLines(lines) + fmt::format("// ... {} more lines not shown\n", hidden);
    } else {
      code = JoinLines(lines);
    }
    out += fmt::format("\n### Attempt {} of {}\nEvaluation:\n{}Code:\n{}", i - (input.history.size() - shown) + 1,
                       shown, FeedbackBlock(attempt.feedback), Fenced(CodeTag(task.backend), code));
  }
  return out;
}

std::string InspirationsSection(const task::Task& task, const RefineInput& input) {
  if (input.inspirations.empty()) return "";
  std::string out = "\n## Other kernels, for ideas\n";
  out += Trim(input.parent.code).empty()
             ? "These kernels come from elsewhere in the search. Borrow ideas from them, but write your own "
               "complete file.\n"
             : "These kernels come from elsewhere in the search. Borrow ideas from them, but your answer must "
               "still modify the current kernel above: SEARCH blocks apply to the current kernel only.\n";
  const std::size_t count = input.inspirations.size();
  for (std::size_t i = 0; i < count; ++i) {
    const Inspiration& inspiration = input.inspirations[i];
    const std::string label = CollapseWhitespace(inspiration.label);
    out += fmt::format("\n### Inspiration {} of {}{}{}\n", i + 1, count, label.empty() ? "" : ": ", label);
    if (!Trim(inspiration.kernel.feedback).empty()) {
      out += "Evaluation:\n" + Fenced("text", inspiration.kernel.feedback) + "Code:\n";
    }
    out += Fenced(CodeTag(task.backend), inspiration.kernel.code);
  }
  return out;
}

std::string SearchNotesSection(std::string_view notes) {
  if (Trim(notes).empty()) return "";
  return fmt::format("\n## Notes from the search\n{}\n", Trim(notes));
}

std::string ParametersSection(bool ask) {
  if (!ask) return "";
  return "\n## Tunable parameters\n"
         "The parent is correct. If its speed depends on choices such as block or tile sizes, unroll factors, vector "
         "widths or work per thread, expose them as tunable parameters: declare each one at the top of the file, "
         "before its first use, as `// @param NAME: 64, 128, 256` (a list, a range `1..8`, `1..16 step 4`, or "
         "`pow2(16..256)`), with `// @constraint EXPR` for combinations that must hold (C expressions over the "
         "parameters and the shape's scalars, e.g. `// @constraint BLOCK * VEC <= 1024`) and, for GPU launches, "
         "`// @threads EXPR` and `// @shared_bytes EXPR`. Use NAME as a macro (it may be a template argument) and do "
         "not #define it yourself; the first value is the default. Every allowed configuration is then compiled, "
         "checked and timed, and the fastest one counts.\n";
}

std::string GuidanceSection(const std::vector<std::pair<std::string, std::string>>& instructions) {
  std::string out;
  for (const auto& [heading, text] : instructions) {
    if (Trim(text).empty()) continue;
    out += fmt::format("\n### {}\n{}\n", CollapseWhitespace(heading), Trim(text));
  }
  return out.empty() ? out : "\n## Guidance\n" + out;
}

std::string GoalSection(bool has_parent) {
  if (!has_parent) {
    return "\n## Goal\nWrite a correct kernel first; make it fast without risking correctness on any shape.\n";
  }
  return "\n## Goal\nCorrectness first: if the evaluation above reports any failure (rejected, compile error, crash, "
         "timeout, wrong values), fix that before anything else. Then make the kernel faster than the current one "
         "without breaking correctness on any shape.\n";
}

std::string ReplyFormatSection(const task::Task& task, const ShownKernel& parent) {
  const std::string_view tag = CodeTag(task.backend);
  if (Trim(parent.code).empty()) {
    return fmt::format(
        "\n## Reply format\nExplain your idea in at most three sentences, then give the complete file in one "
        "```{} fenced block.\n",
        tag);
  }
  std::string out = fmt::format(
      "\n## Reply format\nExplain your idea in at most three sentences, then give the code in ONE of two forms:\n"
      "1. The complete file in one ```{} fenced block.\n"
      "2. One or more SEARCH/REPLACE blocks against the current kernel:\n"
      "<<<<<<< SEARCH\n"
      "exact lines from the current kernel\n"
      "=======\n"
      "replacement lines\n"
      ">>>>>>> REPLACE\n"
      "Each SEARCH part must copy whole lines of the current kernel exactly, including indentation, and match "
      "exactly once (add neighbouring lines if needed). Blocks apply in order. Do not mix the two forms.\n",
      tag);
  if (HasEvolveBlocks(parent.code)) {
    out += fmt::format(
        "Only code between the {} and {} lines may change. Every other line, the marker lines included, must stay "
        "byte-identical, or the reply is rejected.\n",
        kEvolveStart, kEvolveEnd);
  }
  return out;
}

}  // namespace

Prompt BuildRefinePrompt(const RefineInput& input) {
  KF_CHECK(input.task != nullptr) << "RefineInput.task is required";
  const task::Task& task = *input.task;
  Prompt prompt;
  prompt.system = SystemMessage(task);
  prompt.user = TaskSection(task) + ContractSection(task) + ParentSection(task, input.parent) +
                HistorySection(task, input) + InspirationsSection(task, input) +
                SearchNotesSection(input.search_notes) + ParametersSection(input.ask_for_parameters) +
                GuidanceSection(input.instructions) +
                GoalSection(!Trim(input.parent.code).empty()) +
                ReplyFormatSection(task, input.parent);
  return prompt;
}

}  // namespace kf::prompt
