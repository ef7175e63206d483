// Larder's one error vocabulary: a Status (code + message) and Result<T> (a value or a Status).
// No exception crosses the public API; every fallible call returns one of these.
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace larder {

// Stable codes. Their names (ErrorCodeName) are part of the HTTP and C APIs: never renumber.
enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,         // malformed request, wrong type, bad value (HTTP 400)
  kConfigError = 2,             // feature_store.yaml is invalid (file, line, column in message)
  kFeatureViewNotFound = 3,     // HTTP 404
  kFeatureNotFound = 4,         // HTTP 404
  kFeatureServiceNotFound = 5,  // HTTP 404
  kPushSourceNotFound = 6,      // HTTP 422
  kMissingJoinKey = 7,          // entity rows lack a join key a view needs (HTTP 400)
  kStoreNotFound = 8,           // no segment at the path (run `larder apply`)
  kCorruptStore = 9,            // the segment failed validation
  kIncompatibleStore = 10,      // foreign file, other layout version or ABI
  kStoreFull = 11,              // memory_limit reached; nothing was written
  kIoError = 12,                // a system call failed (errno text in message)
  kBusy = 13,                   // a lock or slot could not be had in time
  kUnsupported = 14,            // not implemented in this version (HTTP 501)
  kInternal = 15,               // a bug: please report
  kDataSourceNotFound = 16,     // a batch source or view's source file is missing
  kDataSourceError = 17,        // a batch source file is malformed
};

// "InvalidArgument", "FeatureViewNotFound", ...: stable names used in JSON error bodies.
const char* ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "FeatureViewNotFound: feature view 'x' is not in the registry"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` + ": ".
  Status WithContext(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Named factories, one per code that callers construct often.
inline Status InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status ConfigError(std::string m) { return {ErrorCode::kConfigError, std::move(m)}; }
inline Status CorruptStore(std::string m) { return {ErrorCode::kCorruptStore, std::move(m)}; }
inline Status IoError(std::string m) { return {ErrorCode::kIoError, std::move(m)}; }
inline Status InternalError(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

// A value of type T, or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace larder

// Propagates a non-OK Status from an expression returning Status.
#define LARDER_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::larder::Status _larder_st = (expr);         \
    if (!_larder_st.ok()) return _larder_st;      \
  } while (0)

#define LARDER_CONCAT_INNER(a, b) a##b
#define LARDER_CONCAT(a, b) LARDER_CONCAT_INNER(a, b)
// Declares `lhs` from a Result-returning expression, or returns its Status.
#define LARDER_ASSIGN_OR_RETURN(lhs, expr) \
  LARDER_ASSIGN_OR_RETURN_IMPL(LARDER_CONCAT(_larder_res_, __LINE__), lhs, expr)
#define LARDER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
