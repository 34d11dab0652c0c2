#include "eval/harness.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "eval/runner_source.h"

namespace kf::eval {

namespace {

constexpr std::uint64_t kAlign = 4096;

std::uint64_t AlignUp(std::uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

int RoleCode(task::ArgRole role) {
  switch (role) {
    case task::ArgRole::kInput: return 0;
    case task::ArgRole::kOutput: return 1;
    case task::ArgRole::kScalar: return 2;
  }
  return 2;
}

}  // namespace

std::string RunnerSource(const task::Task& task, std::string_view function_name) {
  const bool opencl = task.backend == task::Backend::kOpenCl;
  // OpenCL entries get the device layer's context and queue first and cl_mem handles for arrays.
  // SYCL entries get the device layer's queue first.
  std::string call = opencl ? "KfClContext(),\n      KfClQueue()" : "";
  if (task.backend == task::Backend::kSycl) call = "KfSyclQueue()";
  for (std::size_t i = 0; i < task.args.size(); ++i) {
    const task::ArgSpec& a = task.args[i];
    const std::string ctype(task::DTypeCType(a.dtype));
    if (!call.empty()) call += ",\n      ";
    if (opencl && a.role != task::ArgRole::kScalar) {
      call += fmt::format("static_cast<cl_mem>(b[{}])", i);
      continue;
    }
    switch (a.role) {
      case task::ArgRole::kInput: call += fmt::format("static_cast<const {}*>(b[{}])", ctype, i); break;
      case task::ArgRole::kOutput: call += fmt::format("static_cast<{}*>(b[{}])", ctype, i); break;
      case task::ArgRole::kScalar: call += fmt::format("static_cast<{}>(s[{}])", ctype, i); break;
    }
  }
  // The prototype is declared with C++ linkage, so a definition with any other signature
  // leaves this symbol undefined and the link fails.
  const char* device = detail::kRunnerDeviceCpuSource;
  if (task.backend == task::Backend::kCuda) device = detail::kRunnerDeviceCudaSource;
  if (opencl) device = detail::kRunnerDeviceOpenClSource;
  if (task.backend == task::Backend::kSycl) device = detail::kRunnerDeviceSyclSource;
  return fmt::format(
      "{}\n{}\n"
      "// ---- generated shim for task '{}' ----\n"
      "{};\n"
      "void kf_call_entry(void* const* b, const double* s) {{\n"
      "  {}(\n      {});\n"
      "}}\n",
      detail::kRunnerMainSource, device, task.name, task::EntrySignature(task, function_name), function_name, call);
}

core::Expected<ShapeLayout> MakeShapeLayout(const task::Task& task, const task::Shape& shape) {
  ShapeLayout l;
  const std::size_t n = task.args.size();
  l.dims.resize(n);
  l.elements.assign(n, 0);
  l.bytes.assign(n, 0);
  l.offset.assign(n, -1);
  l.after_offset.assign(n, -1);
  l.scalars.assign(n, 0.0);
  std::uint64_t cursor = 0;
  auto place = [&](std::size_t i, bool guarded) {
    const std::int64_t at = static_cast<std::int64_t>(cursor);
    cursor = AlignUp(cursor + l.bytes[i] + (guarded ? kCanaryBytes : 0));
    return at;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const task::ArgSpec& a = task.args[i];
    if (a.role == task::ArgRole::kScalar) {
      auto it = shape.scalars.find(a.name);
      if (it != shape.scalars.end()) {
        l.scalars[i] = it->second;
      } else if (a.default_value) {
        l.scalars[i] = *a.default_value;
      } else {
        return core::MakeError(core::ErrorCode::kValidation,
                               fmt::format("shape {} gives no value for scalar '{}'", shape.label, a.name));
      }
      continue;
    }
    auto dims = task::ArgDims(a, shape);
    if (!dims.ok()) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("arg '{}' on shape {}: {}", a.name, shape.label, dims.error().message));
    }
    l.dims[i] = *dims;
    std::int64_t count = 1;
    for (std::int64_t d : l.dims[i]) count *= d;
    l.elements[i] = count;
    l.bytes[i] = static_cast<std::uint64_t>(count) * task::DTypeSize(a.dtype);
    l.buffer_bytes += l.bytes[i];
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (task.args[i].role == task::ArgRole::kInput) l.offset[i] = place(i, false);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (task.args[i].role == task::ArgRole::kOutput) l.offset[i] = place(i, true);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (task.args[i].role == task::ArgRole::kOutput) l.after_offset[i] = place(i, true);
  }
  l.file_bytes = std::max<std::uint64_t>(cursor, kAlign);
  return l;
}

std::string DataFileName(int shape, int trial) { return fmt::format("d{}_{}.bin", shape, trial); }

std::string PlanText(const task::Task& task, const std::vector<ShapeLayout>& layouts, const RunPlan& plan) {
  std::ostringstream o;
  o.precision(17);
  o << "KFPLAN1\n" << task.args.size() << "\n";
  for (const auto& a : task.args) o << RoleCode(a.role) << " ";
  const task::TimingSpec& t = task.timing;
  o << "\n" << t.warmup << " " << t.min_trials << " " << t.max_trials << " " << t.max_seconds_per_shape << " "
    << (t.flush_cache ? 1 : 0) << "\n"
    << layouts.size() << "\n";
  for (const auto& l : layouts) {
    for (double v : l.scalars) o << v << " ";
    for (std::uint64_t b : l.bytes) o << b << " ";
    o << "\n";
  }
  o << plan.correct.size() << "\n";
  for (const auto& c : plan.correct) {
    o << c.shape << " " << c.trial << " " << layouts[c.shape].file_bytes;
    for (std::int64_t off : layouts[c.shape].offset) o << " " << off;
    o << "\n";
  }
  o << plan.timing.size() << "\n";
  for (const auto& tm : plan.timing) {
    const ShapeLayout& l = layouts[tm.shape];
    o << tm.shape << " " << (tm.write_after ? 1 : 0) << " " << l.file_bytes;
    for (std::int64_t off : l.offset) o << " " << off;
    for (std::int64_t off : l.after_offset) o << " " << off;
    o << "\n";
  }
  return o.str();
}

RunnerReport ParseRunnerReport(const task::Task& task, std::string_view channel, std::string_view nonce) {
  RunnerReport r;
  const int nshapes = static_cast<int>(task.shapes.size());
  auto shape_name = [&](int s) {
    return s >= 0 && s < nshapes ? task.shapes[s].label : fmt::format("#{}", s);
  };
  auto fail = [&](std::string why) {
    if (r.protocol_error.empty()) r.protocol_error = std::move(why);
    r.completed = false;
  };
  std::istringstream in{std::string(channel)};
  std::string line;
  while (std::getline(in, line)) {
    if (r.completed) {
      fail("records after the completion marker");
      break;
    }
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    int shape = -1, trial = -1;
    double ms = 0;
    if (tag == "P") {
      std::string phase;
      ls >> phase >> shape;
      if (phase == "c") {
        ls >> trial;
        r.where = fmt::format("correctness trial {}/{} of shape {}", trial + 1, task.correctness_trials,
                              shape_name(shape));
      } else if (phase == "w") {
        r.where = fmt::format("warm-up of shape {}", shape_name(shape));
      } else if (phase == "t") {
        r.where = fmt::format("timing of shape {}", shape_name(shape));
      } else if (phase == "a") {
        r.where = fmt::format("the after-timing copy of shape {}", shape_name(shape));
      } else {
        fail(fmt::format("unknown progress record '{}'", line));
      }
    } else if (tag == "C" || tag == "W") {
      const bool ok = tag == "C" ? static_cast<bool>(ls >> shape >> trial >> ms) : static_cast<bool>(ls >> shape >> ms);
      if (!ok || ms < 0) {
        fail(fmt::format("malformed record '{}'", line.substr(0, 80)));
        continue;
      }
      r.kernel_ms += ms;
    } else if (tag == "T") {
      std::size_t n = 0;
      ls >> shape >> n;
      if (shape < 0 || shape >= nshapes || r.trial_ms.count(shape) != 0) {
        fail(fmt::format("duplicate or invalid timing record for shape {}", shape));
        continue;
      }
      std::vector<double> times;
      for (std::size_t i = 0; i < n && (ls >> ms); ++i) times.push_back(ms);
      if (times.size() != n || n == 0) {
        fail(fmt::format("truncated timing record for shape {}", shape_name(shape)));
        continue;
      }
      for (double v : times) r.kernel_ms += v;
      r.trial_ms[shape] = std::move(times);
    } else if (tag == "D") {
      std::string got;
      ls >> got >> r.flush_ms >> r.correctness_ms >> r.timing_ms;
      if (got != nonce || !ls) {
        fail("a completion marker with the wrong nonce");
        break;
      }
      r.completed = true;
    } else {
      fail(fmt::format("unknown record '{}'", line.substr(0, 80)));
    }
  }
  // A malformed record anywhere voids the run, whatever marker follows it.
  if (!r.protocol_error.empty()) r.completed = false;
  return r;
}

SampleStats Summarize(std::vector<double> sample_ms) {
  SampleStats s;
  if (sample_ms.empty()) return s;
  std::sort(sample_ms.begin(), sample_ms.end());
  const std::size_t n = sample_ms.size();
  s.median = n % 2 == 1 ? sample_ms[n / 2] : 0.5 * (sample_ms[n / 2 - 1] + sample_ms[n / 2]);
  s.min = sample_ms.front();
  double mean = 0;
  for (double v : sample_ms) mean += v;
  mean /= static_cast<double>(n);
  double var = 0;
  for (double v : sample_ms) var += (v - mean) * (v - mean);
  var /= static_cast<double>(n);
  s.cv = mean > 0 ? std::sqrt(var) / mean : 0;
  return s;
}

}  // namespace kf::eval
