#pragma once
// The envelope of every Kafka record value: CloudEvents 1.0 in structured JSON mode.
//
//   auto ev = events::make_event(events::types::conversation_resolved, 1,
//                                events::source_for("conversation"), conversation_id,
//                                data_json, clock);
//   std::string value = events::encode(ev);
//   ...
//   auto back = events::decode(value);  // Result<CloudEvent>
//
// `data` holds the data object as raw JSON text; its schema is named by `dataschema`
// ("lia://schemas/<type>/v<N>") and checked by SchemaRegistry::validate().

#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>

namespace lia::events {

struct CloudEvent {
  std::string id;      // UUIDv7 for events minted by LIA
  std::string source;  // producer, e.g. "/lia/conversation"
  std::string type;    // e.g. "lia.whatsapp.message.received"
  std::string specversion = "1.0";
  std::string time;                    // RFC 3339, e.g. "2026-11-22T12:53:24.123Z"
  std::optional<std::string> subject;  // what the event is about (conversation id, ...)
  std::string datacontenttype = "application/json";
  std::string dataschema;   // "lia://schemas/<type>/v<N>"
  std::string data = "{}";  // the data object, as JSON text

  friend bool operator==(const CloudEvent&, const CloudEvent&) = default;
};

// "lia://schemas/<type>/v<version>"
std::string schema_uri(std::string_view type, int version);

struct SchemaRef {
  std::string type;
  int version = 0;
  friend bool operator==(const SchemaRef&, const SchemaRef&) = default;
};
// Inverse of schema_uri(); nullopt unless `uri` has exactly that form (version >= 1).
std::optional<SchemaRef> parse_schema_uri(std::string_view uri);

// "/lia/<service>": the CloudEvents source of a LIA service.
std::string source_for(std::string_view service);

// A new event with a UUIDv7 id and the clock's time. An empty subject is left out;
// an empty data_json becomes "{}". The data is not validated here (see SchemaRegistry).
CloudEvent make_event(std::string_view type, int version, std::string_view source,
                      std::string_view subject, std::string data_json,
                      const core::Clock& clock = core::SystemClock::instance());

// Structured-mode JSON text. `data` is inserted as is: it must be JSON text.
std::string encode(const CloudEvent& event);

// Parses a structured-mode event. Required: specversion "1.0", non-empty id, source and
// type, time (RFC 3339), dataschema, and data as a JSON object; datacontenttype, when
// present, must be application/json. Unknown (extension) attributes are ignored. Errors
// are Errc::invalid_argument and name the attribute: "invalid CloudEvent: field 'type' is
// missing". `data` comes back as compact JSON text.
core::Result<CloudEvent> decode(std::string_view json);

// True if `text` is an RFC 3339 date-time ("2026-11-22T12:53:24Z", ".123", "+hh:mm"
// offsets, 'T'/'Z' in either case).
bool is_rfc3339(std::string_view text);

}  // namespace lia::events
