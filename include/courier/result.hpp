/// @file
/// A small expected-like type for the cold paths.
/// C++20 has no std::expected; this is the subset courier needs.
#pragma once

#include <cassert>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "courier/error.hpp"

namespace courier {

/// A value of type T, or the Error that kept a cold path from making one.
///
///     auto bus = courier::Bus::open("orders");
///     if (!bus) { std::fprintf(stderr, "%s\n", bus.error().message.c_str()); return 1; }
///     bus->endpoint("alice");
///
/// [[nodiscard]]: ignoring one is a warning. value(), operator* and
/// operator-> require has_value(), error() requires !has_value() (checked by
/// assert in debug builds only). Not thread-safe beyond what T is: one
/// Result, one thread at a time.
template <class T>
class [[nodiscard]] Result {
 public:
  /// Success, holding `value` (implicit: `return value;` in a function returning Result<T>).
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  /// Failure, holding `error` (implicit: `return Error(...);`).
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  /// True when it holds a value.
  explicit operator bool() const noexcept { return v_.index() == 0; }
  /// True when it holds a value.
  bool has_value() const noexcept { return v_.index() == 0; }

  /// The value (requires has_value()).
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  /// The value (requires has_value()).
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  /// The value, moved out (requires has_value()).
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  /// The value (requires has_value()).
  T& operator*() & { return value(); }
  /// The value (requires has_value()).
  const T& operator*() const& { return value(); }
  /// The value, moved out (requires has_value()).
  T&& operator*() && { return std::move(*this).value(); }
  /// The value's members (requires has_value()).
  T* operator->() { return &value(); }
  /// The value's members (requires has_value()).
  const T* operator->() const { return &value(); }

  /// The error (requires !has_value()).
  const Error& error() const& {
    assert(!has_value());
    return std::get<1>(v_);
  }
  /// The error, moved out (requires !has_value()): `return std::move(r).error();`.
  Error&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

/// Success (nothing to hold) or an Error: the result of a cold path that
/// makes no value. Same rules as Result<T>.
template <>
class [[nodiscard]] Result<void> {
 public:
  /// Success.
  Result() = default;
  /// Failure, holding `error` (implicit: `return Error(...);`).
  Result(Error error) : e_(std::move(error)) {}  // NOLINT

  /// True on success.
  explicit operator bool() const noexcept { return !e_.has_value(); }
  /// True on success.
  bool has_value() const noexcept { return !e_.has_value(); }
  /// The error (requires !has_value()).
  const Error& error() const& {
    assert(e_);
    return *e_;
  }
  /// The error, moved out (requires !has_value()).
  Error&& error() && {
    assert(e_);
    return std::move(*e_);
  }

 private:
  std::optional<Error> e_;
};

}  // namespace courier
