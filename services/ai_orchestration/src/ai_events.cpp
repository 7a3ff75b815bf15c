#include "ai_events.hpp"

#include <lia/json/writer.hpp>

namespace lia::ai_orchestration {
namespace {

json::Writer& chat_fields(json::Writer& w, const ChatRef& c) {
  return w.field("conversation_id", c.conversation_id)
      .field("provider", c.provider)
      .field("instance", c.instance)
      .field("chat_id", c.chat_id);
}

// Text for a schema string of at most `max` characters (bytes are a safe bound).
std::string bounded(std::string_view text, std::size_t max) {
  return ellipsize_utf8(text, max);
}

}  // namespace

std::string reply_generated_data(const ChatRef& chat, const ReplyData& r) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat)
      .field("reply_id", r.reply_id)
      .field("in_reply_to", r.in_reply_to)
      .field("assistant", to_string(r.assistant))
      .field("text", bounded(r.text.empty() ? std::string("…") : r.text, 4096))
      .field("delivery", r.delivery)
      .field("model", bounded(r.model.empty() ? std::string(kLocalModel) : r.model, 128))
      .field("fallback", r.fallback)
      .field("thread_id", r.thread_id)
      .field("latency_ms", r.latency_ms)
      .end_object();
  return w.take();
}

std::string analysis_completed_data(const ChatRef& chat, std::string_view message_id,
                                    const Analysis& a) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat)
      .field("message_id", message_id)
      .field("sentiment", to_string(a.sentiment.label))
      .field("sentiment_score", a.sentiment.score)
      .field("urgency", event_urgency(a.urgency))
      .field("intent", to_string(a.intent));
  if (!a.topics.empty()) {
    w.key("topics").begin_array();
    for (std::size_t i = 0; i < a.topics.size() && i < 32; ++i) w.value(a.topics[i]);
    w.end_array();
  }
  w.end_object();
  return w.take();
}

std::string assistant_changed_data(const ChatRef& chat, std::string_view in_reply_to,
                                   Assistant from, Assistant to, std::string_view reason) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat)
      .field("in_reply_to", in_reply_to)
      .field("from_assistant", to_string(from))
      .field("to_assistant", to_string(to))
      .field("reason", bounded(reason, 2048))
      .end_object();
  return w.take();
}

std::string handoff_requested_data(const ChatRef& chat, std::string_view in_reply_to,
                                   Assistant assistant, const HandoffPlan& h) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat)
      .field("in_reply_to", in_reply_to)
      .field("assistant", to_string(assistant))
      .field("reason", bounded(h.reason.empty() ? std::string("transferência") : h.reason, 2048))
      .field("department",
             bounded(h.department.empty() ? std::string("general") : h.department, 128))
      .field("urgency", event_urgency(h.urgency))
      .field("summary", bounded(h.summary, 8192))
      .end_object();
  return w.take();
}

std::string tool_invoked_data(const ChatRef& chat, Assistant assistant, const ToolInvocation& t) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat).field("assistant", to_string(assistant)).field("tool", to_string(t.tool));
  if (!t.call_id.empty()) w.field("call_id", bounded(t.call_id, 128));
  w.raw_field("arguments", t.arguments_json.empty() ? std::string_view("{}") : t.arguments_json)
      .field("ok", t.ok);
  if (t.ok) {
    if (!t.result_json.empty()) w.raw_field("result", t.result_json);
  } else {
    w.field("error", bounded(t.error.empty() ? std::string("failed") : t.error, 2048));
  }
  w.end_object();
  return w.take();
}

}  // namespace lia::ai_orchestration
