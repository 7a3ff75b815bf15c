#include "local_assistant.hpp"

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/json/json.hpp>

using namespace lia::ai_orchestration;

namespace {

class FakeOutages final : public OutageSource {
 public:
  std::optional<Outage> outage;
  bool broken = false;
  lia::core::Result<std::optional<Outage>> find(std::string_view cep) override {
    if (broken) return lia::core::Error(lia::core::Errc::unavailable, "db down");
    if (outage && cep.substr(0, outage->cep_prefix.size()) == outage->cep_prefix) return outage;
    return std::optional<Outage>{};
  }
};

struct Run {
  Plan plan;
  Answer answer;
};

Run run(const Turn& turn, OutageSource* outages = nullptr) {
  BuiltinTools tools(outages, {turn.message_id});
  Run r;
  r.plan = plan_turn(turn);
  r.answer = local_answer(turn, r.plan, tools);
  return r;
}

Turn turn(std::string text, Assistant current = Assistant::apresentacao, bool first = false) {
  Turn t;
  t.current = current;
  t.message_id = "0190e0a4-8000-7abc-9def-0000000000a1";
  t.text = std::move(text);
  t.first_message = first;
  t.customer_turn = first ? 0 : 3;
  return t;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

const ToolInvocation* tool(const Answer& a, Tool t) {
  for (const auto& inv : a.tools) {
    if (inv.tool == t) return &inv;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("apresentacao greets the first message and offers what LIA does") {
  auto r = run(turn("oi", Assistant::apresentacao, true));
  CHECK(r.plan.greet);
  CHECK_FALSE(r.plan.changed());
  CHECK_FALSE(r.plan.handoff);
  CHECK(r.answer.text.rfind("Olá! Sou a LIA", 0) == 0);
  CHECK(contains(r.answer.text, "suporte técnico"));
  CHECK(r.answer.tools.empty());
}

TEST_CASE("the greeting uses the customer's name when known") {
  auto t = turn("bom dia", Assistant::apresentacao, true);
  t.customer_name = "Maria";
  auto r = run(t);
  CHECK(r.answer.text.rfind("Olá, Maria! Sou a LIA", 0) == 0);
}

TEST_CASE("a first message with a subject is greeted and routed at once") {
  auto r = run(turn("Oi, minha internet caiu!!!", Assistant::apresentacao, true));
  CHECK(r.plan.assistant == Assistant::suporte);
  CHECK(r.plan.changed());
  CHECK(r.plan.from == Assistant::apresentacao);
  CHECK(contains(r.plan.change_reason, "suporte_tecnico"));
  CHECK_FALSE(r.plan.handoff);
  CHECK(r.answer.text.rfind("Olá! Sou a LIA", 0) == 0);
  CHECK(contains(r.answer.text, "roteador"));
  CHECK(contains(r.answer.text, "CEP"));
}

TEST_CASE("apresentacao routes each subject to its assistant, accents and case aside") {
  struct Case {
    const char* text;
    Assistant to;
    const char* says;
  };
  const Case cases[] = {
      {"minha internet caiu!!!", Assistant::suporte, "roteador"},
      {"MINHA INTERNET ESTÁ LENTA", Assistant::suporte, "teste de velocidade"},
      {"o wifi nao pega", Assistant::suporte, "Wi-Fi"},
      {"quais os planos de fibra?", Assistant::comercial, "300 Mega"},
      {"Quanto custa a INSTALAÇÃO?", Assistant::comercial, "3 dias úteis"},
      {"segunda via do boleto", Assistant::financeiro, "segunda via"},
      {"SEGUNDA VIA DO BOLETO", Assistant::financeiro, "CPF"},
      {"da pra pagar com pix?", Assistant::financeiro, "PIX"},
      {"QUERO CANCELAR", Assistant::cancelamento, "cancelar"},
      {"quero cancelar o contrato", Assistant::cancelamento, "desconto"},
      {"quero fazer uma reclamação", Assistant::ouvidoria, "Me conte o que aconteceu"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto r = run(turn(c.text));
    CHECK(r.plan.assistant == c.to);
    CHECK(r.plan.changed());
    CHECK_FALSE(r.plan.handoff);
    CHECK(contains(r.answer.text, c.says));
    CHECK_FALSE(r.answer.text.empty());
  }
}

TEST_CASE("a neutral message keeps the assistant and asks what the customer needs") {
  auto r = run(turn("hmm, tudo bem"));
  CHECK(r.plan.assistant == Assistant::apresentacao);
  CHECK_FALSE(r.plan.changed());
  CHECK_FALSE(r.plan.handoff);
  CHECK(r.plan.analysis.sentiment.label == Sentiment::neutral);
  CHECK(r.answer.tools.empty());
  CHECK_FALSE(r.answer.text.empty());
  CHECK_FALSE(contains(r.answer.text, "Sou a LIA"));  // greeted only once
}

TEST_CASE("the canned answers vary with the turn") {
  auto a = turn("hmm");
  a.customer_turn = 1;
  auto b = turn("hmm");
  b.customer_turn = 2;
  CHECK(run(a).answer.text != run(b).answer.text);
}

TEST_CASE("a specialist keeps the conversation for weak signals and passes clear ones") {
  auto stay = run(turn("e a internet?", Assistant::financeiro));
  CHECK(stay.plan.assistant == Assistant::financeiro);
  auto move = run(turn("agora quero cancelar tudo", Assistant::suporte));
  CHECK(move.plan.assistant == Assistant::cancelamento);
  CHECK(move.plan.from == Assistant::suporte);
  // Cobrança handles payment talk itself.
  auto cobranca = run(turn("me manda o boleto", Assistant::cobranca));
  CHECK(cobranca.plan.assistant == Assistant::cobranca);
}

TEST_CASE("cancelamento and ouvidoria keep a connection problem as the reason or the detail") {
  // The answer to "Posso saber o motivo?" stays with the cancellation, without a new
  // retention opening.
  auto reason = run(turn("a internet é muito lenta", Assistant::cancelamento));
  CHECK(reason.plan.assistant == Assistant::cancelamento);
  CHECK_FALSE(reason.plan.changed());
  CHECK(contains(reason.answer.text, "desconto"));
  auto detail = run(turn("minha internet caiu 3 vezes essa semana", Assistant::ouvidoria));
  CHECK(detail.plan.assistant == Assistant::ouvidoria);
  // A question about the connection, or a CEP to look up, is a new subject.
  auto outage =
      run(turn("continua sem sinal, tem manutenção no CEP 01310-100?", Assistant::cancelamento));
  CHECK(outage.plan.assistant == Assistant::suporte);
  auto question =
      run(turn("a internet caiu de novo, tem previsão de volta?", Assistant::ouvidoria));
  CHECK(question.plan.assistant == Assistant::suporte);
  // Another clear subject still moves the customer on.
  auto invoice = run(turn("me manda a segunda via do boleto", Assistant::cancelamento));
  CHECK(invoice.plan.assistant == Assistant::financeiro);
  auto from_support = run(turn("a internet é muito lenta", Assistant::financeiro));
  CHECK(from_support.plan.assistant == Assistant::suporte);
}

TEST_CASE("a negated cancel or complaint keeps the assistant and registers nothing") {
  for (const char* text : {"não quero cancelar, só quero que funcione",
                           "o técnico cancelou a visita", "não quero mais esperar"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    CHECK(r.plan.assistant == Assistant::suporte);
    CHECK_FALSE(r.plan.handoff);
  }
  auto thanks = run(turn("Não tenho do que reclamar, obrigado", Assistant::suporte));
  CHECK(thanks.plan.assistant == Assistant::suporte);
  CHECK(tool(thanks.answer, Tool::register_complaint) == nullptr);
  CHECK(contains(thanks.answer.text, "Por nada"));

  auto cancel = run(turn("quero cancelar meu plano", Assistant::suporte));
  CHECK(cancel.plan.assistant == Assistant::cancelamento);
}

TEST_CASE("asking for a person hands off to the assistant's department") {
  auto r = run(turn("quero falar com um atendente"));
  REQUIRE(r.plan.handoff);
  CHECK(r.plan.handoff->department == "general");
  CHECK(r.plan.handoff->reason == "cliente pediu atendente humano");
  CHECK(contains(r.answer.text, "transferir"));
  const auto* t = tool(r.answer, Tool::transfer_to_human);
  REQUIRE(t != nullptr);
  CHECK(t->ok);

  auto s = run(turn("quero falar com um humano", Assistant::suporte));
  REQUIRE(s.plan.handoff);
  CHECK(s.plan.handoff->department == "support");
  CHECK(contains(s.answer.text, "suporte técnico"));

  auto f = run(turn("Quero falar com uma PESSOA sobre a fatura"));
  REQUIRE(f.plan.handoff);
  CHECK(f.plan.assistant == Assistant::financeiro);
  CHECK(f.plan.handoff->department == "financial");

  auto c = run(turn("quero falar com alguém", Assistant::cancelamento));
  REQUIRE(c.plan.handoff);
  CHECK(c.plan.handoff->department == "cancellation");

  auto v = run(turn("me passa pra um atendente", Assistant::comercial));
  REQUIRE(v.plan.handoff);
  CHECK(v.plan.handoff->department == "commercial");
}

TEST_CASE("angry customers are handed off with at least high urgency") {
  auto insult = run(turn("voces sao uns incompetentes", Assistant::suporte));
  REQUIRE(insult.plan.handoff);
  CHECK(insult.plan.handoff->urgency != Urgency::normal);
  CHECK(contains(insult.answer.text, "Sinto muito"));

  auto angry = run(turn("URGENTE!!! SEM INTERNET DE NOVO, UM ABSURDO", Assistant::suporte));
  REQUIRE(angry.plan.handoff);
  CHECK(angry.plan.analysis.sentiment.label == Sentiment::negative);
  CHECK(angry.plan.handoff->department == "support");
  CHECK(angry.plan.handoff->reason == "cliente irritado e com urgência");

  auto procon = run(turn("vou denunciar voces no procon"));
  REQUIRE(procon.plan.handoff);
  CHECK(procon.plan.assistant == Assistant::ouvidoria);
  CHECK(procon.plan.handoff->department == "general");
  // Ouvidoria registers the complaint before transferring.
  const auto* complaint = tool(procon.answer, Tool::register_complaint);
  REQUIRE(complaint != nullptr);
  CHECK(contains(procon.answer.text, "protocolo OUV-"));
  CHECK(tool(procon.answer, Tool::transfer_to_human) != nullptr);
}

TEST_CASE("a plain complaint or mild trouble is not a handoff") {
  CHECK_FALSE(run(turn("minha internet caiu!!!")).plan.handoff);
  CHECK_FALSE(run(turn("a internet esta lenta hoje")).plan.handoff);
  CHECK_FALSE(run(turn("nao gostei da fatura")).plan.handoff);
  // Pressing, but one plain complaint: the steps that fix it, not a queue for a person.
  for (const char* text : {"Estou sem internet desde hoje cedo, preciso trabalhar",
                           "minha internet caiu de novo hoje", "caiu de novo!!!"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    CHECK(r.plan.analysis.urgency == Urgency::high);  // still read as pressing
    CHECK_FALSE(r.plan.handoff);
  }
  // A plain report after four negative messages in a row (pressing by the streak alone):
  // angry.
  auto again = turn("a internet caiu", Assistant::suporte);
  again.prior_negative_streak = 4;
  REQUIRE(run(again).plan.analysis.urgency == Urgency::high);
  auto escalated = run(again);
  REQUIRE(escalated.plan.handoff);
  CHECK(escalated.plan.handoff->reason == "cliente irritado e com urgência");
  // Two complaints and pressing, or urgent: angry.
  for (const char* text : {"que absurdo, estou sem internet de novo e preciso trabalhar hoje",
                           "pela terceira vez sem internet, que raiva, preciso urgente"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->reason == "cliente irritado e com urgência");
  }
}

TEST_CASE("a carrier, a legal entity, a process or a refused person is no handoff") {
  for (const char* text : {"quero trocar de operadora", "plano para pessoa jurídica",
                           "Qual o processo para mudar de plano?",
                           "não precisa de atendente, só quero a segunda via"}) {
    INFO(text);
    auto r = run(turn(text));
    CHECK_FALSE(r.plan.handoff);
    CHECK(tool(r.answer, Tool::transfer_to_human) == nullptr);
  }
  auto second_copy = run(turn("não precisa de atendente, só quero a segunda via"));
  CHECK(second_copy.plan.assistant == Assistant::financeiro);
  for (const char* text : {"quero falar com um atendente", "falar com uma pessoa",
                           "vou abrir um processo", "procon"}) {
    INFO(text);
    CHECK(run(turn(text)).plan.handoff);
  }
}

TEST_CASE("a refused or mentioned person, a time of day or capitals alone is no handoff") {
  for (const char* text :
       {"não precisa chamar atendente, só me manda o boleto", "sem atendente por favor",
        "o atendente de ontem disse que o técnico vinha hoje",
        "Hoje de manhã a internet caiu e agora voltou", "BOA TARDE, MINHA INTERNET CAIU HOJE"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::suporte}) {
      auto r = run(turn(text, from));
      CHECK_FALSE(r.plan.handoff);
      CHECK(tool(r.answer, Tool::transfer_to_human) == nullptr);
    }
  }
  CHECK(run(turn("não precisa chamar atendente, só me manda o boleto")).plan.assistant ==
        Assistant::financeiro);
  CHECK(run(turn("BOA TARDE, MINHA INTERNET CAIU HOJE")).plan.assistant == Assistant::suporte);
}

TEST_CASE("refusing the robot, asking to be served by a person or transferred hands off") {
  for (const char* text : {"não quero falar com robô", "quero ser atendido por uma pessoa",
                           "me transfere pra alguém"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->reason == "cliente pediu atendente humano");
    CHECK(tool(r.answer, Tool::transfer_to_human) != nullptr);
  }
  auto bosta = run(turn("essa internet é uma bosta", Assistant::suporte));
  REQUIRE(bosta.plan.handoff);
  CHECK(bosta.plan.handoff->reason == "cliente irritado (ofensas)");
  auto ra = run(turn("vou colocar no Reclame Aqui"));
  CHECK(ra.plan.assistant == Assistant::ouvidoria);
  REQUIRE(ra.plan.handoff);
  CHECK(contains(ra.plan.handoff->reason, "Reclame Aqui"));
  CHECK(tool(ra.answer, Tool::register_complaint) != nullptr);
}

TEST_CASE("cancelling a debit or a visit, or taking the cancelling back, gets no retention offer") {
  for (const char* text :
       {"quero cancelar o débito automático", "preciso cancelar a visita técnica de amanhã",
        "desisti de cancelar", "pode desconsiderar o cancelamento"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::suporte, Assistant::financeiro}) {
      auto r = run(turn(text, from));
      CHECK(r.plan.assistant != Assistant::cancelamento);
      CHECK_FALSE(contains(r.answer.text, "50% de desconto"));
    }
  }
  CHECK(run(turn("quero cancelar o débito automático")).plan.assistant == Assistant::financeiro);
  CHECK(run(turn("preciso cancelar a visita técnica de amanhã")).plan.assistant ==
        Assistant::suporte);
}

TEST_CASE("a wish for more speed in a slowness complaint goes to support and registers no lead") {
  for (Assistant from : {Assistant::apresentacao, Assistant::comercial}) {
    auto r = run(turn("preciso de mais velocidade, a internet ta lenta", from));
    CHECK(r.plan.assistant == Assistant::suporte);
    CHECK(tool(r.answer, Tool::register_lead) == nullptr);
    CHECK(contains(r.answer.text, "teste de velocidade"));
  }
  CHECK(tool(run(turn("preciso de mais velocidade", Assistant::comercial)).answer,
             Tool::register_lead) != nullptr);
}

TEST_CASE("a question about paying registers no payment promise") {
  for (const char* text :
       {"quanto fica pra pagar dia 20?", "eu sempre pago dia 10, pq veio juros?"}) {
    INFO(text);
    for (Assistant from : {Assistant::financeiro, Assistant::cobranca}) {
      auto r = run(turn(text, from));
      CHECK(tool(r.answer, Tool::register_payment_promise) == nullptr);
      CHECK_FALSE(contains(r.answer.text, "promessa"));
    }
  }
}

TEST_CASE("slang greetings and thanks, and no connection in slang, are answered") {
  CHECK(contains(run(turn("obg", Assistant::suporte)).answer.text, "Por nada"));
  CHECK(contains(run(turn("vlw", Assistant::financeiro)).answer.text, "Por nada"));
  auto hi = run(turn("oii"));
  CHECK(contains(hi.answer.text, "Em que posso ajudar"));
  for (const char* text : {"to sem net", "nao ta conectando"}) {
    INFO(text);
    auto r = run(turn(text));
    CHECK(r.plan.assistant == Assistant::suporte);
    CHECK(contains(r.answer.text, "roteador"));
  }
}

TEST_CASE("an unhappy message with no subject gets sympathy and the ways on, not a puzzle") {
  for (const char* text : {"vocês são péssimos", "serviço horrível", "estou muito irritado"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::apresentacao));
    CHECK_FALSE(contains(r.answer.text, "não entendi"));
    CHECK(contains(r.answer.text, "Sinto muito pela experiência"));
    CHECK(contains(r.answer.text, "reclamação"));
  }
  // Neutral and unclear: still asked what it is about.
  CHECK(contains(run(turn("hmm", Assistant::apresentacao)).answer.text, "não entendi"));
}

TEST_CASE("a CPF sent to the financial desk and a red LOS light go to a person") {
  auto cpf = run(turn("meu cpf é 529.982.247-25", Assistant::financeiro));
  REQUIRE(cpf.plan.handoff);
  CHECK(cpf.plan.handoff->reason == "cliente enviou o CPF/CNPJ do titular");
  CHECK(cpf.plan.handoff->department == "financial");
  CHECK(cpf.plan.handoff->urgency == Urgency::normal);
  CHECK(tool(cpf.answer, Tool::transfer_to_human) != nullptr);
  // Not in support, where no CPF was asked for.
  CHECK_FALSE(run(turn("meu cpf é 529.982.247-25", Assistant::suporte)).plan.handoff);
  // Any other colour, or none red: support goes on with its checks.
  for (const char* text :
       {"a luz LOS está verde", "a luz LOS está apagada", "não tem nenhuma luz vermelha"}) {
    INFO(text);
    CHECK_FALSE(run(turn(text, Assistant::suporte)).plan.handoff);
  }
  for (const char* text : {"a luz LOS está vermelha", "tem uma luz vermelha no modem"}) {
    INFO(text);
    auto los = run(turn(text, Assistant::suporte));
    REQUIRE(los.plan.handoff);
    CHECK(los.plan.handoff->reason == "luz LOS vermelha: visita técnica");
    CHECK(los.plan.handoff->department == "support");
    CHECK(contains(los.answer.text, "visita de um técnico"));
  }
}

TEST_CASE("cancelamento hands over a taken offer and cobranca answers a payment made") {
  for (const char* text : {"aceito o desconto", "Sim, aceito", "quero a oferta"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cancelamento));
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->department == "cancellation");
    CHECK(r.plan.handoff->urgency == Urgency::normal);
    CHECK(tool(r.answer, Tool::transfer_to_human) != nullptr);
    CHECK(contains(r.answer.text, "continuar com a gente"));
    CHECK_FALSE(contains(r.answer.text, "CPF"));
  }
  CHECK_FALSE(run(turn("não aceito o desconto", Assistant::cancelamento)).plan.handoff);
  // Asked again after the offer: a person ends the contract (the assistant cannot).
  for (const char* text : {"não aceito, quero cancelar", "quero seguir com o cancelamento",
                           "quero continuar com o cancelamento"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cancelamento));
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->reason == "cliente confirmou o cancelamento");
    CHECK(r.plan.handoff->department == "cancellation");
    CHECK(r.plan.handoff->urgency == Urgency::normal);
    CHECK(contains(r.answer.text, "equipe de cancelamento"));
  }
  // A question about cancelling, or about the fine, is answered, not taken as the request.
  for (const char* text :
       {"qual o valor da multa?", "tem multa?", "se eu cancelar agora, pago multa?",
        "não vou cancelar agora, quanto é a multa?"}) {
    INFO(text);
    CHECK_FALSE(run(turn(text, Assistant::cancelamento)).plan.handoff);
  }
  // Taken back: no cancellation, no handoff; a reason told: no CPF asked for.
  auto stays = run(turn("desisti de cancelar", Assistant::cancelamento));
  CHECK_FALSE(stays.plan.handoff);
  CHECK(contains(stays.answer.text, "continuar com a gente"));
  auto reason = run(turn("está muito caro", Assistant::cancelamento));
  CHECK_FALSE(reason.plan.handoff);
  CHECK_FALSE(contains(reason.answer.text, "CPF"));
  CHECK(contains(reason.answer.text, "Quer mesmo cancelar"));
  // Refused, or only asked about: not taken as accepted.
  for (const char* text :
       {"prefiro cancelar do que aceitar a oferta", "quero saber da oferta",
        "quero entender a proposta", "aceito o desconto se for pra cancelar depois"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cancelamento));
    CHECK_FALSE(contains(r.answer.text, "continuar com a gente"));
    if (r.plan.handoff) CHECK(r.plan.handoff->reason != "cliente aceitou a oferta de retenção");
  }
  // Elsewhere it is no retention.
  CHECK_FALSE(run(turn("aceito o desconto", Assistant::comercial)).plan.handoff);

  auto paid = run(turn("já paguei ontem pelo pix", Assistant::cobranca));
  CHECK(paid.plan.assistant == Assistant::cobranca);
  CHECK(contains(paid.answer.text, "Se você já pagou"));
  CHECK_FALSE(contains(paid.answer.text, "em que dia consegue pagar"));
  CHECK(tool(paid.answer, Tool::register_payment_promise) == nullptr);
  CHECK_FALSE(
      contains(run(turn("ainda não paguei", Assistant::cobranca)).answer.text, "Se você já pagou"));
}

TEST_CASE("a first message saying the trouble lasts until now is no handoff") {
  auto r = run(turn("Estou sem conexão até agora", Assistant::apresentacao, true));
  CHECK(r.plan.assistant == Assistant::suporte);
  CHECK_FALSE(r.plan.handoff);
  CHECK(tool(r.answer, Tool::transfer_to_human) == nullptr);
}

TEST_CASE("the handoff summary tells the agent the subject and the mood") {
  auto r = run(turn("quero falar com um atendente sobre o boleto"));
  REQUIRE(r.plan.handoff);
  CHECK(contains(r.plan.handoff->summary, "financeiro"));
  CHECK(contains(r.plan.handoff->summary, "boleto"));
}

TEST_CASE("suggestions to an agent never hand off") {
  auto t = turn("quero falar com um atendente");
  t.may_handoff = false;
  auto r = run(t);
  CHECK_FALSE(r.plan.handoff);
  CHECK(tool(r.answer, Tool::transfer_to_human) == nullptr);
}

TEST_CASE("a suggestion to an agent offers to register and claims no protocol") {
  struct Case {
    const char* text;
    Assistant current;
    Tool tool;
  };
  const Case cases[] = {
      {"quero contratar o plano de 500 mega", Assistant::comercial, Tool::register_lead},
      {"quero fazer upgrade", Assistant::comercial, Tool::register_lead},
      {"quero registrar uma reclamação na ouvidoria: o técnico não veio", Assistant::apresentacao,
       Tool::register_complaint},
      {"vou pagar dia 15", Assistant::financeiro, Tool::register_payment_promise},
      {"vou pagar dia 15", Assistant::cobranca, Tool::register_payment_promise},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto t = turn(c.text, c.current);
    t.may_handoff = false;
    auto r = run(t);
    CHECK(tool(r.answer, c.tool) == nullptr);
    CHECK_FALSE(contains(r.answer.text, "protocolo"));
    CHECK_FALSE(contains(r.answer.text, "Registrei"));
    CHECK(contains(r.answer.text, "Posso registrar"));
    // Sent to the customer, the same message registers it.
    CHECK(tool(run(turn(c.text, c.current)).answer, c.tool) != nullptr);
  }
}

TEST_CASE("a CEP triggers the coverage tool") {
  auto r = run(turn("tem fibra no cep 01310-100?"));
  CHECK(r.plan.assistant == Assistant::comercial);
  const auto* t = tool(r.answer, Tool::check_coverage);
  REQUIRE(t != nullptr);
  CHECK(t->ok);
  CHECK(t->arguments_json == R"({"cep":"01310100"})");
  CHECK(contains(t->result_json, R"("covered":true)"));
  CHECK(contains(r.answer.text, "01310-100"));
  CHECK(contains(r.answer.text, "São Paulo"));

  auto none = run(turn("e no CEP 69900-000, tem fibra?"));
  const auto* t2 = tool(none.answer, Tool::check_coverage);
  REQUIRE(t2 != nullptr);
  CHECK(contains(t2->result_json, R"("covered":false)"));
  CHECK(contains(none.answer.text, "Ainda não temos cobertura"));

  // apresentacao answers a bare CEP with the coverage too.
  auto bare = run(turn("meu cep é 20040-002"));
  CHECK(tool(bare.answer, Tool::check_coverage) != nullptr);
  CHECK(contains(bare.answer.text, "Rio de Janeiro"));
}

TEST_CASE("suporte looks up outages for the customer's CEP") {
  FakeOutages outages;
  auto quiet = run(turn("continuo sem conexao, cep 01310-100", Assistant::suporte), &outages);
  const auto* lookup = tool(quiet.answer, Tool::lookup_outage);
  REQUIRE(lookup != nullptr);
  CHECK(contains(lookup->result_json, R"("outage":false)"));
  CHECK(contains(quiet.answer.text, "Não há falha registrada"));

  outages.outage = Outage{"0190e0a4-0000-7000-8000-000000000001", "0131", "Bela Vista",
                          "rompimento de fibra", "2026-11-22T18:00:00-03:00"};
  auto down = run(turn("continuo sem conexao, cep 01310-100", Assistant::suporte), &outages);
  CHECK(contains(down.answer.text, "Bela Vista"));
  CHECK(contains(down.answer.text, "22/11 às 18:00"));

  outages.broken = true;
  auto broken = run(turn("sem conexao, cep 01310-100", Assistant::suporte), &outages);
  const auto* failed = tool(broken.answer, Tool::lookup_outage);
  REQUIRE(failed != nullptr);
  CHECK_FALSE(failed->ok);
  CHECK_FALSE(broken.answer.text.empty());
}

TEST_CASE("comercial registers a lead when the customer wants to buy") {
  auto r = run(turn("quero contratar o plano de 500 mega", Assistant::comercial));
  const auto* lead = tool(r.answer, Tool::register_lead);
  REQUIRE(lead != nullptr);
  CHECK(lead->ok);
  CHECK(contains(r.answer.text, "protocolo LEAD-"));
  auto up = run(turn("quero fazer upgrade", Assistant::comercial));
  CHECK(tool(up.answer, Tool::register_lead) != nullptr);
  CHECK(contains(up.answer.text, "upgrade"));
  CHECK(tool(run(turn("quais os planos?")).answer, Tool::register_lead) == nullptr);
}

TEST_CASE("a question about the contract or the speed registers no lead") {
  for (const char* text : {"quanto é a multa do meu contrato?", "qual a velocidade do plano?",
                           "já contratei o plano de 500 mega", "não quero contratar nada"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::comercial}) {
      auto r = run(turn(text, from));
      CHECK(tool(r.answer, Tool::register_lead) == nullptr);
      CHECK_FALSE(contains(r.answer.text, "protocolo"));
    }
  }
  auto buy = run(turn("quero contratar o plano de 500 mega"));
  CHECK(buy.plan.assistant == Assistant::comercial);
  CHECK(tool(buy.answer, Tool::register_lead) != nullptr);
}

TEST_CASE("a question about buying or changing the plan is answered and registers nothing") {
  for (const char* text :
       {"Qual o processo para mudar de plano?", "como faço para contratar", "Como faço upgrade?",
        "gostaria de saber como mudar de plano", "quanto custa para assinar?",
        "Bom dia, como faço para contratar", "Como posso mudar de plano?",
        "Gostaria de saber se posso contratar o de 1 giga",
        "Queria uma informação: como faço para contratar?",
        "Tenho uma dúvida sobre como mudar de plano",
        "Não sei se quero mudar de plano, quanto fica?"}) {
    INFO(text);
    CHECK(analyze(text).question);
    for (Assistant from : {Assistant::apresentacao, Assistant::comercial}) {
      auto r = run(turn(text, from));
      CHECK(r.plan.assistant == Assistant::comercial);
      CHECK(tool(r.answer, Tool::register_lead) == nullptr);
      CHECK_FALSE(contains(r.answer.text, "protocolo"));
      CHECK(contains(r.answer.text, "é só dizer"));
    }
  }
  // The wish it tells the customer to say registers the lead; so does a wish worded as a
  // question.
  for (const char* text : {"quero mudar de plano", "quero contratar, como faço?",
                           "posso contratar o plano de 500 mega?", "Preciso contratar, como faço?",
                           "Oi, tudo bem? Tenho interesse em assinar o plano de 1 giga",
                           "Pode fazer o upgrade do meu plano?",
                           "quero tirar a TV do combo e fazer upgrade pra 1 giga"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).question);
    auto r = run(turn(text, Assistant::comercial));
    CHECK(tool(r.answer, Tool::register_lead) != nullptr);
    CHECK(contains(r.answer.text, "protocolo LEAD-"));
  }
}

TEST_CASE("financeiro and cobranca register a payment promise") {
  auto t = turn("vou pagar dia 15", Assistant::financeiro);
  t.customer_name = "João";
  auto r = run(t);
  const auto* promise = tool(r.answer, Tool::register_payment_promise);
  REQUIRE(promise != nullptr);
  CHECK(promise->ok);
  CHECK(promise->arguments_json == R"({"day":15})");
  CHECK(contains(r.answer.text, "Combinado, João!"));
  CHECK(contains(r.answer.text, "dia 15"));

  auto c = run(turn("consigo pagar no dia 20", Assistant::cobranca));
  CHECK(c.plan.assistant == Assistant::cobranca);
  CHECK(tool(c.answer, Tool::register_payment_promise) != nullptr);

  auto no = run(turn("vou pagar dia 15", Assistant::suporte));
  CHECK(tool(no.answer, Tool::register_payment_promise) == nullptr);
}

TEST_CASE("a payment made or refused registers no promise") {
  for (const char* text :
       {"fiz o pagamento dia 10 e continua bloqueado", "não vou conseguir pagar dia 10"}) {
    INFO(text);
    auto f = run(turn(text, Assistant::financeiro));
    CHECK(tool(f.answer, Tool::register_payment_promise) == nullptr);
    CHECK_FALSE(contains(f.answer.text, "promessa"));
    auto c = run(turn(text, Assistant::cobranca));
    CHECK(tool(c.answer, Tool::register_payment_promise) == nullptr);
  }
  for (const char* text : {"vou pagar dia 10", "consigo pagar no dia 15", "pago dia 20"}) {
    INFO(text);
    CHECK(tool(run(turn(text, Assistant::cobranca)).answer, Tool::register_payment_promise) !=
          nullptr);
  }
}

TEST_CASE("ouvidoria registers a complaint with a protocol") {
  auto r = run(turn("quero registrar uma reclamação na ouvidoria: o técnico não veio"));
  CHECK(r.plan.assistant == Assistant::ouvidoria);
  const auto* c = tool(r.answer, Tool::register_complaint);
  REQUIRE(c != nullptr);
  CHECK(c->ok);
  CHECK(contains(c->result_json, "OUV-0000000000A1"));
  CHECK(contains(r.answer.text, "OUV-0000000000A1"));
  CHECK(contains(r.answer.text, "5 dias úteis"));
}

TEST_CASE("a follow-up in ouvidoria, comercial or cobranca quotes what was registered before") {
  const auto with = [](const Turn& t, std::map<std::string, std::string> registered) {
    BuiltinTools tools(nullptr, {t.message_id, std::move(registered)});
    Run r;
    r.plan = plan_turn(t);
    r.answer = local_answer(t, r.plan, tools);
    return r;
  };
  auto more = with(turn("qual o andamento da minha reclamação?", Assistant::ouvidoria),
                   {{"register_complaint", "OUV-00000001"}});
  CHECK(contains(more.answer.text, "protocolo OUV-00000001"));
  CHECK_FALSE(contains(more.answer.text, "Registrei"));
  CHECK_FALSE(contains(more.answer.text, "OUV-0000000000A1"));
  auto lead = with(turn("quero contratar a internet", Assistant::comercial),
                   {{"register_lead", "LEAD-00000002"}});
  CHECK(contains(lead.answer.text, "já está registrado"));
  CHECK(contains(lead.answer.text, "LEAD-00000002"));
  auto promise =
      with(turn("vou pagar dia 10", Assistant::cobranca), {{"register_payment_promise", "day:10"}});
  CHECK(contains(promise.answer.text, "já está registrada"));
  // Another day is a new promise.
  auto moved =
      with(turn("vou pagar dia 20", Assistant::cobranca), {{"register_payment_promise", "day:10"}});
  CHECK(contains(moved.answer.text, "Registrei sua promessa de pagamento para o dia 20"));
}

TEST_CASE("thanks and goodbye are answered politely by any assistant") {
  CHECK(contains(run(turn("obrigado!", Assistant::suporte)).answer.text, "Por nada"));
  CHECK(contains(run(turn("tchau", Assistant::financeiro)).answer.text, "Até logo"));
}

TEST_CASE("media without text gets a useful answer") {
  auto t = turn("");
  t.kind = "audio";
  CHECK(contains(run(t).answer.text, "áudios"));
  t.kind = "image";
  CHECK(contains(run(t).answer.text, "arquivo"));
  t.kind = "location";
  CHECK(contains(run(t).answer.text, "CEP"));
}

TEST_CASE("first names come out clean") {
  CHECK(first_name("maria souza") == "Maria");
  CHECK(first_name("MARIA") == "Maria");
  CHECK(first_name("JOÃO da Silva") == "João");
  CHECK(first_name("ângela") == "Ângela");
  CHECK(first_name("🌸 Ana") == "Ana");
  CHECK_FALSE(first_name("🌸🌸").has_value());
  CHECK_FALSE(first_name("").has_value());
  CHECK_FALSE(first_name("5511987654321").has_value());
}

TEST_CASE("ellipsize_utf8 ends a cut text with an ellipsis, never in a character") {
  CHECK(ellipsize_utf8("abc", 10) == "abc");
  const std::string accents = "ããããã";  // 2 bytes each
  auto cut = ellipsize_utf8(accents, 6);
  CHECK(cut == "ã…");
  CHECK(ellipsize_utf8("abcdef", 2).empty());
}

TEST_CASE("a text kept for the remote model is never cut inside a document") {
  const std::string head(40, 'a');
  // Cut in the middle of a CPF, however written: it goes whole, and is no longer half there
  // to be sent unhidden (its first 9 digits give the rest away).
  for (const std::string doc :
       {"529.982.247-25", "52998224725", "529 982 247 25", "12.ABC.345/01DE-35", "529.982.247 - 25",
        "529.982.247 \xE2\x80\x93 25"}) {
    INFO(doc);
    const std::string before = head + " meu documento ";
    std::string text = before;
    text += doc;
    text += " obrigado";
    std::string whole = before;
    whole += doc;
    whole += "…";
    const auto cut = ellipsize_whole_words(text, head.size() + 15 + doc.size() / 2 + 3);
    CHECK(cut == head + " meu documento…");
    // Whole, it stays (the cut falls after it).
    const std::size_t through = head.size() + 15 + doc.size();
    CHECK(ellipsize_whole_words(text, through + 3) == whole);
  }
  // A word without digits is cut as before; a text that fits is left alone.
  CHECK(ellipsize_whole_words("abcdef ghijkl", 11) == "abcdef g…");
  CHECK(ellipsize_whole_words("abc 123", 10) == "abc 123");
  // The cut falling between words drops the trailing blank only.
  CHECK(ellipsize_whole_words("abc 52998224725 def", 7) == "abc…");
  // Wherever the cut falls in a CPF whose groups a spaced dash joins, none of it stays.
  const std::string dashed = "meu cpf e 529.982.247 - 25 obrigado";
  for (std::size_t max = 13; max < 29; ++max) {  // each cut inside it (it ends at byte 26)
    INFO(max);
    CHECK(ellipsize_whole_words(dashed, max).find("529") == std::string::npos);
  }
  CHECK(ellipsize_whole_words(dashed, 29) == "meu cpf e 529.982.247 - 25…");  // whole
  // A long pasted word with digits (a link) is cut as before, not dropped with all of the text.
  const std::string link = "https://exemplo.com.br/" + std::string(100, '7');
  CHECK(ellipsize_whole_words(link, 40) == ellipsize_utf8(link, 40));
}

TEST_CASE("n, num and a nao after the verb refuse: no cancellation or person handed off") {
  for (const char* text : {"n quero cancelar", "ñ quero cancelar", "num quero cancelar",
                           "quero cancelar não, vou ficar"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cancelamento));
    CHECK_FALSE(r.plan.handoff);
    CHECK(tool(r.answer, Tool::transfer_to_human) == nullptr);
  }
  for (const char* text : {"n quero falar com atendente", "num quero falar com atendente",
                           "quero falar com atendente não"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::suporte}) {
      auto r = run(turn(text, from));
      CHECK_FALSE(r.plan.handoff);
      CHECK(tool(r.answer, Tool::transfer_to_human) == nullptr);
    }
  }
}

TEST_CASE("cancelling a charge or a fine keeps financeiro and confirms no cancellation") {
  auto charge = run(turn("quero cancelar essa cobrança", Assistant::financeiro));
  CHECK(charge.plan.assistant == Assistant::financeiro);
  CHECK_FALSE(contains(charge.answer.text, "50% de desconto"));
  CHECK(contains(charge.answer.text, "cobrança"));
  for (const char* text : {"cancela essa multa", "quero cancelar essa taxa"}) {
    INFO(text);
    auto fine = run(turn(text, Assistant::cancelamento));
    CHECK_FALSE(fine.plan.handoff);
    CHECK(tool(fine.answer, Tool::transfer_to_human) == nullptr);
  }
  // The fine itself is a charge to look into: financeiro's, with no retention offer, also when
  // the bill it came on is named.
  for (const char* text : {"cancela essa multa", "Oi, cancela essa multa da minha fatura"}) {
    for (Assistant from : {Assistant::cancelamento, Assistant::apresentacao}) {
      INFO(text);
      auto fine = run(turn(text, from));
      CHECK(fine.plan.assistant == Assistant::financeiro);
      CHECK(contains(fine.answer.text, "verificar essa multa"));
      CHECK_FALSE(contains(fine.answer.text, "segunda via"));
      CHECK_FALSE(contains(fine.answer.text, "50% de desconto"));
    }
  }
}

TEST_CASE("thanks or goodbye that goes on with the trouble gets the trouble handled") {
  for (const char* text : {"obrigado, mas não resolveu", "valeu, mas continua igual",
                           "a moça falou que ia me ligar e até agora nada"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    CHECK(r.plan.assistant == Assistant::suporte);
    CHECK_FALSE(contains(r.answer.text, "Por nada"));
    CHECK_FALSE(contains(r.answer.text, "Até logo"));
    // The steps again, or, when they were done and it goes on, the ticket they promised.
    CHECK((contains(r.answer.text, "roteador") || contains(r.answer.text, "chamado")));
  }
  auto unhappy = run(turn("obrigado, mas não resolveu"));
  CHECK(contains(unhappy.answer.text, "Sinto muito"));
  CHECK(contains(run(turn("falou!", Assistant::suporte)).answer.text, "Até logo"));
  CHECK(
      contains(run(turn("obrigado, mas não precisa", Assistant::suporte)).answer.text, "Por nada"));
}

TEST_CASE("a plan that delivers less speed than it should goes to support") {
  for (const char* text : {"meu plano é de 300 mega mas só chega 50",
                           "a velocidade não chega nem na metade do plano"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::comercial}) {
      auto r = run(turn(text, from));
      CHECK(r.plan.assistant == Assistant::suporte);
      CHECK(tool(r.answer, Tool::register_lead) == nullptr);
      CHECK(contains(r.answer.text, "teste de velocidade"));
    }
  }
}

TEST_CASE("financeiro answers a payment made as cobranca does") {
  for (const char* text : {"já paguei o boleto", "fiz o pix e continua cortado",
                           "já paguei a fatura e continua bloqueado"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::financeiro}) {
      auto r = run(turn(text, from));
      CHECK(r.plan.assistant == Assistant::financeiro);
      CHECK(contains(r.answer.text, "Se você já pagou"));
      CHECK_FALSE(contains(r.answer.text, "segunda via"));
      CHECK_FALSE(contains(r.answer.text, "chave que aparece"));
      CHECK(tool(r.answer, Tool::register_payment_promise) == nullptr);
    }
  }
  // Not paid yet: the second copy.
  CHECK(contains(run(turn("ainda não paguei o boleto", Assistant::financeiro)).answer.text,
                 "segunda via"));
}

TEST_CASE("cobranca registers the day given in answer to its question") {
  for (const auto& [text, day] :
       std::vector<std::pair<const char*, int>>{{"dia 15", 15},
                                                {"consigo dia 20", 20},
                                                {"vou fazer o pagamento dia 12", 12},
                                                {"faço o pix dia 10", 10}}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cobranca));
    CHECK(r.plan.assistant == Assistant::cobranca);
    const auto* promise = tool(r.answer, Tool::register_payment_promise);
    REQUIRE(promise != nullptr);
    CHECK(promise->ok);
    CHECK(promise->arguments_json == R"({"day":)" + std::to_string(day) + "}");
    CHECK(contains(r.answer.text,
                   "Registrei sua promessa de pagamento para o dia " + std::to_string(day)));
  }
  for (const char* text : {"dia 45", "dia 15?", "não consigo dia 20", "fiz o pix dia 10"}) {
    INFO(text);
    CHECK(tool(run(turn(text, Assistant::cobranca)).answer, Tool::register_payment_promise) ==
          nullptr);
  }
  // financeiro asked nothing: a day alone is no promise (it may be the due day it offers).
  CHECK(tool(run(turn("dia 15", Assistant::financeiro)).answer, Tool::register_payment_promise) ==
        nullptr);
  CHECK(tool(run(turn("vou fazer o pagamento dia 12", Assistant::financeiro)).answer,
             Tool::register_payment_promise) != nullptr);
}

TEST_CASE("closing the account or switching the internet off goes to cancelamento") {
  for (const char* text : {"quero encerrar minha conta", "quero desligar minha internet",
                           "quero tirar a internet", "quero desativar o serviço"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::suporte}) {
      auto r = run(turn(text, from));
      CHECK(r.plan.assistant == Assistant::cancelamento);
      CHECK(contains(r.answer.text, "desconto"));
    }
  }
  for (const char* text : {"já desliguei o modem e liguei de novo", "desliguei o roteador e nada",
                           "vou desligar o roteador da tomada"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    CHECK(r.plan.assistant == Assistant::suporte);
    // No cancellation: at most the technical ticket, for the steps done and nothing changed.
    if (r.plan.handoff) CHECK(r.plan.handoff->department == "support");
  }
}

TEST_CASE("changing, raising or choosing a plan registers a lead") {
  for (const char* text : {"quero mudar para o plano de 1 giga", "quero mudar meu plano",
                           "quero aumentar meu plano", "quero o plano de 1 giga"}) {
    INFO(text);
    for (Assistant from : {Assistant::apresentacao, Assistant::comercial}) {
      auto r = run(turn(text, from));
      CHECK(r.plan.assistant == Assistant::comercial);
      CHECK(tool(r.answer, Tool::register_lead) != nullptr);
      CHECK(contains(r.answer.text, "protocolo LEAD-"));
    }
  }
  // Asked about, or refused: nothing registered.
  for (const char* text : {"como faço para mudar meu plano?", "não quero mudar meu plano"}) {
    INFO(text);
    CHECK(tool(run(turn(text, Assistant::comercial)).answer, Tool::register_lead) == nullptr);
  }
}

TEST_CASE("a subscription ended or paused registers no lead, and ending it is a cancellation") {
  for (const char* text : {"não quero mais a assinatura", "quero encerrar a assinatura",
                           "preciso suspender minha assinatura, vou viajar"}) {
    INFO(text);
    auto r = run(turn(text));
    CHECK(tool(r.answer, Tool::register_lead) == nullptr);
    CHECK_FALSE(contains(r.answer.text, "Registrei seu interesse"));
  }
  CHECK(analyze("não quero mais a assinatura").intent == Intent::cancelamento);
  CHECK(analyze("quero encerrar a assinatura").cancel_request);
}

TEST_CASE("a change to a cheaper plan is registered as one, not as an upgrade") {
  for (const char* text :
       {"quero trocar meu plano por um mais barato", "quero mudar para o plano de 300, tá caro"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::comercial));
    const auto* lead = tool(r.answer, Tool::register_lead);
    REQUIRE(lead != nullptr);
    CHECK(contains(lead->arguments_json, R"("interest":"downgrade")"));
    CHECK(contains(r.answer.text, "mais em conta"));
    CHECK_FALSE(contains(r.answer.text, "upgrade"));
  }
  // A cheaper plan asked about, bought new, or an upgrade despite the price: no change to one.
  for (const char* text : {"acho caro o plano", "quero fazer upgrade mas tá caro",
                           "quero contratar o plano mais barato", "qual o plano mais barato?"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::comercial));
    const auto* lead = tool(r.answer, Tool::register_lead);
    if (lead != nullptr) CHECK_FALSE(contains(lead->arguments_json, "downgrade"));
    CHECK_FALSE(contains(r.answer.text, "mais em conta"));
  }
  const auto reduced = run(turn("quero diminuir meu plano", Assistant::comercial));
  const auto* reduce = tool(reduced.answer, Tool::register_lead);
  CHECK((reduce != nullptr && contains(reduce->arguments_json, R"("interest":"downgrade")")));
  const auto upgrade = run(turn("quero mudar de plano", Assistant::comercial));
  const auto* up = tool(upgrade.answer, Tool::register_lead);
  REQUIRE(up != nullptr);
  CHECK(contains(up->arguments_json, R"("interest":"upgrade")"));
}

TEST_CASE("paying named but not done gets how to pay, not the answer to a payment made") {
  for (const char* text : {"vou pagar amanhã", "não consigo pagar esse mês", "ainda não paguei",
                           "posso pagar dia 15?"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::financeiro));
    CHECK(contains(r.answer.text, "Você pode pagar pelo boleto"));
    CHECK_FALSE(contains(r.answer.text, "Se você já pagou"));
  }
  for (const char* text : {"já paguei a fatura", "o pagamento ainda não compensou",
                           "meu pagamento não foi identificado"}) {
    INFO(text);
    CHECK(contains(run(turn(text, Assistant::financeiro)).answer.text, "Se você já pagou"));
  }
}

TEST_CASE("staying said plainly keeps the service, without a handoff") {
  for (const char* text : {"vou ficar", "tá bom, vou ficar com vocês", "fico sim", "ok vou ficar",
                           "vou ficar com o plano"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cancelamento));
    CHECK(r.plan.analysis.keeps_service);
    CHECK(contains(r.answer.text, "Que bom que você vai continuar"));
    CHECK_FALSE(r.plan.handoff);
  }
  CHECK_FALSE(analyze("vou ficar sem internet amanhã?").keeps_service);
  CHECK_FALSE(analyze("não vou ficar").keeps_service);
  CHECK_FALSE(analyze("Fico?").keeps_service);
}

TEST_CASE("a thank-you for what was done closes, though it names the subject") {
  for (const auto& [text, from] : std::vector<std::pair<const char*, Assistant>>{
           {"obrigado, a internet voltou", Assistant::suporte},
           {"obrigado pelo boleto", Assistant::financeiro},
           {"valeu pela ajuda com a internet", Assistant::suporte}}) {
    INFO(text);
    auto r = run(turn(text, from));
    CHECK(r.plan.analysis.intent == Intent::thanks);
    CHECK(contains(r.answer.text, "Por nada"));
  }
  // Not when the trouble goes on, more is asked, or it asks.
  for (const char* text :
       {"obrigado, mas a internet voltou a cair", "obrigado, manda o boleto",
        "obrigado pelo boleto, e o do mês passado?", "obrigado, quero a segunda via do boleto",
        "obrigado mas não recebi o boleto", "valeu, mas o boleto não chegou",
        "obrigado, a internet não voltou", "obrigado pelo retorno, o técnico não veio",
        "valeu pelo retorno, me manda a segunda via",
        "obrigado pela atenção, segunda via do boleto por favor",
        "Obrigado! A fatura chegou com cobrança indevida",
        "obrigado pelo contato, o modem está piscando"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::financeiro));
    CHECK_FALSE(contains(r.answer.text, "Por nada"));
  }
}

TEST_CASE("cobranca gives the bill or PIX asked for, and hands a dispute, a stop or a deal on") {
  for (const char* text : {"manda o boleto", "me manda a segunda via", "qual a chave pix?"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cobranca));
    CHECK(r.plan.assistant == Assistant::cobranca);
    CHECK_FALSE(contains(r.answer.text, "em que dia consegue pagar"));
    CHECK((contains(r.answer.text, "segunda via") || contains(r.answer.text, "PIX")));
  }
  const std::pair<const char*, const char*> handed[] = {
      {"não reconheço essa dívida", "cliente contesta a dívida"},
      {"eu nunca fui cliente de vcs", "cliente contesta a dívida"},
      {"parem de me mandar mensagem", "cliente pede para não receber mais mensagens de cobrança"},
      {"quero parcelar", "cliente quer negociar ou parcelar a dívida"},
      {"da pra fazer um acordo?", "cliente quer negociar ou parcelar a dívida"}};
  for (const auto& [text, reason] : handed) {
    INFO(text);
    auto r = run(turn(text, Assistant::cobranca));
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->reason == reason);
    CHECK(r.plan.handoff->department == "financial");
    CHECK_FALSE(contains(r.answer.text, "em que dia consegue pagar"));
  }
  // A stop asked for is registered for collections as well as handed on, whatever else hands
  // it on; the rest are not.
  for (const char* text :
       {"parem de me mandar mensagem", "não quero mais receber cobrança",
        "não me mandem mais mensagens", "parem de me mandar mensagem, quero falar com um atendente",
        "não devo nada, parem de me mandar mensagem"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cobranca));
    REQUIRE(r.plan.handoff);
    CHECK(tool(r.answer, Tool::register_opt_out) != nullptr);
    CHECK(contains(r.answer.text, "não recebe mais as nossas mensagens de cobrança"));
  }
  // Another list, channel, hour, a call or a charge: no stop for good.
  for (const char* text :
       {"me tira da lista do serasa", "não quero mais receber boleto em papel, só por email",
        "para de mandar boleto no email, manda aqui no whats", "parem de me ligar",
        "para de mandar mensagem às 7 da manhã, manda depois das 9",
        "parem de me ligar, prefiro resolver por mensagem", "parem de me cobrar juros abusivos"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::cobranca));
    CHECK(tool(r.answer, Tool::register_opt_out) == nullptr);
    CHECK_FALSE(contains(r.answer.text, "não recebe mais as nossas mensagens"));
  }
  // The stop's reply says it once, registered first; another reason's adds it after.
  const auto stop = run(turn("parem de me mandar mensagem", Assistant::cobranca));
  CHECK(contains(stop.answer.text,
                 "Registrei seu pedido: você não recebe mais as nossas "
                 "mensagens de cobrança. Vou passar você para a equipe financeira"));
  CHECK(contains(
      run(turn("não devo nada, parem de me mandar mensagem", Assistant::cobranca)).answer.text,
      "por aqui. E, como você pediu, você não recebe mais as nossas mensagens"));
  // With a promise: no handoff, the promise and the stop both registered.
  const auto both =
      run(turn("não quero mais receber mensagem, dia 10 eu pago", Assistant::cobranca));
  CHECK_FALSE(both.plan.handoff);
  CHECK(tool(both.answer, Tool::register_payment_promise) != nullptr);
  CHECK(tool(both.answer, Tool::register_opt_out) != nullptr);
  CHECK(contains(both.answer.text, "E, como você pediu, você não recebe mais"));
  // A day refused (gone by) holds back no handoff.
  auto gone = turn("parem de me mandar mensagem, pago dia 06/12", Assistant::cobranca);
  gone.today = "2026-12-07";
  const auto gone_answer = run(gone);
  REQUIRE(gone_answer.plan.handoff);
  CHECK(tool(gone_answer.answer, Tool::register_opt_out) != nullptr);
  // Taken to another desk by the same message: the stop is registered all the same.
  const auto moved =
      run(turn("parem de mandar mensagem, quero cancelar o plano", Assistant::cobranca));
  CHECK(tool(moved.answer, Tool::register_opt_out) != nullptr);
  CHECK(contains(moved.answer.text, "E, como você pediu, você não recebe mais"));
  // An @lid chat or a group: collections could not keep it, so it is not promised.
  auto lid = turn("parem de me mandar mensagem", Assistant::cobranca);
  lid.phone_chat = false;
  const auto lid_answer = run(lid);
  CHECK(tool(lid_answer.answer, Tool::register_opt_out) == nullptr);
  CHECK_FALSE(contains(lid_answer.answer.text, "não recebe mais as nossas mensagens"));
  CHECK(tool(run(turn("quero parcelar", Assistant::cobranca)).answer, Tool::register_opt_out) ==
        nullptr);
  // Half now and half on a day: a deal, not a promise of the whole debt for that day, in
  // financeiro too.
  for (Assistant desk : {Assistant::cobranca, Assistant::financeiro}) {
    const auto half = run(turn("posso pagar metade agora e metade dia 20?", desk));
    REQUIRE(half.plan.handoff);
    CHECK(half.plan.handoff->reason == "cliente quer negociar ou parcelar a dívida");
    CHECK(tool(half.answer, Tool::register_payment_promise) == nullptr);
  }
  // "metade" in another sense leaves the promise.
  CHECK(tool(run(turn("metade dessa fatura é juros, vou pagar dia 20", Assistant::cobranca)).answer,
             Tool::register_payment_promise) != nullptr);
  // Not a deal refused: "não quero parcelar" is no request for one.
  CHECK_FALSE(run(turn("não quero parcelar, vou pagar dia 10", Assistant::cobranca)).plan.handoff);
}

TEST_CASE("suporte hands the trouble on once its steps were done, and closes what came back") {
  for (const char* text : {"ja reiniciei e nada", "continua igual", "ainda não voltou"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->department == "support");
    CHECK(contains(r.answer.text, "chamado"));
  }
  // Routed there by this very message, or early on: the region's failures first, by the CEP.
  auto first = run(turn("a internet caiu e ja reiniciei", Assistant::apresentacao));
  CHECK(first.plan.assistant == Assistant::suporte);
  CHECK_FALSE(first.plan.handoff);
  auto early = turn("ja reiniciei e nada", Assistant::suporte);
  early.customer_turn = 1;
  const auto asked = run(early);
  CHECK_FALSE(asked.plan.handoff);
  CHECK(contains(asked.answer.text, "CEP"));
  for (const char* text : {"deu certo", "voltou", "funcionou!!", "a internet voltou a funcionar"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    CHECK_FALSE(r.plan.handoff);
    CHECK(contains(r.answer.text, "Que bom que voltou a funcionar"));
  }
  CHECK_FALSE(contains(run(turn("não funcionou", Assistant::suporte)).answer.text, "Que bom"));
}

TEST_CASE("a red light told in answer to support's question is handed to a technician") {
  for (const char* text : {"ta vermelha", "sim, tá vermelha", "a luzinha do modem ta vermelha",
                           "a luz los ta piscando vermelho"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::suporte));
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->reason == "luz LOS vermelha: visita técnica");
  }
  CHECK_FALSE(run(turn("a luz não tá vermelha", Assistant::suporte)).plan.handoff);
}

TEST_CASE("outages, slang, cables and less speed than contracted go to suporte") {
  for (const char* text : {"tem alguma manutenção na minha regiao?", "quedas constantes",
                           "a net ta lerda", "a velocidade ta abaixo do contratado",
                           "contratei 500 mega e ta chegando 80", "o cabo da fibra arrebentou"}) {
    INFO(text);
    CHECK(analyze(text).intent == Intent::suporte);
  }
  // A CEP given alone, as the answer to "qual é o seu CEP?", is looked up.
  FakeOutages outages;
  const auto r = run(turn("04567000", Assistant::suporte), &outages);
  CHECK(tool(r.answer, Tool::lookup_outage) != nullptr);
}

TEST_CASE("a wrong bill is contested, not answered with a second copy") {
  for (const char* text : {"a fatura veio com o valor errado", "minha fatura veio em dobro",
                           "fui cobrado a mais na fatura"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::financeiro));
    CHECK(contains(r.answer.text, "contestar"));
    CHECK_FALSE(contains(r.answer.text, "segunda via"));
  }
  CHECK(contains(run(turn("preciso da segunda via da fatura", Assistant::financeiro)).answer.text,
                 "segunda via"));
}

TEST_CASE("a first message that complains gets sympathy, and fury alone is handed off") {
  auto r = run(turn("o atendimento de vcs é pessimo", Assistant::apresentacao, true));
  CHECK(contains(r.answer.text, "Sinto muito"));
  for (const char* text :
       {"absurdo, horrivel, pessimo", "estou furioso com vcs, servico pessimo, ridiculo"}) {
    INFO(text);
    auto angry = run(turn(text, Assistant::suporte));
    REQUIRE(angry.plan.handoff);
    CHECK(angry.plan.handoff->urgency != Urgency::normal);
    // The summary the agent reads says the handoff's urgency.
    CHECK(contains(angry.plan.handoff->summary,
                   "urgência: " + std::string(to_string(angry.plan.handoff->urgency))));
  }
  CHECK(analyze("to de saco cheio").sentiment.label == Sentiment::negative);
  CHECK(analyze("o atendente foi grosso comigo").intent == Intent::ouvidoria);
}

TEST_CASE("a change of desk names the winning desk's subject") {
  // Ouvidoria's "absurdo" is read first, but suporte wins: its subject is the reason's.
  auto r = run(turn("absurdo, a internet caiu", Assistant::apresentacao));
  REQUIRE(r.plan.assistant == Assistant::suporte);
  CHECK(r.plan.change_reason == "intenção suporte_tecnico (sem_conexao)");
}

TEST_CASE("ouvidoria asks what happened before registering, and registers the detail told") {
  // The menu word alone: nothing to register yet.
  auto asked = run(turn("reclamação"));
  CHECK(asked.plan.assistant == Assistant::ouvidoria);
  CHECK(tool(asked.answer, Tool::register_complaint) == nullptr);
  CHECK(contains(asked.answer.text, "Me conte o que aconteceu"));
  // What happened, told next in ouvidoria: registered with it as the description.
  auto told = run(turn("caiu 3 vezes essa semana", Assistant::ouvidoria));
  const auto* complaint = tool(told.answer, Tool::register_complaint);
  REQUIRE(complaint != nullptr);
  CHECK(contains(complaint->arguments_json, "caiu 3 vezes essa semana"));
  CHECK(contains(told.answer.text, "protocolo"));
  // Thanks in ouvidoria registers nothing, nor does a CPF or a number alone: no story yet.
  CHECK(tool(run(turn("obrigado", Assistant::ouvidoria)).answer, Tool::register_complaint) ==
        nullptr);
  for (const char* text : {"meu cpf é 529.982.247-25", "52998224725", "protocolo 20261207"}) {
    INFO(text);
    const auto r = run(turn(text, Assistant::ouvidoria));
    CHECK(tool(r.answer, Tool::register_complaint) == nullptr);
    CHECK(contains(r.answer.text, "me contar o que aconteceu"));
  }
}

TEST_CASE("cobranca takes a day proposed or said its own way as the promise") {
  for (const auto& [text, day] :
       std::vector<std::pair<const char*, int>>{{"posso pagar dia 15?", 15},
                                                {"pode ser dia 30?", 30},
                                                {"pago no dia 15, ok?", 15},
                                                {"acho que consigo dia 20", 20},
                                                {"dia 15 sem falta", 15},
                                                {"no dia 5 do mes que vem", 5}}) {
    INFO(text);
    auto t = turn(text, Assistant::cobranca);
    t.today = "2026-12-07";  // "do mês que vem" needs it
    auto r = run(t);
    const auto& a = r.plan.analysis;
    REQUIRE((a.payment_day || a.payment_relative));
    CHECK((a.payment_day ? *a.payment_day : a.payment_relative->day) == day);
    CHECK(tool(r.answer, Tool::register_payment_promise) != nullptr);
  }
  // Outside cobranca, asking is asking: no promise.
  CHECK_FALSE(analyze("posso pagar dia 15?").payment_day);
  // Its opening comes once: a later "ok" is not greeted again.
  for (int n = 1; n <= 4; ++n) {
    auto later = turn("ok", Assistant::cobranca);
    later.customer_turn = n;
    CHECK_FALSE(contains(run(later).answer.text, "Olá"));
  }
}

TEST_CASE("a file sent to financeiro or cobranca is handed to a person to check") {
  for (Assistant desk : {Assistant::financeiro, Assistant::cobranca}) {
    auto t = turn("", desk);
    t.kind = "image";
    auto r = run(t);
    REQUIRE(r.plan.handoff);
    CHECK(r.plan.handoff->department == "financial");
    CHECK(contains(r.answer.text, "Recebi seu arquivo"));
  }
  auto t = turn("", Assistant::suporte);
  t.kind = "image";
  CHECK_FALSE(run(t).plan.handoff);
}

TEST_CASE("news that it works again is no trouble going on, and only that news closes") {
  for (const char* text :
       {"ja reiniciei e voltou", "ja reiniciei e funcionou", "ja fiz isso e deu certo, obrigado",
        "ainda não testei", "as luzes estao todas verdes igual sempre", "igual no cabo e no wifi",
        "ta tudo verde, nenhuma ta vermelha"}) {
    INFO(text);
    CHECK_FALSE(run(turn(text, Assistant::suporte)).plan.handoff);
  }
  for (const char* text :
       {"no cabo ta funcionando, no wifi não", "deu certo, mas o wifi não pega no quarto",
        "ninguem resolveu", "quero isso resolvido", "o tecnico voltou"}) {
    INFO(text);
    CHECK_FALSE(contains(run(turn(text, Assistant::suporte)).answer.text, "Que bom que voltou"));
  }
  for (const auto& [text, desk] : std::vector<std::pair<const char*, Assistant>>{
           {"obrigada, já recebi o boleto", Assistant::financeiro},
           {"chegou o boleto, obrigada", Assistant::financeiro},
           {"recebi a fatura, valeu", Assistant::financeiro},
           {"consegui conectar, obrigado", Assistant::suporte}}) {
    INFO(text);
    CHECK(contains(run(turn(text, desk)).answer.text, "Por nada"));
  }
}

TEST_CASE("the new desk words keep to their desk") {
  CHECK(analyze("quero contratar internet, precisa passar cabo?").intent == Intent::comercial);
  CHECK(analyze("quanto ta a net de 300 mega?").intent == Intent::comercial);
  CHECK(analyze("quero reclamar do tecnico que cortou o fio do telefone").intent ==
        Intent::ouvidoria);
  CHECK(analyze("tem taxa de manutenção?").intent != Intent::suporte);
  // Financeiro: the automatic debit, and a boleto asked for a charge, are no contest.
  for (const char* text :
       {"quero colocar a fatura no débito automático", "me manda o boleto dessa cobrança"}) {
    INFO(text);
    CHECK_FALSE(contains(run(turn(text, Assistant::financeiro)).answer.text, "contestar"));
  }
  CHECK_FALSE(
      contains(run(turn("recebi uma cobrança não identificada", Assistant::financeiro)).answer.text,
               "Se você já pagou"));
  // "não compensa" is not worth it, in a cancellation's reason: not a payment.
  CHECK(run(turn("não compensa mais pagar por essa internet", Assistant::cancelamento))
            .plan.assistant == Assistant::cancelamento);
  // A change to a cheaper plan said with "um plano".
  const auto cheaper = run(turn("quero mudar para um plano mais barato", Assistant::comercial));
  const auto* lead = tool(cheaper.answer, Tool::register_lead);
  CHECK((lead != nullptr && contains(lead->arguments_json, "downgrade")));
  // Eight digits alone are a CEP only where one may have been asked.
  CHECK_FALSE(run(turn("12345678", Assistant::financeiro)).plan.analysis.cep);
  CHECK(run(turn("12345678", Assistant::suporte)).plan.analysis.cep);
  // A cancellation over a connection told: the reason names the cancellation.
  const auto cancel = run(turn("sem internet há 3 dias, quero cancelar", Assistant::apresentacao));
  CHECK(cancel.plan.change_reason == "intenção cancelamento (cancelamento)");
}

TEST_CASE("cobranca keeps a promise said with 'de acordo', over lines, or after 'não devo'") {
  auto agreed = run(turn("de acordo, pago dia 15", Assistant::cobranca));
  CHECK_FALSE(agreed.plan.handoff);
  CHECK(agreed.plan.analysis.payment_day == 15);
  CHECK(run(turn("Não consigo pagar agora\nSó dia 20", Assistant::cobranca))
            .plan.analysis.payment_day == 20);
  CHECK_FALSE(run(turn("não devo conseguir pagar esse mês", Assistant::cobranca)).plan.handoff);
  CHECK_FALSE(run(turn("estou de acordo", Assistant::cobranca)).plan.handoff);
}

TEST_CASE("ouvidoria's ask, answered with an acknowledgement, registers nothing and says so") {
  auto ok = run(turn("ok", Assistant::ouvidoria));
  CHECK(tool(ok.answer, Tool::register_complaint) == nullptr);
  CHECK_FALSE(contains(ok.answer.text, "Anotei"));
  // A problem told with two strong words is no fury by itself.
  CHECK_FALSE(run(turn("internet horrivel, sem sinal desde ontem, pessimo", Assistant::suporte))
                  .plan.handoff);
}

TEST_CASE("a complaint asked for, or a wrong charge told to ouvidoria, is registered there") {
  for (const char* text : {"quero fazer uma reclamação, a fatura veio em dobro",
                           "quero reclamar que fui cobrado a mais"}) {
    INFO(text);
    auto r = run(turn(text));
    CHECK(r.plan.assistant == Assistant::ouvidoria);
    CHECK(tool(r.answer, Tool::register_complaint) != nullptr);
  }
  for (const char* text :
       {"fui cobrado em dobro e ninguém resolve", "me cobraram uma taxa indevida"}) {
    INFO(text);
    auto r = run(turn(text, Assistant::ouvidoria));
    CHECK(r.plan.assistant == Assistant::ouvidoria);
    CHECK(tool(r.answer, Tool::register_complaint) != nullptr);
  }
  // A request of another desk's is passed on.
  CHECK(run(turn("quero a segunda via do boleto", Assistant::ouvidoria)).plan.assistant ==
        Assistant::financeiro);
  CHECK(analyze("estou insatisfeito com a internet").intent == Intent::suporte);
}

TEST_CASE("a thank-you with a goodbye or the next step closes, and the restart under way waits") {
  for (const auto& [text, desk] : std::vector<std::pair<const char*, Assistant>>{
           {"obrigada pela segunda via, vou pagar", Assistant::financeiro},
           {"obrigado pela fatura, tenha um bom dia", Assistant::financeiro},
           {"obrigado, a internet voltou, tenha uma boa noite", Assistant::suporte}}) {
    INFO(text);
    CHECK(contains(run(turn(text, desk)).answer.text, "Por nada"));
  }
  for (const char* text :
       {"já desliguei da tomada, vou aguardar", "já reiniciei, quanto tempo espero?"}) {
    INFO(text);
    CHECK_FALSE(run(turn(text, Assistant::suporte)).plan.handoff);
  }
  CHECK_FALSE(run(turn("a luz de energia tá vermelha", Assistant::suporte)).plan.handoff);
  // Cobrança: paying the bill told, not asked for, gets the day asked.
  for (const char* text : {"vou pagar o boleto sexta", "não consigo pagar a fatura esse mês"}) {
    INFO(text);
    CHECK(contains(run(turn(text, Assistant::cobranca)).answer.text, "em que dia consegue pagar"));
  }
}

TEST_CASE("a payment promised for a day named from today is registered with its date") {
  // 2026-12-07 is a Monday.
  const auto promised = [](const char* text, Assistant desk = Assistant::cobranca) {
    auto t = turn(text, desk);
    t.today = "2026-12-07";
    return run(t);
  };
  for (const auto& [text, date] : std::vector<std::pair<const char*, const char*>>{
           {"vou pagar amanhã", "2026-12-08"},
           {"pago sexta", "2026-12-11"},
           {"pago na sexta feira", "2026-12-11"},
           {"vou pagar hoje", "2026-12-07"},
           {"depois de amanhã eu pago", "2026-12-09"},
           {"amanhã", "2026-12-08"},           // the answer to "em que dia consegue pagar?"
           {"pago segunda", "2026-12-14"}}) {  // a Monday said on a Monday: next week's
    INFO(text);
    auto r = promised(text);
    const auto* call = tool(r.answer, Tool::register_payment_promise);
    REQUIRE(call != nullptr);
    CHECK(contains(call->arguments_json, std::string(R"("date":")") + date + "\""));
    CHECK(contains(r.answer.text, "Registrei sua promessa de pagamento para "));
  }
  CHECK(contains(promised("vou pagar amanhã").answer.text, "amanhã, 08/12"));
  CHECK(contains(promised("pago sexta").answer.text, "sexta-feira, 11/12"));
  // An ordinal before the day of the month: the day it names.
  CHECK(promised("vou pagar a segunda parcela dia 10").plan.analysis.payment_day == 10);
  // Said with thanks, the promise is registered, not only thanked for.
  CHECK(tool(promised("obrigado pelo boleto, vou pagar amanhã", Assistant::financeiro).answer,
             Tool::register_payment_promise) != nullptr);
  // Not a day: "a segunda via", "a fatura de hoje"; not without today known.
  for (const char* text :
       {"vou pagar a segunda via", "quero pagar a fatura de hoje", "vou pagar a segunda parcela"}) {
    INFO(text);
    CHECK(tool(promised(text).answer, Tool::register_payment_promise) == nullptr);
  }
  CHECK(tool(run(turn("vou pagar amanhã", Assistant::cobranca)).answer,
             Tool::register_payment_promise) == nullptr);
  // Financeiro registers it too; a refusal or a question does not.
  CHECK(tool(promised("vou pagar amanhã", Assistant::financeiro).answer,
             Tool::register_payment_promise) != nullptr);
  CHECK(tool(promised("não vou conseguir pagar amanhã").answer, Tool::register_payment_promise) ==
        nullptr);
}

TEST_CASE("a payment promised for a day with its month is registered with its date") {
  const auto promised = [](const char* text, const char* today = "2026-12-07") {
    auto t = turn(text, Assistant::cobranca);
    t.today = today;
    return run(t);
  };
  for (const auto& [text, date, label] :
       std::vector<std::tuple<const char*, const char*, const char*>>{
           {"vou pagar dia 15/12", "2026-12-15", "o dia 15/12."},
           {"vou pagar dia 10/03", "2027-03-10", "o dia 10/03/2027."},  // March gone by this year
           {"pago dia 5 do mês que vem", "2027-01-05", "o dia 05/01/2027."},
           {"vou pagar dia 10 de janeiro", "2027-01-10", "o dia 10/01/2027."},
           {"vou pagar a fatura 10/11 amanhã", "2026-12-08", "amanhã, 08/12."},
           {"20/12", "2026-12-20", "o dia 20/12."},  // the answer to "em que dia consegue pagar?"
           {"pago dia 31 do mês que vem", "2027-01-31", "o dia 31/01/2027."}}) {
    INFO(text);
    auto r = promised(text);
    const auto* call = tool(r.answer, Tool::register_payment_promise);
    REQUIRE(call != nullptr);
    CHECK(contains(call->arguments_json, std::string(R"("date":")") + date + "\""));
    CHECK(
        contains(r.answer.text, std::string("Registrei sua promessa de pagamento para ") + label));
  }
  // A day past the next month's end is its last; without today known, the day alone.
  const auto feb = promised("pago dia 31 do mês que vem", "2027-01-20");
  REQUIRE(tool(feb.answer, Tool::register_payment_promise) != nullptr);
  CHECK(contains(tool(feb.answer, Tool::register_payment_promise)->arguments_json, "2027-02-28"));
  CHECK(tool(run(turn("vou pagar dia 10/03", Assistant::cobranca)).answer,
             Tool::register_payment_promise) == nullptr);
  // A day gone by, or past six months (a bill's date, most likely), is no promise; a date
  // near the verb without "dia" is the bill's or the instalment's.
  for (const char* text : {"vou pagar dia 06/12", "vou pagar dia 10/11", "vou pagar dia 10/06",
                           "quero pagar a fatura de 10/11", "vou pagar a parcela 3/12 agora",
                           "vou pagar o boleto 10/11"}) {
    INFO(text);
    CHECK(tool(promised(text).answer, Tool::register_payment_promise) == nullptr);
  }
  const auto instalment = promised("vou pagar a parcela 3/12 dia 15");
  REQUIRE(tool(instalment.answer, Tool::register_payment_promise) != nullptr);
  CHECK(tool(instalment.answer, Tool::register_payment_promise)->arguments_json == R"({"day":15})");
}

TEST_CASE(
    "a debtor's answer to a campaign's message goes to cobranca, unless it names another "
    "desk's subject") {
  const auto answered = [](const char* text, bool campaign = true) {
    auto t = turn(text, Assistant::apresentacao, /*first=*/true);
    t.campaign = campaign;
    return run(t);
  };
  const auto who = answered("quem é?");
  CHECK(who.plan.assistant == Assistant::cobranca);
  CHECK(who.plan.change_reason == "resposta a uma campanha de cobrança");
  // LIA's greeting, then the debt: "Olá" once.
  CHECK(contains(who.answer.text, "Sou a LIA"));
  CHECK(contains(who.answer.text, "Identificamos uma fatura em aberto"));
  CHECK(who.answer.text.find("Olá", 1) == std::string::npos);
  const auto stop = answered("parem de me mandar mensagem");
  CHECK(stop.plan.assistant == Assistant::cobranca);
  REQUIRE(stop.plan.handoff);
  CHECK(tool(stop.answer, Tool::register_opt_out) != nullptr);
  CHECK(answered("segunda via do boleto").plan.assistant == Assistant::cobranca);
  CHECK(answered("minha internet caiu").plan.assistant == Assistant::suporte);
  CHECK(answered("quem é?", false).plan.assistant == Assistant::apresentacao);
}
