// Reference OpenCL GELU (tanh approximation): one work-item per element, written for clarity.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

const char* kReferenceSource = R"CLC(
kernel void gelu_reference(global const float* x, global float* y, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float k = sqrt(2.0f / M_PI_F);
  const float v = x[i];
  y[i] = 0.5f * v * (1.0f + tanh(k * (v + 0.044715f * v * v * v)));
}
)CLC";

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "gelu_reference: %s failed with OpenCL error %d\n", what, err);
  std::abort();
}

cl_kernel ReferenceKernel(cl_context context) {
  static cl_context built_for = nullptr;
  static cl_kernel kernel = nullptr;
  if (kernel != nullptr && built_for == context) return kernel;
  cl_device_id device;
  Check(clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr), "clGetContextInfo");
  cl_int err = CL_SUCCESS;
  cl_program program = clCreateProgramWithSource(context, 1, &kReferenceSource, nullptr, &err);
  Check(err, "clCreateProgramWithSource");
  if (clBuildProgram(program, 1, &device, "", nullptr, nullptr) != CL_SUCCESS) {
    std::size_t n = 0;
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
    std::vector<char> log(n + 1, '\0');
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
    std::fprintf(stderr, "gelu_reference: kernel build failed:\n%s\n", log.data());
    std::abort();
  }
  kernel = clCreateKernel(program, "gelu_reference", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void gelu_reference(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t n) {
  if (n <= 0) return;
  cl_kernel kernel = ReferenceKernel(context);
  Check(clSetKernelArg(kernel, 0, sizeof x, &x), "clSetKernelArg(x)");
  Check(clSetKernelArg(kernel, 1, sizeof y, &y), "clSetKernelArg(y)");
  Check(clSetKernelArg(kernel, 2, sizeof n, &n), "clSetKernelArg(n)");
  const std::size_t global = static_cast<std::size_t>(n);
  Check(clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}
