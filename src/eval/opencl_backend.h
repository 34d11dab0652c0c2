// eval/opencl_backend.h — the opencl toolchain: g++ for the host code, linked with libOpenCL.
//
// Candidates are host C++ that build their OpenCL C kernels at run time on the context the
// runner (src/eval/runner/device_opencl.cc) hands them. The device is the one KF_OPENCL_DEVICE
// selects (opencl_platform.h); its platform, name and driver version are part of the cache
// key, so a build or a reference timing never crosses devices. Internal to the eval module.
#pragma once

#include <filesystem>

#include "core/error.h"
#include "eval/builder.h"

namespace kf::eval {

/// The toolchain for the selected OpenCL device; the runner children get the loader settings
/// (OpenClChildEnv) and a PoCL kernel cache under `cache_dir`, so runs do not depend on $HOME.
/// Device discovery runs once per process (thread-safe). kToolchain when g++ is missing, when
/// kfoundry was built without OpenCL, or when no platform/device is found (the message says
/// what to install or set); kInvalidArgument / kNotFound for a bad KF_OPENCL_DEVICE.
core::Expected<Toolchain> DetectOpenClToolchain(const std::filesystem::path& cache_dir);

}  // namespace kf::eval
