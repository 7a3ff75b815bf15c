#include <algorithm>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/events/topic_catalog.hpp>
#include <lia/json/json.hpp>
#include <lia/testing/testing.hpp>

namespace events = lia::events;
using lia::core::Errc;

namespace {

const events::TopicCatalog& catalog() {
  return events::TopicCatalog::instance();
}

std::string embedded_catalog() {
  return std::string(*events::embedded_file("catalog.json"));
}

// The embedded catalog with one change applied to the DOM.
template <class F>
std::string edited(F&& edit) {
  auto doc = lia::json::parse(embedded_catalog()).value();
  edit(doc);
  return lia::json::to_string(doc);
}

std::string parse_error(const std::string& text) {
  auto c = events::TopicCatalog::parse(text);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code() == Errc::invalid_argument);
  return c.error().message();
}

}  // namespace

TEST_CASE("the embedded catalog parses") {
  auto c = events::TopicCatalog::parse(embedded_catalog());
  REQUIRE(c.ok());
  CHECK(c->topics().size() == catalog().topics().size());
  CHECK(catalog().replication_factor() == 3);
  CHECK(catalog().min_insync_replicas() == 2);
}

TEST_CASE("every topic has partitions, a dlq, and schemas for its event types") {
  const auto& reg = events::SchemaRegistry::instance();
  int regular = 0, dlqs = 0;
  for (const auto& t : catalog().topics()) {
    INFO(t.name);
    CHECK(t.partitions > 0);
    CHECK(catalog().keys().contains(t.key));
    if (t.cleanup == events::Cleanup::remove) {
      CHECK(t.retention_ms > 0);
    } else {
      CHECK(t.retention_ms == -1);
    }
    for (const auto& type : t.event_types) {
      INFO(type);
      CHECK(reg.latest_version(type).has_value());
    }
    if (t.is_dlq()) {
      ++dlqs;
      CHECK(t.name == t.dead_letter_of + ".dlq");
      const auto* origin = catalog().find(t.dead_letter_of);
      REQUIRE(origin != nullptr);
      CHECK(t.event_types == origin->event_types);
      CHECK(t.key == origin->key);
      // Its producers are consumers of the origin (whose failures it takes; ingestion's audit
      // consumer dead-letters nothing), its one reader the replay tool.
      for (const auto& p : t.producers) {
        INFO(p);
        CHECK(std::find(origin->consumers.begin(), origin->consumers.end(), p) !=
              origin->consumers.end());
      }
      CHECK(t.consumers == std::vector<std::string>{"replay"});
    } else {
      ++regular;
      // Every event stream has a producer; a consumer it may lack (users.v1 is for analysts).
      CHECK_FALSE(t.producers.empty());
      CHECK(t.dlq == t.name + ".dlq");
      const auto* dlq = catalog().find(t.dlq);
      REQUIRE(dlq != nullptr);
      CHECK(dlq->dead_letter_of == t.name);
    }
  }
  CHECK(regular == 10);
  CHECK(dlqs == regular);
}

TEST_CASE("every schema is carried by some topic") {
  for (const auto& s : events::SchemaRegistry::instance().schemas()) {
    INFO(s.type);
    CHECK(catalog().topic_for_type(s.type) != nullptr);
  }
}

TEST_CASE("topic constants and the architecture's topics are in the catalog") {
  namespace tp = events::topics;
  for (std::string_view name :
       {tp::whatsapp_inbound, tp::whatsapp_status, tp::conversation_events, tp::ai_events,
        tp::notification_commands, tp::notification_events, tp::contacts, tp::users,
        tp::engagement_events, tp::collections_events}) {
    INFO(name);
    CHECK(catalog().find(name) != nullptr);
  }
  const auto* inbound = catalog().find(tp::whatsapp_inbound);
  REQUIRE(inbound != nullptr);
  CHECK(inbound->key == "chat");
  CHECK(inbound->producers == std::vector<std::string>{"ingestion"});
  // ingestion's audit consumer (optional, LIA_INGESTION_AUDIT_CONSUMER) reads what it wrote;
  // notification reads Evolution's echoes of its sends.
  CHECK(inbound->consumers ==
        std::vector<std::string>{"conversation", "ingestion", "notification"});
  CHECK(inbound->cleanup == events::Cleanup::remove);

  for (std::string_view compacted : {tp::contacts, tp::users}) {
    const auto* t = catalog().find(compacted);
    REQUIRE(t != nullptr);
    CHECK(t->cleanup == events::Cleanup::compact);
  }
  CHECK(catalog().find(tp::contacts)->key == "contact_id");
  CHECK(catalog().find(tp::users)->key == "user_id");
  CHECK(catalog().find("nope.v1") == nullptr);
}

TEST_CASE("lookups by event type and service") {
  const auto* t = catalog().topic_for_type(events::types::notification_send_text);
  REQUIRE(t != nullptr);
  CHECK(t->name == events::topics::notification_commands);
  CHECK(catalog().topic_for_type("lia.nope") == nullptr);

  std::set<std::string> produced;
  for (const auto* p : catalog().produced_by("ingestion")) produced.insert(p->name);
  CHECK(produced == std::set<std::string>{"whatsapp.inbound.v1", "whatsapp.status.v1"});
  std::set<std::string> audited;
  for (const auto* c : catalog().consumed_by("ingestion")) audited.insert(c->name);
  CHECK(audited == produced);

  std::set<std::string> consumed;
  for (const auto* c : catalog().consumed_by("notification")) consumed.insert(c->name);
  CHECK(consumed == std::set<std::string>{"notification.commands.v1", "whatsapp.status.v1",
                                          "whatsapp.inbound.v1", "users.v1"});
}

TEST_CASE("chat_key") {
  CHECK(events::chat_key("106540352242922", "5511987654321") == "106540352242922:5511987654321");
}

TEST_CASE("parse rejects broken catalogs, naming the field") {
  CHECK(parse_error("{").find("topic catalog: invalid JSON at offset 1") == 0);
  CHECK(parse_error(edited([](auto& d) { d["topics"][0]["partitions"].SetInt(0); })) ==
        "topic catalog: field 'topics[0].partitions' must be between 1 and 10000, got 0");
  CHECK(parse_error(edited([](auto& d) { d["topics"][2]["partitions"].SetString("12"); })) ==
        "topic catalog: field 'topics[2].partitions' must be an integer");
  CHECK(parse_error(edited([](auto& d) { d["topics"][1].RemoveMember("retention_ms"); })) ==
        "topic catalog: field 'topics[1].retention_ms' must be a positive number of "
        "milliseconds for cleanup 'delete'");
  CHECK(parse_error(edited([](auto& d) { d["topics"][0]["cleanup"].SetString("archive"); })) ==
        "topic catalog: field 'topics[0].cleanup' must be 'delete' or 'compact', got 'archive'");
  CHECK(parse_error(edited([](auto& d) { d["topics"][0]["event_types"][0].SetInt(1); })) ==
        "topic catalog: field 'topics[0].event_types[0]' must be a string");
  CHECK(parse_error(edited([](auto& d) { d["topics"][0]["key"].SetString("phone"); })) ==
        "topic catalog: topic 'whatsapp.inbound.v1': key 'phone' is not described in 'keys'");
  CHECK(parse_error(edited([](auto& d) { d["topics"][0]["dlq"].SetString("nope.dlq"); })) ==
        "topic catalog: topic 'whatsapp.inbound.v1': its dlq 'nope.dlq' is not a topic with "
        "dead_letter_of 'whatsapp.inbound.v1'");
  CHECK(parse_error(edited([](auto& d) {
          d["topics"][0].RemoveMember("dlq");
        })).find("must have exactly one of 'dlq'") != std::string::npos);
  CHECK(parse_error(edited([](auto& d) {
          d["topics"][1]["name"].SetString("whatsapp.inbound.v1");
        })) == "topic catalog: topic 'whatsapp.inbound.v1' is listed twice");
}

TEST_CASE("lia-catalog prints the catalog as TSV") {
  lia::testing::Process p({lia::testing::binary("lia-catalog")});
  auto code = p.wait();
  REQUIRE(code == std::optional<int>(0));
  const std::string out = p.output();
  std::string expected;
  for (const auto& t : catalog().topics()) {
    expected += t.name + "\t" + std::to_string(t.partitions) + "\t" +
                std::string(events::to_string(t.cleanup)) + "\t" + std::to_string(t.retention_ms) +
                "\n";
  }
  CHECK(out == expected);
  CHECK(out.find("whatsapp.inbound.v1\t12\tdelete\t604800000\n") != std::string::npos);
  CHECK(out.find("contacts.v1\t6\tcompact\t-1\n") != std::string::npos);
  CHECK(out.find("whatsapp.inbound.v1.dlq\t3\tdelete\t1209600000\n") != std::string::npos);
}
