// eval/opencl_platform.h — OpenCL platforms and devices as kfoundry sees them.
//
// Discovery goes through the ICD loader (libOpenCL: ocl-icd on Debian, or the Khronos loader).
// NVIDIA hosts often have libnvidia-opencl.so.1 without an .icd file, so the user may name the
// vendor library (KF_OPENCL_VENDOR_LIB=/path/libnvidia-opencl.so.1) or a directory of .icd files
// (KF_OPENCL_VENDORS=dir); both are turned into the loader's own variables, for this process
// (before its first OpenCL call) and for the runner children (OpenClChildEnv).
//
// The device is chosen by KF_OPENCL_DEVICE="PLATFORM_SUBSTRING:DEVICE_INDEX" (substring matched
// case-insensitively against the platform name, index among that platform's devices); unset or
// empty means the first GPU, else the first device. The runner applies the same rule in
// src/eval/runner/device_opencl.cc; SelectOpenClDevice is the parent's copy, used to validate
// the setting up front and to show which device will run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace kf::eval {

struct OpenClDevice {
  int platform_index = 0;  // position in clGetPlatformIDs
  int device_index = 0;    // position in its platform's clGetDeviceIDs(CL_DEVICE_TYPE_ALL)
  std::string platform_name;
  std::string platform_vendor;
  std::string platform_version;
  std::string name;
  std::string type;  // "gpu", "cpu", "accelerator", "custom" or "other"
  std::string driver_version;
  std::uint32_t compute_units = 0;
  std::uint64_t global_mem_bytes = 0;
  std::uint64_t global_mem_cache_bytes = 0;
  std::uint64_t max_work_group_size = 0;
};

/// Every device of every platform, in (platform, device) order. Fails with kToolchain when no
/// platform is found (the message says how to install or name one) and with kNotFound /
/// kInvalidArgument when KF_OPENCL_VENDOR_LIB or KF_OPENCL_VENDORS is wrong. The first call
/// puts the vendor settings into this process's environment, so call it before anything else in
/// the process uses OpenCL (the loader reads its variables once). Thread-safe.
core::Expected<std::vector<OpenClDevice>> ListOpenClDevices();

/// The environment a runner child needs to see the same devices: the loader variables derived
/// from KF_OPENCL_VENDOR_LIB / KF_OPENCL_VENDORS, and KF_OPENCL_DEVICE. Only set variables are
/// returned; an empty list means the child's inherited environment is enough.
std::vector<std::pair<std::string, std::string>> OpenClChildEnv();

/// The loader variables for the given user settings (empty = unset). A vendor library becomes
/// OCL_ICD_VENDORS (ocl-icd loads a library named there directly, and only it) and
/// OCL_ICD_FILENAMES (the Khronos loader's list of extra libraries); a vendor directory becomes
/// OCL_ICD_VENDORS. When both are given the library wins.
std::vector<std::pair<std::string, std::string>> OpenClLoaderEnv(std::string_view vendor_lib,
                                                                  std::string_view vendors_dir);

/// KF_OPENCL_DEVICE parsed.
struct OpenClDeviceSelector {
  std::string platform_substring;
  int device_index = 0;
};

/// Parses "PLATFORM_SUBSTRING:DEVICE_INDEX" (the substring may be empty: any platform).
/// Fails with kInvalidArgument and a message that quotes the text and shows the expected form.
core::Expected<OpenClDeviceSelector> ParseOpenClDeviceSelector(std::string_view text);

/// The device `selector` names in `devices` (ListOpenClDevices order); an empty selector picks
/// the first GPU, else the first device. Fails with kInvalidArgument (bad text) or kNotFound
/// (no match; the message lists what there is).
core::Expected<OpenClDevice> SelectOpenClDevice(const std::vector<OpenClDevice>& devices, std::string_view selector);

/// The device this process and its children use: ListOpenClDevices filtered by
/// $KF_OPENCL_DEVICE (SelectOpenClDevice's rule).
core::Expected<OpenClDevice> SelectedOpenClDevice();

/// One line per device for `kfoundry devices`: "[0:1] NVIDIA CUDA / NVIDIA H100 (gpu, 132 CUs, ...)".
std::string DescribeOpenClDevice(const OpenClDevice& device);

}  // namespace kf::eval
