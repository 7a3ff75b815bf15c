#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include <lia/core/clock.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/json/json.hpp>

namespace events = lia::events;
using lia::core::Errc;

namespace {

const char* kValid = R"({
  "specversion": "1.0",
  "id": "0190e0a4-7b2c-7def-8123-0123456789ab",
  "source": "/lia/ingestion",
  "type": "lia.whatsapp.message.status",
  "time": "2026-11-22T12:53:24.123Z",
  "subject": "106540352242922:5511987654321",
  "datacontenttype": "application/json",
  "dataschema": "lia://schemas/lia.whatsapp.message.status/v1",
  "partitionkey": "extension attributes are ignored",
  "data": { "status": "READ", "n": [1, 2] }
})";

// kValid with one attribute replaced (or removed when value is empty).
std::string with(const std::string& attribute, const std::string& value_json) {
  auto doc = lia::json::parse(kValid).value();
  doc.RemoveMember(attribute.c_str());
  std::string text = lia::json::to_string(doc);
  if (value_json.empty()) return text;
  text.pop_back();  // '}'
  return text + ",\"" + attribute + "\":" + value_json + "}";
}

}  // namespace

TEST_CASE("make_event fills id, time, dataschema") {
  lia::core::ManualClock clock;
  auto ev = events::make_event("lia.user.upserted", 1, events::source_for("conversation"),
                               "0190e0a4-7b2c-7def-8123-0000000a6e01", R"({"a":1})", clock);
  auto id = lia::core::Uuid::parse(ev.id);
  REQUIRE(id.has_value());
  CHECK(id->version() == 7);
  CHECK(static_cast<std::int64_t>(id->unix_ms()) == clock.now_ms());
  CHECK(ev.time == "2023-11-14T22:13:20.000Z");
  CHECK(ev.source == "/lia/conversation");
  CHECK(ev.type == "lia.user.upserted");
  CHECK(ev.specversion == "1.0");
  CHECK(ev.datacontenttype == "application/json");
  CHECK(ev.dataschema == "lia://schemas/lia.user.upserted/v1");
  CHECK(ev.subject == std::optional<std::string>("0190e0a4-7b2c-7def-8123-0000000a6e01"));
  CHECK(ev.data == R"({"a":1})");

  auto bare = events::make_event("t.x", 2, "/lia/x", "", "", clock);
  CHECK_FALSE(bare.subject.has_value());
  CHECK(bare.data == "{}");
  CHECK(bare.dataschema == "lia://schemas/t.x/v2");
  CHECK(bare.id != ev.id);
}

TEST_CASE("encode then decode gives the same event") {
  lia::core::ManualClock clock;
  auto ev = events::make_event("lia.whatsapp.message.received", 1, "/lia/ingestion",
                               "106540352242922:5511987654321",
                               R"({"text":"Olá \"mundo\"\n","n":[1,2.5,null,true],"o":{}})", clock);
  const std::string text = events::encode(ev);
  auto back = events::decode(text);
  REQUIRE(back.ok());
  CHECK(*back == ev);

  ev.subject.reset();
  auto no_subject = events::decode(events::encode(ev));
  REQUIRE(no_subject.ok());
  CHECK_FALSE(no_subject->subject.has_value());
  CHECK(events::encode(ev).find("subject") == std::string::npos);
}

TEST_CASE("decode accepts a full structured event and normalizes data") {
  auto ev = events::decode(kValid);
  REQUIRE(ev.ok());
  CHECK(ev->id == "0190e0a4-7b2c-7def-8123-0123456789ab");
  CHECK(ev->source == "/lia/ingestion");
  CHECK(ev->type == "lia.whatsapp.message.status");
  CHECK(ev->time == "2026-11-22T12:53:24.123Z");
  CHECK(ev->subject == std::optional<std::string>("106540352242922:5511987654321"));
  CHECK(ev->dataschema == "lia://schemas/lia.whatsapp.message.status/v1");
  CHECK(ev->data == R"({"status":"READ","n":[1,2]})");
}

TEST_CASE("decode defaults datacontenttype and accepts parameters") {
  auto absent = events::decode(with("datacontenttype", ""));
  REQUIRE(absent.ok());
  CHECK(absent->datacontenttype == "application/json");
  auto charset = events::decode(with("datacontenttype", R"("application/json; charset=utf-8")"));
  REQUIRE(charset.ok());
  CHECK(charset->datacontenttype == "application/json; charset=utf-8");
}

TEST_CASE("decode rejects garbage") {
  for (const char* bad : {"", "not json", "[1,2]", "{\"specversion\":", "null", "{} {}"}) {
    auto ev = events::decode(bad);
    INFO(bad);
    REQUIRE_FALSE(ev.ok());
    CHECK(ev.error().code() == Errc::invalid_argument);
    CHECK(ev.error().message().rfind("invalid CloudEvent: ", 0) == 0);
  }
}

TEST_CASE("decode names the missing or wrong attribute") {
  struct Case {
    std::string attribute, value, message;
  };
  const Case cases[] = {
      {"id", "", "invalid CloudEvent: field 'id' is missing"},
      {"source", "", "invalid CloudEvent: field 'source' is missing"},
      {"type", "", "invalid CloudEvent: field 'type' is missing"},
      {"specversion", "", "invalid CloudEvent: field 'specversion' is missing"},
      {"time", "", "invalid CloudEvent: field 'time' is missing"},
      {"dataschema", "", "invalid CloudEvent: field 'dataschema' is missing"},
      {"data", "", "invalid CloudEvent: field 'data' is missing"},
      {"id", R"("")", "invalid CloudEvent: field 'id' must not be empty"},
      {"type", "42", "invalid CloudEvent: field 'type' must be a string"},
      {"specversion", R"("0.3")",
       "invalid CloudEvent: unsupported specversion '0.3' (expected '1.0')"},
      {"time", R"("yesterday")",
       "invalid CloudEvent: field 'time' must be an RFC 3339 date-time, got 'yesterday'"},
      {"subject", "7", "invalid CloudEvent: field 'subject' must be a string"},
      {"datacontenttype", R"("text/plain")",
       "invalid CloudEvent: field 'datacontenttype' must be 'application/json', got "
       "'text/plain'"},
      {"data", R"("text")", "invalid CloudEvent: field 'data' must be an object"},
      {"data_base64", R"("AAAA")",
       "invalid CloudEvent: field 'data_base64' is not supported: use 'data'"},
  };
  for (const auto& c : cases) {
    INFO(c.attribute << " = " << c.value);
    auto ev = events::decode(with(c.attribute, c.value));
    REQUIRE_FALSE(ev.ok());
    CHECK(ev.error().code() == Errc::invalid_argument);
    CHECK(ev.error().message() == c.message);
  }
}

TEST_CASE("schema URIs") {
  CHECK(events::schema_uri("lia.a.b", 3) == "lia://schemas/lia.a.b/v3");
  auto r = events::parse_schema_uri("lia://schemas/lia.a.b/v12");
  REQUIRE(r.has_value());
  CHECK(r->type == "lia.a.b");
  CHECK(r->version == 12);
  for (const char* bad :
       {"", "lia://schemas/", "lia://schemas/x", "lia://schemas/x/v", "lia://schemas/x/v0",
        "lia://schemas/x/v01", "lia://schemas/x/v1a", "lia://schemas//v1", "lia://schemas/a/b/v1",
        "http://schemas/x/v1", "lia://schemas/x/v-1"}) {
    INFO(bad);
    CHECK_FALSE(events::parse_schema_uri(bad).has_value());
  }
}

TEST_CASE("is_rfc3339") {
  for (const char* ok :
       {"2026-11-22T12:53:24Z", "2026-11-22T12:53:24.123Z", "2026-11-22t12:53:24.123456789z",
        "2026-11-22T12:53:24-03:00", "2026-12-31T23:59:60+14:00"}) {
    INFO(ok);
    CHECK(events::is_rfc3339(ok));
  }
  for (const char* bad : {"", "2026-11-22", "2026-11-22T12:53:24", "2026-11-22 12:53:24Z",
                          "2026-13-22T12:53:24Z", "2026-11-22T24:00:00Z", "2026-11-22T12:53:24.Z",
                          "2026-11-22T12:53:24+0300", "2026-11-22T12:53:24Zjunk",
                          "20261122T125324Z", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(events::is_rfc3339(bad));
  }
  CHECK(events::is_rfc3339(lia::core::format_rfc3339(lia::core::SystemClock::instance().now())));
}
