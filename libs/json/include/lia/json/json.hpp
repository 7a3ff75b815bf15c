#pragma once
// The one way into RapidJSON. This header sets RapidJSON's configuration macros once and
// then includes its DOM, reader, writer and error headers; no other file includes
// <rapidjson/...> directly (schema validation adds <lia/json/schema.hpp>, which includes
// this header first).
//
// On top of RapidJSON it offers:
//   - parse(): text -> Document, or an error with the byte offset and the reason;
//   - Obj / Arr: typed, read-only views whose errors name the offending field by its path:
//       auto root = json::Obj::root(doc);                       // Result<Obj>
//       auto msgs = entry->obj("value")->arr("messages");       // "entry[0].changes[1]..."
//       if (!msgs) return msgs.error();  // "field 'entry[0].changes[1].value.messages'
//                                        //  must be an array"
//   - to_string(): a Value back to compact JSON text;
//   - Writer (see <lia/json/writer.hpp>): builds JSON text without RapidJSON.
//
// Views hold pointers into their Document: keep the Document alive while using them.

#if defined(RAPIDJSON_RAPIDJSON_H_) && !defined(LIA_JSON_CONFIGURED)
#error "RapidJSON was included before <lia/json/json.hpp>; include it only through this header"
#endif
#define LIA_JSON_CONFIGURED 1

// std::string overloads (Value(std::string, alloc), GetString with std::string, ...).
#define RAPIDJSON_HAS_STDSTRING 1
// C++20 compiler: move semantics, noexcept, range-for and type traits are all available.
#define RAPIDJSON_HAS_CXX11_RVALUE_REFS 1
#define RAPIDJSON_HAS_CXX11_NOEXCEPT 1
#define RAPIDJSON_HAS_CXX11_RANGE_FOR 1
#define RAPIDJSON_HAS_CXX11_TYPETRAITS 1
// Parse with an explicit stack instead of recursion, so deeply nested (hostile) input cannot
// overflow the call stack. parse() also caps the nesting depth.
#define RAPIDJSON_PARSE_DEFAULT_FLAGS kParseIterativeFlag
// Note: RAPIDJSON_NOMEMBERITERATORCLASS is deliberately not set: with RapidJSON 1.1.0 it
// breaks range-for over GetObject().

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <lia/core/result.hpp>
#include <lia/json/writer.hpp>

namespace lia::json {

using Document = rapidjson::Document;
using Value = rapidjson::Value;

// Deepest nesting of objects/arrays parse() accepts.
inline constexpr std::size_t kDefaultMaxDepth = 128;

// Parses one JSON text (UTF-8 is validated, and a UTF-16 surrogate on its own is refused too;
// trailing non-space is an error, and so is a NUL byte outside a string; a string may not hold
// U+0000, which no text column can store; an object may not repeat a member name, compared
// after unescaping, as Obj::get would read the first and jsonb or JavaScript keep the last).
// Numbers are converted exactly (std::from_chars: the nearest double), integers as RapidJSON
// types them. Errors (Errc::invalid_argument) read
// "invalid JSON at offset 17: Missing a comma or '}' after an object member."
core::Result<Document> parse(std::string_view text, std::size_t max_depth = kDefaultMaxDepth);
// The same parse (iterative, numbers read exactly, nesting at most max_depth levels) without
// parse()'s other checks: no U+0000 or surrogate refusal, no UTF-8 validation, repeated
// member names kept (Obj::get reads the first), and the text read only up to a NUL byte; a
// UTF-16 high surrogate's escape without its low half ("\ud83d"), which the reader would
// refuse, is read as U+FFFD. For a caller that passes every string on through json::Writer
// (ingestion's webhook bodies: one broken character must not lose a whole POST).
core::Result<Document> parse_unchecked(std::string_view text,
                                       std::size_t max_depth = kDefaultMaxDepth);
// `text` with each escape of a UTF-16 high surrogate that has no low half after it, inside a
// string, written \ufffd instead (the same length): what parse_unchecked reads such a text as.
std::string lone_surrogates_replaced(std::string_view text);

// Compact JSON text of a value.
std::string to_string(const Value& value);
// Compact JSON text of an object with only its members named in `names`, in the object's
// order: for passing on a nested object a newer producer may have given more properties than
// the event it goes into allows. A value that is not an object is written whole.
std::string to_string_only(const Value& object, std::initializer_list<std::string_view> names);

// A borrowed string_view of a string value (no copy, may contain NUL bytes).
inline std::string_view view(const Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

// A non-owning reference for building Values from a string_view (the text must outlive it).
inline rapidjson::GenericStringRef<char> ref(std::string_view s) {
  return rapidjson::StringRef(s.data(), s.size());
}

// The JSON type name used in messages: "null", "a boolean", "an object", ...
std::string_view type_name(const Value& v);

class Arr;

// A read-only view over a JSON object. Accessors return the typed value, or an error
// naming the field by its path. opt_* treat an absent key and a null value alike (nullopt)
// but still reject a present value of the wrong type.
class Obj {
 public:
  // The view of `v`, which must be an object; `path` names it in errors ("" for the root).
  static core::Result<Obj> of(const Value& v, std::string path = {});
  static core::Result<Obj> root(const Document& d) { return of(d); }

  const Value& value() const { return *v_; }
  const std::string& path() const { return path_; }
  std::size_t size() const { return v_->MemberCount(); }

  // The member, or nullptr if absent. A JSON null is returned as a Value.
  const Value* get(std::string_view key) const;
  // Present and not null.
  bool has(std::string_view key) const;
  // "a.b" for key b of the object at path "a".
  std::string field_path(std::string_view key) const;
  // Ok when every member is one of `keys`; else "unknown field 'x' (expected a, b, c)" for
  // the first that is not (a request whose typo or read-only field would otherwise be
  // ignored without a word).
  core::Status only(std::initializer_list<std::string_view> keys) const;

  core::Result<std::string_view> str(std::string_view key) const;
  core::Result<std::optional<std::string_view>> opt_str(std::string_view key) const;
  // Like str(), but the empty string is rejected as well ("must not be empty").
  core::Result<std::string_view> nonempty_str(std::string_view key) const;
  core::Result<std::int64_t> i64(std::string_view key) const;
  core::Result<std::optional<std::int64_t>> opt_i64(std::string_view key) const;
  core::Result<double> num(std::string_view key) const;
  core::Result<std::optional<double>> opt_num(std::string_view key) const;
  core::Result<bool> boolean(std::string_view key) const;
  core::Result<std::optional<bool>> opt_boolean(std::string_view key) const;
  core::Result<Obj> obj(std::string_view key) const;
  core::Result<std::optional<Obj>> opt_obj(std::string_view key) const;
  core::Result<Arr> arr(std::string_view key) const;
  core::Result<std::optional<Arr>> opt_arr(std::string_view key) const;

 private:
  Obj(const Value* v, std::string path) : v_(v), path_(std::move(path)) {}
  core::Result<const Value*> require(std::string_view key) const;
  const Value* v_;
  std::string path_;
};

// A read-only view over a JSON array; elements are named "path[i]" in errors.
class Arr {
 public:
  static core::Result<Arr> of(const Value& v, std::string path = {});

  const Value& value() const { return *v_; }
  const std::string& path() const { return path_; }
  std::size_t size() const { return v_->Size(); }
  bool empty() const { return v_->Empty(); }
  // Unchecked element access (i < size()).
  const Value& at(std::size_t i) const { return (*v_)[static_cast<rapidjson::SizeType>(i)]; }
  std::string element_path(std::size_t i) const;

  // Out-of-range indexes are reported as errors too.
  core::Result<std::string_view> str(std::size_t i) const;
  core::Result<std::int64_t> i64(std::size_t i) const;
  core::Result<Obj> obj(std::size_t i) const;
  core::Result<Arr> arr(std::size_t i) const;

  rapidjson::Value::ConstValueIterator begin() const { return v_->Begin(); }
  rapidjson::Value::ConstValueIterator end() const { return v_->End(); }

 private:
  friend class Obj;
  Arr(const Value* v, std::string path) : v_(v), path_(std::move(path)) {}
  core::Result<const Value*> element(std::size_t i) const;
  const Value* v_;
  std::string path_;
};

}  // namespace lia::json
