// eval/input_gen.h — deterministic inputs, poison values and dtype conversions.
//
// Inputs for (shape, trial) are a pure function of (seed, task content hash, shape index,
// trial, arg name), so a cached reference output always matches regenerated inputs.
// Internal to the eval module.
#pragma once

#include <cstdint>
#include <string>

#include "task/task.h"

namespace kf::eval {

/// IEEE binary16 / bfloat16 from float with round-to-nearest-even (NaN stays NaN).
std::uint16_t FloatToHalf(float f);
std::uint16_t FloatToBFloat16(float f);
float HalfToFloat(std::uint16_t h);
float BFloat16ToFloat(std::uint16_t b);

/// Element `index` of a buffer of dtype `t`, widened to double.
double LoadAsDouble(task::DType t, const unsigned char* data, std::int64_t index);

/// `elements` values of arg's dtype drawn from its init spec; integers (rounded, clamped to the
/// dtype's range) for integer dtypes.
std::string GenerateInput(const task::ArgSpec& arg, std::int64_t elements, std::uint64_t seed);

/// The seed of one input buffer.
std::uint64_t InputSeed(std::uint64_t base_seed, const std::string& content_hash, int shape, int trial,
                        const std::string& arg_name);

/// Poison for outputs: a quiet NaN per element for float dtypes; for integer dtypes every byte
/// is `int_pattern`. `IsPoison` tells whether an element still holds it.
void FillPoison(task::DType t, unsigned char* data, std::int64_t elements, unsigned char int_pattern);
bool IsPoison(task::DType t, const unsigned char* data, std::int64_t index, unsigned char int_pattern);

}  // namespace kf::eval
