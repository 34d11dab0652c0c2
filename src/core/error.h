// core/error.h — outcomes as values.
//
// Recoverable infrastructure failures (bad spec, missing toolchain, HTTP 429, I/O) travel as
// Expected<T> holding one Error{code, message}; the message says what is wrong and what to do.
// Programmer errors use KF_CHECK, which aborts. Library code never exits the process.
#pragma once

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace kf::core {

enum class ErrorCode {
  kInvalidArgument,  // the caller passed something malformed (usage error)
  kValidation,       // a user file (task.yaml, config) is invalid; message lists every problem
  kNotFound,
  kIo,
  kParse,
  kToolchain,        // a compiler or runtime is missing or broken
  kNetwork,          // connection refused, DNS, TLS, reset
  kTimeout,
  kRateLimited,      // HTTP 429 after all retries
  kServer,           // HTTP 5xx after all retries, or an unusable reply
  kAuth,             // HTTP 401/403
  kBudget,           // a cost or iteration budget is exhausted
  kCancelled,        // Ctrl-C or a cancel flag
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  std::string ToString() const { return std::string(ErrorCodeName(code)) + ": " + message; }
};

inline Error MakeError(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

/// Either a value or an Error. Cheap to move; check ok() before value().
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return Get(); }
  const T& value() const& { return Get(); }
  T&& value() && { return std::move(Get()); }
  T& operator*() & { return Get(); }
  const T& operator*() const& { return Get(); }
  T* operator->() { return &Get(); }
  const T* operator->() const { return &Get(); }

  const Error& error() const {
    if (ok()) {
      std::cerr << "kfoundry: Expected::error() called on a value\n";
      std::abort();
    }
    return std::get<1>(v_);
  }

 private:
  T& Get() {
    if (!ok()) Die();
    return std::get<0>(v_);
  }
  const T& Get() const {
    if (!ok()) Die();
    return std::get<0>(v_);
  }
  [[noreturn]] void Die() const {
    std::cerr << "kfoundry: Expected::value() called on an error: " << std::get<1>(v_).ToString() << "\n";
    std::abort();
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Expected<void> Ok() { return {}; }

namespace detail {
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond) {
    stream_ << file << ":" << line << ": check failed: " << cond << ": ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << "kfoundry: " << stream_.str() << std::endl;
    std::abort();
  }
  template <class V>
  CheckFailure& operator<<(const V& v) {
    stream_ << v;
    return *this;
  }

 private:
  std::ostringstream stream_;
};
}  // namespace detail

}  // namespace kf::core

/// KF_CHECK(cond) << "why": aborts with file, line and the message when cond is false.
#define KF_CHECK(cond) \
  if (cond) {          \
  } else               \
    ::kf::core::detail::CheckFailure(__FILE__, __LINE__, #cond)

/// KF_TRY(var, expr): binds var to the value of an Expected or returns its error.
#define KF_CONCAT_INNER(a, b) a##b
#define KF_CONCAT(a, b) KF_CONCAT_INNER(a, b)
#define KF_TRY(var, expr)                                     \
  auto KF_CONCAT(kf_try_, __LINE__) = (expr);                 \
  if (!KF_CONCAT(kf_try_, __LINE__).ok())                     \
    return KF_CONCAT(kf_try_, __LINE__).error();              \
  var = std::move(KF_CONCAT(kf_try_, __LINE__)).value()
/// KF_TRY_VOID(expr): returns the error of an Expected<void>.
#define KF_TRY_VOID(expr)                                     \
  do {                                                        \
    auto kf_try_void_ = (expr);                               \
    if (!kf_try_void_.ok()) return kf_try_void_.error();      \
  } while (0)
