#include <charconv>
#include <cstdio>

#include <lia/core/clock.hpp>
#include <lia/core/text.hpp>
#include <lia/core/uuid.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/nps_gamification/messages.hpp>

namespace lia::nps_gamification {
namespace {

using core::Errc;
using core::Error;

using Fields = std::initializer_list<std::pair<const char*, std::string*>>;

core::Result<json::Document> parse_object(std::string_view data_json) {
  auto doc = json::parse(data_json);
  if (!doc) return doc.error();
  if (!doc->IsObject()) return Error(Errc::invalid_argument, "event data must be an object");
  return doc;
}

core::Result<std::string> req(const json::Obj& o, std::string_view key) {
  auto v = o.nonempty_str(key);
  if (!v) return v.error();
  return std::string(*v);
}

core::Result<std::optional<std::string>> opt(const json::Obj& o, std::string_view key) {
  auto v = o.opt_str(key);
  if (!v) return v.error();
  if (!*v) return std::optional<std::string>{};
  return std::optional<std::string>{std::string(**v)};
}

core::Result<ChatRef> read_chat(const json::Obj& o) {
  ChatRef c;
  for (auto [key, out] : Fields{{"conversation_id", &c.conversation_id},
                                {"contact_id", &c.contact_id},
                                {"provider", &c.provider},
                                {"instance", &c.instance},
                                {"chat_id", &c.chat_id}}) {
    auto v = req(o, key);
    if (!v) return v.error();
    *out = std::move(*v);
  }
  return c;
}

void write_chat(json::Writer& w, const ChatRef& c) {
  w.field("conversation_id", c.conversation_id)
      .field("contact_id", c.contact_id)
      .field("provider", c.provider)
      .field("instance", c.instance)
      .field("chat_id", c.chat_id);
}

// Reads exactly `n` digits at s[pos..].
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

core::Result<Resolved> parse_resolved(std::string_view data_json) {
  auto doc = parse_object(data_json);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  Resolved r;
  auto chat = read_chat(*o);
  if (!chat) return chat.error();
  r.chat = std::move(*chat);
  auto by = req(*o, "resolved_by");
  if (!by) return by.error();
  r.resolved_by = std::move(*by);
  auto agent = opt(*o, "agent_user_id");
  if (!agent) return agent.error();
  r.agent_id = std::move(*agent);
  auto duration = o->opt_i64("duration_ms");
  if (!duration) return duration.error();
  r.duration_ms = *duration;
  auto count = o->opt_i64("message_count");
  if (!count) return count.error();
  r.message_count = *count;
  return r;
}

core::Result<StoredMessage> parse_stored(std::string_view data_json) {
  auto doc = parse_object(data_json);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  StoredMessage m;
  auto chat = read_chat(*o);
  if (!chat) return chat.error();
  m.chat = std::move(*chat);
  for (auto [key, out] : Fields{{"message_id", &m.message_id},
                                {"direction", &m.direction},
                                {"author", &m.author},
                                {"kind", &m.kind},
                                {"timestamp", &m.timestamp}}) {
    auto v = req(*o, key);
    if (!v) return v.error();
    *out = std::move(*v);
  }
  auto text = opt(*o, "text");
  if (!text) return text.error();
  m.text = std::move(*text);
  auto route = opt(*o, "route");
  if (!route) return route.error();
  m.route = std::move(*route);
  return m;
}

core::Result<std::string> parse_reopened_conversation(std::string_view data_json) {
  auto doc = parse_object(data_json);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  return req(*o, "conversation_id");
}

core::Result<SendOutcome> parse_send_outcome(std::string_view data_json) {
  auto doc = parse_object(data_json);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  SendOutcome s;
  auto id = req(*o, "command_id");
  if (!id) return id.error();
  s.command_id = std::move(*id);
  auto reason = o->opt_str("reason");
  if (!reason) return reason.error();
  s.reason = *reason ? std::string(**reason) : std::string("unknown");
  auto code = o->opt_str("code");
  if (!code) return code.error();
  if (*code) s.code = std::string(**code);
  return s;
}

Survey make_survey(const Resolved& resolved, core::SysTime now, std::chrono::seconds window,
                   const core::Clock& clock) {
  Survey s;
  s.survey_id = core::Uuid::v7(clock).str();
  s.chat = resolved.chat;
  s.agent_id = resolved.agent_id;
  s.command_id = core::Uuid::v7(clock).str();
  s.sent_at = now;
  s.expires_at = now + window;
  return s;
}

std::string send_text_data(const std::string& command_id, const ChatRef& chat,
                           const std::string& text, std::optional<core::SysTime> not_after) {
  json::Writer w;
  w.begin_object()
      .field("command_id", command_id)
      .field("provider", chat.provider)
      .field("instance", chat.instance)
      .field("to", chat.chat_id)
      .field("conversation_id", chat.conversation_id);
  if (not_after) w.field("not_after", core::format_rfc3339(*not_after));
  w.field("priority", "normal").field("text", text).end_object();
  return w.take();
}

std::string survey_failed_data(const Survey& survey, std::string_view reason) {
  json::Writer w;
  w.begin_object().field("survey_id", survey.survey_id);
  write_chat(w, survey.chat);
  w.field("command_id", survey.command_id)
      .field("reason", reason.empty() ? std::string("unknown") : core::valid_utf8(reason, 1000))
      .end_object();
  return w.take();
}

std::string survey_sent_data(const Survey& survey) {
  json::Writer w;
  w.begin_object().field("survey_id", survey.survey_id);
  write_chat(w, survey.chat);
  w.field("command_id", survey.command_id)
      .field("agent_user_id", survey.agent_id)
      .field("sent_at", core::format_rfc3339(survey.sent_at))
      .field("expires_at", core::format_rfc3339(survey.expires_at))
      .end_object();
  return w.take();
}

std::string score_recorded_data(const Survey& survey, int score, domain::NpsCategory category) {
  json::Writer w;
  w.begin_object().field("survey_id", survey.survey_id);
  write_chat(w, survey.chat);
  w.field("score", score)
      .field("category", domain::to_string(category))
      .field("agent_user_id", survey.agent_id)
      .end_object();
  return w.take();
}

std::string thank_you_text(domain::NpsCategory category) {
  switch (category) {
    case domain::NpsCategory::promoter:
      return "Obrigado pela sua avaliação! Ficamos felizes em ajudar.";
    case domain::NpsCategory::neutral:
      return "Obrigado pela sua avaliação! Vamos continuar melhorando o nosso atendimento.";
    case domain::NpsCategory::detractor:
      break;
  }
  return "Obrigado pela sua avaliação. Sentimos muito pela sua experiência; nossa equipe vai "
         "analisar o seu atendimento.";
}

core::Result<core::SysTime> parse_rfc3339(std::string_view s) {
  if (auto t = core::parse_rfc3339(s, core::DateTimeSeparator::t_or_space)) return *t;
  return Error(Errc::invalid_argument,
               "not an RFC 3339 date-time: '" + std::string(s.substr(0, 64)) + "'");
}

core::Result<core::SysTime> parse_time_bound(std::string_view text,
                                             std::chrono::minutes utc_offset) {
  if (text.size() != 10) return parse_rfc3339(text);
  const auto off = utc_offset.count();
  const auto abs = off < 0 ? -off : off;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "T00:00:00%c%02d:%02d", off < 0 ? '-' : '+',
                static_cast<int>(abs / 60), static_cast<int>(abs % 60));
  return parse_rfc3339(std::string(text) + suffix);
}

core::Result<std::pair<core::SysTime, core::SysTime>> period_bounds(
    std::string_view period, std::chrono::minutes utc_offset) {
  int y = 0, m = 0;
  if (period.size() != 7 || !digits(period, 0, 4, y) || period[4] != '-' ||
      !digits(period, 5, 2, m) || m < 1 || m > 12 || y < 1970 || y > 2261) {
    // The clock holds nanoseconds since 1970 in 64 bits: up to April 2262.
    return Error(Errc::invalid_argument, "period must be YYYY-MM, from 1970-01 to 2261-12");
  }
  const std::chrono::year_month ym{std::chrono::year{y},
                                   std::chrono::month{static_cast<unsigned>(m)}};
  const auto next = ym + std::chrono::months{1};
  // Local midnight is UTC midnight minus the offset (-03:00 -> 03:00 UTC).
  const core::SysTime from = std::chrono::sys_days{ym / std::chrono::day{1}} - utc_offset;
  const core::SysTime to = std::chrono::sys_days{next / std::chrono::day{1}} - utc_offset;
  return std::pair{from, to};
}

std::string period_of(core::SysTime t, std::chrono::minutes utc_offset) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t + utc_offset)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()));
  return buf;
}

}  // namespace lia::nps_gamification
