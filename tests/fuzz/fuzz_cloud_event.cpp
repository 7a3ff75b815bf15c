// Kafka record values as a consumer receives them: anything a producer (ours, an older
// version of ours, or a tool someone pointed at the topic) may have written.
// Properties:
//   - decode() either gives an event or refuses with invalid_argument;
//   - a decoded event encodes and decodes back to the same event (no attribute is lost or
//     changed on the way through a relay);
//   - checking it against its schema gives an answer, never a crash.

#include <lia/events/cloud_event.hpp>
#include <lia/events/schema_registry.hpp>

#include "fuzz.hpp"

using lia::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto event = lia::events::decode(lia::fuzz::as_text(data, size));
  if (!event) {
    require(event.error().code() == lia::core::Errc::invalid_argument,
            "a refused record is invalid_argument", event.error().describe());
    return 0;
  }
  require(!event->id.empty() && !event->type.empty() && !event->source.empty(),
          "a decoded event has its required attributes");
  const std::string text = lia::events::encode(*event);
  auto back = lia::events::decode(text);
  require(back.ok(), "an encoded event decodes", back.ok() ? text : back.error().message());
  require(*back == *event, "encode then decode gives the same event", text);
  auto checked = lia::events::SchemaRegistry::instance().validate(*event);
  if (!checked) {
    require(checked.error().code() == lia::core::Errc::invalid_argument,
            "a schema check fails with invalid_argument", checked.error().describe());
  }
  return 0;
}
