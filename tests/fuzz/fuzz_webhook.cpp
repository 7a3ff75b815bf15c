// Webhook bodies of both providers, as anyone on the internet may post them (the signature is
// checked first in production, but a provider's own bugs reach the normalizer too).
// Input: one byte choosing the provider (and, for Evolution, the {event} of the path), then
// the body.
// Properties:
//   - a body is either refused whole with invalid_argument, or split into items and
//     rejections: never a crash, never another error;
//   - every item is an event that matches its JSON Schema, with a key and a type;
//   - the same body normalized again gives the same events, ids included (a redelivered
//     webhook must be recognized downstream);
//   - an Evolution body's apikey read without a document is the one its parse keeps.

#include <array>
#include <string>

#include <lia/core/clock.hpp>
#include <lia/json/json.hpp>

#include "events_check.hpp"
#include "src/normalize.hpp"

namespace {

using lia::fuzz::require;
namespace ing = lia::ingestion;

constexpr std::array<std::string_view, 7> kPathEvents = {"",
                                                         "messages-upsert",
                                                         "messages-update",
                                                         "send-message",
                                                         "connection-update",
                                                         "contacts-update",
                                                         "MESSAGES_UPSERT"};

lia::core::Result<ing::Batch> normalize(unsigned char pick, std::string_view body) {
  static const lia::core::ManualClock clock;
  if (pick % 2 == 0) return ing::normalize_meta(body, clock);
  // Half of them with instance numbers configured (LIA_EVOLUTION_INSTANCE_NUMBERS), as an
  // instance over the Cloud API needs: its webhooks have no `sender`.
  static const ing::InstanceNumbers numbers = {{"lia-vendas", "551140028922"}};
  static const ing::InstanceNumbers none;
  return ing::normalize_evolution(body, kPathEvents[(pick / 2) % kPathEvents.size()], clock,
                                  (pick / 2 / kPathEvents.size()) % 2 == 0 ? numbers : none);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = lia::fuzz::split_choice(data, size);
  if (!in) return 0;
  const auto [pick, input] = *in;

  if (pick % 2 == 1) {
    const auto key = ing::evolution_body_apikey(input);
    if (auto doc = lia::json::parse(input); doc) {
      std::optional<std::string> parsed;
      const lia::json::Document& root = *doc;
      if (root.IsObject() && root.HasMember("apikey") && root["apikey"].IsString()) {
        parsed = std::string(lia::json::view(root["apikey"]));
      }
      require(key == parsed, "the body's apikey read without a document is the parsed one");
    }
  }
  auto batch = normalize(pick, input);
  if (!batch) {
    require(batch.error().code() == lia::core::Errc::invalid_argument,
            "a refused body is invalid_argument", batch.error().describe());
    require(!batch.error().message().empty(), "a refused body says why");
    return 0;
  }
  for (const auto& item : batch->items) {
    require(!item.type.empty() && !item.key.empty(), "every item has a type and a key", item.type);
    lia::fuzz::require_valid_event(item.type, item.data, "every item matches its schema");
  }
  for (const auto& r : batch->rejected) {
    require(!r.reason.empty(), "every rejection says why");
  }

  auto again = normalize(pick, input);
  require(again.ok() && again->items.size() == batch->items.size() &&
              again->rejected.size() == batch->rejected.size(),
          "normalizing is deterministic");
  for (std::size_t i = 0; i < batch->items.size(); ++i) {
    const auto& a = batch->items[i];
    const auto& b = again->items[i];
    require(a.key == b.key && a.type == b.type, "normalizing is deterministic", a.type);
    if (!a.event_id.empty()) {
      require(a.event_id == b.event_id, "a redelivered webhook gives the same event ids",
              a.event_id);
      require(a.data == b.data, "a redelivered webhook gives the same data", a.type);
    }
  }
  return 0;
}
