#include <charconv>
#include <cmath>
#include <cstdio>

#include <lia/json/writer.hpp>

namespace lia::json {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  const std::size_t left = s.size() - i;
  const auto cont = [&](std::size_t k) { return k < left && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

void escape(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  escape(out, s);
  out.push_back('"');
  return out;
}

bool Writer::before_value() {
  if (broken_) return false;
  if (stack_.empty()) {
    if (root_done_) {
      broken_ = true;  // a second top-level value
      return false;
    }
    return true;
  }
  switch (stack_.back()) {
    case Frame::object_key:
      broken_ = true;  // a value where a key is due
      return false;
    case Frame::object_value:
      return true;  // the comma went before the key
    case Frame::array:
      if (!first_) out_.push_back(',');
      return true;
  }
  return true;
}

void Writer::after_value() {
  first_ = false;
  if (stack_.empty()) {
    root_done_ = true;
  } else if (stack_.back() == Frame::object_value) {
    stack_.back() = Frame::object_key;
  }
}

Writer& Writer::begin_object() {
  if (!before_value()) return *this;
  out_.push_back('{');
  stack_.push_back(Frame::object_key);
  first_ = true;
  return *this;
}

Writer& Writer::end_object() {
  if (broken_) return *this;
  if (stack_.empty() || stack_.back() != Frame::object_key) {
    broken_ = true;
    return *this;
  }
  out_.push_back('}');
  stack_.pop_back();
  after_value();
  return *this;
}

Writer& Writer::begin_array() {
  if (!before_value()) return *this;
  out_.push_back('[');
  stack_.push_back(Frame::array);
  first_ = true;
  return *this;
}

Writer& Writer::end_array() {
  if (broken_) return *this;
  if (stack_.empty() || stack_.back() != Frame::array) {
    broken_ = true;
    return *this;
  }
  out_.push_back(']');
  stack_.pop_back();
  after_value();
  return *this;
}

Writer& Writer::key(std::string_view k) {
  if (broken_) return *this;
  if (stack_.empty() || stack_.back() != Frame::object_key) {
    broken_ = true;
    return *this;
  }
  if (!first_) out_.push_back(',');
  out_.push_back('"');
  escape(out_, k);
  out_ += "\":";
  stack_.back() = Frame::object_value;
  return *this;
}

Writer& Writer::value(std::string_view v) {
  if (!before_value()) return *this;
  out_.push_back('"');
  escape(out_, v);
  out_.push_back('"');
  after_value();
  return *this;
}

Writer& Writer::value(bool v) {
  if (!before_value()) return *this;
  out_ += v ? "true" : "false";
  after_value();
  return *this;
}

Writer& Writer::value(double v) {
  if (!before_value()) return *this;
  if (!std::isfinite(v)) {
    out_ += "null";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    std::string_view text(buf, ec == std::errc{} ? static_cast<std::size_t>(end - buf) : 0);
    out_ += text.empty() ? std::string_view("null") : text;
  }
  after_value();
  return *this;
}

Writer& Writer::signed_value(std::int64_t v) {
  if (!before_value()) return *this;
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, ec == std::errc{} ? end : buf);
  after_value();
  return *this;
}

Writer& Writer::unsigned_value(std::uint64_t v) {
  if (!before_value()) return *this;
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, ec == std::errc{} ? end : buf);
  after_value();
  return *this;
}

Writer& Writer::null() {
  if (!before_value()) return *this;
  out_ += "null";
  after_value();
  return *this;
}

Writer& Writer::raw(std::string_view json) {
  if (!before_value()) return *this;
  if (json.empty()) {
    broken_ = true;
    return *this;
  }
  out_ += json;
  after_value();
  return *this;
}

std::string Writer::take() {
  if (!complete()) return {};
  std::string out = std::move(out_);
  out_.clear();
  root_done_ = false;
  first_ = true;
  return out;
}

}  // namespace lia::json
