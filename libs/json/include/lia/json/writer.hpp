#pragma once
// Builds compact JSON text without boilerplate (and without RapidJSON, so any header may
// include it):
//
//   json::Writer w;
//   w.begin_object()
//       .field("id", id)
//       .field("count", 3)
//       .field("caption", maybe_caption)        // std::optional: skipped when empty
//       .key("tags").begin_array().value("a").value("b").end_array()
//       .raw_field("data", data_json)           // already-serialized JSON
//    .end_object();
//   std::string text = w.take();
//
// Strings are escaped; invalid UTF-8 is replaced by U+FFFD so the output is always valid
// JSON text. Non-finite doubles are written as null. Misuse (a value where a key is due,
// an unbalanced end_*) marks the writer broken: ok() turns false and take() returns "".

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lia::json {

// s as a quoted JSON string (escaped by core::json_escape: invalid UTF-8 becomes U+FFFD).
std::string quote(std::string_view s);

class Writer {
 public:
  Writer() = default;

  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view k);

  Writer& value(std::string_view v);
  Writer& value(const char* v) { return value(std::string_view(v)); }
  Writer& value(const std::string& v) { return value(std::string_view(v)); }
  Writer& value(bool v);
  Writer& value(double v);
  template <std::integral T>
  requires(!std::is_same_v<T, bool>) Writer& value(T v) {
    if constexpr (std::is_signed_v<T>) {
      return signed_value(static_cast<std::int64_t>(v));
    } else {
      return unsigned_value(static_cast<std::uint64_t>(v));
    }
  }
  template <class T>
  Writer& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  Writer& null();
  // Inserts already-serialized JSON as one value (trusted: not checked).
  Writer& raw(std::string_view json);

  // key + value. An empty std::optional writes nothing at all (not even the key).
  template <class T>
  Writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  template <class T>
  Writer& field(std::string_view k, const std::optional<T>& v) {
    if (!v) return *this;
    key(k);
    return value(*v);
  }
  Writer& field(std::string_view k, const char* v) {
    key(k);
    return value(v);
  }
  Writer& raw_field(std::string_view k, std::string_view json) {
    key(k);
    return raw(json);
  }
  Writer& object_field(std::string_view k) {
    key(k);
    return begin_object();
  }
  Writer& array_field(std::string_view k) {
    key(k);
    return begin_array();
  }

  // True while every call so far was well formed.
  bool ok() const { return !broken_; }
  // True once exactly one complete top-level value was written.
  bool complete() const { return !broken_ && stack_.empty() && root_done_; }
  // The text so far (may be incomplete).
  const std::string& str() const { return out_; }
  // The finished text; "" if the writer is broken or incomplete.
  std::string take();

 private:
  enum class Frame : std::uint8_t { object_key, object_value, array };
  bool before_value();
  void after_value();
  Writer& signed_value(std::int64_t v);
  Writer& unsigned_value(std::uint64_t v);

  std::string out_;
  std::vector<Frame> stack_;
  bool first_ = true;  // no element yet in the innermost container
  bool root_done_ = false;
  bool broken_ = false;
};

}  // namespace lia::json
