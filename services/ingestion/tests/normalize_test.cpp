// Normalization of Meta and Evolution webhooks into the canonical events: every message kind,
// every status vocabulary, fan-out, @lid chats, deterministic ids. Every event produced here
// is checked against its schema.

#include "src/normalize.hpp"

#include <regex>
#include <set>

#include <catch2/catch.hpp>

#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>

#include "support.hpp"

using lia::ingestion::Batch;
using lia::ingestion::Item;
using lia::ingestion::ItemKind;
using lia::ingestion::Provider;
using lia::ingestion::RejectCode;
using lia::ingestion::test::fixture;

namespace {

const lia::core::ManualClock& test_clock() {
  static const lia::core::ManualClock clock(
      lia::core::SysTime{std::chrono::seconds{1'795'000'000}});
  return clock;
}

Batch meta(const std::string& name) {
  auto b = lia::ingestion::normalize_meta(fixture(name), test_clock());
  INFO(name << ": " << (b.ok() ? "" : b.error().message()));
  REQUIRE(b.ok());
  return std::move(b).value();
}

Batch evolution(const std::string& body, const std::string& path_event = "") {
  auto b = lia::ingestion::normalize_evolution(body, path_event, test_clock());
  INFO((b.ok() ? "" : b.error().message()));
  REQUIRE(b.ok());
  return std::move(b).value();
}

Batch meta_body(const std::string& body) {
  auto b = lia::ingestion::normalize_meta(body, test_clock());
  INFO((b.ok() ? "" : b.error().message()));
  REQUIRE(b.ok());
  return std::move(b).value();
}

Batch evo(const std::string& name) {
  return evolution(fixture(name));
}

// The item's data, after checking it against the schema of its type.
lia::json::Document data_of(const Item& item) {
  auto st = lia::events::SchemaRegistry::instance().validate(item.type, 1, item.data);
  INFO(item.data);
  INFO((st.ok() ? "" : st.error().message()));
  REQUIRE(st.ok());
  auto doc = lia::json::parse(item.data);
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

// The only item of a batch, as validated data.
lia::json::Document only(const Batch& b, ItemKind kind = ItemKind::message) {
  INFO("rejected: " << (b.rejected.empty() ? "" : b.rejected[0].reason));
  REQUIRE(b.rejected.empty());
  REQUIRE(b.items.size() == 1);
  CHECK(b.items[0].kind == kind);
  return data_of(b.items[0]);
}

const lia::json::Value& at(const lia::json::Value& v, std::initializer_list<const char*> path) {
  const lia::json::Value* cur = &v;
  for (const char* k : path) {
    INFO(k);
    REQUIRE(cur->IsObject());
    auto it = cur->FindMember(k);
    REQUIRE(it != cur->MemberEnd());
    cur = &it->value;
  }
  return *cur;
}

std::string str(const lia::json::Value& v, std::initializer_list<const char*> path) {
  const auto& x = at(v, path);
  REQUIRE(x.IsString());
  return std::string(lia::json::view(x));
}

bool has(const lia::json::Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key);
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}

bool is_uuid_v8(const std::string& s) {
  static const std::regex re(
      "^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(s, re);
}

}  // namespace

// ---- Meta messages ----------------------------------------------------------------------

TEST_CASE("meta text: instance, chat, sender, push name, context and time") {
  const auto b = meta("meta_text.json");
  CHECK(b.provider == Provider::meta);
  CHECK(b.event == "messages");
  const auto d = only(b);
  CHECK(str(d, {"provider"}) == "meta");
  CHECK(str(d, {"instance"}) == "106540352242922");
  CHECK(str(d, {"chat_id"}) == "5511987654321");
  CHECK(str(d, {"from"}) == "5511987654321");
  CHECK(str(d, {"push_name"}) == "Maria Silva");
  CHECK(str(d, {"kind"}) == "text");
  CHECK(str(d, {"text"}) == "Oi, minha internet caiu desde ontem à noite 😞");
  CHECK(str(d, {"message_id"}) ==
        "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBCQjM3RTk5QkI3N0Y5NDQwAA==");
  CHECK(str(d, {"context", "message_id"}) ==
        "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRCMEYzQTk0RDA2QzE0MkY4AA==");
  CHECK(str(d, {"timestamp"}) == "2026-11-21T12:53:20.000Z");
  CHECK(at(d, {"from_me"}).IsFalse());
  const auto& item = b.items[0];
  CHECK(item.type == lia::events::types::whatsapp_message_received);
  CHECK(item.key == "106540352242922:5511987654321");
  CHECK(item.detail == "text");
  CHECK(is_uuid_v8(item.event_id));
}

TEST_CASE("a NUL in a meta text becomes U+FFFD so that the event parses downstream") {
  const auto body = replace(fixture("meta_text.json"), "Oi, minha", "Oi,\\u0000minha");
  const auto d = only(meta_body(body));  // data_of parses it with json::parse
  CHECK(str(d, {"text"}) == "Oi,\xEF\xBF\xBDminha internet caiu desde ontem à noite 😞");
}

TEST_CASE("meta media messages keep id, mime type, sha256, caption and their own flags") {
  SECTION("image") {
    const auto d = only(meta("meta_image.json"));
    CHECK(str(d, {"kind"}) == "image");
    CHECK(str(d, {"media", "id"}) == "1466316244252398");
    CHECK(str(d, {"media", "mime_type"}) == "image/jpeg");
    CHECK(str(d, {"media", "sha256"}) == "ZGVhZGJlZWZkZWFkYmVlZmRlYWRiZWVmZGVhZGJlZWY=");
    CHECK(str(d, {"media", "caption"}) == "foto do roteador");
  }
  SECTION("audio (voice note)") {
    const auto d = only(meta("meta_audio.json"));
    CHECK(str(d, {"kind"}) == "audio");
    CHECK(str(d, {"media", "mime_type"}) == "audio/ogg; codecs=opus");
    CHECK(at(d, {"media", "voice"}).IsTrue());
  }
  SECTION("video") {
    const auto d = only(meta("meta_video.json"));
    CHECK(str(d, {"kind"}) == "video");
    CHECK(str(d, {"media", "caption"}) == "olha a luz piscando");
  }
  SECTION("document") {
    const auto d = only(meta("meta_document.json"));
    CHECK(str(d, {"kind"}) == "document");
    CHECK(str(d, {"media", "filename"}) == "fatura-outubro.pdf");
    CHECK(str(d, {"media", "mime_type"}) == "application/pdf");
    CHECK(str(d, {"media", "caption"}) == "segunda via");
  }
  SECTION("sticker") {
    const auto d = only(meta("meta_sticker.json"));
    CHECK(str(d, {"kind"}) == "sticker");
    CHECK(str(d, {"media", "mime_type"}) == "image/webp");
    CHECK(at(d, {"media", "animated"}).IsFalse());
  }
}

TEST_CASE("meta location, interactive replies, buttons and reactions") {
  SECTION("location") {
    const auto d = only(meta("meta_location.json"));
    CHECK(str(d, {"kind"}) == "location");
    CHECK(at(d, {"location", "latitude"}).GetDouble() == Approx(-23.5648));
    CHECK(at(d, {"location", "longitude"}).GetDouble() == Approx(-46.6522));
    CHECK(str(d, {"location", "name"}) == "Escritório");
    CHECK(str(d, {"location", "address"}) == "Av. Paulista, 1000 - Bela Vista, São Paulo - SP");
    CHECK(has(at(d, {"location"}), "url"));
  }
  SECTION("interactive button_reply") {
    const auto d = only(meta("meta_interactive_button.json"));
    CHECK(str(d, {"kind"}) == "interactive");
    CHECK(str(d, {"interactive", "type"}) == "button_reply");
    CHECK(str(d, {"interactive", "id"}) == "suporte_tecnico");
    CHECK(str(d, {"interactive", "title"}) == "Suporte técnico");
    CHECK(has(d, "context"));
  }
  SECTION("interactive list_reply") {
    const auto d = only(meta("meta_interactive_list.json"));
    CHECK(str(d, {"interactive", "type"}) == "list_reply");
    CHECK(str(d, {"interactive", "id"}) == "plano_500");
    CHECK(str(d, {"interactive", "description"}) == "R$ 99,90/mês");
  }
  SECTION("an interactive reply of another type (flows) is unsupported") {
    auto body = replace(fixture("meta_interactive_button.json"), R"("type": "button_reply")",
                        R"("type": "nfm_reply", "nfm_reply": {"response_json": "{}"})");
    auto b = meta_body(body);
    const auto d = only(b);
    CHECK(str(d, {"kind"}) == "unsupported");
    CHECK(str(d, {"unsupported", "type"}) == "interactive.nfm_reply");
  }
  SECTION("template quick-reply button") {
    const auto d = only(meta("meta_button.json"));
    CHECK(str(d, {"kind"}) == "button");
    CHECK(str(d, {"button", "payload"}) == "CONFIRMAR_VISITA");
    CHECK(str(d, {"button", "text"}) == "Confirmar visita");
  }
  SECTION("reaction") {
    const auto d = only(meta("meta_reaction.json"));
    CHECK(str(d, {"kind"}) == "reaction");
    CHECK(str(d, {"reaction", "message_id"}) ==
          "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkQ3RTZGNUE0QjNDMjEwOTgA");
    CHECK(str(d, {"reaction", "emoji"}) == "\U0001F44D");
  }
  SECTION("an emoji of 35 bytes and 10 characters is kept whole") {
    const std::string couple =
        "\xF0\x9F\x91\xA9\xF0\x9F\x8F\xBD\xE2\x80\x8D\xE2\x9D\xA4\xEF\xB8\x8F\xE2\x80\x8D\xF0"
        "\x9F\x92\x8B\xE2\x80\x8D\xF0\x9F\x91\xA8\xF0\x9F\x8F\xBF";
    auto body =
        replace(fixture("meta_reaction.json"), "\"emoji\": \"👍\"", "\"emoji\": \"" + couple + "\"");
    CHECK(str(only(meta_body(body)), {"reaction", "emoji"}) == couple);
  }
  SECTION("a removed reaction has an empty emoji") {
    auto body = replace(fixture("meta_reaction.json"), R"("emoji":)", R"("emoji_removed":)");
    auto b = meta_body(body);
    const auto d = only(b);
    CHECK(str(d, {"reaction", "emoji"}).empty());
  }
}

TEST_CASE("meta unsupported and unknown message types become kind unsupported") {
  SECTION("Meta's own 'unsupported'") {
    const auto d = only(meta("meta_unsupported.json"));
    CHECK(str(d, {"kind"}) == "unsupported");
    CHECK(str(d, {"unsupported", "type"}) == "unsupported");
  }
  SECTION("a type we don't handle (contacts)") {
    const auto d = only(meta("meta_contacts_type.json"));
    CHECK(str(d, {"kind"}) == "unsupported");
    CHECK(str(d, {"unsupported", "type"}) == "contacts");
  }
  SECTION("a type invented later") {
    auto body = replace(fixture("meta_text.json"), R"("type": "text")", R"("type": "hologram")");
    auto b = meta_body(body);
    CHECK(str(only(b), {"unsupported", "type"}) == "hologram");
  }
}

TEST_CASE("meta system messages (a changed number or user id) are ignored, not received") {
  SECTION("user_changed_number, without a contacts array") {
    const auto b = meta("meta_system.json");
    CHECK(b.items.empty());
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
  }
  SECTION("user_changed_user_id") {
    const auto b =
        meta_body(replace(fixture("meta_system.json"), R"("type": "user_changed_number")",
                          R"("type": "user_changed_user_id")"));
    CHECK(b.items.empty());
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
  }
  SECTION("a customer message beside it is still published") {
    auto text = fixture("meta_text.json");
    const auto system = fixture("meta_system.json");
    const auto from = system.find(R"("messages": [)") + 13;
    const auto to = system.find(']', from);
    const std::string system_message = system.substr(from, to - from);
    const auto b =
        meta_body(replace(text, R"("messages": [)", R"("messages": [)" + system_message + ","));
    REQUIRE(b.items.size() == 1);
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
    CHECK(b.items[0].detail == "text");
  }
}

TEST_CASE("meta echoes of the Business app (Coexistence) are the business's messages") {
  const std::string body = R"({"object": "whatsapp_business_account", "entry": [{"id": "1",
    "changes": [{"field": "smb_message_echoes", "value": {"messaging_product": "whatsapp",
      "metadata": {"display_phone_number": "551140028922", "phone_number_id": "106540352242922"},
      "message_echoes": [{"from": "551140028922", "to": "5511987654321",
        "id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjk5RUNIT0VDSE8wMDAwMDEA", "timestamp": "1795265600",
        "type": "text", "text": {"body": "Oi Maria, aqui é a Ana da loja"}}]}}]}]})";
  const auto b = meta_body(body);
  REQUIRE(b.items.size() == 1);
  CHECK(b.rejected.empty());
  const auto d = data_of(b.items[0]);
  CHECK(str(d, {"chat_id"}) == "5511987654321");  // the customer's chat
  CHECK(str(d, {"from"}) == "551140028922");      // written by the business
  CHECK(d["from_me"].GetBool());
  CHECK(str(d, {"text"}) == "Oi Maria, aqui é a Ana da loja");
  CHECK(b.items[0].key == "106540352242922:5511987654321");
  // The same message as a customer's (field "messages") is not from_me.
  auto customer =
      replace(replace(body, R"("field": "smb_message_echoes")", R"("field": "messages")"),
              R"("message_echoes")", R"("messages")");
  customer = replace(customer, R"("from": "551140028922", "to": "5511987654321")",
                     R"("from": "5511987654321")");
  CHECK_FALSE(only(meta_body(customer))["from_me"].GetBool());
  // `to` as the Business app was given the number (Meta's reference writes "+16505551234"):
  // the same chat and key as the customer's own messages.
  for (const char* to : {"+5511987654321", "+55 11 98765-4321"}) {
    INFO(to);
    const auto plus =
        meta_body(replace(body, R"("to": "5511987654321")", std::string(R"("to": ")") + to + "\""));
    REQUIRE(plus.items.size() == 1);
    CHECK(str(data_of(plus.items[0]), {"chat_id"}) == "5511987654321");
    CHECK(plus.items[0].key == "106540352242922:5511987654321");
  }
  // A customer known by username only: refused as such, as their own messages are.
  const auto username =
      meta_body(replace(body, R"("to": "5511987654321")", R"("to_user_id": "BR.1234567890")"));
  REQUIRE(username.rejected.size() == 1);
  CHECK(username.rejected[0].code == RejectCode::username_only);
}

TEST_CASE("meta edits and revokes (numbers also on the Business app) are not new messages") {
  const auto type_at = fixture("meta_system.json").find(R"("type": "system")");
  REQUIRE(type_at != std::string::npos);
  for (const char* type : {"edit", "revoke"}) {
    INFO(type);
    const auto b = meta_body(replace(fixture("meta_system.json"), R"("type": "system")",
                                     std::string(R"("type": ")") + type + "\""));
    CHECK(b.items.empty());
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
  }
}

TEST_CASE("meta played (a voice message listened to) reads as READ") {
  const auto b = meta_body(
      replace(fixture("meta_statuses.json"), R"("status": "read")", R"("status": "played")"));
  REQUIRE(b.rejected.empty());
  REQUIRE(b.items.size() == 4);
  CHECK(str(data_of(b.items[2]), {"status"}) == "READ");
}

TEST_CASE("meta statuses: sent, delivered, read and failed with its error") {
  const auto b = meta("meta_statuses.json");
  REQUIRE(b.rejected.empty());
  REQUIRE(b.items.size() == 4);
  const char* expected[] = {"SERVER_ACK", "DELIVERY_ACK", "READ", "ERROR"};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& item = b.items[i];
    CHECK(item.kind == ItemKind::status);
    CHECK(item.type == lia::events::types::whatsapp_message_status);
    CHECK(item.key == "106540352242922:5511987654321");
    const auto d = data_of(item);
    CHECK(str(d, {"status"}) == expected[i]);
    CHECK(str(d, {"chat_id"}) == "5511987654321");
    CHECK(str(d, {"provider"}) == "meta");
    CHECK(has(d, "error") == (i == 3));
  }
  const auto failed = data_of(b.items[3]);
  CHECK(str(failed, {"error", "code"}) == "131047");
  CHECK(str(failed, {"error", "reason"}).find("more than 24 hours") != std::string::npos);
  CHECK(str(failed, {"timestamp"}) == "2026-11-21T12:53:50.000Z");
  // One id per (message, status): the three ticks of one message differ, a repeat doesn't.
  CHECK(b.items[0].event_id != b.items[1].event_id);
  CHECK(b.items[1].event_id != b.items[2].event_id);
  CHECK(meta("meta_statuses.json").items[2].event_id == b.items[2].event_id);
}

TEST_CASE("meta failed status without errors still says why") {
  auto body = replace(fixture("meta_statuses.json"), R"("errors":)", R"("errors_elsewhere":)");
  auto b = meta_body(body);
  REQUIRE(b.items.size() == 4);
  const auto d = data_of(b.items[3]);
  CHECK(str(d, {"status"}) == "ERROR");
  CHECK(!str(d, {"error", "reason"}).empty());
  CHECK(!has(at(d, {"error"}), "code"));
}

TEST_CASE("meta: an unknown status value rejects that status only") {
  auto body =
      replace(fixture("meta_statuses.json"), R"("status": "read")", R"("status": "deleted")");
  auto b = meta_body(body);
  CHECK(b.items.size() == 3);
  REQUIRE(b.rejected.size() == 1);
  CHECK(b.rejected[0].code == RejectCode::unknown_status);
  CHECK(b.rejected[0].kind == ItemKind::status);
  CHECK(b.rejected[0].reason.find("deleted") != std::string::npos);
}

TEST_CASE("meta: several entries, changes, messages and statuses fan out to one event each") {
  const auto b = meta("meta_multi.json");
  CHECK(b.rejected.empty());
  REQUIRE(b.items.size() == 5);
  std::size_t messages = 0;
  std::size_t statuses = 0;
  for (const auto& item : b.items) {
    (void)data_of(item);
    (item.kind == ItemKind::message ? messages : statuses)++;
  }
  CHECK(messages == 3);
  CHECK(statuses == 2);
  CHECK(b.ignored == 1);  // the template status change
  // Each message gets the push name of its own sender and its own chat key.
  const auto second = data_of(b.items[1]);
  CHECK(str(second, {"push_name"}) == "Carlos Souza");
  CHECK(b.items[1].key == "106540352242922:5521998765432");
  const auto third = data_of(b.items[3]);
  CHECK(str(third, {"kind"}) == "image");
  CHECK(str(third, {"push_name"}) == "Ana");
  // Every id is distinct.
  std::set<std::string> ids;
  for (const auto& item : b.items) ids.insert(item.event_id);
  CHECK(ids.size() == 5);
}

TEST_CASE(
    "meta: Brazilian numbers without the ninth digit keep Meta's wa_id as chat, E.164 as from") {
  auto body = fixture("meta_text.json");
  for (int i = 0; i < 2; ++i) body = replace(body, "\"5511987654321\"", "\"551187654321\"");
  auto b = meta_body(body);
  const auto d = only(b);
  CHECK(str(d, {"chat_id"}) == "551187654321");  // what Meta knows: the 'to' for sending back
  CHECK(str(d, {"from"}) == "5511987654321");    // normalized phone
  CHECK(str(d, {"push_name"}) == "Maria Silva");
}

TEST_CASE("meta: another product's webhook on the same URL is valid and carries nothing") {
  const auto page = lia::ingestion::normalize_meta(
      R"({"object":"page","entry":[{"id":"1","messaging":[]}]})", test_clock());
  REQUIRE(page.ok());
  CHECK(page->items.empty());
  CHECK(page->rejected.empty());
  CHECK(page->ignored == 1);
  CHECK(page->event == "page");
}

TEST_CASE("meta: bodies that are not a webhook are errors naming the field") {
  using lia::ingestion::normalize_meta;
  auto err = [](const std::string& body) {
    auto b = normalize_meta(body, test_clock());
    REQUIRE(!b.ok());
    CHECK(b.error().code() == lia::core::Errc::invalid_argument);
    return b.error().message();
  };
  CHECK(err("{not json").find("invalid JSON") != std::string::npos);
  CHECK(err("[1,2]").find("object") != std::string::npos);
  CHECK(err(R"({"entry":[]})").find("'object'") != std::string::npos);
  CHECK(err(R"({"object":"whatsapp_business_account"})").find("'entry'") != std::string::npos);
  CHECK(err(R"({"object":"whatsapp_business_account","entry":[{"id":"1"}]})")
            .find("'entry[0].changes'") != std::string::npos);
  CHECK(
      err(R"({"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{}}]}]})")
          .find("'entry[0].changes[0].value.metadata'") != std::string::npos);
  CHECK(
      err(R"({"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{}}}]}]})")
          .find("'entry[0].changes[0].value.metadata.phone_number_id'") != std::string::npos);
  CHECK(
      err(R"({"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"messages":{}}}]}]})")
          .find("'entry[0].changes[0].value.messages'") != std::string::npos);
}

TEST_CASE("meta: a message missing a required field is rejected alone, naming the field") {
  auto body = replace(fixture("meta_multi.json"), R"("id": "wamid.MULTI.2")", R"("idx": "x")");
  auto b = meta_body(body);
  CHECK(b.items.size() == 4);
  REQUIRE(b.rejected.size() == 1);
  CHECK(b.rejected[0].code == RejectCode::bad_item);
  CHECK(b.rejected[0].reason == "field 'entry[0].changes[0].value.messages[1].id' is missing");

  auto no_body = replace(fixture("meta_text.json"), R"("body":)", R"("bodie":)");
  auto c = meta_body(no_body);
  REQUIRE(c.rejected.size() == 1);
  CHECK(c.rejected[0].reason ==
        "field 'entry[0].changes[0].value.messages[0].text.body' must be a string");
  CHECK(c.rejected[0].provider_message_id.rfind("wamid.", 0) == 0);
}

TEST_CASE("meta: a sender that is not a phone is rejected without showing it") {
  auto body = replace(fixture("meta_text.json"), R"("from": "5511987654321")", R"("from": "12ab")");
  auto b = meta_body(body);
  REQUIRE(b.rejected.size() == 1);
  CHECK(b.rejected[0].code == RejectCode::invalid_phone);
  CHECK(b.rejected[0].reason.find("12ab") == std::string::npos);
}

TEST_CASE("senders of other countries keep their country code (10 or 11 digits are not a DDD)") {
  // Meta: a US number, 11 digits, once taken for area code 14 and rejected.
  auto m = meta_body(
      replace(fixture("meta_text.json"), R"("from": "5511987654321")", R"("from": "14155552671")"));
  const auto md = only(m);
  CHECK(str(md, {"from"}) == "14155552671");
  CHECK(str(md, {"chat_id"}) == "14155552671");
  // Evolution: a Singapore number, 10 digits, once made a Brazilian mobile (5565991234567).
  auto e = evolution(replace(fixture("evo_conversation.json"), "5511987654321@s.whatsapp.net",
                             "6591234567@s.whatsapp.net"));
  const auto ed = only(e);
  CHECK(str(ed, {"from"}) == "6591234567");
  CHECK(str(ed, {"chat_id"}) == "6591234567@s.whatsapp.net");
  // A Brazilian mobile reported without its ninth digit still gets it.
  auto b = meta_body(replace(fixture("meta_text.json"), R"("from": "5511987654321")",
                             R"("from": "551187654321")"));
  CHECK(str(only(b), {"from"}) == "5511987654321");
}

TEST_CASE("meta users known by username only (no phone) are rejected under their own reason") {
  SECTION("a message with from_user_id instead of from") {
    auto b = meta_body(replace(fixture("meta_text.json"), R"("from": "5511987654321")",
                               R"("from_user_id": "BR.1386490286103987")"));
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::username_only);
    CHECK(b.rejected[0].kind == ItemKind::message);
    CHECK(b.rejected[0].reason.find("'entry[0].changes[0].value.messages[0].from_user_id'") !=
          std::string::npos);
    CHECK(b.rejected[0].reason.find("1386490286103987") == std::string::npos);  // no user ids
    CHECK(b.rejected[0].provider_message_id.rfind("wamid.", 0) == 0);
    CHECK(lia::ingestion::to_string(RejectCode::username_only) == "username_only");
  }
  SECTION("a status with recipient_user_id instead of recipient_id, the others still go") {
    auto s = meta_body(replace(fixture("meta_statuses.json"), R"("recipient_id": "5511987654321")",
                               R"("recipient_user_id": "BR.1386490286103987")"));
    CHECK(s.items.size() == 3);
    REQUIRE(s.rejected.size() == 1);
    CHECK(s.rejected[0].code == RejectCode::username_only);
    CHECK(s.rejected[0].kind == ItemKind::status);
  }
  SECTION("with the phone beside the user id, the message is published as usual") {
    auto b =
        meta_body(replace(fixture("meta_text.json"), R"("from": "5511987654321")",
                          R"("from": "5511987654321", "from_user_id": "BR.1386490286103987")"));
    CHECK(str(only(b), {"chat_id"}) == "5511987654321");
  }
  SECTION("without either, it is still a missing field") {
    auto b = meta_body(replace(fixture("meta_text.json"), R"("from": "5511987654321",)", ""));
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::bad_item);
  }
}

TEST_CASE("meta group messages and their statuses are rejected as group chats, naming the field") {
  // Groups API: `from` is the participant; published, the group would become their private chat.
  auto m = meta_body(replace(fixture("meta_text.json"), R"("from": "5511987654321",)",
                             R"("from": "5511987654321", "group_id": "Y2FwaV9ncm91cDoxMjM0",)"));
  CHECK(m.items.empty());
  REQUIRE(m.rejected.size() == 1);
  CHECK(m.rejected[0].code == RejectCode::group_chat);
  CHECK(m.rejected[0].reason.find("group_id") != std::string::npos);

  auto s =
      meta_body(replace(fixture("meta_statuses.json"), R"("recipient_id": "5511987654321",)",
                        R"("recipient_id": "Y2FwaV9ncm91cDoxMjM0", "recipient_type": "group",)"));
  REQUIRE(s.rejected.size() == 1);
  CHECK(s.rejected[0].code == RejectCode::group_chat);
  CHECK(s.rejected[0].reason.find("recipient_type") != std::string::npos);
  CHECK(s.items.size() == 3);  // the statuses of the private chat still go
}

TEST_CASE("meta: a webhook of another field carries nothing") {
  const std::string body =
      R"({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"phone_number":"551140028922","event":"VERIFIED_ACCOUNT"}}]}]})";
  auto b = meta_body(body);
  CHECK(b.items.empty());
  CHECK(b.rejected.empty());
  CHECK(b.ignored == 1);
}

// ---- Evolution messages -----------------------------------------------------------------

TEST_CASE("evolution conversation: instance, JID chat, phone sender, push name") {
  const auto b = evo("evo_conversation.json");
  CHECK(b.provider == Provider::evolution);
  CHECK(b.event == "messages.upsert");
  const auto d = only(b);
  CHECK(str(d, {"provider"}) == "evolution");
  CHECK(str(d, {"instance"}) == "lia-vendas");
  CHECK(str(d, {"chat_id"}) == "5511987654321@s.whatsapp.net");
  CHECK(str(d, {"from"}) == "5511987654321");
  CHECK(str(d, {"push_name"}) == "Maria Silva");
  CHECK(str(d, {"message_id"}) == "3EB0C767D097B7C0A3E4");
  CHECK(str(d, {"kind"}) == "text");
  CHECK(str(d, {"text"}) == "Boa tarde, quero contratar a fibra");
  CHECK(str(d, {"timestamp"}) == "2026-11-21T12:53:20.000Z");
  CHECK(at(d, {"from_me"}).IsFalse());
  CHECK(b.items[0].key == "lia-vendas:5511987654321@s.whatsapp.net");
  CHECK(is_uuid_v8(b.items[0].event_id));
}

TEST_CASE("evolution extended text keeps the quoted message as context") {
  const auto d = only(evo("evo_extended_text.json"));
  CHECK(str(d, {"kind"}) == "text");
  CHECK(str(d, {"text"}) == "Esse boleto já venceu?");
  CHECK(str(d, {"context", "message_id"}) == "3EB0A1B2C3D4E5F60718");
}

TEST_CASE("evolution media messages: url, mimetype, caption, size, seconds, flags") {
  SECTION("image") {
    const auto d = only(evo("evo_image.json"));
    CHECK(str(d, {"kind"}) == "image");
    CHECK(str(d, {"media", "mime_type"}) == "image/jpeg");
    CHECK(str(d, {"media", "caption"}) == "print do erro");
    CHECK(str(d, {"media", "url"}).rfind("https://mmg.whatsapp.net/", 0) == 0);
    CHECK(at(d, {"media", "bytes"}).GetInt64() == 84213);
    CHECK(str(d, {"media", "sha256"}) == "K8h7nTQ2oD6h9bY0W1F3cQ5N0xWwP9y7uQm3Yb2xV1c=");
  }
  SECTION("audio (voice note, size as a protobuf Long)") {
    const auto d = only(evo("evo_audio.json"));
    CHECK(str(d, {"kind"}) == "audio");
    CHECK(at(d, {"media", "voice"}).IsTrue());
    CHECK(at(d, {"media", "seconds"}).GetInt64() == 7);
    CHECK(at(d, {"media", "bytes"}).GetInt64() == 18734);
  }
  SECTION("video") {
    const auto d = only(evo("evo_video.json"));
    CHECK(str(d, {"kind"}) == "video");
    CHECK(str(d, {"media", "caption"}) == "a luz do modem");
    CHECK(at(d, {"media", "seconds"}).GetInt64() == 12);
  }
  SECTION("a round video note (ptvMessage) is a video") {
    auto body = replace(fixture("evo_video.json"), "videoMessage", "ptvMessage");
    body = replace(body, "videoMessage", "ptvMessage");
    const auto d = only(evolution(body));
    CHECK(str(d, {"kind"}) == "video");
    CHECK(str(d, {"media", "url"}) == "https://mmg.whatsapp.net/v/t62.7161-24/video.enc");
    CHECK(str(d, {"media", "mime_type"}) == "video/mp4");
  }
  SECTION("document with caption (wrapped)") {
    const auto d = only(evo("evo_document.json"));
    CHECK(str(d, {"kind"}) == "document");
    CHECK(str(d, {"media", "filename"}) == "comprovante-pix.pdf");
    CHECK(str(d, {"media", "mime_type"}) == "application/pdf");
    CHECK(str(d, {"media", "caption"}) == "paguei ontem");
  }
  SECTION("sticker") {
    const auto d = only(evo("evo_sticker.json"));
    CHECK(str(d, {"kind"}) == "sticker");
    CHECK(at(d, {"media", "animated"}).IsTrue());
  }
  SECTION("Evolution over the Cloud API: Meta's media object as it is") {
    const std::string body = R"({"event":"messages.upsert","instance":"lia-cloud","data":{
      "key":{"remoteJid":"5511987654321@s.whatsapp.net","fromMe":false,"id":"wamid.DOC1"},
      "pushName":"Maria","messageType":"documentMessage","messageTimestamp":1795265600,
      "message":{"documentMessage":{"id":"1166409258211571","mime_type":"application/pdf",
        "sha256":"c2hhMjU2","filename":"boleto.pdf","caption":"segue"}}}})";
    const auto d = only(evolution(body));
    CHECK(str(d, {"kind"}) == "document");
    CHECK(str(d, {"media", "id"}) == "1166409258211571");
    CHECK(str(d, {"media", "mime_type"}) == "application/pdf");
    CHECK(str(d, {"media", "sha256"}) == "c2hhMjU2");
    CHECK(str(d, {"media", "filename"}) == "boleto.pdf");
    CHECK(str(d, {"media", "caption"}) == "segue");
  }
  SECTION("Evolution's own media copy (S3) wins over the WhatsApp CDN url") {
    auto body =
        replace(fixture("evo_image.json"), R"("imageMessage": {)",
                R"("mediaUrl": "https://s3.lia.example/evolution/abc.jpeg", "imageMessage": {)");
    const auto d = only(evolution(body));
    CHECK(str(d, {"media", "url"}) == "https://s3.lia.example/evolution/abc.jpeg");
  }
}

TEST_CASE("evolution location, reaction, button and list replies, template buttons") {
  SECTION("location") {
    const auto d = only(evo("evo_location.json"));
    CHECK(str(d, {"kind"}) == "location");
    CHECK(at(d, {"location", "latitude"}).GetDouble() == Approx(-22.9068));
    CHECK(str(d, {"location", "name"}) == "Minha casa");
  }
  SECTION("reaction") {
    const auto d = only(evo("evo_reaction.json"));
    CHECK(str(d, {"kind"}) == "reaction");
    CHECK(str(d, {"reaction", "message_id"}) == "3EB0REPLY00000000001");
    CHECK(str(d, {"reaction", "emoji"}) == "\u2764\ufe0f");
  }
  SECTION("buttons response") {
    const auto d = only(evo("evo_buttons_response.json"));
    CHECK(str(d, {"kind"}) == "interactive");
    CHECK(str(d, {"interactive", "type"}) == "button_reply");
    CHECK(str(d, {"interactive", "id"}) == "segunda_via");
    CHECK(str(d, {"interactive", "title"}) == "2ª via do boleto");
    CHECK(str(d, {"context", "message_id"}) == "3EB0MENU000000000001");
  }
  SECTION("list response") {
    const auto d = only(evo("evo_list_response.json"));
    CHECK(str(d, {"interactive", "type"}) == "list_reply");
    CHECK(str(d, {"interactive", "id"}) == "plano_300");
    CHECK(str(d, {"interactive", "title"}) == "Fibra 300 Mega");
  }
  SECTION("template button reply") {
    const auto d = only(evo("evo_template_button.json"));
    CHECK(str(d, {"kind"}) == "button");
    CHECK(str(d, {"button", "payload"}) == "CONFIRMAR");
    CHECK(str(d, {"button", "text"}) == "Confirmar");
  }
  SECTION("a poll is unsupported, with its Baileys type") {
    const auto d = only(evo("evo_poll.json"));
    CHECK(str(d, {"kind"}) == "unsupported");
    CHECK(str(d, {"unsupported", "type"}) == "pollCreationMessage");
  }
  SECTION("a message without content (not decrypted yet) is ignored, so its retry is not lost") {
    for (const char* empty : {R"("messageX": {)", R"("message": {}, "messageX": {)"}) {
      INFO(empty);
      const auto b = evolution(replace(fixture("evo_conversation.json"), R"("message": {)", empty));
      CHECK(b.items.empty());
      CHECK(b.rejected.empty());
      CHECK(b.ignored == 1);
    }
    // The real message, delivered under the same id once decrypted, is published.
    CHECK(str(only(evo("evo_conversation.json")), {"kind"}) == "text");
  }
}

TEST_CASE("evolution native-flow quick replies are button replies (id from paramsJson)") {
  SECTION("quick_reply: id from paramsJson, title from body.text, the menu as context") {
    const auto b = evo("evo_native_flow_response.json");
    const auto d = only(b);
    CHECK(str(d, {"kind"}) == "interactive");
    CHECK(str(d, {"interactive", "type"}) == "button_reply");
    CHECK(str(d, {"interactive", "id"}) == "confirmar");
    CHECK(str(d, {"interactive", "title"}) == "Sim");
    CHECK(str(d, {"context", "message_id"}) == "3EB0MENU000000000002");
    CHECK(b.items[0].detail == "interactive");
  }
  SECTION("paramsJson without an id rejects the message, naming the field") {
    auto body = replace(fixture("evo_native_flow_response.json"), R"({\"id\":\"confirmar\"})",
                        R"({\"idx\":\"confirmar\"})");
    const auto b = evolution(body);
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::bad_item);
    CHECK(b.rejected[0].reason.find(
              "'data.message.interactiveResponseMessage.nativeFlowResponseMessage.paramsJson'") !=
          std::string::npos);
    auto broken = replace(fixture("evo_native_flow_response.json"), R"({\"id\":\"confirmar\"})",
                          R"({\"id\":)");
    CHECK(evolution(broken).rejected.size() == 1);
  }
  SECTION("another native flow (a form) stays unsupported") {
    auto body = replace(fixture("evo_native_flow_response.json"), R"("name": "quick_reply")",
                        R"("name": "galaxy_message")");
    const auto d = only(evolution(body));
    CHECK(str(d, {"kind"}) == "unsupported");
    CHECK(str(d, {"unsupported", "type"}) == "interactiveResponseMessage");
  }
}

TEST_CASE("evolution ephemeral and view-once wrappers are opened") {
  auto body = replace(
      fixture("evo_conversation.json"), R"("message": {)",
      R"("message": {"ephemeralMessage": {"message": {"extendedTextMessage": {"text": "sumiu"}}}}, "oldMessage": {)");
  body = replace(body, R"("messageType": "conversation")", R"("messageType": "ephemeralMessage")");
  const auto d = only(evolution(body));
  CHECK(str(d, {"kind"}) == "text");
  CHECK(str(d, {"text"}) == "sumiu");
}

TEST_CASE("evolution's album, animated sticker and other newer wrappers are opened too") {
  const auto inner = [](const std::string& wrapper, const std::string& content) {
    auto body = replace(
        fixture("evo_conversation.json"), R"("message": {)",
        R"("message": {")" + wrapper + R"(": {"message": )" + content + R"(}}, "oldMessage": {)");
    return only(evolution(replace(body, R"("messageType": "conversation")",
                                  R"("messageType": ")" + wrapper + R"(")")));
  };
  const auto photo = inner(
      "associatedChildMessage",
      R"({"imageMessage": {"url": "https://mmg.whatsapp.net/x", "mimetype": "image/jpeg", "caption": "o modem"}})");
  CHECK(str(photo, {"kind"}) == "image");
  CHECK(str(photo, {"media", "caption"}) == "o modem");
  const auto sticker =
      inner("lottieStickerMessage", R"({"stickerMessage": {"url": "https://mmg.whatsapp.net/s", )"
                                    R"("mimetype": "application/was", "isAnimated": true}})");
  CHECK(str(sticker, {"kind"}) == "sticker");
  CHECK(str(inner("botInvokeMessage", R"({"conversation": "oi"})"), {"text"}) == "oi");
}

TEST_CASE("evolution protocol messages (revokes) carry nothing") {
  auto body = replace(fixture("evo_conversation.json"),
                      R"("conversation": "Boa tarde, quero contratar a fibra")",
                      R"("protocolMessage": {"key": {"id": "X"}, "type": "REVOKE"})");
  const auto b = evolution(body);
  CHECK(b.items.empty());
  CHECK(b.rejected.empty());
  CHECK(b.ignored == 1);
}

TEST_CASE("evolution secret-encrypted edits are not new messages") {
  auto body = replace(fixture("evo_conversation.json"),
                      R"("conversation": "Boa tarde, quero contratar a fibra")",
                      R"("secretEncryptedMessage": {"targetMessageKey": {"id": "3EB0ORIGINAL"},
                          "encPayload": "AAAA", "encIv": "BBBB", "secretEncType": "MESSAGE_EDIT"})");
  body = replace(body, R"("messageType": "conversation")",
                 R"("messageType": "secretEncryptedMessage")");
  const auto b = evolution(body);
  CHECK(b.items.empty());
  CHECK(b.rejected.empty());
  CHECK(b.ignored == 1);
}

TEST_CASE("evolution message edits (a protocolMessage inside editedMessage) are not new messages") {
  SECTION("editedMessage.message.protocolMessage is ignored, not an unsupported message") {
    const auto b = evo("evo_edited_message.json");
    CHECK(b.items.empty());
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
  }
  SECTION("also inside another wrapper (a disappearing-messages chat)") {
    const std::string body = R"({"event":"messages.upsert","instance":"lia-vendas","data":{
      "key":{"remoteJid":"5511987654321@s.whatsapp.net","fromMe":false,"id":"3EB0EDIT3"},
      "messageType":"ephemeralMessage","messageTimestamp":1795265660,
      "message":{"messageContextInfo":{},"ephemeralMessage":{"message":{"editedMessage":{
        "message":{"protocolMessage":{"key":{"id":"3EB0C767D097B7C0A3E4"},"type":"MESSAGE_EDIT",
          "editedMessage":{"extendedTextMessage":{"text":"texto novo"}}}}}}}}}})";
    const auto b = evolution(body);
    CHECK(b.items.empty());
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
  }
  SECTION("the message beside it in the same webhook is still published") {
    // Both items in one webhook's data array, the edit first.
    const auto edit = fixture("evo_edited_message.json");
    const auto text = fixture("evo_conversation.json");
    const auto data_start = [](const std::string& doc) { return doc.find(R"("data": )") + 8; };
    const auto data_end = [](const std::string& doc) {
      return doc.find(R"(,
  "destination")");
    };
    const auto data = [&](const std::string& doc) {
      return doc.substr(data_start(doc), data_end(doc) - data_start(doc));
    };
    const std::string body = text.substr(0, data_start(text)) + "[" + data(edit) + "," +
                             data(text) + "]" + text.substr(data_end(text));
    const auto b = evolution(body);
    REQUIRE(b.items.size() == 1);
    CHECK(b.ignored == 1);
    CHECK(str(data_of(b.items[0]), {"message_id"}) == "3EB0C767D097B7C0A3E4");
    CHECK(b.items[0].detail == "text");
  }
}

TEST_CASE(
    "evolution send.message: a message sent from the instance is from_me, from the instance's "
    "number") {
  const auto b = evo("evo_send_message.json");
  CHECK(b.event == "send.message");
  const auto d = only(b);
  CHECK(at(d, {"from_me"}).IsTrue());
  CHECK(at(d, {"via_api"}).IsTrue());  // an echo of a send through Evolution's API
  CHECK(str(d, {"chat_id"}) == "5511987654321@s.whatsapp.net");
  CHECK(str(d, {"from"}) == "551140028922");  // the business number (`sender`)
  CHECK(str(d, {"text"}) == "Olá Maria, sua visita técnica está confirmada para amanhã.");
  CHECK(b.items[0].key == "lia-vendas:5511987654321@s.whatsapp.net");

  SECTION("messages.upsert with key.fromMe (an agent typing on the phone) is from_me too") {
    auto body =
        replace(fixture("evo_conversation.json"), R"("fromMe": false)", R"("fromMe": true)");
    const auto e = only(evolution(body));
    CHECK(at(e, {"from_me"}).IsTrue());
    CHECK_FALSE(e.HasMember("via_api"));  // written on the phone, not sent through the API
    CHECK(str(e, {"from"}) == "551140028922");
  }
  SECTION("without the instance's number it can't say who sent it") {
    auto body = replace(fixture("evo_send_message.json"),
                        R"("sender": "551140028922@s.whatsapp.net")", R"("sender": null)");
    const auto e = evolution(body);
    CHECK(e.items.empty());
    REQUIRE(e.rejected.size() == 1);
    CHECK(e.rejected[0].reason.find("'sender'") != std::string::npos);
    CHECK(e.rejected[0].reason.find("LIA_EVOLUTION_INSTANCE_NUMBERS") != std::string::npos);
  }
}

TEST_CASE(
    "evolution over the Cloud API sends no `sender`: a from_me message takes the instance's "
    "configured number") {
  // Evolution fills `sender` from its WhatsApp session (Baileys); a WHATSAPP-BUSINESS instance
  // has none, so its webhooks leave the field out.
  const auto body = fixture("evo_cloud_send_message.json");
  auto normalize = [&](const std::string& b, const lia::ingestion::InstanceNumbers& numbers) {
    auto r = lia::ingestion::normalize_evolution(b, "", test_clock(), numbers);
    REQUIRE(r.ok());
    return *r;
  };
  SECTION("configured: published, from the instance's number") {
    const auto b =
        normalize(body, {{"lia-cloud", "551140028922"}, {"lia-vendas", "5511930001111"}});
    const auto d = only(b);
    CHECK(at(d, {"from_me"}).IsTrue());
    CHECK(at(d, {"via_api"}).IsTrue());
    CHECK(str(d, {"from"}) == "551140028922");
    CHECK(str(d, {"chat_id"}) == "5511987654321@s.whatsapp.net");
    CHECK(str(d, {"text"}) == "Seu pedido saiu para entrega.");
  }
  SECTION("a number written on the phone (messages.upsert, fromMe) the same") {
    auto upsert = replace(body, R"("event": "send.message")", R"("event": "messages.upsert")");
    const auto d = only(normalize(upsert, {{"lia-cloud", "551140028922"}}));
    CHECK(str(d, {"from"}) == "551140028922");
    CHECK_FALSE(d.HasMember("via_api"));
  }
  SECTION("the body's `sender`, when there is one, wins") {
    auto with_sender =
        replace(body, R"("date_time")", R"("sender": "5511940028922@s.whatsapp.net", "date_time")");
    const auto d = only(normalize(with_sender, {{"lia-cloud", "551140028922"}}));
    CHECK(str(d, {"from"}) == "5511940028922");
  }
  SECTION("another instance's number is not this one's: rejected, naming the setting") {
    const auto b = normalize(body, {{"lia-vendas", "551140028922"}});
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::bad_item);
    CHECK(b.rejected[0].reason.find("LIA_EVOLUTION_INSTANCE_NUMBERS") != std::string::npos);
  }
  SECTION("the configured number also keeps an @lid alternative naming it from being the chat") {
    auto lid = replace(replace(body, R"("remoteJid": "5511987654321@s.whatsapp.net")",
                               R"("remoteJid": "103899771998284@lid", )"
                               R"("remoteJidAlt": "551140028922@s.whatsapp.net")"),
                       R"("event": "send.message")", R"("event": "messages.upsert")");
    const auto b = normalize(lid, {{"lia-cloud", "551140028922"}});
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::lid_unresolved);
  }
  SECTION("a customer's message needs no number of the instance") {
    auto inbound =
        replace(replace(body, R"("event": "send.message")", R"("event": "messages.upsert")"),
                R"("fromMe": true)", R"("fromMe": false)");
    CHECK(str(only(normalize(inbound, {})), {"from"}) == "5511987654321");
  }
}

TEST_CASE("LIA_EVOLUTION_INSTANCE_NUMBERS: instance=number pairs, each number a phone") {
  using lia::ingestion::parse_instance_numbers;
  auto ok = parse_instance_numbers(" lia-cloud = +55 11 4002-8922 ");
  CHECK_FALSE(ok.ok());  // digits only: a number written with spaces or dashes is refused
  ok = parse_instance_numbers(" lia-cloud = +551140028922 , lia-sp=5511987654321");
  REQUIRE(ok.ok());
  CHECK(ok->size() == 2);
  CHECK(ok->at("lia-cloud") == "551140028922");
  CHECK(ok->at("lia-sp") == "5511987654321");
  // A Brazilian mobile without its ninth digit gets it, as every number in the events does.
  CHECK(parse_instance_numbers("a=551187654321")->at("a") == "5511987654321");
  CHECK(parse_instance_numbers("")->empty());
  CHECK(parse_instance_numbers("  ")->empty());
  for (const char* bad :
       {"lia-cloud", "=551140028922", "lia-cloud=", "a=5511,b=551140028922", "a=551140028922,",
        "a=55114002892x", "a=551140028922,a=551140028923",
        "a=1140028922",            // a Brazilian number without its country code
        "a=12345678",              // no country code at all
        "551140028922=lia-cloud",  // the pair written backwards
        "5511955551234=12"}) {     // an instance named after its number, a bad number
    INFO(bad);
    auto r = parse_instance_numbers(bad);
    REQUIRE_FALSE(r.ok());
    // Which entry, never a number (an instance may be named after its own).
    CHECK(r.error().message().find("entry") != std::string::npos);
    CHECK(r.error().message().find("1140028") == std::string::npos);
    CHECK(r.error().message().find("55551234") == std::string::npos);
  }
}

TEST_CASE(
    "evolution @lid chats resolve through remoteJidAlt or senderPn, without them the message is "
    "rejected") {
  SECTION("remoteJidAlt") {
    const auto b = evo("evo_lid_alt.json");
    const auto d = only(b);
    CHECK(str(d, {"chat_id"}) == "5511976543210@s.whatsapp.net");
    CHECK(str(d, {"from"}) == "5511976543210");
    CHECK(b.items[0].key == "lia-vendas:5511976543210@s.whatsapp.net");
  }
  SECTION("senderPn (Evolution before 2.3.6)") {
    const auto d = only(evo("evo_lid_senderpn.json"));
    CHECK(str(d, {"chat_id"}) == "5521987651234@s.whatsapp.net");
    CHECK(str(d, {"from"}) == "5521987651234");
  }
  SECTION("no alternative: rejected with a clear reason, nothing published") {
    const auto b = evo("evo_lid_unresolved.json");
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::lid_unresolved);
    CHECK(b.rejected[0].provider_message_id == "3EB0LID0000000000003");
    CHECK(b.rejected[0].reason.find("@lid") != std::string::npos);
    CHECK(b.rejected[0].reason.find("13718") == std::string::npos);  // no ids of people
  }
  SECTION("a companion device's @lid, cut short to a bare number, resolves the same way") {
    // Evolution cuts "103899771998284:7@lid" to "103899771998284" before its @lid swap, so
    // the swap does not happen and remoteJidAlt holds the phone.
    auto body = replace(fixture("evo_lid_alt.json"), R"("remoteJid": "103899771998284@lid")",
                        R"("remoteJid": "103899771998284")");
    const auto d = only(evolution(body));
    CHECK(str(d, {"chat_id"}) == "5511976543210@s.whatsapp.net");
    CHECK(str(d, {"from"}) == "5511976543210");
    // Without the alternative it can't be a phone (15 digits): refused, not sent to a number
    // that does not exist.
    const auto lone =
        evolution(replace(body, R"("remoteJidAlt": "5511976543210@s.whatsapp.net",)", ""));
    CHECK(lone.items.empty());
    REQUIRE(lone.rejected.size() == 1);
    CHECK(lone.rejected[0].code == RejectCode::lid_unresolved);
    CHECK(lone.rejected[0].reason.find("bare number") != std::string::npos);
    // A bare phone stays that phone, whatever the alternative says (the chat's @lid, or
    // another number: a fork's senderPn of the business's own).
    auto phone = replace(fixture("evo_lid_alt.json"), R"("remoteJid": "103899771998284@lid")",
                         R"("remoteJid": "5511976543210")");
    for (const std::string alt : {"103899771998284@lid", "5521987651234@s.whatsapp.net"}) {
      INFO(alt);
      const auto with_alt = replace(phone, R"("remoteJidAlt": "5511976543210@s.whatsapp.net")",
                                    R"("remoteJidAlt": ")" + alt + R"(")");
      CHECK(str(only(evolution(with_alt)), {"chat_id"}) == "5511976543210@s.whatsapp.net");
    }
  }
  SECTION("an alternative naming the instance's own number is not the chat") {
    // Written on the business phone: Baileys takes remoteJidAlt from the stanza's sender_pn
    // first, and the sender is the business itself.
    const auto mine =
        replace(fixture("evo_lid_alt.json"), R"("fromMe": false)", R"("fromMe": true)");
    CHECK(str(only(evolution(mine)), {"chat_id"}) == "5511976543210@s.whatsapp.net");
    const auto own_alt = replace(mine, R"("remoteJidAlt": "5511976543210@s.whatsapp.net")",
                                 R"("remoteJidAlt": "551140028922@s.whatsapp.net")");
    const auto b = evolution(own_alt);
    CHECK(b.items.empty());  // not a conversation of the business with itself
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::lid_unresolved);
    // The next alternative still counts.
    const auto with_pn =
        replace(own_alt, R"("addressingMode": "lid")",
                R"("addressingMode": "lid", "senderPn": "5511976543210@s.whatsapp.net")");
    CHECK(str(only(evolution(with_pn)), {"chat_id"}) == "5511976543210@s.whatsapp.net");
  }
  SECTION("the business's chat with itself is no customer's conversation") {
    // "Message yourself", or an alternative naming the business that Evolution swapped in.
    const auto self = replace(
        replace(fixture("evo_lid_alt.json"), R"("fromMe": false)", R"("fromMe": true)"),
        R"("remoteJid": "103899771998284@lid")", R"("remoteJid": "551140028922@s.whatsapp.net")");
    const auto b = evolution(self);
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::other_chat);
    CHECK(b.rejected[0].reason.find("own number") != std::string::npos);
    CHECK(b.rejected[0].reason.find("1140028") == std::string::npos);
  }
  SECTION("a status keeps its @lid chat rather than take the business's own number") {
    auto body =
        replace(fixture("evo_update_v2.json"), R"("remoteJid": "5511987654321@s.whatsapp.net")",
                R"("remoteJid": "13718@lid", "remoteJidAlt": "551140028922@s.whatsapp.net")");
    const auto d = only(evolution(body), ItemKind::status);
    CHECK(str(d, {"chat_id"}) == "13718@lid");
  }
  SECTION("a status of an unresolved @lid chat keeps the tick, keyed by the @lid JID") {
    auto body =
        replace(fixture("evo_update_v2.json"), R"("remoteJid": "5511987654321@s.whatsapp.net")",
                R"("remoteJid": "13718@lid")");
    const auto b = evolution(body);
    const auto d = only(b, ItemKind::status);
    CHECK(str(d, {"chat_id"}) == "13718@lid");
  }
}

TEST_CASE("evolution statuses: a bare number that can't be a phone is a @lid cut short") {
  // Evolution's messages.update cuts a JID at its first ':': a companion device's
  // "103899771998284:7@lid" arrives as "103899771998284".
  auto status_of = [](const std::string& remote) {
    auto body =
        replace(fixture("evo_update_v2.json"), R"("remoteJid": "5511987654321@s.whatsapp.net")",
                "\"remoteJid\": \"" + remote + "\"");
    const auto b = evolution(body);
    const auto d = only(b, ItemKind::status);
    CHECK(b.items[0].key == "lia-vendas:" + str(d, {"chat_id"}));
    return str(d, {"chat_id"});
  };
  SECTION("a 15-digit number starting with 1 (North America has 11 digits) is a @lid") {
    CHECK(status_of("103899771998284") == "103899771998284@lid");
  }
  SECTION("so is any other of 15 digits: hardly any mobile line is numbered that long") {
    CHECK(status_of("204987654321098") == "204987654321098@lid");
  }
  SECTION("too short for a phone, or a Brazilian number that can't exist") {
    CHECK(status_of("13718") == "13718@lid");
    CHECK(status_of("5520987654321") == "5520987654321@lid");  // DDD 20 doesn't exist
    CHECK(status_of("79012345678901") == "79012345678901@lid");
  }
  SECTION("bare phones (Evolution v1, or a device JID cut short) stay phone chats") {
    CHECK(status_of("5511987654321") == "5511987654321@s.whatsapp.net");
    CHECK(status_of("14155552671") == "14155552671@s.whatsapp.net");
    CHECK(status_of("79161234567") == "79161234567@s.whatsapp.net");
    CHECK(status_of("6591234567") == "6591234567@s.whatsapp.net");
  }
  SECTION("a cut-short @lid still resolves through remoteJidAlt") {
    auto body =
        replace(fixture("evo_update_v2.json"), R"("remoteJid": "5511987654321@s.whatsapp.net")",
                R"("remoteJid": "103899771998284",
    "remoteJidAlt": "5511976543210@s.whatsapp.net")");
    const auto d = only(evolution(body), ItemKind::status);
    CHECK(str(d, {"chat_id"}) == "5511976543210@s.whatsapp.net");
  }
}

TEST_CASE(
    "evolution group chats are rejected, Status posts and channels ignored, the rest goes on") {
  const auto g = evo("evo_group.json");
  CHECK(g.items.empty());
  REQUIRE(g.rejected.size() == 1);
  CHECK(g.rejected[0].code == RejectCode::group_chat);

  // A batch (data as an array) with a status broadcast and a normal message.
  auto doc = fixture("evo_conversation.json");
  const auto start = doc.find(R"("data": )") + 8;
  const auto end = doc.find(R"(,
  "destination")");
  const std::string data = doc.substr(start, end - start);
  std::string broadcast = replace(data, "5511987654321@s.whatsapp.net", "status@broadcast");
  broadcast = replace(broadcast, "3EB0C767D097B7C0A3E4", "3EB0BCAST00000000001");
  const std::string body =
      doc.substr(0, start) + "[" + broadcast + "," + data + "]" + doc.substr(end);
  const auto b = evolution(body);
  REQUIRE(b.items.size() == 1);
  CHECK(b.rejected.empty());  // a contact's Status post: routine, not a problem to count
  CHECK(b.ignored == 1);
  CHECK(str(data_of(b.items[0]), {"message_id"}) == "3EB0C767D097B7C0A3E4");

  // A channel's post, and a tick of a Status post: ignored the same way.
  const auto channel =
      evolution(replace(fixture("evo_conversation.json"), "5511987654321@s.whatsapp.net",
                        "120363025246125486@newsletter"));
  CHECK(channel.items.empty());
  CHECK(channel.rejected.empty());
  CHECK(channel.ignored == 1);
  const auto tick = evolution(
      replace(fixture("evo_update_v2.json"), "5511987654321@s.whatsapp.net", "status@broadcast"));
  CHECK(tick.items.empty());
  CHECK(tick.rejected.empty());
  CHECK(tick.ignored == 1);
  // Any other server is still a rejection, named.
  const auto odd = evolution(replace(fixture("evo_conversation.json"),
                                     "5511987654321@s.whatsapp.net", "5511987654321@x.y"));
  REQUIRE(odd.rejected.size() == 1);
  CHECK(odd.rejected[0].code == RejectCode::other_chat);
}

TEST_CASE("evolution: JIDs are canonical (device suffix and @c.us) so one chat has one key") {
  auto body = replace(fixture("evo_conversation.json"), "5511987654321@s.whatsapp.net",
                      "5511987654321:23@c.us");
  const auto b = evolution(body);
  CHECK(b.items.at(0).key == "lia-vendas:5511987654321@s.whatsapp.net");
  CHECK(str(data_of(b.items[0]), {"chat_id"}) == "5511987654321@s.whatsapp.net");
}

// ---- Evolution statuses and connection ----------------------------------------------------

TEST_CASE("evolution messages.update: v2 names, v1 numbers, Cloud names") {
  SECTION("v2: keyId and DELIVERY_ACK") {
    const auto b = evo("evo_update_v2.json");
    const auto d = only(b, ItemKind::status);
    CHECK(str(d, {"status"}) == "DELIVERY_ACK");
    CHECK(str(d, {"message_id"}) == "BAE5F2C6A1D3E4B7");
    CHECK(str(d, {"chat_id"}) == "5511987654321@s.whatsapp.net");
    CHECK(str(d, {"timestamp"}) == "2026-11-18T11:06:40.000Z");  // no time of its own: the receipt
    CHECK(b.items[0].key == "lia-vendas:5511987654321@s.whatsapp.net");
    CHECK(b.items[0].type == lia::events::types::whatsapp_message_status);
  }
  SECTION(
      "v1: the key spread, a numeric status and datetime in ms; the event from MESSAGES_UPDATE") {
    const auto b = evo("evo_update_v1.json");
    CHECK(b.event == "messages.update");
    const auto d = only(b, ItemKind::status);
    CHECK(str(d, {"status"}) == "READ");
    CHECK(str(d, {"message_id"}) == "BAE5F2C6A1D3E4B7");
    CHECK(str(d, {"timestamp"}) == "2026-11-21T12:55:20.123Z");
  }
  SECTION("Evolution over the Cloud API: FAILED is ERROR with a reason") {
    const auto d = only(evo("evo_update_cloud.json"), ItemKind::status);
    CHECK(str(d, {"status"}) == "ERROR");
    CHECK(!str(d, {"error", "reason"}).empty());
    CHECK(str(d, {"message_id"}) ==
          "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjZFRDQ0QTg1MjhBNzdCN0Q5RQA=");
    CHECK(str(d, {"timestamp"}) == "2026-11-18T11:06:40.000Z");  // no time of its own
  }
  SECTION("Evolution over the Cloud API: its ticks say fromMe false, and are ours") {
    for (const auto& [given, want] : std::vector<std::pair<std::string, std::string>>{
             {"SENT", "SERVER_ACK"}, {"DELIVERED", "DELIVERY_ACK"}, {"READ", "READ"}}) {
      auto body = replace(fixture("evo_update_cloud.json"), R"("status": "FAILED")",
                          R"("status": ")" + given + "\"");
      const auto b = evolution(body);
      CHECK(b.ignored == 0);
      CHECK(str(only(b, ItemKind::status), {"status"}) == want);
    }
  }
  SECTION("every numeric code 0..5") {
    const char* expected[] = {"ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "READ"};
    for (int code = 0; code <= 5; ++code) {
      auto body = replace(fixture("evo_update_v1.json"), R"("status": 4)",
                          "\"status\": " + std::to_string(code));
      CHECK(str(only(evolution(body), ItemKind::status), {"status"}) == expected[code]);
    }
  }
  SECTION("every name, Baileys' and the Cloud API's") {
    const std::vector<std::pair<std::string, std::string>> names = {
        {"PENDING", "PENDING"},
        {"SERVER_ACK", "SERVER_ACK"},
        {"DELIVERY_ACK", "DELIVERY_ACK"},
        {"READ", "READ"},
        {"PLAYED", "READ"},
        {"ERROR", "ERROR"},
        {"SENT", "SERVER_ACK"},
        {"DELIVERED", "DELIVERY_ACK"},
        {"FAILED", "ERROR"},
        {"3", "DELIVERY_ACK"}};
    for (const auto& [given, want] : names) {
      auto body = replace(fixture("evo_update_v2.json"), R"("status": "DELIVERY_ACK")",
                          "\"status\": \"" + given + "\"");
      INFO(given);
      CHECK(str(only(evolution(body), ItemKind::status), {"status"}) == want);
    }
  }
  SECTION("raw Baileys shape: key and update.status") {
    const std::string body =
        R"({"event":"messages.update","instance":"lia-vendas","data":[{"key":{"remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"id":"BAE5F2C6A1D3E4B7"},"update":{"status":2}}]})";
    CHECK(str(only(evolution(body), ItemKind::status), {"status"}) == "SERVER_ACK");
  }
  SECTION("our read receipt of a customer's message is not a tick of ours") {
    const auto b = evo("evo_update_incoming_read.json");
    CHECK(b.items.empty());
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
  }
  SECTION("a deleted message carries no tick; an unknown status is rejected") {
    auto deleted = replace(fixture("evo_update_v2.json"), R"("status": "DELIVERY_ACK")",
                           R"("status": "DELETED")");
    CHECK(evolution(deleted).ignored == 1);
    auto odd = replace(fixture("evo_update_v2.json"), R"("status": "DELIVERY_ACK")",
                       R"("status": "SEEN_TWICE")");
    const auto b = evolution(odd);
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].code == RejectCode::unknown_status);
  }
}

TEST_CASE("evolution connection.update: open, connecting, close") {
  const auto open = evo("evo_connection_open.json");
  const auto d = only(open, ItemKind::connection);
  CHECK(open.items[0].type == lia::events::types::whatsapp_connection_updated);
  CHECK(open.items[0].key == "lia-vendas");  // a whole number: the instance alone
  CHECK(str(d, {"state"}) == "CONNECTED");
  CHECK(str(d, {"timestamp"}) == "2026-11-18T11:06:40.000Z");  // the receipt (the test clock)

  const auto close = evo("evo_connection_close.json");
  const auto c = only(close, ItemKind::connection);
  CHECK(str(c, {"state"}) == "DISCONNECTED");
  CHECK(str(c, {"reason"}).find("428") != std::string::npos);

  auto connecting = replace(fixture("evo_connection_open.json"), R"("state": "open")",
                            R"("state": "connecting")");
  CHECK(str(only(evolution(connecting), ItemKind::connection), {"state"}) == "CONNECTING");
  auto refused =
      replace(fixture("evo_connection_open.json"), R"("state": "open")", R"("state": "refused")");
  CHECK(str(only(evolution(refused), ItemKind::connection), {"state"}) == "DISCONNECTED");
  auto odd =
      replace(fixture("evo_connection_open.json"), R"("state": "open")", R"("state": "melted")");
  const auto b = evolution(odd);
  REQUIRE(b.rejected.size() == 1);
  CHECK(b.rejected[0].code == RejectCode::unknown_state);
  // A redelivery of the same update has the same id.
  CHECK(evo("evo_connection_open.json").items[0].event_id == open.items[0].event_id);
  CHECK(open.items[0].event_id != close.items[0].event_id);
}

TEST_CASE("evolution: webhook-by-events takes the event from the path, the body's wins") {
  auto body = replace(fixture("evo_conversation.json"), R"("event": "messages.upsert",)", "");
  const auto b = evolution(body, "messages-upsert");
  CHECK(b.event == "messages.upsert");
  CHECK(b.items.size() == 1);
  const auto c = evolution(fixture("evo_conversation.json"), "connection-update");
  CHECK(c.event == "messages.upsert");
  CHECK(lia::ingestion::canonical_evolution_event("MESSAGES_UPSERT") == "messages.upsert");
  CHECK(lia::ingestion::canonical_evolution_event("send-message") == "send.message");
}

TEST_CASE("evolution: an event we don't publish is valid and carries nothing") {
  const auto b = evo("evo_contacts_update.json");
  CHECK(b.event == "contacts.update");
  CHECK(b.items.empty());
  CHECK(b.rejected.empty());
  CHECK(b.ignored == 1);
}

TEST_CASE("evolution: bodies that are not a webhook are errors naming the field") {
  auto err = [](const std::string& body) {
    auto b = lia::ingestion::normalize_evolution(body, "", test_clock());
    REQUIRE(!b.ok());
    return b.error().message();
  };
  CHECK(err("{\"event\":").find("invalid JSON") != std::string::npos);
  CHECK(err(R"({"instance":"x","data":{}})").find("'event'") != std::string::npos);
  CHECK(err(R"({"event":"messages.upsert","data":{}})").find("'instance'") != std::string::npos);
  CHECK(err(R"({"event":"messages.upsert","instance":"x","data":"?"})").find("'data'") !=
        std::string::npos);
}

TEST_CASE("evolution: the body's apikey is read without building the document") {
  using lia::ingestion::evolution_body_apikey;
  // Evolution writes it last, after the whole event (an inline file's base64 included).
  CHECK(evolution_body_apikey(
            R"({"event":"messages.upsert","data":{"apikey":"inner","x":[{"apikey":"deeper"}]},)"
            R"("apikey":"k1"})") == "k1");
  CHECK(evolution_body_apikey(R"({"apikey":"first","apikey":"second"})") == "first");
  CHECK(evolution_body_apikey(R"({"apikey":{"v":"k1"},"other":"k1"})") == std::nullopt);
  CHECK(evolution_body_apikey(R"({"apikey":7})") == std::nullopt);
  CHECK(evolution_body_apikey(R"({"apikey":-0e-32,"x":0.5})") == std::nullopt);
  CHECK(evolution_body_apikey(R"({"data":{"apikey":"inner"}})") == std::nullopt);
  CHECK(evolution_body_apikey(R"([{"apikey":"k1"}])") == std::nullopt);
  CHECK(evolution_body_apikey(R"({"apikey":"k1",)") == std::nullopt);  // not JSON: no key
  CHECK(evolution_body_apikey("") == std::nullopt);
  // What a parse would keep, escapes and all.
  CHECK(evolution_body_apikey(R"({"apikey":"a\u00e7\"b"})") == "a\xc3\xa7\"b");
  // A text cut in the middle of an emoji does not hide the key; hostile nesting stops the scan
  // at the depth the full parse refuses (its stack would grow with it).
  CHECK(evolution_body_apikey(R"({"data":{"text":"Oi \ud83d"},"apikey":"k1"})") == "k1");
  const auto nested = [](std::size_t arrays) {
    return R"({"apikey":"k1","x":)" + std::string(arrays, '[') + std::string(arrays, ']') + "}";
  };
  CHECK(evolution_body_apikey(nested(127)) == "k1");  // 128 levels with the root
  CHECK(lia::json::parse_unchecked(nested(127)).ok());
  CHECK(evolution_body_apikey(nested(128)) == std::nullopt);
  CHECK_FALSE(lia::json::parse_unchecked(nested(128)).ok());
}

TEST_CASE("evolution: a high surrogate without its low half is one U+FFFD, not a lost POST") {
  // JavaScript's JSON.stringify writes a text cut inside an emoji this way.
  auto body =
      replace(fixture("evo_conversation.json"), "Boa tarde, quero contratar a fibra", "Oi \\ud83d");
  CHECK(str(only(evolution(body)), {"text"}) == "Oi \xEF\xBF\xBD");
}

TEST_CASE("evolution over the Cloud API: a system message, an edit or a revoke is no message") {
  // Evolution names a Cloud message without text after Meta's type, its messageType then
  // "conversation"; a change of number comes from the old number.
  const std::string text = R"("conversation": "Boa tarde, quero contratar a fibra")";
  for (const char* content :
       {R"("systemMessage": {"body": "User A changed from 5511987654321 to 5511912345678",
           "wa_id": "5511912345678", "type": "user_changed_number"})",
        R"("editMessage": {"original_message_id": "wamid.OLD", "text": {"body": "novo"}})",
        R"("revokeMessage": {"original_message_id": "wamid.OLD"})"}) {
    INFO(content);
    auto body = replace(fixture("evo_conversation.json"), text, content);
    body = replace(body, R"("id": "3EB0C767D097B7C0A3E4")", R"("id": "wamid.HBgNNTUxMTk4NzY1")");
    const auto b = evolution(body);
    CHECK(b.items.empty());
    CHECK(b.rejected.empty());
    CHECK(b.ignored == 1);
  }
}

TEST_CASE("evolution over the Cloud API: an interactive reply without a title is unsupported") {
  // A Flow's reply (nfm_reply) has no title for Evolution to put in `conversation`: it comes
  // empty but for its context. A Cloud message has no decryption retry to wait for.
  auto body = replace(fixture("evo_conversation.json"),
                      R"("conversation": "Boa tarde, quero contratar a fibra",)",
                      R"("contextInfo": {"stanzaId": "wamid.FLOW"},)");
  body =
      replace(body, R"("messageType": "conversation")", R"("messageType": "interactiveMessage")");
  const auto baileys = evolution(body);  // a Baileys id: not decrypted yet, as before
  CHECK(baileys.items.empty());
  CHECK(baileys.ignored == 1);
  body = replace(body, R"("id": "3EB0C767D097B7C0A3E4")", R"("id": "wamid.HBgNNTUxMTk4NzY1")");
  const auto d = only(evolution(body));
  CHECK(str(d, {"kind"}) == "unsupported");
  CHECK(str(d, {"unsupported", "type"}) == "interactiveMessage");
  CHECK(str(d, {"message_id"}) == "wamid.HBgNNTUxMTk4NzY1");
  CHECK(str(d, {"context", "message_id"}) == "wamid.FLOW");
}

TEST_CASE("evolution over the Cloud API: a sticker's animated flag is Meta's field") {
  auto body = replace(fixture("evo_sticker.json"), R"("isAnimated": true)", R"("animated": true)");
  CHECK(at(only(evolution(body)), {"media", "animated"}).GetBool());
  CHECK(at(only(evo("evo_sticker.json")), {"media", "animated"}).GetBool());
}

TEST_CASE("evolution: an item without its key is rejected alone, naming the field") {
  const std::string body =
      R"({"event":"messages.upsert","instance":"lia-vendas","data":[{"message":{"conversation":"x"}},{"key":{"remoteJid":"5511987654321@s.whatsapp.net","id":"A1"},"message":{"conversation":"ok"},"messageTimestamp":1795265600}]})";
  const auto b = evolution(body);
  REQUIRE(b.items.size() == 1);
  REQUIRE(b.rejected.size() == 1);
  CHECK(b.rejected[0].reason == "field 'data[0].key' must be an object");
}

// ---- ids ----------------------------------------------------------------------------------

TEST_CASE("event ids are deterministic name-based UUIDs (version 8, RFC 9562 variant)") {
  using lia::ingestion::message_event_id;
  using lia::ingestion::status_event_id;
  const auto a = message_event_id(Provider::meta, "106540352242922", "wamid.X");
  CHECK(is_uuid_v8(a));
  CHECK(a == message_event_id(Provider::meta, "106540352242922", "wamid.X"));
  CHECK(a != message_event_id(Provider::evolution, "106540352242922", "wamid.X"));
  CHECK(a != message_event_id(Provider::meta, "106540352242923", "wamid.X"));
  CHECK(a != message_event_id(Provider::meta, "106540352242922", "wamid.Y"));
  // Parts can't shift into each other.
  CHECK(message_event_id(Provider::meta, "ab", "c") != message_event_id(Provider::meta, "a", "bc"));
  const auto s = status_event_id(Provider::meta, "106540352242922", "wamid.X", "READ");
  CHECK(is_uuid_v8(s));
  CHECK(s != a);
  CHECK(s != status_event_id(Provider::meta, "106540352242922", "wamid.X", "DELIVERY_ACK"));
  CHECK(s == status_event_id(Provider::meta, "106540352242922", "wamid.X", "READ"));
  // Pinned: an id that changed across a release would let a webhook redelivered over the
  // upgrade through the inbox a second time.
  CHECK(a == "753c39c1-7436-840b-9c6e-836a3db866b7");
  CHECK(s == "c625d450-9d07-84cd-aa7c-19983a4643da");
  CHECK(message_event_id(Provider::evolution, "lia-vendas", "3EB0C431C26A1916E07E") ==
        "83d71366-7199-8ff7-8324-69bf163b07a5");
  // A redelivered webhook normalizes to the same ids.
  CHECK(meta("meta_multi.json").items[2].event_id == meta("meta_multi.json").items[2].event_id);
  CHECK(evo("evo_image.json").items[0].event_id ==
        message_event_id(Provider::evolution, "lia-vendas", "3EB0IMG0000000000001"));
}

// ---- schema limits ------------------------------------------------------------------------

TEST_CASE("values past the schemas' limits are cut, dropped or rejected: never an invalid event") {
  const std::string long_text(70'000, 'a');
  SECTION("a text longer than 65536 characters is rejected") {
    auto body = replace(fixture("meta_text.json"), "Oi, minha internet caiu desde ontem à noite 😞",
                        long_text);
    const auto b = meta_body(body);
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].reason.find("65536") != std::string::npos);
  }
  SECTION("bytes that are not UTF-8 count: each is written out as one U+FFFD") {
    // 65,000 letters and 1,000 stray continuation bytes: 66,000 characters once written.
    auto body = replace(fixture("evo_conversation.json"), "Boa tarde, quero contratar a fibra",
                        std::string(65'000, 'a') + std::string(1'000, '\x80'));
    const auto b = evolution(body);
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].reason.find("65536") != std::string::npos);
  }
  SECTION("65536 multi-byte characters still fit") {
    std::string text;
    for (int i = 0; i < 65536; ++i) text += "é";
    auto body =
        replace(fixture("evo_conversation.json"), "Boa tarde, quero contratar a fibra", text);
    (void)only(evolution(body));
  }
  SECTION("free text is cut: caption, file name, push name, location name") {
    std::string caption;
    for (int i = 0; i < 3000; ++i) caption += "ção";  // 9000 bytes, 9000 characters
    auto body = replace(fixture("meta_document.json"), R"("caption": "segunda via")",
                        "\"caption\": \"" + caption + "\"");
    body = replace(body, "fatura-outubro.pdf", std::string(600, 'f'));
    body = replace(body, R"("name": "Maria Silva")", "\"name\": \"" + std::string(300, 'M') + "\"");
    const auto d = only(meta_body(body));
    CHECK(str(d, {"media", "caption"}).size() <= 4096);
    CHECK(str(d, {"media", "filename"}).size() == 512);
    CHECK(str(d, {"push_name"}).size() == 256);
    auto loc = replace(fixture("evo_location.json"), "Minha casa", std::string(2000, 'x'));
    CHECK(str(only(evolution(loc)), {"location", "name"}).size() == 1024);
  }
  SECTION("optional identifiers that don't fit are dropped: media url, media id, context") {
    auto body =
        replace(fixture("evo_image.json"),
                "https://mmg.whatsapp.net/o1/v/t62.7118-24/f1/m232/up-oil-image-abc.enc?ccb=9-4",
                "https://x/" + std::string(5000, 'u'));
    const auto d = only(evolution(body));
    CHECK(!has(at(d, {"media"}), "url"));
    CHECK(str(d, {"media", "mime_type"}) == "image/jpeg");
    auto ctx =
        replace(fixture("evo_extended_text.json"), "3EB0A1B2C3D4E5F60718", std::string(300, 'c'));
    CHECK(!has(only(evolution(ctx)), "context"));
  }
  SECTION("a message id, chat or instance that doesn't fit rejects the item or the webhook") {
    auto id =
        replace(fixture("evo_conversation.json"), "3EB0C767D097B7C0A3E4", std::string(300, 'i'));
    const auto b = evolution(id);
    CHECK(b.items.empty());
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].reason.find("'data.key.id'") != std::string::npos);
    auto status = replace(fixture("meta_statuses.json"), R"("recipient_id": "5511987654321")",
                          "\"recipient_id\": \"" + std::string(200, '5') + "\"");
    const auto s = meta_body(status);
    CHECK(s.items.size() == 3);
    CHECK(s.rejected.size() == 1);
    auto instance = replace(fixture("evo_conversation.json"), R"("instance": "lia-vendas")",
                            "\"instance\": \"" + std::string(200, 'n') + "\"");
    auto e = lia::ingestion::normalize_evolution(instance, "", test_clock());
    REQUIRE(!e.ok());
    CHECK(e.error().message().find("'instance'") != std::string::npos);
  }
  SECTION("a location off the globe is rejected") {
    auto body = replace(fixture("evo_location.json"), "-43.1729", "-193.1729");
    const auto b = evolution(body);
    REQUIRE(b.rejected.size() == 1);
    CHECK(b.rejected[0].reason.find("degreesLongitude") != std::string::npos);
  }
  SECTION("an Evolution date_time is never taken for a time: it is local time marked Z") {
    for (const std::string t :
         {"2026-11-22T09:53:24.123Z", "2026-11-22t12:00:00z", "2026-11-22T12:00:00",
          "22/11/2026 12:00", "2026-11-22T12:00:00.1234567891Z"}) {
      auto body = replace(fixture("evo_connection_open.json"), "2026-11-22T09:53:24.123-03:00", t);
      const auto d = only(evolution(body), ItemKind::connection);
      CHECK(str(d, {"timestamp"}) == "2026-11-18T11:06:40.000Z");  // the test clock
    }
  }
  SECTION("a provider time after 2199 never overflows the clock") {
    // Found by scripts/fuzz: seconds past 2262 overflowed the nanoseconds of a time_point.
    const std::string huge = "1795265600795265600";
    for (const std::string& t : {std::string("7258118400"), std::string("17952656002"), huge}) {
      auto meta = replace(fixture("meta_text.json"), "\"1795265600\"", t);
      const auto m = meta_body(meta);
      CHECK(m.items.empty());
      REQUIRE(m.rejected.size() == 1);
      CHECK(m.rejected[0].reason.find("timestamp") != std::string::npos);
    }
    auto last = replace(fixture("meta_text.json"), "\"1795265600\"", "7258118399");
    CHECK(str(only(meta_body(last)), {"timestamp"}) == "2199-12-31T23:59:59.000Z");
    // Evolution falls back to the receipt time, as when the time is missing.
    const std::string receipt = "2026-11-18T11:06:40.000Z";
    for (const std::string& t : {huge, std::string(R"({"low": 1, "high": -1})"),
                                 std::string(R"({"low": 1, "high": 4294967295})")}) {
      auto evo = replace(fixture("evo_conversation.json"), "\"messageTimestamp\": 1795265600",
                         "\"messageTimestamp\": " + t);
      CHECK(str(only(evolution(evo)), {"timestamp"}) == receipt);
    }
    auto status = replace(fixture("evo_update_v1.json"), "1795265720123", "9200000000000000000");
    CHECK(str(only(evolution(status), ItemKind::status), {"timestamp"}) == receipt);
  }
  SECTION("invalid UTF-8 from a provider is replaced, not passed on") {
    auto body = replace(fixture("evo_conversation.json"), "Boa tarde", "Boa \xC3\x28 tarde");
    const auto d = only(evolution(body));
    CHECK(str(d, {"text"}).find("\xC3\x28") == std::string::npos);
  }
}
