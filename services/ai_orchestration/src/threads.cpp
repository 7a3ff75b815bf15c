#include "threads.hpp"

#include <lia/core/text.hpp>
#include <lia/domain/document.hpp>

#include "local_assistant.hpp"

namespace lia::ai_orchestration {

namespace {
// The last `max` bytes of `s` (whole UTF-8 sequences), after "…" when cut.
std::string tail_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  return "…" + std::string(core::utf8_suffix(s, max));
}
}  // namespace

std::string summarize_thread(const SummaryInput& in) {
  std::string s = "Resumo da conversa (" + std::to_string(in.message_count) +
                  " mensagens, assistente " + std::string(to_string(in.assistant));
  if (in.last_sentiment) {
    const auto label = *in.last_sentiment == Sentiment::negative   ? "negativo"
                       : *in.last_sentiment == Sentiment::positive ? "positivo"
                                                                   : "neutro";
    s += ", sentimento recente " + std::string(label);
  }
  s += ").";
  if (!in.previous_summary.empty()) {
    // Its end: the previous thread's own last messages come last in it, and its oldest
    // part (the summaries before it) is what goes when it is too long.
    s += " Antes disso: " + tail_utf8(in.previous_summary, 1200);
  }
  std::vector<const HistoryMessage*> customer;
  std::vector<const HistoryMessage*> answers;
  std::vector<const HistoryMessage*> automatic;  // the suite's own (a campaign's message)
  for (const auto& m : in.recent) {
    if (m.text.empty()) continue;
    (m.author == "customer" ? customer : m.author == "system" ? automatic : answers).push_back(&m);
  }
  auto last = [](const std::vector<const HistoryMessage*>& v, std::size_t n) {
    std::string out;
    const std::size_t from = v.size() > n ? v.size() - n : 0;
    for (std::size_t i = from; i < v.size(); ++i) {
      if (!out.empty()) out += "; ";
      // Hidden before the cut: a CPF cut in half would no longer be one to hide.
      out += "\"" + ellipsize_utf8(domain::redact_documents(v[i]->text), 240) + "\"";
    }
    return out;
  };
  if (!customer.empty()) s += " Últimas mensagens do cliente: " + last(customer, 4) + ".";
  if (!answers.empty()) s += " Últimas respostas: " + last(answers, 2) + ".";
  if (!automatic.empty()) s += " Mensagem automática enviada antes: " + last(automatic, 1) + ".";
  return ellipsize_utf8(s, 4000);
}

std::vector<std::string> preserved_ids(const std::vector<HistoryMessage>& recent, std::size_t n) {
  std::vector<std::string> ids;
  for (auto it = recent.rbegin(); it != recent.rend() && ids.size() < n; ++it) {
    if (it->author == "customer" && !it->message_id.empty()) ids.push_back(it->message_id);
  }
  return {ids.rbegin(), ids.rend()};
}

}  // namespace lia::ai_orchestration
