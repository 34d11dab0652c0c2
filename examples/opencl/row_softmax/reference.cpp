// Reference OpenCL row softmax: one work-item per row, max-subtracted, compensated sum.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

const char* kReferenceSource = R"CLC(
// One work-item per row; the sum of exponentials uses Kahan compensation, so the reference
// stays accurate on long rows without needing fp64.
kernel void row_softmax_reference(global const float* x, global float* y, int rows, int cols) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  global const float* in = x + (long)r * cols;
  global float* out = y + (long)r * cols;
  float max_value = -INFINITY;
  for (int c = 0; c < cols; ++c) max_value = fmax(max_value, in[c]);
  float sum = 0.0f, carry = 0.0f;
  for (int c = 0; c < cols; ++c) {
    const float term = exp(in[c] - max_value) - carry;
    const float next = sum + term;
    carry = (next - sum) - term;
    sum = next;
  }
  for (int c = 0; c < cols; ++c) out[c] = exp(in[c] - max_value) / sum;
}
)CLC";

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "row_softmax_reference: %s failed with OpenCL error %d\n", what, err);
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
    std::fprintf(stderr, "row_softmax_reference: kernel build failed:\n%s\n", log.data());
    std::abort();
  }
  kernel = clCreateKernel(program, "row_softmax_reference", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void row_softmax_reference(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  if (rows <= 0 || cols <= 0) return;
  cl_kernel kernel = ReferenceKernel(context);
  Check(clSetKernelArg(kernel, 0, sizeof x, &x), "clSetKernelArg(x)");
  Check(clSetKernelArg(kernel, 1, sizeof y, &y), "clSetKernelArg(y)");
  Check(clSetKernelArg(kernel, 2, sizeof rows, &rows), "clSetKernelArg(rows)");
  Check(clSetKernelArg(kernel, 3, sizeof cols, &cols), "clSetKernelArg(cols)");
  const std::size_t global = static_cast<std::size_t>(rows);
  Check(clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}
