// expect: memory_opt=1 compute_opt=1 parallelism_opt=0
// Four elements per work-item with vload4 / vstore4 and native_exp; the program is built with
// fast relaxed math. The kernel source is a sequence of adjacent string literals.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdlib>

namespace {

const char* kSource =
    "kernel void sigmoid4(global const float* x, global float* y, int n4) {\n"
    "  const int i = get_global_id(0);\n"
    "  if (i >= n4) return;\n"
    "  const float4 v = vload4(i, x);\n"
    "  vstore4(1.0f / (1.0f + native_exp(-v)), i, y);\n"
    "}\n";

const char* kBuildOptions = "-cl-fast-relaxed-math -cl-mad-enable";

cl_kernel Kernel(cl_context context) {
  static cl_kernel kernel = nullptr;
  if (kernel != nullptr) return kernel;
  cl_device_id device;
  clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr);
  cl_int err = CL_SUCCESS;
  cl_program program = clCreateProgramWithSource(context, 1, &kSource, nullptr, &err);
  if (clBuildProgram(program, 1, &device, kBuildOptions, nullptr, nullptr) != CL_SUCCESS) std::abort();
  kernel = clCreateKernel(program, "sigmoid4", &err);
  return kernel;
}

}  // namespace

// Assumes n % 4 == 0 (the task's shapes).
void sigmoid(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t n) {
  cl_kernel kernel = Kernel(context);
  const int32_t n4 = n / 4;
  clSetKernelArg(kernel, 0, sizeof x, &x);
  clSetKernelArg(kernel, 1, sizeof y, &y);
  clSetKernelArg(kernel, 2, sizeof n4, &n4);
  const std::size_t global = static_cast<std::size_t>(n4);
  clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr);
}
