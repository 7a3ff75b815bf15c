#include "analysis.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>

#include <lia/core/text.hpp>
#include <lia/domain/document.hpp>
#include <lia/domain/text.hpp>

namespace lia::ai_orchestration {
namespace {

using Words = std::vector<std::string_view>;

// A pattern word ending in '*' matches every word with that stem ("reclamac*" -> reclamacao,
// reclamacoes); otherwise the whole word must match. "nao" in a phrase is also "não" as
// WhatsApp writes it: "n" (and "ñ", which folds to it), and "num" (before the phrase's verb:
// "num quero cancelar", "num funciona").
bool word_matches(std::string_view word, std::string_view pattern) {
  if (pattern == "nao") return word == "nao" || word == "n" || word == "num";
  if (!pattern.empty() && pattern.back() == '*') {
    const auto stem = pattern.substr(0, pattern.size() - 1);
    return word.size() >= stem.size() && word.substr(0, stem.size()) == stem;
  }
  return word == pattern;
}

// What lies between w[i - 1] and w[i] ("" for the first word or none): the words are views
// into one folded text, so that is the text between them.
std::string_view between(const Words& w, std::size_t i) {
  if (i == 0 || i >= w.size()) return {};
  const char* gap = w[i - 1].data() + w[i - 1].size();
  return {gap, static_cast<std::size_t>(w[i].data() - gap)};
}

// Whether punctuation (",", ".", "?"...) stands between w[i - 1] and w[i]: a clause ends there
// and a negation does not reach past it ("Não, quero cancelar").
bool clause_break_before(const Words& w, std::size_t i) {
  return between(w, i).find_first_of(",.;:!?") != std::string_view::npos;
}

// The clause around w[i]: its first word, and one past its last.
std::size_t clause_begin(const Words& w, std::size_t i) {
  while (i > 0 && !clause_break_before(w, i)) --i;
  return i;
}
std::size_t clause_end(const Words& w, std::size_t i) {
  do {
    ++i;
  } while (i < w.size() && !clause_break_before(w, i));
  return i;
}

// How many words of `phrase` (folded words separated by single spaces) match at w[i], or 0.
// A phrase does not run across punctuation: "não, gostei" is not "não gostei".
std::size_t match_at(const Words& w, std::size_t i, std::string_view phrase) {
  std::size_t k = 0;
  std::size_t pos = 0;
  while (true) {
    const auto sp = phrase.find(' ', pos);
    const auto part =
        phrase.substr(pos, sp == std::string_view::npos ? std::string_view::npos : sp - pos);
    if (i + k >= w.size() || !word_matches(w[i + k], part)) return 0;
    if (k > 0 && clause_break_before(w, i + k)) return 0;
    ++k;
    if (sp == std::string_view::npos) return k;
    pos = sp + 1;
  }
}

bool has(const Words& w, std::string_view phrase) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (match_at(w, i, phrase) > 0) return true;
  }
  return false;
}

template <class List>
bool has_any(const Words& w, const List& phrases) {
  return std::any_of(std::begin(phrases), std::end(phrases),
                     [&](std::string_view p) { return has(w, p); });
}

template <class List>
bool is_any(std::string_view word, const List& words) {
  return std::find(std::begin(words), std::end(words), word) != std::end(words);
}

// ---- negation -----------------------------------------------------------------------------

// "não" also as WhatsApp writes it: "n" (and "ñ", which folds to it).
constexpr std::string_view kNegators[] = {"nao", "n", "nunca", "nem", "jamais"};
// "num" is "não" before a verb ("num quero cancelar", "num consigo pagar"), and "em um"
// elsewhere ("moro num apartamento", "to num plano caro").
constexpr std::string_view kNumVerbs[] = {
    "quero", "queria",  "quer",    "gostaria", "desejo",  "pretendo", "vou",
    "vai",   "preciso", "precisa", "tenho",    "consigo", "consegui", "posso",
    "pode",  "sei",     "gostei",  "funciona", "da",      "deu",      "to",
    "ta",    "estou",   "esta",    "e",        "foi",     "resolveu", "aguento"};

bool is_negator(std::string_view w) {
  return is_any(w, kNegators);
}

// Whether w[i] negates: a negator, or "num" before a verb. "n" before a number is "número"
// ("meu cpf n 123", "apto n 5"), not "não".
bool negator_at(const Words& w, std::size_t i) {
  if (w[i] == "n" && i + 1 < w.size() && !w[i + 1].empty() &&
      std::isdigit(static_cast<unsigned char>(w[i + 1].front())) != 0) {
    return false;
  }
  if (is_negator(w[i])) return true;
  return w[i] == "num" && i + 1 < w.size() && !clause_break_before(w, i + 1) &&
         is_any(w[i + 1], kNumVerbs);
}

// A request is also taken back by "sem": "sem atendente, por favor", "mudar de plano sem
// cancelar". (Not a negator elsewhere: "sem internet" is a subject, "estou sem grana mas vou
// pagar dia 10" still a promise.)
bool is_request_negator(const Words& w, std::size_t i) {
  return negator_at(w, i) || w[i] == "sem";
}

// Words a negation reaches across to the request after them: auxiliaries, "falar com" and
// small words. "não QUERO cancelar", "não PRECISA DE atendente", "não PRECISA CHAMAR
// atendente", "não TENHO DO QUE reclamar", "não quero SER atendido por uma pessoa"; but "não
// funciona, quero cancelar" and "não funciona quero cancelar" still ask to cancel.
constexpr std::string_view kNegationReaches[] = {
    "quero",   "queria",  "quer",  "gostaria", "desejo", "pretendo", "vou",    "vai",
    "preciso", "precisa", "tenho", "ter",      "ser",    "chamar",   "nenhum", "nenhuma",
    "mais",    "falar",   "me",    "e",        "de",     "do",       "da",     "que",
    "com",     "um",      "uma",   "o",        "a",      "pra",      "para",   "precisar"};
// Wanting or thinking of the request, reached across only right before it: "não tenho
// INTERESSE EM cancelar", "não ESTOU QUERENDO cancelar", "não vou QUERER cancelar", "nem
// PENSAR EM cancelar". Not anywhere in the clause: "não tenho mais interesse quero cancelar"
// (WhatsApp messages often leave the comma out) still asks to cancel.
constexpr std::string_view kNegationBridges[] = {
    "estou pensando em", "to pensando em", "estou querendo", "to querendo", "pensando em",
    "interesse em",      "interesse de",   "intencao de",    "intencao em", "pensar em",
    "penso em",          "querendo",       "querer"};

// Wishes among the words above: a second one opens a wish of its own, the negation before it
// was the first one's ("não quero mais quero cancelar": no more of it, and cancel).
constexpr std::string_view kReachedWishes[] = {"quero",  "queria",   "quer",    "gostaria",
                                               "desejo", "pretendo", "preciso", "precisa"};

// Whether the request at w[i] is taken back by a negator before it, in the same clause, with
// only a bridge right before it and the words above before that (at most five).
bool negated(const Words& w, std::size_t i) {
  std::size_t bridge = 0;
  for (const auto phrase : kNegationBridges) {
    const auto n = static_cast<std::size_t>(std::count(phrase.begin(), phrase.end(), ' ') + 1);
    // match_at keeps the bridge within a clause; the request must follow it in the same one.
    if (n > bridge && n <= i && match_at(w, i - n, phrase) == n && !clause_break_before(w, i)) {
      bridge = n;
    }
  }
  const std::size_t at = i - bridge;
  bool wish = false;
  for (std::size_t k = 1; k <= 6 && k <= at; ++k) {
    if (clause_break_before(w, at - k + 1)) return false;
    // "não dá (mais)" is the verb: "não dá mais quero cancelar", "não dá pra cancelar pelo
    // app?" still want it.
    if (is_request_negator(w, at - k)) return !(k > 1 && w[at - k + 1] == "da");
    if (!is_any(w[at - k], kNegationReaches)) return false;
    if (is_any(w[at - k], kReachedWishes)) {
      if (wish) return false;
      wish = true;
    }
  }
  return false;
}

// What may stand between a request and a "não" after it: its object ("quero cancelar O PLANO
// não").
constexpr std::string_view kLateNegationFillers[] = {
    "o", "a", "meu", "minha", "esse", "essa", "isso", "plano", "internet", "contrato", "servico"};

// Whether the request ending before w[end] is taken back by a "não" after it that ends its
// clause ("quero cancelar não, vou ficar", "falar com atendente não"); not by one that opens
// the next clause, comma or not ("quero cancelar, não aguento mais", "quero cancelar não
// aguento mais").
bool negated_after(const Words& w, std::size_t end) {
  for (std::size_t j = end; j < w.size() && j < end + 3 && !clause_break_before(w, j); ++j) {
    if (negator_at(w, j)) return j + 1 == w.size() || clause_break_before(w, j + 1);
    if (!is_any(w[j], kLateNegationFillers)) return false;
  }
  return false;
}

// A request ("cancelar", "falar com um atendente") that is not taken back by a negation.
bool has_request(const Words& w, std::string_view phrase) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    const auto n = match_at(w, i, phrase);
    if (n > 0 && !negated(w, i) && !negated_after(w, i + n)) return true;
  }
  return false;
}

template <class List>
bool has_any_request(const Words& w, const List& phrases) {
  return std::any_of(std::begin(phrases), std::end(phrases),
                     [&](std::string_view p) { return has_request(w, p); });
}

// ---- intents ------------------------------------------------------------------------------

// How a keyword counts.
enum class Kind {
  // A subject ("boleto", "sinal") counts even negated: "não recebi o boleto" is about it.
  subject,
  // A request ("reclamar", "contratar") does not count when negated ("não quero contratar").
  request,
  // The customer's cancelling: a request that does not count either when what follows is
  // not the service ("cancelar o débito automático", "cancelar a visita técnica") or when it
  // is taken back ("desisti de cancelar", "pode desconsiderar o cancelamento").
  cancel,
  // A wish for more speed ("mais velocidade") is no upgrade in a message that complains of
  // slowness or no connection: "preciso de mais velocidade, a internet tá lenta".
  more_speed,
  // Less speed than the plan's ("só chega 50"), counted only when the message names the
  // speed (kSpeedWords): "o boleto só chega dia 10" is no slowness.
  shortfall,
  // A charge the customer wants taken off ("cancela essa multa", "tira essa multa"): counted
  // only right after such a verb, negated or not, for it is about the charge either way.
  disputed,
};

struct Keyword {
  std::string_view phrase;
  int weight;
  std::string_view topic;  // empty: counts for the intent without a topic of its own
  Kind kind = Kind::subject;
};

constexpr Keyword kSuporte[] = {
    {"internet caiu", 3, "sem_conexao"},
    {"caiu", 2, "sem_conexao"},
    {"sem conexao", 3, "sem_conexao"},
    {"sem internet", 3, "sem_conexao"},
    {"sem net", 3, "sem_conexao"},
    {"net caiu", 3, "sem_conexao"},
    {"nao conecta*", 3, "sem_conexao"},
    {"nao ta conectando", 3, "sem_conexao"},
    {"nao esta conectando", 3, "sem_conexao"},
    {"desconect*", 2, "sem_conexao"},
    {"fora do ar", 3, "sem_conexao"},
    {"nao funciona", 2, "sem_conexao"},
    {"nao funcionando", 2, "sem_conexao"},
    {"nao esta funcionando", 2, "sem_conexao"},
    {"nao ta funcionando", 2, "sem_conexao"},
    {"nao estao funcionando", 2, "sem_conexao"},
    {"parou de funcionar", 3, "sem_conexao"},
    // An outage asked about: "tem alguma manutenção na minha região?", "quedas constantes".
    {"queda", 3, "sem_conexao"},
    {"quedas", 3, "sem_conexao"},
    {"manutencao na", 3, "sem_conexao"},  // "manutenção na minha região", "na rede"
    {"em manutencao", 3, "sem_conexao"},
    {"falha na regiao", 3, "sem_conexao"},
    {"previsao de volta", 3, "sem_conexao"},
    {"previsao de retorno", 3, "sem_conexao"},
    {"nao consigo acessar", 2, "sem_conexao"},
    // WhatsApp's word for the internet: "a net caiu", "a net tá lerda" (not alone: "quanto tá
    // a net de 300 mega?" is comercial's).
    {"net lenta", 2, "lentidao"},
    {"net ruim", 2, "lentidao"},
    {"conexao", 1, "sem_conexao"},
    {"conectar", 2, "sem_conexao"},  // "não consigo conectar"
    {"internet", 1, ""},
    {"suporte", 3, ""},  // the greeting's own menu word
    {"sem sinal", 3, "sem_sinal"},
    {"sinal", 2, "sem_sinal"},
    {"lento", 2, "lentidao"},
    {"lenta", 2, "lentidao"},
    {"lentidao", 3, "lentidao"},
    {"devagar", 2, "lentidao"},
    {"travando", 2, "lentidao"},
    {"velocidade baixa", 3, "lentidao"},
    {"lerda", 2, "lentidao"},
    {"lerdo", 2, "lentidao"},
    // Less speed than the plan's: "meu plano é de 300 mega mas só chega 50", "a velocidade
    // não chega nem na metade do plano" (weighing as much as "plano" and "mega" together).
    {"so chega*", 3, "lentidao", Kind::shortfall},
    {"nao chega*", 3, "lentidao", Kind::shortfall},
    {"chega so", 3, "lentidao", Kind::shortfall},
    {"nao passa de", 3, "lentidao", Kind::shortfall},
    {"nem metade", 3, "lentidao", Kind::shortfall},
    {"nem a metade", 3, "lentidao", Kind::shortfall},
    {"nem na metade", 3, "lentidao", Kind::shortfall},
    {"abaixo do contratad*", 3, "lentidao", Kind::shortfall},
    {"ta chegando", 3, "lentidao", Kind::shortfall},
    {"esta chegando", 3, "lentidao", Kind::shortfall},
    {"so vem", 3, "lentidao", Kind::shortfall},
    {"vem so", 3, "lentidao", Kind::shortfall},
    {"metade do plano", 3, "lentidao"},
    {"metade da velocidade", 3, "lentidao"},
    {"ping", 1, "lentidao"},
    {"oscil*", 2, "instabilidade"},
    {"instavel", 2, "instabilidade"},
    {"caindo", 2, "instabilidade"},
    {"wifi", 2, "wifi"},
    {"wi fi", 2, "wifi"},
    {"modem", 2, "equipamento"},
    {"roteador", 2, "equipamento"},
    {"onu", 2, "equipamento"},
    // The line itself: "o cabo da fibra arrebentou" (not "quero TV a cabo", "precisa passar
    // cabo?").
    {"cabo da fibra", 2, "equipamento"},
    {"fio da fibra", 2, "equipamento"},
    {"cabo cortado", 2, "equipamento"},
    {"fio cortado", 2, "equipamento"},
    {"arrebent*", 2, "equipamento"},
    {"rompeu", 2, "equipamento"},
    {"rompido", 2, "equipamento"},
    {"luz vermelha", 3, "equipamento"},
    // The light that means a fibre fault: support can only send a technician (weight 0: a
    // subject marker beside the words above).
    // Red only, and not negated ("não tem nenhuma luz vermelha", "a luz LOS está verde").
    {"luz vermelha", 0, "luz_vermelha", Kind::request},
    {"los vermelh*", 0, "luz_vermelha", Kind::request},
    {"los esta vermelh*", 0, "luz_vermelha", Kind::request},
    {"los ta vermelh*", 0, "luz_vermelha", Kind::request},
    {"los ficou vermelh*", 0, "luz_vermelha", Kind::request},
    // The answer to support's "se a luz LOS ficar vermelha, me avise": "ta vermelha", "a
    // luzinha do modem tá vermelha", "tá piscando vermelho".
    {"ta vermelh*", 0, "luz_vermelha", Kind::request},
    {"esta vermelh*", 0, "luz_vermelha", Kind::request},
    {"ficou vermelh*", 0, "luz_vermelha", Kind::request},
    {"piscando vermelh*", 0, "luz_vermelha", Kind::request},
    {"piscando", 1, "equipamento"},
    {"visita tecnica", 3, "visita_tecnica"},
    {"tecnico", 2, "visita_tecnica"},
};

constexpr Keyword kComercial[] = {
    {"plano", 2, "planos"},
    {"planos", 2, "planos"},
    {"contratar", 3, "contratacao", Kind::request},  // not "contrato" nor "contratei"
    {"contratacao", 3, "contratacao", Kind::request},
    {"assinar", 3, "contratacao", Kind::request},
    // The subscription named: bought, ended or paused ("não quero mais a assinatura"), so no
    // purchase by itself.
    {"assinatura", 1, ""},
    {"fazer a assinatura", 3, "contratacao", Kind::request},
    {"preco*", 2, "precos"},
    {"quanto custa", 3, "precos"},
    {"valor do plano", 3, "precos"},
    {"promoc*", 2, "precos"},
    {"oferta*", 2, "precos"},
    {"fibra", 1, "planos"},
    {"upgrade", 3, "upgrade", Kind::request},
    {"mais velocidade", 3, "upgrade", Kind::more_speed},
    {"aumentar a velocidade", 3, "upgrade", Kind::more_speed},
    {"mudar de plano", 3, "upgrade", Kind::request},
    {"trocar de plano", 3, "upgrade", Kind::request},
    // The plan changed or chosen: "quero mudar para o plano de 1 giga", "quero mudar meu
    // plano", "quero aumentar meu plano", "quero o plano de 1 giga".
    {"mudar para o plano", 3, "upgrade", Kind::request},
    {"mudar pro plano", 3, "upgrade", Kind::request},
    {"mudar meu plano", 3, "upgrade", Kind::request},
    {"mudar o meu plano", 3, "upgrade", Kind::request},
    {"trocar meu plano", 3, "upgrade", Kind::request},
    {"trocar para o plano", 3, "upgrade", Kind::request},
    {"trocar pro plano", 3, "upgrade", Kind::request},
    {"aumentar meu plano", 3, "upgrade", Kind::request},
    {"aumentar o plano", 3, "upgrade", Kind::request},
    {"aumentar o meu plano", 3, "upgrade", Kind::request},
    {"mudar para um plano", 3, "upgrade", Kind::request},
    {"mudar pra um plano", 3, "upgrade", Kind::request},
    {"trocar para um plano", 3, "upgrade", Kind::request},
    {"trocar pra um plano", 3, "upgrade", Kind::request},
    {"passar para um plano", 3, "upgrade", Kind::request},
    {"passar pra um plano", 3, "upgrade", Kind::request},
    // A change to a cheaper plan: "quero trocar meu plano por um mais barato", "quero mudar
    // para o plano de 300, tá caro" (a change, not an upgrade).
    {"mais barato", 1, "downgrade"},
    {"mais em conta", 1, "downgrade"},
    {"plano menor", 1, "downgrade"},
    {"caro", 0, "downgrade"},
    {"diminuir", 0, "downgrade"},
    {"reduzir", 0, "downgrade"},
    {"diminuir o plano", 3, "upgrade", Kind::request},
    {"diminuir meu plano", 3, "upgrade", Kind::request},
    {"reduzir o plano", 3, "upgrade", Kind::request},
    {"reduzir meu plano", 3, "upgrade", Kind::request},
    {"quero o plano", 3, "contratacao", Kind::request},
    {"quero esse plano", 3, "contratacao", Kind::request},
    {"velocidade", 1, "planos", Kind::more_speed},  // a question about it, not yet a wish
    {"mega", 1, "planos"},
    {"megas", 1, "planos"},
    {"giga", 1, "planos"},
    {"instalacao", 2, "instalacao"},
    {"instalar", 2, "instalacao"},
    {"cobertura", 2, "cobertura"},
    {"disponivel", 1, "cobertura"},
    {"combo", 1, "planos"},
    {"valor", 1, "precos"},
    // Plans asked about with "internet" in them (support's own word for it weighs 1).
    {"quanto e a internet", 3, "precos"},
    {"valor da internet", 3, "precos"},
    {"quero internet", 3, "contratacao", Kind::request},
    {"na minha rua", 2, "cobertura"},
    {"no meu bairro", 2, "cobertura"},
    {"no meu endereco", 2, "cobertura"},
    {"comercial", 3, ""},  // the greeting's own menu words
    {"vendas", 3, ""},
};

constexpr Keyword kFinanceiro[] = {
    {"boleto*", 3, "boleto"},
    {"fatura*", 3, "fatura"},
    {"segunda via", 4, "segunda_via"},
    {"2 via", 4, "segunda_via"},
    {"2a via", 4, "segunda_via"},
    {"codigo de barras", 3, "boleto"},
    {"pagamento*", 2, "pagamento"},
    {"pagar", 2, "pagamento"},
    {"paguei", 3, "pagamento"},
    {"pix", 3, "pix"},
    {"cobranca", 2, "cobranca"},
    {"cobrad*", 2, "cobranca"},
    {"cobraram", 3, "cobranca"},
    {"debito*", 2, "debito"},
    {"vencimento", 2, "vencimento"},
    {"venceu", 2, "vencimento"},
    {"conta", 1, "fatura"},
    {"desbloque*", 3, "desbloqueio"},
    // A payment made and not seen yet: "o pagamento ainda não compensou", "não foi
    // identificado" (answered as a payment made).
    {"compensou", 2, "desbloqueio"},  // not "não compensa" (not worth it)
    {"compensad*", 2, "desbloqueio"},
    {"pagamento nao identificado", 3, "desbloqueio"},
    {"pagamento nao foi identificado", 3, "desbloqueio"},
    {"nao identificaram o pagamento", 3, "desbloqueio"},
    {"nao identificou o pagamento", 3, "desbloqueio"},
    {"bloquead*", 2, "desbloqueio"},
    {"reembolso", 2, "cobranca"},
    // A bill that is wrong, not a second copy: "a fatura veio com o valor errado".
    {"valor errado", 3, "fatura_errada"},
    {"veio errad*", 3, "fatura_errada"},
    {"indevid*", 3, "fatura_errada"},
    {"em dobro", 3, "fatura_errada"},
    {"cobrado a mais", 3, "fatura_errada"},
    {"cobraram a mais", 3, "fatura_errada"},
    {"abatimento", 2, "fatura_errada"},
    {"desconto na fatura", 3, "fatura_errada"},
    {"nota fiscal", 3, "nota_fiscal"},
    {"em atraso", 2, "pagamento"},
    {"mensalidade*", 3, "fatura"},
    {"financeiro", 3, ""},  // the greeting's own menu word
    // Outweighs cancelamento's "multa", a question about the fine for cancelling.
    {"multa*", 3, "multa_contestada", Kind::disputed},
};

constexpr Keyword kCancelamento[] = {
    // The customer's own request, not "o técnico cancelou a visita".
    {"cancelar", 6, "cancelamento", Kind::cancel},
    {"cancelamento", 6, "cancelamento", Kind::cancel},
    {"cancela", 6, "cancelamento", Kind::cancel},
    {"cancele", 6, "cancelamento", Kind::cancel},
    {"cancelem", 6, "cancelamento", Kind::cancel},
    {"cancelo", 6, "cancelamento", Kind::cancel},
    // Ending the contract, not the chat ("obrigado, pode encerrar o atendimento").
    {"encerrar contrato", 6, "cancelamento", Kind::request},
    {"encerrar o contrato", 6, "cancelamento", Kind::request},
    {"encerrar meu contrato", 6, "cancelamento", Kind::request},
    {"encerrar o plano", 6, "cancelamento", Kind::request},
    {"encerrar meu plano", 6, "cancelamento", Kind::request},
    {"encerrar a internet", 6, "cancelamento", Kind::request},
    {"encerrar minha internet", 6, "cancelamento", Kind::request},
    {"encerrar o servico", 6, "cancelamento", Kind::request},
    {"encerrar minha conta", 6, "cancelamento", Kind::request},
    {"encerrar a minha conta", 6, "cancelamento", Kind::request},
    {"encerrar a conta", 6, "cancelamento", Kind::request},
    // Switching the service off for good; not the router ("desligar o roteador", "desliguei o
    // modem": support's steps).
    {"desligar minha internet", 6, "cancelamento", Kind::request},
    {"desligar a minha internet", 6, "cancelamento", Kind::request},
    {"desligar o servico", 6, "cancelamento", Kind::request},
    {"desligar meu plano", 6, "cancelamento", Kind::request},
    {"tirar a internet", 6, "cancelamento", Kind::request},
    {"tirar minha internet", 6, "cancelamento", Kind::request},
    {"tirar a minha internet", 6, "cancelamento", Kind::request},
    {"desativar o servico", 6, "cancelamento", Kind::request},
    {"desativar meu servico", 6, "cancelamento", Kind::request},
    {"desativar a internet", 6, "cancelamento", Kind::request},
    {"desativar minha internet", 6, "cancelamento", Kind::request},
    {"desativar o plano", 6, "cancelamento", Kind::request},
    {"desativar meu plano", 6, "cancelamento", Kind::request},
    {"desativar minha conta", 6, "cancelamento", Kind::request},
    {"desativar a conta", 6, "cancelamento", Kind::request},
    {"desativa minha internet", 6, "cancelamento", Kind::request},
    {"desativa a internet", 6, "cancelamento", Kind::request},
    {"desativa o plano", 6, "cancelamento", Kind::request},
    {"desativa meu plano", 6, "cancelamento", Kind::request},
    // The service wanted cancelled: "quero meu plano cancelado" (not "meu plano foi cancelado?").
    {"quero meu plano cancelado", 6, "cancelamento", Kind::request},
    {"quero o plano cancelado", 6, "cancelamento", Kind::request},
    {"quero minha internet cancelada", 6, "cancelamento", Kind::request},
    {"quero a internet cancelada", 6, "cancelamento", Kind::request},
    {"quero meu contrato cancelado", 6, "cancelamento", Kind::request},
    {"quero o contrato cancelado", 6, "cancelamento", Kind::request},
    {"quero minha assinatura cancelada", 6, "cancelamento", Kind::request},
    {"dar baixa na internet", 6, "cancelamento", Kind::request},
    {"dar baixa na minha internet", 6, "cancelamento", Kind::request},
    {"dar baixa no plano", 6, "cancelamento", Kind::request},
    {"dar baixa no meu plano", 6, "cancelamento", Kind::request},
    {"dar baixa no contrato", 6, "cancelamento", Kind::request},
    {"encerrar a assinatura", 6, "cancelamento", Kind::request},
    {"encerrar minha assinatura", 6, "cancelamento", Kind::request},
    {"desistir", 5, "cancelamento", Kind::cancel},
    {"desisto", 5, "cancelamento", Kind::cancel},
    {"rescindir", 4, "cancelamento", Kind::request},
    {"rescisao", 4, "cancelamento", Kind::request},
    // "não quero mais" about the service, not "não quero mais esperar"
    {"nao quero mais a internet", 3, "cancelamento"},
    {"nao quero mais essa internet", 3, "cancelamento"},
    {"nao quero mais o servico", 3, "cancelamento"},
    {"nao quero mais esse servico", 3, "cancelamento"},
    {"nao quero mais o plano", 3, "cancelamento"},
    {"nao quero mais esse plano", 3, "cancelamento"},
    {"nao quero mais ser cliente", 3, "cancelamento"},
    {"nao quero mais a assinatura", 3, "cancelamento"},
    {"nao quero mais essa assinatura", 3, "cancelamento"},
    {"quero sair", 3, "cancelamento", Kind::request},
    {"trocar de operadora", 4, "portabilidade", Kind::request},
    {"mudar de operadora", 4, "portabilidade", Kind::request},
    {"portabilidade", 2, "portabilidade", Kind::request},
    {"multa", 1, "multa"},
};

constexpr Keyword kOuvidoria[] = {
    {"ouvidoria", 5, "ouvidoria"},
    {"procon", 5, "procon"},
    {"anatel", 5, "anatel"},
    {"consumidor gov", 4, "consumidor_gov"},
    {"reclame aqui", 5, "reclame_aqui"},
    {"reclamac*", 3, "reclamacao", Kind::request},
    {"reclamar", 3, "reclamacao", Kind::request},
    {"denunci*", 3, "reclamacao", Kind::request},
    {"absurdo", 2, "reclamacao"},
    {"descaso", 2, "reclamacao"},
    {"desrespeito", 3, "reclamacao"},
    {"pessimo atendimento", 4, "reclamacao"},
    // The service of a person complained of: "o atendente foi grosso comigo".
    {"mal atendid*", 4, "reclamacao"},
    {"grosso", 3, "reclamacao"},
    {"grossa", 3, "reclamacao"},
    {"grosseir*", 3, "reclamacao"},
    {"atendimento pessimo", 4, "reclamacao"},
    {"insatisfeit*", 0,
     "reclamacao"},  // a subject marker: "insatisfeito com a internet" is suporte's
    {"justica", 3, "juridico"},
    {"processar", 3, "juridico", Kind::request},
    {"advogado", 3, "juridico"},
};

struct IntentTable {
  Intent intent;
  const Keyword* begin;
  const Keyword* end;
};

// In order of precedence when two intents score the same.
const IntentTable kIntentTables[] = {
    {Intent::cancelamento, std::begin(kCancelamento), std::end(kCancelamento)},
    {Intent::ouvidoria, std::begin(kOuvidoria), std::end(kOuvidoria)},
    {Intent::financeiro, std::begin(kFinanceiro), std::end(kFinanceiro)},
    {Intent::suporte, std::begin(kSuporte), std::end(kSuporte)},
    {Intent::comercial, std::begin(kComercial), std::end(kComercial)},
};

// Requests for a person, read as phrases: "falar com alguém" but not "plano para pessoa
// jurídica". Negations count ("não precisa de atendente", "sem atendente").
constexpr std::string_view kHumanPhrases[] = {
    "falar com alguem",      "falar com pessoa",      "pessoa de verdade",
    "pessoa real",           "alguem de verdade",     "atendid* por uma pessoa",
    "atendid* por pessoa",   "atendid* por alguem",   "me transfere",
    "me transfira",          "me transferir",         "transfere pra alguem",
    "transfere para alguem", "transferir pra alguem", "transferir para alguem",
    "me passa pra alguem",   "me passa para alguem",  "me passe pra alguem",
    "chama alguem",          "chame alguem"};
// A person ("atendente", "humano", "operador" but not "operadora", the carrier) counts only
// when asked for: after a request ("quero falar com o atendente", "me passa pro atendimento
// humano", "tem algum humano aí?", "chama um atendente") across the small words of
// kPersonFillers, or alone at the opening of a short clause ("ATENDENTE", "atendente, por
// favor"); not a mere mention ("o atendente de ontem disse que...").
constexpr std::string_view kPersonWords[] = {"atendente*", "humano",  "humana",     "operador",
                                             "operadores", "gerente", "supervisor*"};
constexpr std::string_view kPersonRequests[] = {
    "falar",     "fala",       "fale",    "falo",   "conversar", "quero",      "queria",
    "gostaria",  "preciso",    "precisa", "chama",  "chamar",    "chame",      "chamem",
    "passa",     "passar",     "passe",   "passem", "transfere", "transferir", "transfira",
    "encaminha", "encaminhar", "tem",     "ter",    "cade",      "pede",       "pedir",
    "peco",      "manda",      "mande",   "coloca", "colocar",   "coloque"};
// Being served, before the person: a request only when itself asked for ("me passa pro
// ATENDIMENTO humano", "quero ser ATENDIDO por um humano", "ATENDIMENTO HUMANO"), not told of
// ("o atendimento humano de vocês é péssimo", "já fui atendido por um atendente").
constexpr std::string_view kBeingServed[] = {"atendimento", "atendido", "atendida"};
// ("ser": "falar com um SER humano".)
constexpr std::string_view kPersonFillers[] = {
    "o",  "a",  "os", "as", "um",  "uma", "algum", "alguma", "com",  "pra", "pro",  "para",
    "de", "do", "da", "ao", "por", "me",  "seu",   "sua",    "logo", "ai",  "aqui", "ser"};
// Refusing the machine is asking for a person: "não quero falar com robô".
constexpr std::string_view kNoRobot[] = {
    "nao quero falar com robo*", "nao quero falar com um robo*",
    "nao quero falar com bot",   "nao quero falar com maquina",
    "nao quero robo*",           "chega de robo*"};
constexpr std::string_view kGreeting[] = {"oi",      "oii",       "oiii",      "oie", "ola",
                                          "bom dia", "boa tarde", "boa noite", "opa", "e ai",
                                          "eai",     "alo",       "hello"};
// Taking a cancellation back.
constexpr std::string_view kStayPhrases[] = {
    "nao quero mais cancelar", "nao quero cancelar",    "nao vou cancelar", "desisti de cancelar",
    "desisti do cancelamento", "mudei de ideia",        "quero continuar",  "vou continuar",
    "nao precisa cancelar",    "esquece o cancelamento"};

constexpr std::string_view kThanks[] = {"obrigad*", "obg",      "obgd*", "valeu",
                                        "vlw",      "agradec*", "grato", "grata"};
// ("falou" too, but only alone: see says_goodbye.)
constexpr std::string_view kGoodbye[] = {"tchau", "ate mais", "ate logo", "adeus"};
constexpr std::string_view kInsults[] = {
    "idiota*",       "burro*",        "burra*",       "imbecil*", "otario*",  "otaria*",
    "lixo",          "vagabund*",     "safad*",       "ladrao",   "ladroes",  "ladra*",
    "canalha*",      "merda",         "porra",        "caralho",  "desgrac*", "incompetentes",
    "vai se ferrar", "vao se ferrar", "vai tomar no", "palhacos", "cambada",  "bosta",
    "pqp",           "vsf",           "vtnc",         "tnc"};
// A lawsuit as a threat ("vou abrir um processo"), not "qual o processo para mudar de plano".
constexpr std::string_view kLegal[] = {"procon",
                                       "anatel",
                                       "consumidor gov",
                                       "reclame aqui",
                                       "justica",
                                       "processar",
                                       "abrir um processo",
                                       "abrir processo",
                                       "entrar com um processo",
                                       "entrar com processo",
                                       "mover um processo",
                                       "processo judicial",
                                       "processo contra",
                                       "advogado",
                                       "juizado",
                                       "pequenas causas"};
constexpr std::string_view kRepeated[] = {
    "de novo",      "mais uma vez", "novamente",    "ja liguei",    "ja reclamei",
    "toda hora",    "todo dia",     "varias vezes", "terceira vez", "ninguem resolve",
    "continua sem", "ainda sem",    "ate agora"};

// A payment made: "já paguei ontem pelo pix", "fiz o pagamento", "o boleto foi pago".
constexpr std::string_view kPaidPhrases[] = {
    "paguei",   "quitei",       "fiz o pagamento", "fiz o pix",           "ja pago",
    "foi pago", "ja esta pago", "ja ta pago",      "efetuei o pagamento", "pagamento feito"};
// Taking the retention offer (cancelamento's 50% for 3 months): "aceito o desconto", "quero a
// oferta", "fico com o desconto", or a bare "aceito" / "sim, topo"; not "não aceito".
constexpr std::string_view kAcceptVerbs[] = {"aceito", "aceitar", "quero",      "prefiro",
                                             "fico",   "ficar",   "aproveitar", "aproveito",
                                             "aplica", "aplicar", "topo"};
constexpr std::string_view kOffers[] = {"desconto", "oferta", "proposta"};
// What may stand beside a bare "aceito" or "fico" in its clause: "sim, aceito", "vou ficar com
// vocês"; not "vou ficar sem internet", "vou ficar esperando".
constexpr std::string_view kAroundBare[] = {
    "sim", "eu",    "entao", "vou", "quero", "com",   "voces", "vcs", "vc", "voce",
    "a",   "gente", "mesmo", "ok",  "o",     "plano", "ta",    "bom", "ai"};

bool alone_in_clause(const Words& w, std::size_t i) {
  const std::size_t begin = clause_begin(w, i);
  for (std::size_t k = begin, end = clause_end(w, begin); k < end; ++k) {
    if (k != i && !is_any(w[k], kAroundBare)) return false;
  }
  return true;
}

// Staying, said plainly: "vou ficar", "fico sim", "tá bom, vou ficar com vocês".
bool stays(const Words& w) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    if ((w[i] == "fico" || w[i] == "ficar") && !negated(w, i) && alone_in_clause(w, i)) {
      return true;
    }
  }
  return false;
}

constexpr std::string_view kArticles[] = {"o",    "a",   "um",    "uma",  "esse",
                                          "essa", "com", "desse", "dessa"};
// The customer's cancelling (Kind::cancel): what follows it must be the service, and it must
// not be taken back.
constexpr std::string_view kCancelForms[] = {"cancelar", "cancelamento", "cancela",
                                             "cancele",  "cancelem",     "cancelo"};

// Whether the clause around w[i] names cancelling: "prefiro cancelar do que aceitar a oferta".
bool clause_cancels(const Words& w, std::size_t i) {
  const std::size_t begin = clause_begin(w, i);
  for (std::size_t k = begin, end = clause_end(w, begin); k < end; ++k) {
    if (is_any(w[k], kCancelForms)) return true;
  }
  return false;
}

bool accepts_offer(const Words& w) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (!is_any(w[i], kAcceptVerbs) || negated(w, i) || clause_cancels(w, i)) continue;
    // The offer right after the verb, across articles only: "aceito o desconto", "fico com a
    // oferta"; not "quero saber da oferta".
    for (std::size_t j = i + 1; j < w.size() && j <= i + 3 && !clause_break_before(w, j); ++j) {
      if (is_any(w[j], kOffers)) return true;
      if (!is_any(w[j], kArticles)) break;
    }
    // The whole clause: "aceito", "sim, aceito", "topo sim".
    if ((w[i] == "aceito" || w[i] == "topo") && alone_in_clause(w, i)) return true;
  }
  return false;
}

// Whether `word` matches one of `patterns` (stems with '*' included).
template <class List>
bool matches_any(std::string_view word, const List& patterns) {
  return std::any_of(std::begin(patterns), std::end(patterns),
                     [&](std::string_view p) { return word_matches(word, p); });
}

// Where the words of `skip` right before w[i] begin (at most `max` of them, in w[i]'s clause):
// w[i] itself when there are none.
template <class List>
std::size_t skip_back(const Words& w, std::size_t i, const List& skip, std::size_t max) {
  std::size_t j = i;
  while (j > 0 && i - j < max && !clause_break_before(w, j) && is_any(w[j - 1], skip)) --j;
  return j;
}

// Whether only courtesy follows w[i] in its clause ("atendente, por favor", "HUMANO URGENTE").
bool courtesy_after(const Words& w, std::size_t i) {
  constexpr std::string_view kTail[] = {"por",   "favor", "pf", "pfv",  "pfvr", "urgente",
                                        "agora", "ja",    "ai", "aqui", "logo", "rapido"};
  for (std::size_t k = i + 1; k < w.size() && !clause_break_before(w, k); ++k) {
    if (!is_any(w[k], kTail)) return false;
  }
  return true;
}

// Whether the person word at w[i] is asked for (see kPersonWords).
bool person_asked_at(const Words& w, std::size_t i) {
  const std::size_t j = skip_back(w, i, kPersonFillers, 4);
  if (j > 0 && !clause_break_before(w, j)) {
    if (!is_any(w[j - 1], kBeingServed)) return is_any(w[j - 1], kPersonRequests);
    // Being served, itself asked for, or opening the clause with nothing before it.
    const std::size_t s = j - 1;
    const std::size_t r = skip_back(w, s, kPersonFillers, 4);
    if (r > 0 && !clause_break_before(w, r)) return is_any(w[r - 1], kPersonRequests);
    return r == s && courtesy_after(w, i);
  }
  // Opening its clause: only the word itself, and only courtesy after it, not "o atendente
  // de ontem disse...".
  return j == i && courtesy_after(w, i);
}

// "uma pessoa" is asked for only right after a request ("quero falar com uma pessoa", "me
// passa pra uma pessoa"), not in "falei com uma pessoa ontem" or "um plano para uma pessoa
// que trabalha em casa"; "tem uma pessoa aqui usando meu wifi" is no request either.
constexpr std::string_view kPersonPhrases[] = {
    "com uma pessoa", "com alguma pessoa", "pra uma pessoa", "para uma pessoa", "de uma pessoa"};

// "uma pessoa" bare, right after wanting one ("quero uma pessoa", "preciso uma pessoa"), and
// not one sent somewhere ("quero uma pessoa aqui pra instalar o ponto", "manda uma pessoa em
// casa": a technician's visit, suporte's to arrange).
bool bare_person_wanted(const Words& w, std::size_t i) {
  constexpr std::string_view kWants[] = {"quero", "queria", "preciso", "gostaria"};
  constexpr std::string_view kPlaces[] = {"aqui", "ai", "la", "em", "na", "no", "ate"};
  if (i == 0 || match_at(w, i, "uma pessoa") == 0 || clause_break_before(w, i)) return false;
  if (!is_any(w[i - 1], kWants) || negated(w, i) || negated_after(w, i + 2)) return false;
  return i + 2 >= w.size() || clause_break_before(w, i + 2) || !is_any(w[i + 2], kPlaces);
}

bool person_phrase_asked(const Words& w) {
  // Between the request and the phrase: small words and a few adverbs ("quero falar AGORA com
  // uma pessoa", "posso falar DIRETO com uma pessoa?").
  constexpr std::string_view kBetween[] = {"agora", "urgente", "direto", "diretamente", "logo",
                                           "ja",    "me",      "so",     "aqui",        "ai"};
  for (std::size_t i = 1; i < w.size(); ++i) {
    if (bare_person_wanted(w, i)) return true;
    std::size_t phrase = 0;
    for (std::string_view p : kPersonPhrases) phrase = std::max(phrase, match_at(w, i, p));
    if (phrase == 0 || clause_break_before(w, i) || negated(w, i) || negated_after(w, i + phrase)) {
      continue;
    }
    const std::size_t j = skip_back(w, i, kBetween, 3);
    if (j > 0 && !clause_break_before(w, j) && is_any(w[j - 1], kPersonRequests) &&
        w[j - 1] != "tem" && w[j - 1] != "ter") {
      return true;
    }
  }
  return false;
}

bool asks_for_person(const Words& w) {
  if (has_any(w, kNoRobot) || has_any_request(w, kHumanPhrases) || person_phrase_asked(w)) {
    return true;
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (matches_any(w[i], kPersonWords) && person_asked_at(w, i) && !negated(w, i) &&
        !negated_after(w, i + 1)) {
      return true;
    }
  }
  return false;
}

// What a customer cancels that is not the service: "cancelar o débito automático", "cancelar
// a visita técnica de amanhã", "desistir do pedido".
// A charge, fee or fine is not the service either: "quero cancelar essa cobrança", "cancela
// essa multa", "cancelar os juros". Nor a change asked for: "cancelar a instalação", "cancela
// a mudança de plano que pedi", "cancelar o upgrade", "cancelar o cartão cadastrado".
constexpr std::string_view kNotTheService[] = {
    "debito*",  "boleto*", "fatura*",    "visita*",    "agendament*", "pedido*",
    "chamado*", "compra*", "pagamento*", "protocolo*", "reclamac*",   "cobranc*",
    "taxa*",    "multa*",  "juros",      "tarifa*",    "instalac*",   "mudanc*",
    "upgrade*", "troca",   "cartao*",    "cartoes"};
constexpr std::string_view kCancelFillers[] = {
    "o",      "a",      "os",    "as",    "meu",  "minha", "meus",  "minhas",
    "esse",   "essa",   "esses", "essas", "este", "esta",  "estes", "estas",
    "aquele", "aquela", "do",    "da",    "dos",  "das",   "de",    "um",
    "uma",    "seu",    "sua",   "seus",  "suas", "so",    "tambem"};
// Taking a cancellation back: "desisti de cancelar", "pode desconsiderar o cancelamento".
constexpr std::string_view kRetractions[] = {"desisti",      "desisto", "desistir", "desistimos",
                                             "desconsider*", "esquece", "esqueca",  "ignora",
                                             "ignore",       "ignorar", "retir*"};
constexpr std::string_view kRetractionFillers[] = {
    "de", "do", "da", "o", "a", "meu", "minha", "esse", "essa", "pedido", "ideia", "solicitacao"};

bool cancel_counts_at(const Words& w, std::size_t i, std::size_t n) {
  if (negated(w, i) || negated_after(w, i + n)) return false;
  std::size_t j = i + n;
  while (j < w.size() && j < i + n + 3 && !clause_break_before(w, j) &&
         is_any(w[j], kCancelFillers)) {
    ++j;
  }
  if (j < w.size() && !clause_break_before(w, j) &&
      (matches_any(w[j], kNotTheService) || is_any(w[j], kCancelForms))) {
    return false;  // "cancelar o débito", "desistir do cancelamento"
  }
  for (std::size_t k = i; k > 0 && k + 4 > i && !clause_break_before(w, k); --k) {
    if (matches_any(w[k - 1], kRetractions)) return false;
    if (!is_any(w[k - 1], kRetractionFillers)) break;
  }
  return true;
}

// Verbs that ask for a charge to be taken off (Kind::disputed), before up to three fillers.
constexpr std::string_view kDisputeVerbs[] = {
    "cancelar", "cancela",  "cancele", "cancelem", "cancelo",   "cancelamento", "tirar",
    "tira",     "tire",     "tirem",   "retirar",  "retira",    "retire",       "remover",
    "remove",   "remova",   "isentar", "isenta",   "isente",    "abonar",       "abona",
    "abone",    "estornar", "estorna", "estorne",  "contestar", "contesto",     "perdoar",
    "anular",   "anula",    "anule",   "retirada", "estorno",   "isencao"};

bool has_disputed(const Words& w, std::string_view phrase) {
  for (std::size_t i = 1; i < w.size(); ++i) {
    if (match_at(w, i, phrase) == 0) continue;
    const std::size_t j = skip_back(w, i, kCancelFillers, 3);
    if (j > 0 && !clause_break_before(w, j) && is_any(w[j - 1], kDisputeVerbs)) return true;
  }
  return false;
}

bool has_cancel(const Words& w, std::string_view phrase) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    const auto n = match_at(w, i, phrase);
    if (n > 0 && cancel_counts_at(w, i, n)) return true;
  }
  return false;
}

// The speed named: what Kind::shortfall needs ("só chega 50" about the plan's megas).
constexpr std::string_view kSpeedWords[] = {"mega*",      "mb",    "mbps",   "giga*",
                                            "velocidade", "plano", "planos", "contratad*",
                                            "download",   "upload"};

bool names_speed(const Words& w) {
  return std::any_of(w.begin(), w.end(),
                     [](std::string_view word) { return matches_any(word, kSpeedWords); });
}

// A complaint of slowness or no connection ("a internet tá lenta", "caiu"): then a wish for
// more speed is the speed the customer pays for, not an upgrade.
bool complains_of_slowness(const Words& w) {
  return std::any_of(std::begin(kSuporte), std::end(kSuporte), [&](const Keyword& k) {
    return k.weight >= 2 && (k.topic == "lentidao" || k.topic == "sem_conexao") &&
           (k.kind != Kind::shortfall || names_speed(w)) && has(w, k.phrase);
  });
}

// ---- sentiment ----------------------------------------------------------------------------

struct Weighted {
  std::string_view phrase;
  double weight;
};

constexpr Weighted kSentimentWords[] = {
    // phrases that are not sentiment at all, so their words are not read alone
    {"bom dia", 0},
    {"boa tarde", 0},
    {"boa noite", 0},
    {"tudo bem", 0},
    {"tudo bom", 0},
    {"nao sei", 0},
    {"sem problema*", 0},
    {"nenhum problema", 0},
    // negative phrases (read before their words)
    {"nao funciona*", -1},
    {"nao esta funcionando", -1},
    {"nao ta funcionando", -1},
    {"nao estao funcionando", -1},
    // no complaint at all, though "reclamar" stands far from its "não"
    {"nao tenho do que reclamar", 1},
    {"nao tenho o que reclamar", 1},
    {"nada a reclamar", 1},
    {"nao conecta*", -1},
    {"nao ta conectando", -1},
    {"nao esta conectando", -1},
    {"nao consigo", -1},
    {"nao aguento", -2},
    {"nao resolve*", -2},
    {"ninguem resolve", -2},
    {"sem internet", -1},
    {"sem net", -1},
    {"sem conexao", -1},
    {"sem sinal", -1},
    {"nao gostei", -1.5},
    {"nao recomendo", -2},
    {"pessimo atendimento", -2.5},
    // strong negative
    {"pessim*", -2},
    {"horrivel", -2},
    {"horroroso", -2},
    {"absurd*", -2},
    {"lixo", -2},
    {"vergonha*", -2},
    {"ridicul*", -2},
    {"raiva", -2},
    {"odeio", -2},
    {"odio", -2},
    {"palhacada", -2},
    {"descaso", -2},
    {"saco cheio", -2},
    {"cansei", -1.5},
    {"perdi a paciencia", -2},
    {"incompet*", -2},
    {"inaceitavel", -2},
    {"revoltad*", -2},
    {"indignad*", -2},
    {"irritad*", -2},
    {"porcaria", -2},
    {"nojo", -2},
    {"furios*", -2},
    {"decepcion*", -2},
    {"desrespeito", -2},
    {"enganad*", -2},
    {"roubo", -2},
    {"idiota*", -2},
    {"merda", -2},
    {"bosta", -2},
    {"porra", -2},
    {"caralho", -2},
    {"pqp", -2},
    {"vsf", -2},
    {"vtnc", -2},
    {"tnc", -2},
    // mild negative
    {"ruim", -1},
    {"problema*", -1},
    {"caiu", -1},
    {"caindo", -1},
    {"lento", -1},
    {"lenta", -1},
    {"lentidao", -1},
    {"travando", -1},
    {"demor*", -1},
    {"chatead*", -1},
    {"insatisfeit*", -1},
    {"reclam*", -1},
    {"pior", -1},
    {"erro", -1},
    {"falha*", -1},
    {"defeito", -1},
    {"triste", -1},
    {"cansad*", -1},
    {"preocupad*", -1},
    {"infelizmente", -1},
    {"parou", -1},
    {"oscil*", -1},
    {"instavel", -1},
    {"caro", -1},
    {"cara", 0},  // "a cara" / "cara" as slang: neutral
    // positive
    {"muito bom", 1.5},
    {"muito boa", 1.5},
    {"deu certo", 1},
    {"tudo certo", 1},
    {"bom", 1},
    {"boa", 1},
    {"obrigad*", 1},
    {"valeu", 1},
    {"vlw", 1},
    {"obg", 1},
    {"obgd*", 1},
    {"agradec*", 1},
    {"gostei", 1},
    {"adorei", 2},
    {"amei", 2},
    {"otim*", 2},
    {"excelente", 2},
    {"perfeit*", 2},
    {"maravilh*", 2},
    {"parabens", 2},
    {"resolvid*", 1},
    {"resolveu", 1},
    {"funcionou", 1},
    {"show", 1},
    {"top", 1},
    {"legal", 1},
    {"feliz", 1},
    {"satisfeit*", 1},
    {"rapido", 0.5},
    {"eficiente", 1},
    {"recomendo", 1.5},
};

double round2(double v) {
  return std::round(v * 100.0) / 100.0;
}

// A word that flips the sentiment after it: the negators and "nada" ("nada resolvido").
bool sentiment_negator(const Words& w, std::size_t i) {
  return negator_at(w, i) || w[i] == "nada";
}

// Thanks or a greeting at w[i]: politeness, whatever comes before it.
bool courtesy_at(const Words& w, std::size_t i) {
  const auto at = [&](std::string_view p) { return match_at(w, i, p) > 0; };
  return std::any_of(std::begin(kThanks), std::end(kThanks), at) ||
         std::any_of(std::begin(kGreeting), std::end(kGreeting), at);
}

SentimentScore sentiment_of(const Words& w) {
  double sum = 0;
  std::vector<bool> consumed(w.size(), false);
  for (std::size_t i = 0; i < w.size(); ++i) {
    std::size_t best = 0;
    double weight = 0;
    for (const auto& entry : kSentimentWords) {
      const auto n = match_at(w, i, entry.phrase);
      if (n > best) {
        best = n;
        weight = entry.weight;
      }
    }
    if (best == 0) continue;
    for (std::size_t k = i; k < i + best; ++k) consumed[k] = true;
    // A negator just before flips the word or phrase: "não gostei" reads negative, "não é
    // ruim" mildly positive, "não deu certo" and "não está muito boa" negative, "nada
    // resolvido" too. Phrases that hold their own negation ("não funciona", "nada a
    // reclamar") are whole. Thanks and greetings are never flipped, and a comma ends the
    // negation: "Não, obrigado".
    bool negated = false;
    if (weight != 0 && !sentiment_negator(w, i) && !courtesy_at(w, i)) {
      for (std::size_t k = 1; k <= 2 && k <= i && !clause_break_before(w, i - k + 1); ++k) {
        if (!consumed[i - k] && sentiment_negator(w, i - k)) negated = true;
      }
    }
    if (negated) weight = weight > 0 ? -weight : -weight / 2;
    sum += weight;
    i += best - 1;
  }
  SentimentScore s;
  s.score = round2(sum / (std::fabs(sum) + 2.0));
  if (s.score <= -0.2) {
    s.label = Sentiment::negative;
  } else if (s.score >= 0.2) {
    s.label = Sentiment::positive;
  }
  return s;
}

// ---- courtesy -----------------------------------------------------------------------------

// "falou" says goodbye alone in its clause ("falou!", "valeu, falou", "falou então"), not as
// "said": "a moça falou que ia me ligar e até agora nada".
bool says_goodbye(const Words& w) {
  if (has_any(w, kGoodbye)) return true;
  constexpr std::string_view kAround[] = {"falou", "entao", "ai", "tchau"};
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] != "falou") continue;
    const std::size_t begin = clause_begin(w, i);
    bool alone = true;
    for (std::size_t k = begin, end = clause_end(w, begin); k < end; ++k) {
      if (!is_any(w[k], kAround) && !matches_any(w[k], kThanks)) alone = false;
    }
    if (alone) return true;
  }
  return false;
}

// The trouble going on: "continua igual", "ainda não voltou".
// (Not "continua" alone: "obrigada, continua assim" is praise.)
constexpr std::string_view kStill[] = {
    "continua sem", "continua caindo", "continua lent*",   "continua travando", "continua ruim",
    "continua com", "continua dando",  "continua o mesmo", "continua a mesma",  "continuo sem",
    "continuo com", "igual",           "mesmo problema",   "mesma coisa",       "ainda nao",
    "ainda sem",    "ainda ta",        "ainda esta"};

// Whether a thanks or a goodbye goes on with the trouble ("obrigado, mas não resolveu",
// "valeu, mas continua igual"): the rest of the message reads negative or says it goes on.
// Then it is no courtesy to answer with "Por nada!"; "obrigado, mas não precisa" still is.
bool trouble_goes_on(const Words& w) {
  if (has_any(w, kStill)) return true;
  Words rest;
  for (const auto word : w) {
    if (!matches_any(word, kThanks) && word != "tchau" && word != "falou" && word != "adeus") {
      rest.push_back(word);
    }
  }
  return sentiment_of(rest).label == Sentiment::negative;
}

// The connection back: "deu certo", "funcionou", "voltou" (not "voltou a cair").
constexpr std::string_view kResolved[] = {"funcionou",      "ja funciona", "esta funcionando",
                                          "ta funcionando", "resolveu",    "resolvido",
                                          "resolvida",      "normalizou",  "deu certo"};
// What may stand beside it in its clause: "a internet voltou", "já reiniciei e voltou",
// "deu certo aqui", "tá funcionando de novo"; not "o técnico voltou", "no cabo tá funcionando"
// (the Wi-Fi not), "quero isso resolvido".
constexpr std::string_view kAroundResolved[] = {
    "a",     "o",         "internet",   "net",    "conexao", "sinal",     "wifi",   "tudo",
    "ja",    "aqui",      "agora",      "sim",    "de",      "novo",      "certo",  "ok",
    "entao", "funcionar", "ao",         "normal", "e",       "reiniciei", "depois", "que",
    "minha", "enfim",     "finalmente", "fiz",    "isso",    "desliguei", "liguei"};
// Received: "recebi o boleto", "chegou a fatura", "consegui baixar a fatura" (not "chegou com
// cobrança indevida").
constexpr std::string_view kReceived[] = {"recebi", "chegou", "consegui", "recebido"};
constexpr std::string_view kNotReceived[] = {"com",   "sem",   "errad*", "indevid*",
                                             "dobro", "valor", "mas",    "nada"};
// Who did not do it: "ninguém resolveu", "nada funcionou".
constexpr std::string_view kNobody[] = {"ninguem", "nada", "nem", "nenhum", "nenhuma"};

// Whether the clause [begin, end) says the connection is back, and nothing else.
bool clause_resolved(const Words& w, std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) {
    std::size_t n = w[i] == "voltou" ? 1 : 0;
    for (const auto p : kResolved) n = std::max(n, match_at(w, i, p));
    if (n == 0 || negated(w, i) || (i > begin && is_any(w[i - 1], kNobody))) continue;
    // Every other word small ("voltou a funcionar"; not "voltou a cair", "o técnico voltou").
    bool only = true;
    for (std::size_t k = begin; k < end && only; ++k) {
      only = (k >= i && k < i + n) || is_any(w[k], kAroundResolved);
    }
    if (only) return true;
  }
  return false;
}

// Whether the clause [begin, end) says something asked for came: "recebi o boleto".
bool clause_received(const Words& w, std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) {
    if (!is_any(w[i], kReceived) || negated(w, i) || (i > begin && is_any(w[i - 1], kNobody))) {
      continue;
    }
    if (end - begin > 6) return false;
    for (std::size_t k = begin; k < end; ++k) {
      if (matches_any(w[k], kNotReceived)) return false;
    }
    return true;
  }
  return false;
}

constexpr std::string_view kBut[] = {"mas", "porem", "so que", "entretanto", "contudo", "pois"};
constexpr std::string_view kCourtesy[] = {
    "muito", "mto", "mt", "ok", "blz", "beleza", "sim", "ta", "certo", "perfeito", "otimo", "otima",
    "otimos", "entao", "tchau", "bom", "boa", "dia", "tarde", "noite", "voces", "vcs", "sao",
    "excelente", "show", "top", "demais",
    // a goodbye, or what the customer does next: "obrigado pelo boleto, vou pagar amanhã",
    // "obrigada pela fatura, tenha um bom dia", "até mais"
    "tenha", "um", "uma", "ate", "mais", "logo", "deus", "abencoe", "qualquer", "coisa", "chamo",
    "vou", "pagar", "pago", "hoje", "amanha", "testar", "pensar", "aguardar", "aqui", "eu", "a",
    "o", "de", "com"};

// Whether every word of the clause [begin, end) is thanks or courtesy.
bool clause_courtesy(const Words& w, std::size_t begin, std::size_t end) {
  for (std::size_t k = begin; k < end; ++k) {
    if (!matches_any(w[k], kThanks) && !is_any(w[k], kCourtesy)) return false;
  }
  return true;
}

// The connection back, said plainly: every clause says so or is courtesy, no "mas" ("deu
// certo, mas o wifi não pega"); a clause with anything else ("quero isso resolvido", "no cabo
// tá funcionando, no wifi não") is no such news.
bool says_resolved(const Words& w) {
  if (trouble_goes_on(w) || has_any(w, kBut)) return false;
  bool done = false;
  for (std::size_t begin = 0; begin < w.size();) {
    const std::size_t end = clause_end(w, begin);
    const bool resolved = clause_resolved(w, begin, end);
    if (!resolved && !clause_courtesy(w, begin, end)) return false;
    done = done || resolved;
    begin = end;
  }
  return done;
}

// The trouble still there after support's steps (with kStill).
// (Not a bare "igual" nor "ainda não": "igual no cabo e no wifi", "ainda não testei".)
constexpr std::string_view kPersists[] = {"continua sem",
                                          "continua caindo",
                                          "continua lent*",
                                          "continua travando",
                                          "continua ruim",
                                          "continua dando",
                                          "continua o mesmo",
                                          "continua a mesma",
                                          "continua igual",
                                          "continuo sem",
                                          "tudo igual",
                                          "mesmo problema",
                                          "mesma coisa",
                                          "ainda nao voltou",
                                          "ainda nao funciona*",
                                          "ainda nao conect*",
                                          "ainda nao resolv*",
                                          "ainda sem",
                                          "nao voltou",
                                          "ja reiniciei",
                                          "ja desliguei",
                                          "ja fiz isso",
                                          "ja fiz tudo",
                                          "nada ainda",
                                          "e nada",
                                          "nada feito",
                                          "nao adiantou",
                                          "nao resolveu",
                                          "nao mudou"};

// In a collection: the debt disputed, no more messages, or a deal.
constexpr std::string_view kContests[] = {
    "nao reconheco",     "desconheco",        "nao devo nada", "nao devo isso", "nao devo essa",
    "nao devo esse",     "nunca fui cliente", "golpe",         "fraude",        "nao e do titular",
    "nao sou o titular", "faleceu",           "que divida",    "nao fiz essa",  "nao contratei"};
constexpr std::string_view kStopContact[] = {
    "para de me mandar", "pare de me mandar", "parem de me mandar", "para de mandar",
    "parem de mandar",   "para de me ligar",  "parem de me ligar",  "nao quero mais receber",
    "nao me mande mais", "nao mandem mais",   "me tira da lista",   "me tirem da lista"};

// No more collection messages at all, asked for: a stop ("parem de me mandar", "não quero mais
// receber", "não me mandem mais") of messages or collections named in the words after it, in
// the same clause ("parem de me mandar mensagem", "não quero mais receber essas mensagens de
// cobrança", "não me mande mais sms"), or "me tira da lista" with no other list named. Not
// another hour or channel wanted ("para de mandar mensagem às 7, manda depois das 9", "…só por
// email"), a call ("parem de me ligar"), a charge disputed ("parem de me cobrar juros"), nor
// another list ("me tira da lista do serasa"): only this is kept by collections for good.
bool stops_messages(const Words& w) {
  constexpr std::string_view kStop[] = {
      "parem de me mandar", "para de me mandar",      "pare de me mandar",
      "parem de mandar",    "para de mandar",         "pare de mandar",
      "parem de me enviar", "para de me enviar",      "pare de me enviar",
      "parem de enviar",    "nao quero mais receber", "nao quero receber mais",
      "nao me mande mais",  "nao me mandem mais",     "nao mandem mais",
      "nao me envie mais",  "nao me enviem mais",     "nao enviem mais"};
  // What is stopped: messages; collections ("cobrança") only with nothing after it but where
  // and to whom ("não quero mais receber cobrança de vocês", not "…cobrança duplicada", a
  // charge disputed).
  constexpr std::string_view kWhat[] = {"mensage*", "msg*", "sms"};
  constexpr std::string_view kCobrancaTail[] = {
      "de", "vcs", "voces", "nesse", "neste",    "numero", "por",  "favor", "aqui", "pfv",
      "pf", "no",  "pelo",  "whats", "whatsapp", "zap",    "mais", "nunca", "desse"};
  // Another kind of message: not collections' ("mensagem de promoção").
  constexpr std::string_view kOther[] = {"promoc*", "propaganda*", "marketing", "oferta*",
                                         "publicidade"};
  // A time of day or week in the stop's clause: when, not whether ("…em horário de trabalho",
  // "…de madrugada", "…no domingo").
  constexpr std::string_view kWhen[] = {
      "em horario", "no horario", "horario de", "horario comercial", "de madrugada",
      "de manha",   "a noite",    "de noite",   "fim de semana",     "domingo",
      "sabado",     "feriado",    "cedo",       "tarde da noite"};
  constexpr std::size_t kNear = 3;  // words between the stop and what it stops
  bool stop = false;
  for (std::size_t i = 0; i < w.size() && !stop; ++i) {
    std::size_t n = 0;
    for (const auto phrase : kStop) n = std::max(n, match_at(w, i, phrase));
    if (n == 0) continue;
    const std::size_t end = clause_end(w, i);
    bool named = false;
    for (std::size_t k = i + n; k < end && k <= i + n + kNear && !named; ++k) {
      if (std::any_of(std::begin(kWhat), std::end(kWhat),
                      [&](std::string_view what) { return word_matches(w[k], what); })) {
        named = true;
      } else if (word_matches(w[k], "cobranca*")) {
        named = std::all_of(w.begin() + static_cast<std::ptrdiff_t>(k + 1),
                            w.begin() + static_cast<std::ptrdiff_t>(end),
                            [&](std::string_view t) { return is_any(t, kCobrancaTail); });
      }
    }
    bool other = false;
    for (std::size_t k = clause_begin(w, i); k < end && named && !other; ++k) {
      other = std::any_of(std::begin(kOther), std::end(kOther),
                          [&](std::string_view o) { return word_matches(w[k], o); }) ||
              std::any_of(std::begin(kWhen), std::end(kWhen),
                          [&](std::string_view t) { return match_at(w, k, t) > 0; });
    }
    stop = named && !other;
  }
  for (std::size_t i = 0; i < w.size() && !stop; ++i) {
    std::size_t n =
        std::max(match_at(w, i, "me tira da lista"), match_at(w, i, "me tirem da lista"));
    n = std::max({n, match_at(w, i, "me tire da lista"), match_at(w, i, "tira meu numero"),
                  match_at(w, i, "tirem meu numero")});
    if (n == 0) continue;
    // "…da lista" at the clause's end, or "…de cobrança", "…de contatos": this company's.
    const std::size_t k = i + n;
    stop = k >= w.size() || clause_break_before(w, k) || match_at(w, k, "de cobranca") > 0 ||
           match_at(w, k, "de contato*") > 0 || match_at(w, k, "de vcs") > 0 ||
           match_at(w, k, "de voces") > 0;
  }
  // Another time or channel asked for, anywhere in the message: not a stop for good.
  constexpr std::string_view kRedirect[] = {
      "depois das", "antes das",  "so depois",    "outro horario", "prefiro",    "so por email",
      "por email",  "pelo email", "no email",     "por e mail",    "manda aqui", "mande aqui",
      "manda por",  "mande por",  "manda pelo",   "mande pelo",    "manda no",   "mande no",
      "manda so",   "mande so",   "manda depois", "mande depois",  "mandem no"};
  return stop && !has_any(w, kRedirect);
}

// A part of the debt proposed: to pay, or paid now (not "a metade da fatura é multa", "já
// paguei metade", "a outra metade do meu salário").
constexpr std::string_view kPartialPayment[] = {
    "pagar metade",      "pago metade",     "pagar a metade",  "pago a metade",
    "pagarei metade",    "quito metade",    "dou metade",      "pix de metade",
    "so tenho metade",   "metade agora",    "metade hoje",     "pagar uma parte",
    "pago uma parte",    "uma parte agora", "uma parte hoje",  "pago parte agora",
    "pagar parte agora", "dar uma entrada", "dou uma entrada", "uma entrada de"};
constexpr std::string_view kNegotiates[] = {"parcel*",   "negoci*",      "renegoci*",
                                            "um acordo", "fazer acordo", "desconto para pagar",
                                            "dividir"};

// A thank-you that closes, though it names a subject: for what was done ("obrigado pelo
// boleto", "valeu pela ajuda com a internet") or with it done ("obrigado, a internet voltou",
// "obrigada, já recebi o boleto"). Every clause is thanks, courtesy or the thing done; no "mas"
// ("obrigado, mas não chegou"), no other clause ("obrigado pela atenção, segunda via por
// favor", "obrigado pelo retorno, o técnico não veio").
bool closes_with_thanks(const Words& w) {
  if (!has_any(w, kThanks) || trouble_goes_on(w) || has_any(w, kBut)) return false;
  constexpr std::string_view kFor[] = {"pelo", "pela", "pelos", "pelas", "por"};
  bool done = false;
  for (std::size_t begin = 0; begin < w.size();) {
    const std::size_t end = clause_end(w, begin);
    bool thanks_for = false;
    for (std::size_t k = begin; k + 1 < end; ++k) {
      if (matches_any(w[k], kThanks) && is_any(w[k + 1], kFor)) thanks_for = true;
    }
    const bool resolved = clause_resolved(w, begin, end) || clause_received(w, begin, end);
    if (!thanks_for && !resolved && !clause_courtesy(w, begin, end)) return false;
    done = done || thanks_for || resolved;
    begin = end;
  }
  return done;
}

// ---- urgency ------------------------------------------------------------------------------

constexpr Weighted kUrgencyWords[] = {
    {"urgente", 2},        {"urgencia", 2},      {"emergencia*", 2},
    {"imediatamente", 2},  {"agora", 1},         {"hoje", 1},
    {"o quanto antes", 1}, {"o mais rapido", 1}, {"preciso trabalhar", 1},
    {"home office", 1},    {"ja ja", 1},
};

int urgency_points(std::string_view raw, const Words& w, int negative_streak) {
  // A repeated complaint counts once: its words ("agora" in "até agora") not again alone.
  std::vector<bool> repeated(w.size(), false);
  for (std::size_t i = 0; i < w.size(); ++i) {
    for (const auto phrase : kRepeated) {
      const auto n = match_at(w, i, phrase);
      for (std::size_t k = i; k < i + n; ++k) repeated[k] = true;
    }
  }
  const auto in_repeated = [&](std::size_t i, std::size_t n) {
    for (std::size_t k = i; k < i + n; ++k) {
      if (repeated[k]) return true;
    }
    return false;
  };
  int points = 0;
  // "hoje" and "agora" say when, and together count once: "Hoje de manhã a internet caiu e
  // agora voltou" is no emergency.
  int when = 0;
  for (const auto& entry : kUrgencyWords) {
    for (std::size_t i = 0; i < w.size(); ++i) {
      const auto n = match_at(w, i, entry.phrase);
      if (n > 0 && !in_repeated(i, n)) {
        if (entry.phrase == "agora" || entry.phrase == "hoje") {
          when = 1;
        } else {
          points += static_cast<int>(entry.weight);
        }
        break;
      }
    }
  }
  points += when;
  int run = 0;
  int longest = 0;
  int total = 0;
  int letters = 0;
  int upper = 0;
  for (char c : raw) {
    if (c == '!') {
      ++total;
      longest = std::max(longest, ++run);
    } else {
      run = 0;
    }
    if (c >= 'A' && c <= 'Z') {
      ++letters;
      ++upper;
    } else if (c >= 'a' && c <= 'z') {
      ++letters;
    }
  }
  if (longest >= 3) ++points;
  if (total >= 6) ++points;
  if (std::find(repeated.begin(), repeated.end(), true) != repeated.end()) ++points;
  if (negative_streak >= 3) ++points;
  if (negative_streak >= 5) ++points;
  // SHOUTING only adds to other signals: some customers write everything in capitals, and
  // "BOA TARDE, MINHA INTERNET CAIU HOJE" is a plain problem report.
  if (points >= 2 && letters >= 6 && upper * 10 >= letters * 8) ++points;
  return points;
}

Urgency urgency_from_points(int points) {
  if (points >= 4) return Urgency::urgent;
  if (points >= 2) return Urgency::high;
  return Urgency::normal;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

SentimentScore score_sentiment(std::string_view folded) {
  return sentiment_of(domain::words(folded));
}

Urgency score_urgency(std::string_view raw, std::string_view folded, int negative_streak) {
  return urgency_from_points(urgency_points(raw, domain::words(folded), negative_streak));
}

std::optional<std::string> find_cep(std::string_view raw, bool alone_ok) {
  const std::size_t n = raw.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(raw[i]) || (i > 0 && is_digit(raw[i - 1]))) continue;
    std::size_t j = i;
    while (j < n && is_digit(raw[j])) ++j;
    const std::size_t run = j - i;
    std::string digits(raw.substr(i, run));
    std::size_t end = j;
    if (run == 5 && j + 4 <= n && raw[j] == '-' && is_digit(raw[j + 1]) && is_digit(raw[j + 2]) &&
        is_digit(raw[j + 3])) {
      digits += raw.substr(j + 1, 3);  // 01310-100
      end = j + 4;
    } else if (run == 2 && j + 8 <= n && raw[j] == '.' && is_digit(raw[j + 1]) &&
               is_digit(raw[j + 2]) && is_digit(raw[j + 3]) && raw[j + 4] == '-' &&
               is_digit(raw[j + 5]) && is_digit(raw[j + 6]) && is_digit(raw[j + 7])) {
      digits += raw.substr(j + 1, 3);  // 01.310-100
      digits += raw.substr(j + 5, 3);
      end = j + 8;
    } else if (run == 8 && alone_ok && core::trim(raw) == raw.substr(i, run)) {
      // Eight digits alone are the answer to "qual é o seu CEP?".
    } else if (run == 8) {
      // Eight bare digits count only right after the word "CEP".
      const std::size_t from = i >= 8 ? i - 8 : 0;
      std::string before = domain::fold(raw.substr(from, i - from));
      if (before.find("cep") == std::string::npos) {
        i = j;
        continue;
      }
    } else {
      i = j;
      continue;
    }
    if (end < n && is_digit(raw[end])) {
      i = end;
      continue;
    }
    if (digits.size() == 8) return digits;
    i = end;
  }
  return std::nullopt;
}

namespace {

// The value of `word` if it is 1..max_digits digits, else -1.
int number(std::string_view word, std::size_t max_digits) {
  if (word.empty() || word.size() > max_digits) return -1;
  int n = 0;
  for (char c : word) {
    if (!is_digit(c)) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// Whether a lone '/' joins w[i] to the word before it ("10/06").
bool slash_before(const Words& w, std::size_t i) {
  return between(w, i) == "/";
}

}  // namespace

std::optional<PaymentWhen> find_payment_when(std::string_view folded, bool day_asked) {
  const auto w = domain::words(folded);
  // Verbs that promise a payment ("vou pagar", "pago dia 20"), not "pagamento" nor "paguei".
  constexpr std::string_view kPay[] = {"pagar", "pago",     "pagarei", "pagaria", "quitar",
                                       "quito", "quitarei", "acertar", "acerto"};
  // Making the payment, to come: "vou fazer o pagamento dia 12", "faço o pix dia 10" (not
  // "fiz o pix dia 10").
  constexpr std::string_view kMake[] = {
      "fazer o pagamento", "faco o pagamento", "farei o pagamento", "fazer o pix", "faco o pix",
      "farei o pix",       "fazer um pix",     "faco um pix",       "farei um pix"};
  // With the day asked, a clause of the day and these only is the answer: "dia 15", "no dia
  // 5", "consigo dia 20", "pode ser dia 25".
  // ("dia 15 sem falta", "acho que consigo dia 20", "no dia 5 do mês que vem".)
  constexpr std::string_view kAnswer[] = {"no", "ate",     "o",     "pode", "ser",   "sim",  "eu",
                                          "so", "consigo", "entao", "sem",  "falta", "acho", "que",
                                          "do", "mes",     "vem",   "ok",   "blz",   "na"};
  // After these "pago" is what was paid: "já foi pago dia 10".
  constexpr std::string_view kPaid[] = {"foi",    "ja",   "esta",  "ta",
                                        "estava", "sido", "ficou", "tinha"};
  constexpr std::size_t kNear = 5;  // words between the verb and "dia N"
  // The day named at w[j], and its words: "dia N" (a day of the month), "hoje", "amanhã",
  // "depois de amanhã", a weekday ("sexta", "sexta feira"; not "segunda via"); not "de hoje".
  struct Named {
    PaymentWhen when;
    std::size_t words = 0;
  };
  constexpr std::string_view kWeekdays[] = {"domingo", "segunda", "terca", "quarta",
                                            "quinta",  "sexta",   "sabado"};
  // `bare`: a date "N/M" without "dia" counts too, only as a clause that is the answer to the
  // day asked ("15/12"). Near the verb it is a fraction ("vou pagar 1/2 agora"), an
  // instalment ("a 3/12"), a bill's date ("a fatura 10/11") as often as the day.
  const auto when_at = [&](std::size_t j, bool bare) -> std::optional<Named> {
    const auto joined = [&](std::size_t k) { return k < w.size() && !clause_break_before(w, k); };
    // "dia N", or a date "N/M" on its own, with what names its month after it.
    const bool dia = w[j] == "dia";
    if (!dia && !bare && number(w[j], 2) >= 0 && slash_before(w, j + 1)) return std::nullopt;
    const std::size_t at = dia ? j + 1 : j;  // the day's number
    if (dia && !joined(at)) return std::nullopt;
    if (const int day = number(w[at], 2);
        (dia || slash_before(w, at + 1)) && day >= 1 && day <= 31) {
      Named named{{.day = day}, at + 1 - j};
      std::size_t k = at + 1;  // after the day
      if (const int month = k < w.size() && slash_before(w, k) ? number(w[k], 2) : 0;
          month >= 1 && month <= 12) {
        named.when.month = month;
        ++k;
        // "10/06/2027", "10/06/27".
        if (k < w.size() && slash_before(w, k) && (w[k].size() == 2 || w[k].size() == 4)) {
          if (const int year = number(w[k], 4); year >= 0) {
            named.when.year = year < 100 ? 2000 + year : year;
            ++k;
          }
        }
      } else if (!dia) {
        return std::nullopt;  // "15/" and no month
      } else if (joined(k) && joined(k + 1) && w[k] == "de") {
        constexpr std::string_view kMonths[] = {"janeiro",  "fevereiro", "marco",    "abril",
                                                "maio",     "junho",     "julho",    "agosto",
                                                "setembro", "outubro",   "novembro", "dezembro"};
        for (int m = 0; m < 12; ++m) {
          if (w[k + 1] == kMonths[m]) {
            named.when.month = m + 1;
            k += 2;
            // "dia 10 de janeiro de 2028".
            if (joined(k) && joined(k + 1) && w[k] == "de" && w[k + 1].size() == 4) {
              if (const int year = number(w[k + 1], 4); year >= 2000) {
                named.when.year = year;
                k += 2;
              }
            }
            break;
          }
        }
      } else if (joined(k)) {
        for (const auto phrase : {"do mes que vem", "do proximo mes", "do mes seguinte"}) {
          if (const auto n = match_at(w, k, phrase); n > 0) {
            named.when.next_month = true;
            k += n;
            break;
          }
        }
      }
      // A fraction, not a date: "1/2 da fatura", "1/3 do valor".
      if (!dia && joined(k) && (w[k] == "da" || w[k] == "do" || w[k] == "das" || w[k] == "dos")) {
        return std::nullopt;
      }
      named.words = k - j;
      return named;
    }
    if (dia) return std::nullopt;
    if (j > 0 && w[j - 1] == "de" && !clause_break_before(w, j) && w[j] != "amanha") {
      return std::nullopt;  // "a fatura de hoje", "o boleto de sexta"
    }
    if (match_at(w, j, "depois de amanha") == 3) return Named{{.in_days = 2}, 3};
    if (w[j] == "hoje") return Named{{.in_days = 0}, 1};
    if (w[j] == "amanha") {
      if (j >= 2 && match_at(w, j - 2, "depois de") == 2) return std::nullopt;
      return Named{{.in_days = 1}, 1};
    }
    // Ordinals, not weekdays: "a segunda via", "a segunda parcela", "a quinta fatura".
    constexpr std::string_view kCounted[] = {"via",         "parcela",  "parcelas", "fatura",
                                             "vez",         "conta",    "opcao",    "quinzena",
                                             "mensalidade", "prestacao"};
    for (int d = 0; d < 7; ++d) {
      if (w[j] != kWeekdays[d]) continue;
      if (joined(j + 1) && is_any(w[j + 1], kCounted)) return std::nullopt;
      return Named{{.weekday = d}, joined(j + 1) && w[j + 1] == "feira" ? 2U : 1U};
    }
    return std::nullopt;
  };
  // A question ("quanto fica pra pagar dia 20?") or a habit ("eu sempre pago dia 10", "pago
  // todo mês no dia 10") promises nothing.
  constexpr std::string_view kQuestionWords[] = {"quanto", "quanta",  "qual", "como",   "pq",
                                                 "porque", "por que", "onde", "quando", "sera que"};
  constexpr std::string_view kHabit[] = {"sempre",     "todo mes",    "todos os meses", "todo dia",
                                         "geralmente", "normalmente", "costumo",        "costuma"};
  const auto habit_at = [&](std::size_t j) {
    return std::any_of(std::begin(kHabit), std::end(kHabit),
                       [&](std::string_view h) { return match_at(w, j, h) > 0; });
  };
  const auto clause_is_question = [&](std::size_t i) {
    const std::size_t begin = clause_begin(w, i);
    const std::size_t end = clause_end(w, i);
    // What follows the clause's last word, up to the next word or the end of the text.
    const char* gap = w[end - 1].data() + w[end - 1].size();
    const char* stop = end < w.size() ? w[end].data() : folded.data() + folded.size();
    const std::string_view after(gap, static_cast<std::size_t>(stop - gap));
    if (after.find('?') != std::string_view::npos) return true;
    // Opening with a question word: "quanto fica pra pagar dia 20", "por que pago dia 10".
    return std::any_of(std::begin(kQuestionWords), std::end(kQuestionWords),
                       [&](std::string_view q) { return match_at(w, begin, q) > 0; });
  };
  const auto habitual = [&](std::size_t i) {
    for (std::size_t j = i; j > 0 && !clause_break_before(w, j); --j) {
      if (habit_at(j - 1)) return true;
    }
    for (std::size_t j = i + 1; j < w.size() && j <= i + kNear && !clause_break_before(w, j); ++j) {
      if (habit_at(j)) return true;
    }
    return false;
  };
  // Any negation earlier in the clause takes the promise back: "não vou conseguir pagar".
  const auto negated_clause = [&](std::size_t i) {
    for (std::size_t j = i; j > 0 && !clause_break_before(w, j); --j) {
      if (negator_at(w, j - 1)) return true;
    }
    return false;
  };
  // The words of the promising verb at w[i], or 0.
  // With the day asked, a day proposed as a question is the answer all the same: "posso pagar
  // dia 15?", "pode ser dia 30?", "pago no dia 15, ok?".
  const auto proposes = [&](std::size_t i) {
    if (!day_asked) return false;
    const std::size_t begin = clause_begin(w, i);
    const std::size_t end = clause_end(w, i);
    constexpr std::string_view kOpens[] = {"posso", "pode", "podemos", "consigo", "da"};
    constexpr std::string_view kTails[] = {"ok", "blz", "beleza", "certo", "pode"};
    const bool tail = is_any(w[end - 1], kTails) ||
                      (end < w.size() && is_any(w[end], kTails) && end + 1 == w.size());
    return is_any(w[begin], kOpens) || tail;
  };
  const auto asks = [&](std::size_t i) { return clause_is_question(i) && !proposes(i); };
  const auto promise_at = [&](std::size_t i) -> std::size_t {
    if (is_any(w[i], kPay)) return w[i] == "pago" && i > 0 && is_any(w[i - 1], kPaid) ? 0 : 1;
    std::size_t n = 0;
    for (const auto phrase : kMake) n = std::max(n, match_at(w, i, phrase));
    return n;
  };
  for (std::size_t i = 0; i < w.size(); ++i) {
    const std::size_t n = promise_at(i);
    if (n == 0 || negated_clause(i) || asks(i) || habitual(i)) continue;
    // The day in the same clause, just after the verb ("vou pagar no dia 15") or before it
    // ("dia 20 eu pago").
    for (std::size_t j = i + n; j < w.size() && j < i + n + kNear && !clause_break_before(w, j);
         ++j) {
      if (auto named = when_at(j, false)) return named->when;
    }
    for (std::size_t j = i; j > 0 && j + kNear > i && !clause_break_before(w, j); --j) {
      if (auto named = when_at(j - 1, false)) return named->when;
    }
  }
  if (!day_asked) return std::nullopt;
  for (std::size_t j = 0; j < w.size(); ++j) {
    const auto named = when_at(j, true);
    if (!named || negated_clause(j) || asks(j) || habitual(j)) continue;
    const std::size_t begin = clause_begin(w, j);
    bool only = true;
    for (std::size_t k = begin, end = clause_end(w, begin); k < end; ++k) {
      if ((k < j || k >= j + named->words) && !is_any(w[k], kAnswer)) only = false;
    }
    if (only) return named->when;
  }
  return std::nullopt;
}

std::optional<int> find_payment_day(std::string_view folded, bool day_asked) {
  const auto when = find_payment_when(folded, day_asked);
  if (!when || when->dated()) return std::nullopt;
  return when->day;
}

// ---- questions ------------------------------------------------------------------------------

// Openings of a question at the start of a clause, when no "?" closes it ("bom dia, como faço
// para contratar").
constexpr std::string_view kQuestionOpenings[] = {
    "como",    "qual",       "quais",  "quanto",    "quanta", "quantos",  "quantas",
    "onde",    "quando",     "porque", "por que",   "o que",  "tem como", "da pra",
    "da para", "e possivel", "existe", "voces tem", "vcs tem"};
// A wish: the customer orders what follows, even in a question ("quero contratar, como
// faço?", "preciso contratar, como faço?") unless the wish is only to know ("gostaria de
// saber como contratar", "queria uma informação") or is itself in doubt ("não sei se quero").
constexpr std::string_view kWishes[] = {
    "quero",       "queria",         "gostaria",        "desejo",     "pretendo",
    "preciso",     "vou querer",     "tenho interesse", "pode fazer", "pode mudar",
    "pode trocar", "pode registrar", "podem fazer",     "podem mudar"};
// "posso" orders only when it opens its clause: "posso contratar o de 500?", but "como posso
// mudar de plano?" asks.
constexpr std::string_view kClauseWishes[] = {"posso", "podemos"};
constexpr std::string_view kToKnow[] = {
    "saber",     "entender", "perguntar",  "informac*", "tirar duvida*", "tirar uma duvida",
    "consultar", "conhecer", "uma duvida", "esclarec*"};
// Asking, wherever it stands.
constexpr std::string_view kAsking[] = {"tenho uma duvida", "tenho duvida*",     "uma pergunta",
                                        "nao sei se",       "gostaria de saber", "queria saber"};
// Small words between a wish and what it wants: "queria UMA informação", "de", "só".
constexpr std::string_view kWishFillers[] = {"de", "so", "uma", "umas", "um", "mais", "algumas"};

struct Wishes {
  bool order = false;   // "quero contratar"
  bool asking = false;  // "gostaria de saber", "tenho uma dúvida": a question
};

Wishes wishes(const Words& w) {
  Wishes out;
  out.asking = has_any(w, kAsking);
  for (std::size_t i = 0; i < w.size(); ++i) {
    std::size_t k = 0;
    for (std::string_view p : kWishes) k = std::max(k, match_at(w, i, p));
    const bool opens_clause = i == 0 || clause_break_before(w, i);
    if (k == 0 && opens_clause && is_any(w[i], kClauseWishes)) k = 1;
    // Negated, or in doubt ("se quero", "se posso"): no order.
    if (k == 0 || negated(w, i) || (i > 0 && w[i - 1] == "se" && !opens_clause)) continue;
    std::size_t next = i + k;
    while (next < w.size() && !clause_break_before(w, next) && is_any(w[next], kWishFillers)) {
      ++next;
    }
    const bool to_know = next < w.size() && !clause_break_before(w, next) &&
                         std::any_of(std::begin(kToKnow), std::end(kToKnow),
                                     [&](std::string_view p) { return match_at(w, next, p) > 0; });
    (to_know ? out.asking : out.order) = true;
  }
  return out;
}

bool is_question(std::string_view folded, const Words& w, const Wishes& wish) {
  if (w.empty()) return false;
  if (wish.order) return false;
  if (wish.asking || folded.find('?') != std::string_view::npos) return true;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (i > 0 && !clause_break_before(w, i)) continue;
    for (std::string_view p : kQuestionOpenings) {
      if (match_at(w, i, p) > 0) return true;
    }
  }
  return false;
}

namespace {

// What is read of a message: its first 4 KiB, some 700 words, far more than a customer writes
// before saying what they want. The clause scans cost the square of the words, so a message
// of the 64 KiB a message may hold would cost seconds.
constexpr std::size_t kAnalyzedBytes = 4096;

// The text with a line break after a lone answer made a clause end (';'): "Não\nQuero
// cancelar" is two clauses, as "Não. Quero cancelar" is, not "não quero cancelar".
std::string clauses_by_line(std::string_view text) {
  // Only after a line that answers by itself: "Não⏎Quero cancelar", "Sim⏎…"; any other line
  // break is a space ("vou pagar⏎dia 15", "quero cancelar⏎a visita técnica", "Eu não⏎quero
  // cancelar").
  constexpr std::string_view kAnswers[] = {"nao", "n", "num", "nunca", "sim", "ok", "oi", "ola"};
  std::string out(text);
  std::size_t line = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '\n' && out[i] != '\r') continue;
    const std::string folded = domain::fold(std::string_view(out).substr(line, i - line));
    const auto ws = domain::words(folded);
    const bool answer =
        !ws.empty() && ws.size() <= 2 &&
        std::all_of(ws.begin(), ws.end(), [&](auto x) { return is_any(x, kAnswers); });
    // A line of three words or more is a sentence of its own ("Não consigo pagar agora⏎Só dia
    // 20"); one or two others are a fragment the next line goes on ("vou pagar⏎dia 15").
    out[i] = answer || ws.size() >= 3 ? ';' : ' ';
    line = i + 1;
  }
  return out;
}

}  // namespace

Analysis analyze(std::string_view message, const AnalysisContext& context) {
  const std::string_view text = core::utf8_prefix(message, kAnalyzedBytes);
  Analysis a;
  a.folded = domain::fold(clauses_by_line(text));
  const auto w = domain::words(a.folded);

  // Intents by keyword weight; ties go to the earlier table.
  int best_score = 0;
  const bool slow = complains_of_slowness(w);
  const auto counts = [&](const Keyword& k) {
    switch (k.kind) {
      case Kind::subject:
        return has(w, k.phrase);
      case Kind::request:
        return has_request(w, k.phrase);
      case Kind::cancel:
        return has_cancel(w, k.phrase);
      case Kind::more_speed:
        return !slow && has_request(w, k.phrase);
      case Kind::shortfall:
        return names_speed(w) && has(w, k.phrase);
      case Kind::disputed:
        return has_disputed(w, k.phrase);
    }
    return false;
  };
  // A request to cancel the service itself (not taken back) decides, whatever else the
  // message tells: "a internet caiu de novo, estou sem conexão, quero cancelar" is for the
  // cancellation desk, not for support's router instructions.
  constexpr int kCancelDecides = 4;
  bool cancel_requested = false;
  bool requested = false;  // a keyword read as a request (not a subject named)
  // A complaint asked for ("quero reclamar que fui cobrado a mais") decides over the subject
  // it is about, after a cancellation.
  bool complaint_requested = false;
  for (const auto& table : kIntentTables) {
    int score = 0;
    std::string_view first_topic;  // the table's first counted topic of some weight
    for (const Keyword* k = table.begin; k != table.end; ++k) {
      if (!counts(*k)) continue;
      score += k->weight;
      if (first_topic.empty() && k->weight > 0) first_topic = k->topic;
      if (k->kind != Kind::subject) requested = true;
      if (table.intent == Intent::cancelamento && k->weight >= kCancelDecides &&
          k->kind != Kind::subject) {
        cancel_requested = true;
      }
      if (table.intent == Intent::ouvidoria && k->kind == Kind::request) {
        complaint_requested = true;
      }
      if (!k->topic.empty() &&
          std::find(a.topics.begin(), a.topics.end(), k->topic) == a.topics.end()) {
        a.topics.emplace_back(k->topic);
      }
    }
    if (score > best_score) {
      best_score = score;
      a.department_intent = table.intent;
      a.intent_topic = first_topic;
    }
  }
  if (cancel_requested) {
    a.department_intent = Intent::cancelamento;
    a.intent_topic = "cancelamento";
  } else if (complaint_requested) {
    a.department_intent = Intent::ouvidoria;
    a.intent_topic = "reclamacao";
  }
  a.cancel_request = cancel_requested;
  a.asks_for_human = asks_for_person(w);
  a.greeting = has_any(w, kGreeting);
  a.insult = has_any(w, kInsults);
  a.legal_threat = has_any_request(w, kLegal);
  a.repeated_complaint = has_any(w, kRepeated);
  a.intent_score = best_score;
  if (a.department_intent) {
    a.intent = *a.department_intent;
  } else if (a.asks_for_human) {
    a.intent = Intent::human;
  } else if (has_any(w, kThanks) && !trouble_goes_on(w)) {
    a.intent = Intent::thanks;
  } else if (says_goodbye(w) && !trouble_goes_on(w)) {
    a.intent = Intent::goodbye;
  } else if (a.greeting) {
    a.intent = Intent::greeting;
  }

  a.sentiment = sentiment_of(w);
  const int streak =
      a.sentiment.label == Sentiment::negative ? context.prior_negative_streak + 1 : 0;
  a.urgency = urgency_from_points(urgency_points(text, w, streak));
  a.cep = find_cep(text, context.cep_asked);
  if (const auto when = find_payment_when(a.folded, context.payment_day_asked)) {
    if (when->dated()) {
      a.payment_relative = when;
    } else {
      a.payment_day = when->day;
    }
  }
  a.paid = has_any_request(w, kPaidPhrases);  // not "ainda não paguei"
  a.accepts_offer = accepts_offer(w);
  // ("quero continuar com o cancelamento" goes on with it: no staying.)
  // ("Fico?" asks.)
  a.keeps_service =
      a.department_intent != Intent::cancelamento &&
      (has_any(w, kStayPhrases) || (stays(w) && a.folded.find('?') == std::string::npos));
  // A valid CPF or CNPJ however written: what redaction would hide (its scan, not another).
  a.sends_document = domain::redact_documents(message) != message;
  const Wishes wish = wishes(w);
  a.question = is_question(a.folded, w, wish);
  // Back first: "já reiniciei e voltou" is news, not the trouble going on.
  a.resolved = !wish.order && says_resolved(w);
  // (Not while the steps go on: "já desliguei, vou aguardar", "já reiniciei, quanto tempo
  // espero?".)
  constexpr std::string_view kStillTrying[] = {"vou", "aguard*", "esper*", "testar", "testando"};
  a.persists = !a.resolved && !a.question && has_any(w, kPersists) && !has_any(w, kStillTrying);
  a.contests_debt = has_any(w, kContests);
  a.stop_messages = stops_messages(w);
  a.stop_contact = a.stop_messages || has_any(w, kStopContact);
  a.partial_payment = has_any_request(w, kPartialPayment);
  a.negotiates = a.partial_payment || has_any_request(w, kNegotiates);
  // A thank-you for what was done names its subject; it asks nothing of that desk.
  if (a.department_intent && !requested && !a.asks_for_human && !a.question && !a.paid &&
      !a.payment_day && !a.payment_relative && !a.cep && !a.insult && !a.legal_threat &&
      !a.repeated_complaint && !wish.order && closes_with_thanks(w)) {
    a.department_intent.reset();
    a.intent = Intent::thanks;
  }
  return a;
}

}  // namespace lia::ai_orchestration
