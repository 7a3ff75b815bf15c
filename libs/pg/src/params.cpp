#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <system_error>

#include <lia/pg/params.hpp>

namespace lia::pg {

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) return std::to_string(v);  // cannot happen with 64 bytes
  return {buf, end};
}

}  // namespace lia::pg
