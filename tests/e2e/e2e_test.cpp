// The spine, end to end: webhooks in, AI answers, provider sends, ticks, handoff, agent
// reply, resolution, survey, score, a collections campaign; and the failure cases: a
// webhook delivered five times, ticks out of order, forged signatures, a flaky provider, a
// provider that always fails (and its dead letter replayed once it is back), services killed
// mid-traffic (conversation, ai_orchestration, the gateway).

#include <atomic>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <signal.h>

#include <lia/json/writer.hpp>
#include <lia/pg/pool.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia::e2e;
using lia::local::webhooks::meta_status;
using lia::local::webhooks::meta_text;

namespace {

const std::string kPnid = "106540352242922";  // the business number's phone_number_id

std::string user_body(const std::string& username, const std::string& password,
                      const std::string& role, const std::string& department) {
  lia::json::Writer w;
  w.begin_object()
      .field("username", username)
      .field("password", password)
      .field("full_name", username + " Silva");
  w.field("role", role)
      .key("departments")
      .begin_array()
      .value(department)
      .value("general")
      .end_array();
  w.end_object();
  return w.take();
}

std::string text_body(const std::string& text) {
  lia::json::Writer w;
  w.begin_object().field("text", text).end_object();
  return w.take();
}

std::int64_t sql_count(const std::string& url, const std::string& sql) {
  lia::pg::PoolConfig pc;
  pc.url = url;
  pc.size = 1;
  auto pool = lia::pg::Pool::create(pc);
  REQUIRE(pool.ok());
  auto rows = (*pool)->exec(sql);
  INFO(sql);
  REQUIRE(rows.ok());
  return (*rows)[0].get<std::int64_t>(0);
}

}  // namespace

TEST_CASE("a customer's conversation goes through AI, handoff, agent, resolution and NPS") {
  lia::local::StackOptions o;
  // Debug logs too, so that the LGPD check at the end reads every log line the story makes.
  for (const char* svc : {"ingestion", "conversation", "ai_orchestration", "nps_gamification",
                          "collections", "notification"}) {
    o.service_env[svc] = {{"LIA_LOG_LEVEL", "debug"}};
  }
  o.service_env["collections"]["LIA_COLLECTIONS_TICK_MS"] = "500";
  Suite suite(o);
  auto& stack = *suite.stack;
  const std::string maria = "5511987650001";
  // Whether the sandbox received a text to `phone` that holds `part`.
  const auto sent_with = [&](const std::string& phone, const std::string& part) {
    auto s = stack.sandbox_sends(phone);
    return s.ok() && std::any_of(s->begin(), s->end(), [&](const auto& x) {
             return x.text.find(part) != std::string::npos;
           });
  };

  auto admin = stack.login("admin", stack.secrets().admin_password);
  REQUIRE(admin.ok());
  // Two agents of support; the user id each is given.
  std::map<std::string, std::string> agent_by_id;
  for (const auto* name : {"ana", "bruno"}) {
    auto created = stack.call(
        "conversation", "POST", "/api/users",
        user_body(name, std::string("s3nha-de-") + name + "!", "AGENT", "support"), *admin);
    REQUIRE(created.ok());
    INFO(created->body);
    REQUIRE(created->status == 201);
    const std::regex id_field(R"x("id":"([0-9a-f-]{36})")x");
    std::smatch id;
    REQUIRE(std::regex_search(created->body, id, id_field));
    agent_by_id[id[1]] = name;
  }
  REQUIRE(agent_by_id.size() == 2);
  const auto assigned_agent = [&](const std::string& conversation_id) {
    suite.expect(1, "lia.conversation.assigned", "conversation_id", conversation_id);
    const auto id = suite.first("lia.conversation.assigned", "conversation_id", conversation_id,
                                "agent_user_id");
    return agent_by_id.count(id) > 0 ? agent_by_id[id] : "unknown user " + id;
  };

  // 0. Another customer asks for a person first: one of the two agents now has a conversation.
  const std::string carlos = "5511987650009";
  REQUIRE(stack
              .post_meta(meta_text(kPnid, carlos, "Carlos", "wamid.story-0",
                                   "Quero falar com um atendente, por favor", now_s()))
              .value() == 200);
  suite.expect(1, "lia.conversation.created", "chat_id", carlos);
  const std::string busy_agent =
      assigned_agent(suite.first("lia.conversation.created", "chat_id", carlos, "conversation_id"));
  REQUIRE((busy_agent == "ana" || busy_agent == "bruno"));
  const std::string free_agent = busy_agent == "ana" ? "bruno" : "ana";

  // 1. A greeting gets the assistant's answer, sent through the provider, with ticks.
  REQUIRE(
      stack.post_meta(meta_text(kPnid, maria, "Maria", "wamid.story-1", "Olá, boa tarde!", now_s()))
          .value() == 200);
  suite.expect(1, "lia.conversation.created", "chat_id", maria);
  const std::string conversation =
      suite.first("lia.conversation.created", "chat_id", maria, "conversation_id");
  REQUIRE_FALSE(conversation.empty());
  suite.expect(1, "lia.ai.reply.generated", "conversation_id", conversation);
  suite.expect(1, "lia.notification.message.sent", "conversation_id", conversation);
  const std::string first_reply_id = suite.first("lia.notification.message.sent", "conversation_id",
                                                 conversation, "provider_message_id");
  REQUIRE_FALSE(first_reply_id.empty());
  suite.expect(1, "lia.whatsapp.message.status", "message_id",
               first_reply_id);  // the sandbox ticks back
  REQUIRE(lia::testing::wait_until(
      [&] {
        auto msgs = stack.call("conversation", "GET",
                               "/api/conversations/" + conversation + "/messages", "", *admin);
        return msgs.ok() && msgs->body.find("\"READ\"") != std::string::npos;
      },
      30s));

  // 2. A support problem routes to the suporte assistant.
  REQUIRE(stack
              .post_meta(meta_text(kPnid, maria, "Maria", "wamid.story-2",
                                   "Minha internet caiu, estou sem conexão", now_s()))
              .value() == 200);
  suite.expect(1, "lia.ai.assistant.changed", "conversation_id", conversation);
  CHECK(suite.first("lia.ai.assistant.changed", "conversation_id", conversation, "to_assistant") ==
        "suporte");
  suite.expect(2, "lia.notification.message.sent", "conversation_id", conversation);

  // 3. Asking for a person hands over to the least-loaded agent of support: the one without
  // Carlos.
  REQUIRE(stack
              .post_meta(meta_text(kPnid, maria, "Maria", "wamid.story-3",
                                   "Quero falar com um atendente", now_s()))
              .value() == 200);
  suite.expect(1, "lia.conversation.transferred", "conversation_id", conversation);
  REQUIRE(assigned_agent(conversation) == free_agent);
  const auto replies_at_handoff =
      suite.count("lia.ai.reply.generated", "conversation_id", conversation);

  // 4. From now on the AI is silent.
  REQUIRE(stack
              .post_meta(
                  meta_text(kPnid, maria, "Maria", "wamid.story-4", "Alô? Tem alguém aí?", now_s()))
              .value() == 200);
  suite.expect(1, "lia.conversation.message.stored", "route", "human");
  suite.settle();  // ai_orchestration has handled it
  CHECK(suite.count("lia.ai.reply.generated", "conversation_id", conversation) ==
        replies_at_handoff);

  // 5. Maria's agent sees the conversation, answers and resolves it; the other agent can't
  // see it or write in it.
  auto other = stack.login(busy_agent, "s3nha-de-" + busy_agent + "!");
  REQUIRE(other.ok());
  auto theirs =
      stack.call("conversation", "GET", "/api/conversations?status=transferred", "", *other);
  REQUIRE(theirs.ok());
  CHECK(theirs->body.find(conversation) == std::string::npos);
  auto intruding =
      stack.call("conversation", "POST", "/api/conversations/" + conversation + "/messages",
                 text_body("Oi, aqui é outro atendente."), *other);
  REQUIRE(intruding.ok());
  CHECK(intruding->status == 403);
  auto agent = stack.login(free_agent, "s3nha-de-" + free_agent + "!");
  REQUIRE(agent.ok());
  auto mine =
      stack.call("conversation", "GET", "/api/conversations?status=transferred", "", *agent);
  REQUIRE(mine.ok());
  CHECK(mine->body.find(conversation) != std::string::npos);
  const std::string agent_text = "Oi Maria, sou do suporte. Já reiniciei sua conexão.";
  auto sent = stack.call("conversation", "POST", "/api/conversations/" + conversation + "/messages",
                         text_body(agent_text), *agent);
  REQUIRE(sent.ok());
  CHECK(sent->status == 202);
  REQUIRE(lia::testing::wait_until([&] { return sent_with(maria, agent_text); }, 30s));
  auto resolved = stack.call("conversation", "POST",
                             "/api/conversations/" + conversation + "/resolve", "{}", *agent);
  REQUIRE(resolved.ok());
  CHECK(resolved->status == 200);
  suite.expect(1, "lia.conversation.resolved", "conversation_id", conversation);

  // 6. The survey reaches Maria; a bare score is recorded and not answered by the AI.
  suite.expect(1, "lia.engagement.survey.sent", "conversation_id", conversation);
  REQUIRE(lia::testing::wait_until([&] { return sent_with(maria, "nota de 0 a 10"); }, 30s));
  REQUIRE(
      stack.post_meta(meta_text(kPnid, maria, "Maria", "wamid.story-5", "10", now_s())).value() ==
      200);
  suite.expect(1, "lia.engagement.score.recorded", "conversation_id", conversation);
  CHECK(suite.first("lia.engagement.score.recorded", "conversation_id", conversation, "category") ==
        "promoter");
  CHECK(sql_count(
            stack.pg_url(),
            "SELECT count(*) FROM engagement.satisfaction_feedback WHERE conversation_id = '" +
                conversation +
                "' AND nps_score = 10 AND category = 'promoter' AND handling_status IS NULL") == 1);
  REQUIRE(lia::testing::wait_until(
      [&] { return sent_with(maria, "Obrigado pela sua avaliação! Ficamos felizes"); }, 30s));
  // The score sent again: the survey takes it too (the first stands), nothing reopens and the
  // AI does not answer it.
  const auto surveyed = suite.count("lia.conversation.message.stored", "route", "survey");
  REQUIRE(
      stack.post_meta(meta_text(kPnid, maria, "Maria", "wamid.story-5b", "10", now_s())).value() ==
      200);
  suite.expect(surveyed + 1, "lia.conversation.message.stored", "route", "survey");
  suite.settle();
  CHECK(suite.count("lia.engagement.score.recorded", "conversation_id", conversation) == 1);
  CHECK(suite.count("lia.ai.reply.generated", "conversation_id", conversation) ==
        replies_at_handoff);
  CHECK(suite.count("lia.conversation.reopened", "conversation_id", conversation) == 0);
  auto nps = stack.call("nps_gamification", "GET", "/api/nps", "", *admin);
  REQUIRE(nps.ok());
  INFO(nps->body);
  CHECK(nps->status == 200);
  const std::regex promoters(R"("promoters":([0-9]+))");
  std::smatch found;
  REQUIRE(std::regex_search(nps->body, found, promoters));
  CHECK(found[1] == "1");

  // 7. A collections campaign sends inside its hours; another, outside them, waits.
  const std::string debtor = "5521987650002";
  const std::string debtor_later = "5521987650003";
  auto campaign = [&](const std::string& name, const std::string& start, const std::string& end,
                      const std::string& phone) {
    lia::json::Writer w;
    w.begin_object()
        .field("name", name)
        .field("template", "Olá {{name}}, sua fatura de {{valor}} venceu.");
    w.key("allowed_hours")
        .begin_object()
        .field("start", start)
        .field("end", end)
        .field("days", "dom-sab")
        .end_object();
    w.field("max_attempts", 2).field("spacing_minutes", 60);
    w.key("targets").begin_array().begin_object().field("name", "João").field("phone", phone);
    w.field("document", "529.982.247-25");  // a CPF
    w.field("debt_amount", 129.9).field("due_date", "2026-11-10").end_object().end_array();
    w.end_object();
    return stack.call("collections", "POST", "/api/campaigns", w.take(), *admin);
  };
  // São Paulo time is UTC-3: a window of a few minutes around its "now" is closed in UTC
  // (and in any other offset), and one twelve hours away is closed in both.
  const auto sp_now = ((now_s() / 60) - 180 + 1440) % 1440;
  const auto hhmm = [](std::int64_t m) { return fmt::format("{:02}:{:02}", m / 60, m % 60); };
  const bool near_midnight = sp_now < 5 || sp_now > 1434;  // a window may not wrap
  auto now_campaign = near_midnight
                          ? campaign("Fatura novembro", "00:00", "24:00", debtor)
                          : campaign("Fatura novembro", hhmm(sp_now - 5), hhmm(sp_now + 5), debtor);
  REQUIRE(now_campaign.ok());
  INFO(now_campaign->body);
  REQUIRE(now_campaign->status == 201);
  const auto sp_later = (sp_now + 720) % 1440;
  auto later_campaign =
      campaign("Fatura noturna", hhmm(sp_later), hhmm(sp_later + 1), debtor_later);
  REQUIRE(later_campaign.ok());
  REQUIRE(later_campaign->status == 201);
  REQUIRE(lia::testing::wait_until([&] { return suite.sends_to(debtor) == 1; }, 30s));
  CHECK(sent_with(debtor, "Olá João, sua fatura de R$ 129,90 venceu."));
  std::this_thread::sleep_for(2s);
  CHECK(suite.sends_to(debtor) == 1);
  CHECK(suite.sends_to(debtor_later) == 0);
  // The debtor answers, from the number as WhatsApp names it (without the ninth digit): the
  // campaign stops chasing them, and the conversation they opened is kept with the target.
  const std::string paid = "Já paguei ontem, segue o comprovante";
  REQUIRE(stack
              .post_evolution("messages-upsert", lia::local::webhooks::evolution_text(
                                                     "lia-cobranca", "552187650002", "João",
                                                     "3EB0DEBTOR1", paid, now_s()))
              .value() == 200);
  CHECK(lia::testing::wait_until(
      [&] {
        return sql_count(stack.pg_url(),
                         "SELECT count(*) FROM collections.voice_campaign_targets WHERE status "
                         "= 'responded' AND phone_number = '5521987650002' AND conversation_id "
                         "IS NOT NULL") == 1;
      },
      30s));
  CHECK(sql_count(stack.pg_url(),
                  "SELECT count(*) FROM collections.voice_campaign_targets WHERE status = "
                  "'responded'") == 1);
  // The answer went to cobranca, which knows the campaign (not apresentacao's menu); a stop
  // asked for there keeps the number out of every campaign from then on.
  CHECK(lia::testing::wait_until(
      [&] {
        return sql_count(stack.pg_url(),
                         "SELECT count(*) FROM conversation.conversations WHERE chat_id LIKE "
                         "'552187650002%' AND assistant_type = 'cobranca'") == 1;
      },
      30s));
  // The agent who opens it sees what the campaign sent, before the answer, with its ticks
  // (the sandbox's, which came before the answer).
  CHECK(lia::testing::wait_until(
      [&] {
        return sql_count(
                   stack.pg_url(),
                   "SELECT count(*) FROM conversation.messages m JOIN "
                   "conversation.conversations c ON c.id = m.conversation_id WHERE c.chat_id LIKE "
                   "'552187650002%' AND m.author = 'system' AND m.direction = 'outbound' AND "
                   "m.content = 'Olá João, sua fatura de R$ 129,90 venceu.' AND m.whatsapp_status "
                   "IN ('DELIVERY_ACK', 'READ') AND m.created_at < (SELECT min(a.created_at) FROM "
                   "conversation.messages a WHERE a.conversation_id = c.id AND a.author = "
                   "'customer')") == 1;
      },
      30s));
  const std::string stop = "parem de me mandar mensagem";
  REQUIRE(stack
              .post_evolution("messages-upsert", lia::local::webhooks::evolution_text(
                                                     "lia-cobranca", "552187650002", "João",
                                                     "3EB0DEBTOR2", stop, now_s()))
              .value() == 200);
  CHECK(lia::testing::wait_until(
      [&] {
        return sql_count(stack.pg_url(),
                         "SELECT count(*) FROM collections.contact_opt_outs WHERE phone_number "
                         "= '5521987650002'") == 1 &&
               sql_count(stack.pg_url(),
                         "SELECT count(*) FROM collections.voice_campaign_targets WHERE status "
                         "= 'opted_out' AND phone_number = '5521987650002'") == 1;
      },
      30s));
  // A debtor the provider takes the message for and then cannot reach (Evolution's ERROR
  // tick): reported undelivered, and the debtor is not counted as contacted.
  const std::string unreachable = "5521987650004";
  REQUIRE(stack
              .sandbox_faults(R"({"undeliver_next":1,"provider":"evolution","to":")" + unreachable +
                              R"("})")
              .ok());
  auto gone_campaign =
      near_midnight ? campaign("Fatura dezembro", "00:00", "24:00", unreachable)
                    : campaign("Fatura dezembro", hhmm(sp_now - 5), hhmm(sp_now + 5), unreachable);
  REQUIRE(gone_campaign.ok());
  REQUIRE(gone_campaign->status == 201);
  suite.expect(1, "lia.notification.message.undelivered");
  CHECK(lia::testing::wait_until(
      [&] {
        return sql_count(stack.pg_url(),
                         "SELECT count(*) FROM collections.voice_campaign_targets WHERE status "
                         "= 'pending' AND phone_number = '5521987650004' AND last_error LIKE "
                         "'not delivered:%'") == 1;
      },
      30s));
  CHECK(suite.sends_to(unreachable) == 1);
  suite.check_events();
  // LGPD: the customers' numbers, the debtor's CPF and what the customers and the agent wrote
  // appear in no log, debug lines included (with LIA_LOG_UNMASK=true they would).
  const auto lines = suite.check_logs_hide(
      {maria, carlos, debtor, debtor_later, unreachable, "Quero falar com um atendente, por favor",
       "Minha internet caiu, estou sem conex", "Tem algu", agent_text, "sua fatura de R$ 129,90",
       "529.982.247-25", "52998224725", "552187650002", "paguei ontem", stop});
  CHECK(lines > 100);
  UNSCOPED_INFO("timeline:\n" << suite.timeline());
}

TEST_CASE("duplicates, ticks out of order and forged webhooks have no extra effect") {
  lia::local::StackOptions o;
  o.service_env["sandbox"] = {{"LIA_SANDBOX_WEBHOOK_URL", ""}};  // we post the ticks ourselves
  Suite suite(o);
  auto& stack = *suite.stack;
  const std::string joao = "5531987650004";

  const auto body =
      meta_text(kPnid, joao, "João", "wamid.dup-1", "Oi, quero saber dos planos de fibra", now_s());
  for (int i = 0; i < 5; ++i) REQUIRE(stack.post_meta(body).value() == 200);
  suite.expect(1, "lia.notification.message.sent");
  suite.settle();  // the four duplicates handled, wherever they went
  CHECK(suite.sends_to(joao) == 1);
  CHECK(suite.count("lia.ai.reply.generated") == 1);
  CHECK(suite.count("lia.conversation.message.stored", "direction", "inbound") == 1);
  CHECK(sql_count(stack.pg_url(), "SELECT count(*) FROM conversation.messages") == 2);

  // Ticks: read arrives before delivered; the message ends READ.
  const std::string wamid =
      suite.first("lia.notification.message.sent", "", "", "provider_message_id");
  REQUIRE_FALSE(wamid.empty());
  REQUIRE(stack.post_meta(meta_status(kPnid, joao, wamid, "read", now_s())).value() == 200);
  REQUIRE(stack.post_meta(meta_status(kPnid, joao, wamid, "delivered", now_s())).value() == 200);
  suite.expect(2, "lia.whatsapp.message.status", "message_id", wamid);
  auto admin = stack.login("admin", stack.secrets().admin_password);
  REQUIRE(admin.ok());
  const std::string conversation =
      suite.first("lia.conversation.created", "", "", "conversation_id");
  REQUIRE_FALSE(conversation.empty());
  // The ticks apply once conversation has the provider id (from notification's `sent`, on
  // another topic and consumer group): wait for the end state, then check it stays.
  std::string listed;
  const bool read = lia::testing::wait_until(
      [&] {
        auto msgs = stack.call("conversation", "GET",
                               "/api/conversations/" + conversation + "/messages", "", *admin);
        if (msgs.ok()) listed = msgs->body;
        return listed.find("\"READ\"") != std::string::npos;
      },
      30s);
  INFO(listed);
  CHECK(read);
  suite.settle();  // the delivered tick too
  auto msgs = stack.call("conversation", "GET", "/api/conversations/" + conversation + "/messages",
                         "", *admin);
  REQUIRE(msgs.ok());
  INFO(msgs->body);
  CHECK(msgs->body.find("\"READ\"") != std::string::npos);
  CHECK(msgs->body.find("\"DELIVERY_ACK\"") == std::string::npos);

  // Forged: nothing anywhere.
  suite.settle();
  const auto events_before = suite.tap->snapshot().size();
  const auto forged = meta_text(kPnid, "5531987650005", "Eve", "wamid.forged", "Oi", now_s());
  CHECK(stack.post_meta(forged, false).value() == 401);
  CHECK(stack
            .post_evolution("messages-upsert",
                            lia::local::webhooks::evolution_text(
                                "lia-vendas", "5531987650005", "Eve", "3EB0FORGED", "Oi", now_s()),
                            false)
            .value() == 401);
  suite.settle();
  CHECK(suite.tap->snapshot().size() == events_before);
  CHECK(suite.sends_to("5531987650005") == 0);
  CHECK(sql_count(stack.pg_url(),
                  "SELECT count(*) FROM conversation.contacts WHERE phone = '5531987650005'") == 0);
  suite.check_events();
  // LGPD at the default log level, refused webhooks included.
  CHECK(suite.check_logs_hide({joao, "5531987650005", "quero saber dos planos de fibra"}) > 0);

  // The stack's own work folder goes with it, unless the case failed (the logs stay).
  const std::string work_dir = stack.work_dir();
  REQUIRE(std::filesystem::exists(work_dir + "/logs/ingestion.log"));
  suite.stop();
  CHECK(std::filesystem::exists(work_dir) == case_failed());
}

TEST_CASE(
    "a flaky provider gives one send, a dead provider a dead letter and an ERROR, sent once "
    "replayed") {
  lia::local::StackOptions o;
  o.service_env["notification"] = {{"LIA_NOTIFY_BACKOFF_MS", "50"},
                                   {"LIA_NOTIFY_MAX_ATTEMPTS", "4"}};
  Suite suite(o);
  auto& stack = *suite.stack;

  // 500 twice, then 200: one accepted send, on the third attempt.
  REQUIRE(stack.sandbox_faults(R"({"fail_next":2,"status":500})").ok());
  const std::string flaky = "5541987650006";
  REQUIRE(stack.post_meta(meta_text(kPnid, flaky, "Rita", "wamid.flaky-1", "Bom dia", now_s()))
              .value() == 200);
  suite.expect(1, "lia.notification.message.sent");
  CHECK(suite.first("lia.notification.message.sent", "", "", "attempts") == "3");
  suite.settle();
  CHECK(suite.sends_to(flaky) == 1);
  CHECK(suite.count("lia.notification.message.sent") == 1);

  // Always 500: dead letter with its reason, and the message shows ERROR.
  REQUIRE(stack.sandbox_faults(R"({"always_fail":true,"status":500})").ok());
  const std::string dead = "5541987650007";
  REQUIRE(
      stack.post_meta(meta_text(kPnid, dead, "Luiz", "wamid.dead-1", "Bom dia", now_s())).value() ==
      200);
  suite.expect(1, "lia.notification.message.dead_lettered");
  REQUIRE(suite.tap->wait(
      [](const std::vector<lia::local::Seen>& all) {
        return std::any_of(all.begin(), all.end(),
                           [](const auto& s) { return s.topic == "notification.commands.v1.dlq"; });
      },
      30s));
  std::size_t dead_letters = 0;
  for (const auto& s : suite.tap->snapshot()) {
    if (s.topic != "notification.commands.v1.dlq") continue;
    ++dead_letters;
    REQUIRE(s.header("lia.dlq.error") != nullptr);
    CHECK(s.header("lia.dlq.error")->find("500") != std::string::npos);
    REQUIRE(s.header("lia.dlq.origin.topic") != nullptr);
    CHECK(*s.header("lia.dlq.origin.topic") == "notification.commands.v1");
  }
  CHECK(dead_letters == 1);
  CHECK(suite.count("lia.notification.message.dead_lettered") == 1);
  CHECK(suite.first("lia.notification.message.dead_lettered", "", "", "reason").find("500") !=
        std::string::npos);
  const std::string conversation =
      suite.first("lia.conversation.created", "chat_id", dead, "conversation_id");
  REQUIRE_FALSE(conversation.empty());
  auto admin = stack.login("admin", stack.secrets().admin_password);
  REQUIRE(admin.ok());
  REQUIRE(lia::testing::wait_until(
      [&] {
        auto msgs = stack.call("conversation", "GET",
                               "/api/conversations/" + conversation + "/messages", "", *admin);
        return msgs.ok() && msgs->body.find("\"ERROR\"") != std::string::npos;
      },
      30s));
  CHECK(suite.sends_to(dead) == 0);

  // The provider is back: ops replay the dead letter, and the reply goes out once.
  REQUIRE(stack.sandbox_faults(R"({"clear":true})").ok());
  const auto replay = [&] {
    lia::testing::Process p(
        {lia::testing::binary("lia-dlq-replay"), "notification.commands.v1.dlq"},
        {{"LIA_KAFKA_BOOTSTRAP", stack.kafka_bootstrap()}});
    const auto status = p.wait(60s);
    INFO(p.output());
    REQUIRE(status == std::optional<int>(0));
    return p.output();
  };
  CHECK(replay().find("replayed 1 dead letter(s)") != std::string::npos);
  REQUIRE(lia::testing::wait_until([&] { return suite.sends_to(dead) == 1; }, 30s));
  suite.expect(1, "lia.notification.message.sent", "conversation_id", conversation);
  // Sent after all: the message no longer shows the ERROR.
  CHECK(lia::testing::wait_until(
      [&] {
        auto msgs = stack.call("conversation", "GET",
                               "/api/conversations/" + conversation + "/messages", "", *admin);
        return msgs.ok() && msgs->body.find("\"ERROR\"") == std::string::npos;
      },
      30s));
  CHECK(replay().find("replayed 0 dead letter(s)") != std::string::npos);  // once only
  suite.settle();
  CHECK(suite.sends_to(dead) == 1);

  // Accepted with a wamid, then Meta's statuses webhook says failed (131026): reported once
  // as undelivered, with the code, and the message shows ERROR; nothing is sent again.
  const std::string gone = "5541987650008";
  REQUIRE(
      stack.sandbox_faults(R"({"undeliver_next":1,"code":131026,"to":")" + gone + R"("})").ok());
  REQUIRE(
      stack.post_meta(meta_text(kPnid, gone, "Caio", "wamid.gone-1", "Bom dia", now_s())).value() ==
      200);
  suite.expect(1, "lia.notification.message.undelivered");
  CHECK(suite.first("lia.notification.message.undelivered", "", "", "code") == "131026");
  const std::string lost =
      suite.first("lia.conversation.created", "chat_id", gone, "conversation_id");
  REQUIRE_FALSE(lost.empty());
  CHECK(lia::testing::wait_until(
      [&] {
        auto msgs = stack.call("conversation", "GET", "/api/conversations/" + lost + "/messages",
                               "", *admin);
        return msgs.ok() && msgs->body.find("\"ERROR\"") != std::string::npos;
      },
      30s));
  suite.settle();
  CHECK(suite.sends_to(gone) == 1);
  CHECK(suite.count("lia.notification.message.undelivered") == 1);
  suite.check_events({{"notification.commands.v1.dlq", 1}});
  // LGPD on the failure paths too (retries, dead letter, replay), at the default log level.
  CHECK(suite.check_logs_hide({flaky, dead, gone}) > 0);
}

TEST_CASE("an Evolution reply whose answer never came is sent after all when its echo arrives") {
  lia::local::StackOptions o;
  o.service_env["notification"] = {{"LIA_NOTIFY_HTTP_TIMEOUT_MS", "1500"}};
  Suite suite(o);
  auto& stack = *suite.stack;

  // The provider takes the reply and answers after notification's timeout: outcome unknown,
  // dead-lettered, and the message shows ERROR.
  REQUIRE(stack.sandbox_faults(R"({"slow_next":1,"delay_ms":4000})").ok());
  const std::string customer = "5521987650011";
  REQUIRE(stack
              .post_evolution("messages-upsert", lia::local::webhooks::evolution_text(
                                                     "lia-atendimento", customer, "Bia",
                                                     "3EB0ECHOIN1", "Bom dia", now_s()))
              .value() == 200);
  suite.expect(1, "lia.notification.message.failed", "code", "outcome_unknown");
  const std::string conversation = suite.first("lia.conversation.created", "chat_id",
                                               customer + "@s.whatsapp.net", "conversation_id");
  REQUIRE_FALSE(conversation.empty());
  auto admin = stack.login("admin", stack.secrets().admin_password);
  REQUIRE(admin.ok());
  const auto shows_error = [&] {
    auto msgs = stack.call("conversation", "GET",
                           "/api/conversations/" + conversation + "/messages", "", *admin);
    REQUIRE(msgs.ok());
    return msgs->body.find("\"ERROR\"") != std::string::npos;
  };
  REQUIRE(lia::testing::wait_until(shows_error, 30s));
  auto sends = stack.sandbox_sends(customer + "@s.whatsapp.net");
  REQUIRE(sends.ok());
  REQUIRE(sends->size() == 1);
  const auto reply = (*sends)[0];

  // Evolution's send.message: its echo of that send, with the message's id.
  std::string echo = lia::local::webhooks::evolution_text(
      "lia-atendimento", customer, "Bia", reply.provider_message_id, reply.text, now_s());
  echo.replace(echo.find("\"messages.upsert\","), 18,
               R"("send.message","sender":"552140028922@s.whatsapp.net",)");
  echo.replace(echo.find("\"fromMe\":false"), 14, "\"fromMe\":true");
  REQUIRE(stack.post_evolution("send-message", echo).value() == 200);

  // The send is recorded as sent after the failure, and the desk no longer shows ERROR.
  suite.expect(1, "lia.notification.message.sent", "provider_message_id",
               reply.provider_message_id);
  CHECK(lia::testing::wait_until([&] { return !shows_error(); }, 30s));
  CHECK(sql_count(stack.pg_url(),
                  "SELECT count(*) FROM conversation.messages WHERE "
                  "whatsapp_message_id = '" +
                      reply.provider_message_id + "' AND direction = 'outbound'") == 1);
  CHECK(sql_count(stack.pg_url(),
                  "SELECT count(*) FROM notification.outbound_messages WHERE "
                  "status = 'sent' AND provider_message_id = '" +
                      reply.provider_message_id + "'") == 1);
  suite.settle();
  CHECK(suite.sends_to(customer + "@s.whatsapp.net") == 1);
  CHECK(suite.count("lia.notification.message.sent") == 1);
  // The unknown outcome's dead letter stays (it was written with the failure); replayed, it
  // would find the send recorded and send nothing.
  suite.check_events({{"notification.commands.v1.dlq", 1}});
  CHECK(suite.check_logs_hide({customer, reply.text}) > 0);
}

TEST_CASE("a service killed with SIGKILL mid-traffic loses and doubles nothing") {
  Suite suite;
  auto& stack = *suite.stack;
  constexpr int kChats = 60;
  constexpr int kBeforeGatewayKill = 40;
  auto phone = [](int i) { return fmt::format("55619876{:05}", 50100 + i); };
  auto body_for = [&](int i) {
    return meta_text(kPnid, phone(i), "Cliente", fmt::format("wamid.kill-{}", i), "Olá!", now_s());
  };
  for (int i = 0; i < kBeforeGatewayKill; ++i) {
    if (i == 15) stack.kill("conversation", SIGKILL);
    if (i == 25) REQUIRE(stack.restart("conversation").ok());
    if (i == 30) stack.kill("ai_orchestration", SIGKILL);
    REQUIRE(stack.post_meta(body_for(i)).value() == 200);
  }
  REQUIRE(stack.restart("ai_orchestration").ok());

  // The gateway killed while a provider delivers: like Meta, the provider sends each webhook
  // again until it gets 200. A webhook whose events Kafka took before the kill, but whose 200
  // never left, comes twice with the same message id.
  std::vector<lia::http::ClientRequest> deliveries;  // made here: restart() changes the stack
  for (int i = kBeforeGatewayKill; i < kChats; ++i)
    deliveries.push_back(stack.meta_request(body_for(i)));
  std::atomic<bool> killed{false};
  std::atomic<int> delivered{0};
  std::atomic<int> refused{0};
  std::thread provider([&] {
    for (std::size_t k = 0; k < deliveries.size(); ++k) {
      // The second half waits for the kill, so that some deliveries surely meet a dead gateway.
      if (k == deliveries.size() / 2) lia::testing::wait_until([&] { return killed.load(); }, 30s);
      const auto& req = deliveries[k];
      const auto give_up = std::chrono::steady_clock::now() + 60s;
      for (;;) {
        auto r = stack.client().request(req);
        if (r && r->status == 200) break;
        refused.fetch_add(1);
        if (std::chrono::steady_clock::now() > give_up) return;
        std::this_thread::sleep_for(50ms);
      }
      delivered.fetch_add(1);
      std::this_thread::sleep_for(10ms);
    }
  });
  lia::testing::wait_until([&] { return delivered.load() >= 5; }, 30s);
  stack.kill("ingestion", SIGKILL);
  killed = true;
  const bool met_dead_gateway = lia::testing::wait_until([&] { return refused.load() > 0; }, 30s);
  const auto restarted = stack.restart("ingestion");
  provider.join();
  REQUIRE(restarted.ok());
  CHECK(met_dead_gateway);
  REQUIRE(delivered.load() == kChats - kBeforeGatewayKill);

  suite.expect(kChats, "lia.notification.message.sent", {}, {}, 90s);
  // Up to a minute and a half: a relay taking over after a SIGKILL holds the compacted topics'
  // events for 60 s (pg::OutboxRelay's takeover hold), and these chats made contacts.
  suite.settle(150s);
  for (int i = 0; i < kChats; ++i) {
    INFO(phone(i));
    CHECK(suite.sends_to(phone(i)) == 1);
  }
  CHECK(sql_count(stack.pg_url(), "SELECT count(*) FROM conversation.conversations") == kChats);
  CHECK(sql_count(stack.pg_url(), "SELECT count(*) FROM conversation.messages") ==
        std::int64_t{2} * kChats);
  // Events may be published more than once after a crash; their ids never change.
  std::set<std::string> ids;
  for (const auto& s : suite.tap->snapshot()) {
    if (s.type == "lia.ai.reply.generated") ids.insert(s.id);
  }
  CHECK(ids.size() == kChats);
  suite.check_events();
}

TEST_CASE(
    "notification SIGKILLed while it sends: no reply sent twice, those under way reported "
    "unknown") {
  Suite suite;
  auto& stack = *suite.stack;
  constexpr int kChats = 20;
  constexpr std::int64_t kConsumers = 4;  // LIA_NOTIFY_CONSUMERS' default: sends at once
  auto phone = [](int i) { return fmt::format("55619876{:05}", 60100 + i); };
  // The first sends are accepted and recorded by the provider at once, but answered 3 s late:
  // the kill surely meets one under way.
  REQUIRE(stack.sandbox_faults(R"({"slow_next":4,"delay_ms":3000})").ok());
  for (int i = 0; i < kChats; ++i) {
    REQUIRE(stack
                .post_meta(meta_text(kPnid, phone(i), "Cliente", fmt::format("wamid.nk-{}", i),
                                     "Olá!", now_s()))
                .value() == 200);
  }
  REQUIRE(lia::testing::wait_until(
      [&] {
        auto sends = stack.sandbox_sends();
        return sends.ok() && !sends->empty();
      },
      30s, 20ms));
  stack.kill("notification", SIGKILL);
  REQUIRE(stack.restart("notification").ok());

  // Every command ends: sent, or (its request under way at the kill) failed as unknown.
  const std::string rows = "SELECT count(*) FROM notification.outbound_messages WHERE ";
  REQUIRE(lia::testing::wait_until(
      [&] { return sql_count(stack.pg_url(), rows + "status IN ('sent', 'failed')") == kChats; },
      90s, 200ms));
  // The sandbox records a send when it takes the request, so a late answer adds none; a
  // send made again would be in flight: a command not committed, an event not published.
  suite.settle();
  const auto unknown =
      sql_count(stack.pg_url(), rows + "status = 'failed' AND error_code = 'outcome_unknown'");
  CHECK(unknown >= 1);  // the one the test waited for, at least
  CHECK(unknown <= kConsumers);
  CHECK(sql_count(stack.pg_url(), rows + "status = 'sent'") == kChats - unknown);
  // No customer got a reply twice; a reply reported sent reached its customer once. (One
  // reported unknown did reach its customer, unless the kill came before its request left.)
  for (int i = 0; i < kChats; ++i) {
    INFO(phone(i));
    const auto sent =
        sql_count(stack.pg_url(), rows + "status = 'sent' AND to_chat = '" + phone(i) + "'");
    const auto sends = suite.sends_to(phone(i));
    CHECK(sends <= 1);
    if (sent == 1) CHECK(sends == 1);
  }
  // The desk sees them failed, with the reason (once conversation has read the failures);
  // ops may replay their dead letters.
  const std::string errors =
      "SELECT count(*) FROM conversation.messages WHERE direction = 'outbound' AND "
      "whatsapp_status = 'ERROR' AND status_reason LIKE 'outcome unknown%'";
  (void)lia::testing::wait_until([&] { return sql_count(stack.pg_url(), errors) >= unknown; }, 60s,
                                 200ms);
  CHECK(sql_count(stack.pg_url(), errors) == unknown);
  CHECK(sql_count(stack.pg_url(), "SELECT count(*) FROM conversation.messages") ==
        std::int64_t{2} * kChats);
  suite.check_events({{"notification.commands.v1.dlq", static_cast<std::size_t>(unknown)}});
}
