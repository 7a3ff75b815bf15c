#pragma once
// Query parameters, sent to PostgreSQL as text: strings as they are, integers and doubles in
// their shortest exact form, bool as true/false, Uuid and time points in their canonical text,
// std::optional<T> or std::nullopt as SQL NULL.
//
//   conn.exec("select * from t where id = $1 and note = $2", 42, std::optional<std::string>{});

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <lia/core/clock.hpp>
#include <lia/core/uuid.hpp>

namespace lia::pg {

// One parameter's text; nullopt is SQL NULL.
using Param = std::optional<std::string>;
using Params = std::vector<Param>;

// Shortest text that reads back as the same double; NaN and infinities as PostgreSQL spells them.
std::string format_double(double v);

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class>
inline constexpr bool always_false = false;
template <class T>
inline constexpr bool is_char_type =
    std::is_same_v<T, char> || std::is_same_v<T, signed char> || std::is_same_v<T, unsigned char> ||
    std::is_same_v<T, wchar_t> || std::is_same_v<T, char8_t> || std::is_same_v<T, char16_t> ||
    std::is_same_v<T, char32_t>;
}  // namespace detail

template <class T>
Param to_param(const T& v) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, std::nullopt_t> || std::is_same_v<D, std::nullptr_t>) {
    return std::nullopt;
  } else if constexpr (detail::is_optional<D>::value) {
    if (!v) return std::nullopt;
    return to_param(*v);
  } else if constexpr (std::is_same_v<D, bool>) {
    return std::string(v ? "true" : "false");
  } else if constexpr (detail::is_char_type<D>) {
    static_assert(detail::always_false<D>, "pass characters as a string");
  } else if constexpr (std::is_integral_v<D>) {
    return std::to_string(v);
  } else if constexpr (std::is_floating_point_v<D>) {
    return format_double(static_cast<double>(v));
  } else if constexpr (std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {  // + literals
    return std::string(std::string_view(v));
  } else if constexpr (std::is_same_v<D, core::Uuid>) {
    return v.str();
  } else if constexpr (std::is_same_v<D, core::SysTime>) {
    return core::format_rfc3339(v);
  } else {
    static_assert(detail::always_false<D>, "unsupported query parameter type");
  }
}

template <class... A>
Params make_params(const A&... args) {
  Params p;
  p.reserve(sizeof...(A));
  (p.push_back(to_param(args)), ...);
  return p;
}

}  // namespace lia::pg
