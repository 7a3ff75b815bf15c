#include "handler.hpp"

#include <algorithm>
#include <chrono>

#include <lia/core/clock.hpp>
#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/hours.hpp>
#include <lia/domain/phone.hpp>
#include <lia/events/names.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/events.hpp>

#include "ai_events.hpp"

namespace lia::ai_orchestration {
namespace {

// The day in São Paulo when the customer wrote (else today), "YYYY-MM-DD".
std::string sao_paulo_day(const std::string& timestamp) {
  const auto at = core::parse_rfc3339(timestamp).value_or(core::SystemClock::instance().now());
  return core::format_date(std::chrono::year_month_day{
      std::chrono::floor<std::chrono::days>(at + domain::kSaoPauloUtcOffset)});
}

namespace f = core::f;
namespace types = events::types;

core::Error bad_record(const std::string& why) {
  return core::Error(core::Errc::invalid_argument, why, false);
}

// The data object of a decoded event.
core::Result<json::Document> data_of(const events::CloudEvent& ev) {
  auto doc = json::parse(ev.data);
  if (!doc) return bad_record("event " + ev.id + ": " + doc.error().message());
  if (!doc->IsObject()) return bad_record("event " + ev.id + ": data is not an object");
  return doc;
}

core::Result<ChatRef> parse_chat(const json::Obj& d) {
  ChatRef c;
  for (auto [key, out] :
       {std::pair{"conversation_id", &c.conversation_id}, std::pair{"contact_id", &c.contact_id},
        std::pair{"provider", &c.provider}, std::pair{"instance", &c.instance},
        std::pair{"chat_id", &c.chat_id}}) {
    auto v = d.nonempty_str(key);
    if (!v) return bad_record(v.error().message());
    *out = std::string(*v);
  }
  return c;
}

struct StoredMessage {
  ChatRef chat;
  std::string message_id;
  std::string direction;
  std::string author;
  std::string kind;
  std::string route;
  std::string timestamp;
  std::optional<std::string> assistant;
  std::string text;  // the text, or a media caption
};

core::Result<StoredMessage> parse_stored(const json::Obj& d) {
  auto chat = parse_chat(d);
  if (!chat) return chat.error();
  StoredMessage m;
  m.chat = std::move(*chat);
  for (auto [key, out] : {std::pair{"message_id", &m.message_id},
                          std::pair{"direction", &m.direction}, std::pair{"author", &m.author},
                          std::pair{"kind", &m.kind}, std::pair{"timestamp", &m.timestamp}}) {
    auto v = d.nonempty_str(key);
    if (!v) return bad_record(v.error().message());
    *out = std::string(*v);
  }
  auto route = d.opt_str("route");
  if (!route) return bad_record(route.error().message());
  if (*route) m.route = std::string(**route);
  auto assistant = d.opt_str("assistant");
  if (!assistant) return bad_record(assistant.error().message());
  if (*assistant) m.assistant = std::string(**assistant);
  auto text = d.opt_str("text");
  if (!text) return bad_record(text.error().message());
  if (*text) {
    m.text = std::string(**text);
  } else if (auto media = d.opt_obj("media"); media && *media) {
    if (auto caption = (*media)->opt_str("caption"); caption && *caption) {
      m.text = std::string(**caption);
    }
  }
  return m;
}

// Whether the AI still answers this conversation (the read model's view; an unknown
// conversation is taken at conversation's word, the message's route).
bool ai_answers(const Snapshot& s) {
  return !s.known || (s.status == "active" && s.mode == "ai" && !s.handoff_pending);
}

core::Status publish(pg::Tx& tx, const std::string& schema, const ChatRef& chat,
                     std::string_view type, std::string data) {
  auto ev = runtime::publish(tx, schema, std::string(kServiceName),
                             {.topic = std::string(events::topics::ai_events),
                              .key = events::chat_key(chat.instance, chat.chat_id),
                              .type = std::string(type),
                              .subject = chat.conversation_id,
                              .data = std::move(data)});
  if (!ev) return ev.error();
  return core::ok();
}

struct Metrics {
  core::Counter& replies_local;
  core::Counter& replies_remote;
  core::Counter& fallbacks;
  core::Counter& handoffs;
  core::Counter& silent;
  core::Histogram& answer_seconds;
  static Metrics& get() {
    auto& m = core::metrics();
    static Metrics metrics{
        m.counter("lia_ai_replies_total", "Replies generated", {{"model", "local"}}),
        m.counter("lia_ai_replies_total", "Replies generated", {{"model", "remote"}}),
        m.counter("lia_ai_fallbacks_total",
                  "Replies the local assistant wrote because the remote model failed"),
        m.counter("lia_ai_handoffs_total", "Handoffs to humans requested"),
        m.counter("lia_ai_silent_total",
                  "Customer messages for the AI in conversations it no longer answers"),
        m.histogram("lia_ai_answer_seconds", "Time to make an answer (model included)")};
    return metrics;
  }
};

// The state changes that decide who answers the conversation (on_state).
bool is_state_change(std::string_view type) {
  return type == types::conversation_created || type == types::conversation_transferred ||
         type == types::conversation_resolved || type == types::conversation_reopened;
}

}  // namespace

Handler::Handler(std::shared_ptr<pg::Pool> pool, std::shared_ptr<const Orchestrator> orchestrator,
                 HandlerOptions options)
    : pool_(std::move(pool)),
      orchestrator_(std::move(orchestrator)),
      options_(std::move(options)),
      store_(options_.schema,
             std::string(kServiceName) + "." + std::string(events::topics::conversation_events)),
      outages_(options_.outages ? options_.outages
                                : std::make_shared<PgOutages>(pool_, options_.schema)) {}

core::Status Handler::handle(const kafka::Message& message) {
  if (message.topic == events::topics::collections_events) return on_campaign(message);
  // A type this service does not read (an assignment, or one newer than this build, whose
  // schema it may not know) is skipped on the relay's type header, before decoding.
  if (const std::string* type = message.header(events::headers::event_type);
      type != nullptr && *type != types::conversation_message_stored && !is_state_change(*type)) {
    core::log().debug("event ignored", {f::id("event_type", *type)});
    return core::ok();
  }
  auto ev = runtime::decode_event(message);
  if (!ev) return ev.error();
  if (ev->type == types::conversation_message_stored) return on_message(*ev);
  if (is_state_change(ev->type)) return on_state(*ev);
  if (ev->type == types::conversation_assigned || ev->type == types::conversation_unassigned) {
    core::log().debug("event ignored", {f::id("event_type", ev->type), f::id("event_id", ev->id)});
    return core::ok();
  }
  return bad_record("unexpected event type " + ev->type + " on " +
                    std::string(events::topics::conversation_events));
}

// collections.message.requested: the chat a campaign messaged, so that the debtor's answer
// starts with cobranca. Kept at the latest request's time; a redelivery changes nothing.
core::Status Handler::on_campaign(const kafka::Message& message) {
  if (const std::string* type = message.header(events::headers::event_type);
      type != nullptr && *type != types::collections_message_requested) {
    return core::ok();
  }
  auto ev = runtime::decode_event(message);
  if (!ev) return ev.error();
  if (ev->type != types::collections_message_requested) return core::ok();
  auto doc = data_of(*ev);
  if (!doc) return doc.error();
  auto data = json::Obj::root(*doc);
  if (!data) return bad_record("event " + ev->id + ": data is not an object");
  auto instance = data->nonempty_str("instance");
  if (!instance) return bad_record("event " + ev->id + ": " + instance.error().message());
  auto to = data->nonempty_str("to");
  if (!to) return bad_record("event " + ev->id + ": " + to.error().message());
  const auto at = core::parse_rfc3339(ev->time);
  if (!at) return bad_record("event " + ev->id + ": time is not RFC 3339");
  // By the phone, as the debtor's answer is matched: WhatsApp may name the chat without the
  // ninth digit the campaign's `to` has. (A campaign sends only to phones.)
  auto phone = domain::normalize_wa_id(*to);
  if (!phone) return core::ok();
  return pg::transact(*pool_, [&](pg::Tx& tx) {
    return store_.note_campaign(tx, std::string(*instance), phone->digits, *at);
  });
}

// created / transferred / resolved / reopened: who answers the conversation now.
core::Status Handler::on_state(const events::CloudEvent& ev) {
  auto doc = data_of(ev);
  if (!doc) return doc.error();
  auto data = json::Obj::root(*doc);
  if (!data) return bad_record("event " + ev.id + ": data is not an object");
  const auto& log = core::log();
  auto chat = parse_chat(*data);
  if (!chat) return chat.error();
  StateWrite w;
  w.chat = *chat;
  w.clear_handoff = true;
  auto mode = data->opt_str("mode");
  if (!mode) return bad_record(mode.error().message());
  if (ev.type == types::conversation_created) {
    w.forget_unconfirmed = false;
    w.status = "active";
    if (*mode) w.mode = std::string(**mode);
    if (auto a = data->opt_str("assistant"); a && *a) w.assistant = std::string(**a);
  } else if (ev.type == types::conversation_transferred) {
    w.mode = *mode ? std::string(**mode) : "human";
    w.status = *w.mode == "ai" ? "active" : "transferred";
  } else if (ev.type == types::conversation_resolved) {
    w.status = "resolved";
  } else {
    w.status = "active";
    w.mode = *mode ? std::string(**mode) : "ai";
    // Reopened by the customer's new message: a new request, routed afresh (conversation
    // resets its assistant the same way), not answered by the last one's specialist.
    auto reason = data->opt_str("reason");
    if (!reason) return bad_record(reason.error().message());
    if (*reason && **reason == "customer_message") w.assistant = "apresentacao";
  }
  const bool resolved = ev.type == types::conversation_resolved;
  bool fresh = false;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    auto claimed = store_.claim(tx, ev.id);
    if (!claimed) return claimed.error();
    fresh = *claimed;
    if (!fresh) return core::ok();
    if (auto s = store_.apply_state(tx, w); !s) return s;
    if (resolved) {
      auto closed = store_.close_thread(tx, w.chat.conversation_id, "conversation_ended", false);
      if (!closed) return closed.error();
      store_.forget_registrations(tx, w.chat.conversation_id);
    }
    return core::ok();
  });
  if (!st) return st;
  if (fresh) {
    log.info("conversation state updated",
             {f::id("event_type", ev.type), f::id("conversation_id", w.chat.conversation_id),
              f::id("status", w.status.value_or("")), f::id("mode", w.mode.value_or("")),
              f::flag("ai_answers", w.status == "active" && w.mode.value_or("ai") == "ai")});
  }
  return core::ok();
}

// message.stored: record the message; answer it when it is the AI's to answer.
core::Status Handler::on_message(const events::CloudEvent& ev) {
  auto doc = data_of(ev);
  if (!doc) return doc.error();
  auto data = json::Obj::root(*doc);
  if (!data) return bad_record("event " + ev.id + ": data is not an object");
  const auto& log = core::log();

  auto msg = parse_stored(*data);
  if (!msg) return msg.error();
  const bool from_customer = msg->direction == "inbound" && msg->author == "customer";
  const bool for_ai = from_customer && (msg->route == "ai" || msg->route == "hybrid");

  // Only a message the AI may answer needs the conversation's context first.
  std::optional<Snapshot> snap;
  std::optional<std::string> phone;  // the chat's, as E.164 digits; none: not a phone's chat
  if (for_ai) {
    // With it, whether a campaign messaged the chat within the campaign answer window before (a
    // debtor's answer goes to cobranca; not a campaign requested after the message was written, a
    // few minutes of clocks apart allowed).
    const auto at =
        core::parse_rfc3339(msg->timestamp).value_or(core::SystemClock::instance().now());
    if (auto p = domain::normalize_wa_id(msg->chat.chat_id)) phone = std::move(p->digits);
    auto loaded = store_.load(*pool_, msg->chat.conversation_id, msg->chat.contact_id, ev.id,
                              {msg->chat.instance, phone, at - options_.campaign_answer_window,
                               at + std::chrono::minutes{5}});
    if (!loaded) return loaded.error();
    if (loaded->seen) {
      log.debug("event already handled", {f::id("event_id", ev.id)});
      return core::ok();
    }
    snap = std::move(*loaded);
  }

  std::string delivery;
  if (snap && msg->route == "ai") {
    if (ai_answers(*snap)) {
      delivery = "send";
    } else {
      Metrics::get().silent.inc();
      log.debug("AI stays silent",
                {f::id("conversation_id", msg->chat.conversation_id), f::id("status", snap->status),
                 f::id("mode", snap->mode), f::flag("handoff_pending", snap->handoff_pending)});
    }
  } else if (snap && msg->route == "hybrid") {
    delivery = "suggest";
  }

  // The assistant conversation names on the message (for a conversation not seen yet).
  Assistant stated = Assistant::apresentacao;
  if (msg->assistant) stated = parse_assistant(*msg->assistant).value_or(Assistant::apresentacao);
  std::optional<Outcome> outcome;
  std::optional<Analysis> analysis;
  std::string registered;  // what the answer's tools registered (JSON), "" if nothing
  if (!delivery.empty()) {
    Turn turn;
    turn.current = snap->known ? snap->assistant : stated;
    turn.message_id = msg->message_id;
    turn.text = msg->text;
    turn.kind = msg->kind;
    turn.first_message = snap->customer_message_count == 0;
    turn.customer_turn = snap->customer_message_count;
    turn.prior_negative_streak = snap->negative_streak;
    turn.customer_name = snap->first_name;
    turn.may_handoff = delivery == "send";
    turn.today = sao_paulo_day(msg->timestamp);
    // A debtor answering a campaign's message, where apresentacao would answer (a new or
    // reopened conversation): cobranca takes it.
    turn.campaign = turn.current == Assistant::apresentacao && snap->campaign;
    turn.phone_chat = phone.has_value();
    BuiltinTools tools(outages_.get(), {msg->message_id, snap->registrations, turn.today});
    outcome = orchestrator_->answer(turn, {snap->thread_summary, snap->recent}, tools);
    registered = tools.registrations_json();
    // Only when the answer going out used the failed lookup (a remote model's failed turn
    // may have tried it before the local assistant answered without it).
    const bool lookup_failed =
        std::any_of(outcome->tools.begin(), outcome->tools.end(),
                    [](const ToolInvocation& t) { return t.tool == Tool::lookup_outage && !t.ok; });
    if (const auto& down = tools.unavailable(); down && lookup_failed) {
      log.warn(
          "a tool's database is unavailable: the answer is dropped and the message retried",
          {f::id("conversation_id", msg->chat.conversation_id), f::str("error", down->message())});
      return *down;
    }
    analysis = outcome->plan.analysis;
    Metrics::get().answer_seconds.observe(static_cast<double>(outcome->latency_ms) / 1000.0);
  } else if (from_customer && !msg->text.empty()) {
    analysis = analyze(msg->text, {.prior_negative_streak = snap ? snap->negative_streak : 0});
  }

  // What the message changes in the read model.
  MessageRecord rec;
  rec.chat = msg->chat;
  rec.status = msg->route == "human" || msg->route == "hybrid" ? "transferred" : "active";
  rec.mode = msg->route == "human" ? "human" : msg->route == "hybrid" ? "hybrid" : "ai";
  // A suggestion to an agent does not move the conversation to another assistant.
  rec.set_assistant = outcome && delivery == "send";
  rec.assistant = rec.set_assistant ? outcome->plan.assistant : stated;
  rec.request_handoff = outcome && outcome->handoff && delivery == "send";
  rec.from_customer = from_customer;
  rec.from_ai = msg->author == "ai";
  if (analysis) {
    rec.negative = analysis->sentiment.label == Sentiment::negative;
    rec.sentiment = std::string(to_string(analysis->sentiment.label));
    rec.sentiment_score = analysis->sentiment.score;
    rec.urgency = std::string(to_string(analysis->urgency));
    rec.last_intent = std::string(to_string(analysis->intent));
  }
  // An answer was made from the snapshot: it holds only if the row did not change since.
  if (outcome) rec.expected_version = snap->known ? snap->version : -1;
  rec.message_id = msg->message_id;
  rec.direction = msg->direction;
  rec.author = msg->author;
  rec.kind = msg->kind;
  rec.message_assistant = msg->assistant;
  rec.content = ellipsize_whole_words(msg->text, 4000);
  rec.sent_at = msg->timestamp;
  rec.keep_recent = options_.recent_messages;

  const std::string reply_id = core::Uuid::v7().str();
  bool fresh = false;
  bool rotated = false;
  std::string thread_id;
  int message_count = 0;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    rotated = false;
    auto claimed = store_.claim(tx, ev.id);
    if (!claimed) return claimed.error();
    fresh = *claimed;
    if (!fresh) return core::ok();
    auto recorded = store_.record_message(tx, rec);
    if (!recorded) return recorded.error();
    message_count = recorded->message_count;
    if (!recorded->thread_id) {
      auto opened = store_.open_thread(tx, rec.chat.conversation_id, 1, "");
      if (!opened) return opened.error();
      thread_id = *opened;
    } else {
      thread_id = *recorded->thread_id;
      if (rotation_due(recorded->thread_count, options_.thread_rotation)) {
        auto closed = store_.close_thread(tx, rec.chat.conversation_id, "rotation", true);
        if (!closed) return closed.error();
        rotated = true;
      }
    }
    if (!outcome) return core::ok();

    const auto& o = *outcome;
    const auto& schema = options_.schema;
    const Assistant answering = o.plan.assistant;
    if (o.plan.changed() && delivery == "send") {
      if (auto s = publish(tx, schema, rec.chat, types::ai_assistant_changed,
                           assistant_changed_data(rec.chat, msg->message_id, o.plan.from, answering,
                                                  o.plan.change_reason));
          !s) {
        return s;
      }
    }
    if (delivery == "send") {
      for (const auto& t : o.tools) {
        if (auto s = publish(tx, schema, rec.chat, types::ai_tool_invoked,
                             tool_invoked_data(rec.chat, answering, t));
            !s) {
          return s;
        }
      }
      // Remembered, so that a follow-up ("e a minha reclamação?") is not registered again.
      if (!registered.empty()) {
        if (auto s = store_.add_registrations(tx, rec.chat.conversation_id, registered); !s) {
          return s;
        }
      }
    }
    if (auto s = publish(tx, schema, rec.chat, types::ai_analysis_completed,
                         analysis_completed_data(rec.chat, msg->message_id, o.plan.analysis));
        !s) {
      return s;
    }
    ReplyData reply;
    reply.reply_id = reply_id;
    reply.in_reply_to = msg->message_id;
    reply.assistant = answering;
    reply.text = o.text;
    reply.delivery = delivery;
    reply.model = o.model;
    reply.fallback = o.fallback;
    reply.thread_id = thread_id;
    reply.latency_ms = o.latency_ms;
    if (auto s = publish(tx, schema, rec.chat, types::ai_reply_generated,
                         reply_generated_data(rec.chat, reply));
        !s) {
      return s;
    }
    if (delivery == "send") {
      store_.remember_reply(tx, rec.chat.conversation_id, message_count, reply_id,
                            std::string(to_string(answering)), ellipsize_whole_words(o.text, 4000));
    }
    // After the reply, so conversation stores the transfer notice before it hands the
    // conversation to a human.
    if (o.handoff && delivery == "send") {
      return publish(tx, schema, rec.chat, types::ai_handoff_requested,
                     handoff_requested_data(rec.chat, msg->message_id, answering, *o.handoff));
    }
    return core::ok();
  });
  if (!st) return st;
  if (!fresh) {
    log.debug("event already handled", {f::id("event_id", ev.id)});
    return core::ok();
  }

  if (outcome) {
    const auto& o = *outcome;
    (o.model == kLocalModel ? Metrics::get().replies_local : Metrics::get().replies_remote).inc();
    // Once the answer is kept (a rerun after a version conflict answers again).
    if (!o.remote_error.empty()) {
      Metrics::get().fallbacks.inc();
      // While the breaker is open every message falls back: its opening was the warning.
      const auto level = o.circuit_open ? core::Level::debug : core::Level::warn;
      log.log(level, "remote model failed, the local assistant answered",
              {f::id("conversation_id", rec.chat.conversation_id),
               f::id("assistant", std::string(to_string(o.plan.assistant))),
               f::str("error", o.remote_error)});
    }
    if (o.plan.changed() && delivery == "send") {
      log.info("assistant changed", {f::id("conversation_id", rec.chat.conversation_id),
                                     f::id("from", std::string(to_string(o.plan.from))),
                                     f::id("to", std::string(to_string(o.plan.assistant)))});
    }
    if (o.handoff && delivery == "send") {
      Metrics::get().handoffs.inc();
      log.info("handoff requested",
               {f::id("conversation_id", rec.chat.conversation_id),
                f::id("department", o.handoff->department),
                // the model's words, which may repeat the customer's: masked like a body
                f::body("reason", o.handoff->reason)});
    }
    log.debug(
        "reply generated",
        {f::id("conversation_id", rec.chat.conversation_id), f::id("in_reply_to", msg->message_id),
         f::id("reply_id", reply_id), f::id("assistant", std::string(to_string(o.plan.assistant))),
         f::id("model", o.model), f::flag("fallback", o.fallback), f::id("delivery", delivery),
         f::num("tools", static_cast<std::int64_t>(o.tools.size())), f::body("text", o.text),
         f::num("latency_ms", o.latency_ms)});
  } else {
    log.debug("message recorded",
              {f::id("conversation_id", rec.chat.conversation_id),
               f::id("message_id", msg->message_id), f::id("direction", msg->direction),
               f::id("route", msg->route), f::num("message_count", message_count)});
  }
  if (rotated) {
    log.info("context thread rotated", {f::id("conversation_id", rec.chat.conversation_id),
                                        f::id("closed_thread_id", thread_id)});
  }
  return core::ok();
}

core::Status Handler::handle_contact(const kafka::Message& message) {
  if (message.value.empty()) {
    // A tombstone: the contact was erased (LGPD); forget the name too.
    if (!core::Uuid::parse(message.key)) {
      return bad_record("contacts.v1 tombstone with a key that is not a contact id");
    }
    return store_.erase_contact(*pool_, message.key);
  }
  auto ev = runtime::decode_event(message);
  if (!ev) return ev.error();
  if (ev->type != types::contact_upserted) {
    return bad_record("unexpected event type " + ev->type + " on contacts.v1");
  }
  auto doc = json::parse(ev->data);
  if (!doc) return bad_record(doc.error().message());
  auto data = json::Obj::root(*doc);
  if (!data) return bad_record("data is not an object");
  auto contact_id = data->nonempty_str("contact_id");
  if (!contact_id) return bad_record(contact_id.error().message());
  auto updated_at = data->nonempty_str("updated_at");
  if (!updated_at) return bad_record(updated_at.error().message());
  std::optional<std::string> name;
  for (const char* key : {"name", "push_name"}) {
    if (auto v = data->opt_str(key); v && *v) {
      name = first_name(**v);
      if (name) break;
    }
  }
  auto st = store_.upsert_contact(*pool_, std::string(*contact_id), name, std::string(*updated_at));
  if (!st) return st;
  core::log().debug("contact name recorded", {f::id("contact_id", std::string(*contact_id)),
                                              f::flag("has_name", name.has_value())});
  return core::ok();
}

}  // namespace lia::ai_orchestration
