// Tunable row sum: y[r] = sum over c of x[r, c].
//
// Parameters (the tuner turns each `// @param` line into a #define):
//   VEC    floats per vector accumulator (a GCC vector of VEC floats; 1 = scalar code).
//   ACC    independent accumulators per row: a single chain waits on the add latency for
//          every element, ACC chains overlap; VEC * ACC floats are consumed per step.
//   ROWS   rows reduced together in one sweep, so several memory streams are in flight.
//   CHUNK  row groups per OpenMP chunk (schedule(static, CHUNK)).
//   PF     software prefetch distance in bytes ahead of the loads (0: rely on the hardware).
// @param VEC: 1, 4, 8, 16
// @param ACC: 2, 1, 4, 8
// @param ROWS: 1, 2, 4
// @param CHUNK: 16, 1, 64, 256
// @param PF: 0, 1024
// The accumulators fit the 32 vector registers (VEC * ACC * ROWS floats in 16-float registers,
// rounded up per accumulator), with room for the loaded operands.
// @constraint ACC * ROWS * ((VEC + 15) / 16) <= 16
// A step of VEC * ACC floats is at most 128 floats (512 bytes), so a row of a few hundred
// floats still takes the vector path.
// @constraint VEC * ACC <= 64
#include <cstdint>
#include <cstring>

namespace {

template <int V>
struct VecOf {
  typedef float type __attribute__((vector_size(V * sizeof(float))));
};
template <>
struct VecOf<1> {
  typedef float type;
};
using Vec = VecOf<VEC>::type;

inline Vec LoadVec(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float Lanes(Vec v) {
  float lanes[VEC];
  std::memcpy(lanes, &v, sizeof lanes);
  float s = 0.0f;
  for (int i = 0; i < VEC; ++i) s += lanes[i];
  return s;
}

// y[0:R] = row sums of the R consecutive rows starting at x.
template <int R>
inline void ReduceRows(const float* __restrict x, float* __restrict y, int64_t cols) {
  Vec acc[R][ACC];
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 32
    for (int a = 0; a < ACC; ++a) acc[r][a] = Vec{};
  }
  constexpr int64_t kStep = static_cast<int64_t>(VEC) * ACC;
  int64_t c = 0;
  for (; c + kStep <= cols; c += kStep) {
#if PF > 0
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) __builtin_prefetch(x + r * cols + c + PF / 4, 0, 0);
#endif
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 32
      for (int a = 0; a < ACC; ++a) acc[r][a] += LoadVec(x + r * cols + c + a * VEC);
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r) {
    float s = 0.0f;
    for (int a = 0; a < ACC; ++a) s += Lanes(acc[r][a]);
    for (int64_t t = c; t < cols; ++t) s += x[r * cols + t];
    y[r] = s;
  }
}

}  // namespace

void row_reduce(const float* x, float* y, int32_t rows, int32_t cols) {
  const int32_t groups = (rows + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static, CHUNK)
  for (int32_t g = 0; g < groups; ++g) {
    const int32_t r0 = g * ROWS;
    const float* xr = x + static_cast<int64_t>(r0) * cols;
    if (r0 + ROWS <= rows) {
      ReduceRows<ROWS>(xr, y + r0, cols);
    } else {
      for (int32_t r = r0; r < rows; ++r) ReduceRows<1>(x + static_cast<int64_t>(r) * cols, y + r, cols);
    }
  }
}
