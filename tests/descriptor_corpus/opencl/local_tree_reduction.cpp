// expect: memory_opt=2 compute_opt=0 parallelism_opt=1
// Row sums: a work-group of 128 per row, partial sums in local memory, a tree reduction with a
// barrier after every step.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>

static const char* kSource = R"(
#define GROUP 128
kernel void row_sum(global const float* x, global float* y, int cols) {
  local float partial[GROUP];
  const int lid = get_local_id(0);
  const int row = get_group_id(0);
  float acc = 0.0f;
  for (int c = lid; c < cols; c += GROUP) acc += x[row * cols + c];
  partial[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = GROUP / 2; s > 0; s >>= 1) {
    if (lid < s) partial[lid] += partial[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) y[row] = partial[0];
}
)";

void row_sum(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  static cl_kernel kernel = nullptr;
  if (kernel == nullptr) {
    cl_device_id device;
    clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr);
    cl_int err = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(context, 1, &kSource, nullptr, &err);
    clBuildProgram(program, 1, &device, "", nullptr, nullptr);
    kernel = clCreateKernel(program, "row_sum", &err);
  }
  clSetKernelArg(kernel, 0, sizeof x, &x);
  clSetKernelArg(kernel, 1, sizeof y, &y);
  clSetKernelArg(kernel, 2, sizeof cols, &cols);
  const std::size_t local = 128, global = static_cast<std::size_t>(rows) * local;
  clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, &local, 0, nullptr, nullptr);
}
