// SPDX-License-Identifier: Apache-2.0
// Errors as values: a Status carries "context: detail"; Result<T> is a value
// or a Status. errno becomes a Status in exactly one place (FromErrno).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nbw {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string_view context, std::string_view detail) {
    std::string m(context);
    if (!detail.empty()) {
      m += ": ";
      m += detail;
    }
    return Status(std::move(m));
  }
  // errno (positive or negative, libbpf returns -errno) as "context: strerror".
  static Status FromErrno(std::string_view context, int err);

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  // Prefix more context: "loading policy: file.yaml:3:1: bad key".
  Status Wrap(std::string_view context) const { return ok() ? *this : Error(context, message_); }

 private:
  explicit Status(std::string m) : failed_(true), message_(std::move(m)) {}
  bool failed_ = false;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : v_(std::move(s)) {}     // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nbw
