// Tunable blocked matrix multiply, C = A * B, row-major (BLIS-style loop nest).
//
// Parameters (the tuner turns each `// @param` line into a #define):
//   BM, BN, BK  cache blocks: B is packed once per call into BK x NR panels; each OpenMP task
//               owns a BM x BN block of C and, per BK step, packs its BM x BK block of A and
//               sweeps it across the block's B panels.
//   MR, NR      the register tile: MR rows x NR columns of C held in vector accumulators
//               while the micro-kernel streams over BK (NR in floats, 8 per vector).
// The (m / BM) x (n / BN) blocks of C are the OpenMP tasks: BM and BN also set how many threads
// can be busy, and how often each block of A is re-packed (n / BN times).
// @param BM: 32, 16, 64, 128
// @param BN: 64, 32, 128, 256
// @param BK: 64, 128, 256
// @param MR: 2, 4, 8
// @param NR: 8, 16, 32
// Registers: the MR x NR accumulators and one row of B fit 32 vector registers of 8 floats.
// @constraint MR * NR <= 192
// Caches: a BK x NR panel of B stays in half of a 32 KiB L1 while the A panels stream past it,
// the packed BM x BK block of A fits 256 KiB of L2, the packed BK x BN block of B 512 KiB.
// @constraint BK * NR * 4 <= 16384
// @constraint BM * BK * 4 <= 262144
// @constraint BN * BK * 4 <= 524288
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

typedef float Vec8 __attribute__((vector_size(32)));
constexpr int kVec = 8;
constexpr int kNV = NR / kVec;                       // vectors per accumulator row
constexpr int kPanelM = (BM + MR - 1) / MR * MR;     // packed A rows (BM rounded up to MR)

static_assert(NR % kVec == 0, "NR must be a multiple of the vector width");
static_assert(BN % NR == 0, "a BN block starts on an NR panel boundary");

inline Vec8 LoadVec(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void StoreVec(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }

// C[0:mr, 0:nr] (+)= Apanel (kc x MR, k-major) * Bpanel (kc x NR, k-major). Panels are padded
// with zeros, so the arithmetic is always a full MR x NR tile; only the store is clipped.
inline void MicroKernel(int kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c,
                        int64_t ldc, int mr, int nr, bool overwrite) {
  Vec8 acc[MR][kNV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) acc[i][v] = Vec8{};
  }
  for (int p = 0; p < kc; ++p) {
    Vec8 b[kNV];
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) b[v] = LoadVec(bp + p * NR + v * kVec);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const float a = ap[p * MR + i];
#pragma GCC unroll 16
      for (int v = 0; v < kNV; ++v) acc[i][v] += b[v] * a;
    }
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
      for (int v = 0; v < kNV; ++v) {
        float* dst = c + i * ldc + v * kVec;
        StoreVec(dst, overwrite ? acc[i][v] : LoadVec(dst) + acc[i][v]);
      }
    }
    return;
  }
  for (int i = 0; i < mr; ++i) {
    float row[NR];
    std::memcpy(row, acc[i], sizeof row);
    for (int j = 0; j < nr; ++j) c[i * ldc + j] = overwrite ? row[j] : c[i * ldc + j] + row[j];
  }
}

}  // namespace

void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < static_cast<int64_t>(m) * n; ++i) c[i] = 0.0f;
    return;
  }
  // All of B, packed once: for each BK slab of rows, NR-column panels of kc x NR floats
  // (zero-padded past n), so the panels of any BN block are contiguous.
  const int32_t npanels = (n + NR - 1) / NR;
  const int64_t npad = static_cast<int64_t>(npanels) * NR;
  const int32_t mblocks = (m + BM - 1) / BM, nblocks = (n + BN - 1) / BN, kblocks = (k + BK - 1) / BK;
  float* bpack = static_cast<float*>(std::aligned_alloc(64, (sizeof(float) * k * npad + 63) / 64 * 64));
#pragma omp parallel
  {
#pragma omp for collapse(2) schedule(static)
    for (int32_t kb = 0; kb < kblocks; ++kb) {
      for (int32_t jp = 0; jp < npanels; ++jp) {
        const int32_t pc = kb * BK, kc = k - pc < BK ? k - pc : BK;
        const int32_t j0 = jp * NR, w = n - j0 < NR ? n - j0 : NR;
        float* dst = bpack + pc * npad + static_cast<int64_t>(jp) * kc * NR;
        for (int32_t p = 0; p < kc; ++p) {
          const float* src = b + static_cast<int64_t>(pc + p) * n + j0;
          int32_t j = 0;
          for (; j < w; ++j) dst[p * NR + j] = src[j];
          for (; j < NR; ++j) dst[p * NR + j] = 0.0f;
        }
      }
    }  // the implicit barrier: B is packed before any thread reads it
    // This thread's packed A block: MR-row panels of kc x MR floats, zero-padded past m.
    float* apack = static_cast<float*>(std::aligned_alloc(64, (sizeof(float) * kPanelM * BK + 63) / 64 * 64));
    // One task per BM x BN block of C; it owns that block for the whole k loop.
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int32_t ib = 0; ib < mblocks; ++ib) {
      for (int32_t jb = 0; jb < nblocks; ++jb) {
        const int32_t ic = ib * BM, mc = m - ic < BM ? m - ic : BM;
        const int32_t jc = jb * BN, nc = n - jc < BN ? n - jc : BN;
        for (int32_t pc = 0; pc < k; pc += BK) {
          const int32_t kc = k - pc < BK ? k - pc : BK;
          for (int32_t ip = 0; ip < (mc + MR - 1) / MR; ++ip) {
            float* dst = apack + static_cast<int64_t>(ip) * kc * MR;
            for (int32_t i = 0; i < MR; ++i) {
              const int32_t row = ic + ip * MR + i;
              if (row < m) {
                const float* src = a + static_cast<int64_t>(row) * k + pc;
                for (int32_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p];
              } else {
                for (int32_t p = 0; p < kc; ++p) dst[p * MR + i] = 0.0f;
              }
            }
          }
          const float* bslab = bpack + pc * npad;
          for (int32_t jr = 0; jr < nc; jr += NR) {
            const int32_t nr = nc - jr < NR ? nc - jr : NR;
            const float* bp = bslab + static_cast<int64_t>((jc + jr) / NR) * kc * NR;
            for (int32_t ir = 0; ir < mc; ir += MR) {
              const int32_t mr = mc - ir < MR ? mc - ir : MR;
              MicroKernel(kc, apack + static_cast<int64_t>(ir / MR) * kc * MR, bp,
                          c + static_cast<int64_t>(ic + ir) * n + jc + jr, n, mr, nr, pc == 0);
            }
          }
        }
      }
    }
    std::free(apack);
  }
  std::free(bpack);
}
