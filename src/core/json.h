// core/json.h — JSON parsing that returns Expected, plus shared helpers.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace kf::core {

using Json = nlohmann::json;

/// Parses text; the error names `what` (a file or "reply from api.example") and the position.
Expected<Json> ParseJson(std::string_view text, std::string_view what);

/// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD:
/// what a child printed (a compiler, a kernel) can be put in JSON, which dump() refuses otherwise.
std::string ValidUtf8(std::string_view text);

/// Bytes as base64 (RFC 4648, padded), and back; nullopt for text that is not base64.
std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace kf::core
