// Naive OpenCL matrix multiply: one work-item per output element, built once per context.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

// EVOLVE-BLOCK-START
const char* kMatmulSource = R"CLC(
// One work-item per output element, a plain dot product over k.
kernel void matmul(global const float* a, global const float* b, global float* c, int m, int n, int k) {
  const int j = get_global_id(0);
  const int i = get_global_id(1);
  if (i >= m || j >= n) return;
  float sum = 0.0f;
  for (int p = 0; p < k; ++p) sum += a[(long)i * k + p] * b[(long)p * n + j];
  c[(long)i * n + j] = sum;
}
)CLC";
constexpr std::size_t kTile = 16;
// EVOLVE-BLOCK-END

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "matmul: %s failed with OpenCL error %d\n", what, err);
  std::abort();
}

/// Builds the kernel once per context; the build log goes to stderr when it fails.
cl_kernel MatmulKernel(cl_context context) {
  static cl_context built_for = nullptr;
  static cl_kernel kernel = nullptr;
  if (kernel != nullptr && built_for == context) return kernel;
  cl_device_id device;
  Check(clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr), "clGetContextInfo");
  cl_int err = CL_SUCCESS;
  cl_program program = clCreateProgramWithSource(context, 1, &kMatmulSource, nullptr, &err);
  Check(err, "clCreateProgramWithSource");
  if (clBuildProgram(program, 1, &device, "", nullptr, nullptr) != CL_SUCCESS) {
    std::size_t n = 0;
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
    std::vector<char> log(n + 1, '\0');
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
    std::fprintf(stderr, "matmul: kernel build failed:\n%s\n", log.data());
    std::abort();
  }
  kernel = clCreateKernel(program, "matmul", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void matmul(cl_context context, cl_command_queue queue, cl_mem a, cl_mem b, cl_mem c, int32_t m, int32_t n, int32_t k) {
  if (m <= 0 || n <= 0) return;
  cl_kernel kernel = MatmulKernel(context);
  Check(clSetKernelArg(kernel, 0, sizeof a, &a), "clSetKernelArg(a)");
  Check(clSetKernelArg(kernel, 1, sizeof b, &b), "clSetKernelArg(b)");
  Check(clSetKernelArg(kernel, 2, sizeof c, &c), "clSetKernelArg(c)");
  Check(clSetKernelArg(kernel, 3, sizeof m, &m), "clSetKernelArg(m)");
  Check(clSetKernelArg(kernel, 4, sizeof n, &n), "clSetKernelArg(n)");
  Check(clSetKernelArg(kernel, 5, sizeof k, &k), "clSetKernelArg(k)");
  const std::size_t local[2] = {kTile, kTile};
  const std::size_t global[2] = {(static_cast<std::size_t>(n) + kTile - 1) / kTile * kTile,
                                 (static_cast<std::size_t>(m) + kTile - 1) / kTile * kTile};
  Check(clEnqueueNDRangeKernel(queue, kernel, 2, nullptr, global, local, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}
