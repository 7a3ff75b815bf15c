#include "analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <lia/domain/text.hpp>

namespace lia::ai_orchestration {
namespace {

using Words = std::vector<std::string_view>;

// A pattern word ending in '*' matches every word with that stem ("cancel*" -> cancelar,
// cancelamento); otherwise the whole word must match.
bool word_matches(std::string_view word, std::string_view pattern) {
  if (!pattern.empty() && pattern.back() == '*') {
    const auto stem = pattern.substr(0, pattern.size() - 1);
    return word.size() >= stem.size() && word.substr(0, stem.size()) == stem;
  }
  return word == pattern;
}

// How many words of `phrase` (folded words separated by single spaces) match at w[i], or 0.
std::size_t match_at(const Words& w, std::size_t i, std::string_view phrase) {
  std::size_t k = 0;
  std::size_t pos = 0;
  while (true) {
    const auto sp = phrase.find(' ', pos);
    const auto part =
        phrase.substr(pos, sp == std::string_view::npos ? std::string_view::npos : sp - pos);
    if (i + k >= w.size() || !word_matches(w[i + k], part)) return 0;
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

// ---- intents ------------------------------------------------------------------------------

struct Keyword {
  std::string_view phrase;
  int weight;
  std::string_view topic;  // empty: counts for the intent without a topic of its own
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
    {"contrat*", 3, "contratacao"},
    {"assinar", 3, "contratacao"},
    {"assinatura", 1, "contratacao"},
    {"preco*", 2, "precos"},
    {"quanto custa", 3, "precos"},
    {"valor do plano", 3, "precos"},
    {"promoc*", 2, "precos"},
    {"oferta*", 2, "precos"},
    {"fibra", 1, "planos"},
    {"upgrade", 3, "upgrade"},
    {"mais velocidade", 3, "upgrade"},
    {"aumentar a velocidade", 3, "upgrade"},
    {"mudar de plano", 3, "upgrade"},
    {"trocar de plano", 3, "upgrade"},
    {"velocidade", 1, "upgrade"},
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
    {"cancel*", 6, "cancelamento"},
    {"encerrar contrato", 6, "cancelamento"},
    {"encerrar o contrato", 6, "cancelamento"},
    {"encerrar", 2, "cancelamento"},
    {"desistir", 5, "cancelamento"},
    {"desisto", 5, "cancelamento"},
    {"rescindir", 4, "cancelamento"},
    {"rescisao", 4, "cancelamento"},
    {"nao quero mais", 3, "cancelamento"},
    {"quero sair", 3, "cancelamento"},
    {"trocar de operadora", 4, "portabilidade"},
    {"mudar de operadora", 4, "portabilidade"},
    {"portabilidade", 2, "portabilidade"},
    {"multa", 1, "multa"},
};

constexpr Keyword kOuvidoria[] = {
    {"ouvidoria", 5, "ouvidoria"},
    {"procon", 5, "procon"},
    {"anatel", 5, "anatel"},
    {"consumidor gov", 4, "consumidor_gov"},
    {"reclamac*", 3, "reclamacao"},
    {"reclamar", 3, "reclamacao"},
    {"denunci*", 3, "reclamacao"},
    {"absurdo", 2, "reclamacao"},
    {"descaso", 2, "reclamacao"},
    {"desrespeito", 3, "reclamacao"},
    {"pessimo atendimento", 4, "reclamacao"},
    {"justica", 3, "juridico"},
    {"processar", 3, "juridico"},
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

constexpr std::string_view kHuman[] = {
    "atendente*", "humano",  "humana",     "pessoa",      "falar com alguem",
    "operador*",  "gerente", "ser humano", "supervisor*", "alguem de verdade",
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
constexpr std::string_view kLegal[] = {"procon",   "anatel",    "consumidor gov",
                                       "justica",  "processar", "processo",
                                       "advogado", "juizado",   "pequenas causas"};
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

constexpr std::string_view kNegators[] = {"nao", "nunca", "nem", "jamais"};

bool is_negator(std::string_view w) {
  return std::find(std::begin(kNegators), std::end(kNegators), w) != std::end(kNegators);
}

double round2(double v) {
  return std::round(v * 100.0) / 100.0;
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
    const bool negated = best == 1 && weight != 0 &&
                         ((i >= 1 && !consumed[i - 1] && is_negator(w[i - 1])) ||
                          (i >= 2 && !consumed[i - 2] && is_negator(w[i - 2])));
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
  int points = 0;
  for (const auto& entry : kUrgencyWords) {
    if (has(w, entry.phrase)) points += static_cast<int>(entry.weight);
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
  if (has_any(w, kRepeated)) ++points;
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
  constexpr std::string_view kPay[] = {"pagar",  "pago",  "pagarei", "pagamento", "pagando",
                                       "quitar", "quito", "acertar", "deposito",  "pagaria"};
  if (!has_any(w, kPay)) return std::nullopt;
  for (std::size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] != "dia") continue;
    const auto num = w[i + 1];
    if (num.empty() || num.size() > 2) continue;
    int day = 0;
    bool digits = true;
    for (char c : num) {
      if (!is_digit(c)) digits = false;
      day = day * 10 + (c - '0');
    }
    if (digits && day >= 1 && day <= 31) return day;
  }
  return std::nullopt;
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
      if (!has(w, k->phrase)) continue;
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
  a.asks_for_human = has_any(w, kHuman);
  a.greeting = has_any(w, kGreeting);
  a.insult = has_any(w, kInsults);
  a.legal_threat = has_any(w, kLegal);
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
  return a;
}

}  // namespace lia::ai_orchestration
