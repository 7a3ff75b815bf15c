#include "analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <lia/domain/text.hpp>

namespace lia::ai_orchestration {
namespace {

using Words = std::vector<std::string_view>;

// A pattern word ending in '*' matches every word with that stem ("reclamac*" -> reclamacao,
// reclamacoes); otherwise the whole word must match.
bool word_matches(std::string_view word, std::string_view pattern) {
  if (!pattern.empty() && pattern.back() == '*') {
    const auto stem = pattern.substr(0, pattern.size() - 1);
    return word.size() >= stem.size() && word.substr(0, stem.size()) == stem;
  }
  return word == pattern;
}

// Whether punctuation (",", ".", "?"...) stands between w[i - 1] and w[i]: a clause ends there
// and a negation does not reach past it ("Não, quero cancelar"). The words are views into
// one folded text, so what lies between them is that text.
bool clause_break_before(const Words& w, std::size_t i) {
  if (i == 0 || i >= w.size()) return false;
  const char* gap = w[i - 1].data() + w[i - 1].size();
  const std::string_view between(gap, static_cast<std::size_t>(w[i].data() - gap));
  return between.find_first_of(",.;:!?") != std::string_view::npos;
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

constexpr std::string_view kNegators[] = {"nao", "nunca", "nem", "jamais"};

bool is_negator(std::string_view w) {
  return is_any(w, kNegators);
}

// Words a negation reaches across to the request after them: auxiliaries, "falar com" and
// small words. "não QUERO cancelar", "não PRECISA DE atendente", "não TENHO DO QUE reclamar";
// but "não funciona, quero cancelar" and "não funciona quero cancelar" still ask to cancel.
constexpr std::string_view kNegationReaches[] = {
    "quero",   "queria", "quer", "gostaria", "desejo", "pretendo", "vou", "vai", "preciso",
    "precisa", "tenho",  "mais", "falar",    "me",     "e",        "de",  "do",  "da",
    "que",     "com",    "um",   "uma",      "o",      "a",        "pra", "para"};

// Whether the request at w[i] is taken back by a negator before it, in the same clause, with
// only the words above in between (at most five).
bool negated(const Words& w, std::size_t i) {
  for (std::size_t k = 1; k <= 6 && k <= i; ++k) {
    if (clause_break_before(w, i - k + 1)) return false;
    if (is_negator(w[i - k])) return true;
    if (!is_any(w[i - k], kNegationReaches)) return false;
  }
  return false;
}

// A request ("cancelar", "falar com um atendente") that is not taken back by a negation.
bool has_request(const Words& w, std::string_view phrase) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (match_at(w, i, phrase) > 0 && !negated(w, i)) return true;
  }
  return false;
}

template <class List>
bool has_any_request(const Words& w, const List& phrases) {
  return std::any_of(std::begin(phrases), std::end(phrases),
                     [&](std::string_view p) { return has_request(w, p); });
}

// ---- intents ------------------------------------------------------------------------------

struct Keyword {
  std::string_view phrase;
  int weight;
  std::string_view topic;  // empty: counts for the intent without a topic of its own
  // A request ("cancelar", "reclamar", "contratar") does not count when negated ("não quero
  // cancelar"); a subject ("boleto", "sinal") does: "não recebi o boleto" is about the boleto.
  bool request = false;
};

constexpr Keyword kSuporte[] = {
    {"internet caiu", 3, "sem_conexao"},
    {"caiu", 2, "sem_conexao"},
    {"sem conexao", 3, "sem_conexao"},
    {"sem internet", 3, "sem_conexao"},
    {"nao conecta", 3, "sem_conexao"},
    {"desconect*", 2, "sem_conexao"},
    {"fora do ar", 3, "sem_conexao"},
    {"nao funciona", 2, "sem_conexao"},
    {"nao funcionando", 2, "sem_conexao"},
    {"nao esta funcionando", 2, "sem_conexao"},
    {"nao ta funcionando", 2, "sem_conexao"},
    {"nao estao funcionando", 2, "sem_conexao"},
    {"parou de funcionar", 3, "sem_conexao"},
    {"conexao", 1, "sem_conexao"},
    {"internet", 1, ""},
    {"sem sinal", 3, "sem_sinal"},
    {"sinal", 2, "sem_sinal"},
    {"lento", 2, "lentidao"},
    {"lenta", 2, "lentidao"},
    {"lentidao", 3, "lentidao"},
    {"devagar", 2, "lentidao"},
    {"travando", 2, "lentidao"},
    {"velocidade baixa", 3, "lentidao"},
    {"ping", 1, "lentidao"},
    {"oscil*", 2, "instabilidade"},
    {"instavel", 2, "instabilidade"},
    {"caindo", 2, "instabilidade"},
    {"wifi", 2, "wifi"},
    {"wi fi", 2, "wifi"},
    {"modem", 2, "equipamento"},
    {"roteador", 2, "equipamento"},
    {"onu", 2, "equipamento"},
    {"luz vermelha", 3, "equipamento"},
    {"piscando", 1, "equipamento"},
    {"visita tecnica", 3, "visita_tecnica"},
    {"tecnico", 2, "visita_tecnica"},
};

constexpr Keyword kComercial[] = {
    {"plano", 2, "planos"},
    {"planos", 2, "planos"},
    {"contratar", 3, "contratacao", true},  // not "contrato" nor "contratei"
    {"contratacao", 3, "contratacao", true},
    {"assinar", 3, "contratacao", true},
    {"assinatura", 1, "contratacao"},
    {"preco*", 2, "precos"},
    {"quanto custa", 3, "precos"},
    {"valor do plano", 3, "precos"},
    {"promoc*", 2, "precos"},
    {"oferta*", 2, "precos"},
    {"fibra", 1, "planos"},
    {"upgrade", 3, "upgrade", true},
    {"mais velocidade", 3, "upgrade", true},
    {"aumentar a velocidade", 3, "upgrade", true},
    {"mudar de plano", 3, "upgrade", true},
    {"trocar de plano", 3, "upgrade", true},
    {"velocidade", 1, "planos"},  // a question about it, not yet a wish for more
    {"mega", 1, "planos"},
    {"megas", 1, "planos"},
    {"giga", 1, "planos"},
    {"instalacao", 2, "instalacao"},
    {"instalar", 2, "instalacao"},
    {"cobertura", 2, "cobertura"},
    {"disponivel", 1, "cobertura"},
    {"combo", 1, "planos"},
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
    {"bloquead*", 2, "desbloqueio"},
    {"reembolso", 2, "cobranca"},
    {"nota fiscal", 3, "nota_fiscal"},
    {"em atraso", 2, "pagamento"},
};

constexpr Keyword kCancelamento[] = {
    // The customer's own request, not "o técnico cancelou a visita".
    {"cancelar", 6, "cancelamento", true},
    {"cancelamento", 6, "cancelamento", true},
    {"cancela", 6, "cancelamento", true},
    {"cancele", 6, "cancelamento", true},
    {"cancelem", 6, "cancelamento", true},
    {"cancelo", 6, "cancelamento", true},
    {"encerrar contrato", 6, "cancelamento", true},
    {"encerrar o contrato", 6, "cancelamento", true},
    {"encerrar", 2, "cancelamento", true},
    {"desistir", 5, "cancelamento", true},
    {"desisto", 5, "cancelamento", true},
    {"rescindir", 4, "cancelamento", true},
    {"rescisao", 4, "cancelamento", true},
    // "não quero mais" about the service, not "não quero mais esperar"
    {"nao quero mais a internet", 3, "cancelamento"},
    {"nao quero mais essa internet", 3, "cancelamento"},
    {"nao quero mais o servico", 3, "cancelamento"},
    {"nao quero mais esse servico", 3, "cancelamento"},
    {"nao quero mais o plano", 3, "cancelamento"},
    {"nao quero mais esse plano", 3, "cancelamento"},
    {"nao quero mais ser cliente", 3, "cancelamento"},
    {"quero sair", 3, "cancelamento", true},
    {"trocar de operadora", 4, "portabilidade", true},
    {"mudar de operadora", 4, "portabilidade", true},
    {"portabilidade", 2, "portabilidade", true},
    {"multa", 1, "multa"},
};

constexpr Keyword kOuvidoria[] = {
    {"ouvidoria", 5, "ouvidoria"},
    {"procon", 5, "procon"},
    {"anatel", 5, "anatel"},
    {"consumidor gov", 4, "consumidor_gov"},
    {"reclamac*", 3, "reclamacao", true},
    {"reclamar", 3, "reclamacao", true},
    {"denunci*", 3, "reclamacao", true},
    {"absurdo", 2, "reclamacao"},
    {"descaso", 2, "reclamacao"},
    {"desrespeito", 3, "reclamacao"},
    {"pessimo atendimento", 4, "reclamacao"},
    {"justica", 3, "juridico"},
    {"processar", 3, "juridico", true},
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

// Requests for a person, read as phrases: "operador" but not "operadora" (the carrier),
// "falar com uma pessoa" but not "plano para pessoa jurídica". Negations count ("não precisa
// de atendente").
constexpr std::string_view kHuman[] = {
    "atendente*",        "humano",           "humana",
    "falar com alguem",  "falar com pessoa", "com uma pessoa",
    "com alguma pessoa", "pra uma pessoa",   "para uma pessoa",
    "pessoa de verdade", "pessoa real",      "alguem de verdade",
    "operador",          "operadores",       "gerente",
    "supervisor*",
};
constexpr std::string_view kGreeting[] = {"oi",  "ola",  "bom dia", "boa tarde", "boa noite",
                                          "opa", "e ai", "eai",     "alo",       "hello"};
constexpr std::string_view kThanks[] = {"obrigad*", "valeu", "agradec*", "grato", "grata"};
constexpr std::string_view kGoodbye[] = {"tchau", "ate mais", "ate logo", "falou", "adeus"};
constexpr std::string_view kInsults[] = {
    "idiota*",       "burro*",        "burra*",       "imbecil*", "otario*",  "otaria*",
    "lixo",          "vagabund*",     "safad*",       "ladrao",   "ladroes",  "ladra*",
    "canalha*",      "merda",         "porra",        "caralho",  "desgrac*", "incompetentes",
    "vai se ferrar", "vao se ferrar", "vai tomar no", "palhacos", "cambada"};
// A lawsuit as a threat ("vou abrir um processo"), not "qual o processo para mudar de plano".
constexpr std::string_view kLegal[] = {"procon",
                                       "anatel",
                                       "consumidor gov",
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
    // negative phrases (read before their words)
    {"nao funciona*", -1},
    {"nao esta funcionando", -1},
    {"nao ta funcionando", -1},
    {"nao estao funcionando", -1},
    // no complaint at all, though "reclamar" stands far from its "não"
    {"nao tenho do que reclamar", 1},
    {"nao tenho o que reclamar", 1},
    {"nada a reclamar", 1},
    {"nao conecta", -1},
    {"nao consigo", -1},
    {"nao aguento", -2},
    {"nao resolve*", -2},
    {"ninguem resolve", -2},
    {"sem internet", -1},
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
    {"incompet*", -2},
    {"inaceitavel", -2},
    {"revoltad*", -2},
    {"indignad*", -2},
    {"porcaria", -2},
    {"nojo", -2},
    {"furios*", -2},
    {"decepcion*", -2},
    {"desrespeito", -2},
    {"enganad*", -2},
    {"roubo", -2},
    {"idiota*", -2},
    {"merda", -2},
    {"porra", -2},
    {"caralho", -2},
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
    // A negator just before flips the word: "não gostei" reads negative, "não é ruim"
    // mildly positive. Phrases that hold their own negation ("não funciona") are whole.
    // Thanks and greetings are never flipped, and a comma ends the negation: "Não, obrigado".
    bool negated = false;
    if (best == 1 && weight != 0 && !courtesy_at(w, i)) {
      for (std::size_t k = 1; k <= 2 && k <= i && !clause_break_before(w, i - k + 1); ++k) {
        if (!consumed[i - k] && is_negator(w[i - k])) negated = true;
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
  for (const auto& entry : kUrgencyWords) {
    for (std::size_t i = 0; i < w.size(); ++i) {
      const auto n = match_at(w, i, entry.phrase);
      if (n > 0 && !in_repeated(i, n)) {
        points += static_cast<int>(entry.weight);
        break;
      }
    }
  }
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
  if (letters >= 6 && upper * 10 >= letters * 8) ++points;  // SHOUTING
  if (std::find(repeated.begin(), repeated.end(), true) != repeated.end()) ++points;
  if (negative_streak >= 3) ++points;
  if (negative_streak >= 5) ++points;
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

std::optional<std::string> find_cep(std::string_view raw) {
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

std::optional<int> find_payment_day(std::string_view folded) {
  const auto w = domain::words(folded);
  // Verbs that promise a payment ("vou pagar", "pago dia 20"), not "pagamento" nor "paguei".
  constexpr std::string_view kPay[] = {"pagar", "pago",     "pagarei", "pagaria", "quitar",
                                       "quito", "quitarei", "acertar", "acerto"};
  // After these "pago" is what was paid: "já foi pago dia 10".
  constexpr std::string_view kPaid[] = {"foi",    "ja",   "esta",  "ta",
                                        "estava", "sido", "ficou", "tinha"};
  constexpr std::size_t kNear = 5;  // words between the verb and "dia N"
  // "dia N" at w[j], if it is a day of the month.
  const auto day_at = [&](std::size_t j) -> std::optional<int> {
    if (w[j] != "dia" || j + 1 >= w.size() || clause_break_before(w, j + 1)) return std::nullopt;
    const auto num = w[j + 1];
    if (num.empty() || num.size() > 2) return std::nullopt;
    int day = 0;
    for (char c : num) {
      if (!is_digit(c)) return std::nullopt;
      day = day * 10 + (c - '0');
    }
    if (day < 1 || day > 31) return std::nullopt;
    return day;
  };
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (!is_any(w[i], kPay)) continue;
    if (w[i] == "pago" && i > 0 && is_any(w[i - 1], kPaid)) continue;
    // Any negation earlier in the clause takes the promise back: "não vou conseguir pagar".
    bool negated_clause = false;
    for (std::size_t j = i; j > 0 && !clause_break_before(w, j); --j) {
      if (is_negator(w[j - 1])) negated_clause = true;
    }
    if (negated_clause) continue;
    // The day in the same clause, just after the verb ("vou pagar no dia 15") or before it
    // ("dia 20 eu pago").
    for (std::size_t j = i + 1; j < w.size() && j <= i + kNear && !clause_break_before(w, j); ++j) {
      if (auto day = day_at(j)) return day;
    }
    for (std::size_t j = i; j > 0 && j + kNear > i && !clause_break_before(w, j); --j) {
      if (auto day = day_at(j - 1)) return day;
    }
  }
  return std::nullopt;
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

bool is_question(std::string_view folded, const Words& w) {
  if (w.empty()) return false;
  const auto wish = wishes(w);
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

Analysis analyze(std::string_view text, const AnalysisContext& context) {
  Analysis a;
  a.folded = domain::fold(text);
  const auto w = domain::words(a.folded);

  // Intents by keyword weight; ties go to the earlier table.
  int best_score = 0;
  for (const auto& table : kIntentTables) {
    int score = 0;
    for (const Keyword* k = table.begin; k != table.end; ++k) {
      if (!(k->request ? has_request(w, k->phrase) : has(w, k->phrase))) continue;
      score += k->weight;
      if (!k->topic.empty() &&
          std::find(a.topics.begin(), a.topics.end(), k->topic) == a.topics.end()) {
        a.topics.emplace_back(k->topic);
      }
    }
    if (score > best_score) {
      best_score = score;
      a.department_intent = table.intent;
    }
  }
  a.asks_for_human = has_any_request(w, kHuman);
  a.greeting = has_any(w, kGreeting);
  a.insult = has_any(w, kInsults);
  a.legal_threat = has_any_request(w, kLegal);
  a.repeated_complaint = has_any(w, kRepeated);
  a.intent_score = best_score;
  if (a.department_intent) {
    a.intent = *a.department_intent;
  } else if (a.asks_for_human) {
    a.intent = Intent::human;
  } else if (has_any(w, kThanks)) {
    a.intent = Intent::thanks;
  } else if (has_any(w, kGoodbye)) {
    a.intent = Intent::goodbye;
  } else if (a.greeting) {
    a.intent = Intent::greeting;
  }

  a.sentiment = sentiment_of(w);
  const int streak =
      a.sentiment.label == Sentiment::negative ? context.prior_negative_streak + 1 : 0;
  a.urgency = urgency_from_points(urgency_points(text, w, streak));
  a.cep = find_cep(text);
  a.payment_day = find_payment_day(a.folded);
  a.question = is_question(a.folded, w);
  return a;
}

}  // namespace lia::ai_orchestration
