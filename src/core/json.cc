#include "core/json.h"

#include <fmt/format.h>

namespace kf::core {

Expected<Json> ParseJson(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return MakeError(ErrorCode::kParse, fmt::format("{} is not valid JSON at byte {}: {}", what, e.byte, e.what()));
  }
}

}  // namespace kf::core
