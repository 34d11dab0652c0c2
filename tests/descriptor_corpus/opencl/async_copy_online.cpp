// expect: memory_opt=3 compute_opt=2 parallelism_opt=1
// Row softmax, a work-group per row: the row is brought into local memory with
// async_work_group_copy, then one work-item per row runs an online (single-pass) softmax
// over it, and the group writes the result.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>

namespace {

const char* kSource = R"CLC(
#define MAX_COLS 4096
kernel void row_softmax(global const float* x, global float* y, int cols) {
  local float row[MAX_COLS];
  local float stats[2];
  const int r = get_group_id(0);
  event_t copied = async_work_group_copy(row, x + r * cols, cols, 0);
  wait_group_events(1, &copied);
  if (get_local_id(0) == 0) {
    float m = -INFINITY, s = 0.0f;
    for (int c = 0; c < cols; ++c) {
      const float m_new = fmax(m, row[c]);
      s = s * exp(m - m_new) + exp(row[c] - m_new);
      m = m_new;
    }
    stats[0] = m;
    stats[1] = s;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int c = get_local_id(0); c < cols; c += get_local_size(0)) y[r * cols + c] = exp(row[c] - stats[0]) / stats[1];
}
)CLC";

}  // namespace

// Assumes cols <= 4096.
void row_softmax(cl_context context, cl_command_queue queue, cl_mem x, cl_mem y, int32_t rows, int32_t cols) {
  static cl_kernel kernel = nullptr;
  if (kernel == nullptr) {
    cl_device_id device;
    clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr);
    cl_int err = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(context, 1, &kSource, nullptr, &err);
    clBuildProgram(program, 1, &device, "", nullptr, nullptr);
    kernel = clCreateKernel(program, "row_softmax", &err);
  }
  clSetKernelArg(kernel, 0, sizeof x, &x);
  clSetKernelArg(kernel, 1, sizeof y, &y);
  clSetKernelArg(kernel, 2, sizeof cols, &cols);
  const std::size_t local = 128, global = static_cast<std::size_t>(rows) * local;
  clEnqueueNDRangeKernel(queue, kernel, 1, nullptr, &global, &local, 0, nullptr, nullptr);
}
