#pragma once
// Reading a customer's message: intent, sentiment, urgency, and the facts the assistants act
// on (a CEP, a payment day, a request for a person, insults, legal threats). Pure and
// deterministic: accent- and case-insensitive through lia::domain::fold, word lists only.
//
//   auto a = analyze("Minha internet CAIU de novo!!!", {.prior_negative_streak = 1});
//   a.intent == Intent::suporte; a.sentiment == Sentiment::negative; a.topics == {"sem_conexao"}

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "assistant.hpp"

namespace lia::ai_orchestration {

struct SentimentScore {
  Sentiment label = Sentiment::neutral;
  double score = 0;  // -1..1, two decimals
};

struct AnalysisContext {
  // Customer messages in a row, just before this one, that read negative.
  int prior_negative_streak = 0;
  // The assistant asked in which day the customer pays (cobranca asks it in every answer
  // without a promise): then a plain answer is the promise ("dia 15", "consigo dia 20").
  bool payment_day_asked = false;
  // The assistant may have asked for the CEP (suporte, comercial): then eight digits alone are
  // the answer.
  bool cep_asked = false;
};

// When a payment is promised: a day of the month, or a day named from today (see
// find_payment_when).
struct PaymentWhen {
  int day = 0;       // 1..31: the day of the month; 0: not a "dia N"
  int in_days = -1;  // 0 today, 1 tomorrow, 2 the day after; -1: not one
  int weekday = -1;  // 0 Sunday .. 6 Saturday; -1: not one
  // With `day`: its month, when named ("dia 10/06", "15/12", "dia 10 de janeiro"), and its
  // year when written ("10/06/2027"); or the month after today's ("dia 5 do mês que vem").
  int month = 0;  // 1..12; 0: not named
  int year = 0;   // 0: not written
  bool next_month = false;
  // Whether the day needs the customer's today to be a date (a day alone does not).
  bool dated() const { return day == 0 || month > 0 || next_month; }
};

struct Analysis {
  std::string folded;  // lia::domain::fold of the text
  SentimentScore sentiment;
  Urgency urgency = Urgency::normal;
  // The strongest department intent (suporte, comercial, financeiro, cancelamento,
  // ouvidoria); without one: human, thanks, goodbye, greeting or none, in that order.
  Intent intent = Intent::none;
  // The department intent, even when the customer also asks for a person.
  std::optional<Intent> department_intent;
  int intent_score = 0;             // keyword weight behind department_intent
  std::vector<std::string> topics;  // fine-grained subjects: "sem_conexao", "segunda_via", ...
  bool greeting = false;
  // "quero falar com um atendente", "ATENDENTE", "falar com uma pessoa", "não quero falar com
  // robô"; not negated ("sem atendente"), not a mere mention ("o atendente de ontem disse").
  bool asks_for_human = false;
  bool insult = false;
  bool legal_threat = false;  // Procon, Anatel, Reclame Aqui, justiça, advogado
  bool repeated_complaint = false;
  std::optional<std::string> cep;  // 8 digits, from "01310-100" (or "cep 01310100")
  std::optional<int> payment_day;  // 1..31, from "vou pagar dia 15" (no month named)
  // A payment promised for a day named from today ("vou pagar amanhã", "pago sexta"), or a day
  // with its month ("dia 10/06", "dia 5 do mês que vem"): find_payment_when's answer; the date
  // needs the customer's today.
  std::optional<PaymentWhen> payment_relative;
  bool paid = false;  // says it paid: "já paguei", "fiz o pagamento", "quitei"
  // Takes the retention offer: "aceito o desconto", "quero o desconto", "fico com a oferta";
  // not negated.
  bool accepts_offer = false;
  // A request to cancel the service itself, not taken back ("quero cancelar", "quero seguir
  // com o cancelamento"); not a question about it ("tem multa?").
  bool cancel_request = false;
  // Takes the cancellation back: "não quero mais cancelar", "desisti de cancelar", "mudei de
  // ideia", "vou ficar".
  bool keeps_service = false;
  // A valid CPF or CNPJ in the text (what the financial and cancellation desks ask for).
  bool sends_document = false;
  // A question ("Qual o processo para mudar de plano?", "como faço para contratar") with no
  // wish of its own ("quero", "gostaria de": not "gostaria de saber"): asks, orders nothing.
  bool question = false;
  // The trouble goes on after support's steps: "ja reiniciei e nada", "continua igual", "ainda
  // não voltou".
  bool persists = false;
  // It is done, said without thanks: "deu certo", "voltou", "funcionou!!" (not negated).
  bool resolved = false;
  // In a collection: the debt disputed ("não reconheço essa dívida", "nunca fui cliente"), no
  // more messages wanted ("parem de me mandar mensagem"), or a deal asked for ("quero parcelar").
  bool contests_debt = false;
  bool stop_contact = false;
  // Of those stops, one of collection messages for good, in so many words ("parem de me mandar
  // mensagem", "não quero mais receber cobrança"): what collections keeps as an opt-out.
  bool stop_messages = false;
  bool negotiates = false;
  // Of those deals, a part of the debt paid now or promised ("metade agora e metade dia 20",
  // "posso dar uma entrada"): a person agrees it, whatever day comes with it.
  bool partial_payment = false;
  // The first topic of the winning intent's own keywords ("fatura" for financeiro), or "".
  std::string intent_topic;
};

Analysis analyze(std::string_view text, const AnalysisContext& context = {});

// The parts, for tests and for the remote model's path.
SentimentScore score_sentiment(std::string_view folded);
// `raw` is the text as the customer wrote it (for capitals and exclamation marks).
Urgency score_urgency(std::string_view raw, std::string_view folded, int negative_streak);
// `alone_ok`: eight digits that are the whole message count too (the answer to "qual é o seu
// CEP?").
std::optional<std::string> find_cep(std::string_view raw, bool alone_ok = false);
// The day of a payment promise: a verb that promises ("vou pagar", "consigo pagar", "pago",
// "quito") with "dia N" in the same clause, and no negation before it in that clause. Not a
// payment made ("fiz o pagamento dia 10", "foi pago dia 10") nor refused ("não vou conseguir
// pagar dia 10"), nor a question ("quanto fica pra pagar dia 20?") nor a habit ("eu sempre
// pago dia 10", "pago todo mês no dia 10"). Making the payment promises too ("vou fazer o
// pagamento dia 12", "faço o pix dia 10"; not "fiz o pix dia 10"). When the day was asked
// (`day_asked`), also a clause that is only the day ("dia 15", "no dia 5", "pode ser dia 25")
// or "consigo" with it ("consigo dia 20"), under the same rules. Only a day alone: one with
// its month ("dia 10/06", "dia 5 do mês que vem") is find_payment_when's.
std::optional<int> find_payment_day(std::string_view folded, bool day_asked = false);

// When a payment is promised, under find_payment_day's rules: "dia N", with its month if
// named ("dia 10/06", "dia 10/06/2027", "15/12" on its own, "dia 10 de janeiro", "dia 5 do mês
// que vem"), or a day named from today ("vou pagar amanhã", "pago sexta", "hoje", "depois de
// amanhã", "na segunda-feira"; not "a segunda via", "a fatura de hoje").
std::optional<PaymentWhen> find_payment_when(std::string_view folded, bool day_asked = false);

}  // namespace lia::ai_orchestration
