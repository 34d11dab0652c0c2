// eval/compare.h — the correctness check the parent runs on buffers the child wrote.
// Internal to the eval module.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "eval/eval_result.h"
#include "task/task.h"

namespace kf::eval {

/// allclose: |actual - expected| <= atol + rtol * |expected| per element. Where the reference
/// is finite, NaN/Inf fail ("nonfinite"); an element still holding the poison is "unwritten";
/// where the reference is non-finite the candidate must match it exactly. Returns the report
/// (arg, counts, first bad index and coordinate, errors) or nullopt when every element passes.
/// shape_label and trial are left for the caller.
std::optional<Mismatch> CompareOutput(const task::ArgSpec& arg, const std::vector<std::int64_t>& dims,
                                      const unsigned char* expected, const unsigned char* actual,
                                      const task::Tolerance& tolerance, unsigned char int_poison);

/// Byte comparison of an input with the parent's copy; a report of kind "input_mutated".
std::optional<Mismatch> CompareInput(const task::ArgSpec& arg, const std::vector<std::int64_t>& dims,
                                     std::string_view original, const unsigned char* now);

/// Row-major coordinate of a flat index.
std::vector<std::int64_t> Coordinate(const std::vector<std::int64_t>& dims, std::int64_t flat);

}  // namespace kf::eval
