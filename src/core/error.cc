#include "core/error.h"

namespace kf::core {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kValidation: return "validation";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kIo: return "i/o";
    case ErrorCode::kParse: return "parse";
    case ErrorCode::kToolchain: return "toolchain";
    case ErrorCode::kNetwork: return "network";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kRateLimited: return "rate limited";
    case ErrorCode::kServer: return "server";
    case ErrorCode::kAuth: return "auth";
    case ErrorCode::kBudget: return "budget";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace kf::core
