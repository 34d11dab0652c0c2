// expect: memory_opt=0 compute_opt=0 parallelism_opt=0
// Traps in the kernel source: a helper with sub-group collectives that no kernel calls, a local
// array that is declared but unused, an `#if 0` block with an async copy, barrier() only in a
// comment, and host code (not kernel code) that uses float4-looking names.
#define CL_TARGET_OPENCL_VERSION 200
#include <CL/cl.h>

#include <cstdint>

namespace {

const char* kSource = R"CLC(
float sub_group_total(float v) {
  return sub_group_reduce_add(v) + work_group_reduce_add(v);
}

kernel void scale(global const float* x, global float* y, float alpha, int n) {
  local float unused[64];
  const int i = get_global_id(0);
#if 0
  event_t e = async_work_group_copy(unused, x, 64, 0);
  wait_group_events(1, &e);
#endif
  // barrier(CLK_LOCAL_MEM_FENCE) is not needed: no work-item reads another's data.
  if (i < n) y[i] = alpha * x[i];
}
)CLC";

}  // namespace

void scale(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, float alpha, int32_t n) {
  static cl_kernel kernel = nullptr;
  if (kernel == nullptr) {
    cl_device_id device;
    clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr);
    cl_int err = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(context, 1, &kSource, nullptr, &err);
    clBuildProgram(program, 1, &device, "", nullptr, nullptr);
    kernel = clCreateKernel(program, "scale", &err);
  }
  const float vload4 = alpha;  // host code is not kernel code
  clSetKernelArg(kernel, 0, sizeof x, &x);
  clSetKernelArg(kernel, 1, sizeof y, &y);
  clSetKernelArg(kernel, 2, sizeof vload4, &vload4);
  clSetKernelArg(kernel, 3, sizeof n, &n);
  const std::size_t global = static_cast<std::size_t>(n);
  clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, nullptr, 0, nullptr, nullptr);
}
