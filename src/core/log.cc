#include "core/log.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

namespace kf::core {
namespace {

LogLevel LevelFromEnv() {
  const char* v = std::getenv("KF_LOG");
  if (v == nullptr) return LogLevel::kInfo;
  std::string s(v);
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  if (s == "quiet") return LogLevel::kQuiet;
  return LogLevel::kInfo;
}

struct LogState {
  std::mutex mu;
  LogLevel level = LevelFromEnv();
  std::vector<std::string> secrets;
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: logging works during exit
  return *state;
}

const char* LevelTag(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kQuiet: return "";
  }
  return "";
}

std::string RedactLocked(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    for (std::size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 3)) {
      text.replace(pos, secret.size(), "***");
    }
  }
  return text;
}

}  // namespace

void SetLogLevel(LogLevel level) {
  std::lock_guard lock(State().mu);
  State().level = level;
}

LogLevel GetLogLevel() {
  std::lock_guard lock(State().mu);
  return State().level;
}

void LogLine(LogLevel level, std::string_view message) {
  LogState& s = State();
  std::lock_guard lock(s.mu);
  if (level < s.level) return;
  std::string line = RedactLocked(std::string(message), s.secrets);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[16];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::fprintf(stderr, "[%s %s] %s\n", stamp, LevelTag(level), line.c_str());
  std::fflush(stderr);
}

void RegisterSecret(std::string_view secret) {
  if (secret.size() < 4) return;
  std::lock_guard lock(State().mu);
  for (const std::string& s : State().secrets)
    if (s == secret) return;
  State().secrets.emplace_back(secret);
}

std::string Redact(std::string_view text) {
  std::lock_guard lock(State().mu);
  return RedactLocked(std::string(text), State().secrets);
}

}  // namespace kf::core
