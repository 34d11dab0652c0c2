// eval/cuda_backend.h — the cuda toolchain: nvcc for the GPU this machine has.
//
// The device architecture is detected once per process (nvidia-smi, device 0 in PCI bus
// order, or the first entry of CUDA_VISIBLE_DEVICES) and becomes -arch=sm_XX, or
// -gencode=arch=compute_XXa,code=sm_XXa for sources that use wgmma or setmaxnreg. The runner
// (src/eval/runner/device_cuda.cu) copies each call's buffers to cudaMalloc memory, runs the
// entry on the legacy default stream with every CUDA call checked, and times it with events
// cross-checked against the host clock. Internal to the eval module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "eval/builder.h"

namespace kf::eval {

/// The GPU cuda runners use, as nvidia-smi describes it.
struct CudaDevice {
  std::string sm;          // compute capability without the dot: "90"
  std::string name;        // "NVIDIA H200"
  std::string uuid;        // "GPU-3856f337-..."
  std::string pci_bus_id;  // "00000000:00:06.0"
};

/// Detected once per process (thread-safe); kToolchain when nvidia-smi or a GPU is missing.
core::Expected<CudaDevice> DetectCudaDevice();

/// Detected once per process (thread-safe); kToolchain when nvcc or an NVIDIA GPU is missing,
/// with what to install or check.
core::Expected<Toolchain> DetectCudaToolchain();

/// The architecture flags for one source on a device of compute capability `sm` ("90").
std::vector<std::string> CudaArchFlags(std::string_view sm, std::string_view source);

}  // namespace kf::eval
