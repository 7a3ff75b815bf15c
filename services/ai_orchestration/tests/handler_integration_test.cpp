// The consumer of conversation.events.v1 against the real PostgreSQL: crafted events in,
// read model and outbox out.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <lia/core/metrics.hpp>
#include <lia/core/uuid.hpp>
#include <lia/pg/tx.hpp>
#include <lia/testing/pg.hpp>

#include "handler.hpp"
#include "support.hpp"

using namespace lia::ai_orchestration;
using namespace lia::ai_orchestration::test;
namespace types = lia::events::types;

namespace {

struct Fixture {
  Db db;
  std::shared_ptr<Handler> handler;
  explicit Fixture(HandlerOptions options = {}) {
    options.schema = db.schema;
    handler = std::make_shared<Handler>(
        db.pool, std::make_shared<const Orchestrator>(nullptr, nullptr, nullptr), options);
  }
  // Answers with `remote`, the local assistant its fallback.
  void use_remote(std::shared_ptr<LlmClient> remote) {
    handler = std::make_shared<Handler>(
        db.pool, std::make_shared<const Orchestrator>(std::move(remote), nullptr, nullptr),
        HandlerOptions{db.schema});
  }
  void ok(const lia::kafka::Message& m) {
    auto st = handler->handle(m);
    if (!st) FAIL(st.error().describe());
  }
};

// A remote model that never answers: every turn falls back to the local assistant.
class DownLlm final : public LlmClient {
 public:
  lia::core::Result<RemoteAnswer> complete(const RemoteRequest&, ToolRunner&,
                                           std::chrono::milliseconds*) override {
    ++calls;
    return lia::core::Error(lia::core::Errc::unavailable, "connection refused");
  }
  const std::string& model() const override { return model_; }
  int calls = 0;

 private:
  std::string model_ = "down";
};

// A remote model that answers every turn with the same text, keeping what it was shown.
class RecordingLlm final : public LlmClient {
 public:
  lia::core::Result<RemoteAnswer> complete(const RemoteRequest& request, ToolRunner&,
                                           std::chrono::milliseconds*) override {
    requests.push_back(request);
    return RemoteAnswer{
        "Vou verificar para você (" + std::to_string(requests.size()) + ").", {}, model_, 1};
  }
  const std::string& model() const override { return model_; }
  std::vector<RemoteRequest> requests;

 private:
  std::string model_ = "recording";
};

}  // namespace

TEST_CASE("a message sent while the model answered the one before is answered knowing that reply") {
  Fixture fx;
  auto remote = std::make_shared<RecordingLlm>();
  fx.use_remote(remote);
  Chat chat;
  fx.ok(chat.created());
  // The customer splits a message: the second is stored (and reaches us) before
  // conversation's message.stored of the reply to the first.
  fx.ok(chat.inbound("minha internet caiu"));
  fx.ok(chat.inbound("desde ontem, já reiniciei"));
  REQUIRE(remote->requests.size() == 2);
  const auto& second = remote->requests[1];
  REQUIRE(second.history.size() == 2);
  CHECK(second.history[0].author == "customer");
  CHECK(second.history[0].text == "minha internet caiu");
  CHECK(second.history[1].author == "ai");
  CHECK(second.history[1].text.find("Vou verificar para você (1).") != std::string::npos);
  CHECK(second.text == "desde ontem, já reiniciei");

  // The reply's message.stored comes back under its reply_id: counted, not stored again.
  const auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  fx.ok(chat.outbound(replies[0].str("text"), "ai", replies[0].str("reply_id")));
  CHECK(fx.db.count("recent_messages") == 4);  // two messages, two replies
  CHECK(fx.db.count("recent_messages WHERE author = 'ai' AND confirmed") == 1);
  CHECK(fx.db.count("conversations WHERE message_count = 3 AND ai_reply_count = 1") == 1);
  // Taken over by an agent before the second reply went out: conversation dropped it, so it
  // leaves the history (and no summary ever shows it); the first, sent, stays.
  fx.ok(chat.transferred("human"));
  CHECK(fx.db.count("recent_messages") == 3);
  CHECK(fx.db.count("recent_messages WHERE NOT confirmed") == 0);
  fx.ok(chat.resolved());
  auto summary = fx.db.pool->exec("SELECT summary FROM " + fx.db.schema +
                                  ".conversation_threads WHERE closed_reason = "
                                  "'conversation_ended'");
  REQUIRE(summary.ok());
  REQUIRE(summary->size() == 1);
  const auto text = (*summary)[0].get<std::string>(0);
  INFO(text);
  CHECK(text.find("minha internet caiu") != std::string::npos);
  CHECK(text.find("(2)") == std::string::npos);
  // A suggestion to an agent is not something the customer was told.
  Chat hybrid;
  fx.ok(hybrid.created());
  fx.ok(hybrid.transferred("hybrid"));
  fx.ok(hybrid.inbound("qual o valor da fatura?", "hybrid"));
  REQUIRE(of_type(outbox(fx.db), types::ai_reply_generated).size() == 3);
  CHECK(fx.db.count("recent_messages WHERE conversation_id = '" + hybrid.conversation_id + "'") ==
        1);
}

TEST_CASE("a fallback is counted once per answer kept, not again for a redelivery") {
  Fixture fx;
  auto remote = std::make_shared<DownLlm>();
  fx.use_remote(remote);
  auto& fallbacks = lia::core::metrics().counter("lia_ai_fallbacks_total", "");
  const auto before = fallbacks.value();
  Chat chat;
  fx.ok(chat.created());
  const auto message = chat.inbound("Oi, minha internet caiu!!!");
  fx.ok(message);
  CHECK(remote->calls == 1);
  CHECK(fallbacks.value() == before + 1);
  const auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].str("fallback") == "true");
  fx.ok(message);  // delivered again: nothing answered, nothing counted
  CHECK(fallbacks.value() == before + 1);
}

TEST_CASE("an inbound message gets a reply and an analysis in the outbox") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  const auto message_id = lia::core::Uuid::v7().str();
  fx.ok(chat.inbound("Oi, minha internet caiu!!!", "ai", message_id));

  const auto all = outbox(fx.db);  // each validated against its schema
  const auto replies = of_type(all, types::ai_reply_generated);
  const auto analyses = of_type(all, types::ai_analysis_completed);
  const auto changes = of_type(all, types::ai_assistant_changed);
  REQUIRE(replies.size() == 1);
  REQUIRE(analyses.size() == 1);
  REQUIRE(changes.size() == 1);
  CHECK(of_type(all, types::ai_handoff_requested).empty());

  const auto& reply = replies[0];
  CHECK(reply.topic == "ai.events.v1");
  CHECK(reply.key == chat.key());
  CHECK(reply.event.source == "/lia/ai_orchestration");
  CHECK(reply.event.subject == chat.conversation_id);
  CHECK(reply.str("in_reply_to") == message_id);
  CHECK(reply.str("delivery") == "send");
  CHECK(reply.str("model") == "local-pt-br");
  CHECK(reply.str("fallback") == "false");
  CHECK(reply.str("assistant") == "suporte");
  CHECK(reply.str("text").rfind("Olá! Sou a LIA", 0) == 0);
  CHECK(lia::core::Uuid::parse(reply.str("reply_id")).has_value());
  CHECK(reply.str("reply_id") != message_id);
  CHECK_FALSE(reply.str("thread_id").empty());

  CHECK(analyses[0].str("message_id") == message_id);
  CHECK(analyses[0].str("sentiment") == "negative");
  CHECK(analyses[0].str("intent") == "suporte_tecnico");
  CHECK(changes[0].str("from_assistant") == "apresentacao");
  CHECK(changes[0].str("to_assistant") == "suporte");
  CHECK(changes[0].str("in_reply_to") == message_id);
  // The assistant change comes first, the reply after the analysis.
  CHECK(all.front().event.type == types::ai_assistant_changed);
  CHECK(all.back().event.type == types::ai_reply_generated);

  auto row = fx.db.pool->exec(
      "SELECT assistant_type, message_count, customer_message_count, sentiment FROM " +
          fx.db.schema + ".conversations WHERE conversation_id = $1",
      chat.conversation_id);
  REQUIRE(row.ok());
  REQUIRE(row->size() == 1);
  CHECK((*row)[0].get<std::string>(0) == "suporte");
  CHECK((*row)[0].get<int>(1) == 1);
  CHECK((*row)[0].get<int>(2) == 1);
  CHECK((*row)[0].get<std::string>(3) == "negative");
  CHECK(fx.db.count("recent_messages") == 2);  // the message, and the reply going out
  CHECK(fx.db.count("recent_messages WHERE author = 'ai' AND message_id = '" +
                    reply.str("reply_id") + "' AND content LIKE 'Olá! Sou a LIA%'") == 1);
  CHECK(fx.db.count("conversation_threads WHERE closed_at IS NULL AND message_count = 1") == 1);
}

namespace {

// collections' message.requested for the chat, now.
lia::kafka::Message campaign_requested(Chat& chat) {
  lia::json::Writer w;
  w.begin_object()
      .field("campaign_id", lia::core::Uuid::v7().str())
      .field("target_id", lia::core::Uuid::v7().str())
      .field("attempt", 1)
      .field("command_id", lia::core::Uuid::v7().str())
      .field("provider", "meta")
      .field("instance", chat.instance)
      .field("to", chat.chat_id)
      .end_object();
  return chat.message(types::collections_message_requested, w.take(),
                      lia::events::topics::collections_events);
}

}  // namespace

TEST_CASE("an answer past LIA_CAMPAIGN_ANSWER_WINDOW_MS is no campaign's: apresentacao keeps it") {
  HandlerOptions options;
  options.campaign_answer_window = std::chrono::seconds{30};
  Fixture fx(options);
  Chat debtor;
  debtor.chat_id = "5511987650002";
  fx.ok(campaign_requested(debtor));
  fx.ok(debtor.created());
  // Written a minute after the campaign's message.
  fx.ok(debtor.inbound("quem é?", "ai", lia::core::Uuid::v7().str(),
                       lia::core::format_rfc3339(lia::core::SystemClock::instance().now() +
                                                 std::chrono::minutes{1})));
  CHECK(of_type(outbox(fx.db), types::ai_assistant_changed).empty());
}

TEST_CASE("a debtor's answer to a campaign's message goes to cobranca") {
  Fixture fx;
  const auto now = lia::core::SystemClock::instance().now();
  // The answer, written a minute after the campaign's message.
  const auto answer = [&](Chat& chat, const std::string& text) {
    return chat.inbound(text, "ai", lia::core::Uuid::v7().str(),
                        lia::core::format_rfc3339(now + std::chrono::minutes{1}));
  };
  Chat debtor;
  debtor.chat_id = "5511987650001";  // a phone's chat: collections can keep an opt-out
  const auto campaign = campaign_requested(debtor);
  fx.ok(campaign);
  fx.ok(campaign);  // redelivered: the same
  CHECK(fx.db.count("campaign_chats WHERE phone = '5511987650001'") == 1);
  // The debtor answers from the number as WhatsApp names it, without the ninth digit.
  debtor.chat_id = "551187650001@s.whatsapp.net";
  fx.ok(debtor.created());
  fx.ok(answer(debtor, "parem de me mandar mensagem"));
  auto all = outbox(fx.db);
  const auto changes = of_type(all, types::ai_assistant_changed);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].str("to_assistant") == "cobranca");
  CHECK(changes[0].str("reason") == "resposta a uma campanha de cobrança");
  REQUIRE(of_type(all, types::ai_handoff_requested).size() == 1);
  const auto tools = of_type(all, types::ai_tool_invoked);
  CHECK(std::any_of(tools.begin(), tools.end(),
                    [](const auto& t) { return t.str("tool") == "register_opt_out"; }));

  // Another chat, never messaged by a campaign: apresentacao's menu, as before.
  Chat other;
  fx.ok(other.created());
  fx.ok(answer(other, "oi"));
  all = outbox(fx.db);
  CHECK(of_type(all, types::ai_assistant_changed).size() == 1);
}

TEST_CASE("a complaint's follow-ups are answered with its first protocol, not a new one") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("quero registrar uma reclamação na ouvidoria: o técnico não veio"));
  fx.ok(chat.inbound("qual o andamento da minha reclamação?"));
  fx.ok(chat.inbound("quero reclamar de novo, ninguém resolveu a minha reclamação"));
  const auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 3);
  const auto first = replies[0].str("text");
  const auto at = first.find("OUV-");
  REQUIRE(at != std::string::npos);
  const auto protocol = first.substr(at, 4 + kProtocolDigits);
  for (std::size_t i = 1; i < replies.size(); ++i) {
    INFO(replies[i].str("text"));
    CHECK(replies[i].str("text").find("protocolo " + protocol) != std::string::npos);
    CHECK(replies[i].str("text").find("Registrei") == std::string::npos);
  }
  auto row = fx.db.pool->exec("SELECT registrations->>'register_complaint' FROM " + fx.db.schema +
                                  ".conversations WHERE conversation_id = $1",
                              chat.conversation_id);
  REQUIRE(row.ok());
  REQUIRE(row->size() == 1);
  CHECK((*row)[0].get<std::string>(0) == protocol);

  // Resolved, then reopened months later: a complaint then is a new case, with a new protocol.
  fx.ok(chat.resolved());
  fx.ok(chat.reopened());
  fx.ok(chat.inbound("quero registrar uma reclamação na ouvidoria: o técnico não veio"));
  const auto later = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(later.size() == 4);
  const auto text = later[3].str("text");
  INFO(text);
  CHECK(text.find("Registrei sua reclamação") != std::string::npos);
  CHECK(text.find(protocol) == std::string::npos);
}

TEST_CASE("a resolution ends the negative streak: a later first message is not read as angry") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.transferred("human"));
  // Four unhappy messages while an agent handles the case: the streak grows all the same.
  for (const char* text : {"continua ruim", "péssimo", "caiu de novo", "que lentidão"}) {
    fx.ok(chat.inbound(text, "human"));
  }
  const auto streak = [&] {
    auto r = fx.db.pool->exec(
        "SELECT negative_streak FROM " + fx.db.schema + ".conversations WHERE conversation_id = $1",
        chat.conversation_id);
    REQUIRE(r.ok());
    REQUIRE(r->size() == 1);
    return (*r)[0].get<int>(0);
  };
  REQUIRE(streak() == 4);
  fx.ok(chat.resolved());
  CHECK(streak() == 0);
  fx.ok(chat.reopened());
  fx.ok(chat.inbound("boa tarde, minha internet tá lenta"));
  const auto analyses = of_type(outbox(fx.db), types::ai_analysis_completed);
  REQUIRE_FALSE(analyses.empty());
  CHECK(analyses.back().str("urgency") == "medium");  // normal
  CHECK(of_type(outbox(fx.db), types::ai_handoff_requested).empty());
}

TEST_CASE("a redelivered event gives no second reply") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  const auto m = chat.inbound("segunda via do boleto");
  fx.ok(m);
  const auto before = outbox(fx.db).size();
  REQUIRE(before >= 2);
  fx.ok(m);
  fx.ok(m);
  CHECK(outbox(fx.db).size() == before);
  CHECK(of_type(outbox(fx.db), types::ai_reply_generated).size() == 1);
  CHECK(fx.db.count("recent_messages") == 2);  // the message and its one reply
}

TEST_CASE("a transferred conversation gets no AI answer") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.transferred("human"));
  fx.ok(chat.inbound("alô? minha internet caiu"));
  CHECK(outbox(fx.db).empty());
  // The message still counts in the read model.
  CHECK(fx.db.count("recent_messages") == 1);
  auto row = fx.db.pool->exec("SELECT status, mode FROM " + fx.db.schema + ".conversations");
  REQUIRE(row.ok());
  CHECK((*row)[0].get<std::string>(0) == "transferred");
  CHECK((*row)[0].get<std::string>(1) == "human");
}

TEST_CASE("a resolved conversation gets no answer until it is reopened") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("oi"));
  REQUIRE(of_type(outbox(fx.db), types::ai_reply_generated).size() == 1);
  fx.ok(chat.resolved());
  fx.ok(chat.inbound("ainda estão ai?"));
  CHECK(of_type(outbox(fx.db), types::ai_reply_generated).size() == 1);
  // Resolution closed the thread.
  CHECK(fx.db.count("conversation_threads WHERE closed_reason = 'conversation_ended'") == 1);

  fx.ok(chat.reopened());
  fx.ok(chat.inbound("quero a segunda via da fatura"));
  const auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].str("assistant") == "financeiro");
  // Not greeted again: the customer wrote before.
  CHECK(replies[1].str("text").find("Sou a LIA") == std::string::npos);
  // A new thread after the closed one.
  CHECK(fx.db.count("conversation_threads WHERE closed_at IS NULL") == 1);
}

TEST_CASE("a conversation the customer reopens starts again from apresentacao") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("quero cancelar minha internet"));
  auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 1);
  REQUIRE(replies[0].str("assistant") == "cancelamento");
  fx.ok(chat.resolved());
  // Days later, a new message: not the cancellation's CPF question.
  fx.ok(chat.reopened());
  fx.ok(chat.inbound("Boa tarde"));
  replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  INFO(replies[1].str("text"));
  CHECK(replies[1].str("assistant") == "apresentacao");
  CHECK(replies[1].str("text").find("seguir com o cancelamento") == std::string::npos);
  CHECK(replies[1].str("text").find("CPF") == std::string::npos);
  // Reopened by an agent (reason "agent"): the assistant stays.
  fx.ok(chat.inbound("quero cancelar"));
  fx.ok(chat.resolved());
  auto w = chat.base();
  w.field("mode", "ai").field("reason", "agent").end_object();
  fx.ok(chat.message(types::conversation_reopened, w.take()));
  fx.ok(chat.inbound("ok"));
  replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 4);
  CHECK(replies[3].str("assistant") == "cancelamento");
}

TEST_CASE("a handoff publishes the transfer notice before the request, then the AI is silent") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("minha internet está lenta"));
  fx.ok(chat.inbound("quero falar com um atendente"));
  auto all = outbox(fx.db);
  const auto handoffs = of_type(all, types::ai_handoff_requested);
  REQUIRE(handoffs.size() == 1);
  CHECK(handoffs[0].str("department") == "support");
  CHECK(handoffs[0].str("assistant") == "suporte");
  CHECK(handoffs[0].str("reason") == "cliente pediu atendente humano");
  CHECK(all.back().event.type == types::ai_handoff_requested);
  const auto replies = of_type(all, types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].str("text").find("transferir") != std::string::npos);
  // Both name the message they answer, so a request from before a reopening can be told.
  CHECK(handoffs[0].str("in_reply_to") == replies[1].str("in_reply_to"));
  CHECK(replies[0].str("in_reply_to") != replies[1].str("in_reply_to"));
  const auto tools = of_type(all, types::ai_tool_invoked);
  REQUIRE(tools.size() == 1);
  CHECK(tools[0].str("tool") == "transfer_to_human");

  // Before conversation has moved it to a human, the AI stays quiet.
  const auto count = all.size();
  fx.ok(chat.inbound("alô?"));
  CHECK(outbox(fx.db).size() == count);
  // Handed back to the AI, it answers again.
  fx.ok(chat.transferred("ai"));
  fx.ok(chat.inbound("e agora, a internet voltou?"));
  CHECK(of_type(outbox(fx.db), types::ai_reply_generated).size() == 3);
}

TEST_CASE("an angry customer is handed off with high urgency") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("VOCÊS SÃO UNS INCOMPETENTES, QUERO MINHA INTERNET AGORA!!!"));
  const auto handoffs = of_type(outbox(fx.db), types::ai_handoff_requested);
  REQUIRE(handoffs.size() == 1);
  const auto urgency = handoffs[0].str("urgency");
  CHECK((urgency == "high" || urgency == "critical"));
}

TEST_CASE("tools run by the assistant are published") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  auto ins = fx.db.pool->exec("INSERT INTO " + fx.db.schema +
                                  ".outages (id, cep_prefix, region, description, eta) VALUES "
                                  "($1, '0131', 'Bela Vista', 'rompimento de fibra', "
                                  "'2026-11-22T21:00:00Z')",
                              lia::core::Uuid::v7().str());
  REQUIRE(ins.ok());
  fx.ok(chat.inbound("estou sem internet"));
  fx.ok(chat.inbound("meu cep é 01310-100"));
  const auto all = outbox(fx.db);
  const auto tools = of_type(all, types::ai_tool_invoked);
  REQUIRE(tools.size() == 2);
  CHECK(tools[0].str("tool") == "check_coverage");
  CHECK(tools[1].str("tool") == "lookup_outage");
  CHECK(tools[1].str("ok") == "true");
  CHECK(tools[1].str("result").find("Bela Vista") != std::string::npos);
  const auto replies = of_type(all, types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].str("text").find("Bela Vista") != std::string::npos);
  CHECK(replies[1].str("text").find("22/11 às 18:00") != std::string::npos);  // São Paulo time
}

TEST_CASE("an outage lookup that meets the database down is retried, not answered without it") {
  // The outages of this test: down first, then back with an open outage.
  class FlakyOutages final : public OutageSource {
   public:
    bool down = true;
    int calls = 0;
    lia::core::Result<std::optional<Outage>> find(std::string_view /*cep*/) override {
      ++calls;
      if (down) return lia::core::Error(lia::core::Errc::unavailable, "connection refused");
      return std::optional<Outage>(Outage{"0190e0a4-0000-7000-8000-000000000001", "0131",
                                          "Bela Vista", "rompimento de fibra", std::nullopt});
    }
  };
  auto outages = std::make_shared<FlakyOutages>();
  HandlerOptions options;
  options.outages = outages;
  Fixture fx(options);
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("estou sem internet"));
  const auto before = outbox(fx.db).size();

  const auto asked = chat.inbound("meu cep é 01310-100");
  auto st = fx.handler->handle(asked);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().retryable());
  CHECK(outages->calls == 1);
  CHECK(outbox(fx.db).size() == before);  // nothing published, the event not claimed

  outages->down = false;
  fx.ok(asked);  // the consumer's retry of the same record
  const auto all = outbox(fx.db);
  const auto replies = of_type(all, types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].str("text").find("Bela Vista") != std::string::npos);
  const auto tools = of_type(all, types::ai_tool_invoked);
  REQUIRE(tools.size() == 2);
  CHECK(tools[1].str("tool") == "lookup_outage");
  CHECK(tools[1].str("ok") == "true");
}

TEST_CASE("hybrid conversations get suggestions, never handoffs") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.transferred("hybrid"));
  fx.ok(chat.inbound("quero falar com um atendente sobre o boleto", "hybrid"));
  const auto all = outbox(fx.db);
  const auto replies = of_type(all, types::ai_reply_generated);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].str("delivery") == "suggest");
  CHECK(of_type(all, types::ai_handoff_requested).empty());
  CHECK(of_type(all, types::ai_assistant_changed).empty());
}

TEST_CASE("a hybrid suggestion registers nothing and claims no protocol") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.transferred("hybrid"));
  fx.ok(chat.inbound("quero registrar uma reclamação na ouvidoria: o técnico não veio", "hybrid"));
  const auto all = outbox(fx.db);
  const auto replies = of_type(all, types::ai_reply_generated);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].str("delivery") == "suggest");
  CHECK(replies[0].str("text").find("protocolo") == std::string::npos);
  CHECK(replies[0].str("text").find("Posso registrar") != std::string::npos);
  CHECK(of_type(all, types::ai_tool_invoked).empty());
}

TEST_CASE("outbound messages build the context and the greeting comes once") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("oi"));
  const auto first = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(first.size() == 1);
  fx.ok(chat.outbound("Olá! Sou a LIA...", "ai", first[0].str("reply_id")));  // its echo
  fx.ok(chat.outbound("Bom dia, aqui é a Ana do suporte", "agent"));
  fx.ok(chat.inbound("oi de novo"));
  const auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].str("text").rfind("Olá! Sou a LIA", 0) == 0);
  CHECK(replies[1].str("text").find("Sou a LIA") == std::string::npos);
  CHECK(fx.db.count("recent_messages") == 5);  // the second reply too, before its echo
  auto row = fx.db.pool->exec("SELECT message_count, ai_reply_count FROM " + fx.db.schema +
                              ".conversations");
  REQUIRE(row.ok());
  CHECK((*row)[0].get<int>(0) == 4);
  CHECK((*row)[0].get<int>(1) == 1);
}

TEST_CASE("threads rotate at 55 messages with a summary and recent messages stay bounded") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  fx.ok(chat.inbound("minha internet caiu"));  // 1 customer message, answered
  for (int i = 2; i <= 55; ++i) fx.ok(chat.outbound("resposta número " + std::to_string(i)));
  auto threads = [&] {
    auto r = fx.db.pool->exec(
        "SELECT message_count, closed_reason, coalesce(summary, ''), "
        "cardinality(preserved_message_ids) FROM " +
        fx.db.schema + ".conversation_threads ORDER BY created_at, id");
    REQUIRE(r.ok());
    return std::move(*r);
  };
  {
    auto t = threads();
    REQUIRE(t.size() == 2);
    CHECK(t[0].get<int>(0) == 55);
    CHECK(t[0].get<std::string>(1) == "rotation");
    const auto summary = t[0].get<std::string>(2);
    CHECK(summary.find("55 mensagens") != std::string::npos);
    // The thread's first message too: a whole thread is kept (LIA_AI_RECENT_MESSAGES).
    CHECK(summary.find("minha internet caiu") != std::string::npos);
    CHECK(summary.find("resposta número 55") != std::string::npos);
    CHECK(t[1].get<int>(0) == 0);
    CHECK(t[1].is_null(1));
    CHECK(t[1].get<std::string>(2) == summary);  // the new thread starts from the summary
  }
  fx.ok(chat.inbound("e aí?"));
  auto t = threads();
  REQUIRE(t.size() == 2);
  CHECK(t[1].get<int>(0) == 1);
  // 56 messages and the first one's reply, which shares its seq: those two pruned, the
  // last one's reply (its seq too) kept beside it.
  CHECK(fx.db.count("recent_messages") == 56);
  CHECK(fx.db.count("recent_messages WHERE content = 'minha internet caiu'") == 0);
  const auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].str("thread_id") != replies[1].str("thread_id"));
}

TEST_CASE("the customer name from contacts.v1 is used and a tombstone erases it") {
  Fixture fx;
  Chat chat;
  REQUIRE(fx.handler->handle_contact(chat.contact("MARIA SOUZA")).ok());
  fx.ok(chat.created());
  fx.ok(chat.inbound("bom dia"));
  auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].str("text").rfind("Olá, Maria! Sou a LIA", 0) == 0);

  lia::kafka::Message tombstone;
  tombstone.topic = "contacts.v1";
  tombstone.key = chat.contact_id;
  REQUIRE(fx.handler->handle_contact(tombstone).ok());
  CHECK(fx.db.count("contacts") == 0);
  tombstone.key = "not-a-uuid";
  auto bad = fx.handler->handle_contact(tombstone);
  REQUIRE_FALSE(bad.ok());
  CHECK_FALSE(bad.error().retryable());
}

TEST_CASE("bad records are non-retryable errors (dead letters)") {
  Fixture fx;
  Chat chat;
  lia::kafka::Message garbage;
  garbage.topic = "conversation.events.v1";
  garbage.value = "{not json";
  auto a = fx.handler->handle(garbage);
  REQUIRE_FALSE(a.ok());
  CHECK_FALSE(a.error().retryable());

  // Schema-invalid data (no text on a text message) is refused too.
  auto m = chat.inbound("oi");
  const auto pos = m.value.find("\"text\":\"oi\",");
  REQUIRE(pos != std::string::npos);
  m.value.erase(pos, std::string("\"text\":\"oi\",").size());
  auto b = fx.handler->handle(m);
  REQUIRE_FALSE(b.ok());
  CHECK_FALSE(b.error().retryable());

  // Another topic's event on this one.
  auto w = lia::json::Writer();
  w.begin_object()
      .field("provider", "evolution")
      .field("instance", "x")
      .field("state", "CONNECTED")
      .field("timestamp", "2026-11-22T12:50:00Z")
      .end_object();
  auto misrouted = chat.message(types::whatsapp_connection_updated, w.take());
  // Its type header says what it is: skipped, as a type newer than this build would be.
  CHECK(fx.handler->handle(misrouted).ok());
  std::erase_if(misrouted.headers, [](const lia::kafka::Header& h) {
    return h.key == lia::events::headers::event_type;
  });
  auto c = fx.handler->handle(misrouted);
  REQUIRE_FALSE(c.ok());
  CHECK_FALSE(c.error().retryable());
  CHECK(c.error().message().find("unexpected event type") != std::string::npos);

  // A type this build has no schema for is skipped on its header, not dead-lettered.
  auto newer = chat.created();
  for (auto& h : newer.headers) {
    if (h.key == lia::events::headers::event_type) h.value = "lia.conversation.archived";
  }
  const std::string type_field = R"("type":")" + std::string(types::conversation_created) + '"';
  const auto at = newer.value.find(type_field);
  REQUIRE(at != std::string::npos);
  newer.value.replace(at, type_field.size(), R"("type":"lia.conversation.archived")");
  CHECK(fx.handler->handle(newer).ok());

  // assigned and unassigned are accepted and change nothing.
  CHECK(fx.handler->handle(chat.assigned()).ok());
  CHECK(fx.handler->handle(chat.unassigned()).ok());
  CHECK(outbox(fx.db).empty());
}

TEST_CASE(
    "database trouble is a retryable error that publishes nothing, and the message is answered "
    "once when the database is back") {
  Fixture fx;
  Chat chat;
  HandlerOptions options;
  options.schema = fx.db.schema;
  Handler down(lia::testing::unreachable_pool(),
               std::make_shared<const Orchestrator>(nullptr, nullptr, nullptr), options);
  const auto deliver = [](Handler& h, const lia::kafka::Message& m) {
    return m.topic == lia::events::topics::contacts ? h.handle_contact(m) : h.handle(m);
  };
  // Every kind of record that writes: the contact's name, the conversation's states, a
  // customer message for the AI (its snapshot is read first), the AI's stored reply, and
  // the contact erased.
  const std::vector<lia::kafka::Message> records = {
      chat.contact("MARIA SOUZA"), chat.created(),     chat.inbound("Oi, minha internet caiu!!!"),
      chat.outbound("Olá!"),       chat.transferred(), chat.contact_tombstone()};

  // The partition must wait and retry in place: a non-retryable error would dead-letter the
  // record and let the chat's next records overtake it.
  for (const auto& m : records) {
    INFO(m.topic << " " << m.offset);
    auto st = deliver(down, m);
    REQUIRE_FALSE(st.ok());
    INFO(st.error().describe());
    CHECK(st.error().retryable());
  }
  CHECK(outbox(fx.db).empty());
  CHECK(fx.db.count("inbox") == 0);
  CHECK(fx.db.count("conversations") == 0);
  CHECK(fx.db.count("contacts") == 0);

  // The database back: each record applies, in order, and the message gets one answer.
  for (const auto& m : records) {
    INFO(m.topic << " " << m.offset);
    auto st = deliver(*fx.handler, m);
    if (!st) FAIL(st.error().describe());
  }
  const auto all = outbox(fx.db);
  const auto replies = of_type(all, types::ai_reply_generated);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].str("text").rfind("Olá, Maria! Sou a LIA", 0) == 0);
  CHECK(of_type(all, types::ai_analysis_completed).size() == 1);
  // The message and "Olá!" (its own id here): the reply, never confirmed by a message.stored
  // of its id before the transfer, left with it.
  CHECK(fx.db.count("recent_messages") == 2);
  CHECK(fx.db.count("conversations WHERE status = 'transferred'") == 1);
  CHECK(fx.db.count("contacts") == 0);
  // Handled again (a redelivery), the conversation's records change nothing.
  for (const auto& m : records) {
    if (m.topic != lia::events::topics::contacts) CHECK(fx.handler->handle(m).ok());
  }
  CHECK(outbox(fx.db).size() == all.size());
  CHECK(fx.db.count("recent_messages") == 2);
}

TEST_CASE("a conversation that changed meanwhile is a retryable conflict") {
  Fixture fx;
  Chat chat;
  fx.ok(chat.created());
  MessageRecord rec;
  rec.chat = {chat.conversation_id, chat.contact_id, "meta", chat.instance, chat.chat_id};
  rec.message_id = lia::core::Uuid::v7().str();
  rec.direction = "inbound";
  rec.author = "customer";
  rec.kind = "text";
  rec.sent_at = "2026-11-22T12:53:20Z";
  auto record = [&](std::optional<std::int64_t> expected) {
    rec.expected_version = expected;
    return lia::pg::transact(*fx.db.pool, [&](lia::pg::Tx& tx) -> lia::core::Status {
      auto r = fx.handler->store().record_message(tx, rec);
      if (!r) return r.error();
      return lia::core::ok();
    });
  };
  auto stale = record(999);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code() == lia::core::Errc::conflict);
  CHECK(stale.error().retryable());
  auto gone = record(-1);  // the answer assumed no row, but there is one now
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().retryable());
  CHECK(fx.db.count("recent_messages") == 0);
  CHECK(record(1).ok());  // created made version 1
  CHECK(fx.db.count("recent_messages") == 1);
}

TEST_CASE("messages of a conversation never seen before are answered") {
  Fixture fx;
  Chat chat;  // no conversation.created (e.g. the service started later)
  fx.ok(chat.inbound("quero cancelar"));
  const auto replies = of_type(outbox(fx.db), types::ai_reply_generated);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].str("assistant") == "cancelamento");
}

TEST_CASE("prompt templates are seeded for every assistant") {
  Db db;
  CHECK(db.count("prompt_templates WHERE status = 'active'") == 7);
  PgPrompts prompts(db.pool, db.schema);
  for (Assistant a : kAssistants) {
    auto p = prompts.prompt(a);
    REQUIRE(p.has_value());
    CHECK(p->content.find("LIA") != std::string::npos);
    CHECK(p->temperature.has_value());
    // The model never sees a document (redacted to [CPF]): no prompt asks it to get one.
    INFO(to_string(a));
    CHECK(p->instructions.find("Peça o CPF") == std::string::npos);
    CHECK(p->instructions.find("confirmar o CPF") == std::string::npos);
  }
  CHECK(prompts.prompt(Assistant::financeiro)->instructions.find("[CPF]") != std::string::npos);
}

namespace {

// A value outside a column's enumeration is refused (SQLSTATE 23514), whether the column
// holds a CHECK constraint (migrations 1-3) or is a domain (4).
void expect_enumerations_enforced(Db& db) {
  const std::string conv = db.schema + ".conversations";
  const std::string id = "0190e0a4-7b2c-7def-8123-0123456789ab";
  for (const std::string& sql :
       {fmt::format("INSERT INTO {} (conversation_id, contact_id, provider, instance, chat_id) "
                    "VALUES ('{}', gen_random_uuid(), 'meta', 'i', 'c')",
                    conv, id),
        fmt::format("INSERT INTO {}.recent_messages (message_id, conversation_id, seq, direction, "
                    "author, kind, sent_at) VALUES (gen_random_uuid(), '{}', 1, 'inbound', "
                    "'customer', 'text', now())",
                    db.schema, id),
        fmt::format("INSERT INTO {}.conversation_threads (id, conversation_id, thread_id) VALUES "
                    "(gen_random_uuid(), '{}', 't')",
                    db.schema, id)}) {
    INFO(sql);
    REQUIRE(db.pool->exec(sql).ok());
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"conversations", "status = 'closed'"},
      {"conversations", "mode = 'robot'"},
      {"conversations", "assistant_type = 'vendas'"},
      {"conversations", "sentiment = 'angry'"},
      {"conversations", "urgency = 'low'"},
      {"recent_messages", "direction = 'sideways'"},
      {"recent_messages", "author = 'robot'"},
      {"conversation_threads", "closed_at = now(), closed_reason = 'boredom'"},
      {"conversation_threads", "closed_reason = 'rotation'"},  // closed_at stays NULL
  };
  for (const auto& [table, set] : bad) {
    auto r = db.pool->exec(fmt::format("UPDATE {}.{} SET {}", db.schema, table, set));
    INFO(table << ": " << set);
    REQUIRE_FALSE(r.ok());
    CHECK(lia::pg::sqlstate(r.error()) == "23514");
  }
  REQUIRE(db.pool->exec("DELETE FROM " + conv).ok());  // cascades
}

}  // namespace

TEST_CASE("migrations go down and up again") {
  Db db;
  expect_enumerations_enforced(db);
  lia::pg::Migrator m(db.pool, db.schema, "ai_orchestration", migrations());
  CHECK(db.count("prompt_templates") == 9);  // 7 seeded, 2 of them in a second version
  auto back = m.down(3);
  REQUIRE(back.ok());
  // campaign_chats, reply_confirmed, token_revocation, prompts_hidden_documents, registrations,
  // desk_users, enumerations_as_domains
  CHECK(*back == 7);
  CHECK(db.count("prompt_templates") == 7);
  CHECK(db.count("prompt_templates WHERE status = 'active' AND version = '1.0.0'") == 7);
  expect_enumerations_enforced(db);
  auto down = m.down(0);
  REQUIRE(down.ok());
  CHECK(*down == 3);
  auto up = m.up();
  REQUIRE(up.ok());
  CHECK(*up == 10);
  CHECK(db.count("desk_users") == 0);
  CHECK(db.count("prompt_templates") == 9);
  CHECK(db.count("prompt_templates WHERE status = 'active'") == 7);
  expect_enumerations_enforced(db);
}
