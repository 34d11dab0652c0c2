#include "exec/job.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <random>

#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/subprocess.h"

namespace kf::exec {
namespace fs = std::filesystem;
using core::ErrorCode;
using core::Expected;
using core::Json;
using core::MakeError;

namespace {

Expected<const Json*> Field(const Json& j, const char* name, Json::value_t type, std::string_view what) {
  auto it = j.find(name);
  if (it == j.end()) return MakeError(ErrorCode::kValidation, fmt::format("{}: no \"{}\"", what, name));
  const bool ok = it->type() == type ||
                  (type == Json::value_t::number_unsigned && it->is_number_integer() && it->get<std::int64_t>() >= 0);
  if (!ok) return MakeError(ErrorCode::kValidation, fmt::format("{}: \"{}\" is a {}", what, name, it->type_name()));
  return &*it;
}

Expected<std::string> StringField(const Json& j, const char* name, std::string_view what, std::size_t max_bytes) {
  KF_TRY(const Json* v, Field(j, name, Json::value_t::string, what));
  std::string s = v->get<std::string>();
  if (s.size() > max_bytes) {
    return MakeError(ErrorCode::kValidation,
                     fmt::format("{}: \"{}\" has {} bytes, more than the limit of {}", what, name, s.size(), max_bytes));
  }
  return s;
}

// A package path: relative, no "..", no hidden or empty components, no odd characters.
bool IsPackagePath(std::string_view p) {
  if (p.empty() || p.size() > 256 || p.front() == '/') return false;
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t end = std::min(p.find('/', start), p.size());
    const std::string_view part = p.substr(start, end - start);
    if (part.empty() || part.front() == '.') return false;
    for (char c : part) {
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_' && c != '.' && c != '+') return false;
    }
    start = end + 1;
  }
  return true;
}

std::string PackageHash(const std::map<std::string, std::string>& files) {
  std::string all;
  for (const auto& [path, content] : files) all += fmt::format("{}\n{}\n{}\n", path, content.size(), content);
  return core::Sha256Hex(all);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "9.0" from nvidia-smi → "sm90"; empty when there is no GPU or no nvidia-smi.
std::vector<std::string> CudaArchTags() {
  core::SubprocessSpec spec;
  spec.argv = {"nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"};
  spec.working_dir = fs::temp_directory_path();
  spec.limits.wall_timeout = std::chrono::seconds(20);
  auto r = core::RunSandboxed(spec);
  std::vector<std::string> tags;
  if (!r.ok() || !r->Succeeded()) return tags;
  std::size_t start = 0;
  const std::string& out = r->stdout_text;
  while (start < out.size()) {
    std::size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string cap = out.substr(start, end - start);
    cap.erase(std::remove_if(cap.begin(), cap.end(), [](char c) { return c == '.' || std::isspace(static_cast<unsigned char>(c)); }),
              cap.end());
    if (!cap.empty() && IsToken(cap, 8)) tags.push_back("cuda-sm" + cap);
    start = end + 1;
  }
  return tags;
}

}  // namespace

// --- settings and jobs ---------------------------------------------------------------------

EvalSettings EvalSettings::From(const eval::EvaluatorOptions& o) {
  EvalSettings s;
  s.seed = o.seed;
  s.timeout_seconds = o.timeout_seconds;
  s.profile = o.profile;
  s.sanitize = o.sanitize;
  return s;
}

void EvalSettings::ApplyTo(eval::EvaluatorOptions& o) const {
  o.seed = seed;
  o.timeout_seconds = timeout_seconds;
  o.profile = profile;
  o.sanitize = sanitize;
}

Json EvalSettings::ToJson() const {
  Json j = {{"seed", std::to_string(seed)}, {"profile", profile}, {"sanitize", sanitize}};
  if (timeout_seconds) j["timeout_seconds"] = *timeout_seconds;
  return j;
}

Expected<EvalSettings> EvalSettings::FromJson(const Json& j) {
  constexpr std::string_view kWhat = "job settings";
  if (!j.is_object()) return MakeError(ErrorCode::kValidation, "job settings: not an object");
  EvalSettings s;
  KF_TRY(std::string seed, StringField(j, "seed", kWhat, 24));
  char* end = nullptr;
  errno = 0;
  s.seed = std::strtoull(seed.c_str(), &end, 10);
  if (seed.empty() || errno != 0 || *end != '\0') return MakeError(ErrorCode::kValidation, "job settings: \"seed\" is not a number");
  KF_TRY(const Json* profile, Field(j, "profile", Json::value_t::boolean, kWhat));
  KF_TRY(const Json* sanitize, Field(j, "sanitize", Json::value_t::boolean, kWhat));
  s.profile = profile->get<bool>();
  s.sanitize = sanitize->get<bool>();
  if (auto it = j.find("timeout_seconds"); it != j.end()) {
    if (!it->is_number() || !(it->get<double>() > 0) || it->get<double>() > 24 * 3600) {
      return MakeError(ErrorCode::kValidation, "job settings: \"timeout_seconds\" must be a number of seconds in (0, 86400]");
    }
    s.timeout_seconds = it->get<double>();
  }
  return s;
}

Json Job::ToJson() const {
  return {{"id", id}, {"task", task_hash}, {"target", target}, {"source", source}, {"settings", settings.ToJson()}};
}

Expected<Job> Job::FromJson(const Json& j) {
  constexpr std::string_view kWhat = "job";
  if (!j.is_object()) return MakeError(ErrorCode::kValidation, "job: not a JSON object");
  Job job;
  KF_TRY(job.id, StringField(j, "id", kWhat, 200));
  KF_TRY(job.task_hash, StringField(j, "task", kWhat, 64));
  KF_TRY(job.target, StringField(j, "target", kWhat, 64));
  KF_TRY(job.source, StringField(j, "source", kWhat, kMaxSourceBytes));
  if (!IsToken(job.id, 200)) return MakeError(ErrorCode::kValidation, "job: \"id\" has characters outside [A-Za-z0-9-_.:]");
  if (job.task_hash.size() != 64 || !IsToken(job.task_hash)) {
    return MakeError(ErrorCode::kValidation, "job: \"task\" is not a sha256 hex digest");
  }
  if (!IsToken(job.target, 64)) return MakeError(ErrorCode::kValidation, "job: \"target\" is not a hardware tag");
  KF_TRY(const Json* settings, Field(j, "settings", Json::value_t::object, kWhat));
  KF_TRY(job.settings, EvalSettings::FromJson(*settings));
  return job;
}

Expected<Job> Job::Parse(std::string_view text) {
  if (text.size() > kMaxJobBytes) {
    return MakeError(ErrorCode::kValidation, fmt::format("job: {} bytes, more than the limit of {}", text.size(), kMaxJobBytes));
  }
  KF_TRY(Json j, core::ParseJson(text, "a job"));
  return FromJson(j);
}

bool IsToken(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max || s.front() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' || c == ':';
  });
}

JobResult DeadLetterResult(const std::string& job_id, long long takes, const std::string& last_worker) {
  JobResult r;
  r.job_id = job_id;
  r.worker = "dead-letter";
  r.result.status = eval::Status::kWorkerLost;
  r.result.message = fmt::format("the job was taken {} times and no worker lived to answer it{}; not run again", takes,
                                 last_worker.empty() ? std::string() : fmt::format(" (the last was {})", last_worker));
  return r;
}

Json JobResult::ToJson() const { return {{"job", job_id}, {"worker", worker}, {"result", result.ToJson()}}; }

Expected<JobResult> JobResult::Parse(std::string_view text) {
  KF_TRY(Json j, core::ParseJson(text, "a job result"));
  if (!j.is_object()) return MakeError(ErrorCode::kValidation, "job result: not a JSON object");
  JobResult r;
  KF_TRY(r.job_id, StringField(j, "job", "job result", 200));
  KF_TRY(r.worker, StringField(j, "worker", "job result", 256));
  KF_TRY(const Json* result, Field(j, "result", Json::value_t::object, "job result"));
  KF_TRY(r.result, eval::EvalResult::FromJson(*result));
  return r;
}

std::string RecoverJobId(std::string_view text) {
  if (text.size() > 2 * kMaxJobBytes) return "";
  auto j = core::ParseJson(text, "a job");
  if (!j.ok() || !j->is_object()) return "";
  auto id = j->find("id");
  if (id == j->end() || !id->is_string() || !IsToken(id->get_ref<const std::string&>(), 200)) return "";
  return id->get<std::string>();
}

std::string JobId(std::string_view run_key, std::string_view task_hash, std::string_view target, std::string_view source,
                  const EvalSettings& settings) {
  const std::string digest =
      core::Sha256Hex(fmt::format("{}\n{}\n{}\n{}", task_hash, target, settings.ToJson().dump(), source));
  return fmt::format("{}:{}:{}", run_key, target, digest.substr(0, 24));
}

// --- task packages ---------------------------------------------------------------------------

// Contents travel as base64: a task's files may be any bytes, JSON strings only UTF-8.
Json TaskPackage::ToJson() const {
  Json f = Json::object();
  for (const auto& [path, content] : files) f[path] = core::Base64Encode(content);
  return {{"hash", hash}, {"files", f}};
}

Expected<TaskPackage> TaskPackage::FromJson(const Json& j) {
  constexpr std::string_view kWhat = "task package";
  if (!j.is_object()) return MakeError(ErrorCode::kValidation, "task package: not a JSON object");
  TaskPackage p;
  KF_TRY(p.hash, StringField(j, "hash", kWhat, 64));
  KF_TRY(const Json* files, Field(j, "files", Json::value_t::object, kWhat));
  if (files->size() > kMaxPackageFiles) {
    return MakeError(ErrorCode::kValidation, fmt::format("task package: {} files, more than {}", files->size(), kMaxPackageFiles));
  }
  std::size_t total = 0;
  for (const auto& [path, content] : files->items()) {
    if (!IsPackagePath(path)) return MakeError(ErrorCode::kValidation, fmt::format("task package: file name '{}' is not allowed", path));
    auto bytes = content.is_string() ? core::Base64Decode(content.get_ref<const std::string&>()) : std::nullopt;
    if (!bytes) return MakeError(ErrorCode::kValidation, fmt::format("task package: '{}' is not base64", path));
    total += bytes->size();
    if (total > kMaxPackageBytes) return MakeError(ErrorCode::kValidation, "task package: larger than the limit of 64 MiB");
    p.files.emplace(path, std::move(*bytes));
  }
  if (!p.files.count("task.yaml")) return MakeError(ErrorCode::kValidation, "task package: no task.yaml");
  if (PackageHash(p.files) != p.hash) return MakeError(ErrorCode::kValidation, "task package: its files do not match its hash");
  return p;
}

Expected<TaskPackage> PackTask(const task::Task& task) {
  TaskPackage p;
  std::size_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(task.dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name.front() == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    const std::string rel = fs::relative(it->path(), task.dir).generic_string();
    if (!IsPackagePath(rel)) {
      return MakeError(ErrorCode::kValidation,
                       fmt::format("{}: a file name a remote worker would refuse (letters, digits, -_.+ only)", it->path().string()));
    }
    KF_TRY(std::string content, core::ReadFile(it->path()));
    total += content.size();
    if (total > kMaxPackageBytes || p.files.size() >= kMaxPackageFiles) {
      return MakeError(ErrorCode::kValidation, fmt::format("{}: more than {} files or 64 MiB to send to remote workers",
                                                           task.dir.string(), kMaxPackageFiles));
    }
    p.files.emplace(rel, std::move(content));
  }
  if (ec) return MakeError(ErrorCode::kIo, fmt::format("{}: {}", task.dir.string(), ec.message()));
  p.hash = PackageHash(p.files);
  return p;
}

Expected<task::Task> UnpackTask(const TaskPackage& package, const fs::path& root) {
  const fs::path dir = root / package.hash;
  std::error_code ec;
  if (!fs::exists(dir / ".complete", ec)) {
    KF_TRY(fs::path tmp, core::MakeUniqueDir(root, ".unpack-"));
    for (const auto& [path, content] : package.files) {
      fs::create_directories((tmp / path).parent_path(), ec);
      KF_TRY_VOID(core::WriteFileAtomic(tmp / path, content));
    }
    KF_TRY_VOID(core::WriteFileAtomic(tmp / ".complete", package.hash));
    fs::rename(tmp, dir, ec);  // another worker may have won: its copy is the same files
    if (ec) fs::remove_all(tmp, ec);
  }
  return task::LoadTask(dir);
}

std::vector<std::string> TaskTargets(const task::Task& task) {
  if (!task.targets.empty()) return task.targets;
  return {std::string(task::BackendName(task.backend))};
}

// --- verdicts over several targets ------------------------------------------------------------

eval::EvalResult CombineTargets(const std::vector<std::pair<std::string, eval::EvalResult>>& verdicts) {
  KF_CHECK(!verdicts.empty()) << "no verdicts to combine";
  if (verdicts.size() == 1) return verdicts.front().second;
  for (const auto& [target, r] : verdicts) {
    if (r.status != eval::Status::kPassed) {
      eval::EvalResult failed = r;
      failed.message = fmt::format("on {}: {}", target, r.message);
      failed.timings.clear();
      return failed;
    }
  }
  eval::EvalResult out = verdicts.front().second;
  out.timings.clear();
  out.profile.clear();
  std::vector<std::string> parts;
  for (const auto& [target, r] : verdicts) {
    for (eval::ShapeTiming t : r.timings) {
      t.shape_label = target + " " + t.shape_label;
      out.timings.push_back(std::move(t));
    }
    parts.push_back(fmt::format("{} {:.2f}x", target, r.speedup));
  }
  eval::SetGeometricMeans(out);
  out.message = fmt::format("correct on {} targets; speedup {:.2f}x, the geometric mean over (target, shape) ({})",
                            verdicts.size(), out.speedup, fmt::join(parts, ", "));
  return out;
}

// --- the worker's hardware -------------------------------------------------------------------

Json WorkerHardware::ToJson() const {
  Json tc = Json::array();
  for (const auto& t : toolchains) {
    tc.push_back({{"backend", t.backend}, {"available", t.available}, {"compiler", t.compiler},
                  {"version", t.version}, {"note", t.note}});
  }
  return {{"tags", tags}, {"toolchains", tc}};
}

WorkerHardware DetectWorkerHardware() {
  WorkerHardware hw;
  hw.toolchains = eval::DetectToolchains();
  utsname u{};
  const std::string arch = ::uname(&u) == 0 ? Lower(u.machine) : "unknown";
  for (const auto& t : hw.toolchains) {
    if (!t.available) continue;
    hw.tags.push_back(t.backend);
    if (t.backend == "cpu") hw.tags.push_back("cpu-" + arch);
    if (t.backend == "cuda") {
      for (auto& tag : CudaArchTags()) hw.tags.push_back(std::move(tag));
    }
  }
  std::sort(hw.tags.begin(), hw.tags.end());
  hw.tags.erase(std::unique(hw.tags.begin(), hw.tags.end()), hw.tags.end());
  return hw;
}

bool CanServe(const std::vector<std::string>& tags, std::string_view target, task::Backend backend) {
  const std::string b(task::BackendName(backend));
  const bool has_target = std::find(tags.begin(), tags.end(), target) != tags.end();
  const bool has_backend = std::any_of(tags.begin(), tags.end(), [&](const std::string& t) {
    return t == b || t.rfind(b + "-", 0) == 0;
  });
  return has_target && has_backend;
}

// --- the worker's evaluations ----------------------------------------------------------------

struct JobRunner::Slot {
  std::uint64_t last_used = 0;  // JobRunner::mu_
  std::mutex mu;  // held while the evaluator is made
  task::Task task;
  std::unique_ptr<eval::Evaluator> evaluator;
  std::optional<core::Error> error;  // the task or its reference failed: every job's verdict...
  std::chrono::steady_clock::time_point error_at;  // ...for a minute, then it is tried again
};

JobRunner::JobRunner(Options options, FetchPackage fetch) : options_(std::move(options)), fetch_(std::move(fetch)) {}
JobRunner::~JobRunner() = default;

namespace {
core::Error WhyNot(const core::Error& setup) {
  return MakeError(setup.code, "the worker could not set up the task: " + setup.message);
}
}  // namespace

Expected<std::shared_ptr<JobRunner::Slot>> JobRunner::SlotFor(const Job& job) {
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mu_);
    const std::string key = job.task_hash + "|" + job.settings.ToJson().dump();
    auto& s = slots_[key];
    if (!s) s = std::make_shared<Slot>();
    s->last_used = ++uses_;
    slot = s;
    // A long-lived worker serves many runs: the evaluators of the least recently used tasks go
    // (one in use elsewhere lives on through its shared_ptr until that job ends).
    while (slots_.size() > kMaxEvaluators) {
      auto oldest = std::min_element(slots_.begin(), slots_.end(),
                                     [](const auto& a, const auto& b) { return a.second->last_used < b.second->last_used; });
      slots_.erase(oldest);
    }
  }
  std::lock_guard lock(slot->mu);
  // A failure may be the machine's for a moment (a reference run timed out under load): a task
  // that failed is set up again after a minute rather than never.
  if (slot->error && std::chrono::steady_clock::now() - slot->error_at > std::chrono::minutes(1)) slot->error.reset();
  if (slot->error) return WhyNot(*slot->error);  // a copy, taken under the slot's lock
  if (slot->evaluator) return slot;
  auto made = [&]() -> Expected<void> {
    KF_TRY(TaskPackage package, fetch_(job.task_hash));
    if (package.hash != job.task_hash) return MakeError(ErrorCode::kValidation, "the fetched task package has another hash");
    KF_TRY(slot->task, UnpackTask(package, options_.cache_dir / "tasks"));
    if (!CanServe(options_.tags, job.target, slot->task.backend)) {  // before its reference is built and run
      return MakeError(ErrorCode::kInvalidArgument, fmt::format("this worker has no {} backend (it serves {})",
                                                                task::BackendName(slot->task.backend),
                                                                fmt::join(options_.tags, ", ")));
    }
    eval::EvaluatorOptions o;
    o.cache_dir = options_.cache_dir;
    o.work_dir = options_.work_dir;
    o.cancel = options_.cancel;
    job.settings.ApplyTo(o);
    KF_TRY(slot->evaluator, eval::MakeEvaluator(slot->task, o));
    return core::Ok();
  }();
  if (!made.ok()) {
    // A package that could not be fetched may be fetched next time; a task that does not load
    // or whose reference fails will fail the same way for every job.
    if (made.error().code == ErrorCode::kNetwork || made.error().code == ErrorCode::kNotFound) {
      return MakeError(made.error().code, "the worker could not get the task: " + made.error().message);
    }
    slot->error = made.error();
    slot->error_at = std::chrono::steady_clock::now();
    return WhyNot(*slot->error);
  }
  return slot;
}

eval::EvalResult JobRunner::Evaluate(const Job& job) {
  // Fault injection for the tests of dead-lettering: a worker that takes a job whose source
  // holds this marker dies as a driver crash or the OOM killer would take it down.
  if (const char* marker = std::getenv("KF_FAULT_ABORT_ON"); marker != nullptr && *marker != '\0' &&
                                                             job.source.find(marker) != std::string::npos) {
    core::LogError("KF_FAULT_ABORT_ON: job {} holds the marker; this worker aborts", job.id);
    std::abort();
  }
  auto refuse = [](std::string message, std::string log = "") {
    eval::EvalResult r;
    r.status = eval::Status::kRuntimeError;
    r.message = std::move(message);
    r.log = std::move(log);
    return r;
  };
  if (std::find(options_.tags.begin(), options_.tags.end(), job.target) == options_.tags.end()) {
    return refuse(fmt::format("this worker does not serve target {} (it serves {})", job.target, fmt::join(options_.tags, ", ")));
  }
  auto slot = SlotFor(job);
  if (!slot.ok()) {
    // A task that could not be set up: the first line says why, the whole of it (a reference's
    // build log) goes in the log; a package that could not be fetched says it in one line.
    const core::Error& e = slot.error();
    const bool fetch = e.code == ErrorCode::kNetwork || e.code == ErrorCode::kNotFound;
    return refuse(e.message.substr(0, e.message.find('\n')), fetch ? "" : e.message);
  }
  eval::Evaluator& evaluator = *(*slot)->evaluator;
  eval::Prepared prepared;
  {
    std::shared_lock cores(cores_mu_);
    prepared = evaluator.Prepare(job.source);
  }
  if (!prepared.ready) return prepared.result;
  std::lock_guard device(device_mu_);
  std::unique_lock<std::shared_mutex> cores(cores_mu_, std::defer_lock);
  if (evaluator.TimesOnHostCores()) cores.lock();
  return evaluator.Measure(prepared);
}

}  // namespace kf::exec
