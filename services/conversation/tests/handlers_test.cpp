// The consumers against a real PostgreSQL: each test owns a fresh schema.
#include <thread>

#include <lia/kafka/kafka.hpp>
#include <lia/testing/pg.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::conversation;
using namespace lia::conversation::test;

namespace {

std::string conversation_of(World& w, const std::string& phone) {
  auto id = w.text("SELECT id::text FROM " + w.t("conversations") + " WHERE chat_id = '" +
                   jid(phone) + "'");
  REQUIRE(id);
  return *id;
}

std::string column(World& w, const std::string& table, const std::string& col,
                   const std::string& id) {
  auto v = w.text("SELECT " + col + "::text FROM " + w.t(table) + " WHERE id = '" + id + "'");
  return v.value_or("<null>");
}

// The inbound message's stored id, by provider id.
std::string message_of(World& w, const std::string& provider_id) {
  auto id = w.text("SELECT id::text FROM " + w.t("messages") + " WHERE whatsapp_message_id = '" +
                   provider_id + "'");
  REQUIRE(id);
  return *id;
}

// A conversation with one customer message and one AI reply awaiting its send; returns
// {conversation id, reply id, command id}.
struct Replied {
  std::string conversation_id, reply_id, command_id;
};
Replied with_ai_reply(World& w, const std::string& phone) {
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(phone, "IN-" + phone, "Oi")));
  Replied r;
  r.conversation_id = conversation_of(w, phone);
  r.reply_id = core::Uuid::v7().str();
  w.apply(topics::ai_events,
          event(types::ai_reply_generated,
                reply(r.conversation_id, phone, r.reply_id, message_of(w, "IN-" + phone), "Olá!")));
  r.command_id = column(w, "messages", "command_id", r.reply_id);
  return r;
}

// A message written on the business phone, as the provider reports it (from_me); with
// `via_api`, one sent through the provider's send API (Evolution's send.message).
void from_me(World& w, const std::string& phone, const std::string& provider_id,
             const std::string& text, bool via_api = false) {
  std::string echo = received(phone, provider_id, text);
  echo.replace(echo.find("\"from_me\":false"), 15,
               via_api ? "\"from_me\":true,\"via_api\":true" : "\"from_me\":true");
  w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, echo));
}

// A DELIVERY_ACK for `provider_id`, then notification's `sent` naming it for the reply: the
// reply is then the one message with that id, and has the tick.
void tick_then_sent(World& w, const std::string& phone, const Replied& r,
                    const std::string& provider_id) {
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(phone, provider_id, "DELIVERY_ACK")));
  w.apply(topics::notification_events,
          event(types::notification_message_sent, sent_event(r.command_id, phone, provider_id)));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE whatsapp_message_id = '" +
                provider_id + "'") == 1);
  CHECK(column(w, "messages", "whatsapp_message_id", r.reply_id) == provider_id);
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "DELIVERY_ACK");
}

}  // namespace

TEST_CASE(
    "an inbound message creates the contact, the conversation and the message, with their events") {
  World w;
  const auto p = phone();
  const auto ev = event(types::whatsapp_message_received,
                        received(p, "3EB0C767D097B7C0A3E4", "Oi, minha internet caiu"));
  w.apply(topics::whatsapp_inbound, ev);

  CHECK(w.count("SELECT count(*) FROM " + w.t("contacts") + " WHERE phone = '" + p +
                "' AND push_name = 'Maria'") == 1);
  const auto conv = conversation_of(w, p);
  CHECK(column(w, "conversations", "status", conv) == "active");
  CHECK(column(w, "conversations", "mode", conv) == "ai");
  CHECK(column(w, "conversations", "assistant_type", conv) == "apresentacao");
  CHECK(column(w, "conversations", "last_message", conv) == "Oi, minha internet caiu");
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE direction = 'inbound' AND author = 'customer' AND route = 'ai' AND content "
                "= 'Oi, minha internet caiu'") == 1);

  const auto out = w.outbox();
  REQUIRE(out.size() == 3);
  const auto contact_id = *w.text("SELECT id::text FROM " + w.t("contacts"));
  CHECK(out[0].event.type == types::contact_upserted);
  CHECK(out[0].topic == topics::contacts);
  CHECK(out[0].key == contact_id);
  CHECK(out[0].data["phone"] == p.c_str());
  CHECK(out[1].event.type == types::conversation_created);
  CHECK(out[1].topic == topics::conversation_events);
  CHECK(out[1].key == instance() + ":" + jid(p));
  CHECK(out[1].data["mode"] == "ai");
  CHECK(out[1].data["assistant"] == "apresentacao");
  CHECK(out[2].event.type == types::conversation_message_stored);
  CHECK(out[2].key == instance() + ":" + jid(p));
  CHECK(out[2].event.subject == conv);
  CHECK(out[2].data["route"] == "ai");
  CHECK(out[2].data["direction"] == "inbound");
  CHECK(out[2].data["provider_message_id"] == "3EB0C767D097B7C0A3E4");
  CHECK(out[2].data["contact_id"] == contact_id.c_str());
  CHECK(out[2].data["text"] == "Oi, minha internet caiu");

  // A second message of the same chat: same conversation, no new contact or conversation event.
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "SECOND", "alô?")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("conversations")) == 1);
  const auto later = w.outbox();
  REQUIRE(later.size() == 4);
  CHECK(later[3].event.type == types::conversation_message_stored);
  // A new push name is a contact change worth an event.
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received,
                received(p, "THIRD", "oi",
                         core::format_rfc3339(core::SystemClock::instance().now()), "Maria S.")));
  CHECK(w.sent(types::contact_upserted).size() == 2);
}

TEST_CASE("a push name changed back while another message was renaming the contact is published") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "N1-" + p, "oi")));
  REQUIRE(w.sent(types::contact_upserted).size() == 1);
  // Another message of the number (another consumer, maybe another pod) renames the contact
  // and has not committed yet.
  testing::HeldTransaction other(w.pool(), [&](pg::Tx& tx) -> core::Status {
    auto upd = tx.exec("UPDATE " + w.t("contacts") +
                       " SET push_name = 'Maria S.', updated_at = now() WHERE push_name = 'Maria'");
    if (!upd) return upd.error();
    return {};
  });
  // This one, with the name as it was, waits for it, and then changes the name back.
  const auto message = event(types::whatsapp_message_received, received(p, "N2-" + p, "alô"));
  core::Status applied;  // (Catch2 asserts on this thread only)
  std::thread mine([&] { applied = w.handlers().apply(topics::whatsapp_inbound, message); });
  const bool waited = testing::wait_until([&] { return other.waiters() == 1; },
                                          std::chrono::seconds{10}, std::chrono::milliseconds{10});
  CHECK(other.release().ok());
  mine.join();
  CHECK(applied.ok());
  CHECK(waited);
  CHECK(w.count("SELECT count(*) FROM " + w.t("contacts") + " WHERE push_name = 'Maria'") == 1);
  // Its change is published (the renaming's own event was its message's, not written here).
  CHECK(w.sent(types::contact_upserted).size() == 2);
}

TEST_CASE(
    "the same provider message id twice has exactly one effect, and a redelivered event none") {
  World w;
  const auto p = phone();
  const auto first = event(types::whatsapp_message_received, received(p, "DUP-1", "Oi"));
  w.apply(topics::whatsapp_inbound, first);
  const auto before = w.outbox().size();

  // The webhook delivered again days later: a new event id, the same provider message id.
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "DUP-1", "Oi")));
  // The very same event redelivered by Kafka.
  w.apply(topics::whatsapp_inbound, first);

  CHECK(w.count("SELECT count(*) FROM " + w.t("messages")) == 1);
  CHECK(w.outbox().size() == before);
  CHECK(w.count("SELECT count(*) FROM " + w.t("inbox") + " WHERE event_id = '" + first.id + "'") ==
        1);
}

TEST_CASE("a media or location property newer than message.stored v1 is not passed on") {
  World w;
  const auto p = phone();
  const std::string text_kind = R"("kind":"text","text":"")";
  auto data = received(p, "IMG-" + p, "");
  // An image with a property a later ingestion might add within v1 (width), then a location.
  data.replace(
      data.find(text_kind), text_kind.size(),
      R"("kind":"image","media":{"mime_type":"image/jpeg","caption":"meu modem","width":640,"url":"https://mmg.whatsapp.net/x"})");
  // A later ingestion's event, which today's schema would refuse: not made by event().
  const auto newer = [](const std::string& d) {
    return events::make_event(types::whatsapp_message_received, 1, events::source_for("ingestion"),
                              "", d);
  };
  w.apply(topics::whatsapp_inbound, newer(data));
  auto loc = received(p, "LOC-" + p, "");
  loc.replace(
      loc.find(text_kind), text_kind.size(),
      R"("kind":"location","location":{"latitude":-23.5,"longitude":-46.6,"accuracy_m":12})");
  w.apply(topics::whatsapp_inbound, newer(loc));

  std::vector<const json::Value*> stored;
  const auto out = w.outbox();
  for (const auto& e : out) {
    if (e.event.type == types::conversation_message_stored) stored.push_back(&e.data);
  }
  REQUIRE(stored.size() == 2);
  const auto& media = (*stored[0])["media"];
  CHECK(media["mime_type"] == "image/jpeg");
  CHECK(media["caption"] == "meu modem");
  CHECK(media["url"] == "https://mmg.whatsapp.net/x");
  CHECK_FALSE(media.HasMember("width"));
  CHECK((*stored[1])["location"]["latitude"].GetDouble() == -23.5);
  CHECK_FALSE((*stored[1])["location"].HasMember("accuracy_m"));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE media->>'caption' = 'meu modem' AND NOT media ? 'width'") == 1);
}

TEST_CASE("an assistant's lead and complaint are registered once, under the customer's protocol") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "IN-" + p, "quero contratar fibra")));
  const auto conv = conversation_of(w, p);
  const auto tool = [&](const std::string& name, const std::string& args, const std::string& result,
                        bool ok = true) {
    std::string d = "{" + chat_fields(conv, p) + R"(,"assistant":"comercial","tool":")" + name +
                    R"(","call_id":"call_1","arguments":)" + args + R"(,"ok":)" +
                    (ok ? "true" : "false");
    d += ok ? R"(,"result":)" + result + "}" : R"(,"error":"falhou"})";
    return event(types::ai_tool_invoked, d, "ai_orchestration");
  };
  w.apply(topics::ai_events,
          tool("register_lead",
               R"({"interest":"fibra 500 mega","plan":"500M","cep":"01310-100","name":"Maria"})",
               R"({"registered":true,"protocol":"LEAD-0A1B2C3D"})"));
  CHECK(w.count("SELECT count(*) FROM " + w.t("sales_leads") + " WHERE conversation_id = '" + conv +
                "' AND protocol = 'LEAD-0A1B2C3D' AND name = 'Maria' AND phone = '" + p +
                "' AND cep = '01310-100' AND plan_id = '500M' AND notes = 'fibra 500 mega' AND "
                "status = 'novo'") == 1);
  // The same call again (a model calling it twice for one message): nothing more.
  w.apply(topics::ai_events,
          tool("register_lead", R"({"interest":"fibra"})",
               R"({"registered":true,"already_registered":true,"protocol":"LEAD-0A1B2C3D"})"));
  CHECK(w.count("SELECT count(*) FROM " + w.t("sales_leads")) == 1);

  w.apply(
      topics::ai_events,
      tool("register_complaint", R"({"description":"cobrança indevida","category":"financeiro"})",
           R"({"registered":true,"protocol":"OUV-99887766","deadline_business_days":5})"));
  w.apply(topics::ai_events,
          tool("register_complaint", R"({"description":"atendente grosseiro","category":"??"})",
               R"({"registered":true,"protocol":"OUV-11223344","deadline_business_days":5})"));
  CHECK(w.count("SELECT count(*) FROM " + w.t("complaints") +
                " WHERE protocol = 'OUV-99887766' AND complaint_type = 'financeiro' AND "
                "description = 'cobrança indevida' AND status = 'novo' AND severity = 'medium' "
                "AND metadata->>'call_id' = 'call_1'") == 1);
  CHECK(w.count("SELECT count(*) FROM " + w.t("complaints") +
                " WHERE protocol = 'OUV-11223344' AND complaint_type = 'outro'") == 1);
  // A failed call and the other tools register nothing.
  w.apply(topics::ai_events, tool("register_complaint", R"({"description":"x"})", "", false));
  w.apply(topics::ai_events,
          tool("check_coverage", R"({"cep":"01310100"})", R"({"covered":true})"));
  CHECK(w.count("SELECT count(*) FROM " + w.t("complaints")) == 2);
  CHECK(w.count("SELECT count(*) FROM " + w.t("sales_leads")) == 1);

  // One for a conversation this service never had is a dead letter, not a silent drop.
  auto stray = event(
      types::ai_tool_invoked,
      "{" + chat_fields(core::Uuid::v7().str(), p) +
          R"(,"assistant":"ouvidoria","tool":"register_complaint","arguments":{"description":"x"},"ok":true,"result":{"protocol":"OUV-00000001"}})",
      "ai_orchestration");
  auto st = w.handlers().apply(topics::ai_events, stray);
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());
  CHECK(st.error().message().find("unknown conversation") != std::string::npos);
}

TEST_CASE("a reaction is stored but leaves the conversation's preview and order alone") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "FIRST", "Oi, minha internet caiu")));
  const auto conv = conversation_of(w, p);
  const auto before = *w.text("SELECT last_message_time::text || updated_at::text FROM " +
                              w.t("conversations") + " WHERE id = '" + conv + "'");
  std::string reaction = received(p, "REACTION", "👍");
  const std::string text_kind = R"("kind":"text","text":"👍")";
  REQUIRE(reaction.find(text_kind) != std::string::npos);
  reaction.replace(reaction.find(text_kind), text_kind.size(),
                   R"("kind":"reaction","text":"👍","reaction":{"message_id":"FIRST","emoji":"👍"})");
  w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, reaction));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE kind = 'reaction'") == 1);
  CHECK(column(w, "conversations", "last_message", conv) == "Oi, minha internet caiu");
  CHECK(*w.text("SELECT last_message_time::text || updated_at::text FROM " + w.t("conversations") +
                " WHERE id = '" + conv + "'") == before);
}

TEST_CASE("a sender of another country is its own contact (10 or 11 digits are not a DDD)") {
  World w;
  // Singapore, 10 digits: read as a Brazilian DDD + number it became 5565991234567.
  const std::string p = "6591234567";
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "SG-" + p, "Hello")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("contacts") + " WHERE phone = '" + p + "'") == 1);
  CHECK(w.count("SELECT count(*) FROM " + w.t("contacts")) == 1);
}

TEST_CASE("an AI reply is stored PENDING and sent through notification, once") {
  World w;
  const auto p = phone();
  const auto r = with_ai_reply(w, p);

  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "PENDING");
  CHECK(column(w, "messages", "author", r.reply_id) == "ai");
  CHECK(column(w, "messages", "direction", r.reply_id) == "outbound");
  CHECK(column(w, "conversations", "last_message", r.conversation_id) == "Olá!");

  const auto commands = w.sent(types::notification_send_text);
  REQUIRE(commands.size() == 1);
  const auto& cmd = commands[0];
  CHECK(cmd.topic == topics::notification_commands);
  CHECK(cmd.key == instance() + ":" + jid(p));
  CHECK(cmd.data["command_id"] == r.command_id.c_str());
  CHECK(cmd.data["message_id"] == r.reply_id.c_str());
  CHECK(cmd.data["conversation_id"] == r.conversation_id.c_str());
  CHECK(cmd.data["to"] == jid(p).c_str());
  CHECK(cmd.data["provider"] == "evolution");
  CHECK(cmd.data["instance"] == instance().c_str());
  CHECK(cmd.data["text"] == "Olá!");
  CHECK(core::Uuid::parse(r.command_id)->version() == 7);

  const auto stored = w.sent(types::conversation_message_stored);
  REQUIRE(stored.size() == 2);
  CHECK(stored[1].data["direction"] == "outbound");
  CHECK(stored[1].data["author"] == "ai");
  CHECK(stored[1].data["status"] == "PENDING");
  CHECK(stored[1].data["route"] == "none");
  CHECK(stored[1].data["message_id"] == r.reply_id.c_str());

  // The same reply again (a new event id, the same reply_id) stores and sends nothing more.
  w.apply(topics::ai_events,
          event(types::ai_reply_generated,
                reply(r.conversation_id, p, r.reply_id, message_of(w, "IN-" + p), "Olá!")));
  CHECK(w.sent(types::notification_send_text).size() == 1);
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages")) == 2);

  // A suggestion (hybrid) is kept private and never sent, while the conversation is with an
  // agent in hybrid mode; a late one, the conversation back with the AI, is not kept.
  const auto late = core::Uuid::v7().str();
  w.apply(topics::ai_events,
          event(types::ai_reply_generated,
                reply(r.conversation_id, p, late, r.reply_id, "Sugestão", "suggest")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE id = '" + late + "'") == 0);
  REQUIRE(w.pool()
              .exec("UPDATE " + w.t("conversations") +
                        " SET status = 'transferred', mode = 'hybrid' WHERE id = $1::uuid",
                    r.conversation_id)
              .ok());
  const auto suggestion = core::Uuid::v7().str();
  w.apply(topics::ai_events,
          event(types::ai_reply_generated,
                reply(r.conversation_id, p, suggestion, r.reply_id, "Sugestão", "suggest")));
  CHECK(column(w, "messages", "is_private", suggestion) == "true");
  CHECK(w.sent(types::notification_send_text).size() == 1);
}

TEST_CASE("ticks: sent gives the provider id and SERVER_ACK, and ticks only move forward") {
  World w;
  const auto p = phone();
  const auto r = with_ai_reply(w, p);

  w.apply(topics::notification_events,
          event(types::notification_message_sent, sent_event(r.command_id, p, "WA-1")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "SERVER_ACK");
  CHECK(column(w, "messages", "whatsapp_message_id", r.reply_id) == "WA-1");

  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-1", "READ")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "READ");
  // Delivered after read stays read.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-1", "DELIVERY_ACK")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "READ");
  // A late failure report does not undo a read.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-1", "ERROR", "late")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "READ");
  CHECK(column(w, "messages", "status_reason", r.reply_id) == "<null>");
  // Nothing was published for ticks.
  CHECK(w.sent(types::conversation_message_stored).size() == 2);
}

TEST_CASE("the provider's echo of our own reply is not an agent's message") {
  World w;
  const auto p = phone();
  const auto r = with_ai_reply(w, p);
  const auto stored_before = w.sent(types::conversation_message_stored).size();
  // Evolution's send.message of the reply arrives before notification's `sent`.
  from_me(w, p, "WA-ECHO", " Olá!");
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE whatsapp_message_id = 'WA-ECHO'") == 0);
  CHECK(w.sent(types::conversation_message_stored).size() == stored_before);
  tick_then_sent(w, p, r, "WA-ECHO");
  // Once sent, its echo again is a duplicate; another text written on the phone is the agent's.
  from_me(w, p, "WA-ECHO", "Olá!");
  CHECK(w.sent(types::conversation_message_stored).size() == stored_before);
  from_me(w, p, "WA-AGENT", "Olá!");
  from_me(w, p, "WA-AGENT-2", "Já verifiquei, tudo certo");
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE from_me AND author = 'agent' AND whatsapp_message_id LIKE 'WA-AGENT%'") ==
        2);
  CHECK(w.sent(types::conversation_message_stored).size() == stored_before + 2);
}

TEST_CASE("a Business app message on Meta is the agent's, even with a pending reply's text") {
  World w;
  const auto p = phone();
  with_ai_reply(w, p);  // "Olá!", waiting for notification's `sent`
  const auto stored_before = w.sent(types::conversation_message_stored).size();
  // Meta echoes none of its API's sends: a from_me message (smb_message_echoes) was written in
  // the WhatsApp Business app, whatever its text.
  std::string echo = received(p, "wamid.APP1", "Olá!");
  echo.replace(echo.find("\"from_me\":false"), 15, "\"from_me\":true");
  echo.replace(echo.find("\"provider\":\"evolution\""), 22, "\"provider\":\"meta\"");
  w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, echo));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE from_me AND author = 'agent' AND whatsapp_message_id = 'wamid.APP1'") == 1);
  CHECK(w.sent(types::conversation_message_stored).size() == stored_before + 1);

  // Evolution over the Cloud API (a wamid. id) the same: its API's sends come back as
  // send.message (via_api), so a from_me message without that mark was written in the app.
  std::string cloud = received(p, "wamid.APP2", "Olá!");
  cloud.replace(cloud.find("\"from_me\":false"), 15, "\"from_me\":true");
  w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, cloud));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE from_me AND author = 'agent' AND whatsapp_message_id = 'wamid.APP2'") == 1);
  CHECK(w.sent(types::conversation_message_stored).size() == stored_before + 2);
}

TEST_CASE(
    "a customer's chat spelled with and without the ninth digit is one conversation, whichever "
    "comes first") {
  World w;
  // Meta's messages of the customer name the chat by the wa_id ("551187…", no ninth digit); a
  // message written in the Business app names it by the number the business typed ("5511987…").
  const auto meta = [&](const std::string& full, const std::string& chat, const std::string& id,
                        const std::string& text, bool from_me) {
    std::string data = received(full, id, text);  // from: the customer's number, normalized
    data.replace(data.find(jid(full)), jid(full).size(), chat);
    data.replace(data.find("\"provider\":\"evolution\""), 22, "\"provider\":\"meta\"");
    if (from_me) {
      data.replace(data.find("\"from\":\"" + full + "\""), 9 + full.size(),
                   "\"from\":\"551140028922\"");  // the business
      data.replace(data.find("\"from_me\":false"), 15, "\"from_me\":true");
    }
    w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, data));
  };
  const auto conversations_of = [&](const std::string& full) {
    return w.count("SELECT count(*) FROM " + w.t("conversations") + " c JOIN " + w.t("contacts") +
                   " k ON k.id = c.contact_id WHERE k.phone = '" + full + "'");
  };
  const auto messages_in_one = [&](const std::string& full) {
    return w.count("SELECT count(*) FROM " + w.t("messages") + " m JOIN " + w.t("conversations") +
                   " c ON c.id = m.conversation_id JOIN " + w.t("contacts") +
                   " k ON k.id = c.contact_id WHERE k.phone = '" + full + "'");
  };
  SECTION("the customer first, then the Business app") {
    const auto full = phone();                              // 5511987xxxxxx
    const auto wa_id = full.substr(0, 4) + full.substr(5);  // 551187xxxxxx
    meta(full, wa_id, "wamid.C1", "Oi, minha internet caiu", false);
    meta(full, full, "wamid.B1", "Já estou vendo, um momento", true);
    CHECK(conversations_of(full) == 1);
    CHECK(messages_in_one(full) == 2);
    CHECK(w.count("SELECT count(*) FROM " + w.t("conversations") + " WHERE chat_id = '" + wa_id +
                  "'") == 1);  // kept as the customer's messages name it
    CHECK(w.sent(types::conversation_created).size() == 1);
  }
  SECTION("a mobile whose number after the 9 starts 2 to 5 is not the landline without it") {
    // "551134567890" is a landline; "5511934567890" a mobile: two people.
    meta("551134567890", "551134567890", "wamid.LAND", "Bom dia", false);
    meta("5511934567890", "5511934567890", "wamid.MOB", "Oi", false);
    CHECK(conversations_of("551134567890") == 1);
    CHECK(conversations_of("5511934567890") == 1);
    CHECK(messages_in_one("551134567890") == 1);
    CHECK(messages_in_one("5511934567890") == 1);
    CHECK(w.sent(types::conversation_created).size() == 2);
  }
  SECTION("the Business app first, then the customer") {
    const auto full = phone();
    const auto wa_id = full.substr(0, 4) + full.substr(5);
    meta(full, full, "wamid.B2", "Olá! Sua visita técnica é amanhã", true);
    meta(full, wa_id, "wamid.C2", "Obrigada!", false);
    CHECK(conversations_of(full) == 1);
    CHECK(messages_in_one(full) == 2);
    CHECK(w.sent(types::conversation_created).size() == 1);
  }
}

TEST_CASE(
    "a message under the chat's other spelling finds its conversation before it locks the "
    "contact, as every message does") {
  World w;
  const auto full = phone();                              // 5511987xxxxxx
  const auto wa_id = full.substr(0, 4) + full.substr(5);  // 551187xxxxxx
  std::string customer = received(full, "wamid.L1", "Oi");
  customer.replace(customer.find(jid(full)), jid(full).size(), wa_id);
  customer.replace(customer.find("\"provider\":\"evolution\""), 22, "\"provider\":\"meta\"");
  w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, customer));
  // The customer's next message (another consumer) holds the conversation...
  testing::HeldTransaction next(w.pool(), [&](pg::Tx& tx) -> core::Status {
    auto row = tx.exec("SELECT id FROM " + w.t("conversations") + " WHERE chat_id = '" + wa_id +
                       "' FOR UPDATE");
    if (!row) return row.error();
    return {};
  });
  // ... while a message written in the Business app names the chat by the typed number.
  std::string app = received(full, "wamid.L2", "Já estou vendo");
  app.replace(app.find(jid(full)), jid(full).size(), full);
  app.replace(app.find("\"provider\":\"evolution\""), 22, "\"provider\":\"meta\"");
  app.replace(app.find("\"from\":\"" + full + "\""), 9 + full.size(), "\"from\":\"551140028922\"");
  app.replace(app.find("\"from_me\":false"), 15, "\"from_me\":true");
  const auto message = event(types::whatsapp_message_received, app);
  core::Status applied;  // (Catch2 asserts on this thread only)
  std::thread mine([&] { applied = w.handlers().apply(topics::whatsapp_inbound, message); });
  const bool waited = testing::wait_until([&] { return next.waiters() == 1; },
                                          std::chrono::seconds{10}, std::chrono::milliseconds{10});
  // It waits for the conversation without holding the contact: the holder, going on to update
  // the contact as the customer's message does, does not wait for it (no deadlock).
  testing::HeldTransaction contact(w.pool(), [&](pg::Tx& tx) -> core::Status {
    if (auto st = tx.exec("SET LOCAL lock_timeout = '2s'"); !st) return st.error();
    auto upd = tx.exec("UPDATE " + w.t("contacts") +
                       " SET last_interaction_at = now() WHERE phone = '" + full + "'");
    if (!upd) return upd.error();
    return {};
  });
  CHECK(contact.release().ok());
  CHECK(next.release().ok());
  mine.join();
  CHECK(waited);
  CHECK(applied.ok());
  CHECK(w.count("SELECT count(*) FROM " + w.t("conversations") + " WHERE chat_id IN ('" + wa_id +
                "', '" + full + "')") == 1);
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE whatsapp_message_id = 'wamid.L2' AND author = 'agent'") == 1);
}

TEST_CASE("a message written on the business phone to a chat that is no phone number is ignored") {
  World w;
  // Seven digits (Niue's numbers are that short): ingestion refuses such a customer's own
  // messages, and checks only the business number of one written on the phone.
  std::string echo = received("5511987654321", "WA-NIUE", "oi");
  echo.replace(echo.find(jid("5511987654321")), jid("5511987654321").size(),
               "6831234@s.whatsapp.net");
  echo.replace(echo.find("\"from_me\":false"), 15, "\"from_me\":true");
  w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, echo));  // no error
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages")) == 0);
  CHECK(w.count("SELECT count(*) FROM " + w.t("contacts")) == 0);
  CHECK(w.sent(types::contact_upserted).empty());
}

TEST_CASE("a message sent through the provider's API is never stored as an agent's") {
  World w;
  // A campaign message's echo to a debtor who never wrote: no contact, no conversation.
  const auto debtor = phone();
  from_me(w, debtor, "WA-CAMPAIGN", "Olá, sua fatura vence amanhã.", true);
  CHECK(w.count("SELECT count(*) FROM " + w.t("conversations") + " WHERE chat_id = '" +
                jid(debtor) + "'") == 0);
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages")) == 0);
  CHECK(w.sent(types::conversation_created).empty());
  CHECK(w.sent(types::contact_upserted).empty());

  // In a conversation: a survey's echo, and our reply's echo with a text the provider changed.
  const auto p = phone();
  const auto r = with_ai_reply(w, p);
  const auto stored_before = w.sent(types::conversation_message_stored).size();
  from_me(w, p, "WA-SURVEY", "De 0 a 10, quanto você recomendaria?", true);
  from_me(w, p, "WA-ECHO", "Olá! (editada)", true);
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE from_me") == 0);
  CHECK(w.sent(types::conversation_message_stored).size() == stored_before);
  // The reply still takes its provider id and its tick from notification's `sent`.
  tick_then_sent(w, p, r, "WA-ECHO");
  // A message written on the phone is still the agent's.
  from_me(w, p, "WA-AGENT", "Já verifiquei, tudo certo");
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE from_me AND author = 'agent'") == 1);
}

TEST_CASE("an echo stored before its send is known goes when the send is") {
  World w;
  const auto p = phone();
  const auto r = with_ai_reply(w, p);
  // An echo that does not read like the reply (the provider changed its text) is stored...
  from_me(w, p, "WA-ECHO", "Olá! (editada)");
  REQUIRE(w.count("SELECT count(*) FROM " + w.t("messages") +
                  " WHERE whatsapp_message_id = 'WA-ECHO'") == 1);
  // ... and goes when the send names its id: the reply keeps the tick given to it.
  tick_then_sent(w, p, r, "WA-ECHO");
}

TEST_CASE("a tick that arrives before its provider id is known is applied when it becomes known") {
  World w;
  const auto p = phone();
  const auto r = with_ai_reply(w, p);

  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-EARLY", "DELIVERY_ACK")));
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-EARLY", "READ")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("pending_statuses")) == 2);
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "PENDING");

  w.apply(topics::notification_events,
          event(types::notification_message_sent, sent_event(r.command_id, p, "WA-EARLY")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "READ");
  CHECK(column(w, "messages", "whatsapp_message_id", r.reply_id) == "WA-EARLY");
  CHECK(w.count("SELECT count(*) FROM " + w.t("pending_statuses")) == 0);

  // Old pending ticks of ids that never became known are purged.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-NEVER", "READ")));
  REQUIRE(w.pool()
              .exec("UPDATE " + w.t("pending_statuses") +
                    " SET received_at = now() - interval '4 days'")
              .ok());
  auto purged = w.handlers().purge_pending_statuses(std::chrono::hours{72});
  REQUIRE(purged.ok());
  CHECK(*purged == 1);
}

TEST_CASE("a failed or dead-lettered send is ERROR with its reason, and the first reason stays") {
  World w;
  const auto p = phone();
  const auto r = with_ai_reply(w, p);
  w.apply(topics::notification_events,
          event(types::notification_message_failed,
                failed_event(r.command_id, p, "recipient is not a WhatsApp user")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "ERROR");
  CHECK(column(w, "messages", "status_reason", r.reply_id) == "recipient is not a WhatsApp user");
  const std::string dead =
      "{\"command_id\":\"" + r.command_id + "\",\"provider\":\"evolution\",\"instance\":\"" +
      instance() + "\",\"to\":\"" + jid(p) +
      "\",\"attempts\":5,\"reason\":\"HTTP 503\",\"dlq_topic\":\"notification.commands.v1.dlq\"}";
  w.apply(topics::notification_events, event(types::notification_message_dead_lettered, dead));
  CHECK(column(w, "messages", "status_reason", r.reply_id) == "recipient is not a WhatsApp user");

  // Its dead letter replayed and sent after all: the provider took it, the error is gone.
  w.apply(topics::notification_events,
          event(types::notification_message_sent, sent_event(r.command_id, p, "WA-REPLAYED")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "SERVER_ACK");
  CHECK(column(w, "messages", "status_reason", r.reply_id) == "<null>");
  CHECK(column(w, "messages", "whatsapp_message_id", r.reply_id) == "WA-REPLAYED");
  // A provider's failure tick after that is an ERROR again.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-REPLAYED", "ERROR", "blocked")));
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "ERROR");

  // Outcomes of other services' commands for a conversation (a survey) are ignored, and the
  // ticks kept for them go.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "WA-OTHER", "DELIVERY_ACK")));
  w.apply(topics::notification_events,
          event(types::notification_message_sent,
                sent_event(core::Uuid::v7().str(), p, "WA-OTHER", r.conversation_id)));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") +
                " WHERE whatsapp_message_id = 'WA-OTHER'") == 0);
  CHECK(w.count("SELECT count(*) FROM " + w.t("pending_statuses")) == 0);
  CHECK(w.count("SELECT count(*) FROM " + w.t("campaign_messages")) == 0);
}

namespace {

// collections' message.requested for `to` (a JID), its text as sent.
std::string campaign_requested(const std::string& command_id, const std::string& to,
                               const std::string& text, const std::string& inst = instance()) {
  json::Writer w;
  w.begin_object()
      .field("campaign_id", core::Uuid::v7().str())
      .field("target_id", core::Uuid::v7().str())
      .field("attempt", 1)
      .field("command_id", command_id)
      .field("provider", "evolution")
      .field("instance", inst)
      .field("to", to)
      .field("text", text)
      .end_object();
  return w.take();
}

}  // namespace

TEST_CASE(
    "a campaign's message waits for the debtor's answer, then shows before it in its conversation, "
    "with its ticks") {
  World w;
  const auto p = phone();  // 5511987xxxxxx: the campaign's number, with the ninth digit
  const std::string answers_from = p.substr(0, 4) + p.substr(5);  // as WhatsApp names it
  const auto first = core::Uuid::v7().str();
  const auto second = core::Uuid::v7().str();
  const auto campaign_rows = [&] {
    return w.count("SELECT count(*) FROM " + w.t("campaign_messages"));
  };

  // The send's tick and `sent` come before the request (other topics): kept all the same.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "CAMP-1", "DELIVERY_ACK")));
  w.apply(topics::notification_events,
          event(types::notification_message_sent, sent_event(first, p, "CAMP-1")));
  w.apply(topics::collections_events,
          event(types::collections_message_requested,
                campaign_requested(first, jid(p), "Olá Maria, sua fatura de R$ 150,50 venceu."),
                "collections"));
  // A second attempt that failed; and one to the same number from another instance.
  w.apply(topics::collections_events,
          event(types::collections_message_requested,
                campaign_requested(second, jid(p), "Maria, ainda consta a fatura de R$ 150,50."),
                "collections"));
  w.apply(topics::notification_events, event(types::notification_message_failed,
                                             failed_event(second, p, "provider answered 400")));
  w.apply(topics::collections_events,
          event(types::collections_message_requested,
                campaign_requested(core::Uuid::v7().str(), jid(p), "Outra instância.", "lia-outra"),
                "collections"));
  CHECK(campaign_rows() == 3);
  CHECK(w.count("SELECT count(*) FROM " + w.t("conversations")) == 0);  // none until an answer
  CHECK(w.count("SELECT count(*) FROM " + w.t("pending_statuses")) == 0);
  CHECK(w.outbox().empty());

  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(answers_from, "ANS-1", "quem é?")));
  const auto conv = conversation_of(w, answers_from);
  auto rows = w.pool().exec(
      "SELECT author, direction, content, whatsapp_status, status_reason, "
      "whatsapp_message_id, command_id::text FROM " +
      w.t("messages") + " WHERE conversation_id = '" + conv + "' ORDER BY created_at, id");
  REQUIRE(rows);
  REQUIRE(rows->size() == 3);
  CHECK((*rows)[0].get<std::string>(0) == "system");
  CHECK((*rows)[0].get<std::string>(1) == "outbound");
  CHECK((*rows)[0].get<std::string>(2) == "Olá Maria, sua fatura de R$ 150,50 venceu.");
  CHECK((*rows)[0].get<std::string>(3) == "DELIVERY_ACK");
  CHECK((*rows)[0].get<std::string>(5) == "CAMP-1");
  CHECK((*rows)[0].get<std::string>(6) == first);
  CHECK((*rows)[1].get<std::string>(2) == "Maria, ainda consta a fatura de R$ 150,50.");
  CHECK((*rows)[1].get<std::string>(3) == "ERROR");
  CHECK((*rows)[1].get<std::string>(4) == "provider answered 400");
  CHECK((*rows)[2].get<std::string>(0) == "customer");
  CHECK((*rows)[2].get<std::string>(2) == "quem é?");
  CHECK(campaign_rows() == 1);  // the other instance's still waits

  // conversation.created, then the campaign's messages, then the answer.
  const auto out = w.outbox();
  std::vector<std::string> order;
  for (const auto& o : out) {
    if (o.event.type == types::conversation_message_stored) {
      order.push_back(std::string(o.data["author"].GetString()) + ":" + o.data["text"].GetString());
    }
  }
  CHECK(order == std::vector<std::string>{"system:Olá Maria, sua fatura de R$ 150,50 venceu.",
                                          "system:Maria, ainda consta a fatura de R$ 150,50.",
                                          "customer:quem é?"});
  const auto stored = w.sent(types::conversation_message_stored);
  CHECK(stored[0].data["status"] == "DELIVERY_ACK");
  CHECK(stored[0].data["provider_message_id"] == "CAMP-1");
  CHECK(stored[0].data["direction"] == "outbound");

  // A tick after the answer moves the message itself; a second answer attaches nothing more.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "CAMP-1", "READ")));
  CHECK(*w.text("SELECT whatsapp_status FROM " + w.t("messages") +
                " WHERE whatsapp_message_id = 'CAMP-1'") == "READ");
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(answers_from, "ANS-2", "ok")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE conversation_id = '" + conv +
                "'") == 4);

  // Kept past LIA_CAMPAIGN_ANSWER_WINDOW_MS with no answer: purged.
  auto purged = w.handlers().purge_campaign_messages(std::chrono::seconds{0});
  REQUIRE(purged);
  CHECK(*purged == 1);
  CHECK(campaign_rows() == 0);
}

TEST_CASE(
    "a campaign's message joins an open conversation at the debtor's answer, not at a message "
    "written on the business phone, nor at an answer written before it was sent") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "OLD-1", "oi, bom dia")));
  const auto conv = conversation_of(w, p);
  const auto at = [](int seconds) {
    return core::format_rfc3339(core::SystemClock::instance().now() +
                                std::chrono::seconds{seconds});
  };
  // A Meta template's message: its name and rendered parameters are what is shown.
  json::Writer t;
  t.begin_object()
      .field("campaign_id", core::Uuid::v7().str())
      .field("target_id", core::Uuid::v7().str())
      .field("attempt", 1)
      .field("command_id", core::Uuid::v7().str())
      .field("provider", "evolution")
      .field("instance", instance())
      .field("to", jid(p))
      .field("template", "cobranca_fatura")
      .key("parameters")
      .begin_array()
      .value("Maria")
      .value("R$ 150,50")
      .end_array()
      .end_object();
  w.apply(topics::collections_events,
          event(types::collections_message_requested, t.take(), "collections"));
  const auto kept = [&] { return w.count("SELECT count(*) FROM " + w.t("campaign_messages")); };
  const auto shown = [&] {
    return w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE conversation_id = '" + conv +
                   "' AND author = 'system'");
  };

  from_me(w, p, "AGENT-1", "Olá, aqui é a Ana do financeiro.");
  CHECK(kept() == 1);
  // Written (by the provider's clock) an hour before the request: not its answer.
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "LATE-1", "alguém aí?", at(-3600))));
  CHECK(kept() == 1);
  CHECK(shown() == 0);

  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "ANS-4", "que fatura?", at(1))));
  CHECK(kept() == 0);
  CHECK(shown() == 1);
  CHECK(*w.text("SELECT content FROM " + w.t("messages") + " WHERE author = 'system'") ==
        "Modelo cobranca_fatura: Maria | R$ 150,50");
  // Its message.stored comes right before the answer's.
  const auto stored = w.sent(types::conversation_message_stored);
  REQUIRE(stored.size() >= 2);
  CHECK(stored[stored.size() - 2].data["author"] == "system");
  CHECK(stored.back().data["text"] == "que fatura?");
}

TEST_CASE("a campaign's tick that comes after its request and before the answer is kept") {
  World w;
  const auto p = phone();
  const auto command = core::Uuid::v7().str();
  w.apply(topics::collections_events,
          event(types::collections_message_requested,
                campaign_requested(command, jid(p), "Olá, sua fatura venceu."), "collections"));
  w.apply(topics::notification_events,
          event(types::notification_message_sent, sent_event(command, p, "CAMP-2")));
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "CAMP-2", "READ")));
  // A late DELIVERY_ACK does not move it back.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "CAMP-2", "DELIVERY_ACK")));
  CHECK(*w.text("SELECT whatsapp_status FROM " + w.t("campaign_messages")) == "READ");
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "ANS-3", "já paguei")));
  CHECK(*w.text("SELECT whatsapp_status FROM " + w.t("messages") +
                " WHERE whatsapp_message_id = 'CAMP-2'") == "READ");
  CHECK(w.count("SELECT count(*) FROM " + w.t("pending_statuses")) == 0);
}

TEST_CASE("a handoff transfers to the least-loaded agent of the department") {
  World w;
  // Three support agents with 2, 0 and 1 conversations transferred to them; one idle
  // agent of another department; one inactive support agent.
  const auto busy = w.user("busy", auth::Role::agent, {"support"});
  const auto idle = w.user("idle", auth::Role::agent, {"support", "general"});
  const auto some = w.user("some", auth::Role::agent, {"suporte"});
  w.user("finance", auth::Role::agent, {"financial"});
  const auto gone = w.user("gone", auth::Role::agent, {"support"});
  REQUIRE(w.pool()
              .exec("UPDATE " + w.t("users") + " SET status = 'INACTIVE' WHERE id = '" + gone + "'")
              .ok());
  const std::vector<std::string> load{busy, busy, some};
  for (std::size_t i = 0; i < load.size(); ++i) {
    const auto q = phone();
    w.apply(topics::whatsapp_inbound,
            event(types::whatsapp_message_received, received(q, "L" + q, "oi")));
    REQUIRE(w.pool()
                .exec("UPDATE " + w.t("conversations") +
                      " SET status = 'transferred', mode = 'human', assigned_to = '" + load[i] +
                      "' WHERE chat_id = '" + jid(q) + "'")
                .ok());
  }
  // A resolved conversation of `idle` does not count as load.
  {
    const auto q = phone();
    w.apply(topics::whatsapp_inbound,
            event(types::whatsapp_message_received, received(q, "R" + q, "oi")));
    REQUIRE(w.pool()
                .exec("UPDATE " + w.t("conversations") +
                      " SET status = 'resolved', assigned_to = '" + idle + "' WHERE chat_id = '" +
                      jid(q) + "'")
                .ok());
  }

  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "H-" + p, "quero um atendente")));
  const auto conv = conversation_of(w, p);
  w.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));

  CHECK(column(w, "conversations", "status", conv) == "transferred");
  CHECK(column(w, "conversations", "mode", conv) == "human");
  CHECK(column(w, "conversations", "assigned_to", conv) == idle);
  CHECK(column(w, "conversations", "department", conv) == "support");
  CHECK(column(w, "conversations", "urgency", conv) == "high");
  CHECK(column(w, "conversations", "transfer_reason", conv) == "cliente pediu atendente");

  const auto transferred = w.sent(types::conversation_transferred);
  REQUIRE(transferred.size() == 1);
  CHECK(transferred[0].data["previous_mode"] == "ai");
  CHECK(transferred[0].data["mode"] == "human");
  CHECK(transferred[0].data["requested_by"] == "ai");
  CHECK(transferred[0].data["department"] == "support");
  CHECK(transferred[0].data["agent_user_id"] == idle.c_str());
  const auto assigned = w.sent(types::conversation_assigned);
  REQUIRE(assigned.size() == 1);
  CHECK(assigned[0].data["agent_user_id"] == idle.c_str());
  CHECK(assigned[0].key == instance() + ":" + jid(p));

  // The next handoff (another chat) goes to `some` (1) or `idle` (now 1): never `busy`.
  const auto p2 = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p2, "H-" + p2, "atendente")));
  const auto conv2 = conversation_of(w, p2);
  w.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv2, p2)));
  const auto second = column(w, "conversations", "assigned_to", conv2);
  CHECK((second == some || second == idle));

  // From now on the customer's messages go to the human and the AI stays silent.
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "H2-" + p, "alô?")));
  CHECK(column(w, "messages", "route", message_of(w, "H2-" + p)) == "human");
  const auto late_reply = core::Uuid::v7().str();
  w.apply(topics::ai_events, event(types::ai_reply_generated,
                                   reply(conv, p, late_reply, message_of(w, "H2-" + p), "Oi!")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE id = '" + late_reply + "'") ==
        0);
  CHECK(w.sent(types::notification_send_text).empty());

  // A second handoff request changes nothing.
  const auto before = w.outbox().size();
  w.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  CHECK(w.outbox().size() == before);
}

TEST_CASE("a handoff takes the assignment lock before the conversation's row, as a transfer does") {
  World w;
  w.user("ana", auth::Role::agent, {"support"});
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "IN-" + p, "quero um atendente")));
  const auto conv = conversation_of(w, p);
  // A transfer (or a deactivation) holds the assignment lock and is about to lock the row.
  testing::HeldTransaction other(w.pool(), [&](pg::Tx& tx) -> core::Status {
    auto lock = tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        w.schema() + ".assignment");
    if (!lock) return lock.error();
    return {};
  });
  const auto requested = event(types::ai_handoff_requested, handoff(conv, p));
  std::thread handing_off([&] { w.apply(topics::ai_events, requested); });
  // Wait until the handoff waits for the assignment lock (a session this one blocks: other
  // tests' sessions wait for advisory locks of their own on the same server).
  CHECK(lia::testing::wait_until([&] { return other.waiters() > 0; }, std::chrono::seconds{20}));
  // The row is free: the handoff has not locked it while it waits (no deadlock).
  auto row = w.pool().exec(
      "SELECT 1 FROM " + w.t("conversations") + " WHERE id = $1::uuid FOR UPDATE NOWAIT", conv);
  INFO((row ? std::string("locked it") : row.error().message()));
  CHECK(row.ok());
  REQUIRE(other.release().ok());
  handing_off.join();
  CHECK(column(w, "conversations", "status", conv) == "transferred");
}

TEST_CASE("a handoff with no agent available stays transferred, unassigned, with an alert") {
  World w;
  w.user("sup", auth::Role::supervisor, {"support"});  // not an agent
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "N-" + p, "atendente")));
  const auto conv = conversation_of(w, p);
  w.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p, std::nullopt)));
  CHECK(column(w, "conversations", "status", conv) == "transferred");
  CHECK(column(w, "conversations", "assigned_to", conv) == "<null>");
  CHECK(column(w, "conversations", "department", conv) == "support");  // from the assistant
  CHECK(w.count("SELECT count(*) FROM " + w.t("alerts") +
                " WHERE type = 'no_agent_available' AND conversation_id = '" + conv + "'") == 1);
  CHECK(w.sent(types::conversation_transferred).size() == 1);
  CHECK(w.sent(types::conversation_assigned).empty());
}

TEST_CASE("concurrent handoffs spread evenly over the agents (assignment is race-free)") {
  World w;
  const std::vector<std::string> agents{w.user("a1", auth::Role::agent, {"support"}),
                                        w.user("a2", auth::Role::agent, {"support"}),
                                        w.user("a3", auth::Role::agent, {"support"})};
  std::vector<std::pair<std::string, std::string>> chats;  // phone, conversation
  for (int i = 0; i < 6; ++i) {
    const auto p = phone();
    w.apply(topics::whatsapp_inbound,
            event(types::whatsapp_message_received, received(p, "C-" + p, "atendente")));
    chats.emplace_back(p, conversation_of(w, p));
  }
  std::vector<std::thread> threads;
  threads.reserve(chats.size());
  std::atomic<int> failures{0};
  for (const auto& [p, conv] : chats) {
    threads.emplace_back([&w, &failures, p = p, conv = conv] {
      if (!w.handlers().apply(topics::ai_events,
                              event(types::ai_handoff_requested, handoff(conv, p))))
        ++failures;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  for (const auto& a : agents) {
    CHECK(w.count("SELECT count(*) FROM " + w.t("conversations") + " WHERE assigned_to = '" + a +
                  "' AND status = 'transferred'") == 2);
  }
}

TEST_CASE(
    "AI replies and analyses and handoffs and assistant changes answering a message from before "
    "a reopening are ignored") {
  World w;
  w.user("ana", auth::Role::agent, {"support"});
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "E1-" + p, "quero um atendente")));
  const auto conv = conversation_of(w, p);
  const auto first = message_of(w, "E1-" + p);
  // Resolved while the AI was still answering; then the customer writes again.
  REQUIRE(w.pool()
              .exec("UPDATE " + w.t("conversations") + " SET status = 'resolved' WHERE id = '" +
                    conv + "'")
              .ok());
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "E2-" + p, "oi de novo")));
  REQUIRE(column(w, "conversations", "status", conv) == "active");
  const auto second = message_of(w, "E2-" + p);
  const auto assistant = column(w, "conversations", "assistant_type", conv);
  REQUIRE(assistant != "ouvidoria");
  const auto changed = [&](const std::string& in_reply_to) {
    return "{" + chat_fields(conv, p) + R"(,"in_reply_to":")" + in_reply_to +
           R"(","from_assistant":"apresentacao","to_assistant":"ouvidoria"})";
  };

  const auto analysis = [&](const std::string& message_id) {
    return "{" + chat_fields(conv, p) + R"(,"message_id":")" + message_id +
           R"(","sentiment":"negative","sentiment_score":-0.8,"urgency":"high"})";
  };
  const auto sends = [&] { return w.sent(types::notification_send_text).size(); };
  const auto sends_before = sends();

  // The late answers to the first message leave the new session as it is: its reply is
  // neither stored nor sent ("Vou transferir você..." before a handoff that will not come).
  const auto late_reply = core::Uuid::v7().str();
  w.apply(topics::ai_events,
          event(types::ai_reply_generated,
                reply(conv, p, late_reply, first, "Vou transferir você para um atendente.")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE id = '" + late_reply + "'") ==
        0);
  CHECK(sends() == sends_before);
  w.apply(topics::ai_events, event(types::ai_analysis_completed, analysis(first)));
  CHECK(column(w, "conversations", "urgency", conv) != "high");
  w.apply(topics::ai_events, event(types::ai_assistant_changed, changed(first)));
  CHECK(column(w, "conversations", "assistant_type", conv) == assistant);
  w.apply(topics::ai_events,
          event(types::ai_handoff_requested, handoff(conv, p, "suporte", first)));
  CHECK(column(w, "conversations", "status", conv) == "active");
  CHECK(column(w, "conversations", "mode", conv) == "ai");
  CHECK(w.sent(types::conversation_transferred).empty());

  // Those answering the new message apply.
  w.apply(topics::ai_events,
          event(types::ai_reply_generated,
                reply(conv, p, core::Uuid::v7().str(), second, "Olá de novo! Como posso ajudar?")));
  CHECK(sends() == sends_before + 1);
  w.apply(topics::ai_events, event(types::ai_analysis_completed, analysis(second)));
  CHECK(column(w, "conversations", "urgency", conv) == "high");
  w.apply(topics::ai_events, event(types::ai_assistant_changed, changed(second)));
  CHECK(column(w, "conversations", "assistant_type", conv) == "ouvidoria");
  w.apply(topics::ai_events,
          event(types::ai_handoff_requested, handoff(conv, p, "suporte", second)));
  CHECK(column(w, "conversations", "status", conv) == "transferred");
  CHECK(w.sent(types::conversation_transferred).size() == 1);
}

TEST_CASE("analysis and assistant changes update the conversation") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "A-" + p, "oi")));
  const auto conv = conversation_of(w, p);
  w.apply(
      topics::ai_events,
      event(types::ai_analysis_completed,
            "{" + chat_fields(conv, p) +
                ",\"sentiment\":\"negative\",\"sentiment_score\":-0.6,\"urgency\":\"critical\"}"));
  CHECK(column(w, "conversations", "sentiment", conv) == "negative");
  CHECK(column(w, "conversations", "urgency", conv) == "critical");
  CHECK(column(w, "conversations", "sentiment_score", conv) == "-0.6");
  // The same analysis again leaves the row as it is (no new row version); another one writes.
  const auto version = column(w, "conversations", "xmin", conv);
  const auto updated_at = column(w, "conversations", "updated_at", conv);
  w.apply(
      topics::ai_events,
      event(types::ai_analysis_completed,
            "{" + chat_fields(conv, p) +
                ",\"sentiment\":\"negative\",\"sentiment_score\":-0.6,\"urgency\":\"critical\"}"));
  CHECK(column(w, "conversations", "xmin", conv) == version);
  CHECK(column(w, "conversations", "updated_at", conv) == updated_at);
  w.apply(
      topics::ai_events,
      event(types::ai_analysis_completed,
            "{" + chat_fields(conv, p) +
                ",\"sentiment\":\"negative\",\"sentiment_score\":-0.7,\"urgency\":\"critical\"}"));
  CHECK(column(w, "conversations", "xmin", conv) != version);
  CHECK(column(w, "conversations", "sentiment_score", conv) == "-0.7");
  w.apply(topics::ai_events,
          event(types::ai_assistant_changed,
                "{" + chat_fields(conv, p) +
                    ",\"from_assistant\":\"apresentacao\",\"to_assistant\":\"financeiro\"}"));
  CHECK(column(w, "conversations", "assistant_type", conv) == "financeiro");
  CHECK(column(w, "conversations", "department", conv) == "financial");
}

TEST_CASE("bad records are non-retryable errors and other consumers' events are ignored") {
  World w;
  // An event naming a conversation that does not exist: dead-lettered with the reason.
  const auto unknown = core::Uuid::v7().str();
  auto st = w.handlers().apply(topics::ai_events,
                               event(types::ai_handoff_requested, handoff(unknown, phone())));
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());
  CHECK(st.error().message().find(unknown) != std::string::npos);
  // ... and its inbox claim was rolled back with it.
  CHECK(w.count("SELECT count(*) FROM " + w.t("inbox")) == 0);

  kafka::Message broken;
  broken.topic = std::string(topics::whatsapp_inbound);
  broken.value = "{not a cloud event";
  auto bad = w.handlers().handle(broken);
  REQUIRE_FALSE(bad.ok());
  CHECK_FALSE(bad.error().retryable());

  kafka::Message invalid;
  invalid.topic = std::string(topics::whatsapp_inbound);
  auto ev = events::make_event(types::whatsapp_message_received, 1, "/lia/ingestion", "",
                               R"({"provider":"meta"})");
  invalid.value = events::encode(ev);
  auto rejected = w.handlers().handle(invalid);
  REQUIRE_FALSE(rejected.ok());
  CHECK_FALSE(rejected.error().retryable());

  // A valid record through handle(): applied.
  kafka::Message good;
  good.topic = std::string(topics::whatsapp_inbound);
  good.value =
      events::encode(event(types::whatsapp_message_received, received(phone(), "K-1", "oi")));
  CHECK(w.handlers().handle(good).ok());

  // Events for other consumers of a topic, and connection updates: ok, no effect.
  const auto before = w.outbox().size();
  CHECK(
      w.handlers()
          .apply(
              topics::ai_events,
              event(
                  types::ai_tool_invoked,
                  R"({"conversation_id":")" + core::Uuid::v7().str() +
                      R"(","provider":"meta","instance":"1","chat_id":"5511987654321","assistant":"suporte","tool":"lookup_outage","arguments":{},"ok":true})"))
          .ok());
  CHECK(
      w.handlers()
          .apply(
              topics::whatsapp_status,
              event(
                  types::whatsapp_connection_updated,
                  R"({"provider":"evolution","instance":"lia-vendas","state":"DISCONNECTED","timestamp":"2026-11-22T12:50:00Z"})"))
          .ok());
  CHECK(w.outbox().size() == before);

  // A type newer than this build (its schema unknown here), named by the relay's type header:
  // skipped, not dead-lettered. Without the header it is decoded, and refused.
  kafka::Message newer;
  newer.topic = std::string(topics::notification_events);
  newer.value = R"({"specversion":"1.0","id":"0190e0a4-7b2c-7def-8123-0123456789ab",)"
                R"("source":"/lia/notification","type":"lia.notification.message.recalled",)"
                R"("time":"2026-11-22T12:53:24.123Z","datacontenttype":"application/json",)"
                R"("dataschema":"lia://schemas/lia.notification.message.recalled/v1","data":{}})";
  auto unheaded = w.handlers().handle(newer);
  REQUIRE_FALSE(unheaded.ok());
  CHECK(unheaded.error().message().find("no schema") != std::string::npos);
  newer.headers.push_back({"lia.event_type", "lia.notification.message.recalled"});
  CHECK(w.handlers().handle(newer).ok());
  CHECK(w.outbox().size() == before);
}

TEST_CASE(
    "database trouble is a retryable error that applies nothing, and the record applies once "
    "when the database is back") {
  World w;
  const auto p = phone();
  const auto r = with_ai_reply(w, p);
  w.user("ana", auth::Role::agent, {"support"});
  const auto record = [&p](std::string_view topic, const events::CloudEvent& ev) {
    kafka::Message m;
    m.topic = std::string(topic);
    m.key = instance() + ":" + jid(p);
    m.value = events::encode(ev);
    return m;
  };
  // One record of each kind that writes: a customer message, an AI reply (a send command),
  // notification's sent, a tick, an analysis and a handoff.
  const std::vector<kafka::Message> records = {
      record(topics::whatsapp_inbound,
             event(types::whatsapp_message_received, received(p, "DOWN-" + p, "Ainda sem sinal"))),
      record(topics::ai_events,
             event(types::ai_reply_generated, reply(r.conversation_id, p, core::Uuid::v7().str(),
                                                    message_of(w, "IN-" + p), "Vou verificar."))),
      record(topics::notification_events,
             event(types::notification_message_sent, sent_event(r.command_id, p, "WA-DOWN"))),
      record(topics::whatsapp_status,
             event(types::whatsapp_message_status, status(p, "WA-DOWN", "READ"))),
      record(topics::ai_events,
             event(types::ai_analysis_completed,
                   "{" + chat_fields(r.conversation_id, p) +
                       R"(,"sentiment":"negative","sentiment_score":-0.6,"urgency":"high"})")),
      record(topics::ai_events, event(types::ai_handoff_requested, handoff(r.conversation_id, p))),
  };
  const auto outbox_before = w.outbox().size();
  const auto count_messages = [&w] { return w.count("SELECT count(*) FROM " + w.t("messages")); };
  const auto messages_before = count_messages();
  const auto inbox_before = w.count("SELECT count(*) FROM " + w.t("inbox"));

  // The partition must wait and retry in place: a non-retryable error would dead-letter the
  // record and let the chat's next records overtake it.
  Handlers down(lia::testing::unreachable_pool(), w.schema());
  for (const auto& m : records) {
    INFO(m.topic);
    auto st = down.handle(m);
    REQUIRE_FALSE(st.ok());
    INFO(st.error().describe());
    CHECK(st.error().retryable());
  }
  CHECK(w.outbox().size() == outbox_before);
  CHECK(count_messages() == messages_before);
  CHECK(w.count("SELECT count(*) FROM " + w.t("inbox")) == inbox_before);
  CHECK(column(w, "messages", "whatsapp_message_id", r.reply_id) == "<null>");
  CHECK(column(w, "conversations", "status", r.conversation_id) == "active");
  CHECK(column(w, "conversations", "sentiment", r.conversation_id) != "negative");

  // The database back: each record applies, and handled once more, changes nothing.
  for (const auto& m : records) {
    INFO(m.topic);
    auto st = w.handlers().handle(m);
    if (!st) FAIL(st.error().describe());
  }
  const auto outbox_after = w.outbox().size();
  for (const auto& m : records) CHECK(w.handlers().handle(m).ok());
  CHECK(w.outbox().size() == outbox_after);
  CHECK(count_messages() == messages_before + 2);
  CHECK(w.count("SELECT count(*) FROM " + w.t("messages") + " WHERE whatsapp_message_id = 'DOWN-" +
                p + "'") == 1);
  CHECK(w.sent(types::notification_send_text).size() == 2);  // the first reply's and this one's
  CHECK(column(w, "messages", "whatsapp_message_id", r.reply_id) == "WA-DOWN");
  CHECK(column(w, "messages", "whatsapp_status", r.reply_id) == "READ");
  CHECK(column(w, "conversations", "sentiment", r.conversation_id) == "negative");
  CHECK(column(w, "conversations", "status", r.conversation_id) == "transferred");
  CHECK(w.sent(types::conversation_transferred).size() == 1);
  CHECK(w.sent(types::conversation_assigned).size() == 1);
}

TEST_CASE("a message written on the business phone is stored as the agent's and routed nowhere") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "FIRST-" + p, "oi")));
  // Its `from` is the business number, its push name the business's: neither is the customer.
  std::string data =
      received(p, "ME-1", "Bom dia, aqui é o João",
               core::format_rfc3339(core::SystemClock::instance().now()), "Loja LIA");
  data.replace(data.find("\"from_me\":false"), 15, "\"from_me\":true");
  data.replace(data.find("\"from\":\"" + p + "\""), 9 + p.size(), "\"from\":\"5511955550000\"");
  w.apply(topics::whatsapp_inbound, event(types::whatsapp_message_received, data));
  CHECK(w.count("SELECT count(*) FROM " + w.t("contacts")) == 1);
  CHECK(w.text("SELECT push_name FROM " + w.t("contacts")) == "Maria");
  const auto id = message_of(w, "ME-1");
  CHECK(column(w, "messages", "direction", id) == "outbound");
  CHECK(column(w, "messages", "author", id) == "agent");
  CHECK(column(w, "messages", "route", id) == "<null>");
  const auto stored = w.sent(types::conversation_message_stored);
  REQUIRE(stored.size() == 2);
  CHECK(stored[1].data["direction"] == "outbound");
  CHECK_FALSE(stored[1].data.HasMember("route"));
}

TEST_CASE("ticks that came before a message written on the business phone are applied to it") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "FIRST-" + p, "oi")));
  // The status topic's group ran ahead of the inbound one: the ticks wait for the message.
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "ME-READ", "READ")));
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "ME-READ", "DELIVERY_ACK")));
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "ME-ERR", "ERROR", "not delivered")));
  w.apply(topics::whatsapp_status,
          event(types::whatsapp_message_status, status(p, "ME-OTHER", "READ")));
  CHECK(w.count("SELECT count(*) FROM " + w.t("pending_statuses")) == 4);

  from_me(w, p, "ME-READ", "Bom dia, aqui é o João");
  from_me(w, p, "ME-ERR", "Segue o boleto");
  from_me(w, p, "ME-NONE", "Algo mais?");
  const auto read = message_of(w, "ME-READ");
  CHECK(column(w, "messages", "whatsapp_status", read) == "READ");
  const auto failed = message_of(w, "ME-ERR");
  CHECK(column(w, "messages", "whatsapp_status", failed) == "ERROR");
  CHECK(column(w, "messages", "status_reason", failed) == "not delivered");
  CHECK(column(w, "messages", "whatsapp_status", message_of(w, "ME-NONE")) == "SERVER_ACK");
  CHECK(column(w, "messages", "status_reason", message_of(w, "ME-NONE")) == "<null>");
  // Only the other message's tick still waits.
  CHECK(w.count("SELECT count(*) FROM " + w.t("pending_statuses")) == 1);
  const auto stored = w.sent(types::conversation_message_stored);
  REQUIRE(stored.size() == 4);
  CHECK(stored[1].data["status"] == "READ");
  CHECK(stored[2].data["status"] == "ERROR");
  CHECK(stored[3].data["status"] == "SERVER_ACK");
}

TEST_CASE("the enumerated columns refuse other values, as domains and after going back down") {
  World w;
  const auto p = phone();
  w.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "IN-" + p, "oi")));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"contacts", "document_type = 'RG'"},     {"conversations", "provider = 'telegram'"},
      {"conversations", "status = 'closed'"},   {"conversations", "mode = 'robot'"},
      {"messages", "direction = 'sideways'"},   {"messages", "role = 'bot'"},
      {"messages", "author = 'robot'"},         {"messages", "route = 'nowhere'"},
      {"messages", "whatsapp_status = 'SEEN'"},
  };
  auto expect_refused = [&] {
    for (const auto& [table, set] : bad) {
      auto r = w.pool().exec("UPDATE " + w.t(table) + " SET " + set);
      INFO(table << ": " << set);
      REQUIRE_FALSE(r.ok());
      CHECK(pg::sqlstate(r.error()) == "23514");
    }
    auto r = w.pool().exec("INSERT INTO " + w.t("pending_statuses") +
                           " (instance, whatsapp_message_id, status) VALUES ('i', 'w', 'SEEN')");
    REQUIRE_FALSE(r.ok());
    CHECK(pg::sqlstate(r.error()) == "23514");
  };
  expect_refused();
  // Down to the CHECK constraints (with rows in the tables) and up again.
  pg::Migrator m(w.pool_ptr(), w.schema(), "conversation", migrations());
  const int after_domains = static_cast<int>(migrations().size()) - 3;  // 0004 and later
  auto down = m.down(3);
  REQUIRE(down.ok());
  CHECK(*down == after_domains);
  expect_refused();
  auto up = m.up();
  REQUIRE(up.ok());
  CHECK(*up == after_domains);
  expect_refused();
  CHECK(column(w, "messages", "direction", message_of(w, "IN-" + p)) == "inbound");
}
