#include <charconv>
#include <cstdlib>
#include <string>

#include <libpq-fe.h>

#include <lia/pg/rows.hpp>

namespace lia::pg {
namespace detail {
namespace {
[[noreturn]] void bad(std::string_view text, std::string_view column, const char* as) {
  // Values may hold personal data: name the column, show only the length.
  throw DataError("column " + std::string(column) + ": value of " + std::to_string(text.size()) +
                  " bytes is not " + as);
}
}  // namespace

std::int64_t parse_int(std::string_view text, std::int64_t min, std::int64_t max,
                       std::string_view column) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v < min || v > max) {
    bad(text, column, "an integer in range");
  }
  return v;
}

std::uint64_t parse_uint(std::string_view text, std::uint64_t max, std::string_view column) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v > max) {
    bad(text, column, "an unsigned integer in range");
  }
  return v;
}

double parse_double(std::string_view text, std::string_view column) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size()) bad(text, column, "a number");
  return v;
}

bool parse_bool(std::string_view text, std::string_view column) {
  if (text == "t" || text == "true") return true;
  if (text == "f" || text == "false") return false;
  bad(text, column, "a boolean");
}

core::Uuid parse_uuid(std::string_view text, std::string_view column) {
  auto u = core::Uuid::parse(text);
  if (!u) bad(text, column, "a UUID");
  return *u;
}
}  // namespace detail

int Row::columns() const {
  return PQnfields(res_);
}

int Row::column_index(std::string_view name) const {
  const int n = PQnfields(res_);
  for (int i = 0; i < n; ++i) {
    if (name == PQfname(res_, i)) return i;
  }
  return -1;
}

std::string_view Row::column_name(int col) const {
  const char* n = PQfname(res_, col);
  return n != nullptr ? std::string_view(n) : std::string_view("?");
}

int Row::index_or_throw(std::string_view name) const {
  const int i = column_index(name);
  if (i < 0) throw DataError("no column named " + std::string(name));
  return i;
}

bool Row::is_null(int col) const {
  if (col < 0 || col >= PQnfields(res_)) {
    throw DataError("column index " + std::to_string(col) + " out of range");
  }
  return PQgetisnull(res_, row_, col) != 0;
}

std::optional<std::string_view> Row::text(int col) const {
  if (is_null(col)) return std::nullopt;
  return std::string_view(PQgetvalue(res_, row_, col),
                          static_cast<std::size_t>(PQgetlength(res_, row_, col)));
}

Rows::Rows(pg_result* res) : res_(res) {}

void Rows::Free::operator()(pg_result* r) const {
  PQclear(r);
}

std::size_t Rows::size() const {
  return res_ ? static_cast<std::size_t>(PQntuples(res_.get())) : 0;
}

int Rows::columns() const {
  return res_ ? PQnfields(res_.get()) : 0;
}

Row Rows::operator[](std::size_t i) const {
  if (i >= size()) throw DataError("row " + std::to_string(i) + " out of range");
  return Row(res_.get(), static_cast<int>(i));
}

std::int64_t Rows::affected() const {
  if (!res_) return 0;
  const char* n = PQcmdTuples(res_.get());
  if (n == nullptr || *n == '\0') return 0;
  return std::strtoll(n, nullptr, 10);
}

std::string_view Rows::command() const {
  if (!res_) return {};
  const char* c = PQcmdStatus(res_.get());
  return c != nullptr ? std::string_view(c) : std::string_view();
}

}  // namespace lia::pg
