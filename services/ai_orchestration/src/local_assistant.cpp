#include "local_assistant.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include <lia/core/clock.hpp>
#include <lia/core/text.hpp>
#include <lia/domain/text.hpp>
#include <lia/json/json.hpp>

namespace lia::ai_orchestration {
namespace {

bool has_topic(const Analysis& a, std::string_view topic) {
  return std::find(a.topics.begin(), a.topics.end(), topic) != a.topics.end();
}

// A suggestion to an agent registers nothing: the agent decides what to send and do.
bool suggestion(const Turn& t) {
  return !t.may_handoff;
}

// ", Maria" or "".
std::string comma_name(const Turn& t) {
  return t.customer_name ? ", " + *t.customer_name : "";
}

// The handoff reasons for what only a person can do (the assistant has no tool for it): the
// retention offer taken, a cancellation confirmed, a CPF/CNPJ sent for the desk to act on, a
// red LOS light (a technician's visit).
constexpr std::string_view kOfferAccepted = "cliente aceitou a oferta de retenção";
constexpr std::string_view kCancelConfirmed = "cliente confirmou o cancelamento";
constexpr std::string_view kDocumentSent = "cliente enviou o CPF/CNPJ do titular";
constexpr std::string_view kRedLight = "luz LOS vermelha: visita técnica";
// Support's steps done and the trouble still there: the ticket its texts promise.
constexpr std::string_view kPersists = "problema continua após as orientações: chamado técnico";
// In a collection, what the assistant may not go on pressing: a debt disputed, no more
// messages wanted, a deal asked for.
constexpr std::string_view kDebtContested = "cliente contesta a dívida";
constexpr std::string_view kStopContact =
    "cliente pede para não receber mais mensagens de cobrança";
constexpr std::string_view kNegotiation = "cliente quer negociar ou parcelar a dívida";
// A file (the receipt the texts ask for, most often) sent to financeiro or cobranca.
constexpr std::string_view kFileSent = "cliente enviou um arquivo (comprovante?)";

// The sentiment score at or below which a pressing message reads as angry: two plain
// complaints ("absurdo", "sem internet"), not one.
constexpr double kAngrySentiment = -0.5;
// At or below it, angry whatever the urgency: "absurdo, horrível, péssimo", "estou furioso
// com vocês, serviço péssimo, ridículo".
constexpr double kFuriousSentiment = -0.75;
// Negative messages in a row before this one that make a pressing one angry whatever its
// score: the fourth "a internet caiu" is no longer an ordinary report.
constexpr int kAngryStreak = 3;

// A red LOS light reported, not denied ("não tem nenhuma luz vermelha").
bool red_light(const Analysis& a) {
  if (!has_topic(a, "luz_vermelha")) return false;
  for (std::string_view denied :
       {"nenhuma luz", "sem luz vermelha", "nao tem luz vermelha", "nao esta vermelh",
        "nao ta vermelh", "nao ficou vermelh", "nenhuma ta vermelh", "nenhuma esta vermelh",
        "nenhuma ficou vermelh", "nenhum ta vermelh",
        // the power light, not LOS
        "luz de energia", "luz da energia", "power"}) {
    if (a.folded.find(denied) != std::string::npos) return false;
  }
  return true;
}

std::string greeting(const Turn& t) {
  return "Olá" + comma_name(t) + "! Sou a LIA, assistente virtual. ";
}

const std::string& pick(const std::vector<std::string>& options, int turn) {
  return options[static_cast<std::size_t>(std::max(turn, 0)) % options.size()];
}

// Reads a field of a tool's JSON result (the tools wrote it, so it is well formed).
struct ResultView {
  json::Document doc;
  bool ok = false;
  explicit ResultView(const ToolInvocation& inv) {
    if (!inv.ok) return;
    auto d = json::parse(inv.result_json);
    if (!d || !d->IsObject()) return;
    doc = std::move(*d);
    ok = true;
  }
  std::string str(const char* key) const {
    if (!ok || !doc.HasMember(key) || !doc[key].IsString()) return {};
    return std::string(json::view(doc[key]));
  }
  bool flag(const char* key) const {
    return ok && doc.HasMember(key) && doc[key].IsBool() && doc[key].GetBool();
  }
  std::int64_t num(const char* key) const {
    return ok && doc.HasMember(key) && doc[key].IsInt64() ? doc[key].GetInt64() : 0;
  }
};

ToolInvocation call(ToolRunner& tools, std::vector<ToolInvocation>& ran, Tool tool,
                    const std::string& args) {
  const std::string call_id = "local_" + std::to_string(ran.size() + 1);
  ran.push_back(tools.run(to_string(tool), args, call_id));
  return ran.back();
}

std::string cep_args(const std::string& cep) {
  json::Writer w;
  w.begin_object().field("cep", cep).end_object();
  return w.take();
}

// "2026-11-22T18:00:00-03:00" -> "22/11 às 18:00"; other text as it is.
std::string readable_eta(const std::string& eta) {
  if (eta.size() >= 16 && eta[4] == '-' && eta[7] == '-' && eta[10] == 'T') {
    return eta.substr(8, 2) + "/" + eta.substr(5, 2) + " às " + eta.substr(11, 5);
  }
  return eta;
}

// ---- per assistant ------------------------------------------------------------------------

std::string suporte_text(const Turn& t, const Plan& p, ToolRunner& tools,
                         std::vector<ToolInvocation>& ran) {
  const Analysis& a = p.analysis;
  // "deu certo", "voltou": done, not another step.
  if (a.resolved && !a.question && !a.cep) {
    return "Que bom que voltou a funcionar" + comma_name(t) +
           "! Se precisar de mais alguma coisa, é só chamar.";
  }
  if (a.cep) {
    call(tools, ran, Tool::check_coverage, cep_args(*a.cep));
    const ResultView coverage(ran.back());
    const ResultView outage(call(tools, ran, Tool::lookup_outage, cep_args(*a.cep)));
    if (outage.flag("outage")) {
      std::string text = "Identifiquei uma falha na rede da sua região (" + outage.str("region") +
                         "): " + outage.str("description") +
                         ". Nossa equipe técnica já está trabalhando";
      const auto eta = outage.str("eta");
      if (!eta.empty()) text += " e a previsão de normalização é " + readable_eta(eta);
      return text +
             ". Assim que a rede normalizar, sua conexão volta sozinha; se não voltar, desligue o "
             "roteador da tomada por 30 segundos e ligue de novo.";
    }
    if (!outage.ok) {
      return "Não consegui consultar falhas na região agora. Enquanto isso, desligue o roteador da "
             "tomada por 30 segundos e ligue de novo; se a luz LOS ficar vermelha, me avise que eu "
             "abro um chamado técnico.";
    }
    if (coverage.ok && !coverage.flag("covered")) {
      return "O CEP " + format_cep(*a.cep) +
             " não aparece na nossa área de cobertura. Pode confirmar se está correto? Se "
             "estiver, me descreva o problema que eu abro um chamado técnico.";
    }
    return "Não há falha registrada na região do CEP " + format_cep(*a.cep) +
           ". Vamos testar seu equipamento: desligue o roteador (e a ONU, se houver) da tomada por "
           "30 segundos e ligue de novo. Aguarde 2 minutos e me diga se voltou. Se a luz LOS "
           "estiver vermelha, me avise que eu abro um chamado técnico.";
  }
  // The first steps done and nothing changed, early on: the region's failures first (the
  // ticket comes after, see plan_turn).
  if (a.persists) {
    return "Entendo" + comma_name(t) +
           ". Se você já reiniciou o roteador e continua sem conexão, me informe o seu CEP para "
           "eu verificar falhas na região; se não houver, eu abro um chamado para visita "
           "técnica.";
  }
  if (has_topic(a, "sem_conexao")) {
    return pick({"Sinto muito pelo transtorno" + comma_name(t) +
                     "! Vamos resolver juntos: desligue o roteador da tomada por 30 segundos e "
                     "ligue de novo. Se a luz LOS ou PON ficar vermelha ou piscando, me avise. "
                     "Para eu verificar se há falha na sua região, qual é o seu CEP?",
                 "Entendo" + comma_name(t) +
                     ". Se você já reiniciou o roteador e continua sem conexão, me informe o seu "
                     "CEP para eu verificar falhas na região; se não houver, eu abro um chamado "
                     "para visita técnica."},
                t.customer_turn);
  }
  if (has_topic(a, "lentidao") || has_topic(a, "instabilidade")) {
    return "Entendo, lentidão atrapalha muito" + comma_name(t) +
           ". Faça um teste de velocidade (fast.com ou speedtest.net), de preferência com o cabo "
           "de rede ligado direto no roteador, e me envie o resultado. No Wi-Fi, fique perto do "
           "roteador e prefira a rede 5G. Se a velocidade estiver bem abaixo do seu plano, eu "
           "abro um chamado técnico.";
  }
  if (has_topic(a, "wifi")) {
    return "Algumas dicas para melhorar o Wi-Fi: deixe o roteador em local alto e central, longe "
           "de micro-ondas e espelhos, e use a rede 5G quando estiver perto dele. Se quiser "
           "trocar a senha ou o nome da rede, posso te orientar passo a passo.";
  }
  if (has_topic(a, "equipamento") || has_topic(a, "sem_sinal")) {
    return "Vamos verificar o equipamento: confira se os cabos estão bem encaixados e se a fonte "
           "está ligada na tomada. Depois desligue o roteador por 30 segundos e ligue de novo. Se "
           "alguma luz ficar vermelha (LOS), me avise que eu abro um chamado técnico.";
  }
  if (has_topic(a, "visita_tecnica")) {
    return "Posso agendar uma visita técnica" + comma_name(t) +
           ". Me informe o seu CEP e o melhor período para a visita (manhã ou tarde).";
  }
  return pick({"Estou aqui para ajudar com o problema técnico. Me conte o que está acontecendo "
               "(sem conexão, lentidão ou Wi-Fi) e, se puder, informe o seu CEP para eu verificar "
               "falhas na região.",
               "Certo! Para continuar o diagnóstico, me diga se as luzes do roteador estão acesas "
               "e se o problema acontece no cabo e no Wi-Fi ou só no Wi-Fi."},
              t.customer_turn);
}

constexpr const char* kPlans =
    "300 Mega por R$ 99,90/mês, 500 Mega por R$ 119,90/mês e 1 Giga por R$ 169,90/mês";

std::string comercial_text(const Turn& t, const Plan& p, ToolRunner& tools,
                           std::vector<ToolInvocation>& ran) {
  const Analysis& a = p.analysis;
  // A change of plan to a cheaper one ("trocar meu plano por um mais barato", "diminuir o
  // plano") is no upgrade; a cheaper plan asked about, or an upgrade despite the price ("quero
  // fazer upgrade mas tá caro"), is no change to one.
  const bool downgrade = has_topic(a, "upgrade") && has_topic(a, "downgrade") &&
                         !domain::contains_word(a.folded, "upgrade");
  const bool upgrade = has_topic(a, "upgrade") && !downgrade;
  const bool about_buying = has_topic(a, "contratacao") || upgrade || downgrade;
  // A question about it ("Qual o processo para mudar de plano?") is answered, and registers
  // nothing: the customer has not asked for the change yet.
  const bool wants_to_buy = about_buying && !a.question;
  std::string protocol;
  bool registered_before = false;
  if (wants_to_buy && !suggestion(t)) {
    json::Writer w;
    w.begin_object().field("interest", downgrade ? "downgrade"
                                       : upgrade ? "upgrade"
                                                 : "contratacao");
    if (a.cep) w.field("cep", *a.cep);
    if (t.customer_name) w.field("name", *t.customer_name);
    w.end_object();
    const ResultView lead(call(tools, ran, Tool::register_lead, w.take()));
    protocol = lead.str("protocol");
    registered_before = lead.flag("already_registered");
  }
  std::string text;
  if (a.cep) {
    const ResultView coverage(call(tools, ran, Tool::check_coverage, cep_args(*a.cep)));
    if (coverage.flag("covered")) {
      text = "Boa notícia" + comma_name(t) + ": temos cobertura de fibra no CEP " +
             format_cep(*a.cep) + " (" + coverage.str("city") + "), com planos de até " +
             std::to_string(coverage.num("max_mbps")) + " Mega. ";
    } else if (coverage.ok) {
      text = "Ainda não temos cobertura no CEP " + format_cep(*a.cep) +
             ", mas estamos expandindo a rede. Posso registrar seu interesse para avisarmos "
             "assim que chegarmos à sua região. ";
    }
  }
  constexpr const char* kCheaper =
      "o plano de 300 Mega sai por R$ 99,90/mês, sem taxa de mudança, e a equipe comercial "
      "confirma a troca em até 24 horas";
  if (about_buying && a.question) {
    if (downgrade) {
      return text + "Mudar para um plano mais em conta é simples: " + kCheaper +
             ". Se quiser, é só dizer \"quero mudar de plano\" que eu registro o pedido.";
    }
    if (upgrade) {
      return text +
             "Mudar de plano é simples: você pode migrar para 500 Mega por R$ 119,90/mês ou 1 "
             "Giga por R$ 169,90/mês, sem taxa de mudança, e a equipe comercial confirma a troca "
             "em até 24 horas. Se quiser, é só dizer \"quero mudar de plano\" que eu registro o "
             "pedido.";
    }
    return text + "Para contratar, basta escolher o plano e informar o CEP de instalação. Nossos " +
           "planos: " + kPlans + ". Se quiser, é só dizer \"quero contratar\" que eu registro " +
           "seu interesse.";
  }
  if (wants_to_buy && suggestion(t)) {
    if (downgrade) {
      return text + "Posso registrar seu pedido de mudança para um plano mais em conta? " +
             kCheaper + ".";
    }
    if (upgrade) {
      return text +
             "Ótima escolha! Você pode migrar para 500 Mega por R$ 119,90/mês ou 1 Giga por "
             "R$ 169,90/mês, sem taxa de mudança. Posso registrar seu pedido de upgrade para a "
             "equipe comercial confirmar a troca?";
    }
    return text + "Que bom que você quer ser nosso cliente! Nossos planos: " + kPlans +
           ". Qual deles você prefere? Posso registrar seu interesse para a equipe comercial "
           "entrar em contato.";
  }
  if (!protocol.empty() && registered_before) {
    return text + "Seu interesse já está registrado" + comma_name(t) + " (protocolo " + protocol +
           ") e a equipe comercial vai entrar em contato. Nossos planos: " + kPlans +
           ". Se quiser, me diga qual prefere que eu acrescento ao pedido.";
  }
  if (!protocol.empty()) {
    if (downgrade) {
      return text + "Registrei seu pedido de mudança para um plano mais em conta (protocolo " +
             protocol + "): " + kCheaper + ".";
    }
    if (upgrade) {
      return text +
             "Ótima escolha! Você pode migrar para 500 Mega por R$ 119,90/mês ou 1 Giga por "
             "R$ 169,90/mês, sem taxa de mudança. Registrei seu pedido de upgrade (protocolo " +
             protocol + ") e a equipe comercial confirma a troca em até 24 horas.";
    }
    return text + "Que bom que você quer ser nosso cliente! Registrei seu interesse (protocolo " +
           protocol + "). Nossos planos: " + kPlans + ". Qual deles você prefere?" +
           (a.cep ? "" : " Me informe também o CEP de instalação.");
  }
  if (!text.empty()) return text + "Nossos planos: " + kPlans + ". Qual deles te interessa?";
  if (has_topic(a, "instalacao")) {
    return "A instalação é gratuita e costuma ser feita em até 3 dias úteis após a confirmação. "
           "Me informe o seu CEP para eu confirmar a cobertura no endereço.";
  }
  return "Nossos planos de internet fibra" + comma_name(t) + ": " + kPlans +
         ", todos com Wi-Fi incluso e instalação grátis. Qual deles te interessa? Se me "
         "informar o CEP, eu confirmo a cobertura no seu endereço.";
}

// A payment promise: the day as the text names it, and the tool's arguments.
struct Promise {
  std::string label;  // "o dia 15", "amanhã, 08/12"
  std::string args;
};

// How far ahead a day with its month may be promised (about six months).
constexpr int kPromiseDays = 184;

// The promise the message makes; none for a day named from today ("sexta"), or with its month,
// when the customer's today is not known.
std::optional<Promise> promise_of(const Turn& t, const Analysis& a) {
  json::Writer w;
  if (a.payment_day) {
    w.begin_object().field("day", *a.payment_day).end_object();
    return Promise{"o dia " + std::to_string(*a.payment_day), w.take()};
  }
  if (!a.payment_relative) return std::nullopt;
  const PaymentWhen& when = *a.payment_relative;
  const auto today = core::parse_date(t.today);
  const auto two = [](unsigned n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  if (when.day > 0) {
    using namespace std::chrono;
    if (!today) return std::nullopt;  // the month named needs the year
    // The month named ("dia 10/01" in December: next January's), or the next one; a day past
    // the month's end is its last. Not a promise past six months from today: "dia 06/12" said
    // on the 7th, or "dia 10/11" in December, is a bill's day gone by, not one a year away.
    const auto on = [&](year_month ym) {
      const unsigned last_day = static_cast<unsigned>((ym / std::chrono::last).day());
      return ym / std::chrono::day{std::min(static_cast<unsigned>(when.day), last_day)};
    };
    const year_month this_month = today->year() / today->month();
    year_month_day date =
        when.next_month ? on(this_month + months{1})
                        : on(year{when.year > 0 ? when.year : static_cast<int>(today->year())} /
                             month{static_cast<unsigned>(when.month)});
    if (when.month > 0 && when.year == 0 && sys_days{date} < sys_days{*today}) {
      date = on((today->year() + years{1}) / month{static_cast<unsigned>(when.month)});
    }
    if (sys_days{date} < sys_days{*today} ||
        sys_days{date} > sys_days{*today} + days{kPromiseDays}) {
      return std::nullopt;
    }
    std::string label = "o dia " + two(static_cast<unsigned>(date.day())) + "/" +
                        two(static_cast<unsigned>(date.month()));
    if (date.year() != today->year()) label += "/" + std::to_string(static_cast<int>(date.year()));
    w.begin_object().field("date", core::format_date(date)).end_object();
    return Promise{label, w.take()};
  }
  if (!today) return std::nullopt;
  const std::chrono::sys_days from{*today};
  int days = when.in_days;
  if (days < 0) {
    // The next such weekday ("sexta" said on a Friday is next week's).
    const int wd = static_cast<int>(std::chrono::weekday{from}.c_encoding());
    days = (when.weekday - wd + 7) % 7;
    if (days == 0) days = 7;
  }
  const std::chrono::year_month_day date{from + std::chrono::days{days}};
  constexpr const char* kNames[] = {"domingo",      "segunda-feira", "terça-feira", "quarta-feira",
                                    "quinta-feira", "sexta-feira",   "sábado"};
  const std::string day_month =
      two(static_cast<unsigned>(date.day())) + "/" + two(static_cast<unsigned>(date.month()));
  const std::string named =
      days == 0   ? "hoje"
      : days == 1 ? "amanhã"
                  : kNames[std::chrono::weekday{std::chrono::sys_days{date}}.c_encoding()];
  w.begin_object().field("date", core::format_date(date)).end_object();
  return Promise{named + ", " + day_month, w.take()};
}

// Whether the message makes a promise that can be registered (a day refused as past or too
// far ahead, or a date without today known, is none: it holds back no handoff).
bool has_promise(const Turn& t, const Analysis& a) {
  return promise_of(t, a).has_value();
}

// In a collection, a stop of its messages for good (Analysis::stop_messages), in a phone's
// chat: registered for collections (register_opt_out). Whether it was.
bool opt_out(const Turn& t, const Plan& p, ToolRunner& tools, std::vector<ToolInvocation>& ran) {
  if (!p.analysis.stop_messages || !t.phone_chat || suggestion(t)) return false;
  if (p.assistant != Assistant::cobranca && t.current != Assistant::cobranca) return false;
  return ResultView(call(tools, ran, Tool::register_opt_out, "{}")).flag("registered");
}

// What the answer says of a stop registered.
constexpr const char* kOptedOut = "você não recebe mais as nossas mensagens de cobrança.";

std::string promise_text(const Turn& t, const Promise& promise, ToolRunner& tools,
                         std::vector<ToolInvocation>& ran) {
  constexpr const char* kHow =
      "Pagando por PIX a liberação é imediata; pelo boleto, a compensação leva até 3 dias úteis.";
  if (suggestion(t)) {
    return "Combinado" + comma_name(t) + "! Posso registrar sua promessa de pagamento para " +
           promise.label + "? " + kHow;
  }
  const ResultView r(call(tools, ran, Tool::register_payment_promise, promise.args));
  if (!r.flag("registered")) {
    return "Não consegui registrar a data agora. Pode me confirmar o dia em que vai pagar?";
  }
  if (r.flag("already_registered")) {
    return "Sua promessa de pagamento para " + promise.label + " já está registrada" +
           comma_name(t) + ". " + kHow;
  }
  return "Combinado" + comma_name(t) + "! Registrei sua promessa de pagamento para " +
         promise.label + ". " + kHow;
}

// A payment the customer says was made (financeiro, and cobranca: "já paguei ontem pelo pix").
constexpr const char* kPaidText =
    "Se você já pagou, o boleto pode levar até 3 dias úteis para compensar (PIX é na hora). Se "
    "a sua conexão estiver bloqueada, posso solicitar o desbloqueio em confiança por 3 dias: me "
    "envie o comprovante ou informe o CPF do titular.";

std::string financeiro_text(const Turn& t, const Plan& p, ToolRunner& tools,
                            std::vector<ToolInvocation>& ran) {
  const Analysis& a = p.analysis;
  if (const auto promise = promise_of(t, a)) return promise_text(t, *promise, tools, ran);
  // "já paguei o boleto", "fiz o pix e continua cortado": as cobrança answers it, not with a
  // second copy or how to pay.
  if (a.paid) return kPaidText;
  // A fine to take off, though the bill it came on is named too ("tira essa multa da minha
  // fatura"): the fine is what is asked about, not a second copy.
  if (has_topic(a, "multa_contestada")) {
    return "Vou verificar essa multa com você" + comma_name(t) +
           ". Me informe o CPF do titular e a fatura em que ela veio; se ela não for devida, o "
           "valor é estornado na próxima fatura.";
  }
  // A bill that is wrong ("a fatura veio com valor errado") is contested, not sent again.
  const bool contested = has_topic(a, "fatura_errada") && !has_topic(a, "segunda_via");
  if (!contested &&
      (has_topic(a, "segunda_via") || has_topic(a, "boleto") || has_topic(a, "fatura"))) {
    return "Posso te ajudar com a segunda via" + comma_name(t) +
           "! Me informe o CPF do titular do contrato que eu envio o boleto atualizado. Se "
           "preferir pagar na hora, também aceitamos PIX, com liberação imediata.";
  }
  if (has_topic(a, "pix")) {
    return "Você pode pagar por PIX com a chave que aparece na sua fatura; a compensação é "
           "imediata e, se a conexão estiver bloqueada, ela volta em poucos minutos. Quer que eu "
           "envie a fatura atualizada?";
  }
  if (has_topic(a, "desbloqueio")) return kPaidText;
  // Paying named, not done ("vou pagar amanhã", "não consigo pagar esse mês", "posso pagar dia
  // 15?"): how, and the day it can be.
  if (has_topic(a, "pagamento")) {
    return "Você pode pagar pelo boleto da fatura ou por PIX, que compensa na hora. Quer que eu "
           "envie a fatura atualizada? Se precisar de mais prazo, me diga o dia em que consegue "
           "pagar" +
           comma_name(t) + ".";
  }
  if (contested || has_topic(a, "cobranca") || has_topic(a, "debito")) {
    return "Vou verificar essa cobrança com você. Me informe o CPF do titular e o mês da fatura "
           "que você quer contestar; se houver valor indevido, o ajuste sai na próxima fatura.";
  }
  if (has_topic(a, "vencimento")) {
    return "Você pode escolher o vencimento nos dias 5, 10, 15, 20 ou 25. Qual prefere? A "
           "mudança vale a partir da próxima fatura.";
  }
  return "Posso ajudar com segunda via, pagamento por PIX, desbloqueio ou dúvidas sobre a "
         "fatura. O que você precisa" +
         comma_name(t) + "?";
}

std::string cancelamento_text(const Turn& t, const Plan& p) {
  if (p.changed()) {
    return "Poxa" + comma_name(t) +
           ", que pena que você está pensando em cancelar. Posso saber o motivo? Se for preço ou "
           "qualidade da conexão, tenho condições especiais para você continuar com a gente, "
           "como 50% de desconto por 3 meses.";
  }
  if (p.analysis.keeps_service) {
    return "Que bom que você vai continuar com a gente" + comma_name(t) +
           "! Se quiser, o desconto de 50% por 3 meses continua valendo. Posso ajudar com mais "
           "alguma coisa?";
  }
  return "Entendi. Se houver fidelidade, pode haver multa proporcional, e os equipamentos em "
         "comodato precisam ser devolvidos. Quer mesmo cancelar? Se sim, escreva \"quero "
         "cancelar\" que eu passo você para a equipe de cancelamento; ou prefere aproveitar o "
         "desconto de 50% por 3 meses?";
}

std::string complaint_category(const Analysis& a) {
  if (has_topic(a, "sem_conexao") || has_topic(a, "lentidao")) return "tecnico";
  if (has_topic(a, "cobranca") || has_topic(a, "fatura") || has_topic(a, "boleto")) {
    return "financeiro";
  }
  return "atendimento";
}

// Registers a complaint: its protocol ("" if the tool failed), and whether this conversation
// had registered it before.
std::pair<std::string, bool> register_complaint(const Turn& t, const Analysis& a, ToolRunner& tools,
                                                std::vector<ToolInvocation>& ran) {
  json::Writer w;
  w.begin_object()
      .field("description", ellipsize_utf8(t.text.empty() ? "reclamação" : t.text, 1000))
      .field("category", complaint_category(a))
      .end_object();
  const ResultView r(call(tools, ran, Tool::register_complaint, w.take()));
  return {r.str("protocol"), r.flag("already_registered")};
}

// Whether the message tells something beyond asking to complain ("quero fazer uma
// reclamação", "ouvidoria") or identifying the customer ("meu CPF é 529.982.247-25", "protocolo
// 12345"): what a complaint's description needs.
bool tells_something(const Analysis& a) {
  constexpr std::string_view kAsking[] = {
      "quero",      "queria",   "gostaria",  "preciso",  "fazer",  "abrir", "registrar",
      "uma",        "um",       "a",         "o",        "de",     "da",    "do",
      "com",        "falar",    "na",        "no",       "para",   "pra",   "minha",
      "reclamacao", "reclamar", "ouvidoria", "oi",       "ola",    "bom",   "dia",
      "boa",        "tarde",    "noite",     "por",      "favor",  "sim",   "ok",
      "eu",         "blz",      "beleza",    "entendi",  "nao",    "certo", "ta",
      "cpf",        "cnpj",     "meu",       "e",        "esta",   "segue", "aqui",
      "protocolo",  "numero",   "n",         "contrato", "titular"};
  for (const auto word : domain::words(a.folded)) {
    // Digits (a CPF, a protocol, a phone) identify; they tell nothing of what happened.
    if (std::any_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    if (std::find(std::begin(kAsking), std::end(kAsking), word) == std::end(kAsking)) return true;
  }
  return false;
}

std::string ouvidoria_text(const Turn& t, const Plan& p, ToolRunner& tools,
                           std::vector<ToolInvocation>& ran) {
  const Analysis& a = p.analysis;
  // Asked for and nothing told yet: what happened, before anything is registered.
  if ((a.department_intent == Intent::ouvidoria || p.changed()) && !tells_something(a)) {
    return "Claro" + comma_name(t) +
           "! Me conte o que aconteceu, com datas e detalhes, que eu registro sua reclamação na "
           "ouvidoria.";
  }
  // A complaint, or its detail told in ouvidoria ("caiu 3 vezes essa semana"): registered (a
  // conversation's complaint once; the rest of it stays in the conversation).
  const bool courtesy =
      a.intent == Intent::thanks || a.intent == Intent::goodbye || a.intent == Intent::greeting;
  const bool complaint = a.department_intent == Intent::ouvidoria || p.changed() ||
                         (!courtesy && !a.question && tells_something(a));
  if (complaint && suggestion(t)) {
    return "Sinto muito pela experiência" + comma_name(t) +
           ". Posso registrar sua reclamação na ouvidoria? Nossa equipe analisa e responde em até "
           "5 dias úteis.";
  }
  if (complaint) {
    const auto [protocol, before] = register_complaint(t, p.analysis, tools, ran);
    if (!protocol.empty() && before) {
      return "Sua reclamação já está registrada com o protocolo " + protocol + comma_name(t) +
             ", e esta conversa fica com ela para a ouvidoria, que responde em até 5 dias úteis. "
             "Posso ajudar em mais alguma coisa?";
    }
    if (!protocol.empty()) {
      return "Sinto muito pela experiência" + comma_name(t) +
             ". Registrei sua reclamação na ouvidoria com o protocolo " + protocol +
             ". Nossa equipe vai analisar e responder em até 5 dias úteis. Se quiser, me conte "
             "mais detalhes que eu acrescento ao registro.";
    }
  }
  return "Certo" + comma_name(t) +
         ". Se quiser registrar uma reclamação ou acrescentar algo, é só me contar o que "
         "aconteceu; a ouvidoria responde em até 5 dias úteis.";
}

std::string cobranca_text(const Turn& t, const Plan& p, ToolRunner& tools,
                          std::vector<ToolInvocation>& ran) {
  if (const auto promise = promise_of(t, p.analysis)) {
    return promise_text(t, *promise, tools, ran);
  }
  if (p.analysis.paid) return kPaidText;
  // The bill, a second copy or PIX asked for: given as financeiro gives them.
  const Analysis& a = p.analysis;
  // (Asked for: a second copy, a question, or "manda", "envia", "passa"; not "vou pagar o
  // boleto sexta", which wants the day.)
  constexpr std::string_view kSend[] = {"manda", "mande",  "mandar", "envia",
                                        "envie", "enviar", "passa",  "passe"};
  const bool bill = has_topic(a, "boleto") || has_topic(a, "pix") || has_topic(a, "fatura");
  bool send = false;
  for (const auto word : domain::words(a.folded)) {
    send = send || std::find(std::begin(kSend), std::end(kSend), word) != std::end(kSend);
  }
  if (has_topic(a, "segunda_via") || (bill && (a.question || send))) {
    return financeiro_text(t, p, tools, ran);
  }
  // The opening once (the first answer); then the question alone, not "Olá" again.
  if (t.customer_turn == 0) {
    // (After LIA's own greeting, on a debtor's first message, not "Olá" twice.)
    return (p.greet ? std::string() : "Olá" + comma_name(t) + "! ") +
           "Identificamos uma fatura em aberto no seu contrato. Você pode pagar agora por PIX, "
           "com liberação imediata, ou pedir a segunda via do boleto. Em que dia você consegue "
           "fazer o pagamento?";
  }
  return "Para regularizar, me diga em que dia consegue pagar (por exemplo: \"vou pagar dia "
         "15\") que eu registro aqui. Se precisar da segunda via, é só pedir.";
}

std::string apresentacao_text(const Turn& t, const Plan& p) {
  const Analysis& a = p.analysis;
  if (p.greet && a.sentiment.label == Sentiment::negative) {
    // A first message that complains ("o atendimento de vocês é péssimo"): not the menu.
    return greeting(t) + "Sinto muito pela experiência" + comma_name(t) +
           ". Me conte o que aconteceu: é sobre a internet, a fatura, o seu plano ou o "
           "atendimento? Se preferir, eu registro uma reclamação ou passo você para um atendente.";
  }
  if (p.greet) {
    return greeting(t) +
           "Posso ajudar com suporte técnico (internet sem conexão ou lenta), planos e "
           "contratação, faturas e pagamentos, cancelamento ou reclamações. Como posso ajudar "
           "você hoje?";
  }
  if (a.intent == Intent::greeting) {
    return "Olá" + comma_name(t) +
           "! Em que posso ajudar? Me conte se o assunto é internet, planos, fatura, "
           "cancelamento ou reclamação.";
  }
  // Unhappy, with no subject yet ("vocês são péssimos"): not a "didn't understand".
  if (a.sentiment.label == Sentiment::negative) {
    return "Sinto muito pela experiência" + comma_name(t) +
           ". Me conte o que aconteceu: é sobre a internet, a fatura, o seu plano ou o "
           "atendimento? Se preferir, eu registro uma reclamação ou passo você para um "
           "atendente.";
  }
  return pick({"Desculpe, não entendi bem. O assunto é internet (conexão ou lentidão), planos, "
               "fatura ou pagamento, cancelamento ou uma reclamação?",
               "Para eu te direcionar certinho: você precisa de suporte técnico, informações de "
               "planos, ajuda com a fatura, cancelamento ou registrar uma reclamação?",
               "Ainda não consegui entender. Se preferir, escreva \"atendente\" que eu te passo "
               "para uma pessoa da nossa equipe."},
              t.customer_turn);
}

std::string media_text(const Turn& t) {
  if (t.kind == "audio") {
    return "Ainda não consigo ouvir áudios por aqui. Pode me escrever em poucas palavras como "
           "posso ajudar?";
  }
  if (t.kind == "location") {
    return "Recebi sua localização, obrigada! Se puder, me informe também o CEP para eu verificar "
           "a cobertura ou falhas na região.";
  }
  return "Recebi seu arquivo, obrigada! Para eu ajudar, me conte por escrito o que está "
         "acontecendo.";
}

std::string handoff_summary(const Turn& t, const Plan& p) {
  const Analysis& a = p.analysis;
  std::string s = "Assistente: " + std::string(to_string(p.assistant)) +
                  ". Intenção: " + std::string(to_string(a.intent)) + ".";
  if (!a.topics.empty()) {
    s += " Assuntos:";
    for (std::size_t i = 0; i < a.topics.size(); ++i) s += (i == 0 ? " " : ", ") + a.topics[i];
    s += ".";
  }
  // The handoff's own urgency (raised for an upset customer), not the message's.
  const Urgency urgency = p.handoff ? p.handoff->urgency : a.urgency;
  s += " Sentimento: " + std::string(to_string(a.sentiment.label)) +
       ", urgência: " + std::string(to_string(urgency)) + ".";
  if (!t.text.empty()) s += " Última mensagem: \"" + ellipsize_utf8(t.text, 600) + "\"";
  return s;
}

}  // namespace

Plan plan_turn(const Turn& turn) {
  Plan p;
  // Cobrança asks in which day the customer pays in every answer without a promise: "dia 15"
  // answers it.
  p.analysis = analyze(
      turn.text,
      {.prior_negative_streak = turn.prior_negative_streak,
       .payment_day_asked = turn.current == Assistant::cobranca || turn.campaign,
       .cep_asked = turn.current == Assistant::suporte || turn.current == Assistant::comercial});
  const Analysis& a = p.analysis;
  p.from = turn.current;
  p.assistant = turn.current;
  p.greet = turn.first_message && turn.current == Assistant::apresentacao;

  // Routing: apresentacao hands every recognised subject to its specialist; a specialist
  // passes the customer on only for a clear new subject. Cobrança keeps payment talk;
  // cancelamento and ouvidoria keep a connection problem, which is the reason they asked for
  // ("a internet é muito lenta") or the complaint's detail ("caiu 3 vezes essa semana"), not
  // a new subject (support would answer with the router's lights, and the next "quero
  // cancelar" would start the cancellation over).
  if (a.department_intent) {
    const Assistant target = *assistant_for(*a.department_intent);
    const bool clear = turn.current == Assistant::apresentacao || a.intent_score >= 3;
    const bool cobranca_keeps =
        turn.current == Assistant::cobranca && target == Assistant::financeiro;
    // (A question about the connection, or a CEP to look up, is a new subject all the same:
    // "continua sem sinal, tem manutenção no CEP 01310-100?")
    // Ouvidoria keeps a wrong charge told as well, its complaint's detail ("me cobraram uma
    // taxa indevida"); not a request of financeiro's ("quero a segunda via").
    const bool charge_told = has_topic(a, "fatura_errada") || has_topic(a, "cobranca");
    const bool reason_kept =
        (turn.current == Assistant::cancelamento || turn.current == Assistant::ouvidoria) &&
        (target == Assistant::suporte || (turn.current == Assistant::ouvidoria &&
                                          target == Assistant::financeiro && charge_told)) &&
        !a.question && !a.cep;
    if (target != turn.current && clear && !cobranca_keeps && !reason_kept) {
      p.assistant = target;
      p.change_reason = "intenção " + std::string(to_string(a.intent));
      // The winning intent's own subject, not another table's that lost.
      if (!a.intent_topic.empty()) p.change_reason += " (" + a.intent_topic + ")";
    }
  }
  // A debtor answering a campaign's message: cobranca, which knows the debt, unless the
  // message names another desk's subject ("minha internet caiu" is suporte's); a payment
  // matter stays with cobranca.
  if (turn.campaign && turn.current == Assistant::apresentacao &&
      (p.assistant == Assistant::apresentacao || p.assistant == Assistant::financeiro)) {
    p.assistant = Assistant::cobranca;
    p.change_reason = "resposta a uma campanha de cobrança";
  }

  if (turn.may_handoff) {
    std::string reason;
    Urgency urgency = a.urgency;
    bool unhappy = false;  // an upset customer's handoff is urgent; a request or an action not
    // Angry: plainly negative and pressing, negative and pressing again and again, or
    // negative and urgent. One mild word ("caiu", "sem internet") with a "hoje" and a
    // "preciso trabalhar" is an ordinary report, answered with the steps that fix it rather
    // than a queue for a person.
    const bool angry =
        a.sentiment.label == Sentiment::negative &&
        (a.urgency == Urgency::urgent || a.sentiment.score <= kFuriousSentiment ||
         (a.urgency == Urgency::high &&
          (a.sentiment.score <= kAngrySentiment || turn.prior_negative_streak >= kAngryStreak)));
    if (a.asks_for_human) {
      reason = "cliente pediu atendente humano";
    } else if (a.insult) {
      reason = "cliente irritado (ofensas)";
      unhappy = true;
    } else if (a.legal_threat) {
      reason = "cliente menciona Procon, Anatel, Reclame Aqui ou ação judicial";
      unhappy = true;
    } else if (angry) {
      reason = "cliente irritado e com urgência";
      unhappy = true;
    } else if (p.assistant == Assistant::cancelamento && !p.changed() && a.accepts_offer) {
      // The discount is applied by a person: the assistant has no tool for it.
      reason = std::string(kOfferAccepted);
    } else if (p.assistant == Assistant::cancelamento && !p.changed() && !a.keeps_service &&
               a.cancel_request && !a.question) {
      // Asked again after the offer: a person ends the contract.
      reason = std::string(kCancelConfirmed);
    } else if (p.assistant == Assistant::cobranca && a.contests_debt) {
      reason = std::string(kDebtContested);
    } else if (p.assistant == Assistant::cobranca && a.stop_contact && !has_promise(turn, a)) {
      reason = std::string(kStopContact);
    } else if ((p.assistant == Assistant::cobranca && a.negotiates && !has_promise(turn, a)) ||
               ((p.assistant == Assistant::cobranca || p.assistant == Assistant::financeiro) &&
                a.partial_payment)) {
      // A part of the debt now or on a day is a deal: no promise of the whole is registered.
      reason = std::string(kNegotiation);
    } else if ((p.assistant == Assistant::financeiro || p.assistant == Assistant::cobranca ||
                p.assistant == Assistant::cancelamento) &&
               a.sends_document) {
      // The CPF the desk's texts ask for: a person looks the contract up.
      reason = std::string(kDocumentSent);
    } else if ((p.assistant == Assistant::financeiro || p.assistant == Assistant::cobranca) &&
               (turn.kind == "image" || turn.kind == "document")) {
      // "me envie o comprovante": a person checks it.
      reason = std::string(kFileSent);
    } else if (p.assistant == Assistant::suporte && red_light(a)) {
      reason = std::string(kRedLight);
    } else if (p.assistant == Assistant::suporte && !p.changed() && a.persists && !a.cep &&
               turn.customer_turn >= 2) {
      // (A CEP given with it is looked up first: an outage there is the answer; and early on,
      // the CEP is asked for first.)
      reason = std::string(kPersists);
    }
    if (!reason.empty()) {
      if (unhappy && urgency == Urgency::normal) urgency = Urgency::high;
      p.handoff = HandoffPlan{reason, std::string(department_of(p.assistant)), urgency, {}};
      p.handoff->summary = handoff_summary(turn, p);
    }
  }
  return p;
}

Answer local_answer(const Turn& turn, const Plan& plan, ToolRunner& tools) {
  Answer out;
  const Analysis& a = plan.analysis;
  const std::string opening = plan.greet ? greeting(turn) : "";

  if (plan.handoff) {
    std::string text = opening;
    if (plan.assistant == Assistant::ouvidoria) {
      const auto [protocol, before] = register_complaint(turn, a, tools, out.tools);
      if (!protocol.empty()) {
        text += before ? "Sua reclamação já está registrada com o protocolo " + protocol + ". "
                       : "Registrei sua reclamação com o protocolo " + protocol + ". ";
      }
    }
    json::Writer w;
    w.begin_object()
        .field("reason", plan.handoff->reason)
        .field("department", plan.handoff->department)
        .end_object();
    call(tools, out.tools, Tool::transfer_to_human, w.take());
    // The transfer alone would leave collections' campaigns messaging the debtor, whatever
    // else handed the conversation on ("parem de me mandar mensagem, quero um atendente").
    const bool opted_out = opt_out(turn, plan, tools, out.tools);
    const auto label = std::string(department_label(plan.handoff->department));
    if (a.asks_for_human) {
      text += "Certo" + comma_name(turn) + "! Vou transferir você para um atendente do setor de " +
              label + ". Em instantes alguém da nossa equipe continua o atendimento por aqui.";
    } else if (plan.handoff->reason == kOfferAccepted) {
      text += "Que bom que você vai continuar com a gente" + comma_name(turn) +
              "! Vou passar você para a nossa equipe, que aplica o desconto de 50% por 3 meses "
              "no seu contrato. Em instantes alguém confirma por aqui.";
    } else if (plan.handoff->reason == kCancelConfirmed) {
      text += "Certo" + comma_name(turn) +
              ". Vou passar você para a equipe de cancelamento, que confirma os dados do "
              "contrato e conclui o pedido por aqui.";
    } else if (plan.handoff->reason == kDocumentSent) {
      text += "Obrigada" + comma_name(turn) + "! Vou passar você para a equipe do setor de " +
              label + ", que consulta o seu contrato e continua o atendimento por aqui.";
    } else if (plan.handoff->reason == kFileSent) {
      text += "Recebi seu arquivo" + comma_name(turn) +
              "! Vou passar você para a equipe do setor " + label +
              ", que confere e continua o atendimento por aqui.";
    } else if (plan.handoff->reason == kPersists) {
      text += "Sinto muito que o problema continue" + comma_name(turn) +
              ". Vou passar você para o suporte técnico, que abre o chamado e, se for preciso, "
              "agenda a visita de um técnico por aqui.";
    } else if (plan.handoff->reason == kDebtContested) {
      text += "Entendi" + comma_name(turn) +
              ". Vou passar você para a equipe financeira, que verifica essa cobrança com você "
              "por aqui.";
    } else if (plan.handoff->reason == kStopContact) {
      text += "Certo" + comma_name(turn) + ". " +
              (opted_out ? std::string("Registrei seu pedido: ") + kOptedOut +
                               " Vou passar você para a equipe financeira, que continua por aqui."
                         : "Vou passar seu pedido para a equipe financeira, que continua por "
                           "aqui.");
    } else if (plan.handoff->reason == kNegotiation) {
      text += "Claro" + comma_name(turn) +
              "! Vou passar você para a equipe financeira, que apresenta as opções de negociação "
              "e parcelamento por aqui.";
    } else if (plan.handoff->reason == kRedLight) {
      text += "A luz LOS vermelha indica um problema na fibra que chega até você" +
              comma_name(turn) +
              ". Vou passar você para o suporte técnico, que agenda a visita de um técnico por "
              "aqui.";
    } else {
      text += "Sinto muito pelo transtorno" + comma_name(turn) +
              ". Vou transferir você agora para um atendente do setor de " + label +
              ", que vai cuidar do seu caso com prioridade.";
    }
    if (opted_out && plan.handoff->reason != kStopContact) {
      text += std::string(" E, como você pediu, ") + kOptedOut;
    }
    out.text = std::move(text);
    return out;
  }

  if (turn.text.empty() && turn.kind != "text") {
    out.text = opening + media_text(turn);
    return out;
  }
  if (!a.department_intent && (a.intent == Intent::thanks || a.intent == Intent::goodbye)) {
    out.text =
        a.intent == Intent::thanks
            ? "Por nada" + comma_name(turn) + "! Se precisar de mais alguma coisa, é só chamar."
            : "Até logo" + comma_name(turn) + "! Sempre que precisar, estou por aqui.";
    return out;
  }

  std::string body;
  switch (plan.assistant) {
    case Assistant::suporte:
      body = suporte_text(turn, plan, tools, out.tools);
      break;
    case Assistant::comercial:
      body = comercial_text(turn, plan, tools, out.tools);
      break;
    case Assistant::financeiro:
      body = financeiro_text(turn, plan, tools, out.tools);
      break;
    case Assistant::cancelamento:
      body = cancelamento_text(turn, plan);
      break;
    case Assistant::ouvidoria:
      body = ouvidoria_text(turn, plan, tools, out.tools);
      break;
    case Assistant::cobranca:
      body = cobranca_text(turn, plan, tools, out.tools);
      break;
    case Assistant::apresentacao:
      // The greeting is the whole answer here; a CEP still gets its coverage check.
      if (a.cep) {
        const ResultView coverage(call(tools, out.tools, Tool::check_coverage, cep_args(*a.cep)));
        const std::string lead = plan.greet ? greeting(turn) : "";
        if (coverage.flag("covered")) {
          out.text = lead + "Temos cobertura de fibra no CEP " + format_cep(*a.cep) + " (" +
                     coverage.str("city") +
                     "). Quer conhecer nossos planos ou precisa de outra "
                     "ajuda?";
        } else {
          out.text = lead + "Ainda não temos cobertura no CEP " + format_cep(*a.cep) +
                     ". Posso ajudar com mais alguma coisa?";
        }
        return out;
      }
      out.text = apresentacao_text(turn, plan);
      return out;
  }
  // A stop said in a collection with no handoff: with a promise ("não quero mais receber
  // mensagem, dia 10 eu pago"), or with what took the conversation to another desk ("parem de
  // mandar mensagem, quero cancelar o plano").
  if (opt_out(turn, plan, tools, out.tools)) {
    body += std::string(" E, como você pediu, ") + kOptedOut;
  }
  if (a.cep && plan.assistant != Assistant::suporte && plan.assistant != Assistant::comercial) {
    // Any other assistant still answers the CEP with a coverage check.
    const ResultView coverage(call(tools, out.tools, Tool::check_coverage, cep_args(*a.cep)));
    if (coverage.ok) {
      body +=
          coverage.flag("covered")
              ? " (O CEP " + format_cep(*a.cep) + " está na nossa área de cobertura.)"
              : " (O CEP " + format_cep(*a.cep) + " ainda não está na nossa área de cobertura.)";
    }
  }
  out.text = opening + body;
  return out;
}

std::optional<std::string> first_name(std::string_view full_name) {
  std::size_t i = 0;
  while (i < full_name.size()) {
    // Skip separators and anything that is not a letter (digits, emoji, punctuation).
    const auto c = static_cast<unsigned char>(full_name[i]);
    const bool ascii_letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool latin = c == 0xC3;  // À..ÿ in UTF-8
    if (ascii_letter || latin) break;
    ++i;
  }
  std::string word;
  while (i < full_name.size()) {
    const auto c = static_cast<unsigned char>(full_name[i]);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\'' || c == '-') {
      word += static_cast<char>(c);
      ++i;
    } else if (c == 0xC3 && i + 1 < full_name.size()) {
      word += full_name.substr(i, 2);
      i += 2;
    } else {
      break;
    }
  }
  if (word.size() < 2 || word.size() > 40) return std::nullopt;
  // "MARIA" / "maria" / "JOÃO" -> "Maria" / "Maria" / "João" (ASCII and Latin-1 letters).
  for (std::size_t k = 0; k < word.size(); ++k) {
    const bool initial = k == 0;
    auto& ch = word[k];
    if (ch >= 'A' && ch <= 'Z' && !initial) ch = static_cast<char>(ch - 'A' + 'a');
    if (ch >= 'a' && ch <= 'z' && initial) ch = static_cast<char>(ch - 'a' + 'A');
    if (static_cast<unsigned char>(ch) == 0xC3 && k + 1 < word.size()) {
      auto b = static_cast<unsigned char>(word[k + 1]);
      if (!initial && b >= 0x80 && b <= 0x9E && b != 0x97) b = static_cast<unsigned char>(b + 0x20);
      if (initial && b >= 0xA0 && b <= 0xBE && b != 0xB7) b = static_cast<unsigned char>(b - 0x20);
      word[k + 1] = static_cast<char>(b);
      ++k;
    }
  }
  return word;
}

namespace {
constexpr std::string_view kEllipsis = "…";

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Bytes of what joins a number's groups at s[i] (. - / or an en or em dash, as
// redact_documents reads them); 0: none.
std::size_t joiner_at(std::string_view s, std::size_t i) {
  if (s[i] == '.' || s[i] == '-' || s[i] == '/') return 1;
  if (s.substr(i, 3) == "\xE2\x80\x93" || s.substr(i, 3) == "\xE2\x80\x94") return 3;
  return 0;
}

// A group of a number as people write one (digits and joiners), or a joiner alone between
// two groups ("529.982.247 - 25").
bool is_number_part(std::string_view word) {
  for (std::size_t i = 0; i < word.size();) {
    if (is_digit(word[i])) {
      ++i;
    } else if (const auto n = joiner_at(word, i); n > 0) {
      i += n;
    } else {
      return false;
    }
  }
  return !word.empty();
}
}  // namespace

std::string ellipsize_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  if (max_bytes < kEllipsis.size()) return {};
  return std::string(core::utf8_prefix(text, max_bytes - kEllipsis.size())) +
         std::string(kEllipsis);
}

std::string ellipsize_whole_words(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  if (max_bytes < kEllipsis.size()) return {};
  std::string_view kept = core::utf8_prefix(text, max_bytes - kEllipsis.size());
  std::size_t word = kept.size();  // where the word the cut splits starts
  while (word > 0 && !is_blank(kept[word - 1])) --word;
  const bool split = word < kept.size() && !is_blank(text[kept.size()]);
  bool in_number = false;
  if (split) {
    // (Not a word of more than 64 bytes, a link or a hash pasted: no document is that long,
    // and the whole text could go with it.)
    std::size_t word_end = kept.size();
    while (word_end < text.size() && !is_blank(text[word_end])) ++word_end;
    in_number = word_end - word <= 64 &&
                std::any_of(kept.begin() + static_cast<std::ptrdiff_t>(word), kept.end(), is_digit);
    if (in_number) kept = kept.substr(0, word);
  } else {  // between two words: a number may go on after the cut ("529 982 247 | - 25")
    std::size_t next = kept.size();
    for (;;) {
      if (next < text.size() && is_blank(text[next])) {
        ++next;
      } else if (const auto n = next < text.size() ? joiner_at(text, next) : 0; n > 0) {
        next += n;
      } else {
        break;
      }
    }
    in_number = next < text.size() && is_digit(text[next]);
  }
  if (in_number) {
    // Its groups before the cut: "529 982 247 25" cut in its last group.
    for (;;) {
      std::size_t end = kept.size();
      while (end > 0 && is_blank(kept[end - 1])) --end;
      std::size_t start = end;
      while (start > 0 && !is_blank(kept[start - 1])) --start;
      if (start == end || !is_number_part(kept.substr(start, end - start))) break;
      kept = kept.substr(0, start);
    }
  }
  while (!kept.empty() && is_blank(kept.back())) kept.remove_suffix(1);
  return std::string(kept) + std::string(kEllipsis);
}

}  // namespace lia::ai_orchestration
