#include "eval/input_gen.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/hash.h"

namespace kf::eval {

namespace {

std::uint32_t FloatBits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float BitsFloat(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// splitmix64: tiny, fast, identical on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

 private:
  std::uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

template <class T>
void Store(unsigned char* out, std::int64_t i, T v) {
  std::memcpy(out + i * static_cast<std::int64_t>(sizeof(T)), &v, sizeof(T));
}

template <class T>
T LoadAs(const unsigned char* in, std::int64_t i) {
  T v;
  std::memcpy(&v, in + i * static_cast<std::int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <class I>
I ClampToInt(double v) {
  v = std::nearbyint(v);
  v = std::clamp(v, static_cast<double>(std::numeric_limits<I>::min()),
                 static_cast<double>(std::numeric_limits<I>::max()));
  return static_cast<I>(v);
}

void StoreValue(task::DType t, unsigned char* out, std::int64_t i, double v) {
  switch (t) {
    case task::DType::kF32: Store<float>(out, i, static_cast<float>(v)); break;
    case task::DType::kF64: Store<double>(out, i, v); break;
    case task::DType::kF16: Store<std::uint16_t>(out, i, FloatToHalf(static_cast<float>(v))); break;
    case task::DType::kBF16: Store<std::uint16_t>(out, i, FloatToBFloat16(static_cast<float>(v))); break;
    case task::DType::kI8: Store<std::int8_t>(out, i, ClampToInt<std::int8_t>(v)); break;
    case task::DType::kI32: Store<std::int32_t>(out, i, ClampToInt<std::int32_t>(v)); break;
    case task::DType::kI64: Store<std::int64_t>(out, i, ClampToInt<std::int64_t>(v)); break;
    case task::DType::kU8: Store<std::uint8_t>(out, i, ClampToInt<std::uint8_t>(v)); break;
  }
}

}  // namespace

std::uint16_t FloatToHalf(float f) {
  std::uint32_t x = FloatBits(f);
  const std::uint32_t sign = (x >> 16) & 0x8000U;
  std::uint32_t a = x & 0x7fffffffU;
  if (a > 0x7f800000U) return static_cast<std::uint16_t>(sign | 0x7e00U);  // NaN
  if (a >= 0x477ff000U) return static_cast<std::uint16_t>(sign | 0x7c00U);  // >= 65520 rounds to inf
  if (a < 0x38800000U) {
    // Below the smallest normal half (2^-14): the result is round(|f| * 2^24) units of 2^-24,
    // an exact scaling; nearbyint rounds half to even in the default rounding mode.
    const float units = std::nearbyint(std::fabs(f) * 16777216.0f);
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(units));
  }
  a += 0x0fffU + ((a >> 13) & 1U);  // round to nearest, ties to even
  a -= 0x38000000U;                 // rebias the exponent from 127 to 15
  return static_cast<std::uint16_t>(sign | (a >> 13));
}

std::uint16_t FloatToBFloat16(float f) {
  const std::uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffU) > 0x7f800000U) return static_cast<std::uint16_t>(((x >> 16) & 0x8000U) | 0x7fc0U);
  return static_cast<std::uint16_t>((x + 0x7fffU + ((x >> 16) & 1U)) >> 16);
}

float HalfToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000U) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fU;
  const std::uint32_t mant = h & 0x3ffU;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign != 0 ? -v : v;
  }
  if (exp == 31) return BitsFloat(sign | 0x7f800000U | (mant << 13));
  return BitsFloat(sign | ((exp + 112U) << 23) | (mant << 13));
}

float BFloat16ToFloat(std::uint16_t b) { return BitsFloat(static_cast<std::uint32_t>(b) << 16); }

double LoadAsDouble(task::DType t, const unsigned char* data, std::int64_t index) {
  switch (t) {
    case task::DType::kF32: return LoadAs<float>(data, index);
    case task::DType::kF64: return LoadAs<double>(data, index);
    case task::DType::kF16: return HalfToFloat(LoadAs<std::uint16_t>(data, index));
    case task::DType::kBF16: return BFloat16ToFloat(LoadAs<std::uint16_t>(data, index));
    case task::DType::kI8: return LoadAs<std::int8_t>(data, index);
    case task::DType::kI32: return LoadAs<std::int32_t>(data, index);
    case task::DType::kI64: return static_cast<double>(LoadAs<std::int64_t>(data, index));
    case task::DType::kU8: return LoadAs<std::uint8_t>(data, index);
  }
  return 0;
}

std::uint64_t InputSeed(std::uint64_t base_seed, const std::string& content_hash, int shape, int trial,
                        const std::string& arg_name) {
  return core::Fnv1a64(fmt::format("{}|{}|{}|{}|{}", base_seed, content_hash, shape, trial, arg_name));
}

std::string GenerateInput(const task::ArgSpec& arg, std::int64_t elements, std::uint64_t seed) {
  std::string out(static_cast<std::size_t>(elements) * task::DTypeSize(arg.dtype), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  Rng rng(seed);
  const task::InitSpec& init = arg.init;
  for (std::int64_t i = 0; i < elements; ++i) {
    double v = 0;
    switch (init.dist) {
      case task::Dist::kNormal: v = init.mean + init.stddev * rng.Normal(); break;
      case task::Dist::kUniform: v = init.low + (init.high - init.low) * rng.Uniform(); break;
      case task::Dist::kIntegers: {
        const double lo = std::ceil(init.low), hi = std::floor(init.high);
        const double span = std::max(0.0, hi - lo + 1);
        v = lo + std::min(span - 1, std::floor(rng.Uniform() * span));
        break;
      }
      case task::Dist::kConstant: v = init.value; break;
    }
    StoreValue(arg.dtype, p, i, v);
  }
  return out;
}

void FillPoison(task::DType t, unsigned char* data, std::int64_t elements, unsigned char int_pattern) {
  switch (t) {
    case task::DType::kF32:
      for (std::int64_t i = 0; i < elements; ++i) Store<std::uint32_t>(data, i, 0x7fc00000U);
      break;
    case task::DType::kF64:
      for (std::int64_t i = 0; i < elements; ++i) Store<std::uint64_t>(data, i, 0x7ff8000000000000ULL);
      break;
    case task::DType::kF16:
      for (std::int64_t i = 0; i < elements; ++i) Store<std::uint16_t>(data, i, 0x7e00U);
      break;
    case task::DType::kBF16:
      for (std::int64_t i = 0; i < elements; ++i) Store<std::uint16_t>(data, i, 0x7fc0U);
      break;
    default:
      std::memset(data, int_pattern, static_cast<std::size_t>(elements) * task::DTypeSize(t));
  }
}

bool IsPoison(task::DType t, const unsigned char* data, std::int64_t index, unsigned char int_pattern) {
  switch (t) {
    case task::DType::kF32: return LoadAs<std::uint32_t>(data, index) == 0x7fc00000U;
    case task::DType::kF64: return LoadAs<std::uint64_t>(data, index) == 0x7ff8000000000000ULL;
    case task::DType::kF16: return LoadAs<std::uint16_t>(data, index) == 0x7e00U;
    case task::DType::kBF16: return LoadAs<std::uint16_t>(data, index) == 0x7fc0U;
    default: {
      const std::size_t size = task::DTypeSize(t);
      const unsigned char* e = data + static_cast<std::size_t>(index) * size;
      return std::all_of(e, e + size, [&](unsigned char c) { return c == int_pattern; });
    }
  }
}

}  // namespace kf::eval
