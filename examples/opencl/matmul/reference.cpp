// Reference OpenCL matrix multiply: one work-item per output element, compensated dot product.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

const char* kReferenceSource = R"CLC(
// One work-item per output element; the dot product uses Kahan compensation, so the
// reference is accurate without needing fp64.
kernel void matmul_reference(global const float* a, global const float* b, global float* c, int m, int n, int k) {
  const int j = get_global_id(0);
  const int i = get_global_id(1);
  if (i >= m || j >= n) return;
  float sum = 0.0f, carry = 0.0f;
  for (int p = 0; p < k; ++p) {
    const float term = a[(long)i * k + p] * b[(long)p * n + j] - carry;
    const float next = sum + term;
    carry = (next - sum) - term;
    sum = next;
  }
  c[(long)i * n + j] = sum;
}
)CLC";

void Check(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  std::fprintf(stderr, "matmul_reference: %s failed with OpenCL error %d\n", what, err);
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
    std::fprintf(stderr, "matmul_reference: kernel build failed:\n%s\n", log.data());
    std::abort();
  }
  kernel = clCreateKernel(program, "matmul_reference", &err);
  Check(err, "clCreateKernel");
  clReleaseProgram(program);
  built_for = context;
  return kernel;
}

}  // namespace

void matmul_reference(cl_context context, cl_command_queue queue, cl_mem a, cl_mem b, cl_mem c, int32_t m, int32_t n, int32_t k) {
  if (m <= 0 || n <= 0) return;
  cl_kernel kernel = ReferenceKernel(context);
  Check(clSetKernelArg(kernel, 0, sizeof a, &a), "clSetKernelArg(a)");
  Check(clSetKernelArg(kernel, 1, sizeof b, &b), "clSetKernelArg(b)");
  Check(clSetKernelArg(kernel, 2, sizeof c, &c), "clSetKernelArg(c)");
  Check(clSetKernelArg(kernel, 3, sizeof m, &m), "clSetKernelArg(m)");
  Check(clSetKernelArg(kernel, 4, sizeof n, &n), "clSetKernelArg(n)");
  Check(clSetKernelArg(kernel, 5, sizeof k, &k), "clSetKernelArg(k)");
  const std::size_t global[2] = {static_cast<std::size_t>(n), static_cast<std::size_t>(m)};
  Check(clEnqueueNDRangeKernel(queue, kernel, 2, nullptr, global, nullptr, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}
