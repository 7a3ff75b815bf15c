#include <lia/core/result.hpp>

namespace lia::core {
namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "lia"; }
  std::string message(int c) const override { return std::string(to_string(static_cast<Errc>(c))); }
};
}  // namespace

const std::error_category& lia_category() noexcept {
  static const Category category;
  return category;
}

std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::not_found:
      return "not_found";
    case Errc::conflict:
      return "conflict";
    case Errc::unauthorized:
      return "unauthorized";
    case Errc::too_large:
      return "too_large";
    case Errc::unavailable:
      return "unavailable";
    case Errc::timeout:
      return "timeout";
    case Errc::cancelled:
      return "cancelled";
    case Errc::internal:
      return "internal";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string s(to_string(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace lia::core
