#pragma once
// A query's result: rows of text values read with get<T>(column index or name).
//
//   auto rows = pool->exec("select id, name, note from t where id = $1", 7);
//   if (!rows) return rows.error();
//   for (const auto& row : *rows) {
//     auto id = row.get<std::int64_t>(0);
//     auto note = row.get<std::optional<std::string>>("note");  // NULL -> nullopt
//   }
//
// get<T> throws DataError for a NULL read into a non-optional T, a value that doesn't parse
// as T, or an unknown column: those are bugs in the caller's SQL, not runtime conditions.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <lia/core/uuid.hpp>
#include <lia/pg/params.hpp>

struct pg_result;  // libpq's PGresult

namespace lia::pg {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
std::int64_t parse_int(std::string_view text, std::int64_t min, std::int64_t max,
                       std::string_view column);
std::uint64_t parse_uint(std::string_view text, std::uint64_t max, std::string_view column);
double parse_double(std::string_view text, std::string_view column);
bool parse_bool(std::string_view text, std::string_view column);
core::Uuid parse_uuid(std::string_view text, std::string_view column);

template <class T>
T parse(std::string_view text, std::string_view column) {
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(text);
  } else if constexpr (std::is_same_v<T, std::string_view>) {
    return text;
  } else if constexpr (std::is_same_v<T, bool>) {
    return parse_bool(text, column);
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return static_cast<T>(
        parse_int(text, std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), column));
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(parse_uint(text, std::numeric_limits<T>::max(), column));
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(parse_double(text, column));
  } else if constexpr (std::is_same_v<T, core::Uuid>) {
    return parse_uuid(text, column);
  } else {
    static_assert(always_false<T>, "unsupported column type for get<T>");
  }
}
}  // namespace detail

class Row {
 public:
  Row(const pg_result* res, int row) : res_(res), row_(row) {}

  int columns() const;
  // -1 when there is no column with exactly this name.
  int column_index(std::string_view name) const;
  std::string_view column_name(int col) const;

  bool is_null(int col) const;
  bool is_null(std::string_view name) const { return is_null(index_or_throw(name)); }
  // The value's text, nullopt for NULL. Valid while the Rows live.
  std::optional<std::string_view> text(int col) const;

  template <class T>
  T get(int col) const {
    const auto t = text(col);
    if constexpr (detail::is_optional<T>::value) {
      if (!t) return std::nullopt;
      return detail::parse<typename T::value_type>(*t, column_name(col));
    } else {
      if (!t) throw DataError("column " + std::string(column_name(col)) + " is NULL");
      return detail::parse<T>(*t, column_name(col));
    }
  }
  template <class T>
  T get(std::string_view name) const {
    return get<T>(index_or_throw(name));
  }

 private:
  int index_or_throw(std::string_view name) const;
  const pg_result* res_;
  int row_;
};

class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* res);  // takes ownership

  std::size_t size() const;
  bool empty() const { return size() == 0; }
  int columns() const;
  Row operator[](std::size_t i) const;
  // Rows touched by INSERT/UPDATE/DELETE/MERGE (or returned by SELECT), from the command tag.
  std::int64_t affected() const;
  // The command tag, e.g. "INSERT 0 1".
  std::string_view command() const;

  class iterator {
   public:
    iterator(const pg_result* res, int i) : res_(res), i_(i) {}
    Row operator*() const { return Row(res_, i_); }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }
    bool operator!=(const iterator& o) const { return i_ != o.i_; }

   private:
    const pg_result* res_;
    int i_;
  };
  iterator begin() const { return {res_.get(), 0}; }
  iterator end() const { return {res_.get(), static_cast<int>(size())}; }

 private:
  struct Free {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Free> res_;
};

}  // namespace lia::pg
