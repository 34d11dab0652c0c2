// Reference: one work-item per row, summing in order.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

const char* kSource = R"CLC(
kernel void row_sum(global const float* x, global float* y, int rows, int cols) {
  const int row = get_global_id(0);
  if (row >= rows) return;
  float sum = 0.0f;
  for (int c = 0; c < cols; ++c) sum += x[row * cols + c];
  y[row] = sum;
}
)CLC";

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "row_sum_reference: %s failed with OpenCL error %d\n", what, err);
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

void row_sum_reference(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  cl_kernel kernel = Kernel(context);
  Check(clSetKernelArg(kernel, 0, sizeof x, &x), "clSetKernelArg(x)");
  Check(clSetKernelArg(kernel, 1, sizeof y, &y), "clSetKernelArg(y)");
  Check(clSetKernelArg(kernel, 2, sizeof rows, &rows), "clSetKernelArg(rows)");
  Check(clSetKernelArg(kernel, 3, sizeof cols, &cols), "clSetKernelArg(cols)");
  const std::size_t global = (static_cast<std::size_t>(rows) + 63) / 64 * 64;
  Check(clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}
