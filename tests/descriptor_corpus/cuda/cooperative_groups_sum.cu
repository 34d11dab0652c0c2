// expect: memory_opt=2 compute_opt=0 parallelism_opt=3
// Sum of a vector with cooperative groups: 32-thread tiles reduce by shuffles, the tile leaders
// meet in shared memory, one atomic per block.
#include <cstdint>
#include <cooperative_groups.h>

namespace cg = cooperative_groups;

__global__ void sum_kernel(const float* x, float* total, int32_t n) {
  __shared__ float tile_sums[32];
  cg::thread_block block = cg::this_thread_block();
  cg::thread_block_tile<32> tile = cg::tiled_partition<32>(block);
  float v = 0.0f;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
  for (int offset = tile.size() / 2; offset > 0; offset /= 2) v += tile.shfl_down(v, offset);
  if (tile.thread_rank() == 0) tile_sums[tile.meta_group_rank()] = v;
  block.sync();
  if (tile.meta_group_rank() == 0) {
    v = tile.thread_rank() < tile.meta_group_size() ? tile_sums[tile.thread_rank()] : 0.0f;
    for (int offset = tile.size() / 2; offset > 0; offset /= 2) v += tile.shfl_down(v, offset);
    if (tile.thread_rank() == 0) atomicAdd(total, v);
  }
}

void vector_sum(const float* x, float* total, int32_t n) {
  cudaMemsetAsync(total, 0, sizeof(float));
  sum_kernel<<<256, 256>>>(x, total, n);
}
