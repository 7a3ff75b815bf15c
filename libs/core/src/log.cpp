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
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// A URL's escape (%20, %2B, %28, ...) at t[i].
bool is_escape_at(std::string_view t, std::size_t i) {
  return i + 2 < t.size() && t[i] == '%' && is_hex(t[i + 1]) && is_hex(t[i + 2]);
}

// Bytes of a separator written inside a number at t[i] (0: none): space . - / ( ) +, the
// no-break spaces, the Unicode dashes (U+2010..U+2015) people paste into phone numbers, and
// a URL's escape of any of them ("11%2098765%204321" in a logged path).
std::size_t sep_len(std::string_view t, std::size_t i) {
  const char c = t[i];
  if (c == ' ' || c == '.' || c == '-' || c == '/' || c == '(' || c == ')' || c == '+') return 1;
  if (is_escape_at(t, i)) return 3;
  if (const auto n = nbsp_len(t, i); n > 0) return n;
  const auto byte = [&](std::size_t k) {
    return k < t.size() ? static_cast<unsigned char>(t[k]) : 0U;
  };
  if (byte(i) == 0xE2 && byte(i + 1) == 0x80 && byte(i + 2) >= 0x90 && byte(i + 2) <= 0x95) {
    return 3;  // U+2010..U+2015
  }
  return 0;
}

// Whether a space (ASCII, no-break, or as a URL writes it: '+', %20) starts at t[i]: the
// groups of a written number.
bool is_space_at(std::string_view t, std::size_t i) {
  return t[i] == ' ' || t[i] == '+' || nbsp_len(t, i) > 0 ||
         (is_escape_at(t, i) && t[i + 1] == '2' && t[i + 2] == '0');
}

// The characters `counts` accepts, not those of a URL's escapes.
template <class Pred>
std::size_t count_outside_escapes(std::string_view s, Pred counts) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_escape_at(s, i)) {
      i += 2;
    } else if (counts(s[i])) {
      ++n;
    }
  }
  return n;
}

// The digits of a written number.
std::size_t digit_count(std::string_view s) {
  return count_outside_escapes(s, is_digit);
}

// Keeps the last `keep` characters that `maskable` accepts, every other character and a URL's
// escapes; the other maskable ones become '*'.
template <class Pred>
std::string keep_last(std::string_view s, std::size_t keep, Pred maskable) {
  const std::size_t total = count_outside_escapes(s, maskable);
  std::string out(s);
  std::size_t seen = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (is_escape_at(s, i)) {
      i += 2;
    } else if (maskable(s[i])) {
      if (seen + keep < total) out[i] = '*';
      ++seen;
    }
  }
  return out;
}

std::string keep_last_digits(std::string_view s, std::size_t keep) {
  return keep_last(s, keep, is_digit);
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
  // Letters too: the alphanumeric CNPJ (from July 2026) has them in its first 12 places.
  return keep_last(document, 2, [](char c) { return is_word(c) && c != '_'; });
}
std::string mask_body(std::string_view body) {
  return fmt::format("[masked {} bytes]", body.size());
}

namespace {

// Masks a written number with this many digits or more: a phone (8-13 digits), a CPF (11)
// or a CNPJ (14); documents keep their last 2 digits, phones their last 4.
void append_masked(std::string& out, std::string_view part, std::size_t min_digits) {
  const std::size_t digits = digit_count(part);
  if (digits < min_digits) {
    out.append(part);
  } else {
    out += digits == 11 || digits == 14 ? keep_last_digits(part, 2) : keep_last_digits(part, 4);
  }
}

// Bytes of a Meta message id ("wamid." and its base64) starting at t[i]; 0: none.
std::size_t wamid_len(std::string_view t, std::size_t i) {
  constexpr std::string_view kPrefix = "wamid.";
  if (t.substr(i, kPrefix.size()) != kPrefix || (i > 0 && is_word(t[i - 1]))) return 0;
  std::size_t j = i + kPrefix.size();
  while (j < t.size() &&
         (is_word(t[j]) || t[j] == '+' || t[j] == '/' || t[j] == '=' || t[j] == '-')) {
    ++j;
  }
  return j - i;
}

// A Meta message id is base64 of the customer's number (in full) and the message's own id:
// only the last 12 characters of a full one (about 58; the number is in its first 24) are
// kept, enough to tell messages apart in the logs.
void append_wamid(std::string& out, std::string_view id) {
  constexpr std::size_t kPrefix = 6;  // "wamid."
  constexpr std::size_t kKept = 12;
  constexpr std::size_t kNumberPart = 24;
  const std::string_view payload = id.substr(kPrefix);
  out += "wamid.…";
  if (payload.size() >= kNumberPart + kKept) out += payload.substr(payload.size() - kKept);
}

bool is_alnum(char c) {
  return is_word(c) && c != '_';
}

// Reads `min` to `max` digits at t[i] and moves past them: their value, or -1 (i unmoved)
// when there are fewer than `min`.
int read_digits(std::string_view t, std::size_t& i, std::size_t min, std::size_t max) {
  int value = 0;
  std::size_t n = 0;
  while (n < max && i + n < t.size() && is_digit(t[i + n])) {
    value = value * 10 + (t[i + n] - '0');
    ++n;
  }
  if (n < min) return -1;
  i += n;
  return value;
}

bool read_char(std::string_view t, std::size_t& i, char c) {
  if (i >= t.size() || t[i] != c) return false;
  ++i;
  return true;
}

bool joins_numbers(char c) {
  return c == '.' || c == ',' || c == '/' || c == '-';
}

// Whether a date or an amount may start at t[i] (or end before it): not inside a word nor
// the tail (or head) of a longer number ("1/10/05/2024", "10/05/2024/1").
bool token_starts_at(std::string_view t, std::size_t i) {
  if (i == 0 || (i >= 3 && is_escape_at(t, i - 3))) return true;
  if (is_alnum(t[i - 1])) return false;
  return !(joins_numbers(t[i - 1]) && i >= 2 && is_digit(t[i - 2]));
}
bool token_ends_at(std::string_view t, std::size_t i) {
  if (i >= t.size()) return true;
  if (is_alnum(t[i])) return false;
  return !(joins_numbers(t[i]) && i + 1 < t.size() && is_digit(t[i + 1]));
}

// Bytes of a uuid (8-4-4-4-12 hex digits) at t[i], not glued to a word; 0: none. Its digit
// runs are not a phone's ("60844598-1db7-4516-8828-45e6d1e9bc17" has 11 digits in a row).
std::size_t uuid_len(std::string_view t, std::size_t i) {
  constexpr std::size_t kLen = 36;
  if (i + kLen > t.size() || (i > 0 && is_alnum(t[i - 1]))) return 0;
  for (std::size_t k = 0; k < kLen; ++k) {
    const bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash ? t[i + k] != '-' : !is_hex(t[i + k])) return 0;
  }
  return i + kLen < t.size() && is_alnum(t[i + kLen]) ? 0 : kLen;
}

// Bytes of a time of day after a date at t[i] (" 10:30", "T10:30:15.123"); 0: none.
std::size_t time_len(std::string_view t, std::size_t i) {
  std::size_t j = i;
  if (!read_char(t, j, ' ') && !read_char(t, j, 'T')) return 0;
  const int hour = read_digits(t, j, 2, 2);
  if (hour < 0 || hour > 23 || !read_char(t, j, ':')) return 0;
  const int minute = read_digits(t, j, 2, 2);
  if (minute < 0 || minute > 59) return 0;
  if (std::size_t k = j; read_char(t, k, ':')) {
    const int second = read_digits(t, k, 2, 2);
    if (second >= 0 && second <= 60) {
      j = k;
      if (k = j; read_char(t, k, '.') && k < t.size() && is_digit(t[k])) {
        while (k < t.size() && is_digit(t[k])) ++k;
        j = k;
      }
    }
  }
  return j < t.size() && is_digit(t[j]) ? 0 : j - i;
}

// Bytes of a date at t[i]: dd/mm/yyyy or yyyy-mm-dd (a real day, month and year from 1900 to
// 2099), and a time of day after it; 0: none.
std::size_t date_len(std::string_view t, std::size_t i) {
  if (!token_starts_at(t, i)) return 0;
  std::size_t j = i;
  int day = 0;
  int month = 0;
  int year = read_digits(t, j, 4, 4);
  if (year >= 0 && read_char(t, j, '-')) {
    month = read_digits(t, j, 2, 2);
    if (month < 0 || !read_char(t, j, '-')) return 0;
    day = read_digits(t, j, 2, 2);
  } else {
    j = i;
    day = read_digits(t, j, 1, 2);
    if (day < 0 || !read_char(t, j, '/')) return 0;
    month = read_digits(t, j, 1, 2);
    if (month < 0 || !read_char(t, j, '/')) return 0;
    year = read_digits(t, j, 4, 4);
  }
  if (day < 1 || day > 31 || month < 1 || month > 12 || year < 1900 || year > 2099) return 0;
  if (const auto n = time_len(t, j); n > 0) return j + n - i;
  return token_ends_at(t, j) ? j - i : 0;
}

// Bytes of an amount's shape at t[i], thousands separators and a decimal comma of 2 digits
// ("12.345.678,90"), glued to words or not; 0: none.
std::size_t money_shape_len(std::string_view t, std::size_t i) {
  std::size_t j = i;
  if (read_digits(t, j, 1, 3) < 0) return 0;
  std::size_t thousands = 0;
  for (std::size_t k = j; read_char(t, k, '.') && read_digits(t, k, 3, 3) >= 0; k = j) {
    j = k;
    ++thousands;
  }
  if (thousands == 0 || !read_char(t, j, ',') || read_digits(t, j, 2, 2) < 0) return 0;
  return j < t.size() && is_digit(t[j]) ? 0 : j - i;
}

// Bytes of an amount of money at t[i] ("12.345.678,90", not glued to a word); 0: none. A CPF
// ("123.456.789-09") has a hyphen, a CNPJ a slash.
std::size_t money_len(std::string_view t, std::size_t i) {
  if (!token_starts_at(t, i)) return 0;
  const auto n = money_shape_len(t, i);
  return n > 0 && token_ends_at(t, i + n) ? n : 0;
}

// Bytes of a uuid, a date or an amount at t[i], which a number does not run into; 0: none.
std::size_t shielded_len(std::string_view t, std::size_t i) {
  if (const auto n = uuid_len(t, i); n > 0) return n;
  if (const auto n = date_len(t, i); n > 0) return n;
  return money_len(t, i);
}

// Bytes of a space or a dash between the groups of a phone at t[i] (0: none).
std::size_t group_sep_len(std::string_view t, std::size_t i) {
  if (t[i] == ' ' || t[i] == '+' || t[i] == '-') return 1;
  if (const auto n = nbsp_len(t, i); n > 0) return n;
  if (is_escape_at(t, i)) {
    return t[i + 1] == '2' && (t[i + 2] == '0' || t[i + 2] == 'D' || t[i + 2] == 'd') ? 3 : 0;
  }
  const auto n = sep_len(t, i);
  return n == 3 ? n : 0;  // U+2010..U+2015
}

// Whether a written number ends like a phone without its area code: 4+4 or 5+4 digits apart
// by one space or dash ("8765-4321", "98765 4321", "9 8765-4321", "11-3456-7890").
bool ends_like_local_phone(std::string_view part) {
  if (part.empty() || !is_digit(part.back())) return false;
  std::size_t before = 0;  // digits in the group before the last one
  std::size_t last = 0;
  bool one_sep = false;  // between the two
  std::size_t i = 0;
  while (i < part.size()) {
    const std::size_t from = i;
    while (i < part.size() && !is_digit(part[i])) {
      const auto n = sep_len(part, i);
      i += n > 0 ? n : 1;
    }
    one_sep = i > from && group_sep_len(part, from) == i - from;
    std::size_t n = 0;
    for (; i < part.size() && is_digit(part[i]); ++i) ++n;
    before = last;
    last = n;
  }
  return one_sep && last == 4 && (before == 4 || before == 5);
}

// Whether a number glued to a word has a Brazilian phone's shape with its area code: 10 digits,
// an area code of two non-zero digits, then a number starting 2-9 ("tel1134567890",
// "phone_2198765432"). With 11 digits it is masked anyway.
bool like_phone_with_ddd(std::string_view part) {
  std::string d;
  for (char c : part) {
    if (is_digit(c)) d.push_back(c);
  }
  return d.size() == 10 && d[0] != '0' && d[1] != '0' && d[2] >= '2';
}

}  // namespace

std::string scrub_text(std::string_view text) {
  // A candidate is a maximal run of digits and separators (an optional leading '+') that
  // starts and ends with a digit. A group at its edge glued to a word ("2a", "A1", "cpf1…")
  // is judged on its own: it is masked from 11 digits (a CPF, a phone with its area code), so
  // that ids with a few digits in them stay readable, unless it ends like a phone ("fone9876-
  // 5432"). The rest of the run is masked from 8. Uuids, dates and amounts of money are left
  // as they are, and a run stops before one. An alphanumeric CNPJ is masked as a word.
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (const auto n = wamid_len(text, i); n > 0) {
      append_wamid(out, text.substr(i, n));
      i += n;
      continue;
    }
    if (const auto n = alphanumeric_cnpj_len(text, i, /*bare_lowercase=*/false); n > 0) {
      out += mask_document(text.substr(i, n));
      i += n;
      continue;
    }
    if (is_escape_at(text, i)) {  // a URL's escape before a number is not part of it
      out.append(text.substr(i, 3));
      i += 3;
      continue;
    }
    if (const auto n = uuid_len(text, i) + date_len(text, i); n > 0) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    // Glued to a word, 3.3.3,2 digits is a CPF typed with a comma ("cpf123.456.789,09"), no
    // amount; money_len leaves it out, and the run below would stop at its comma.
    const bool glued = i > 0 && is_alnum(text[i - 1]);
    if (const auto n = glued ? money_shape_len(text, i) : money_len(text, i);
        n > 0 && (!glued || digit_count(text.substr(i, n)) == 11)) {
      // 3.3.3,2 digits is a CPF as well as money: an amount only after "R$".
      const std::string_view amount = text.substr(i, n);
      if (digit_count(amount) == 11 && !after_currency(text, i)) {
        out += keep_last_digits(amount, 2);
      } else {
        out.append(amount);
      }
      i += n;
      continue;
    }
    const bool plus = text[i] == '+' && i + 1 < text.size() && is_digit(text[i + 1]) &&
                      shielded_len(text, i + 1) == 0;
    if (!is_digit(text[i]) && !plus) {
      out.push_back(text[i++]);
      continue;
    }
    const std::size_t start = i;
    std::size_t end = plus ? i + 1 : i;  // one past the last digit seen
    std::size_t j = end;
    while (j < text.size()) {
      if (is_digit(text[j])) {
        end = ++j;
      } else if (const auto len = sep_len(text, j); len > 0) {
        j += len;
        if (j < text.size() && is_digit(text[j]) && shielded_len(text, j) > 0) break;
      } else {
        break;
      }
    }
    const std::string_view run = text.substr(start, end - start);
    // The glued groups end (or start) at the run's first (or last) space.
    std::size_t left = 0;            // run[0, left) is glued to the word before it
    std::size_t right = run.size();  // run[right, size) is glued to the word after it
    const bool after_escape = start >= 3 && is_escape_at(text, start - 3);
    if (start > 0 && is_word(text[start - 1]) && !after_escape) {
      while (left < run.size() && !is_space_at(run, left)) ++left;
    }
    if (end < text.size() && is_word(text[end])) {
      while (right > left && !is_space_at(run, right - 1)) --right;
    }
    // A number written in groups with 10 digits or more is a phone with its area code or a
    // document, glued to a word or not ("(11) 98765-4321ok", "CPF529 982 247 25"): judged
    // whole when the part between the glued groups is not such a number by itself (its
    // pieces alone would be too short to mask, or would leave most of it shown).
    if ((left > 0 || right < run.size()) && digit_count(run) >= 10 &&
        digit_count(run.substr(left, right - left)) < 10) {
      bool grouped = false;
      for (std::size_t k = 0; k < run.size() && !grouped; ++k) grouped = is_space_at(run, k);
      if (grouped) {
        left = 0;
        right = run.size();
      }
    }
    // A phone without its area code is masked glued to a word as well ("fone98765-4321",
    // "9 8765-4321ok", "tel9 8765 4321").
    if ((left > 0 || right < run.size()) && digit_count(run) <= 10 && ends_like_local_phone(run)) {
      left = 0;
      right = run.size();
    }
    const auto glued_min = [](std::string_view part) -> std::size_t {
      if (ends_like_local_phone(part)) return 8;
      return like_phone_with_ddd(part) ? 10 : 11;
    };
    append_masked(out, run.substr(0, left), glued_min(run.substr(0, left)));
    append_masked(out, run.substr(left, right - left), 8);
    if (right < run.size()) append_masked(out, run.substr(right), glued_min(run.substr(right)));
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
        line += fmt::format("{}", fl.integer);
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
