#pragma once
// JSON-lines logging on stdout. Personal data (LGPD) is masked unless the process runs with
// LIA_LOG_UNMASK=true: phone numbers and CPF/CNPJ keep only their last digits, message
// bodies are replaced by their length, and digit runs that look like a phone or a
// document are masked inside any free text as well.
//
//   log().info("message stored", {f::id("conversation_id", id), f::phone("from", phone),
//                                  f::body("text", text), f::num("bytes", n)});

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lia::core {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };
Level parse_level(std::string_view s, Level fallback = Level::info);
std::string_view to_string(Level l);

struct Field {
  enum class Kind { text, id, number, real, boolean, phone, document, body, secret };
  std::string key;
  std::string text;
  double number = 0;  // real and boolean
  Kind kind = Kind::text;
  std::int64_t integer = 0;  // number: exact (a double would round past 2^53)
};

namespace f {
// Free text: digit runs that look like phones or CPF/CNPJ are masked.
inline Field str(std::string k, std::string v) {
  return {std::move(k), std::move(v), 0, Field::Kind::text};
}
// An identifier known to hold no personal data (uuid, topic, route): written as is.
inline Field id(std::string k, std::string v) {
  return {std::move(k), std::move(v), 0, Field::Kind::id};
}
inline Field num(std::string k, std::int64_t v) {
  return {std::move(k), {}, 0, Field::Kind::number, v};
}
inline Field real(std::string k, double v) {
  return {std::move(k), {}, v, Field::Kind::real};
}
inline Field flag(std::string k, bool v) {
  return {std::move(k), {}, v ? 1.0 : 0.0, Field::Kind::boolean};
}
inline Field phone(std::string k, std::string v) {
  return {std::move(k), std::move(v), 0, Field::Kind::phone};
}
inline Field document(std::string k, std::string v) {
  return {std::move(k), std::move(v), 0, Field::Kind::document};
}
inline Field body(std::string k, std::string v) {
  return {std::move(k), std::move(v), 0, Field::Kind::body};
}
inline Field secret(std::string k) {
  return {std::move(k), {}, 0, Field::Kind::secret};
}
}  // namespace f

// Masking rules, exposed for tests and for other outputs (audit tables, errors).
std::string mask_phone(std::string_view phone);        // "5511987654321" -> "*********4321"
std::string mask_document(std::string_view document);  // "123.456.789-09" -> "***.***.***-09"
std::string mask_body(std::string_view body);          // -> "[masked 42 bytes]"
std::string scrub_text(std::string_view text);         // masks phone/CPF/CNPJ-like digit runs

class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;  // gets one line without '\n'

  struct Options {
    std::string service = "lia";
    Level level = Level::info;
    bool unmask = false;
    Sink sink;  // default: write(2) to stdout under a lock
  };

  Logger();
  explicit Logger(Options options);

  bool enabled(Level l) const { return l >= shared_->level; }
  void log(Level l, std::string_view msg, std::initializer_list<Field> fields = {}) const;
  void log(Level l, std::string_view msg, const std::vector<Field>& fields) const;
  void debug(std::string_view m, std::initializer_list<Field> fs = {}) const {
    log(Level::debug, m, fs);
  }
  void info(std::string_view m, std::initializer_list<Field> fs = {}) const {
    log(Level::info, m, fs);
  }
  void warn(std::string_view m, std::initializer_list<Field> fs = {}) const {
    log(Level::warn, m, fs);
  }
  void error(std::string_view m, std::initializer_list<Field> fs = {}) const {
    log(Level::error, m, fs);
  }

  // A logger that adds these fields to every line (e.g. component="outbox").
  Logger with(std::initializer_list<Field> context) const;

  // Renders a line exactly as log() would write it (no trailing newline).
  std::string render(Level l, std::string_view msg, const Field* fields, std::size_t n) const;

 private:
  struct Shared {
    std::string service;
    Level level;
    bool unmask;
    Sink sink;
  };
  std::shared_ptr<const Shared> shared_;
  std::vector<Field> context_;
};

// The process-wide logger. The service runtime configures it at start.
const Logger& log();
void set_log(Logger logger);

}  // namespace lia::core
