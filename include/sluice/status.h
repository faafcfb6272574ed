// Status and Result: the error values used on hot paths and across module boundaries.
// Exceptions are reserved for the edges (CLI parsing, start-up).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sluice {

/// Error categories. Each names the rule that was broken so callers can count by reason.
enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad configuration or option
  kFraming,          // the byte stream breaks the wire format
  kDecode,           // an image payload could not be decoded
  kLimit,            // a configured limit (pixels, size, connections) was exceeded
  kIo,               // a socket or file operation failed
  kClosed,           // the peer or the pipeline is shutting down
  kModel,            // model loading or inference failed
  kInternal,
};

/// Short stable name for a code, used as a metric label and in error lines.
const char* code_name(Code code);

/// The outcome of an operation: ok, or a code and a message for a human.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "framing: length -5 is negative" style text.
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

/// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(state_).is_ok() && "a Result built from a Status must carry an error");
  }

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace sluice
