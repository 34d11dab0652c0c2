// Seed meta-prompts: the hand-written guidance a run starts from, per backend language. Each
// backend gets two seeds that share its strategies, pitfalls and analysis guidance and differ in
// philosophy (step-by-step refinement against a roofline vs restructuring toward the best known
// algorithm), so the population starts with two lineages that the search can tell apart.

#include <string>
#include <vector>

#include "prompt/meta_prompt.h"

namespace kf::prompt {
namespace {

constexpr const char* kGpuStepwise =
    "- Correctness first: a kernel that fails on one shape is worth nothing. While the current kernel fails, "
    "fix that and nothing else.\n"
    "- Most kernels here are memory-bound: count the bytes each output needs and aim to read every input byte "
    "from DRAM once, with coalesced, wide accesses.\n"
    "- Fewer launches and fewer round trips through global memory beat clever arithmetic: fuse, and keep "
    "intermediates in registers or on-chip memory.\n"
    "- Keep every compute unit busy: enough work-groups (several per compute unit) and enough independent work "
    "per thread to hide memory latency.\n"
    "- Change one thing at a time, name the bottleneck it targets, and keep what the evaluation proved fast.";

constexpr const char* kGpuRestructure =
    "- Start from the roofline: work out the minimum bytes moved and FLOPs for this operation and how far the "
    "current time is from that bound.\n"
    "- When the current kernel is far from the bound, restructure instead of polishing: pick the algorithm "
    "first (single-pass or online formulation, tiling, fusion), then the mapping of work to threads, "
    "sub-groups and work-groups, and only then micro-optimizations.\n"
    "- Borrow structure from the best known implementations of this operation (tiled GEMM, flash-style "
    "attention, warp-per-row reductions).\n"
    "- Never trade correctness for speed: every shape must pass, including small and ragged ones.";

constexpr const char* kCpuStepwise =
    "- Correctness first: a kernel that fails on one shape is worth nothing. While the current kernel fails, "
    "fix that and nothing else.\n"
    "- Know whether the loop is limited by memory bandwidth or by arithmetic; cache reuse helps the first, "
    "SIMD and FMA throughput the second.\n"
    "- Use all cores, all SIMD lanes and the cache hierarchy: threads over the outer loop, vectors over the "
    "inner contiguous loop, blocking in between.\n"
    "- Change one thing at a time, name the bottleneck it targets, and keep what the evaluation proved fast.";

constexpr const char* kCpuRestructure =
    "- Start from the roofline: the minimum bytes moved and FLOPs for this operation, against the machine's "
    "memory bandwidth and cores x SIMD width x FMA rate.\n"
    "- When far from the bound, restructure: choose the loop order and blocking (packing, micro-kernels, "
    "single-pass algorithms) before tuning pragmas.\n"
    "- Borrow structure from the best known implementations (BLIS-style GEMM, one-pass softmax, blocked "
    "transposes).\n"
    "- Never trade correctness for speed: every shape must pass, including small and ragged ones.";

MetaPrompt Make(const char* philosophy, const char* strategies, const char* pitfalls, const char* analysis) {
  MetaPrompt prompt;
  prompt[Section::kPhilosophy] = philosophy;
  prompt[Section::kStrategies] = strategies;
  prompt[Section::kPitfalls] = pitfalls;
  prompt[Section::kAnalysis] = analysis;
  return prompt;
}

std::vector<MetaPrompt> Pair(const char* stepwise, const char* restructure, const char* strategies,
                             const char* pitfalls, const char* analysis) {
  return {Make(stepwise, strategies, pitfalls, analysis), Make(restructure, strategies, pitfalls, analysis)};
}

std::vector<MetaPrompt> CudaSeeds() {
  return Pair(
      kGpuStepwise, kGpuRestructure,
      "- Coalesce global memory: consecutive threads of a warp touch consecutive addresses. Use 128-bit loads "
      "(float4, int4) when the address is 16-byte aligned and the length allows, with a scalar tail.\n"
      "- Tile data that is reused in __shared__ memory; pad tiles (e.g. [32][33]) so column accesses avoid bank "
      "conflicts.\n"
      "- Reduce within a warp with __shfl_down_sync/__shfl_xor_sync, then across warps through shared memory; "
      "for row-wise reductions use one warp or one block per row.\n"
      "- Register-block: have each thread compute several outputs (e.g. a 4x4 or 8x8 micro-tile in GEMM-like "
      "work) to raise arithmetic intensity.\n"
      "- Fuse elementwise prologues and epilogues (bias, activation, scaling) into the main kernel; use online "
      "algorithms (online softmax, Welford) to avoid extra passes.\n"
      "- Pick a block size that is a multiple of 32 (128-256 to start) and check occupancy against registers "
      "and shared memory per block; use grid-stride loops for elementwise work.\n"
      "- Mark pointers __restrict__ and const, #pragma unroll short fixed loops; on sm_80+ consider cp.async "
      "double buffering and tensor cores (WMMA) for f16/bf16 matrix work when the tolerance allows.",
      "- Missing __syncthreads() between writing shared memory and reading it from other threads, or before "
      "overwriting a tile others still read: a race that passes some runs and fails others.\n"
      "- __syncthreads() inside a branch not every thread of the block takes: deadlock or undefined behaviour.\n"
      "- Out-of-bounds on ragged edges: guard every load and store when a size is not a multiple of the block "
      "or tile size; fill padding with the operation's neutral value (0 for sums, -inf for max).\n"
      "- Full-mask shuffles (0xffffffff) after some lanes returned early; reductions that assume blockDim is a "
      "power of two.\n"
      "- 32-bit index overflow on large tensors: compute offsets in size_t or int64_t.\n"
      "- float4 loads need a 16-byte aligned address, not just an aligned base pointer.\n"
      "- Fast math (__expf, --use_fast_math, approximate division) and f16 accumulation can exceed the "
      "tolerance; accumulate in float.\n"
      "- Launch errors are silent: more than 1024 threads per block, too much shared memory or a zero-sized "
      "grid leaves the outputs unwritten. cudaMalloc, cudaMemcpy or cudaDeviceSynchronize on every call costs "
      "more than the kernel.",
      "- Read the verdict first: compile errors and wrong values come before speed. A wrong value's first bad "
      "index and shape tell you which edge (ragged tile, tail, last block) is broken.\n"
      "- Compare the time with the roofline: bytes moved / DRAM bandwidth and FLOPs / peak. Near the memory "
      "bound only moving fewer bytes helps.\n"
      "- Compare shapes: slow on small shapes means too little parallelism (too few blocks); slow on large ones "
      "means poor reuse or uncoalesced access.\n"
      "- With profile metrics: low achieved occupancy points at registers or shared memory per block; low "
      "memory throughput at uncoalesced or dependent loads; high bank conflicts at shared-memory layout.\n"
      "- State in one sentence which bottleneck the change targets and why it should help.");
}

std::vector<MetaPrompt> SyclSeeds() {
  return Pair(
      kGpuStepwise, kGpuRestructure,
      "- Use nd_range kernels with an explicit work-group size (a multiple of the sub-group size, 128-256 to "
      "start) whenever you need local memory, barriers or sub-groups.\n"
      "- Make consecutive work-items access consecutive addresses; use sycl::vec<float, 4> loads for contiguous "
      "data with a scalar tail.\n"
      "- Stage reused data in local memory (sycl::local_accessor) with sycl::group_barrier between the writing "
      "and the reading phase.\n"
      "- Reduce with sycl::reduce_over_group and sub-group operations (shift_group_left, "
      "permute_group_by_xor) rather than hand-written local-memory trees.\n"
      "- Fuse elementwise steps into one kernel and use online algorithms (online softmax, Welford) to avoid "
      "extra passes.\n"
      "- Have each work-item compute several outputs (register blocking) in GEMM-like work.\n"
      "- Submit everything to the given queue back to back; size work-groups from the device's limits "
      "(max_work_group_size, sub_group_sizes) instead of assuming one device.",
      "- Missing group_barrier between writing local memory and reading it, or a barrier inside a branch that "
      "not every work-item of the group takes.\n"
      "- The global range is rounded up to a multiple of the work-group size: guard every access with the real "
      "size.\n"
      "- On an out-of-order queue, a kernel reading another's output needs depends_on(event) or a wait; "
      "otherwise they may run concurrently.\n"
      "- Sub-group sizes differ between devices (8, 16, 32): code that assumes 32 breaks elsewhere.\n"
      "- sycl::malloc_device or queue.wait() on every call and inside loops dominate the run time.\n"
      "- Double precision may be missing on the device; native:: math functions may exceed the tolerance.\n"
      "- 32-bit index overflow on large tensors: compute offsets in size_t.",
      "- Read the verdict first: compile errors and wrong values come before speed. A wrong value's first bad "
      "index and shape tell you which edge is broken.\n"
      "- Compare the time with the roofline (bytes moved / memory bandwidth, FLOPs / peak) to know whether to "
      "cut bytes or raise compute efficiency.\n"
      "- Slow on small shapes: too few work-groups; slow on large ones: poor reuse or uncoalesced access.\n"
      "- State in one sentence which bottleneck the change targets and why it should help.");
}

std::vector<MetaPrompt> OpenClSeeds() {
  return Pair(
      kGpuStepwise, kGpuRestructure,
      "- Build the program and create kernels once per context and reuse them (rebuilding costs milliseconds "
      "per call); keep the kernel source in one string.\n"
      "- Pass an explicit local size (a multiple of 32 or 64 on GPUs) and round the global size up to it.\n"
      "- Make consecutive work-items access consecutive addresses; use vload4/float4 for contiguous data with "
      "a scalar tail.\n"
      "- Tile reused data in __local memory with barrier(CLK_LOCAL_MEM_FENCE) between phases; pad tiles to "
      "avoid bank conflicts.\n"
      "- Reduce within a work-group through local memory (or work_group_reduce_add on OpenCL 2.0+ devices), "
      "then combine groups in a second small kernel.\n"
      "- Fuse elementwise steps into one kernel; use mad/fma and -cl-mad-enable only when the tolerance allows.\n"
      "- Have each work-item compute several outputs (register blocking) in GEMM-like work.",
      "- A missing barrier(CLK_LOCAL_MEM_FENCE) between writing and reading local memory, or a barrier in a "
      "branch not every work-item takes.\n"
      "- Work-items beyond the real size after rounding the global size up: guard every access.\n"
      "- Kernel arguments set with the wrong size or order (clSetKernelArg), and int vs long mismatches "
      "between host and kernel code.\n"
      "- Ignoring error codes: a failed build or enqueue leaves outputs unwritten; print the build log.\n"
      "- Blocking reads/writes, clFinish or buffer creation on every call dominate the run time.\n"
      "- Local sizes above CL_KERNEL_WORK_GROUP_SIZE fail to enqueue; query it instead of assuming.\n"
      "- native_ and half_ math functions and -cl-fast-relaxed-math can exceed the tolerance.",
      "- Read the verdict first: build errors (the kernel source's build log) and wrong values come before "
      "speed.\n"
      "- Compare the time with the roofline (bytes moved / memory bandwidth, FLOPs / peak) to know whether to "
      "cut bytes or raise compute efficiency.\n"
      "- Slow on small shapes: too few work-groups or host overhead per call; slow on large ones: poor reuse "
      "or uncoalesced access.\n"
      "- State in one sentence which bottleneck the change targets and why it should help.");
}

std::vector<MetaPrompt> CpuSeeds() {
  return Pair(
      kCpuStepwise, kCpuRestructure,
      "- Parallelize the outermost independent loop with #pragma omp parallel for (schedule(static) for even "
      "work), with enough work per thread; never open parallel regions inside inner loops.\n"
      "- Vectorize the innermost loop: unit-stride access, __restrict__ pointers, #pragma omp simd, or "
      "AVX2/AVX-512 intrinsics with a scalar tail.\n"
      "- Block loops for the cache: tiles whose working set fits L1/L2; for matmul, pack panels and use a "
      "register-blocked micro-kernel with several independent accumulators.\n"
      "- Order loops so the innermost walks contiguous memory; hoist invariants out of inner loops.\n"
      "- Fuse passes over the data (online softmax, Welford, computing and writing in one sweep).\n"
      "- Use several accumulators per SIMD lane to hide FMA latency, then reduce them once.",
      "- Data races in OpenMP loops: shared accumulators need reduction(+:x) or per-thread partials.\n"
      "- Tails: elements after the last full vector or tile skipped or read out of bounds.\n"
      "- Aligned loads (_mm256_load_ps) on unaligned addresses crash; use loadu unless alignment is proven.\n"
      "- Intrinsics beyond the host's ISA: guard AVX-512 with #ifdef __AVX512F__ and keep an AVX2 or scalar "
      "path.\n"
      "- False sharing: per-thread partial results on the same cache line; pad to 64 bytes.\n"
      "- Reordered floating-point sums (SIMD, reductions) drift from the reference; accumulate in double or "
      "pairwise when the tolerance is tight.\n"
      "- Allocating large buffers or spawning thread teams on every call.",
      "- Read the verdict first: compile errors and wrong values come before speed.\n"
      "- Compare with the roofline: bytes moved / memory bandwidth vs FLOPs / (cores x SIMD width x 2 for "
      "FMA).\n"
      "- Slow only on large shapes: the working set left the cache, so block; poor scaling with threads: "
      "memory-bound, load imbalance or false sharing.\n"
      "- State in one sentence which bottleneck the change targets and why it should help.");
}

std::vector<MetaPrompt> TorchSeeds() {
  return Pair(
      kGpuStepwise, kGpuRestructure,
      "- Replace the reference's PyTorch ops with your own CUDA kernels and fuse consecutive ops (GEMM or "
      "convolution with its bias, activation and scaling; chains of elementwise ops and reductions) into as "
      "few kernels as possible.\n"
      "- Build once: call load_inline at module level, not in forward, with extra_cuda_cflags=['-O3']; give "
      "the extension a unique name and list every exported function in functions=[...].\n"
      "- In the C++ wrapper take torch::Tensor, check device, dtype and contiguity, allocate outputs with "
      "torch::empty(sizes, x.options()) and launch on at::cuda::getCurrentCUDAStream().\n"
      "- Create parameters in __init__ exactly as Model does (same modules or shapes, same order) so seeded "
      "initialization gives the same weights, and read them in forward (e.g. self.linear.weight).\n"
      "- Inside the kernels: coalesced and 128-bit loads, shared-memory tiles, warp shuffles for reductions, "
      "online softmax/Welford, register-blocked tiles for matrix work.",
      "- Any PyTorch op in forward other than allocation and views (F.*, torch.matmul, x + y, .sum()) counts "
      "as falling back to PyTorch.\n"
      "- Inputs may be non-contiguous views: check is_contiguous() or index with strides.\n"
      "- A kernel written for float32 fails on half or double inputs: dispatch on the dtype or check it.\n"
      "- Host syncs in forward (.item(), .cpu(), torch.cuda.synchronize()) stall the GPU; launching on a "
      "stream other than the current one races with PyTorch.\n"
      "- When gradients are checked, wrap the kernels in a torch.autograd.Function with a backward made of "
      "your own kernels.\n"
      "- The usual CUDA traps: missing __syncthreads(), unguarded ragged edges, 32-bit index overflow, fast "
      "math beyond the tolerance.",
      "- Read the verdict first: build errors from load_inline, fallbacks and wrong values come before speed.\n"
      "- Compare with both baselines: eager PyTorch and torch.compile. Beating them on one large GEMM or "
      "convolution is hard; the wins are usually in fusing the ops around it and skipping intermediates.\n"
      "- Count the launches and the intermediate tensors of the reference's forward: each one removed saves "
      "a round trip through global memory.\n"
      "- State in one sentence which bottleneck the change targets and why it should help.");
}

}  // namespace

std::vector<MetaPrompt> SeedPrompts(task::Backend backend) {
  switch (backend) {
    case task::Backend::kCuda: return CudaSeeds();
    case task::Backend::kSycl: return SyclSeeds();
    case task::Backend::kOpenCl: return OpenClSeeds();
    case task::Backend::kCpu: return CpuSeeds();
    case task::Backend::kTorch: return TorchSeeds();
  }
  return CudaSeeds();
}

}  // namespace kf::prompt
