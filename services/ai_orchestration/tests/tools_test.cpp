#include "tools.hpp"

#include <catch2/catch.hpp>

#include <lia/json/json.hpp>

using namespace lia::ai_orchestration;

namespace {
bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}
}  // namespace

TEST_CASE("tool definitions are a valid Chat Completions tools array with JSON schemas") {
  auto doc = lia::json::parse(tool_definitions_json());
  REQUIRE(doc.ok());
  REQUIRE(doc->IsArray());
  CHECK(doc->Size() == 7);
  for (const auto& t : doc->GetArray()) {
    REQUIRE(t.IsObject());
    CHECK(std::string(t["type"].GetString()) == "function");
    const auto& fn = t["function"];
    const std::string name = fn["name"].GetString();
    INFO(name);
    CHECK(parse_tool(name).has_value());
    CHECK(fn["description"].GetStringLength() > 10);
    CHECK(std::string(fn["parameters"]["type"].GetString()) == "object");
  }
}

TEST_CASE("tool names round-trip") {
  for (Tool t :
       {Tool::transfer_to_human, Tool::check_coverage, Tool::lookup_outage, Tool::register_lead,
        Tool::register_complaint, Tool::register_payment_promise, Tool::register_opt_out}) {
    CHECK(parse_tool(to_string(t)) == t);
  }
  CHECK_FALSE(parse_tool("rm_rf").has_value());
}

TEST_CASE("check_coverage answers from the built-in table") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-000000000001"});
  auto sp = tools.run("check_coverage", R"({"cep":"01310-100"})", "c1");
  CHECK(sp.ok);
  CHECK(sp.call_id == "c1");
  CHECK(sp.tool == Tool::check_coverage);
  CHECK(contains(sp.result_json, R"("covered":true)"));
  CHECK(contains(sp.result_json, R"("city":"São Paulo")"));

  auto campinas = tools.run("check_coverage", R"({"cep":"13083970"})", "c2");
  CHECK(contains(campinas.result_json, "Campinas"));

  auto far = tools.run("check_coverage", R"({"cep":"69900-000"})", "c3");
  CHECK(far.ok);
  CHECK(contains(far.result_json, R"("covered":false)"));

  auto bad = tools.run("check_coverage", R"({"cep":"123"})", "c4");
  CHECK_FALSE(bad.ok);
  CHECK(contains(bad.error, "8 digits"));
  auto missing = tools.run("check_coverage", "{}", "c5");
  CHECK_FALSE(missing.ok);
  CHECK(contains(missing.error, "cep"));
}

TEST_CASE("lookup_outage without an outage table finds none") {
  BuiltinTools tools(nullptr, {"x"});
  auto r = tools.run("lookup_outage", R"({"cep":"01310100"})", "c1");
  CHECK(r.ok);
  CHECK(contains(r.result_json, R"("outage":false)"));
}

TEST_CASE("register tools check their arguments and give protocols") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-00000000beef"});
  auto lead = tools.run("register_lead", R"({"interest":"upgrade","cep":"01310-100"})", "a");
  CHECK(lead.ok);
  CHECK(contains(lead.result_json, "LEAD-00000000BEEF"));
  CHECK_FALSE(tools.run("register_lead", R"({"interest":""})", "b").ok);
  CHECK_FALSE(tools.run("register_lead", R"({"interest":"x","cep":"abc"})", "b").ok);

  auto complaint =
      tools.run("register_complaint", R"({"description":"sem internet há 3 dias"})", "c");
  CHECK(complaint.ok);
  CHECK(contains(complaint.result_json, "OUV-00000000BEEF"));
  CHECK_FALSE(tools.run("register_complaint", R"({"category":"x"})", "d").ok);

  auto promise = tools.run("register_payment_promise", R"({"day":10,"amount":99.9})", "e");
  CHECK(promise.ok);
  CHECK(contains(promise.result_json, R"("day":10)"));
  CHECK(tools.run("register_payment_promise", R"({"date":"2026-12-10"})", "f").ok);
  CHECK_FALSE(tools.run("register_payment_promise", R"({"day":40})", "g").ok);
  CHECK_FALSE(tools.run("register_payment_promise", R"({"date":"amanhã"})", "h").ok);
  CHECK_FALSE(tools.run("register_payment_promise", R"({"date":"2026-02-30"})", "i").ok);
  CHECK_FALSE(tools.run("register_payment_promise", R"({"date":"2026-13-01"})", "j").ok);
  CHECK_FALSE(tools.run("register_payment_promise", R"({"date":"20-6-12-01"})", "l").ok);
  CHECK(tools.run("register_payment_promise", R"({"date":"2028-02-29"})", "k").ok);
  CHECK_FALSE(tools.run("register_payment_promise", "{}", "i").ok);
  // Models fill optional arguments with "": not given. A date alone that is empty is no
  // promise; beside a day, it is ignored. An empty CEP of a lead is none.
  const auto empty_date = tools.run("register_payment_promise", R"({"date":""})", "m");
  CHECK_FALSE(empty_date.ok);
  CHECK(empty_date.error == "give 'day' or 'date'");
  const auto day_and_empty = tools.run("register_payment_promise", R"({"day":12,"date":""})", "n");
  REQUIRE(day_and_empty.ok);
  CHECK_FALSE(contains(day_and_empty.result_json, "date"));
  CHECK(tools.run("register_lead", R"({"interest":"plano 500 mega","cep":""})", "o").ok);
}

TEST_CASE("register tools refuse arguments conversation would drop, naming them") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-00000000beef"});
  const auto lead = tools.run("register_lead", R"({"interest":"upgrade","plan":500})", "a");
  CHECK_FALSE(lead.ok);
  CHECK(contains(lead.error, "plan"));
  CHECK_FALSE(tools.run("register_lead", R"({"interest":"upgrade","name":{"x":1}})", "b").ok);
  const auto odd = tools.run("register_complaint",
                             R"({"description":"cobrança errada","category":"raiva"})", "c");
  CHECK_FALSE(odd.ok);
  CHECK(contains(odd.error, "atendimento, tecnico, financeiro, comercial, outro"));
  CHECK(tools
            .run("register_complaint",
                 R"({"description":"cobrança errada","category":"financeiro"})", "d")
            .ok);
  CHECK(tools.run("register_complaint", R"({"description":"cobrança errada","category":""})", "e")
            .ok);  // "": not given
}

TEST_CASE(
    "a payment promise dated from today to a year on and a 0 the model fills counts as none") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-00000000c0de", {}, "2026-12-06"});
  // A year the model took from its training, a day gone by, or one past a year: it hears
  // which day today is.
  for (const char* date : {"2024-04-15", "2026-12-05", "2027-12-08"}) {
    INFO(date);
    const auto r =
        tools.run("register_payment_promise", std::string(R"({"date":")") + date + R"("})", "a");
    CHECK_FALSE(r.ok);
    CHECK(r.error == "argument 'date' must be from today (2026-12-06) to a year from now");
  }
  CHECK(tools.run("register_payment_promise", R"({"date":"2026-12-06"})", "b").ok);
  CHECK(tools.run("register_payment_promise", R"({"date":"2027-12-07"})", "c").ok);
  // "day":0 beside a date, and "amount":0, are not given.
  const auto zeros =
      tools.run("register_payment_promise", R"({"day":0,"date":"2026-12-20","amount":0})", "d");
  REQUIRE(zeros.ok);
  CHECK(zeros.result_json == R"({"registered":true,"date":"2026-12-20"})");
  CHECK_FALSE(tools.run("register_payment_promise", R"({"day":0})", "e").ok);
  // With both, the day of the date: the same promise. Two different days: the model asks.
  CHECK(contains(
      tools.run("register_payment_promise", R"({"day":20,"date":"2026-12-20"})", "f").result_json,
      "already_registered"));
  const auto two_days =
      tools.run("register_payment_promise", R"({"day":3,"date":"2026-12-20"})", "f2");
  CHECK_FALSE(two_days.ok);
  CHECK(contains(two_days.error, "different days"));
  // Another amount for the same date is a new promise; an amount past any debt is a slip.
  const auto more =
      tools.run("register_payment_promise", R"({"date":"2026-12-20","amount":150})", "f3");
  REQUIRE(more.ok);
  CHECK_FALSE(contains(more.result_json, "already_registered"));
  CHECK(contains(
      tools.run("register_payment_promise", R"({"date":"2026-12-20","amount":150.0})", "f4")
          .result_json,
      "already_registered"));
  // The same date again without an amount: the promise made with one.
  CHECK(
      contains(tools.run("register_payment_promise", R"({"date":"2026-12-20"})", "f6").result_json,
               "already_registered"));
  CHECK_FALSE(
      tools.run("register_payment_promise", R"({"date":"2026-12-20","amount":52998224725})", "f5")
          .ok);
  // Without today (an older caller), any calendar day goes.
  BuiltinTools undated(nullptr, {"0190e0a4-8000-7abc-9def-00000000c0de"});
  CHECK(undated.run("register_payment_promise", R"({"date":"2024-04-15"})", "g").ok);
}

TEST_CASE("a registration the conversation made before is not made again") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-00000000c0de",
                               {{"register_complaint", "OUV-00000000BEEF"},
                                {"register_payment_promise", "day:10"}}});
  // The complaint: the first protocol, said to be registered already.
  auto complaint = tools.run("register_complaint", R"({"description":"e o andamento?"})", "a");
  REQUIRE(complaint.ok);
  CHECK(contains(complaint.result_json, R"("already_registered":true)"));
  CHECK(contains(complaint.result_json, "OUV-00000000BEEF"));
  CHECK_FALSE(contains(complaint.result_json, "C0DE"));
  // The same day again is the promise registered; another day replaces it.
  auto same = tools.run("register_payment_promise", R"({"day":10})", "b");
  CHECK(contains(same.result_json, R"("already_registered":true)"));
  auto other = tools.run("register_payment_promise", R"({"day":15})", "c");
  CHECK_FALSE(contains(other.result_json, "already_registered"));
  // A lead is new the first time in this turn, and the turn's second call finds it.
  auto lead = tools.run("register_lead", R"({"interest":"contratacao"})", "d");
  CHECK(contains(lead.result_json, "LEAD-00000000C0DE"));
  CHECK_FALSE(contains(lead.result_json, "already_registered"));
  auto lead_again = tools.run("register_lead", R"({"interest":"contratacao"})", "e");
  CHECK(contains(lead_again.result_json, R"("already_registered":true)"));
  CHECK(contains(lead_again.result_json, "LEAD-00000000C0DE"));

  // What the read model keeps: only what was newly registered (a failed call adds nothing).
  CHECK_FALSE(tools.run("register_complaint", R"({"category":"x"})", "f").ok);
  auto made = lia::json::parse(tools.registrations_json());
  REQUIRE(made.ok());
  CHECK(made->MemberCount() == 2);
  CHECK(std::string((*made)["register_payment_promise"].GetString()) == "day:15");
  CHECK(std::string((*made)["register_lead"].GetString()) == "LEAD-00000000C0DE");
  // A turn that only met what was registered before registers nothing.
  BuiltinTools repeat(nullptr, {"0190e0a4-8000-7abc-9def-00000000c0de",
                                {{"register_complaint", "OUV-00000000BEEF"},
                                 {"register_payment_promise", "day:10"}}});
  CHECK(repeat.run("register_complaint", R"({"description":"e então?"})", "a").ok);
  CHECK(repeat.run("register_payment_promise", R"({"day":10})", "b").ok);
  CHECK(repeat.registrations_json().empty());
  // Forgotten with a dropped turn.
  tools.forget_turn();
  CHECK(tools.registrations_json().empty());
}

TEST_CASE("transfer_to_human accepts only known departments") {
  BuiltinTools tools(nullptr, {"x"});
  auto ok = tools.run("transfer_to_human", R"({"reason":"pediu","department":"support"})", "a");
  CHECK(ok.ok);
  CHECK(contains(ok.result_json, R"("department":"support")"));
  CHECK(tools.run("transfer_to_human", R"({"reason":"pediu"})", "b").ok);
  CHECK_FALSE(tools.run("transfer_to_human", R"({"reason":"x","department":"mars"})", "c").ok);
  CHECK_FALSE(tools.run("transfer_to_human", "{}", "d").ok);
}

TEST_CASE("broken tool calls are failed invocations, never exceptions") {
  BuiltinTools tools(nullptr, {"x"});
  auto unknown = tools.run("format_disk", "{}", "a");
  CHECK_FALSE(unknown.ok);
  CHECK_FALSE(unknown.known);
  CHECK(tools.run("check_coverage", "{}", "z").known);
  CHECK(contains(unknown.error, "unknown tool"));
  auto garbage = tools.run("check_coverage", "{not json", "b");
  CHECK_FALSE(garbage.ok);
  CHECK(garbage.arguments_json == "{}");  // the event still gets an object
  auto array = tools.run("check_coverage", "[1,2]", "c");
  CHECK_FALSE(array.ok);
  CHECK(array.arguments_json == "{}");
  auto wrong_type = tools.run("check_coverage", R"({"cep":1310100})", "d");
  CHECK_FALSE(wrong_type.ok);
}

TEST_CASE("a tool call's arguments past 16 KiB are refused unrun, and not carried on") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-00000000beef"});
  const std::string huge =
      R"({"description":")" + std::string(kMaxToolArguments, 'x') + R"(","category":"tecnico"})";
  auto inv = tools.run("register_complaint", huge, "a");
  CHECK_FALSE(inv.ok);
  CHECK(inv.known);
  CHECK(inv.tool == Tool::register_complaint);
  CHECK(contains(inv.error, "larger than 16384 bytes"));
  CHECK(inv.arguments_json.size() < 100);
  CHECK(tools.registrations_json().find("OUV-") == std::string::npos);
  // At the limit it runs.
  const std::string prefix = R"({"description":")";
  const std::string suffix = R"(","category":"tecnico"})";
  const std::string fits =
      prefix + std::string(kMaxToolArguments - prefix.size() - suffix.size(), 'x') + suffix;
  REQUIRE(fits.size() == kMaxToolArguments);
  CHECK(tools.run("register_complaint", fits, "b").ok);
}

TEST_CASE("CEP helpers") {
  CHECK(normalize_cep("01310-100") == "01310100");
  CHECK(normalize_cep("01.310-100") == "01310100");
  CHECK_FALSE(normalize_cep("0131010").has_value());
  CHECK_FALSE(normalize_cep("0131a100").has_value());
  CHECK(format_cep("01310100") == "01310-100");
  CHECK(coverage_for("13100000")->city == "Campinas");
  CHECK_FALSE(coverage_for("99999999").has_value());
  CHECK(protocol_for("OUV", "ab") == "OUV-0000000000AB");
  // A UUIDv7 message id: its last 12 hex digits, 48 random bits.
  CHECK(protocol_for("LEAD", "0190f3a2-7b4c-7d5e-9f6a-1b2c3d4e5f60") == "LEAD-1B2C3D4E5F60");
}

TEST_CASE("an argument a tool's schema does not name fails the call, naming what it takes") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-00000000beef"});
  const auto extra =
      tools.run("register_lead", R"({"interest":"upgrade","phone":"5511987654321"})", "a");
  CHECK_FALSE(extra.ok);
  CHECK(extra.known);
  CHECK(extra.error == "unknown argument 'phone': register_lead takes interest, plan, cep, name");
  CHECK(tools.registrations_json().empty());  // nothing registered
  const auto transfer = tools.run("transfer_to_human", R"({"reason":"pediu","urgent":true})", "b");
  CHECK_FALSE(transfer.ok);
  CHECK(transfer.error == "unknown argument 'urgent': transfer_to_human takes reason, department");
  // Every argument each schema names is taken.
  CHECK(tools
            .run("register_lead",
                 R"({"interest":"upgrade","plan":"500 mega","cep":"01310-100","name":"Ana"})", "c")
            .ok);
  CHECK(tools.run("register_payment_promise", R"({"day":15,"date":"","amount":0})", "d").ok);
  CHECK(tools.run("check_coverage", R"({"cep":"01310-100"})", "e").ok);
}

TEST_CASE(
    "register_payment_promise and register_opt_out are offered only to financeiro and "
    "cobranca") {
  for (Assistant a : kAssistants) {
    INFO(to_string(a));
    const bool desk = a == Assistant::financeiro || a == Assistant::cobranca;
    CHECK(tool_offered(Tool::register_payment_promise, a) == desk);
    CHECK(tool_offered(Tool::register_opt_out, a) == desk);
    auto doc = lia::json::parse(tool_definitions_json(a));
    REQUIRE(doc.ok());
    REQUIRE(doc->IsArray());
    CHECK(doc->Size() == (desk ? 7U : 5U));
    bool promise = false;
    bool opt_out = false;
    for (const auto& t : doc->GetArray()) {
      const std::string name = t["function"]["name"].GetString();
      const auto tool = parse_tool(name);
      REQUIRE(tool.has_value());
      CHECK(tool_offered(*tool, a));
      promise = promise || *tool == Tool::register_payment_promise;
      opt_out = opt_out || *tool == Tool::register_opt_out;
    }
    CHECK(promise == desk);
    CHECK(opt_out == desk);
    for (Tool t : {Tool::transfer_to_human, Tool::check_coverage, Tool::lookup_outage,
                   Tool::register_lead, Tool::register_complaint}) {
      CHECK(tool_offered(t, a));
    }
  }
}

TEST_CASE("register_opt_out takes no argument and reports the request registered") {
  BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-000000000001"});
  const auto inv = tools.run("register_opt_out", "{}", "o1");
  CHECK(inv.ok);
  CHECK(inv.tool == Tool::register_opt_out);
  CHECK(inv.result_json == R"({"registered":true})");
  const auto extra = tools.run("register_opt_out", R"({"phone":"5511987654321"})", "o2");
  CHECK_FALSE(extra.ok);
  CHECK(contains(extra.error, "phone"));
}
