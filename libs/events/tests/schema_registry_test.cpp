#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/core/clock.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>

namespace events = lia::events;
namespace fs = std::filesystem;
using lia::core::Errc;

namespace {

const events::SchemaRegistry& registry() {
  return events::SchemaRegistry::instance();
}

fs::path schemas_dir() {
  return fs::path(LIA_PROTO_SCHEMAS_DIR);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The example of a type, as a DOM the tests can break.
lia::json::Document example(std::string_view type) {
  auto doc =
      lia::json::parse(read_file(schemas_dir() / "examples" / (std::string(type) + ".v1.json")));
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

std::string message_of(const lia::core::Status& st) {
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code() == Errc::invalid_argument);
  return st.error().message();
}

}  // namespace

TEST_CASE("every embedded schema loads, compiles and keeps the house rules") {
  for (const auto& p : registry().problems()) UNSCOPED_INFO(p);
  CHECK(registry().problems().empty());
  CHECK(registry().schemas().size() >= 24);
}

TEST_CASE("the embedded schemas are exactly the files of proto-schemas/events") {
  std::set<std::string> on_disk;
  for (const auto& e : fs::recursive_directory_iterator(schemas_dir() / "events")) {
    if (e.is_regular_file()) {
      on_disk.insert(fs::relative(e.path(), schemas_dir()).generic_string());
      const std::string rel = fs::relative(e.path(), schemas_dir()).generic_string();
      auto embedded = events::embedded_file(rel);
      INFO(rel);
      REQUIRE(embedded.has_value());
      CHECK(*embedded == read_file(e.path()));  // a stale build would differ
    }
  }
  std::set<std::string> embedded;
  for (const auto& f : events::embedded_files()) {
    if (f.path.starts_with("events/")) embedded.insert(std::string(f.path));
  }
  CHECK(embedded == on_disk);
  REQUIRE(events::embedded_file("catalog.json").has_value());
  CHECK(*events::embedded_file("catalog.json") == read_file(schemas_dir() / "catalog.json"));
}

TEST_CASE("every schema has an example that validates, and every example has a schema") {
  std::set<std::string> examples;
  for (const auto& e : fs::directory_iterator(schemas_dir() / "examples")) {
    const std::string name = e.path().filename().string();  // <type>.v<N>.json
    INFO(name);
    REQUIRE(name.ends_with(".json"));
    const std::string stem = name.substr(0, name.size() - 5);
    const auto dot_v = stem.rfind(".v");
    REQUIRE(dot_v != std::string::npos);
    const std::string type = stem.substr(0, dot_v);
    const int version = std::stoi(stem.substr(dot_v + 2));
    examples.insert(type + "/v" + std::to_string(version));
    REQUIRE(registry().contains(type, version));
    auto st = registry().validate(type, version, read_file(e.path()));
    INFO((st.ok() ? std::string() : st.error().message()));
    CHECK(st.ok());
  }
  for (const auto& s : registry().schemas()) {
    INFO(s.type << " v" << s.version);
    CHECK(examples.contains(s.type + "/v" + std::to_string(s.version)));
  }
}

TEST_CASE("validate reports a missing required field by its pointer") {
  auto doc = example(events::types::whatsapp_message_received);
  doc.RemoveMember("chat_id");
  CHECK(message_of(registry().validate(events::types::whatsapp_message_received, 1,
                                       lia::json::to_string(doc))) ==
        "lia.whatsapp.message.received/v1: field '/chat_id' is missing (keyword 'required')");
}

TEST_CASE("validate reports a nested missing field") {
  auto doc = example(events::types::whatsapp_message_received);
  auto& a = doc.GetAllocator();
  doc["kind"].SetString("image");
  lia::json::Value media(rapidjson::kObjectType);
  media.AddMember("caption", "foto", a);
  doc.AddMember("media", media, a);
  CHECK(message_of(registry().validate(events::types::whatsapp_message_received, 1,
                                       lia::json::to_string(doc))) ==
        "lia.whatsapp.message.received/v1: field '/media/mime_type' is missing (keyword "
        "'required')");
}

TEST_CASE("validate reports a wrong enum value with the allowed values") {
  auto doc = example(events::types::whatsapp_message_status);
  doc["status"].SetString("DELIVERED");
  const std::string msg = message_of(
      registry().validate(events::types::whatsapp_message_status, 1, lia::json::to_string(doc)));
  CHECK(msg.find("field '/status' must be one of PENDING, SERVER_ACK, DELIVERY_ACK, READ, ERROR") !=
        std::string::npos);
  CHECK(msg.find("keyword 'enum'") != std::string::npos);
}

TEST_CASE("validate reports wrong types, patterns and ranges") {
  auto doc = example(events::types::engagement_score_recorded);
  doc["score"].SetInt(11);
  std::string msg = message_of(
      registry().validate(events::types::engagement_score_recorded, 1, lia::json::to_string(doc)));
  CHECK(msg.find("field '/score'") != std::string::npos);
  CHECK(msg.find("keyword 'maximum'") != std::string::npos);

  doc = example(events::types::engagement_score_recorded);
  doc["score"].SetString("9");
  msg = message_of(
      registry().validate(events::types::engagement_score_recorded, 1, lia::json::to_string(doc)));
  CHECK(msg.find("field '/score' must be of type integer (keyword 'type'") != std::string::npos);

  doc = example(events::types::engagement_score_recorded);
  doc["conversation_id"].SetString("not-a-uuid");
  msg = message_of(
      registry().validate(events::types::engagement_score_recorded, 1, lia::json::to_string(doc)));
  CHECK(msg.find("field '/conversation_id' does not match pattern") != std::string::npos);
  CHECK(msg.find("keyword 'pattern'") != std::string::npos);
}

TEST_CASE("validate rejects unknown fields (closed objects)") {
  auto doc = example(events::types::user_upserted);
  doc.AddMember("password_hash", "x", doc.GetAllocator());
  CHECK(
      message_of(registry().validate(events::types::user_upserted, 1, lia::json::to_string(doc))) ==
      "lia.user.upserted/v1: field '/password_hash' is not allowed (keyword "
      "'additionalProperties')");
}

TEST_CASE("a consumer reads unknown properties tolerantly, and the rest as strictly") {
  using Reading = lia::events::SchemaRegistry::Reading;
  const auto type = events::types::whatsapp_message_received;
  auto doc = example(type);
  auto& a = doc.GetAllocator();
  // A newer producer's optional properties, at the top and inside a closed definition.
  doc.AddMember("forwarded_count", 2, a);
  lia::json::Value media(rapidjson::kObjectType);
  media.AddMember("mime_type", "image/jpeg", a);
  media.AddMember("id", "1234", a);
  media.AddMember("thumbnail_width", 64, a);
  doc["kind"].SetString("image");
  doc.RemoveMember("text");
  doc.AddMember("media", media, a);
  const std::string data = lia::json::to_string(doc);
  CHECK(message_of(registry().validate(type, 1, data)).find("is not allowed") != std::string::npos);
  CHECK(registry().validate(type, 1, data, Reading::tolerant).ok());

  // What the schema does say still holds: a missing required field, a wrong value, the
  // per-kind rule.
  lia::json::Document no_chat;
  no_chat.CopyFrom(doc, no_chat.GetAllocator());
  no_chat.RemoveMember("chat_id");
  CHECK(message_of(registry().validate(type, 1, lia::json::to_string(no_chat), Reading::tolerant))
            .find("'/chat_id' is missing") != std::string::npos);
  lia::json::Document bad_kind;
  bad_kind.CopyFrom(doc, bad_kind.GetAllocator());
  bad_kind["kind"].SetString("hologram");
  CHECK_FALSE(registry().validate(type, 1, lia::json::to_string(bad_kind), Reading::tolerant).ok());
  lia::json::Document no_media;
  no_media.CopyFrom(doc, no_media.GetAllocator());
  no_media.RemoveMember("media");
  CHECK(message_of(registry().validate(type, 1, lia::json::to_string(no_media), Reading::tolerant))
            .find("A media message carries") != std::string::npos);
}

TEST_CASE("tolerant reading opens properties and definitions, not what a combinator tells apart") {
  using Reading = lia::events::SchemaRegistry::Reading;
  // `v` is one of two closed shapes: {a} or {b}. Opened, {a} would match both, and oneOf
  // would refuse it.
  const std::string text =
      R"({"$schema":"http://json-schema.org/draft-04/schema#","id":"lia://schemas/t.x/v1",)"
      R"("type":"object","additionalProperties":false,"properties":{)"
      R"("inner":{"type":"object","additionalProperties":false,"properties":{"x":{"type":"string"}}},)"
      R"("v":{"type":"object"}},)"
      R"("oneOf":[)"
      R"({"properties":{"v":{"type":"object","additionalProperties":false,)"
      R"("properties":{"a":{"type":"string"}}}}},)"
      R"({"properties":{"v":{"type":"object","additionalProperties":false,)"
      R"("properties":{"b":{"type":"string"}}}}}]})";
  const events::EmbeddedFile files[] = {{"events/t.x/v1.json", text}};
  auto r = events::SchemaRegistry::from_files(files);
  REQUIRE(r->problems().empty());
  const std::string newer = R"({"v":{"a":"1"},"inner":{"x":"y","more":2},"extra":1})";
  CHECK_FALSE(r->validate("t.x", 1, newer).ok());
  CHECK(r->validate("t.x", 1, newer, Reading::tolerant).ok());
  // Still one of the two: both keys, or neither shape.
  CHECK_FALSE(r->validate("t.x", 1, R"({"v":{"a":"1","b":"2"}})", Reading::tolerant).ok());
}

TEST_CASE("validate enforces per-kind fields") {
  auto doc = example(events::types::whatsapp_message_received);
  doc.RemoveMember("text");  // kind is text
  const std::string msg = message_of(
      registry().validate(events::types::whatsapp_message_received, 1, lia::json::to_string(doc)));
  INFO(msg);
  CHECK(msg.find("A text message carries 'text'.") != std::string::npos);

  auto status = example(events::types::whatsapp_message_status);
  status["status"].SetString("ERROR");
  const std::string smsg = message_of(
      registry().validate(events::types::whatsapp_message_status, 1, lia::json::to_string(status)));
  INFO(smsg);
  CHECK(smsg.find("Status ERROR carries 'error'.") != std::string::npos);
}

TEST_CASE("validate rejects unknown schemas and non-JSON data") {
  CHECK(message_of(registry().validate("lia.nope", 1, "{}")) ==
        "no schema for event type 'lia.nope' version 1");
  CHECK(message_of(registry().validate(events::types::user_upserted, 99, "{}")) ==
        "no schema for event type 'lia.user.upserted' version 99");
  CHECK(message_of(registry().validate(events::types::user_upserted, 1, "{nope"))
            .find("lia.user.upserted/v1: data is not JSON: invalid JSON at offset 1") == 0);
  CHECK(message_of(registry().validate(events::types::user_upserted, 1, "[]"))
            .find("keyword 'type'") != std::string::npos);
}

TEST_CASE("validate(CloudEvent) takes the schema from dataschema") {
  lia::core::ManualClock clock;
  const std::string data = lia::json::to_string(example(events::types::ai_reply_generated));
  auto ev = events::make_event(events::types::ai_reply_generated, 1,
                               events::source_for("ai_orchestration"), "", data, clock);
  CHECK(registry().validate(ev).ok());

  auto round = events::decode(events::encode(ev));
  REQUIRE(round.ok());
  CHECK(registry().validate(*round).ok());

  auto wrong_type = ev;
  wrong_type.type = "lia.ai.other";
  CHECK(message_of(registry().validate(wrong_type)).find("does not match type 'lia.ai.other'") !=
        std::string::npos);

  auto bad_uri = ev;
  bad_uri.dataschema = "https://example.com/schema.json";
  CHECK(message_of(registry().validate(bad_uri)).find("is not of the form") != std::string::npos);

  auto bad_data = ev;
  bad_data.data = R"({"conversation_id":"x"})";
  CHECK(message_of(registry().validate(bad_data)).find("lia.ai.reply.generated/v1: field") == 0);
}

TEST_CASE("registry lookups") {
  CHECK(registry().contains(events::types::contact_upserted, 1));
  CHECK_FALSE(registry().contains(events::types::contact_upserted, 2));
  CHECK(registry().latest_version(events::types::contact_upserted) == std::optional<int>(1));
  CHECK_FALSE(registry().latest_version("lia.nope").has_value());
  auto text = registry().schema_text(events::types::contact_upserted, 1);
  REQUIRE(text.has_value());
  CHECK(text->find("\"id\": \"lia://schemas/lia.contact.upserted/v1\"") != std::string::npos);
}

TEST_CASE("every type constant has a schema") {
  namespace t = events::types;
  for (std::string_view type : {t::whatsapp_message_received,
                                t::whatsapp_message_status,
                                t::whatsapp_connection_updated,
                                t::conversation_created,
                                t::conversation_message_stored,
                                t::conversation_transferred,
                                t::conversation_assigned,
                                t::conversation_unassigned,
                                t::conversation_resolved,
                                t::conversation_reopened,
                                t::ai_reply_generated,
                                t::ai_handoff_requested,
                                t::ai_analysis_completed,
                                t::ai_assistant_changed,
                                t::ai_tool_invoked,
                                t::notification_send_text,
                                t::notification_send_template,
                                t::notification_message_sent,
                                t::notification_message_failed,
                                t::notification_message_dead_lettered,
                                t::engagement_survey_sent,
                                t::engagement_survey_failed,
                                t::engagement_score_recorded,
                                t::collections_message_requested,
                                t::contact_upserted,
                                t::user_upserted}) {
    INFO(type);
    CHECK(registry().contains(type, 1));
  }
}

TEST_CASE("the linter catches schemas that would validate silently wrong") {
  const std::string head =
      R"({"$schema":"http://json-schema.org/draft-04/schema#","id":"lia://schemas/t.x/v1",)"
      R"("type":"object",)";
  auto problems_of = [&](const std::string& body, const std::string& id_type = "t.x") {
    const std::string path = "events/" + id_type + "/v1.json";
    const std::string text = head + body + "}";
    const events::EmbeddedFile files[] = {{path, text}};
    auto r = events::SchemaRegistry::from_files(files);
    std::string all;
    for (const auto& p : r->problems()) all += p + "\n";
    return all;
  };
  CHECK(problems_of(R"("properties":{"a":{"type":"string"}})").empty());
  CHECK(problems_of(R"("properties":{"a":{"type":"string","format":"date-time"}})")
            .find("#/properties/a: keyword 'format' is not implemented") != std::string::npos);
  CHECK(problems_of(R"("requried":["a"])").find("keyword 'requried'") != std::string::npos);
  CHECK(problems_of(R"("properties":{"a":{"$ref":"#/definitions/nope"}})")
            .find("'#/definitions/nope' does not resolve") != std::string::npos);
  CHECK(
      problems_of(R"("properties":{"a":{"$ref":"other.json#/x"}})").find("not a local reference") !=
      std::string::npos);
  CHECK(problems_of(R"("properties":{"a":{"type":"string","pattern":"[("}})")
            .find("pattern '[(' does not compile") != std::string::npos);
  CHECK(problems_of(R"("properties":{"a":{"type":"text"}})").find("must name JSON types") !=
        std::string::npos);
  CHECK(problems_of(R"("additionalProperties":false,"required":["b"],"properties":{"a":{}})")
            .find("'b' is required but not in 'properties'") != std::string::npos);
  CHECK(problems_of("\"properties\":{}", "t.y").find("'id' must be 'lia://schemas/t.y/v1'") !=
        std::string::npos);

  // A broken schema is reported, and validating against it is an internal error.
  const std::string broken = head + R"("format":"x"})";
  const events::EmbeddedFile files[] = {{"events/t.x/v1.json", broken}};
  auto r = events::SchemaRegistry::from_files(files);
  auto st = r->validate("t.x", 1, "{}");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code() == Errc::internal);
}

TEST_CASE("validation is safe from many threads at once") {
  const std::string good = lia::json::to_string(example(events::types::conversation_resolved));
  auto bad_doc = example(events::types::conversation_resolved);
  bad_doc["resolved_by"].SetString("nobody");
  const std::string bad = lia::json::to_string(bad_doc);
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (registry().validate(events::types::conversation_resolved, 1, good)) ++ok;
        if (!registry().validate(events::types::conversation_resolved, 1, bad)) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == 800);
  CHECK(failed == 800);
}
