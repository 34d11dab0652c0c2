#include "eval/opencl_platform.h"

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>

namespace kf::eval {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSelectorForm = "expected 'PLATFORM_SUBSTRING:DEVICE_INDEX', e.g. 'NVIDIA:0' or 'Portable:0'";

std::string EnvOrEmpty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// The user's vendor settings are checked before the loader sees them: a typo there otherwise
/// shows up as "no platform", far from its cause.
core::Expected<void> CheckVendorSettings(const std::string& vendor_lib, const std::string& vendors_dir) {
  if (!vendor_lib.empty() && !vendors_dir.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           "both KF_OPENCL_VENDOR_LIB and KF_OPENCL_VENDORS are set; set only one (the library "
                           "for a vendor without an .icd file, or a directory of .icd files)");
  }
  if (!vendor_lib.empty()) {
    if (vendor_lib.find(':') != std::string::npos) {
      return core::MakeError(core::ErrorCode::kInvalidArgument,
                             fmt::format("KF_OPENCL_VENDOR_LIB='{}' names several libraries; name one, or put one "
                                         ".icd file per library in a directory and set KF_OPENCL_VENDORS to it",
                                         vendor_lib));
    }
    std::error_code ec;
    if (!fs::is_regular_file(vendor_lib, ec)) {
      return core::MakeError(core::ErrorCode::kNotFound,
                             fmt::format("KF_OPENCL_VENDOR_LIB='{}' is not a file; point it at the vendor's OpenCL "
                                         "library, e.g. NVIDIA's (find it with: ldconfig -p | grep libnvidia-opencl)",
                                         vendor_lib));
    }
  }
  if (!vendors_dir.empty()) {
    std::error_code ec;
    if (!fs::exists(vendors_dir, ec)) {
      return core::MakeError(core::ErrorCode::kNotFound,
                             fmt::format("KF_OPENCL_VENDORS='{}' does not exist; point it at a directory of .icd "
                                         "files (each holding the path of one vendor library)",
                                         vendors_dir));
    }
  }
  return core::Ok();
}

/// ocl-icd and the Khronos loader read their variables once, at the first OpenCL call, so the
/// settings go into this process's environment exactly once, before that call.
void ApplyLoaderEnvOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const auto& [name, value] : OpenClLoaderEnv(EnvOrEmpty("KF_OPENCL_VENDOR_LIB"), EnvOrEmpty("KF_OPENCL_VENDORS"))) {
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  });
}

const char* ClErrorName(cl_int code) {
  switch (code) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "an unlisted OpenCL error";
  }
}

std::string PlatformString(cl_platform_id platform, cl_platform_info what) {
  std::size_t n = 0;
  if (clGetPlatformInfo(platform, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  if (clGetPlatformInfo(platform, what, n, s.data(), nullptr) != CL_SUCCESS) return "";
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

std::string DeviceString(cl_device_id device, cl_device_info what) {
  std::size_t n = 0;
  if (clGetDeviceInfo(device, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  if (clGetDeviceInfo(device, what, n, s.data(), nullptr) != CL_SUCCESS) return "";
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

template <class T>
T DeviceValue(cl_device_id device, cl_device_info what) {
  T value{};
  if (clGetDeviceInfo(device, what, sizeof value, &value, nullptr) != CL_SUCCESS) return T{};
  return value;
}

std::string TypeName(cl_device_type type) {
  if ((type & CL_DEVICE_TYPE_GPU) != 0) return "gpu";
  if ((type & CL_DEVICE_TYPE_CPU) != 0) return "cpu";
  if ((type & CL_DEVICE_TYPE_ACCELERATOR) != 0) return "accelerator";
  if ((type & CL_DEVICE_TYPE_CUSTOM) != 0) return "custom";
  return "other";
}

std::string NoPlatformMessage(std::string_view why) {
  return fmt::format(
      "no OpenCL platform found ({}); install one (Debian: pocl-opencl-icd for CPUs; NVIDIA: the driver's "
      "libnvidia-opencl.so.1), and where the vendor ships no .icd file set KF_OPENCL_VENDOR_LIB to the library "
      "(e.g. KF_OPENCL_VENDOR_LIB=/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1)",
      why);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> OpenClLoaderEnv(std::string_view vendor_lib,
                                                                  std::string_view vendors_dir) {
  if (!vendor_lib.empty()) {
    return {{"OCL_ICD_VENDORS", std::string(vendor_lib)}, {"OCL_ICD_FILENAMES", std::string(vendor_lib)}};
  }
  if (!vendors_dir.empty()) return {{"OCL_ICD_VENDORS", std::string(vendors_dir)}};
  return {};
}

std::vector<std::pair<std::string, std::string>> OpenClChildEnv() {
  auto env = OpenClLoaderEnv(EnvOrEmpty("KF_OPENCL_VENDOR_LIB"), EnvOrEmpty("KF_OPENCL_VENDORS"));
  if (const std::string device = EnvOrEmpty("KF_OPENCL_DEVICE"); !device.empty()) {
    env.emplace_back("KF_OPENCL_DEVICE", device);
  }
  return env;
}

core::Expected<std::vector<OpenClDevice>> ListOpenClDevices() {
  KF_TRY_VOID(CheckVendorSettings(EnvOrEmpty("KF_OPENCL_VENDOR_LIB"), EnvOrEmpty("KF_OPENCL_VENDORS")));
  ApplyLoaderEnvOnce();
  cl_uint platform_count = 0;
  if (cl_int err = clGetPlatformIDs(0, nullptr, &platform_count); err != CL_SUCCESS || platform_count == 0) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           NoPlatformMessage(err != CL_SUCCESS ? fmt::format("clGetPlatformIDs: {}", ClErrorName(err))
                                                               : "the ICD loader lists none"));
  }
  std::vector<cl_platform_id> platforms(platform_count);
  if (cl_int err = clGetPlatformIDs(platform_count, platforms.data(), nullptr); err != CL_SUCCESS) {
    return core::MakeError(core::ErrorCode::kToolchain, NoPlatformMessage(fmt::format("clGetPlatformIDs: {}", ClErrorName(err))));
  }
  std::vector<OpenClDevice> out;
  for (cl_uint p = 0; p < platform_count; ++p) {
    cl_uint device_count = 0;
    // A platform without devices answers CL_DEVICE_NOT_FOUND; it simply contributes none.
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, nullptr, &device_count) != CL_SUCCESS) continue;
    std::vector<cl_device_id> devices(device_count);
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, device_count, devices.data(), nullptr) != CL_SUCCESS) continue;
    for (cl_uint d = 0; d < device_count; ++d) {
      OpenClDevice dev;
      dev.platform_index = static_cast<int>(p);
      dev.device_index = static_cast<int>(d);
      dev.platform_name = PlatformString(platforms[p], CL_PLATFORM_NAME);
      dev.platform_vendor = PlatformString(platforms[p], CL_PLATFORM_VENDOR);
      dev.platform_version = PlatformString(platforms[p], CL_PLATFORM_VERSION);
      dev.name = DeviceString(devices[d], CL_DEVICE_NAME);
      dev.type = TypeName(DeviceValue<cl_device_type>(devices[d], CL_DEVICE_TYPE));
      dev.driver_version = DeviceString(devices[d], CL_DRIVER_VERSION);
      dev.compute_units = DeviceValue<cl_uint>(devices[d], CL_DEVICE_MAX_COMPUTE_UNITS);
      dev.global_mem_bytes = DeviceValue<cl_ulong>(devices[d], CL_DEVICE_GLOBAL_MEM_SIZE);
      dev.global_mem_cache_bytes = DeviceValue<cl_ulong>(devices[d], CL_DEVICE_GLOBAL_MEM_CACHE_SIZE);
      dev.max_work_group_size = DeviceValue<std::size_t>(devices[d], CL_DEVICE_MAX_WORK_GROUP_SIZE);
      out.push_back(std::move(dev));
    }
  }
  if (out.empty()) {
    return core::MakeError(core::ErrorCode::kToolchain,
                           NoPlatformMessage(fmt::format("{} platform(s), none with a device", platform_count)));
  }
  return out;
}

core::Expected<OpenClDeviceSelector> ParseOpenClDeviceSelector(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("KF_OPENCL_DEVICE='{}' has no ':'; {}", text, kSelectorForm));
  }
  const std::string_view index_text = text.substr(colon + 1);
  const bool digits = !index_text.empty() && index_text.size() <= 6 &&
                      std::all_of(index_text.begin(), index_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("KF_OPENCL_DEVICE='{}': the device index '{}' is not a non-negative number; {}",
                                       text, index_text, kSelectorForm));
  }
  return OpenClDeviceSelector{std::string(text.substr(0, colon)), std::stoi(std::string(index_text))};
}

core::Expected<OpenClDevice> SelectOpenClDevice(const std::vector<OpenClDevice>& devices, std::string_view selector) {
  if (devices.empty()) return core::MakeError(core::ErrorCode::kNotFound, NoPlatformMessage("no devices"));
  if (selector.empty()) {
    for (const OpenClDevice& d : devices) {
      if (d.type == "gpu") return d;
    }
    return devices.front();
  }
  KF_TRY(OpenClDeviceSelector sel, ParseOpenClDeviceSelector(selector));
  const std::string wanted = Lower(sel.platform_substring);
  std::string platforms;
  int platform = -1;
  for (const OpenClDevice& d : devices) {
    if (d.device_index == 0) platforms += fmt::format("{}'{}'", platforms.empty() ? "" : ", ", d.platform_name);
    if (platform < 0 && Lower(d.platform_name).find(wanted) != std::string::npos) platform = d.platform_index;
  }
  if (platform < 0) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           fmt::format("KF_OPENCL_DEVICE='{}': no OpenCL platform name contains '{}'; the platforms "
                                       "are {}",
                                       selector, sel.platform_substring, platforms));
  }
  int count = 0;
  for (const OpenClDevice& d : devices) {
    if (d.platform_index != platform) continue;
    if (d.device_index == sel.device_index) return d;
    ++count;
  }
  const std::string& name = std::find_if(devices.begin(), devices.end(), [&](const OpenClDevice& d) {
                              return d.platform_index == platform;
                            })->platform_name;
  return core::MakeError(core::ErrorCode::kNotFound,
                         fmt::format("KF_OPENCL_DEVICE='{}': platform '{}' has {} device(s) (indices 0 to {}), not {}",
                                     selector, name, count, count - 1, sel.device_index));
}

std::string DescribeOpenClDevice(const OpenClDevice& d) {
  return fmt::format("[{}:{}] {} / {} ({}, {} compute units, {:.1f} GiB, max work-group {}, driver {})",
                     d.platform_index, d.device_index, d.platform_name, d.name, d.type, d.compute_units,
                     static_cast<double>(d.global_mem_bytes) / (1ULL << 30), d.max_work_group_size, d.driver_version);
}

core::Expected<OpenClDevice> SelectedOpenClDevice() {
  KF_TRY(std::vector<OpenClDevice> devices, ListOpenClDevices());
  const char* selector = std::getenv("KF_OPENCL_DEVICE");
  return SelectOpenClDevice(devices, selector != nullptr ? selector : "");
}

}  // namespace kf::eval
