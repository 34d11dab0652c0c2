// kfoundry — the command line. Each subcommand is a thin layer over the modules:
// parse flags, build the real parts (store, evaluator, LLM client), hand them to the module.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/fs.h"
#include "core/subprocess.h"
#include "core/log.h"
#include "engine/run.h"
#include "engine/suite.h"
#include "eval/ceilings.h"
#include "eval/evaluator.h"
#ifdef KF_HAVE_OPENCL
#include "eval/opencl_platform.h"
#endif
#include "llm/llm_client.h"
#include "store/store.h"
#include "task/import.h"
#include "task/task.h"

namespace fs = std::filesystem;
using namespace kf;

namespace {

// Exit codes shared by every subcommand.
constexpr int kExitOk = 0;
constexpr int kExitFailedVerdict = 1;  // eval: the candidate did not pass; run: a runtime error
constexpr int kExitUsage = 2;          // bad flags, bad task, missing toolchain
constexpr int kExitInterrupted = 130;

std::atomic<bool> g_stop{false};

void OnSignal(int) {
  if (g_stop.exchange(true)) ::_exit(kExitInterrupted);  // a second Ctrl-C: leave now
  const char msg[] = "\nkfoundry: stopping after in-flight work (Ctrl-C again to quit at once)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

void InstallSignalHandlers() {
  struct sigaction sa{};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int Fail(const core::Error& e, int code) {
  std::cerr << "kfoundry: " << core::Redact(e.message) << "\n";
  return code;
}

eval::EvaluatorOptions MakeEvaluatorOptions(std::optional<double> timeout, std::optional<std::uint64_t> seed,
                                            fs::path work_dir, bool profile, bool sanitize) {
  eval::EvaluatorOptions o;
  o.profile = profile;
  o.sanitize = sanitize;
  o.cache_dir = core::DefaultCacheDir();
  o.work_dir = std::move(work_dir);
  o.timeout_seconds = timeout;
  if (seed) o.seed = *seed;
  o.cancel = &g_stop;
  return o;
}

// ---- kfoundry eval -------------------------------------------------------------------------

struct EvalArgs {
  std::string task_dir, kernel;
  bool json = false;
  std::optional<double> timeout;
  std::optional<std::uint64_t> seed;
  bool profile = false;
  bool sanitize = false;
};

int CmdEval(const EvalArgs& a) {
  auto task = task::LoadTask(a.task_dir);
  if (!task.ok()) return Fail(task.error(), kExitUsage);
  auto source = core::ReadFile(a.kernel);
  if (!source.ok()) return Fail(source.error(), kExitUsage);
  auto evaluator = eval::MakeEvaluator(*task, MakeEvaluatorOptions(a.timeout, a.seed, fs::temp_directory_path() / "kfoundry-work", a.profile, a.sanitize));
  if (!evaluator.ok()) return Fail(evaluator.error(), kExitUsage);
  eval::EvalResult r = (*evaluator)->Evaluate(*source);
  if (a.json) {
    std::cout << r.ToJson().dump(2) << "\n";
  } else {
    std::cout << eval::HumanVerdict(r) << "\n";
  }
  return r.status == eval::Status::kPassed ? kExitOk : kExitFailedVerdict;
}

// ---- kfoundry run --------------------------------------------------------------------------

struct RunArgs {
  std::string task_dir;
  std::string resume;
  std::string run_dir;
  std::string model;
  std::optional<int> budget;
  std::optional<double> max_cost;
  int concurrency = 2;
  int jobs = 0;
  std::string strategy = "refine";
  std::optional<std::uint64_t> seed;
  std::optional<double> timeout;
  double temperature = 0.7;
  bool profile = false;
  bool sanitize = false;
};

/// The model to use: --model, else KF_MODEL, else a default for whichever API is configured;
/// empty when no LLM is configured at all.
std::string ChooseModel(const std::string& flag) {
  if (!flag.empty()) return flag;
  auto env = [](const char* n) { const char* v = std::getenv(n); return v != nullptr && *v != '\0'; };
  if (env("KF_MODEL")) return std::getenv("KF_MODEL");
  if (env("ANTHROPIC_API_KEY")) return "anthropic:claude-sonnet-4-5";
  if (env("OPENAI_API_KEY") || env("OPENAI_BASE_URL")) return "gpt-4.1-mini";
  return "";
}

constexpr const char* kHowToConnect =
    "To evolve kernels, connect an LLM:\n"
    "  export OPENAI_API_KEY=...                       # OpenAI\n"
    "  export ANTHROPIC_API_KEY=...                    # or Anthropic\n"
    "  export OPENAI_BASE_URL=http://localhost:8000/v1 # or a local vLLM / Ollama / llama.cpp server\n"
    "then: kfoundry run TASK_DIR --model MODEL --budget 20\n";

fs::path DefaultRunDir(const task::Task& task) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return fs::path("runs") / fmt::format("{}-{}", task.name, stamp);
}

int CmdRun(const RunArgs& a) {
  const bool resuming = !a.resume.empty();
  engine::RunOptions options;
  if (resuming) {
    auto stored = engine::LoadRunOptions(a.resume);
    if (!stored.ok()) return Fail(stored.error(), kExitUsage);
    options = *stored;
    options.run_dir = a.resume;
  } else {
    options.task_dir = a.task_dir;
  }
  auto task = task::LoadTask(options.task_dir);
  if (!task.ok()) return Fail(task.error(), kExitUsage);
  if (!resuming) {
    options.run_dir = a.run_dir.empty() ? DefaultRunDir(*task) : fs::path(a.run_dir);
    if (fs::exists(options.run_dir / engine::kDbFileName)) {
      return Fail({core::ErrorCode::kInvalidArgument,
                   fmt::format("{} already holds a run; continue it with --resume {}", options.run_dir.string(),
                               options.run_dir.string())},
                  kExitUsage);
    }
    options.task_dir = task->dir;
    options.strategy = a.strategy;
    options.model = ChooseModel(a.model);
    options.max_iterations = a.budget.value_or(10);
    options.max_cost_usd = a.max_cost.value_or(0);
    options.llm_concurrency = a.concurrency;
    options.compile_workers = a.jobs;
    options.temperature = a.temperature;
    options.timeout_seconds = a.timeout;
    options.profile = a.profile;
    options.sanitize = a.sanitize;
    if (a.seed) options.seed = *a.seed;
    if (options.strategy != "refine") {
      return Fail({core::ErrorCode::kInvalidArgument,
                   fmt::format("unknown strategy '{}' (this build has: refine)", options.strategy)},
                  kExitUsage);
    }
  }
  options.run_dir = fs::absolute(options.run_dir);
  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  if (ec) return Fail({core::ErrorCode::kIo, fmt::format("cannot create {}: {}", options.run_dir.string(), ec.message())}, kExitUsage);

  engine::RunDeps deps;
  auto store = store::OpenStore(options.run_dir / engine::kDbFileName);
  if (!store.ok()) return Fail(store.error(), kExitUsage);
  deps.store = std::move(*store);
  auto evaluator = eval::MakeEvaluator(*task, MakeEvaluatorOptions(options.timeout_seconds, options.seed, options.run_dir / "work",
                                                                   options.profile, options.sanitize));
  if (!evaluator.ok()) return Fail(evaluator.error(), kExitUsage);
  deps.evaluator = std::move(*evaluator);
  if (!options.model.empty()) {
    auto config = llm::ConfigFromEnv(options.model);
    if (!config.ok()) return Fail(config.error(), kExitUsage);
    config->max_concurrency = std::max(1, options.llm_concurrency);
    config->cancel = &g_stop;
    deps.llm = llm::MakeLlmClient(*config);
  }

  auto run = resuming ? engine::Run::Resume(*task, std::move(deps), a.budget, a.max_cost)
                      : engine::Run::Start(options, *task, std::move(deps));
  if (!run.ok()) return Fail(run.error(), kExitUsage);
  core::LogInfo("run {}: task {} ({}), {}", options.run_dir.string(), task->name, task::BackendName(task->backend),
                options.model.empty() ? "no LLM configured: evaluating the seeds only"
                                      : fmt::format("model {}, budget {} iterations", options.model, options.max_iterations));
  auto summary = (*run)->Execute(&g_stop);
  if (!summary.ok()) return Fail(summary.error(), kExitFailedVerdict);

  const engine::RunSummary& s = *summary;
  std::cout << fmt::format("run {} stopped ({}): {} iterations, {} candidates, {} evaluated, {} passed, cost ${:.4f}\n",
                           options.run_dir.string(), s.stop_reason, s.iterations, s.candidates, s.evaluated, s.passed,
                           s.cost_usd);
  if (s.best_candidate_id) {
    auto verdict = core::ReadFile(options.run_dir / "best_verdict.txt");
    std::cout << fmt::format("best: candidate #{} at {:.2f}x the reference, written to {}\n", *s.best_candidate_id,
                             s.best_speedup, (options.run_dir / "best.json").string());
    if (verdict.ok()) std::cout << *verdict << "\n";
  } else {
    std::cout << "no candidate passed yet\n";
  }
  if (options.model.empty()) std::cout << "\n" << kHowToConnect;
  if (s.stop_reason == "interrupted") {
    std::cout << fmt::format("continue with: kfoundry run --resume {}\n", options.run_dir.string());
    return kExitInterrupted;
  }
  return kExitOk;
}

// ---- kfoundry devices ----------------------------------------------------------------------

/// One line per NVIDIA GPU from nvidia-smi: index, name, memory, compute capability, driver.
std::string ListNvidiaGpus() {
  core::SubprocessSpec spec;
  spec.argv = {"nvidia-smi", "--query-gpu=index,name,memory.total,compute_cap,driver_version", "--format=csv,noheader"};
  spec.working_dir = fs::temp_directory_path();
  spec.limits.wall_timeout = std::chrono::seconds(20);
  spec.limits.address_space_bytes = 0;
  auto r = core::RunSandboxed(spec);
  if (!r.ok()) return "  none: nvidia-smi not found\n";
  if (!r->Succeeded()) return "  none: nvidia-smi " + r->Describe() + "\n";
  std::string out;
  std::istringstream lines(r->stdout_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) out += "  " + line + "  (index, name, memory, compute capability, driver)\n";
  }
  return out.empty() ? "  none\n" : out;
}

int CmdDevices() {
  std::cout << "toolchains:\n";
  for (const eval::ToolchainInfo& t : eval::DetectToolchains()) {
    std::cout << fmt::format("  {:<8} {:<13} {}{}\n", t.backend, t.available ? "available" : "not available",
                             t.available ? t.compiler + " " + t.version : "", t.note.empty() ? "" : "  (" + t.note + ")");
  }
#ifdef KF_HAVE_OPENCL
  std::cout << "opencl devices:\n";
  if (auto devices = eval::ListOpenClDevices(); !devices.ok()) {
    std::cout << "  none: " << devices.error().message << "\n";
  } else if (devices->empty()) {
    std::cout << "  none found (set KF_OPENCL_VENDOR_LIB or KF_OPENCL_VENDORS; see docs/opencl.md)\n";
  } else {
    for (const auto& d : *devices) std::cout << "  " << eval::DescribeOpenClDevice(d) << "\n";
  }
#endif
  std::cout << "gpus:\n" << ListNvidiaGpus();
  std::cout << "measured ceilings (cached; measured on first use of a device):\n";
  auto ceilings = eval::CachedCeilings(core::DefaultCacheDir());
  if (ceilings.empty()) std::cout << "  none yet\n";
  for (const auto& c : ceilings) {
    std::cout << fmt::format("  {}{}: copy {:.0f} GB/s, compute {:.0f} GFLOP/s ({}; measured {})\n", c.device_name,
                             c.compute_units > 0 ? fmt::format(" ({} {})", c.compute_units, c.backend == "cuda" ? "SMs" : c.backend == "opencl" ? "compute units" : "threads") : "",
                             c.copy_gbps, c.flops_gflops, c.method, c.measured_at);
  }
  return kExitOk;
}

struct ImportArgs {
  std::string source, out;
  std::optional<int> level;
  std::string problems;
  std::vector<std::string> tasks;
  bool forward_only = false, backward_only = false;
};

// Prints what an import wrote and skipped; exit 0 when something was imported.
int ReportImport(const core::Expected<task::ImportReport>& report, const std::string& out) {
  if (!report.ok()) {
    std::cerr << "kfoundry: " << report.error().message << "\n";
    return kExitUsage;
  }
  for (const auto& s : report->skipped) std::cerr << "skipped " << s << "\n";
  std::cout << fmt::format("imported {} task{} into {}{}\n", report->task_dirs.size(),
                           report->task_dirs.size() == 1 ? "" : "s", out,
                           report->skipped.empty() ? "" : fmt::format(" ({} skipped, listed above)", report->skipped.size()));
  return report->task_dirs.empty() ? kExitUsage : kExitOk;
}

int CmdImportKernelBench(const ImportArgs& a) {
  task::KernelBenchImport options;
  options.level = a.level;
  if (!a.problems.empty()) {
    auto ids = task::ParseProblemList(a.problems);
    if (!ids.ok()) {
      std::cerr << "kfoundry: " << ids.error().message << "\n";
      return kExitUsage;
    }
    options.problems = std::move(ids).value();
  }
  return ReportImport(task::ImportKernelBench(a.source, a.out, options), a.out);
}

int CmdImportRobustKbench(const ImportArgs& a) {
  task::RobustKbenchImport options;
  options.forward = !a.backward_only;
  options.backward = !a.forward_only;
  options.tasks = a.tasks;
  return ReportImport(task::ImportRobustKbench(a.source, a.out, options), a.out);
}

struct SuiteArgs {
  std::string suite_dir, candidates_dir, csv;
  bool json = false;
  int jobs = 0;
  std::optional<double> timeout;
  std::optional<std::uint64_t> seed;
};

int CmdEvalSuite(const SuiteArgs& a) {
  engine::SuiteOptions options;
  options.evaluator = MakeEvaluatorOptions(a.timeout, a.seed, fs::temp_directory_path() / "kfoundry-work", false, false);
  options.compile_workers = a.jobs;
  options.cancel = &g_stop;
  auto rows = engine::EvaluateSuite(a.suite_dir, a.candidates_dir, options);
  if (!rows.ok()) {
    std::cerr << "kfoundry: " << rows.error().message << "\n";
    return kExitUsage;
  }
  if (!a.csv.empty()) {
    if (auto written = core::WriteFileAtomic(a.csv, engine::SuiteCsv(*rows)); !written.ok()) {
      std::cerr << "kfoundry: " << written.error().message << "\n";
      return kExitUsage;
    }
  }
  std::cout << (a.json ? engine::SuiteJson(*rows).dump(2) + "\n" : engine::SuiteTable(*rows));
  if (g_stop.load()) return kExitInterrupted;
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kfoundry: evolve fast, correct kernels with LLMs and a trustworthy evaluator"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kfoundry 0.1.0");

  EvalArgs eval_args;
  CLI::App* eval_cmd = app.add_subcommand("eval", "Evaluate one kernel: static checks, compile, correctness, timing");
  eval_cmd->add_option("task_dir", eval_args.task_dir, "Task package directory (holds task.yaml)")->required()->check(CLI::ExistingDirectory);
  eval_cmd->add_option("kernel", eval_args.kernel, "Candidate source file")->required()->check(CLI::ExistingFile);
  eval_cmd->add_flag("--json", eval_args.json, "Print the verdict as JSON");
  eval_cmd->add_option("--timeout", eval_args.timeout, "Wall-clock limit in seconds for each harness run");
  eval_cmd->add_option("--seed", eval_args.seed, "Seed for input generation");
  eval_cmd->add_flag("--profile", eval_args.profile, "cuda: Nsight Compute metrics of a passing kernel");
  eval_cmd->add_flag("--sanitize", eval_args.sanitize, "cuda: compute-sanitizer memcheck and racecheck, opencl: oclgrind; a finding fails");
  eval_cmd->footer("Exit status: 0 passed, 1 any failing verdict, 2 usage or task error.");

  RunArgs run_args;
  CLI::App* run_cmd = app.add_subcommand("run", "Evolve kernels for a task with an LLM (refine strategy)");
  run_cmd->add_option("task_dir", run_args.task_dir, "Task package directory");
  run_cmd->add_option("--resume", run_args.resume, "Continue the run stored in this run directory");
  run_cmd->add_option("--run-dir", run_args.run_dir, "Where the run is stored (default runs/<task>-<time>)");
  run_cmd->add_option("--model", run_args.model, "[provider:]model, e.g. gpt-4.1-mini or anthropic:claude-sonnet-4-5 (default: $KF_MODEL)");
  run_cmd->add_option("--budget", run_args.budget, "LLM samples to draw (default 10)");
  run_cmd->add_option("--max-cost", run_args.max_cost, "Stop issuing LLM requests once this many USD are spent");
  run_cmd->add_option("--concurrency", run_args.concurrency, "LLM requests in flight at once")->check(CLI::Range(1, 64));
  run_cmd->add_option("-j,--jobs", run_args.jobs, "Parallel compiles (default: one per hardware thread)");
  run_cmd->add_option("--strategy", run_args.strategy, "Search strategy (this build: refine)");
  run_cmd->add_option("--temperature", run_args.temperature, "Sampling temperature");
  run_cmd->add_option("--seed", run_args.seed, "Seed for input generation");
  run_cmd->add_option("--timeout", run_args.timeout, "Wall-clock limit in seconds for each harness run");
  run_cmd->add_flag("--profile", run_args.profile, "cuda: Nsight Compute metrics of passing kernels, fed into the next prompt");
  run_cmd->add_flag("--sanitize", run_args.sanitize, "cuda: compute-sanitizer, opencl: oclgrind on passing kernels; a finding fails them");
  run_cmd->footer("Environment: OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, KF_MODEL, KF_PRICES, KF_CACHE_DIR.");

  app.add_subcommand("devices", "List backends, toolchains and devices found on this machine");

  SuiteArgs suite_args;
  CLI::App* suite_cmd = app.add_subcommand("eval-suite", "Evaluate one candidate per task of a suite (e.g. an imported KernelBench level) and report correctness, fast_p and geomean speedups");
  suite_cmd->add_option("suite_dir", suite_args.suite_dir, "Folder holding task packages at any depth")->required()->check(CLI::ExistingDirectory);
  suite_cmd->add_option("candidates_dir", suite_args.candidates_dir, "Candidates: <task path>.py|.cu|.cpp, <task path>/candidate.*, or <task name>.*")->required()->check(CLI::ExistingDirectory);
  suite_cmd->add_flag("--json", suite_args.json, "Print rows and metrics as JSON");
  suite_cmd->add_option("--csv", suite_args.csv, "Also write one CSV row per problem to this file");
  suite_cmd->add_option("-j,--jobs", suite_args.jobs, "Parallel static checks and compiles (default: one per hardware thread)");
  suite_cmd->add_option("--timeout", suite_args.timeout, "Wall-clock limit in seconds for each harness run");
  suite_cmd->add_option("--seed", suite_args.seed, "Seed for input generation");

  ImportArgs kb_args;
  CLI::App* kb_cmd = app.add_subcommand("import-kernelbench", "Make torch task packages from a local KernelBench checkout");
  kb_cmd->add_option("kernelbench_dir", kb_args.source, "KernelBench checkout (or its KernelBench folder)")->required()->check(CLI::ExistingDirectory);
  kb_cmd->add_option("out_dir", kb_args.out, "Where the task packages go (OUT/level<N>/<id>_<name>/)")->required();
  kb_cmd->add_option("--level", kb_args.level, "Only this level (1-4)");
  kb_cmd->add_option("--problems", kb_args.problems, "Only these problem ids, e.g. 1,3,10-19 (with --level)");

  ImportArgs rkb_args;
  CLI::App* rkb_cmd = app.add_subcommand("import-robust-kbench", "Make torch task packages (forward and backward, every input configuration) from a local robust-kbench checkout");
  rkb_cmd->add_option("robust_kbench_dir", rkb_args.source, "robust-kbench checkout (or its tasks folder)")->required()->check(CLI::ExistingDirectory);
  rkb_cmd->add_option("out_dir", rkb_args.out, "Where the task packages go (OUT/<task>_fwd/, OUT/<task>_bwd/)")->required();
  rkb_cmd->add_option("--tasks", rkb_args.tasks, "Only these tasks (paths under tasks/, e.g. layernorm)")->delimiter(',');
  auto* fwd_flag = rkb_cmd->add_flag("--forward-only", rkb_args.forward_only, "Only the forward tasks");
  rkb_cmd->add_flag("--backward-only", rkb_args.backward_only, "Only the backward tasks")->excludes(fwd_flag);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  InstallSignalHandlers();
  if (*eval_cmd) return CmdEval(eval_args);
  if (*kb_cmd) {
    if (!kb_args.problems.empty() && !kb_args.level) {
      std::cerr << "kfoundry import-kernelbench: --problems needs --level (problem ids repeat across levels)\n";
      return kExitUsage;
    }
    return CmdImportKernelBench(kb_args);
  }
  if (*rkb_cmd) return CmdImportRobustKbench(rkb_args);
  if (*suite_cmd) return CmdEvalSuite(suite_args);
  if (*run_cmd) {
    if (run_args.resume.empty() == run_args.task_dir.empty()) {
      std::cerr << "kfoundry run: give either TASK_DIR or --resume RUN_DIR\n";
      return kExitUsage;
    }
    return CmdRun(run_args);
  }
  return CmdDevices();
}
