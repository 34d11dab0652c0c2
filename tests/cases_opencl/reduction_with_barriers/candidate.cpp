// Clean: one work-group of 64 per row, a tree reduction (the up-sweep of a work-efficient scan)
// in local memory with a barrier after every step. Passes with and without --sanitize: neither
// the kernel nor the harness around it (buffers, guard bytes, read-back) gives oclgrind anything
// to report.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

const char* kSource = R"CLC(
kernel void row_sum(global const float* x, global float* y, int rows, int cols) {
  local float partial[64];
  const int lane = get_local_id(0);
  const int row = get_group_id(0);
  partial[lane] = lane < cols ? x[row * cols + lane] : 0.0f;
  barrier(CLK_LOCAL_MEM_FENCE);
  // After the step of width s, partial[i] with (i + 1) % 2s == 0 holds the sum of its 2s lanes.
  for (int s = 1; s < 64; s *= 2) {
    if ((lane + 1) % (2 * s) == 0) partial[lane] += partial[lane - s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lane == 63) y[row] = partial[63];
}
)CLC";

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "row_sum: %s failed with OpenCL error %d\n", what, err);
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
  kernel = clCreateKernel(program, "row_sum", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void row_sum(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  cl_kernel kernel = Kernel(context);
  Check(clSetKernelArg(kernel, 0, sizeof x, &x), "clSetKernelArg(x)");
  Check(clSetKernelArg(kernel, 1, sizeof y, &y), "clSetKernelArg(y)");
  Check(clSetKernelArg(kernel, 2, sizeof rows, &rows), "clSetKernelArg(rows)");
  Check(clSetKernelArg(kernel, 3, sizeof cols, &cols), "clSetKernelArg(cols)");
  const std::size_t local = 64;
  const std::size_t global = static_cast<std::size_t>(rows) * local;  // one work-group per row
  Check(clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, &local, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}
