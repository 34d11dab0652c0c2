// kfoundry runner, OpenCL device: appended to runner_main.cc (it uses that file's helpers).
// Compiled by g++ at evaluation time with the runner and the generated shim, linked with
// libOpenCL only. The device layer owns one context and one in-order queue (profiling enabled)
// on the device KF_OPENCL_DEVICE names; the shim hands them to the entry with one cl_mem per
// array argument. Any OpenCL failure ends the runner with the call and the error name
// ("clFinish after the entry function failed: CL_OUT_OF_RESOURCES (-5)").
//
// Memory: a correctness call gets one device buffer per argument, filled from the shared data
// region together with the parent's guard bytes after each output, and read back whole (inputs
// too), so the parent's canary and mutation checks work unchanged. Timing buffers carry kKfClGuardBytes of their own, checked
// when they are freed. Timing: host steady_clock from the entry call until clFinish returns;
// the candidate enqueues its own work, so no event can bracket it.
//
// Device choice, which must match eval::SelectOpenClDevice (src/eval/opencl_platform.cc):
// KF_OPENCL_DEVICE="PLATFORM_SUBSTRING:DEVICE_INDEX", the substring matched case-insensitively
// against the names of platforms that have devices; unset or empty: the first GPU, else the
// first device.
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace {

/// Bytes of guard pattern after every timing buffer.
constexpr std::size_t kKfClGuardBytes = 256;
constexpr unsigned char kKfClGuardByte = 0xA5;

const char* KfClErrorName(cl_int code) {
  switch (code) {
#define KF_CL_ERROR(name) \
  case name: return #name;
    KF_CL_ERROR(CL_DEVICE_NOT_FOUND)
    KF_CL_ERROR(CL_DEVICE_NOT_AVAILABLE)
    KF_CL_ERROR(CL_COMPILER_NOT_AVAILABLE)
    KF_CL_ERROR(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    KF_CL_ERROR(CL_OUT_OF_RESOURCES)
    KF_CL_ERROR(CL_OUT_OF_HOST_MEMORY)
    KF_CL_ERROR(CL_PROFILING_INFO_NOT_AVAILABLE)
    KF_CL_ERROR(CL_MEM_COPY_OVERLAP)
    KF_CL_ERROR(CL_IMAGE_FORMAT_MISMATCH)
    KF_CL_ERROR(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    KF_CL_ERROR(CL_BUILD_PROGRAM_FAILURE)
    KF_CL_ERROR(CL_MAP_FAILURE)
    KF_CL_ERROR(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    KF_CL_ERROR(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    KF_CL_ERROR(CL_COMPILE_PROGRAM_FAILURE)
    KF_CL_ERROR(CL_LINKER_NOT_AVAILABLE)
    KF_CL_ERROR(CL_LINK_PROGRAM_FAILURE)
    KF_CL_ERROR(CL_DEVICE_PARTITION_FAILED)
    KF_CL_ERROR(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    KF_CL_ERROR(CL_INVALID_VALUE)
    KF_CL_ERROR(CL_INVALID_DEVICE_TYPE)
    KF_CL_ERROR(CL_INVALID_PLATFORM)
    KF_CL_ERROR(CL_INVALID_DEVICE)
    KF_CL_ERROR(CL_INVALID_CONTEXT)
    KF_CL_ERROR(CL_INVALID_QUEUE_PROPERTIES)
    KF_CL_ERROR(CL_INVALID_COMMAND_QUEUE)
    KF_CL_ERROR(CL_INVALID_HOST_PTR)
    KF_CL_ERROR(CL_INVALID_MEM_OBJECT)
    KF_CL_ERROR(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    KF_CL_ERROR(CL_INVALID_IMAGE_SIZE)
    KF_CL_ERROR(CL_INVALID_SAMPLER)
    KF_CL_ERROR(CL_INVALID_BINARY)
    KF_CL_ERROR(CL_INVALID_BUILD_OPTIONS)
    KF_CL_ERROR(CL_INVALID_PROGRAM)
    KF_CL_ERROR(CL_INVALID_PROGRAM_EXECUTABLE)
    KF_CL_ERROR(CL_INVALID_KERNEL_NAME)
    KF_CL_ERROR(CL_INVALID_KERNEL_DEFINITION)
    KF_CL_ERROR(CL_INVALID_KERNEL)
    KF_CL_ERROR(CL_INVALID_ARG_INDEX)
    KF_CL_ERROR(CL_INVALID_ARG_VALUE)
    KF_CL_ERROR(CL_INVALID_ARG_SIZE)
    KF_CL_ERROR(CL_INVALID_KERNEL_ARGS)
    KF_CL_ERROR(CL_INVALID_WORK_DIMENSION)
    KF_CL_ERROR(CL_INVALID_WORK_GROUP_SIZE)
    KF_CL_ERROR(CL_INVALID_WORK_ITEM_SIZE)
    KF_CL_ERROR(CL_INVALID_GLOBAL_OFFSET)
    KF_CL_ERROR(CL_INVALID_EVENT_WAIT_LIST)
    KF_CL_ERROR(CL_INVALID_EVENT)
    KF_CL_ERROR(CL_INVALID_OPERATION)
    KF_CL_ERROR(CL_INVALID_GL_OBJECT)
    KF_CL_ERROR(CL_INVALID_BUFFER_SIZE)
    KF_CL_ERROR(CL_INVALID_MIP_LEVEL)
    KF_CL_ERROR(CL_INVALID_GLOBAL_WORK_SIZE)
    KF_CL_ERROR(CL_INVALID_PROPERTY)
    KF_CL_ERROR(CL_INVALID_IMAGE_DESCRIPTOR)
    KF_CL_ERROR(CL_INVALID_COMPILER_OPTIONS)
    KF_CL_ERROR(CL_INVALID_LINKER_OPTIONS)
    KF_CL_ERROR(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef KF_CL_ERROR
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "an unlisted OpenCL error";
  }
}

[[noreturn]] void KfClDie(const std::string& why) { KfDie("opencl: " + why); }

void KfClCheck(cl_int err, const char* call) {
  if (err != CL_SUCCESS) KfClDie(std::string(call) + " failed: " + KfClErrorName(err) + " (" + std::to_string(err) + ")");
}

std::string KfClPlatformName(cl_platform_id platform) {
  char name[512] = {0};
  KfClCheck(clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof name - 1, name, nullptr), "clGetPlatformInfo(CL_PLATFORM_NAME)");
  return name;
}

std::string KfClLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct KfClPlatform {
  cl_platform_id id;
  std::string name;
  std::vector<cl_device_id> devices;
};

/// Platforms with at least one device, in loader order.
std::vector<KfClPlatform> KfClPlatforms() {
  cl_uint count = 0;
  cl_int err = clGetPlatformIDs(0, nullptr, &count);
  if (err != CL_SUCCESS || count == 0) {
    KfClDie(std::string("no OpenCL platform found (clGetPlatformIDs: ") + (err != CL_SUCCESS ? KfClErrorName(err) : "none") +
            "); install one, or set KF_OPENCL_VENDOR_LIB to the vendor's library (e.g. libnvidia-opencl.so.1)");
  }
  std::vector<cl_platform_id> ids(count);
  KfClCheck(clGetPlatformIDs(count, ids.data(), nullptr), "clGetPlatformIDs");
  std::vector<KfClPlatform> out;
  for (cl_platform_id id : ids) {
    cl_uint n = 0;
    if (clGetDeviceIDs(id, CL_DEVICE_TYPE_ALL, 0, nullptr, &n) != CL_SUCCESS || n == 0) continue;
    KfClPlatform p{id, KfClPlatformName(id), std::vector<cl_device_id>(n)};
    KfClCheck(clGetDeviceIDs(id, CL_DEVICE_TYPE_ALL, n, p.devices.data(), nullptr), "clGetDeviceIDs");
    out.push_back(std::move(p));
  }
  if (out.empty()) KfClDie("the OpenCL platforms have no devices");
  return out;
}

cl_device_type KfClDeviceType(cl_device_id device) {
  cl_device_type type = 0;
  KfClCheck(clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, nullptr), "clGetDeviceInfo(CL_DEVICE_TYPE)");
  return type;
}

cl_device_id KfClSelectDevice(std::string* platform_name) {
  const std::vector<KfClPlatform> platforms = KfClPlatforms();
  const char* env = std::getenv("KF_OPENCL_DEVICE");
  const std::string selector = env != nullptr ? env : "";
  if (selector.empty()) {
    for (const KfClPlatform& p : platforms) {
      for (cl_device_id d : p.devices) {
        if ((KfClDeviceType(d) & CL_DEVICE_TYPE_GPU) != 0) {
          *platform_name = p.name;
          return d;
        }
      }
    }
    *platform_name = platforms.front().name;
    return platforms.front().devices.front();
  }
  const std::size_t colon = selector.rfind(':');
  const std::string index_text = colon == std::string::npos ? "" : selector.substr(colon + 1);
  const bool digits = !index_text.empty() && index_text.size() <= 6 &&
                      std::all_of(index_text.begin(), index_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    KfClDie("KF_OPENCL_DEVICE='" + selector + "' is malformed; expected 'PLATFORM_SUBSTRING:DEVICE_INDEX', e.g. 'NVIDIA:0'");
  }
  const std::string wanted = KfClLower(selector.substr(0, colon));
  const std::size_t index = std::stoul(index_text);
  std::string names;
  for (const KfClPlatform& p : platforms) {
    names += (names.empty() ? "'" : ", '") + p.name + "'";
    if (KfClLower(p.name).find(wanted) == std::string::npos) continue;
    if (index >= p.devices.size()) {
      KfClDie("KF_OPENCL_DEVICE='" + selector + "': platform '" + p.name + "' has " + std::to_string(p.devices.size()) +
              " device(s), not " + index_text);
    }
    *platform_name = p.name;
    return p.devices[index];
  }
  KfClDie("KF_OPENCL_DEVICE='" + selector + "': no OpenCL platform name contains '" + selector.substr(0, colon) +
          "'; the platforms are " + names);
}

struct KfClState {
  cl_device_id device = nullptr;
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;
  std::size_t flush_bytes = 0;
  cl_mem scratch = nullptr;
  cl_uint flush_round = 0;
  std::map<cl_mem, std::size_t> timing_bytes;     // timing buffer -> payload bytes (guard follows)
};
KfClState kf_cl;

cl_mem KfClBuffer(std::size_t bytes, const char* what) {
  cl_int err = CL_SUCCESS;
  // Read-write even for inputs: a kernel that writes an input must be caught by the
  // comparison after the read-back, not hidden by undefined behaviour.
  cl_mem b = clCreateBuffer(kf_cl.context, CL_MEM_READ_WRITE, std::max<std::size_t>(bytes, 1), nullptr, &err);
  KfClCheck(err, KfFormat("clCreateBuffer for %s (%zu bytes)", what, bytes).c_str());
  return b;
}

// The log of a failed kernel build, on one line, capped: it goes into the verdict's message.
std::string KfClBuildLog(cl_program program) {
  std::size_t n = 0;
  if (kf_cl.device == nullptr ||
      clGetProgramBuildInfo(program, kf_cl.device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n) != CL_SUCCESS || n == 0) {
    return "(no build log)";
  }
  std::string log(n, '\0');
  if (clGetProgramBuildInfo(program, kf_cl.device, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr) != CL_SUCCESS) {
    return "(no build log)";
  }
  std::string line;
  for (char c : log) {
    if (c == '\0') break;
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && !line.empty() && line.back() == ' ') continue;
    line += c;
  }
  constexpr std::size_t kMaxLogChars = 1500;
  if (line.size() > kMaxLogChars) line = line.substr(0, kMaxLogChars) + " [...]";
  return line;
}

}  // namespace

// Every kernel build goes through here (this definition takes precedence over libOpenCL's for
// the candidate and the reference): a build that fails is reported with its log on stderr as a
// runner complaint, whatever the candidate does next, so the verdict says why the kernel
// source is wrong instead of only "killed by SIGABRT".
extern "C" CL_API_ENTRY cl_int CL_API_CALL clBuildProgram(cl_program program, cl_uint num_devices,
                                                          const cl_device_id* device_list, const char* options,
                                                          void(CL_CALLBACK* pfn_notify)(cl_program, void*),
                                                          void* user_data) {
  using BuildFn = cl_int(CL_API_CALL*)(cl_program, cl_uint, const cl_device_id*, const char*,
                                       void(CL_CALLBACK*)(cl_program, void*), void*);
  static const BuildFn real = reinterpret_cast<BuildFn>(::dlsym(RTLD_NEXT, "clBuildProgram"));
  if (real == nullptr) KfClDie("cannot find clBuildProgram in libOpenCL");
  const cl_int err = real(program, num_devices, device_list, options, pfn_notify, user_data);
  if (err != CL_SUCCESS) {
    std::fprintf(stderr, "kfoundry runner: opencl: clBuildProgram failed: %s (%d); the kernel source does not build: %s\n",
                 KfClErrorName(err), err, KfClBuildLog(program).c_str());
    std::fflush(stderr);
  }
  return err;
}

// The shim passes these to the entry.
cl_context KfClContext() { return kf_cl.context; }
cl_command_queue KfClQueue() { return kf_cl.queue; }

void KfDeviceInit() {
  std::string platform_name;
  kf_cl.device = KfClSelectDevice(&platform_name);
  char device_name[512] = {0};
  KfClCheck(clGetDeviceInfo(kf_cl.device, CL_DEVICE_NAME, sizeof device_name - 1, device_name, nullptr),
            "clGetDeviceInfo(CL_DEVICE_NAME)");
  std::fprintf(stderr, "kfoundry runner: opencl device: %s / %s\n", platform_name.c_str(), device_name);
  cl_int err = CL_SUCCESS;
  kf_cl.context = clCreateContext(nullptr, 1, &kf_cl.device, nullptr, nullptr, &err);
  KfClCheck(err, "clCreateContext");
  // In order: the candidate may enqueue several kernels that depend on each other.
  kf_cl.queue = clCreateCommandQueue(kf_cl.context, kf_cl.device, CL_QUEUE_PROFILING_ENABLE, &err);
  KfClCheck(err, "clCreateCommandQueue");
  cl_ulong cache_bytes = 0, mem_bytes = 0;
  KfClCheck(clGetDeviceInfo(kf_cl.device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache_bytes, &cache_bytes, nullptr),
            "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_CACHE_SIZE)");
  KfClCheck(clGetDeviceInfo(kf_cl.device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem_bytes, &mem_bytes, nullptr),
            "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_SIZE)");
  // GPU drivers report the per-SM caches here (NVIDIA: the sum of L1s), not L2, so GPUs get at
  // least 256 MiB, which is more than twice the L2 of any current part.
  cl_ulong flush = 2 * cache_bytes;
  if ((KfClDeviceType(kf_cl.device) & CL_DEVICE_TYPE_GPU) != 0) flush = std::max<cl_ulong>(flush, 256ULL << 20);
  kf_cl.flush_bytes = static_cast<std::size_t>(std::min<cl_ulong>(flush, mem_bytes / 4));
}

void KfDeviceUpload(void* buffer, const void* host, std::size_t bytes) {
  if (bytes == 0) return;
  KfClCheck(clEnqueueWriteBuffer(kf_cl.queue, static_cast<cl_mem>(buffer), CL_TRUE, 0, bytes, host, 0, nullptr, nullptr),
            "clEnqueueWriteBuffer");
}
void KfDeviceDownload(void* host, const void* buffer, std::size_t bytes) {
  if (bytes == 0) return;
  KfClCheck(clEnqueueReadBuffer(kf_cl.queue, static_cast<cl_mem>(const_cast<void*>(buffer)), CL_TRUE, 0, bytes, host, 0,
                                nullptr, nullptr),
            "clEnqueueReadBuffer");
}

// A mirror is host-side bookkeeping: each argument gets its own device buffer (sub-buffers
// would share the parent's memory on GPUs, but PoCL keeps their bytes apart, so a write past
// one would never reach the parent's guard bytes).
struct KfClMirror {
  unsigned char* host;
  std::vector<std::pair<cl_mem, std::pair<std::size_t, std::size_t>>> views;  // buffer, (offset, bytes)
};

void* KfDeviceMirror(unsigned char* host, std::size_t) { return new KfClMirror{host, {}}; }

void* KfDeviceView(void* mirror, std::size_t offset, std::size_t bytes, std::size_t guard_bytes) {
  auto* m = static_cast<KfClMirror*>(mirror);
  // The parent's guard bytes travel with the argument, so a write past its end changes them.
  const std::size_t n = bytes + guard_bytes;
  cl_mem b = KfClBuffer(n, KfFormat("the argument at offset %zu", offset).c_str());
  KfDeviceUpload(b, m->host + offset, n);
  m->views.push_back({b, {offset, n}});
  return b;
}

void KfDeviceWriteBack(unsigned char* host, void* mirror, std::size_t) {
  for (const auto& [b, where] : static_cast<KfClMirror*>(mirror)->views) {
    KfDeviceDownload(host + where.first, b, where.second);
  }
}

void KfDeviceFreeMirror(void* mirror) {
  auto* m = static_cast<KfClMirror*>(mirror);
  for (const auto& view : m->views) KfClCheck(clReleaseMemObject(view.first), "clReleaseMemObject(argument)");
  delete m;
}

void* KfDeviceAlloc(std::size_t bytes) {
  static const std::vector<unsigned char> guard(kKfClGuardBytes, kKfClGuardByte);
  cl_mem b = KfClBuffer(bytes + kKfClGuardBytes, "a timing buffer");
  KfClCheck(clEnqueueWriteBuffer(kf_cl.queue, b, CL_TRUE, bytes, kKfClGuardBytes, guard.data(), 0, nullptr, nullptr),
            "clEnqueueWriteBuffer (guard bytes)");
  kf_cl.timing_bytes[b] = bytes;
  return b;
}

void KfDeviceFree(void* buffer) {
  cl_mem b = static_cast<cl_mem>(buffer);
  const std::size_t n = kf_cl.timing_bytes.at(b);
  std::vector<unsigned char> guard(kKfClGuardBytes);
  KfClCheck(clEnqueueReadBuffer(kf_cl.queue, b, CL_TRUE, n, kKfClGuardBytes, guard.data(), 0, nullptr, nullptr),
            "clEnqueueReadBuffer (guard bytes)");
  for (unsigned char g : guard) {
    if (g != kKfClGuardByte) KfClDie(KfFormat("the kernel wrote past the end of an argument (a buffer of %zu bytes)", n));
  }
  kf_cl.timing_bytes.erase(b);
  KfClCheck(clReleaseMemObject(b), "clReleaseMemObject(timing buffer)");
}

void KfDeviceFlush(const std::vector<std::pair<void*, std::size_t>>&) {
  // The host cannot evict device caches (nor, on CPU devices, the runtime's own copies), so
  // every device type gets a scratch write of twice its reported cache size.
  if (kf_cl.flush_bytes == 0) return;
  if (kf_cl.scratch == nullptr) kf_cl.scratch = KfClBuffer(kf_cl.flush_bytes, "the cache-flush scratch buffer");
  ++kf_cl.flush_round;  // a new value each time, so no layer can skip the write as redundant
  KfClCheck(clEnqueueFillBuffer(kf_cl.queue, kf_cl.scratch, &kf_cl.flush_round, sizeof kf_cl.flush_round, 0,
                                kf_cl.flush_bytes / sizeof kf_cl.flush_round * sizeof kf_cl.flush_round, 0, nullptr,
                                nullptr),
            "clEnqueueFillBuffer (cache flush)");
  KfClCheck(clFinish(kf_cl.queue), "clFinish after the cache flush");
}

double KfDeviceCall(void* const* buffers, const double* scalars) {
  KfClCheck(clFinish(kf_cl.queue), "clFinish before the call");
  const auto t0 = KfClock::now();
  kf_call_entry(buffers, scalars);
  KfClCheck(clFinish(kf_cl.queue), "clFinish after the entry function (a kernel failed or the queue is broken)");
  return KfMs(t0, KfClock::now());
}
