#include <charconv>
#include <cmath>
#include <cstdio>

#include <lia/core/text.hpp>
#include <lia/json/writer.hpp>

namespace lia::json {

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  core::json_escape(out, s);
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
  core::json_escape(out_, k);
  out_ += "\":";
  stack_.back() = Frame::object_value;
  return *this;
}

Writer& Writer::value(std::string_view v) {
  if (!before_value()) return *this;
  out_.push_back('"');
  core::json_escape(out_, v);
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
