// Naive OpenCL row softmax: one work-item per row, three passes, built once per context.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

// EVOLVE-BLOCK-START
const char* kRowSoftmaxSource = R"CLC(
// One work-item per row, three passes: max, sum of exponentials, normalize.
kernel void row_softmax(global const float* x, global float* y, int rows, int cols) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  global const float* in = x + (long)r * cols;
  global float* out = y + (long)r * cols;
  float max_value = -INFINITY;
  for (int c = 0; c < cols; ++c) max_value = fmax(max_value, in[c]);
  float sum = 0.0f;
  for (int c = 0; c < cols; ++c) {
    out[c] = exp(in[c] - max_value);
    sum += out[c];
  }
  for (int c = 0; c < cols; ++c) out[c] /= sum;
}
)CLC";
constexpr std::size_t kLocalSize = 256;
// EVOLVE-BLOCK-END

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "row_softmax: %s failed with OpenCL error %d\n", what, err);
  std::abort();
}

/// Builds the kernel once per context; the build log goes to stderr when it fails.
cl_kernel RowSoftmaxKernel(cl_context context) {
  static cl_context built_for = nullptr;
  static cl_kernel kernel = nullptr;
  if (kernel != nullptr && built_for == context) return kernel;
  cl_device_id device;
  Check(clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr), "clGetContextInfo");
  cl_int err = CL_SUCCESS;
  cl_program program = clCreateProgramWithSource(context, 1, &kRowSoftmaxSource, nullptr, &err);
  Check(err, "clCreateProgramWithSource");
  if (clBuildProgram(program, 1, &device, "", nullptr, nullptr) != CL_SUCCESS) {
    std::size_t n = 0;
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
    std::vector<char> log(n + 1, '\0');
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
    std::fprintf(stderr, "row_softmax: kernel build failed:\n%s\n", log.data());
    std::abort();
  }
  kernel = clCreateKernel(program, "row_softmax", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void row_softmax(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  if (rows <= 0 || cols <= 0) return;
  cl_kernel kernel = RowSoftmaxKernel(context);
  Check(clSetKernelArg(kernel, 0, sizeof x, &x), "clSetKernelArg(x)");
  Check(clSetKernelArg(kernel, 1, sizeof y, &y), "clSetKernelArg(y)");
  Check(clSetKernelArg(kernel, 2, sizeof rows, &rows), "clSetKernelArg(rows)");
  Check(clSetKernelArg(kernel, 3, sizeof cols, &cols), "clSetKernelArg(cols)");
  const std::size_t global = (static_cast<std::size_t>(rows) + kLocalSize - 1) / kLocalSize * kLocalSize;
  Check(clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, &kLocalSize, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}
