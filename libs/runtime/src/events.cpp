#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/runtime/events.hpp>

namespace lia::runtime {
namespace {

core::Result<events::CloudEvent> build(const std::string& service, Outgoing& out,
                                       const core::Clock& clock) {
  auto ev = events::make_event(out.type, out.version, events::source_for(service), out.subject,
                               std::move(out.data), clock);
  if (!out.id.empty()) ev.id = out.id;
  if (auto st = events::SchemaRegistry::instance().validate(ev); !st.ok()) {
    return core::Error(core::Errc::internal,
                       "event " + out.type + " does not match its schema: " + st.error().message(),
                       false);
  }
  return ev;
}

}  // namespace

core::Result<events::CloudEvent> publish(pg::Tx& tx, const std::string& schema,
                                         const std::string& service, Outgoing out,
                                         const core::Clock& clock) {
  auto ev = build(service, out, clock);
  if (!ev) return ev.error();
  pg::OutboxMessage msg{
      ev->id, out.topic, out.key, events::encode(*ev), {{"lia.event_type", ev->type}}};
  for (auto& h : out.headers) msg.headers.push_back(std::move(h));
  pg::enqueue_at_commit(tx, schema, std::move(msg));  // one INSERT for all, at commit
  return ev;
}

core::Result<kafka::Record> make_record(const std::string& service, Outgoing out,
                                        const core::Clock& clock) {
  auto ev = build(service, out, clock);
  if (!ev) return ev.error();
  kafka::Record r;
  r.topic = std::move(out.topic);
  r.key = std::move(out.key);
  r.value = events::encode(*ev);
  r.headers = {{"lia.event_id", ev->id}, {"lia.event_type", ev->type}};
  for (auto& h : out.headers) r.headers.push_back({std::move(h.first), std::move(h.second)});
  return r;
}

core::Result<events::CloudEvent> decode_event(const kafka::Message& message) {
  auto ev = events::decode(message.value);
  if (!ev) return core::Error(core::Errc::invalid_argument, ev.error().message(), false);
  // Read tolerantly: a newer producer's optional property is not a reason to refuse it.
  if (auto st = events::SchemaRegistry::instance().validate(
          *ev, events::SchemaRegistry::Reading::tolerant);
      !st.ok()) {
    return core::Error(core::Errc::invalid_argument,
                       "event " + ev->type + " " + ev->id + ": " + st.error().message(), false);
  }
  return ev;
}

std::optional<bool> command_of(const kafka::Message& message, std::string_view service) {
  const std::string* source = message.header(events::headers::command_source);
  if (source == nullptr) return std::nullopt;
  return *source == events::source_for(service);
}

}  // namespace lia::runtime
