// kfoundry runner, OpenCL device layer. Like runner_main.cc this is source text compiled at
// evaluation time together with the runner and a generated shim, never by CMake, and it links
// only libOpenCL. The runner calls:
//   kf_device_init(nargs, roles)      once: device per KF_OPENCL_DEVICE, context, in-order queue
//   kf_device_upload(host, bytes)     before a call: inputs and poisoned outputs onto the device
//   kf_device_call(scalars) -> ms     the entry once, then clFinish; host wall time around both
//   kf_device_download()              every buffer (inputs too, to expose mutation) back to host
//   kf_device_flush()                 evict the device caches before a timed call
// and reaches the candidate through kf_call_opencl_entry, which the evaluator generates per
// task from task::EntrySignature. Any OpenCL failure ends the process with a message naming the
// call and the error code (CL_INVALID_KERNEL_ARGS, ...) on stderr and _exit(2).
//
// Device choice, which must match eval::SelectOpenClDevice (src/eval/opencl_platform.cc):
// KF_OPENCL_DEVICE="PLATFORM_SUBSTRING:DEVICE_INDEX", the substring matched case-insensitively
// against the names of platforms that have devices; unset or empty: the first GPU, else the
// first device.
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

void kf_call_opencl_entry(cl_context context, cl_command_queue queue, cl_mem* buffers, const double* scalars);

namespace {

constexpr int kKfClScalarRole = 2;
/// Bytes of guard pattern after every device buffer; a kernel that writes past the end of an
/// argument changes them and the next download says so.
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

[[noreturn]] void KfClDie(const std::string& why) {
  std::fprintf(stderr, "kfoundry runner: opencl: %s\n", why.c_str());
  std::fflush(stderr);
  _exit(2);
}

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
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;
  bool is_gpu = false;
  std::size_t flush_bytes = 0;
  std::vector<int> role;
  std::vector<cl_mem> buffer;            // per arg; nullptr for scalars
  std::vector<std::size_t> buffer_bytes;  // the payload size each buffer was made for
  std::vector<void*> host;               // the host pointers of the last upload
  cl_mem scratch = nullptr;
  cl_uint flush_round = 0;
};
KfClState kf_cl;

std::string KfClArgName(std::size_t a) { return "argument " + std::to_string(a); }

}  // namespace

void kf_device_init(int nargs, const int* roles) {
  std::string platform_name;
  cl_device_id device = KfClSelectDevice(&platform_name);
  char device_name[512] = {0};
  KfClCheck(clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof device_name - 1, device_name, nullptr), "clGetDeviceInfo(CL_DEVICE_NAME)");
  std::fprintf(stderr, "kfoundry runner: opencl device: %s / %s\n", platform_name.c_str(), device_name);
  cl_int err = CL_SUCCESS;
  kf_cl.context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
  KfClCheck(err, "clCreateContext");
  kf_cl.queue = clCreateCommandQueue(kf_cl.context, device, CL_QUEUE_PROFILING_ENABLE, &err);
  KfClCheck(err, "clCreateCommandQueue");
  kf_cl.is_gpu = (KfClDeviceType(device) & CL_DEVICE_TYPE_GPU) != 0;
  cl_ulong cache_bytes = 0, mem_bytes = 0;
  KfClCheck(clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache_bytes, &cache_bytes, nullptr),
            "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_CACHE_SIZE)");
  KfClCheck(clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem_bytes, &mem_bytes, nullptr),
            "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_SIZE)");
  // GPU drivers report the per-SM caches here (NVIDIA: the sum of L1s), not L2, so GPUs get at
  // least 256 MiB, which is more than twice the L2 of any current part.
  cl_ulong flush = 2 * cache_bytes;
  if (kf_cl.is_gpu) flush = std::max<cl_ulong>(flush, 256ULL << 20);
  kf_cl.flush_bytes = static_cast<std::size_t>(std::min<cl_ulong>(flush, mem_bytes / 4));
  kf_cl.role.assign(roles, roles + nargs);
  kf_cl.buffer.assign(nargs, nullptr);
  kf_cl.buffer_bytes.assign(nargs, 0);
  kf_cl.host.assign(nargs, nullptr);
}

void kf_device_upload(void* const* host, const unsigned long long* bytes) {
  static const std::vector<unsigned char> guard(kKfClGuardBytes, kKfClGuardByte);
  for (std::size_t a = 0; a < kf_cl.role.size(); ++a) {
    kf_cl.host[a] = host[a];
    if (kf_cl.role[a] == kKfClScalarRole) continue;
    const std::size_t n = static_cast<std::size_t>(bytes[a]);
    if (kf_cl.buffer[a] == nullptr || kf_cl.buffer_bytes[a] != n) {
      if (kf_cl.buffer[a] != nullptr) KfClCheck(clReleaseMemObject(kf_cl.buffer[a]), "clReleaseMemObject");
      cl_int err = CL_SUCCESS;
      // Read-write even for inputs: a kernel that writes an input must be caught by the
      // comparison after download, not hidden by undefined behaviour.
      kf_cl.buffer[a] = clCreateBuffer(kf_cl.context, CL_MEM_READ_WRITE, n + kKfClGuardBytes, nullptr, &err);
      KfClCheck(err, ("clCreateBuffer for " + KfClArgName(a) + " (" + std::to_string(n) + " bytes)").c_str());
      kf_cl.buffer_bytes[a] = n;
    }
    if (n > 0) {
      KfClCheck(clEnqueueWriteBuffer(kf_cl.queue, kf_cl.buffer[a], CL_TRUE, 0, n, host[a], 0, nullptr, nullptr),
                ("clEnqueueWriteBuffer for " + KfClArgName(a)).c_str());
    }
    KfClCheck(clEnqueueWriteBuffer(kf_cl.queue, kf_cl.buffer[a], CL_TRUE, n, kKfClGuardBytes, guard.data(), 0, nullptr,
                                   nullptr),
              ("clEnqueueWriteBuffer (guard) for " + KfClArgName(a)).c_str());
  }
}

double kf_device_call(const double* scalars) {
  // The entry may enqueue anything on the queue, so no event can bracket its work; host time
  // from the call until clFinish returns is the honest number.
  const auto t0 = std::chrono::steady_clock::now();
  kf_call_opencl_entry(kf_cl.context, kf_cl.queue, kf_cl.buffer.data(), scalars);
  KfClCheck(clFinish(kf_cl.queue), "clFinish after the entry function (the kernel failed or the queue is broken)");
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

void kf_device_download() {
  std::vector<unsigned char> guard(kKfClGuardBytes);
  for (std::size_t a = 0; a < kf_cl.role.size(); ++a) {
    if (kf_cl.role[a] == kKfClScalarRole) continue;
    const std::size_t n = kf_cl.buffer_bytes[a];
    if (n > 0) {
      KfClCheck(clEnqueueReadBuffer(kf_cl.queue, kf_cl.buffer[a], CL_TRUE, 0, n, kf_cl.host[a], 0, nullptr, nullptr),
                ("clEnqueueReadBuffer for " + KfClArgName(a)).c_str());
    }
    KfClCheck(clEnqueueReadBuffer(kf_cl.queue, kf_cl.buffer[a], CL_TRUE, n, kKfClGuardBytes, guard.data(), 0, nullptr,
                                  nullptr),
              ("clEnqueueReadBuffer (guard) for " + KfClArgName(a)).c_str());
    for (unsigned char b : guard) {
      if (b != kKfClGuardByte) {
        KfClDie("the kernel wrote past the end of " + KfClArgName(a) + " (a buffer of " + std::to_string(n) + " bytes)");
      }
    }
  }
}

void kf_device_flush() {
  // The host flush cannot reach device buffers (nor, on CPU devices, the runtime's own copies),
  // so every device type gets a scratch write of twice its reported cache size.
  if (kf_cl.flush_bytes == 0) return;
  if (kf_cl.scratch == nullptr) {
    cl_int err = CL_SUCCESS;
    kf_cl.scratch = clCreateBuffer(kf_cl.context, CL_MEM_READ_WRITE, kf_cl.flush_bytes, nullptr, &err);
    KfClCheck(err, "clCreateBuffer for the cache-flush scratch buffer");
  }
  ++kf_cl.flush_round;  // a new value each time, so no layer can skip the write as redundant
  KfClCheck(clEnqueueFillBuffer(kf_cl.queue, kf_cl.scratch, &kf_cl.flush_round, sizeof kf_cl.flush_round, 0,
                                kf_cl.flush_bytes / sizeof kf_cl.flush_round * sizeof kf_cl.flush_round, 0, nullptr,
                                nullptr),
            "clEnqueueFillBuffer (cache flush)");
  KfClCheck(clFinish(kf_cl.queue), "clFinish after the cache flush");
}
