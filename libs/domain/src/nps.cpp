#include <array>
#include <string>

#include <lia/domain/nps.hpp>
#include <lia/domain/text.hpp>

namespace lia::domain {

using core::Errc;
using core::Error;
using core::Result;

namespace {

// A reply longer than this is a message, not a score.
constexpr std::size_t kMaxReply = 64;

// Replaces keycap emoji by their digits: "9" U+FE0F U+20E3 -> "9", U+1F51F (🔟) -> "10".
std::string unkeycap(std::string_view s) {
  static constexpr std::string_view kVs16 = "\xEF\xB8\x8F";     // U+FE0F
  static constexpr std::string_view kKeycap = "\xE2\x83\xA3";   // U+20E3
  static constexpr std::string_view kTen = "\xF0\x9F\x94\x9F";  // U+1F51F
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.substr(i).starts_with(kTen)) {
      out += "10";
      i += kTen.size();
      continue;
    }
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      std::size_t j = i + 1;
      if (s.substr(j).starts_with(kVs16)) j += kVs16.size();
      if (s.substr(j).starts_with(kKeycap)) {
        out.push_back(c);
        i = j + kKeycap.size();
        continue;
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

std::optional<int> bare_value(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.size() <= 2 && s.find_first_not_of("0123456789") == std::string_view::npos) {
    const int v = s.size() == 1 ? s[0] - '0' : (s[0] - '0') * 10 + (s[1] - '0');
    if (v <= 10) return v;
    return std::nullopt;
  }
  struct Word {
    std::string_view text;
    int value;
  };
  static constexpr std::array<Word, 13> kWords = {{{"zero", 0},
                                                   {"um", 1},
                                                   {"uma", 1},
                                                   {"dois", 2},
                                                   {"duas", 2},
                                                   {"tres", 3},
                                                   {"quatro", 4},
                                                   {"cinco", 5},
                                                   {"seis", 6},
                                                   {"sete", 7},
                                                   {"oito", 8},
                                                   {"nove", 9},
                                                   {"dez", 10}}};
  for (const auto& w : kWords) {
    if (w.text == s) return w.value;
  }
  return std::nullopt;
}

// "8/10", "8 / 10", "8 de 10": the survey's scale said back. Whatever stands before it must
// still be a score on its own ("10/10/10" and "11/10" are not).
std::string_view drop_scale(std::string_view s) {
  for (std::string_view scale :
       {std::string_view("/10"), std::string_view("/ 10"), std::string_view(" de 10")}) {
    if (s.size() > scale.size() && s.ends_with(scale)) {
      s.remove_suffix(scale.size());
      while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
      return s;
    }
  }
  return s;
}

}  // namespace

std::optional<int> parse_nps_score(std::string_view reply) {
  if (reply.size() > kMaxReply) return std::nullopt;
  const std::string text = unkeycap(fold(reply));
  std::string_view s = text;
  while (!s.empty() && (s.back() == '!' || s.back() == '.' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  s = drop_scale(s);
  // Longest prefixes first; each must be followed by a space, except "nota:".
  static constexpr std::array<std::string_view, 9> kPrefixes = {
      "eu dou nota", "minha nota e", "minha nota", "dou nota", "eu dou",
      "nota -",      "nota:",        "nota",       "dou"};
  for (std::string_view p : kPrefixes) {
    if (!s.starts_with(p)) continue;
    std::string_view rest = s.substr(p.size());
    if (p.back() != ':' && !rest.starts_with(' ')) continue;
    if (rest.starts_with(' ')) rest.remove_prefix(1);
    return bare_value(rest);
  }
  return bare_value(s);
}

std::string_view to_string(NpsCategory c) noexcept {
  switch (c) {
    case NpsCategory::detractor:
      return "detractor";
    case NpsCategory::neutral:
      return "neutral";
    case NpsCategory::promoter:
      return "promoter";
  }
  return "unknown";
}

Result<NpsCategory> nps_category(int score) {
  if (score < 0 || score > 10) {
    return Error(Errc::invalid_argument,
                 "nps: score " + std::to_string(score) + " is outside 0..10");
  }
  if (score <= 6) return NpsCategory::detractor;
  if (score <= 8) return NpsCategory::neutral;
  return NpsCategory::promoter;
}

Result<NpsSummary> compute_nps(std::span<const int> scores) {
  NpsSummary s;
  for (int score : scores) {
    auto cat = nps_category(score);
    if (!cat.ok()) return cat.error();
    switch (*cat) {
      case NpsCategory::detractor:
        ++s.detractors;
        break;
      case NpsCategory::neutral:
        ++s.neutrals;
        break;
      case NpsCategory::promoter:
        ++s.promoters;
        break;
    }
  }
  return nps_from_counts(s.promoters, s.neutrals, s.detractors);
}

NpsSummary nps_from_counts(int promoters, int neutrals, int detractors) {
  NpsSummary s;
  s.promoters = promoters;
  s.neutrals = neutrals;
  s.detractors = detractors;
  s.responses = promoters + neutrals + detractors;
  if (s.responses == 0) return s;
  const long long num = 100LL * (s.promoters - s.detractors);
  const long long n = s.responses;
  long long q = num / n;
  const long long r = num % n;
  if (2 * (r < 0 ? -r : r) >= n) q += num < 0 ? -1 : 1;
  s.score = static_cast<int>(q);
  s.exact = static_cast<double>(num) / static_cast<double>(n);
  return s;
}

bool within_survey_window(core::SysTime sent_at, core::SysTime reply_at,
                          std::chrono::seconds window) {
  return reply_at >= sent_at && reply_at - sent_at <= window;
}

}  // namespace lia::domain
