#include <catch2/catch.hpp>

#include "api.hpp"
#include "app.hpp"

using namespace lia::ai_orchestration;
using lia::core::Env;

namespace {
bool has_problem(const Env& env, const std::string& name) {
  for (const auto& p : env.problems()) {
    if (p.find(name) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("settings default to the local assistant") {
  auto env = Env::from_map({});
  auto s = Settings::read(env);
  CHECK(env.problems().empty());
  CHECK(s.provider == "local");
  CHECK(s.llm.model == "gpt-4o-mini");
  CHECK(s.llm.timeout == std::chrono::milliseconds{8000});
  CHECK(s.consumers == 2);
  CHECK(s.recent_messages == 55);  // a whole thread: none of its messages goes unseen
  auto longer = Env::from_map({{"LIA_AI_THREAD_ROTATION", "80"}});
  CHECK(Settings::read(longer).recent_messages == 80);  // following a longer thread
  CHECK(s.thread_rotation == 55);
  CHECK(s.jwt_secret.empty());
  CHECK(s.campaign_answer_window == std::chrono::hours{24 * 7});
}

TEST_CASE("the campaign answer window is read in milliseconds, and a bad one is named") {
  auto env = Env::from_map({{"LIA_CAMPAIGN_ANSWER_WINDOW_MS", "259200000"}});
  CHECK(Settings::read(env).campaign_answer_window == std::chrono::hours{72});
  CHECK(env.problems().empty());
  auto bad = Env::from_map({{"LIA_CAMPAIGN_ANSWER_WINDOW_MS", "0"}});
  Settings::read(bad);
  CHECK(has_problem(bad, "LIA_CAMPAIGN_ANSWER_WINDOW_MS"));
}

TEST_CASE("the openai provider needs a base URL and an API key") {
  auto env = Env::from_map({{"LIA_LLM_PROVIDER", "openai"}});
  Settings::read(env);
  CHECK(has_problem(env, "LIA_LLM_BASE_URL"));
  CHECK(has_problem(env, "LIA_LLM_API_KEY"));

  auto good = Env::from_map({{"LIA_LLM_PROVIDER", "openai"},
                             {"LIA_LLM_BASE_URL", "https://api.openai.com/v1/"},
                             {"LIA_LLM_API_KEY", "sk-secret-value"},
                             {"LIA_LLM_MODEL", "gpt-4.1-mini"},
                             {"LIA_LLM_TIMEOUT_MS", "2500"}});
  auto s = Settings::read(good);
  CHECK(good.problems().empty());
  CHECK(s.llm.base_url == "https://api.openai.com/v1");
  CHECK(s.llm.api_key == "sk-secret-value");
  CHECK(s.llm.model == "gpt-4.1-mini");
  CHECK(s.llm.timeout == std::chrono::milliseconds{2500});
  // The key never shows in the start-up summary.
  for (const auto& [name, shown] : good.summary())
    CHECK(shown.find("sk-secret") == std::string::npos);

  // The full endpoint, or Azure's versioned URL: /chat/completions can't be appended.
  for (const char* url :
       {"https://api.openai.com/v1/chat/completions",
        "https://r.openai.azure.com/openai/deployments/d?api-version=2024-10-21"}) {
    INFO(url);
    auto env2 = Env::from_map({{"LIA_LLM_PROVIDER", "openai"},
                               {"LIA_LLM_BASE_URL", url},
                               {"LIA_LLM_API_KEY", "sk-secret-value"}});
    Settings::read(env2);
    CHECK(has_problem(env2, "LIA_LLM_BASE_URL"));
  }
}

TEST_CASE("a model name with a newline or a space is refused, naming LIA_LLM_MODEL") {
  // The openai provider's settings with this model name, read: their problems.
  const auto settings_with = [](const char* model) {
    auto env = Env::from_map({{"LIA_LLM_PROVIDER", "openai"},
                              {"LIA_LLM_BASE_URL", "https://api.openai.com/v1"},
                              {"LIA_LLM_API_KEY", "sk-secret-value"},
                              {"LIA_LLM_MODEL", model}});
    Settings::read(env);
    return env;
  };
  for (const char* model : {"gpt-4o-mini\n", " gpt-4o-mini", "gpt 4o"}) {
    INFO(model);
    CHECK(has_problem(settings_with(model), "LIA_LLM_MODEL"));
  }
  for (const char* model : {"meta-llama/Llama-3.1-8B-Instruct", "qwen2.5:7b"}) {
    INFO(model);
    CHECK(settings_with(model).problems().empty());
  }
  // The local assistant sends no model name: nothing to check.
  auto local = Env::from_map({{"LIA_LLM_MODEL", "x y"}});
  Settings::read(local);
  CHECK(local.problems().empty());
}

TEST_CASE("bad settings are reported by name") {
  auto env = Env::from_map(
      {{"LIA_LLM_PROVIDER", "claude"}, {"LIA_LLM_TIMEOUT_MS", "soon"}, {"LIA_AI_CONSUMERS", "99"}});
  Settings::read(env);
  CHECK(has_problem(env, "LIA_LLM_PROVIDER"));
  CHECK(has_problem(env, "LIA_LLM_TIMEOUT_MS"));
  CHECK(has_problem(env, "LIA_AI_CONSUMERS"));
  // A cooldown of 0 would leave the breaker off in all but name.
  auto no_cooldown = Env::from_map(
      {{"LIA_LLM_BREAKER_COOLDOWN_MS", "0"}, {"LIA_LLM_MAX_COMPLETION_TOKENS", "-1"}});
  Settings::read(no_cooldown);
  CHECK(has_problem(no_cooldown, "LIA_LLM_BREAKER_COOLDOWN_MS"));
  CHECK(has_problem(no_cooldown, "LIA_LLM_MAX_COMPLETION_TOKENS"));
  auto limited = Env::from_map({{"LIA_LLM_MAX_COMPLETION_TOKENS", "300"}});
  CHECK(Settings::read(limited).llm.max_completion_tokens == 300);
  CHECK(limited.problems().empty());
}

TEST_CASE("the service spec") {
  auto s = spec();
  CHECK(s.name == "ai_orchestration");
  CHECK(s.default_port == 8082);
  CHECK(s.schema == "ai");
  CHECK(s.outbox);
  REQUIRE(s.migrations.size() == 10);
  CHECK(s.migrations[0].name == "read_model");
  CHECK(s.migrations[1].name == "prompt_templates");
  CHECK(s.migrations[2].name == "hot_updates");
  CHECK(s.migrations[3].name == "enumerations_as_domains");
  CHECK(s.migrations[4].name == "desk_users");
  CHECK(s.migrations[5].name == "registrations");
  CHECK(s.migrations[6].name == "prompts_hidden_documents");
  CHECK(s.migrations[7].name == "token_revocation");
  CHECK(s.migrations[8].name == "reply_confirmed");
  CHECK(s.migrations[9].name == "campaign_chats");
  for (const auto& m : s.migrations) {
    CHECK_FALSE(m.up.empty());
    CHECK_FALSE(m.down.empty());
  }
}

TEST_CASE("outage bodies are checked") {
  auto ok = parse_outage(
      R"({"cep_prefix":"01310","region":"Bela Vista","description":"fibra rompida","eta":"2026-11-22T18:00:00-03:00"})");
  REQUIRE(ok.ok());
  CHECK(ok->cep_prefix == "01310");
  CHECK(ok->eta == "2026-11-22T18:00:00-03:00");
  CHECK(parse_outage(R"({"cep_prefix":"01310-1","region":"r","description":"d"})")->cep_prefix ==
        "013101");
  CHECK_FALSE(parse_outage("nope").ok());
  CHECK_FALSE(parse_outage(R"({"cep_prefix":"abc","region":"r","description":"d"})").ok());
  CHECK_FALSE(parse_outage(R"({"cep_prefix":"123456789","region":"r","description":"d"})").ok());
  CHECK_FALSE(parse_outage(R"({"cep_prefix":"01","description":"d"})").ok());
  CHECK_FALSE(
      parse_outage(R"({"cep_prefix":"01","region":"r","description":"d","eta":"amanhã"})").ok());
  auto typo = parse_outage(R"({"cep_prefix":"01","region":"r","description":"d","etaa":"x"})");
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.error().message() ==
        "unknown field 'etaa' (expected cep_prefix, region, description, eta)");
}

TEST_CASE("prompt bodies are checked and versions move forward") {
  auto ok =
      parse_prompt(R"({"content":"Você é a LIA.","instructions":"Seja breve.","temperature":25})");
  REQUIRE(ok.ok());
  CHECK(ok->temperature == 25);
  CHECK_FALSE(parse_prompt(R"({"content":""})").ok());
  CHECK_FALSE(parse_prompt(R"({"content":"x","temperature":101})").ok());
  CHECK_FALSE(parse_prompt("[]").ok());
  // The model is not set through this route: refused, not silently kept as it was.
  auto model = parse_prompt(R"({"content":"x","model":"gpt-4o"})");
  REQUIRE_FALSE(model.ok());
  CHECK(model.error().message() ==
        "unknown field 'model' (expected content, instructions, temperature)");
  CHECK(next_version("1.0.0") == "1.1.0");
  CHECK(next_version("2.9.3") == "2.10.0");
  CHECK(next_version("beta") == "beta.1");
  CHECK(next_version("1.0") == "1.0.1");
}
