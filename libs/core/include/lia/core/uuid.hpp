#pragma once
// RFC 9562 UUIDs: random v4 and time-ordered v7 (sortable by creation time, good for
// primary keys and event ids).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>

namespace lia::core {

class Uuid {
 public:
  using Bytes = std::array<std::uint8_t, 16>;
  Uuid() = default;  // nil
  explicit Uuid(const Bytes& b) : bytes_(b) {}

  // The random bits come from the kernel (getrandom); a kernel that refuses it (a seccomp
  // profile from before Linux 3.17) makes these throw std::system_error.
  static Uuid v4();
  static Uuid v7(const Clock& clock = SystemClock::instance());
  // Accepts the canonical 8-4-4-4-12 form, either case.
  static std::optional<Uuid> parse(std::string_view text);

  std::string str() const;  // lower-case canonical form
  int version() const { return bytes_[6] >> 4; }
  bool is_nil() const;
  const Bytes& bytes() const { return bytes_; }
  // For v7: the embedded Unix time in milliseconds.
  std::uint64_t unix_ms() const;

  friend bool operator==(const Uuid&, const Uuid&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  friend auto operator<=>(const Uuid&, const Uuid&) = default;

 private:
  Bytes bytes_{};
};

}  // namespace lia::core
