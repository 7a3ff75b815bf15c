#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <lia/core/text.hpp>
#include <lia/json/json.hpp>

namespace lia::json {

namespace {

core::Error invalid(std::string message) {
  return core::Error(core::Errc::invalid_argument, std::move(message));
}

// What the scan before the parser refuses, and where.
struct Refusal {
  std::size_t offset;
  std::string reason;
};

// "\\uXXXX" at `at` names a UTF-16 surrogate of this kind (high: D800-DBFF, low: DC00-DFFF).
bool escaped_surrogate(std::string_view text, std::size_t at, bool high) {
  if (text.size() < at + 6 || text[at] != '\\' || text[at + 1] != 'u') return false;
  const char d = static_cast<char>(std::tolower(static_cast<unsigned char>(text[at + 2])));
  const char x = static_cast<char>(std::tolower(static_cast<unsigned char>(text[at + 3])));
  if (d != 'd') return false;
  return high ? (x >= '8' && x <= '9') || x == 'a' || x == 'b' : x >= 'c' && x <= 'f';
}

// Runs before the parser, in one pass: refuses nesting deeper than max_depth (cheaply, and
// so later recursive walks stay bounded), a string holding U+0000 (written \u0000), which no
// text column of PostgreSQL can store and libpq would cut short, a string holding a UTF-16
// surrogate on its own (UTF-8 bytes ED A0..BF, or a low \uDC00-\uDFFF escape without its
// high half), which RapidJSON's UTF-8 check lets through and json::Writer then writes as
// U+FFFD: such a value would change each time it is written and read again, and a NUL byte
// outside a string, where RapidJSON takes it for the end of the text (so "{}\0garbage" would
// parse; inside a string the parser refuses it, as every raw control character).
std::optional<Refusal> refuse(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  std::size_t after_high = std::string_view::npos;  // where a high surrogate's escape ended
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        if (text.substr(i + 1, 5) == "u0000") {
          return Refusal{i, "a string holds \\u0000 (U+0000), which is not accepted"};
        }
        if (escaped_surrogate(text, i, false) && after_high != i) {
          return Refusal{i, "a string holds a UTF-16 low surrogate without its high half"};
        }
        after_high = escaped_surrogate(text, i, true) ? i + 6 : std::string_view::npos;
        ++i;
      } else if (c == '\xED' && i + 1 < text.size() &&
                 static_cast<unsigned char>(text[i + 1]) >= 0xA0 &&
                 static_cast<unsigned char>(text[i + 1]) <= 0xBF) {
        return Refusal{i, "a string holds a UTF-16 surrogate encoded as UTF-8 (invalid UTF-8)"};
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '\0') {
      return Refusal{i, "a NUL byte (0x00) outside a string"};
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        return Refusal{i, fmt::format("nesting deeper than {} levels", max_depth)};
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

std::string quoted_path(const std::string& path) {
  return "field '" + path + "'";
}

core::Error wrong_type(const std::string& path, std::string_view expected) {
  return invalid(fmt::format("{} must be {}", quoted_path(path), expected));
}

// The member names of the objects open at a point of a parse, each object its own, to refuse
// an object that repeats a name: Obj::get reads the first value while PostgreSQL's jsonb and
// JavaScript keep the last, so what was checked and what is stored could differ. Names are
// compared byte for byte as the reader unescaped them ("a" and "\u0061" are one name). Most
// objects are small and their names are scanned; past kScanned names, an object's names are
// also kept in a hash set (of their indexes here), so a large object costs linear time too.
class MemberNames {
 public:
  MemberNames() {
    bytes_.reserve(256);
    names_.reserve(32);
    frames_.reserve(8);
  }
  MemberNames(const MemberNames&) = delete;
  MemberNames& operator=(const MemberNames&) = delete;
  MemberNames(MemberNames&&) = delete;
  MemberNames& operator=(MemberNames&&) = delete;
  ~MemberNames() = default;

  void open() { frames_.push_back(Frame{names_.size(), bytes_.size(), nullptr}); }

  void close() {
    names_.resize(frames_.back().first);
    bytes_.resize(frames_.back().bytes);
    frames_.pop_back();
  }

  // Adds a name to the innermost open object; false if that object already has it.
  bool add(std::string_view name) {
    Frame& f = frames_.back();
    if (!f.set) {
      for (std::size_t i = f.first; i < names_.size(); ++i) {
        if (at(i) == name) return false;
      }
    }
    names_.push_back(Span{bytes_.size(), name.size()});
    bytes_.append(name);
    if (f.set) {
      if (!f.set->insert(names_.size() - 1).second) {
        names_.pop_back();
        bytes_.resize(bytes_.size() - name.size());
        return false;
      }
    } else if (names_.size() - f.first > kScanned) {
      f.set = std::make_unique<Set>(4 * kScanned, Hash{this}, Equal{this});
      for (std::size_t i = f.first; i < names_.size(); ++i) f.set->insert(i);
    }
    return true;
  }

 private:
  static constexpr std::size_t kScanned = 16;

  struct Span {
    std::size_t offset;
    std::size_t size;
  };
  // Names by their index in names_ (the bytes may move as bytes_ grows; indexes do not).
  struct Hash {
    const MemberNames* names;
    std::size_t operator()(std::size_t i) const {
      return std::hash<std::string_view>{}(names->at(i));
    }
  };
  struct Equal {
    const MemberNames* names;
    bool operator()(std::size_t a, std::size_t b) const { return names->at(a) == names->at(b); }
  };
  using Set = std::unordered_set<std::size_t, Hash, Equal>;
  struct Frame {
    std::size_t first;  // index in names_ of the object's first name
    std::size_t bytes;  // size of bytes_ when the object opened
    std::unique_ptr<Set> set;
  };

  std::string_view at(std::size_t i) const {
    return std::string_view(bytes_).substr(names_[i].offset, names_[i].size);
  }

  std::string bytes_;  // the names of the open objects, back to back
  std::vector<Span> names_;
  std::vector<Frame> frames_;
};

// A member name quoted in a message: JSON-escaped, cut after 64 bytes (it ends up in logs and
// answers, and a name can be as long as the text).
std::string shown_name(std::string_view name) {
  constexpr std::size_t kShown = 64;
  const std::string_view cut = core::utf8_prefix(name, kShown);
  std::string out = "\"";
  core::json_escape(out, cut);
  if (cut.size() < name.size()) out += "...";
  out += '"';
  return out;
}

// Where the string whose closing quote is at `closing` opens: the nearest quote before it that
// no backslash escapes (every quote inside a JSON string follows an odd run of backslashes).
std::size_t string_start(std::string_view text, std::size_t closing) {
  for (std::size_t i = closing; i-- > 0;) {
    if (text[i] != '"') continue;
    std::size_t backslashes = 0;
    while (backslashes < i && text[i - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return i;
  }
  return closing;
}

// Hands a reader's events to a document, converting each number itself: std::from_chars
// gives the double nearest to the text (so a number written from a parsed document reads
// back the same; RapidJSON's default fast path can be off by an ulp or more on long
// numbers, and each hop through a relay would move them again), and RapidJSON 1.1.0's own
// full-precision conversion turns a zero with a large negative exponent ("0e-23", "-0e-32")
// into a tiny number that is not zero, through undefined behaviour. Given MemberNames, it
// also stops the parse at an object's repeated member name.
class ExactNumbers {
 public:
  ExactNumbers(Document& doc, MemberNames* names, std::size_t max_depth)
      : doc_(doc), names_(names), max_depth_(max_depth) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(std::int64_t i) { return doc_.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool StartObject() {
    if (!deeper()) return false;
    if (names_ != nullptr) names_->open();
    return doc_.StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (names_ != nullptr && !names_->add(std::string_view(s, n))) {
      repeated_ = shown_name(std::string_view(s, n));
      return false;
    }
    return doc_.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    if (names_ != nullptr) names_->close();
    return doc_.EndObject(n);
  }
  bool StartArray() { return deeper() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndArray(n);
  }

  // The number's text, as the reader checked it against JSON's grammar. Integers keep
  // RapidJSON's types (Int/Uint when 32 bits hold them, else Int64/Uint64, else a double).
  bool RawNumber(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    const char* end = s + n;
    const bool integral =
        std::none_of(s, end, [](char c) { return c == '.' || c == 'e' || c == 'E'; });
    if (integral) {
      if (*s == '-') {
        std::int64_t v = 0;
        const auto r = std::from_chars(s, end, v);
        if (r.ec == std::errc() && r.ptr == end) {
          return v >= std::numeric_limits<int>::min() ? doc_.Int(static_cast<int>(v))
                                                      : doc_.Int64(v);
        }
      } else {
        std::uint64_t v = 0;
        const auto r = std::from_chars(s, end, v);
        if (r.ec == std::errc() && r.ptr == end) {
          return v <= std::numeric_limits<unsigned>::max() ? doc_.Uint(static_cast<unsigned>(v))
                                                           : doc_.Uint64(v);
        }
      }
    }
    double d = 0;
    const auto r = std::from_chars(s, end, d);
    if (r.ec == std::errc() && r.ptr == end) return doc_.Double(d);
    if (r.ec == std::errc::result_out_of_range) {
      // Past a double's range: too small reads as zero (as RapidJSON reads it), too big is
      // refused. strtod tells which (the text is JSON: no locale-dependent characters).
      const double again = std::strtod(std::string(s, n).c_str(), nullptr);
      if (again != std::numeric_limits<double>::infinity() &&
          again != -std::numeric_limits<double>::infinity()) {
        return doc_.Double(again);
      }
    }
    too_big_ = true;
    return false;
  }

  bool too_big() const { return too_big_; }
  bool too_deep() const { return too_deep_; }
  // The repeated member name that stopped the parse (quoted, cut short), or empty.
  const std::string& repeated() const { return repeated_; }

 private:
  // One more level open; false past max_depth (the parse stops there, before the reader's
  // and the document's stacks grow with hostile nesting).
  bool deeper() {
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }

  Document& doc_;
  MemberNames* names_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_big_ = false;
  bool too_deep_ = false;
  std::string repeated_;
};

// Parses `text`, nesting at most `max_depth` levels; with `names`, an object repeating a
// member name is refused. `code`, when given, gets the reader's error code.
template <unsigned Flags>
core::Result<Document> parse_exact(std::string_view text, MemberNames* names, std::size_t max_depth,
                                   rapidjson::ParseErrorCode* code = nullptr) {
  Document doc;
  ExactNumbers numbers(doc, names, max_depth);
  rapidjson::ParseResult result;
  auto read = [&](Document& /*handler*/) {
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
    result = reader.Parse<Flags | rapidjson::kParseNumbersAsStringsFlag>(in, numbers);
    return !result.IsError();
  };
  doc.Populate(read);
  if (code != nullptr) *code = result.Code();
  if (result.IsError()) {
    if (numbers.too_deep()) {
      return invalid(fmt::format("invalid JSON at offset {}: nesting deeper than {} levels",
                                 result.Offset(), max_depth));
    }
    if (!numbers.repeated().empty()) {
      // The reader stopped just after the name's closing quote; the offset is its opening one.
      return invalid(fmt::format("invalid JSON at offset {}: an object repeats the member name {}",
                                 string_start(text, result.Offset() - 1), numbers.repeated()));
    }
    return invalid(fmt::format("invalid JSON at offset {}: {}", result.Offset(),
                               numbers.too_big() ? "Number too big to be stored in double."
                                                 : rapidjson::GetParseError_En(result.Code())));
  }
  return doc;
}

}  // namespace

core::Result<Document> parse(std::string_view text, std::size_t max_depth) {
  if (auto refused = refuse(text, max_depth)) {
    return invalid(fmt::format("invalid JSON at offset {}: {}", refused->offset, refused->reason));
  }
  MemberNames names;
  return parse_exact<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
      text, &names, max_depth);
}

std::string lone_surrogates_replaced(std::string_view text) {
  std::string out(text);
  bool in_string = false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (!in_string) {
      in_string = c == '"';
    } else if (c == '"') {
      in_string = false;
    } else if (c == '\\') {
      if (escaped_surrogate(out, i, true)) {
        if (escaped_surrogate(out, i + 6, false)) {
          i += 11;  // a whole pair
          continue;
        }
        out.replace(i + 2, 4, "fffd");
      }
      ++i;  // the escaped character
    }
  }
  return out;
}

core::Result<Document> parse_unchecked(std::string_view text, std::size_t max_depth) {
  rapidjson::ParseErrorCode code = rapidjson::kParseErrorNone;
  auto doc = parse_exact<rapidjson::kParseIterativeFlag>(text, nullptr, max_depth, &code);
  if (doc || code != rapidjson::kParseErrorStringUnicodeSurrogateInvalid) return doc;
  // A high surrogate's escape without its low half ("\ud83d" from JavaScript that cut a text
  // in the middle of an emoji), which the reader refuses: read as U+FFFD instead, as every
  // other broken piece of text is, rather than losing the whole body.
  const std::string repaired = lone_surrogates_replaced(text);
  return parse_exact<rapidjson::kParseIterativeFlag>(repaired, nullptr, max_depth);
}

std::string to_string(const Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  value.Accept(writer);
  return {buf.GetString(), buf.GetSize()};
}

std::string to_string_only(const Value& object, std::initializer_list<std::string_view> names) {
  if (!object.IsObject()) return to_string(object);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  writer.StartObject();
  for (const auto& m : object.GetObject()) {
    if (std::find(names.begin(), names.end(), view(m.name)) == names.end()) continue;
    writer.Key(m.name.GetString(), m.name.GetStringLength());
    m.value.Accept(writer);
  }
  writer.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string_view type_name(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "unknown";
}

// ---- Obj --------------------------------------------------------------------------------

core::Result<Obj> Obj::of(const Value& v, std::string path) {
  if (!v.IsObject()) {
    return invalid(path.empty()
                       ? fmt::format("JSON document must be an object, not {}", type_name(v))
                       : fmt::format("{} must be an object", quoted_path(path)));
  }
  return Obj(&v, std::move(path));
}

const Value* Obj::get(std::string_view key) const {
  const Value k(ref(key));
  auto it = v_->FindMember(k);
  return it == v_->MemberEnd() ? nullptr : &it->value;
}

bool Obj::has(std::string_view key) const {
  const Value* v = get(key);
  return v != nullptr && !v->IsNull();
}

std::string Obj::field_path(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  std::string p = path_;
  p += '.';
  p += key;
  return p;
}

core::Status Obj::only(std::initializer_list<std::string_view> keys) const {
  for (const auto& m : v_->GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (std::find(keys.begin(), keys.end(), name) != keys.end()) continue;
    std::string expected;
    for (auto k : keys) {
      if (!expected.empty()) expected += ", ";
      expected += k;
    }
    // A name as the client sent it, cut short (it ends up in logs and answers).
    const std::string shown = core::valid_utf8(name, 64);
    return invalid("unknown field '" + field_path(shown) + "' (expected " + expected + ")");
  }
  return {};
}

core::Result<const Value*> Obj::require(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr) return invalid(fmt::format("{} is missing", quoted_path(field_path(key))));
  return v;
}

core::Result<std::string_view> Obj::str(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if (!(*v)->IsString()) return wrong_type(field_path(key), "a string");
  return view(**v);
}

core::Result<std::optional<std::string_view>> Obj::opt_str(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr || v->IsNull()) return std::optional<std::string_view>{};
  if (!v->IsString()) return wrong_type(field_path(key), "a string");
  return std::optional<std::string_view>(view(*v));
}

core::Result<std::string_view> Obj::nonempty_str(std::string_view key) const {
  auto s = str(key);
  if (s && s->empty())
    return invalid(fmt::format("{} must not be empty", quoted_path(field_path(key))));
  return s;
}

core::Result<std::int64_t> Obj::i64(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if (!(*v)->IsInt64()) return wrong_type(field_path(key), "an integer");
  return (*v)->GetInt64();
}

core::Result<std::optional<std::int64_t>> Obj::opt_i64(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr || v->IsNull()) return std::optional<std::int64_t>{};
  if (!v->IsInt64()) return wrong_type(field_path(key), "an integer");
  return std::optional<std::int64_t>(v->GetInt64());
}

core::Result<double> Obj::num(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if (!(*v)->IsNumber()) return wrong_type(field_path(key), "a number");
  return (*v)->GetDouble();
}

core::Result<std::optional<double>> Obj::opt_num(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr || v->IsNull()) return std::optional<double>{};
  if (!v->IsNumber()) return wrong_type(field_path(key), "a number");
  return std::optional<double>(v->GetDouble());
}

core::Result<bool> Obj::boolean(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if (!(*v)->IsBool()) return wrong_type(field_path(key), "a boolean");
  return (*v)->GetBool();
}

core::Result<std::optional<bool>> Obj::opt_boolean(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr || v->IsNull()) return std::optional<bool>{};
  if (!v->IsBool()) return wrong_type(field_path(key), "a boolean");
  return std::optional<bool>(v->GetBool());
}

core::Result<Obj> Obj::obj(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  return of(**v, field_path(key));
}

core::Result<std::optional<Obj>> Obj::opt_obj(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr || v->IsNull()) return std::optional<Obj>{};
  auto o = of(*v, field_path(key));
  if (!o) return o.error();
  return std::optional<Obj>(std::move(*o));
}

core::Result<Arr> Obj::arr(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  return Arr::of(**v, field_path(key));
}

core::Result<std::optional<Arr>> Obj::opt_arr(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr || v->IsNull()) return std::optional<Arr>{};
  auto a = Arr::of(*v, field_path(key));
  if (!a) return a.error();
  return std::optional<Arr>(std::move(*a));
}

// ---- Arr --------------------------------------------------------------------------------

core::Result<Arr> Arr::of(const Value& v, std::string path) {
  if (!v.IsArray()) {
    return invalid(path.empty()
                       ? fmt::format("JSON document must be an array, not {}", type_name(v))
                       : fmt::format("{} must be an array", quoted_path(path)));
  }
  return Arr(&v, std::move(path));
}

std::string Arr::element_path(std::size_t i) const {
  return fmt::format("{}[{}]", path_, i);
}

core::Result<const Value*> Arr::element(std::size_t i) const {
  if (i >= size()) {
    return invalid(fmt::format("{} is missing (the array has {} elements)",
                               quoted_path(element_path(i)), size()));
  }
  return &at(i);
}

core::Result<std::string_view> Arr::str(std::size_t i) const {
  auto v = element(i);
  if (!v) return v.error();
  if (!(*v)->IsString()) return wrong_type(element_path(i), "a string");
  return view(**v);
}

core::Result<std::int64_t> Arr::i64(std::size_t i) const {
  auto v = element(i);
  if (!v) return v.error();
  if (!(*v)->IsInt64()) return wrong_type(element_path(i), "an integer");
  return (*v)->GetInt64();
}

core::Result<Obj> Arr::obj(std::size_t i) const {
  auto v = element(i);
  if (!v) return v.error();
  return Obj::of(**v, element_path(i));
}

core::Result<Arr> Arr::arr(std::size_t i) const {
  auto v = element(i);
  if (!v) return v.error();
  return of(**v, element_path(i));
}

}  // namespace lia::json
