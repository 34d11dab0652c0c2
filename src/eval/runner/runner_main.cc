// kfoundry runner: the trusted host program around one entry function (the candidate's or the
// reference's). The builder compiles this file followed by the backend's device fragment
// (device_cpu.cc, device_cuda.cu, device_opencl.cc: the KfDevice* functions below) and a generated shim that
// defines kf_call_entry(); it never links kfoundry itself.
//
// Protocol (see eval/harness.h for the parent side):
//   argv[1] plan file, argv[2] data directory holding d<shape>_<trial>.bin files.
//   env KF_RESULT_FD: the private result channel; KF_NONCE: this run's completion nonce. Both
//   are read, wiped from the environment block and unset before any kernel code runs.
//   Channel records, one per line:
//     P c <shape> <trial> | P w <shape> | P t <shape> | P a <shape>    progress
//     C <shape> <trial> <ms>        one correctness call
//     W <shape> <ms>                all warm-up calls of a shape
//     T <shape> <n> <ms>...         the timed trials of a shape
//     (timing items name the outputs' after-timing region: its poison refills the outputs before
//     every call, and with write_after the last call's outputs are copied back into it)
//     D <nonce> <flush_ms> <correctness_ms> <timing_ms>   completion marker (last line)
//   A runner that gives up (bad plan, device error) prints "kfoundry runner: <why>" on stderr
//   and exits with status 2; the parent quotes that line.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

void kf_call_entry(void* const* buffers, const double* scalars);

// The device API, one definition per backend. Buffers handed to the entry are "device"
// buffers: on cpu the host memory itself, on a GPU copies the runner moves explicitly.
void KfDeviceInit();
// A device copy of a whole data file mapping (inputs, poisoned outputs and their guards), so
// offsets inside it are the same as on the host; cpu returns `host` itself.
void* KfDeviceMirror(unsigned char* host, std::size_t bytes);
// Copies a mirror back over the host mapping (outputs, guards and inputs alike) so the parent's
// checks see what the kernel did; then frees it. cpu: nothing to do.
// The handle the entry gets for `bytes` at `offset` inside a mirror, followed by `guard_bytes`
// of the parent's guard pattern: a pointer on cpu and cuda, a buffer of its own on opencl; it
// lives as long as the mirror, and WriteBack brings the guard bytes back too.
void* KfDeviceView(void* mirror, std::size_t offset, std::size_t bytes, std::size_t guard_bytes);
void KfDeviceWriteBack(unsigned char* host, void* mirror, std::size_t bytes);
void KfDeviceFreeMirror(void* mirror);
void* KfDeviceAlloc(std::size_t bytes);
void KfDeviceFree(void* buffer);
void KfDeviceUpload(void* buffer, const void* host, std::size_t bytes);
void KfDeviceDownload(void* host, const void* buffer, std::size_t bytes);
// Evicts the buffers (or the whole last-level cache) so the next call starts cold.
void KfDeviceFlush(const std::vector<std::pair<void*, std::size_t>>& buffers);
// One complete call of the entry (all its work finished and checked); its time in ms.
double KfDeviceCall(void* const* buffers, const double* scalars);

namespace {

using KfClock = std::chrono::steady_clock;

int kf_channel = -1;
std::string kf_nonce;

double KfMs(KfClock::time_point a, KfClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void KfEmit(const std::string& line) {
  const char* p = line.data();
  std::size_t n = line.size();
  while (n > 0) {
    ssize_t w = ::write(kf_channel, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

std::string KfFormat(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

[[noreturn]] void KfDie(const std::string& why) {
  std::fprintf(stderr, "kfoundry runner: %s\n", why.c_str());
  _exit(2);
}

enum KfRole { kKfInput = 0, kKfOutput = 1, kKfScalar = 2 };
// Guard bytes after every output in the data files (eval::kCanaryBytes in harness.h).
constexpr std::size_t kKfCanaryBytes = 256;

struct KfPlan {
  int nargs = 0;
  std::vector<int> role;
  int warmup = 0, min_trials = 1, max_trials = 1, flush = 0;
  double max_seconds = 0;
  std::vector<std::vector<double>> scalars;          // [shape][arg]
  std::vector<std::vector<std::uint64_t>> bytes;     // [shape][arg]
  struct Correct { int shape, trial; std::uint64_t size; std::vector<std::int64_t> offset; };
  struct Timing { int shape, write_after; std::uint64_t size; std::vector<std::int64_t> offset, after; };
  std::vector<Correct> correct;
  std::vector<Timing> timing;
};

KfPlan KfReadPlan(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) KfDie(std::string("cannot open plan ") + path);
  KfPlan p;
  char magic[16] = {0};
  auto need = [&](int got, int want) { if (got != want) KfDie("malformed plan"); };
  need(std::fscanf(f, "%15s", magic), 1);
  if (std::strcmp(magic, "KFPLAN1") != 0) KfDie("plan has the wrong version");
  need(std::fscanf(f, "%d", &p.nargs), 1);
  p.role.resize(p.nargs);
  for (int& r : p.role) need(std::fscanf(f, "%d", &r), 1);
  need(std::fscanf(f, "%d %d %d %lf %d", &p.warmup, &p.min_trials, &p.max_trials, &p.max_seconds, &p.flush), 5);
  int nshapes = 0;
  need(std::fscanf(f, "%d", &nshapes), 1);
  p.scalars.assign(nshapes, std::vector<double>(p.nargs));
  p.bytes.assign(nshapes, std::vector<std::uint64_t>(p.nargs));
  for (int s = 0; s < nshapes; ++s) {
    for (double& v : p.scalars[s]) need(std::fscanf(f, "%lf", &v), 1);
    for (std::uint64_t& b : p.bytes[s]) need(std::fscanf(f, "%lu", &b), 1);
  }
  int n = 0;
  need(std::fscanf(f, "%d", &n), 1);
  for (int i = 0; i < n; ++i) {
    KfPlan::Correct c;
    need(std::fscanf(f, "%d %d %lu", &c.shape, &c.trial, &c.size), 3);
    c.offset.resize(p.nargs);
    for (auto& o : c.offset) need(std::fscanf(f, "%ld", &o), 1);
    p.correct.push_back(c);
  }
  need(std::fscanf(f, "%d", &n), 1);
  for (int i = 0; i < n; ++i) {
    KfPlan::Timing t;
    need(std::fscanf(f, "%d %d %lu", &t.shape, &t.write_after, &t.size), 3);
    t.offset.resize(p.nargs);
    t.after.resize(p.nargs);
    for (auto& o : t.offset) need(std::fscanf(f, "%ld", &o), 1);
    for (auto& o : t.after) need(std::fscanf(f, "%ld", &o), 1);
    p.timing.push_back(t);
  }
  std::fclose(f);
  return p;
}

unsigned char* KfMap(const std::string& path, std::uint64_t size) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) KfDie("cannot open data file " + path);
  void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) KfDie("cannot map data file " + path);
  return static_cast<unsigned char*>(m);
}

}  // namespace

int main(int argc, char** argv) {
  // Take the channel and the nonce before any kernel code can look at the environment; the
  // value is wiped in place too, because /proc/self/environ would still show it after unsetenv.
  char* fd_text = std::getenv("KF_RESULT_FD");
  char* nonce_text = std::getenv("KF_NONCE");
  if (fd_text == nullptr || nonce_text == nullptr || argc != 3) KfDie("must be started by kfoundry");
  kf_channel = std::atoi(fd_text);
  kf_nonce = nonce_text;
  std::memset(nonce_text, 0, std::strlen(nonce_text));
  std::memset(fd_text, 0, std::strlen(fd_text));
  ::unsetenv("KF_NONCE");
  ::unsetenv("KF_RESULT_FD");
  if (kf_channel < 3 || ::fcntl(kf_channel, F_GETFD) < 0) KfDie("the result channel is not open");
  ::fcntl(kf_channel, F_SETFD, FD_CLOEXEC);

  const KfPlan plan = KfReadPlan(argv[1]);
  KfDeviceInit();
  const std::string dir = argv[2];
  auto data_path = [&](int shape, int trial) { return dir + KfFormat("/d%d_%d.bin", shape, trial); };
  std::vector<void*> ptr(plan.nargs, nullptr);
  std::vector<double> scalars(plan.nargs, 0.0);

  // Correctness: every (shape, trial) on its own fresh inputs, in a device mirror of the
  // shared mapping that is copied back whole, so the parent sees outputs, guards and any write
  // to inputs. The previous call's mapping and mirror stay alive until the next ones exist, so
  // consecutive calls never see the same addresses (a kernel keyed on pointers cannot replay a
  // result).
  const auto correctness_start = KfClock::now();
  struct Region { unsigned char* host; void* mirror; std::uint64_t size; };
  Region previous{nullptr, nullptr, 0};
  auto release = [](const Region& r) {
    if (r.host == nullptr) return;
    KfDeviceFreeMirror(r.mirror);
    ::munmap(r.host, r.size);
  };
  for (const auto& c : plan.correct) {
    KfEmit(KfFormat("P c %d %d\n", c.shape, c.trial));
    unsigned char* m = KfMap(data_path(c.shape, c.trial), c.size);
    void* d = KfDeviceMirror(m, c.size);
    for (int a = 0; a < plan.nargs; ++a) {
      const std::size_t guard = plan.role[a] == kKfOutput ? kKfCanaryBytes : 0;
      ptr[a] = c.offset[a] >= 0 ? KfDeviceView(d, c.offset[a], plan.bytes[c.shape][a], guard) : nullptr;
      scalars[a] = plan.scalars[c.shape][a];
    }
    const double ms = KfDeviceCall(ptr.data(), scalars.data());
    KfDeviceWriteBack(m, d, c.size);
    KfEmit(KfFormat("C %d %d %.9g\n", c.shape, c.trial, ms));
    release(previous);
    previous = {m, d, c.size};
  }
  release(previous);
  const auto timing_start = KfClock::now();

  // Timing: private device buffers filled from trial 0, outputs re-poisoned before every call
  // (so skipping work is visible), caches flushed outside the timed region.
  double flush_ms = 0;
  for (const auto& t : plan.timing) {
    KfEmit(KfFormat("P w %d\n", t.shape));
    unsigned char* m = KfMap(data_path(t.shape, 0), t.size);
    std::vector<std::pair<void*, std::size_t>> buffers;
    std::vector<std::pair<void*, std::size_t>> outputs;  // (buffer, arg whose after-region poisons it)
    for (int a = 0; a < plan.nargs; ++a) {
      scalars[a] = plan.scalars[t.shape][a];
      ptr[a] = nullptr;
      if (plan.role[a] == kKfScalar) continue;
      const std::size_t n = plan.bytes[t.shape][a];
      void* b = KfDeviceAlloc(n);
      if (plan.role[a] == kKfInput) KfDeviceUpload(b, m + t.offset[a], n);
      if (plan.role[a] == kKfOutput) outputs.push_back({b, static_cast<std::size_t>(a)});
      buffers.push_back({b, n});
      ptr[a] = b;
    }
    auto repoison = [&] {
      for (const auto& [b, a] : outputs) KfDeviceUpload(b, m + t.after[a], plan.bytes[t.shape][a]);
    };
    double warm_ms = 0;
    for (int w = 0; w < plan.warmup; ++w) {
      repoison();
      warm_ms += KfDeviceCall(ptr.data(), scalars.data());
    }
    KfEmit(KfFormat("W %d %.9g\n", t.shape, warm_ms));
    KfEmit(KfFormat("P t %d\n", t.shape));
    std::vector<double> times;
    const auto shape_start = KfClock::now();
    while (static_cast<int>(times.size()) < plan.max_trials) {
      if (static_cast<int>(times.size()) >= plan.min_trials &&
          KfMs(shape_start, KfClock::now()) >= plan.max_seconds * 1000.0) {
        break;
      }
      repoison();
      if (plan.flush != 0) {
        const auto f0 = KfClock::now();
        KfDeviceFlush(buffers);
        flush_ms += KfMs(f0, KfClock::now());
      }
      times.push_back(KfDeviceCall(ptr.data(), scalars.data()));
    }
    if (t.write_after != 0) {
      KfEmit(KfFormat("P a %d\n", t.shape));
      for (const auto& [b, a] : outputs) KfDeviceDownload(m + t.after[a], b, plan.bytes[t.shape][a]);
    }
    std::string rec = KfFormat("T %d %zu", t.shape, times.size());
    for (double v : times) rec += KfFormat(" %.9g", v);
    KfEmit(rec + "\n");
    for (const auto& [b, n] : buffers) KfDeviceFree(b);
    ::munmap(m, t.size);
  }
  const auto end = KfClock::now();
  KfEmit(KfFormat("D %s %.9g %.9g %.9g\n", kf_nonce.c_str(), flush_ms, KfMs(correctness_start, timing_start),
                  KfMs(timing_start, end)));
  std::fflush(stdout);
  // No exit handlers: nothing the kernel registered may run after the completion marker.
  _exit(0);
}
