#include "tap.hpp"

#include <thread>

#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/events/topic_catalog.hpp>
#include <lia/json/json.hpp>
#include <lia/testing/testing.hpp>

namespace lia::local {

const std::string* Seen::header(const std::string& name) const {
  for (const auto& h : headers) {
    if (h.key == name) return &h.value;
  }
  return nullptr;
}

std::string Seen::field(const std::string& name) const {
  auto doc = json::parse(data);
  if (!doc || !doc->IsObject()) return {};
  const auto& root = *doc;  // const iterators: C++20 finds no ambiguous reversed ==
  auto it = root.FindMember(name.c_str());
  if (it == root.MemberEnd()) return {};
  if (it->value.IsString()) return std::string(json::view(it->value));
  return json::to_string(it->value);
}

core::Result<std::unique_ptr<EventTap>> EventTap::start(const std::string& bootstrap,
                                                        bool from_latest,
                                                        std::chrono::milliseconds assign_timeout) {
  std::unique_ptr<EventTap> tap(new EventTap());
  kafka::ConsumerConfig cc;
  cc.bootstrap = bootstrap;
  cc.group_id = testing::unique_name("lia-tap");
  cc.client_id = "lia-tap";
  for (const auto& t : events::TopicCatalog::instance().topics()) cc.topics.push_back(t.name);
  cc.session_timeout = std::chrono::milliseconds{6000};
  cc.heartbeat_interval = std::chrono::milliseconds{500};
  cc.auto_offset_reset = from_latest ? "latest" : "earliest";
  EventTap* self = tap.get();
  auto consumer = kafka::Consumer::create(
      cc,
      [self](const kafka::Message& m) -> core::Status {
        Seen s;
        s.topic = m.topic;
        s.partition = m.partition;
        s.offset = m.offset;
        s.key = m.key;
        s.headers = m.headers;
        s.at = std::chrono::steady_clock::now();
        if (auto ev = events::decode(m.value)) {
          s.id = ev->id;
          s.type = ev->type;
          s.subject = ev->subject.value_or("");
          s.data = ev->data;
        }
        std::function<void(const Seen&)> each;
        {
          std::lock_guard lock(self->mu_);
          self->seen_.push_back(s);
          each = self->each_;
        }
        self->cv_.notify_all();
        if (each) each(s);
        return {};
      },
      nullptr);
  if (!consumer) return consumer.error();
  tap->consumer_ = std::move(consumer).value();
  tap->consumer_->start();
  if (!testing::wait_until([&] { return tap->consumer_->assigned(); }, assign_timeout)) {
    return core::Error(core::Errc::timeout, "the event tap got no partitions in time");
  }
  if (from_latest) {
    // "latest" is resolved when the first fetch of each partition starts; give it a moment
    // so nothing produced right after start() is missed.
    std::this_thread::sleep_for(std::chrono::milliseconds{1500});
  }
  return tap;
}

EventTap::~EventTap() {
  if (consumer_) consumer_->close();
}

std::vector<Seen> EventTap::snapshot() const {
  std::lock_guard lock(mu_);
  return seen_;
}

std::size_t EventTap::count(const std::function<bool(const Seen&)>& pred) const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& s : seen_) n += pred(s) ? 1 : 0;
  return n;
}

std::size_t EventTap::count_type(const std::string& type) const {
  return count(
      [&](const Seen& s) { return s.type == type && s.topic.find(".dlq") == std::string::npos; });
}

bool EventTap::wait(const std::function<bool(const std::vector<Seen>&)>& pred,
                    std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(seen_); });
}

void EventTap::on_event(std::function<void(const Seen&)> each) {
  std::lock_guard lock(mu_);
  each_ = std::move(each);
}

namespace {
std::string quote(const std::string& text, std::size_t max = 70) {
  std::string t = text.size() > max ? text.substr(0, max) + "…" : text;
  for (auto& c : t) {
    if (c == '\n') c = ' ';
  }
  return "\"" + t + "\"";
}
}  // namespace

std::string describe(const Seen& s) {
  const std::string& t = s.type;
  if (s.topic.size() > 4 && s.topic.compare(s.topic.size() - 4, 4, ".dlq") == 0) {
    const auto* err = s.header("lia.dlq.error");
    return fmt::format("dead letter    {} ({})", s.topic, err ? *err : "no reason");
  }
  if (t == "lia.whatsapp.message.received") {
    return fmt::format("webhook in     {} {} from {}: {}", s.field("provider"), s.field("kind"),
                       core::mask_phone(s.field("from")), quote(s.field("text")));
  }
  if (t == "lia.whatsapp.message.status") {
    return fmt::format("tick           {} {}", s.field("status"),
                       s.field("message_id").substr(0, 24));
  }
  if (t == "lia.conversation.created")
    return fmt::format("conversation   created, assistant {}", s.field("assistant"));
  if (t == "lia.conversation.message.stored") {
    return fmt::format("stored         {} {} (route {})", s.field("direction"), s.field("author"),
                       s.field("route"));
  }
  if (t == "lia.ai.assistant.changed") {
    return fmt::format("route          {} → {}", s.field("from_assistant"),
                       s.field("to_assistant"));
  }
  if (t == "lia.ai.analysis.completed") {
    return fmt::format("analysis       sentiment {} urgency {}", s.field("sentiment"),
                       s.field("urgency"));
  }
  if (t == "lia.ai.reply.generated") {
    return fmt::format("reply          {}: {}{}", s.field("assistant"), quote(s.field("text")),
                       s.field("fallback") == "true" ? " (fallback)" : "");
  }
  if (t == "lia.ai.handoff.requested")
    return fmt::format("handoff        asked: {}", s.field("reason"));
  if (t == "lia.ai.tool.invoked") return fmt::format("tool           {}", s.field("tool"));
  if (t == "lia.conversation.transferred")
    return fmt::format("transferred    to {} ({})", s.field("department"), s.field("reason"));
  if (t == "lia.conversation.assigned")
    return fmt::format("assigned       agent {}", s.field("agent_user_id").substr(0, 8));
  if (t == "lia.conversation.unassigned")
    return fmt::format("unassigned     waits in {}", s.field("department"));
  if (t == "lia.notification.send_text")
    return fmt::format("send           {}", quote(s.field("text")));
  if (t == "lia.notification.send_template") return "send           (template)";
  if (t == "lia.notification.message.sent") {
    return fmt::format("reply out      sent as {} (attempt {})",
                       s.field("provider_message_id").substr(0, 24), s.field("attempts"));
  }
  if (t == "lia.notification.message.failed")
    return fmt::format("send failed    {}", s.field("reason"));
  if (t == "lia.notification.message.dead_lettered")
    return fmt::format("send dead      {}", s.field("reason"));
  if (t == "lia.notification.message.undelivered")
    return fmt::format("undelivered    {}", s.field("reason"));
  if (t == "lia.conversation.resolved")
    return fmt::format("resolved       by {}", s.field("resolved_by"));
  if (t == "lia.conversation.reopened")
    return fmt::format("reopened       ({})", s.field("reason"));
  if (t == "lia.engagement.survey.sent") return "survey         sent";
  if (t == "lia.engagement.score.recorded") {
    return fmt::format("score          {} ({})", s.field("score"), s.field("category"));
  }
  if (t == "lia.contact.upserted")
    return fmt::format("contact        {}", core::mask_phone(s.field("phone")));
  if (t == "lia.user.upserted")
    return fmt::format("user           {} {}", s.field("name"), s.field("role"));
  if (t == "lia.collections.message.requested") return "collections    message requested";
  return fmt::format("{:<14} {}", t, s.topic);
}

}  // namespace lia::local
