#include <algorithm>

#include <lia/core/clock.hpp>
#include <lia/core/text.hpp>
#include <lia/domain/phone.hpp>
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
  const auto r = core::utf8_prefix(reason, 2048);
  return std::string(r.empty() ? "unknown error" : r);
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
  if (auto t = core::parse_rfc3339(s)) return *t;
  return bad("invalid RFC 3339 time '" + std::string(s.substr(0, 64)) + "'");
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
  auto replayable = o.opt_boolean("replayable");
  if (!replayable) return bad(replayable.error().message());
  cmd.replayable = replayable->value_or(true);
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

std::optional<std::string> recipient_digits(std::string_view chat) {
  if (auto p = domain::normalize_wa_id(chat)) return std::move(p->digits);
  if (auto p = domain::normalize_phone(chat)) return std::move(p->digits);
  return std::nullopt;
}

std::string rate_key(const SendCommand& cmd) {
  return cmd.instance + '|' + recipient_digits(cmd.to).value_or(cmd.to);
}

std::string sent_data(const SendCommand& cmd, int attempts, std::string_view provider_message_id) {
  json::Writer w;
  w.begin_object();
  common(w, cmd, attempts)
      .field("provider_message_id", core::utf8_prefix(provider_message_id, 256));
  w.end_object();
  return w.take();
}

std::string failed_data(const SendCommand& cmd, int attempts, std::string_view reason,
                        const std::optional<std::string>& code, std::optional<int> http_status) {
  json::Writer w;
  w.begin_object();
  common(w, cmd, attempts).field("reason", nonempty_reason(reason));
  if (code && !code->empty()) w.field("code", core::utf8_prefix(*code, 64));
  if (http_status && *http_status >= 100 && *http_status <= 599)
    w.field("http_status", *http_status);
  w.end_object();
  return w.take();
}

std::string undelivered_data(const SendCommand& cmd, int attempts,
                             std::string_view provider_message_id, std::string_view reason,
                             const std::optional<std::string>& code) {
  json::Writer w;
  w.begin_object();
  common(w, cmd, attempts)
      .field("provider_message_id", core::utf8_prefix(provider_message_id, 256))
      .field("reason", nonempty_reason(reason));
  if (code && !code->empty()) w.field("code", core::utf8_prefix(*code, 64));
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
