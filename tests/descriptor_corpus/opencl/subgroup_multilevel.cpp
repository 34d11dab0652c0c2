// expect: memory_opt=2 compute_opt=1 parallelism_opt=3
// Dot product of rows with a vector: sub-group reductions, then the sub-group leaders meet in
// local memory at their sub-group index (OpenCL 2.0 / cl_khr_subgroups).
#define CL_TARGET_OPENCL_VERSION 200
#include <CL/cl.h>

#include <cstdint>

namespace {

const char* kSource = R"CLC(
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
kernel void row_dot(global const float* a, global const float* x, global float* y, int cols) {
  local float sg_partial[32];
  const int row = get_group_id(0);
  float acc = 0.0f;
  for (int c = get_local_id(0); c < cols; c += get_local_size(0)) acc = mad(a[row * cols + c], x[c], acc);
  acc = sub_group_reduce_add(acc);
  if (get_sub_group_local_id() == 0) sg_partial[get_sub_group_id()] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (get_sub_group_id() == 0) {
    float v = get_sub_group_local_id() < get_num_sub_groups() ? sg_partial[get_sub_group_local_id()] : 0.0f;
    v = sub_group_reduce_add(v);
    if (get_sub_group_local_id() == 0) y[row] = v;
  }
}
)CLC";

}  // namespace

void matvec(cl_context context, cl_command_queue queue, cl_mem a, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  static cl_kernel kernel = nullptr;
  if (kernel == nullptr) {
    cl_device_id device;
    clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr);
    cl_int err = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(context, 1, &kSource, nullptr, &err);
    clBuildProgram(program, 1, &device, "-cl-std=CL2.0", nullptr, nullptr);
    kernel = clCreateKernel(program, "row_dot", &err);
  }
  clSetKernelArg(kernel, 0, sizeof a, &a);
  clSetKernelArg(kernel, 1, sizeof x, &x);
  clSetKernelArg(kernel, 2, sizeof y, &y);
  clSetKernelArg(kernel, 3, sizeof cols, &cols);
  const std::size_t local = 256, global = static_cast<std::size_t>(rows) * local;
  clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, &local, 0, nullptr, nullptr);
}
