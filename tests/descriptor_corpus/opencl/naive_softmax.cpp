// expect: memory_opt=0 compute_opt=0 parallelism_opt=0
// One work-item per row, three passes. The host's messages mention optimizations, and so does a
// comment inside the kernel source: neither is code.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

const char* kSource = R"CLC(
// A faster version would stage rows in local memory with barrier(CLK_LOCAL_MEM_FENCE)
// and combine lanes with sub_group_reduce_add(v); not this one.
kernel void row_softmax(global const float* x, global float* y, int rows, int cols) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  float m = -INFINITY;
  for (int c = 0; c < cols; ++c) m = fmax(m, x[r * cols + c]);
  float s = 0.0f;
  for (int c = 0; c < cols; ++c) s += exp(x[r * cols + c] - m);
  for (int c = 0; c < cols; ++c) y[r * cols + c] = exp(x[r * cols + c] - m) / s;
}
)CLC";

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "row_softmax: %s failed (no vload4, no native_exp, no work_group_reduce_add(x))\n", what);
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
  kernel = clCreateKernel(program, "row_softmax", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void row_softmax(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  cl_kernel kernel = Kernel(context);
  clSetKernelArg(kernel, 0, sizeof x, &x);
  clSetKernelArg(kernel, 1, sizeof y, &y);
  clSetKernelArg(kernel, 2, sizeof rows, &rows);
  clSetKernelArg(kernel, 3, sizeof cols, &cols);
  const std::size_t global = static_cast<std::size_t>(rows);
  Check(clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), "enqueue");
}
