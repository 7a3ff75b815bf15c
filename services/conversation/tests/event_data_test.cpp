#include <catch2/catch.hpp>

#include <lia/conversation/event_data.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>

using namespace lia;
using namespace lia::conversation;
namespace types = lia::events::types;

namespace {

void valid(std::string_view type, const std::string& data) {
  INFO(type << " " << data);
  auto st = events::SchemaRegistry::instance().validate(type, 1, data);
  if (!st) FAIL(st.error().message());
}

json::Document doc(const std::string& data) {
  auto d = json::parse(data);
  REQUIRE(d.ok());
  return std::move(*d);
}

ChatRef chat_ref() {
  return {"0190e0a4-7b2c-7def-8123-0123456789ab", "0190e0a4-7b2c-7def-8123-00000000c0de",
          "evolution", "lia-vendas", "5511987654321@s.whatsapp.net"};
}
constexpr const char* kAgent = "0190e0a4-7b2c-7def-8123-0000000a6e01";

}  // namespace

TEST_CASE("contact.upserted data follows its schema and leaves out values it would reject") {
  const auto chat = chat_ref();
  ContactData c;
  c.contact_id = chat.contact_id;
  c.phone = "5511987654321";
  c.push_name = "Maria";
  c.provider = "evolution";
  c.instance = "lia-vendas";
  c.chat_id = chat.chat_id;
  c.created_at = "2026-11-22T12:00:00.000Z";
  c.updated_at = "2026-11-22T12:00:00.000Z";
  valid(types::contact_upserted, contact_upserted_data(c));

  c.document = "123.456.789-09";  // not normalized: left out
  c.state = "sp";                 // not two upper-case letters: left out
  c.cep = "0131010";              // 7 digits: left out
  c.city = "";                    // empty: left out
  c.email = "x";                  // too short: left out
  c.tags = {"vip", ""};
  c.name = std::string(300, 'a');  // cut to 256
  const auto data = contact_upserted_data(c);
  valid(types::contact_upserted, data);
  auto d = doc(data);
  CHECK_FALSE(d.HasMember("document"));
  CHECK_FALSE(d.HasMember("state"));
  CHECK_FALSE(d.HasMember("cep"));
  CHECK_FALSE(d.HasMember("city"));
  CHECK_FALSE(d.HasMember("email"));
  CHECK(d["tags"].Size() == 1);
  CHECK(d["name"].GetStringLength() == 256);

  c.document = "12345678909";
  c.state = "SP";
  c.cep = "01310100";
  c.city = "São Paulo";
  valid(types::contact_upserted, contact_upserted_data(c));
  CHECK(doc(contact_upserted_data(c))["document"] == "12345678909");
}

TEST_CASE("conversation events follow their schemas") {
  const auto chat = chat_ref();
  const std::string agent = kAgent;
  valid(types::conversation_created, conversation_created_data(chat, "ai", "apresentacao"));

  TransferData t;
  t.previous_mode = "ai";
  t.mode = "human";
  t.requested_by = "ai";
  t.reason = "cliente pediu atendente";
  t.department = "support";
  valid(types::conversation_transferred, transferred_data(chat, t));
  t.agent_user_id = agent;
  t.requested_by = "supervisor";
  t.requested_by_user_id = agent;
  t.reason = "";  // an empty reason still gives a valid event
  t.department = "";
  const auto data = transferred_data(chat, t);
  valid(types::conversation_transferred, data);
  CHECK(doc(data)["reason"] == "transferred");
  t.reason = std::string(3000, 'r');
  valid(types::conversation_transferred, transferred_data(chat, t));

  valid(types::conversation_assigned, assigned_data(chat, agent, std::nullopt, std::nullopt));
  valid(types::conversation_assigned, assigned_data(chat, agent, agent, agent));
  valid(types::conversation_unassigned, unassigned_data(chat, agent, "financeiro", agent));
  valid(types::conversation_unassigned, unassigned_data(chat, agent, "suporte", std::nullopt));

  ResolveData r;
  r.resolved_by = "agent";
  r.agent_user_id = agent;
  r.duration_ms = 754000;
  r.message_count = 14;
  const auto resolved = resolved_data(chat, r);
  valid(types::conversation_resolved, resolved);
  CHECK(doc(resolved)["duration_ms"].GetInt64() == 754000);
  CHECK(doc(resolved)["message_count"].GetInt64() == 14);
  r.duration_ms = -5;  // clock skew never produces an invalid event
  r.reason = "resolvido";
  r.agent_user_id.reset();
  r.resolved_by = "supervisor";
  valid(types::conversation_resolved, resolved_data(chat, r));

  valid(types::conversation_reopened, reopened_data(chat, "ai", "customer_message", std::nullopt));
  valid(types::conversation_reopened, reopened_data(chat, "ai", "supervisor", agent));
}

TEST_CASE("message.stored: inbound carries route and provider id, outbound its status") {
  const auto chat = chat_ref();
  const std::string agent = kAgent;
  StoredMessageData in;
  in.chat = chat;
  in.message_id = "0190e0a4-8000-7abc-9def-000000000001";
  in.provider_message_id = "3EB0C767D097B7C0A3E4";
  in.direction = "inbound";
  in.author = "customer";
  in.assistant = "apresentacao";
  in.kind = "text";
  in.text = "Oi";
  in.route = "ai";
  in.timestamp = "2026-11-22T12:53:20Z";
  valid(types::conversation_message_stored, message_stored_data(in));

  in.kind = "image";
  in.text.reset();
  in.media_json = R"({"mime_type":"image/jpeg","caption":"foto"})";
  in.route = "human";
  valid(types::conversation_message_stored, message_stored_data(in));

  in.kind = "location";
  in.media_json.reset();
  in.location_json = R"({"latitude":-23.5,"longitude":-46.6})";
  valid(types::conversation_message_stored, message_stored_data(in));

  StoredMessageData out;
  out.chat = chat;
  out.message_id = "0190e0a4-8000-7abc-9def-000000000002";
  out.direction = "outbound";
  out.author = "agent";
  out.agent_user_id = agent;
  out.kind = "text";
  out.text = "Olá, sou o João";
  out.route = "none";
  out.status = "PENDING";
  out.reply_to_message_id = in.message_id;
  out.timestamp = "2026-11-22T12:53:21.000Z";
  valid(types::conversation_message_stored, message_stored_data(out));
  CHECK(doc(message_stored_data(out))["status"] == "PENDING");  // optional to the schema

  // The schema's own rule: inbound without a route is not a valid event.
  in.route.reset();
  CHECK_FALSE(events::SchemaRegistry::instance().validate(types::conversation_message_stored, 1,
                                                          message_stored_data(in)));
}

TEST_CASE("send_text and user.upserted follow their schemas") {
  const auto chat = chat_ref();
  const std::string agent = kAgent;
  SendTextData s{"0190e0a4-8000-7abc-9def-0000000c0001",
                 "meta",
                 "106540352242922",
                 "5511987654321",
                 chat.conversation_id,
                 "0190e0a4-8000-7abc-9def-000000000002",
                 "Qual é o seu CEP?"};
  valid(types::notification_send_text, send_text_data(s));
  CHECK(doc(send_text_data(s))["to"] == "5511987654321");

  UserData u{agent, "João Lima", "joao@example.com",        "AGENT",
             true,  "support",   "2026-11-01T09:00:00.000Z"};
  valid(types::user_upserted, user_upserted_data(u));
  u.department.reset();
  u.email = email_or_placeholder(std::nullopt, "joao");
  CHECK(u.email == "joao@users.lia.invalid");
  valid(types::user_upserted, user_upserted_data(u));
  u.tokens_valid_from = "2026-11-02T10:00:00.250Z";
  valid(types::user_upserted, user_upserted_data(u));
  CHECK(doc(user_upserted_data(u))["tokens_valid_from"] == "2026-11-02T10:00:00.250Z");
  CHECK(email_or_placeholder(std::string("a@b.c"), "x") == "a@b.c");
}
