#include <lia/events/names.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/notification/command.hpp>

namespace lia::notification {
namespace {

using core::Errc;
using core::Error;

Error bad(std::string message) {
  return Error(Errc::invalid_argument, std::move(message), false);
}

// Reads `n` digits at s[pos..]; -1 if they are not all digits.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

std::optional<std::string> opt(const core::Result<std::optional<std::string_view>>& v) {
  if (!v.ok() || !*v) return std::nullopt;
  return std::string(**v);
}

json::Writer& common(json::Writer& w, const SendCommand& cmd, int attempts) {
  w.field("command_id", cmd.command_id)
      .field("provider", to_string(cmd.provider))
      .field("instance", cmd.instance)
      .field("to", cmd.to)
      .field("conversation_id", cmd.conversation_id)
      .field("message_id", cmd.message_id)
      .field("attempts", attempts < 1 ? 1 : attempts);
  return w;
}

std::string nonempty_reason(std::string_view reason) {
  auto r = truncate_utf8(reason, 2048);
  return r.empty() ? std::string("unknown error") : r;
}

}  // namespace

std::string_view to_string(Provider p) noexcept {
  return p == Provider::meta ? "meta" : "evolution";
}

std::optional<Provider> parse_provider(std::string_view s) noexcept {
  if (s == "meta") return Provider::meta;
  if (s == "evolution") return Provider::evolution;
  return std::nullopt;
}

std::string_view to_string(CommandKind k) noexcept {
  return k == CommandKind::text ? "send_text" : "send_template";
}

core::Result<core::SysTime> parse_rfc3339(std::string_view s) {
  const auto fail = [&] {
    return bad("invalid RFC 3339 time '" + std::string(s.substr(0, 64)) + "'");
  };
  // YYYY-MM-DDTHH:MM:SS
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return fail();
  }
  const int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  const int hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 60) {
    return fail();
  }
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return fail();
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t ns = 0;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) {
        ns = ns * 10 + (s[pos] - '0');
        ++n;
      }
      ++pos;
    }
    if (n == 0) return fail();
    for (int i = n; i < 9; ++i) ns *= 10;
    frac = std::chrono::nanoseconds{ns};
  }
  std::chrono::minutes offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (oh < 0 || om < 0 || pos + 3 >= s.size() || s[pos + 3] != ':' || oh > 23 || om > 59) {
      return fail();
    }
    offset = std::chrono::minutes{oh * 60 + om};
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return fail();
  }
  if (pos != s.size()) return fail();
  // system_clock counts nanoseconds: about 1678..2262. Beyond that, the edge of time (once the
  // whole text is known to be RFC 3339).
  if (year >= 2262) return core::SysTime::max();
  if (year <= 1678) return core::SysTime::min();
  const auto t = std::chrono::sys_days{ymd} + std::chrono::hours{hour} +
                 std::chrono::minutes{minute} + std::chrono::seconds{second} - offset;
  return core::SysTime{
      std::chrono::duration_cast<core::SysTime::duration>(t.time_since_epoch() + frac)};
}

core::Result<SendCommand> parse_command(const events::CloudEvent& event) {
  SendCommand cmd;
  if (event.type == events::types::notification_send_text) {
    cmd.kind = CommandKind::text;
  } else if (event.type == events::types::notification_send_template) {
    cmd.kind = CommandKind::template_message;
  } else {
    return bad("unknown command type '" + event.type + "' (expected " +
               std::string(events::types::notification_send_text) + " or " +
               std::string(events::types::notification_send_template) + ")");
  }
  cmd.event_id = event.id;
  cmd.source = event.source;
  auto doc = json::parse(event.data);
  if (!doc) return bad("command " + event.id + ": " + doc.error().message());
  auto root = json::Obj::root(*doc);
  if (!root) return bad("command " + event.id + ": " + root.error().message());
  const auto& o = *root;

  auto command_id = o.nonempty_str("command_id");
  if (!command_id) return bad(command_id.error().message());
  cmd.command_id = std::string(*command_id);
  auto provider = o.str("provider");
  if (!provider) return bad(provider.error().message());
  auto p = parse_provider(*provider);
  if (!p) return bad("field 'provider' must be meta or evolution");
  cmd.provider = *p;
  auto instance = o.nonempty_str("instance");
  if (!instance) return bad(instance.error().message());
  cmd.instance = std::string(*instance);
  auto to = o.nonempty_str("to");
  if (!to) return bad(to.error().message());
  cmd.to = std::string(*to);
  cmd.conversation_id = opt(o.opt_str("conversation_id"));
  cmd.message_id = opt(o.opt_str("message_id"));
  if (auto priority = opt(o.opt_str("priority"))) cmd.priority = *priority;
  if (auto na = opt(o.opt_str("not_after"))) {
    auto t = parse_rfc3339(*na);
    if (!t) return bad("field 'not_after': " + t.error().message());
    cmd.not_after = *t;
  }

  if (cmd.kind == CommandKind::text) {
    auto text = o.nonempty_str("text");
    if (!text) return bad(text.error().message());
    cmd.text = std::string(*text);
    auto preview = o.opt_boolean("preview_url");
    if (!preview) return bad(preview.error().message());
    cmd.preview_url = preview->value_or(false);
    cmd.reply_to = opt(o.opt_str("reply_to_provider_message_id"));
  } else {
    auto t = o.obj("template");
    if (!t) return bad(t.error().message());
    auto name = t->nonempty_str("name");
    if (!name) return bad(name.error().message());
    auto language = t->nonempty_str("language");
    if (!language) return bad(language.error().message());
    cmd.tmpl.name = std::string(*name);
    cmd.tmpl.language = std::string(*language);
    auto params = t->opt_arr("parameters");
    if (!params) return bad(params.error().message());
    if (*params) {
      for (std::size_t i = 0; i < (*params)->size(); ++i) {
        auto v = (*params)->str(i);
        if (!v) return bad(v.error().message());
        cmd.tmpl.parameters.emplace_back(*v);
      }
    }
  }
  return cmd;
}

std::string truncate_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t end = max;
  // Step back over continuation bytes (10xxxxxx) so no sequence is split.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

std::string sent_data(const SendCommand& cmd, int attempts, std::string_view provider_message_id) {
  json::Writer w;
  w.begin_object();
  common(w, cmd, attempts).field("provider_message_id", truncate_utf8(provider_message_id, 256));
  w.end_object();
  return w.take();
}

std::string failed_data(const SendCommand& cmd, int attempts, std::string_view reason,
                        const std::optional<std::string>& code, std::optional<int> http_status) {
  json::Writer w;
  w.begin_object();
  common(w, cmd, attempts).field("reason", nonempty_reason(reason));
  if (code && !code->empty()) w.field("code", truncate_utf8(*code, 64));
  if (http_status && *http_status >= 100 && *http_status <= 599)
    w.field("http_status", *http_status);
  w.end_object();
  return w.take();
}

std::string dead_lettered_data(const SendCommand& cmd, int attempts, std::string_view reason,
                               std::string_view dlq_topic) {
  json::Writer w;
  w.begin_object();
  common(w, cmd, attempts).field("reason", nonempty_reason(reason)).field("dlq_topic", dlq_topic);
  w.end_object();
  return w.take();
}

}  // namespace lia::notification
