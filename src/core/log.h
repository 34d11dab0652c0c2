// core/log.h — leveled logging to stderr, with secret redaction.
//
// Every line passes through Redact(), so a registered secret (an API key, a Redis password)
// never reaches a log even if a caller formats it by mistake. Thread-safe.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace kf::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

/// Default level: KF_LOG env var (debug|info|warn|error|quiet), else info.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void LogLine(LogLevel level, std::string_view message);

/// Registers a secret; from now on Redact() replaces it with "***". Ignores strings shorter
/// than 4 characters (they would redact ordinary words).
void RegisterSecret(std::string_view secret);
/// Returns text with every registered secret replaced by "***".
std::string Redact(std::string_view text);

template <class... A>
void LogDebug(fmt::format_string<A...> f, A&&... a) {
  if (GetLogLevel() <= LogLevel::kDebug) LogLine(LogLevel::kDebug, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void LogInfo(fmt::format_string<A...> f, A&&... a) {
  if (GetLogLevel() <= LogLevel::kInfo) LogLine(LogLevel::kInfo, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void LogWarn(fmt::format_string<A...> f, A&&... a) {
  if (GetLogLevel() <= LogLevel::kWarn) LogLine(LogLevel::kWarn, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void LogError(fmt::format_string<A...> f, A&&... a) {
  if (GetLogLevel() <= LogLevel::kError) LogLine(LogLevel::kError, fmt::format(f, std::forward<A>(a)...));
}

}  // namespace kf::core
