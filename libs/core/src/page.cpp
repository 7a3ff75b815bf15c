#include <charconv>

#include <lia/core/page.hpp>
#include <lia/core/uuid.hpp>

namespace lia::core {

std::optional<PageCursor> parse_page_cursor(std::string_view text) {
  const auto sep = text.find('_');
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  std::int64_t us = 0;
  const char* end = text.data() + sep;
  const auto read = std::from_chars(text.data(), end, us);
  // 9999-12-31T23:59:59.999999Z: a number past it was a 500 from the database.
  constexpr std::int64_t kMaxUs = 253'402'300'799'999'999;
  if (read.ec != std::errc{} || read.ptr != end || us < 0 || us > kMaxUs) return std::nullopt;
  auto id = Uuid::parse(text.substr(sep + 1));
  if (!id) return std::nullopt;
  return PageCursor{us, id->str()};
}

std::string page_cursor(std::int64_t us, std::string_view id) {
  std::string out = std::to_string(us);
  out += '_';
  out += id;
  return out;
}

}  // namespace lia::core
