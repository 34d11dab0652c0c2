// core/json.h — JSON parsing that returns Expected, plus shared helpers.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "core/error.h"

namespace kf::core {

using Json = nlohmann::json;

/// Parses text; the error names `what` (a file or "reply from api.example") and the position.
Expected<Json> ParseJson(std::string_view text, std::string_view what);

}  // namespace kf::core
