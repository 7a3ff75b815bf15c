#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <unistd.h>

#include <lia/core/clock.hpp>
#include <lia/core/log.hpp>
#include <lia/core/text.hpp>

namespace lia::core {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_word(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_sep(char c) {
  return c == ' ' || c == '.' || c == '-' || c == '/' || c == '(' || c == ')';
}

// Keeps the last `keep` digits and every non-digit; other digits become '*'.
std::string keep_last_digits(std::string_view s, std::size_t keep) {
  std::size_t digits = 0;
  for (char c : s) digits += is_digit(c) ? 1 : 0;
  std::string out(s);
  std::size_t seen = 0;
  for (auto& c : out) {
    if (is_digit(c)) {
      if (seen + keep < digits) c = '*';
      ++seen;
    }
  }
  return out;
}

void write_stdout(std::string_view line) {
  static std::mutex mu;
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  std::lock_guard lock(mu);
  const char* p = buf.data();
  std::size_t left = buf.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) return;  // nowhere to log to; never throw from logging
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

Level parse_level(std::string_view s, Level fallback) {
  if (s == "debug") return Level::debug;
  if (s == "info") return Level::info;
  if (s == "warn" || s == "warning") return Level::warn;
  if (s == "error") return Level::error;
  return fallback;
}

std::string_view to_string(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

std::string mask_phone(std::string_view phone) {
  return keep_last_digits(phone, 4);
}
std::string mask_document(std::string_view document) {
  return keep_last_digits(document, 2);
}
std::string mask_body(std::string_view body) {
  return fmt::format("[masked {} bytes]", body.size());
}

std::string scrub_text(std::string_view text) {
  // A candidate is a maximal run of digits and separators (an optional leading '+') that
  // starts and ends with a digit and stands alone (no letter or digit touching it). With
  // 8+ digits it may be a phone (8-13 digits), a CPF (11) or a CNPJ (14): mask it.
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const bool plus = text[i] == '+' && i + 1 < text.size() && is_digit(text[i + 1]);
    if (!is_digit(text[i]) && !plus) {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t start = i;
    std::size_t end = plus ? i + 1 : i;  // one past the last digit seen
    std::size_t j = end;
    std::size_t digits = 0;
    while (j < text.size() && (is_digit(text[j]) || is_sep(text[j]))) {
      if (is_digit(text[j])) {
        ++digits;
        end = j + 1;
      }
      ++j;
    }
    const bool left_free = start == 0 || !is_word(text[start - 1]);
    const bool right_free = end >= text.size() || !is_word(text[end]);
    std::string_view run = text.substr(start, end - start);
    if (digits >= 8 && left_free && right_free) {
      out += digits == 11 || digits == 14 ? keep_last_digits(run, 2) : keep_last_digits(run, 4);
    } else {
      out.append(run);
    }
    i = end;
  }
  return out;
}

Logger::Logger() : Logger(Options{}) {}

Logger::Logger(Options o)
    : shared_(
          std::make_shared<const Shared>(Shared{std::move(o.service), o.level, o.unmask,
                                                o.sink ? std::move(o.sink) : Sink(write_stdout)})) {
}

Logger Logger::with(std::initializer_list<Field> context) const {
  Logger l = *this;
  l.context_.insert(l.context_.end(), context.begin(), context.end());
  return l;
}

std::string Logger::render(Level l, std::string_view msg, const Field* fields,
                           std::size_t n) const {
  const bool unmask = shared_->unmask;
  std::string line;
  line.reserve(128 + msg.size());
  line += "{\"ts\":\"";
  line += format_rfc3339(SystemClock::instance().now());
  line += "\",\"level\":\"";
  line += to_string(l);
  line += "\",\"service\":\"";
  json_escape(line, shared_->service);
  line += "\",\"msg\":\"";
  json_escape(line, unmask ? std::string(msg) : scrub_text(msg));
  line += '"';
  auto emit = [&](const Field& fl) {
    line += ",\"";
    json_escape(line, fl.key);
    line += "\":";
    switch (fl.kind) {
      case Field::Kind::number:
        line += fmt::format("{}", static_cast<std::int64_t>(fl.number));
        return;
      case Field::Kind::real:
        line += std::isfinite(fl.number) ? fmt::format("{}", fl.number) : std::string("null");
        return;
      case Field::Kind::boolean:
        line += fl.number != 0 ? "true" : "false";
        return;
      default:
        break;
    }
    std::string value;
    switch (fl.kind) {
      case Field::Kind::id:
        value = fl.text;
        break;
      case Field::Kind::text:
        value = unmask ? fl.text : scrub_text(fl.text);
        break;
      case Field::Kind::phone:
        value = unmask ? fl.text : mask_phone(fl.text);
        break;
      case Field::Kind::document:
        value = unmask ? fl.text : mask_document(fl.text);
        break;
      case Field::Kind::body:
        value = unmask ? fl.text : mask_body(fl.text);
        break;
      case Field::Kind::secret:
        value = "***";
        break;
      default:
        break;
    }
    line += '"';
    json_escape(line, value);
    line += '"';
  };
  for (const auto& c : context_) emit(c);
  for (std::size_t i = 0; i < n; ++i) emit(fields[i]);
  line += '}';
  return line;
}

void Logger::log(Level l, std::string_view msg, std::initializer_list<Field> fields) const {
  if (!enabled(l)) return;
  shared_->sink(render(l, msg, fields.begin(), fields.size()));
}

void Logger::log(Level l, std::string_view msg, const std::vector<Field>& fields) const {
  if (!enabled(l)) return;
  shared_->sink(render(l, msg, fields.data(), fields.size()));
}

namespace {
std::mutex g_log_mu;
std::shared_ptr<const Logger> g_log = std::make_shared<const Logger>();
}  // namespace

const Logger& log() {
  // The runtime installs the logger once at start; later replacements keep the old one
  // alive (leaked on purpose) so references handed out stay valid.
  std::lock_guard lock(g_log_mu);
  return *g_log;
}

void set_log(Logger logger) {
  static std::vector<std::shared_ptr<const Logger>> retired;
  std::lock_guard lock(g_log_mu);
  retired.push_back(g_log);
  g_log = std::make_shared<const Logger>(std::move(logger));
}

}  // namespace lia::core
