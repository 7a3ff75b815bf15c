#pragma once
// Net Promoter Score: reading a customer's reply as a score, categories, the NPS of a set
// of scores, and the survey's answer window.

#include <chrono>
#include <optional>
#include <span>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>

namespace lia::domain {

// Reads a customer's reply to the survey as a score 0..10, conservatively: anything that
// is not clearly a bare score is nullopt, and the conversation is reopened instead.
//
// Accepted, after folding (case and accents ignored, whitespace collapsed):
//   - a number 0..10 in one or two digits: "9", " 10 ", "07";
//   - a Portuguese number word: zero, um, uma, dois, duas, tres, quatro, cinco, seis, sete,
//     oito, nove, dez ("Dez", "NOVE", "três");
//   - a keycap emoji: "9️⃣", "🔟", "1️⃣0️⃣";
//   - one of these prefixes before it: "nota", "nota:", "nota -", "minha nota", "minha nota e",
//     "dou", "dou nota", "eu dou", "eu dou nota";
//   - the survey's scale after it: "8/10", "10 / 10", "nota 9 de 10";
//   - trailing '!' or '.' marks: "8!", "nota 10!!", "9.".
// Rejected: other words around it ("10 reais", "hoje às 10", "8 obrigado"), other numbers
// ("1234", "11", "-1"), decimals ("9,5", "8.5"), other fractions ("8/5", "11/10"), several
// numbers. A date such as "10/10" reads as a score: after the survey's question, a bare
// "N/10" is the customer's answer far more often than a day of October.
std::optional<int> parse_nps_score(std::string_view reply);

enum class NpsCategory { detractor, neutral, promoter };
// "detractor" / "neutral" / "promoter" (the satisfaction_feedback.category values).
std::string_view to_string(NpsCategory c) noexcept;

// 0-6 detractor, 7-8 neutral, 9-10 promoter. Fails outside 0..10.
core::Result<NpsCategory> nps_category(int score);

struct NpsSummary {
  int responses = 0;
  int promoters = 0;
  int neutrals = 0;
  int detractors = 0;
  // %promoters - %detractors, -100..100, as an integer:
  //   round(100 * (promoters - detractors) / responses), halves rounded away from zero
  //   (2 promoters, 1 detractor, 3 neutrals of 6 -> 16.67 -> 17; 1 promoter of 8 -> 12.5
  //   -> 13; 1 detractor of 8 -> -12.5 -> -13). 0 when there are no responses; check
  //   `responses` to tell "no data" apart.
  int score = 0;
  // The same value unrounded (0.0 without responses).
  double exact = 0.0;
};

// Fails if any score is outside 0..10.
core::Result<NpsSummary> compute_nps(std::span<const int> scores);
// The same from each category's count (a database's GROUP BY), without a score per response.
NpsSummary nps_from_counts(int promoters, int neutrals, int detractors);

inline constexpr std::chrono::hours kNpsSurveyWindow{24};

// True when the reply arrived within `window` after the survey was sent, both ends
// included: sent_at <= reply_at <= sent_at + window. A reply stamped before the survey
// (clock skew, reordering) is not an answer to it.
bool within_survey_window(core::SysTime sent_at, core::SysTime reply_at,
                          std::chrono::seconds window = kNpsSurveyWindow);

}  // namespace lia::domain
