// The executable's start-up checks (no database or broker is touched: they fail first).
#include <catch2/catch.hpp>

#include <lia/testing/testing.hpp>

using lia::testing::Process;

namespace {
std::map<std::string, std::string> base_env() {
  return {{"LIA_PG_URL", "postgresql://lia@127.0.0.1:1/lia"},
          {"LIA_KAFKA_BOOTSTRAP", "127.0.0.1:1"}};
}
}  // namespace

TEST_CASE("lia-ai-orchestration --help names its port and its README") {
  Process p({lia::testing::binary("lia-ai-orchestration"), "--help"}, base_env());
  REQUIRE(p.wait() == 0);
  const auto out = p.output();
  CHECK(out.find("default 8082") != std::string::npos);
  CHECK(out.find("services/ai_orchestration/README.md") != std::string::npos);
}

TEST_CASE("the openai provider without its URL and key stops the start, naming them") {
  auto env = base_env();
  env["LIA_LLM_PROVIDER"] = "openai";
  Process p({lia::testing::binary("lia-ai-orchestration")}, env);
  REQUIRE(p.wait() == 2);
  const auto out = p.output();
  CHECK(out.find("LIA_LLM_API_KEY") != std::string::npos);
  CHECK(out.find("LIA_LLM_BASE_URL") != std::string::npos);
}

TEST_CASE("an unknown provider stops the start") {
  auto env = base_env();
  env["LIA_LLM_PROVIDER"] = "magic";
  Process p({lia::testing::binary("lia-ai-orchestration")}, env);
  REQUIRE(p.wait() == 2);
  CHECK(p.output().find("LIA_LLM_PROVIDER") != std::string::npos);
}
