#include <catch2/catch.hpp>

#include <lia/conversation/api_bodies.hpp>
#include <lia/json/json.hpp>

using namespace lia;
using namespace lia::conversation;

namespace {

// The error message of a failed parse (and that it failed).
template <class T>
std::string error_of(const core::Result<T>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == core::Errc::invalid_argument);
  return r.error().message();
}

bool mentions(const std::string& message, const std::string& field) {
  return message.find("'" + field + "'") != std::string::npos;
}

json::Document doc(const std::string& text) {
  auto d = json::parse(text);
  REQUIRE(d.ok());
  return std::move(*d);
}

}  // namespace

TEST_CASE("login bodies need a username and a password") {
  auto ok = parse_login(R"({"username":" maria ","password":"s3cret pass"})");
  REQUIRE(ok);
  CHECK(ok->username == "maria");
  CHECK(ok->password == "s3cret pass");  // passwords are never trimmed
  CHECK(mentions(error_of(parse_login(R"({"password":"x"})")), "username"));
  CHECK(mentions(error_of(parse_login(R"({"username":"maria"})")), "password"));
  CHECK(mentions(error_of(parse_login(R"({"username":"maria","password":""})")), "password"));
  CHECK(mentions(error_of(parse_login(R"({"username":7,"password":"x"})")), "username"));
  CHECK(error_of(parse_login("{not json")).find("JSON") != std::string::npos);
  CHECK(error_of(parse_login("[1]")).find("object") != std::string::npos);
}

TEST_CASE("a user's change names at least one field, each validated") {
  auto all = parse_user_update(
      R"({"role":"SUPERVISOR","status":"INACTIVE","departments":["Suporte","financeiro"],)"
      R"("full_name":" Ana Souza "})");
  REQUIRE(all);
  CHECK(all->role == auth::Role::supervisor);
  CHECK(all->active == std::optional<bool>(false));
  CHECK(all->departments == std::vector<std::string>{"support", "financial"});
  CHECK(all->full_name == "Ana Souza");
  auto one = parse_user_update(R"({"status":"ACTIVE"})");
  REQUIRE(one);
  CHECK(one->active == std::optional<bool>(true));
  CHECK_FALSE(one->role);
  CHECK_FALSE(one->departments);
  auto none = parse_user_update(R"({"departments":[]})");
  REQUIRE(none);
  CHECK(none->departments == std::vector<std::string>{"general"});

  CHECK(error_of(parse_user_update("{}")).find("at least one") != std::string::npos);
  // A blank name is refused, alone or beside another change (not dropped).
  CHECK(error_of(parse_user_update(R"({"full_name":"  "})")) ==
        "field 'full_name' must not be empty");
  CHECK(error_of(parse_user_update(R"({"role":"AGENT","full_name":"  "})")) ==
        "field 'full_name' must not be empty");
  // A department no queue uses is refused, naming the ones there are.
  const auto unknown = error_of(parse_user_update(R"({"departments":["support","suport"]})"));
  CHECK(mentions(unknown, "departments[1]"));
  CHECK(unknown.find("ombudsman") != std::string::npos);
  auto portuguese = parse_user_update(R"({"departments":["Ouvidoria","Cobrança","geral"]})");
  REQUIRE(portuguese);
  CHECK(portuguese->departments == std::vector<std::string>{"ombudsman", "collections", "general"});
  CHECK(mentions(error_of(parse_user_update(R"({"role":"ROOT"})")), "role"));
  CHECK(mentions(error_of(parse_user_update(R"({"status":"on"})")), "status"));
  CHECK(mentions(error_of(parse_user_update(R"({"departments":"x"})")), "departments"));
  // A field this change cannot make is refused, not dropped (the email stays as it was).
  CHECK(error_of(parse_user_update(R"({"full_name":"Ana","email":"n@example.com"})")) ==
        "unknown field 'email' (expected role, status, departments, full_name, "
        "participates_in_gamification)");
}

TEST_CASE("new users are validated field by field") {
  auto ok = parse_new_user(
      R"({"username":"joao.lima","password":"longenough","full_name":"João Lima","role":"AGENT",)"
      R"("departments":["Suporte","support","financeiro"],"email":"joao@example.com"})");
  REQUIRE(ok);
  CHECK(ok->role == auth::Role::agent);
  CHECK(ok->departments == std::vector<std::string>{"support", "financial"});
  CHECK(ok->email == "joao@example.com");

  auto minimal = parse_new_user(
      R"({"username":"ana","password":"12345678","full_name":"Ana","role":"SUPERVISOR"})");
  REQUIRE(minimal);
  CHECK(minimal->departments == std::vector<std::string>{"general"});
  CHECK_FALSE(minimal->email);

  const std::string base = R"("password":"12345678","full_name":"Ana","role":"AGENT")";
  CHECK(mentions(error_of(parse_new_user("{" + base + "}")), "username"));
  CHECK(mentions(error_of(parse_new_user(R"({"username":"ab",)" + base + "}")), "username"));
  CHECK(mentions(error_of(parse_new_user(R"({"username":"a b c",)" + base + "}")), "username"));
  CHECK(mentions(error_of(parse_new_user(
                     R"({"username":"ana","password":"short","full_name":"Ana","role":"AGENT"})")),
                 "password"));
  CHECK(
      mentions(error_of(parse_new_user(
                   R"({"username":"ana","password":"12345678","full_name":"  ","role":"AGENT"})")),
               "full_name"));
  CHECK(
      mentions(error_of(parse_new_user(
                   R"({"username":"ana","password":"12345678","full_name":"Ana","role":"ROOT"})")),
               "role"));
  CHECK(
      mentions(error_of(parse_new_user(R"({"username":"ana",)" + base + R"(,"departments":"x"})")),
               "departments"));
  CHECK(
      mentions(error_of(parse_new_user(R"({"username":"ana",)" + base + R"(,"departments":[""]})")),
               "departments[0]"));
  CHECK(mentions(error_of(parse_new_user(R"({"username":"ana",)" + base + R"(,"email":"nope"})")),
                 "email"));
  // An admin creating a user "INACTIVE" is told it cannot, rather than getting an active one.
  CHECK(mentions(
      error_of(parse_new_user(R"({"username":"ana",)" + base + R"(,"status":"INACTIVE"})")),
      "status"));
}

TEST_CASE("agent messages are 1..4096 bytes of text") {
  CHECK(*parse_send_text(R"({"text":"  Olá!  "})") == "Olá!");
  CHECK(mentions(error_of(parse_send_text(R"({"text":"   "})")), "text"));
  CHECK(mentions(error_of(parse_send_text(R"({})")), "text"));
  CHECK(mentions(error_of(parse_send_text(R"({"text":null})")), "text"));
  CHECK(
      mentions(error_of(parse_send_text(R"({"text":")" + std::string(4097, 'a') + "\"}")), "text"));
  CHECK(parse_send_text(R"({"text":")" + std::string(4096, 'a') + "\"}").ok());
  // A field it does not take (a note meant to stay internal) is refused, not sent.
  CHECK(
      mentions(error_of(parse_send_text(R"({"text":"nota interna","private":true})")), "private"));
}

TEST_CASE("transfers name an agent by id, optionally a mode and a reason") {
  auto t = parse_transfer(R"({"agent_id":"0190E0A4-7B2C-7DEF-8123-0000000A6E01","reason":"VIP"})");
  REQUIRE(t);
  CHECK(t->agent_id == "0190e0a4-7b2c-7def-8123-0000000a6e01");
  CHECK_FALSE(t->mode);  // the route keeps a transferred conversation's mode, else human
  CHECK(t->reason == "VIP");
  CHECK(parse_transfer(R"({"agent_id":"0190e0a4-7b2c-7def-8123-0000000a6e01","mode":"hybrid"})")
            ->mode == domain::ConversationMode::hybrid);
  CHECK(mentions(error_of(parse_transfer(R"({"agent_id":"joao"})")), "agent_id"));
  CHECK(mentions(error_of(parse_transfer(R"({})")), "agent_id"));
  CHECK(mentions(error_of(parse_transfer(
                     R"({"agent_id":"0190e0a4-7b2c-7def-8123-0000000a6e01","mode":"ai"})")),
                 "mode"));
  CHECK(mentions(error_of(parse_transfer(
                     R"({"agent_id":"0190e0a4-7b2c-7def-8123-0000000a6e01","mdoe":"hybrid"})")),
                 "mdoe"));
}

TEST_CASE("resolve takes an empty body or an optional reason") {
  CHECK_FALSE(*parse_resolve(""));
  CHECK_FALSE(*parse_resolve("  "));
  CHECK(*parse_resolve(R"({"reason":"ok"})") == "ok");
  CHECK_FALSE(*parse_resolve(R"({})"));
  CHECK(mentions(error_of(parse_resolve(R"({"reason":5})")), "reason"));
  CHECK(mentions(error_of(parse_resolve(R"({"motivo":"ok"})")), "motivo"));
}

TEST_CASE("conversation listings check status, assigned_to and limit") {
  auto q = parse_list_query({{"status", "transferred"}, {"assigned_to", "me"}, {"limit", "10"}});
  REQUIRE(q);
  CHECK(q->status == "transferred");
  CHECK(q->assigned_to == "me");
  CHECK(q->limit == 10);
  CHECK(parse_list_query({})->limit == 50);
  CHECK(mentions(error_of(parse_list_query({{"status", "open"}})), "status"));
  CHECK(mentions(error_of(parse_list_query({{"assigned_to", "joao"}})), "assigned_to"));
  CHECK(mentions(error_of(parse_list_query({{"limit", "0"}})), "limit"));
  CHECK(mentions(error_of(parse_list_query({{"limit", "201"}})), "limit"));
  CHECK(mentions(error_of(parse_list_query({{"limit", "5x"}})), "limit"));
  // A paging cursor: microseconds and an id, within what PostgreSQL's timestamps hold.
  const std::string id = "0190e0a4-7b2c-7def-8123-0123456789ab";
  auto page = parse_list_query({{"before", "1764000000000000_" + id}});
  REQUIRE(page);
  CHECK(page->before_us == 1764000000000000);
  CHECK(page->before_id == id);
  for (const std::string& bad :
       {"-999999999999999999_" + id, "99999999999999999999_" + id, "253402300800000000_" + id,
        std::string("12_not-an-id"), "_" + id, "12" + id}) {
    INFO(bad);
    CHECK(mentions(error_of(parse_list_query({{"before", bad}})), "before"));
  }
  CHECK(parse_message_query({{"limit", "500"}})->limit == 500);
  CHECK(mentions(error_of(parse_message_query({{"limit", "501"}})), "limit"));
  auto older = parse_message_query({{"before", "1764000000000000_" + id}});
  REQUIRE(older);
  CHECK(older->limit == 200);
  CHECK(older->before_us == 1764000000000000);
  CHECK(older->before_id == id);
  CHECK(mentions(error_of(parse_message_query({{"before", "12_not-an-id"}})), "before"));
}

TEST_CASE("agents see their own and their departments' waiting conversations, supervisors all") {
  const Viewer agent{"a1", auth::Role::agent, {"support", "general"}};
  const Viewer supervisor{"s1", auth::Role::supervisor, {}};
  const Viewer admin{"x1", auth::Role::admin, {}};
  const ConversationAccess mine{"transferred", std::string("a1"), "financial"};
  const ConversationAccess others{"transferred", std::string("a2"), "support"};
  const ConversationAccess waiting{"transferred", std::nullopt, "support"};
  const ConversationAccess waiting_elsewhere{"transferred", std::nullopt, "financial"};
  const ConversationAccess with_ai{"active", std::nullopt, "support"};

  CHECK(can_view(agent, mine));
  CHECK_FALSE(can_view(agent, others));
  CHECK(can_view(agent, waiting));
  CHECK_FALSE(can_view(agent, waiting_elsewhere));
  CHECK_FALSE(can_view(agent, with_ai));
  for (const auto& c : {mine, others, waiting, waiting_elsewhere, with_ai}) {
    CHECK(can_view(supervisor, c));
    CHECK(can_view(admin, c));
    CHECK(can_act(supervisor, c));
  }
  CHECK(can_act(agent, mine));
  CHECK_FALSE(can_act(agent, others));
  CHECK_FALSE(can_act(agent, waiting));  // taking it needs an assignment first
}

TEST_CASE("response bodies are JSON with the documented fields") {
  UserView u;
  u.id = "0190e0a4-7b2c-7def-8123-0000000a6e01";
  u.username = "joao";
  u.full_name = "João \"Jota\" Lima";
  u.role = auth::Role::supervisor;
  u.departments = {"support"};
  u.created_at = u.updated_at = "2026-11-22T12:00:00.000Z";
  auto user = doc(user_json(u));
  CHECK(user["role"] == "SUPERVISOR");
  CHECK(user["status"] == "ACTIVE");
  CHECK(user["email"].IsNull());
  CHECK(user["full_name"] == "João \"Jota\" Lima");
  CHECK_FALSE(user.HasMember("password_hash"));

  auto login = doc(login_response_json("tok", 1800000000, u));
  CHECK(login["token"] == "tok");
  CHECK(login["user"]["username"] == "joao");

  ConversationView c;
  c.id = "c1";
  c.contact_phone = "5511987654321";
  c.status = "transferred";
  c.mode = "human";
  c.assigned_to = u.id;
  auto conv = doc(conversation_json(c));
  CHECK(conv["contact"]["phone"] == "5511987654321");
  CHECK(conv["assigned_to"] == u.id.c_str());
  CHECK(conv["resolved_at"].IsNull());

  MessageView m;
  m.id = "m1";
  m.kind = "image";
  m.media_json = R"({"mime_type":"image/png"})";
  m.whatsapp_status = "READ";
  auto msg = doc(message_json(m));
  CHECK(msg["media"]["mime_type"] == "image/png");
  CHECK(msg["status"] == "READ");
  CHECK(msg["text"].IsNull());
  CHECK(msg["private"].IsFalse());
}
