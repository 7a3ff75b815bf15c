#pragma once
// Errors as values for hot paths: Result<T> holds either a T or an Error. An Error says
// whether retrying can help, so callers can map it to 503/429 (retry) or 400 (don't).

#include <cassert>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace lia::core {

enum class Errc {
  invalid_argument = 1,  // bad input: never retry
  not_found,
  conflict,  // duplicate or state conflict
  unauthorized,
  too_large,
  unavailable,  // dependency down or overloaded: retry may help
  timeout,      // deadline passed: retry may help
  cancelled,
  internal,  // bug or unexpected state: do not retry blindly
};

const std::error_category& lia_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), lia_category()};
}
std::string_view to_string(Errc e) noexcept;

// True for the codes where an identical retry later may succeed.
constexpr bool default_retryable(Errc e) noexcept {
  return e == Errc::unavailable || e == Errc::timeout;
}

class Error {
 public:
  Error(Errc code, std::string message)
      : code_(code), message_(std::move(message)), retryable_(default_retryable(code)) {}
  Error(Errc code, std::string message, bool retryable)
      : code_(code), message_(std::move(message)), retryable_(retryable) {}

  Errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  bool retryable() const noexcept { return retryable_; }
  // "unavailable: broker down"
  std::string describe() const;

 private:
  Errc code_;
  std::string message_;
  bool retryable_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : err_(std::move(error)), has_err_(true) {}  // NOLINT(google-explicit-constructor)
  bool ok() const noexcept { return !has_err_; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const {
    assert(has_err_);
    return err_;
  }

 private:
  Error err_{Errc::internal, {}};
  bool has_err_ = false;
};

using Status = Result<void>;

inline Status ok() {
  return {};
}

}  // namespace lia::core

template <>
struct std::is_error_code_enum<lia::core::Errc> : std::true_type {};
