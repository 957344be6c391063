// Errors as values: every component boundary returns Status or Result<T>.
// The code is a small closed set the HTTP layer can map onto the OCI
// distribution error codes without knowing which component failed.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace drydock {

enum class Code {
  kOk,
  kNotFound,
  kInvalid,
  kAlreadyExists,
  kConflict,
  kOutOfRange,
  kTooLarge,
  kUnauthenticated,
  kDenied,
  kUnavailable,
  kTooManyRequests,  // throttled: try again later (HTTP 429)
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {Code::kOutOfRange, std::move(m)}; }
inline Status TooLarge(std::string m) { return {Code::kTooLarge, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  // The value, or `fallback` where a failure needs no more than a default.
  T value_or(T fallback) const& { return value_ ? *value_ : std::move(fallback); }
  T value_or(T fallback) && { return value_ ? std::move(*value_) : std::move(fallback); }

 private:
  std::optional<T> value_;
  Status status_;
};

// Propagates a failed Status out of the current function.
#define DD_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::drydock::Status dd_status_ = (expr);   \
    if (!dd_status_.ok()) return dd_status_; \
  } while (0)

// Declares `lhs` as a reference to the value of a Result, or returns its error.
#define DD_ASSIGN_OR_RETURN(lhs, expr)                    \
  auto lhs##_result_ = (expr);                            \
  if (!lhs##_result_.ok()) return lhs##_result_.status(); \
  auto& lhs = *lhs##_result_;

}  // namespace drydock
