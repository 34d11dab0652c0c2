// expect: memory_opt=3 compute_opt=3 parallelism_opt=1
// 64x64 work-group tiles in local memory, 4x4 outputs per work-item kept in registers.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>

namespace {

const char* kSource = R"CLC(
#define TS 64
#define TK 16
#define WPT 4
kernel void gemm(global const float* a, global const float* b, global float* c, int m, int n, int k) {
  local float a_tile[TS][TK];
  local float b_tile[TK][TS];
  const int tx = get_local_id(0), ty = get_local_id(1);  // 16 x 16 work-items
  const int row0 = get_group_id(1) * TS + ty * WPT, col0 = get_group_id(0) * TS + tx * WPT;
  float acc[WPT][WPT];
  for (int i = 0; i < WPT; ++i)
    for (int j = 0; j < WPT; ++j) acc[i][j] = 0.0f;
  float a_reg[WPT], b_reg[WPT];
  for (int t = 0; t < k; t += TK) {
    for (int l = ty * 16 + tx; l < TS * TK; l += 256) {
      a_tile[l / TK][l % TK] = a[(get_group_id(1) * TS + l / TK) * k + t + l % TK];
      b_tile[l / TS][l % TS] = b[(t + l / TS) * n + get_group_id(0) * TS + l % TS];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < TK; ++p) {
      for (int i = 0; i < WPT; ++i) a_reg[i] = a_tile[ty * WPT + i][p];
      for (int j = 0; j < WPT; ++j) b_reg[j] = b_tile[p][tx * WPT + j];
      for (int i = 0; i < WPT; ++i)
        for (int j = 0; j < WPT; ++j) acc[i][j] = mad(a_reg[i], b_reg[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int i = 0; i < WPT; ++i)
    for (int j = 0; j < WPT; ++j) c[(row0 + i) * n + col0 + j] = acc[i][j];
}
)CLC";

}  // namespace

// Assumes m, n multiples of 64 and k a multiple of 16.
void matmul(cl_context context, cl_command_queue queue, cl_mem a, cl_mem b, cl_mem c, int32_t m, int32_t n, int32_t k) {
  static cl_kernel kernel = nullptr;
  if (kernel == nullptr) {
    cl_device_id device;
    clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof device, &device, nullptr);
    cl_int err = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(context, 1, &kSource, nullptr, &err);
    clBuildProgram(program, 1, &device, "", nullptr, nullptr);
    kernel = clCreateKernel(program, "gemm", &err);
  }
  clSetKernelArg(kernel, 0, sizeof a, &a);
  clSetKernelArg(kernel, 1, sizeof b, &b);
  clSetKernelArg(kernel, 2, sizeof c, &c);
  clSetKernelArg(kernel, 3, sizeof m, &m);
  clSetKernelArg(kernel, 4, sizeof n, &n);
  clSetKernelArg(kernel, 5, sizeof k, &k);
  const std::size_t local[2] = {16, 16};
  const std::size_t global[2] = {static_cast<std::size_t>(n) / 4, static_cast<std::size_t>(m) / 4};
  clEnqueueNDRangeKernel(queue, kernel, 2, nullptr, global, local, 0, nullptr, nullptr);
}
