#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <lia/domain/gamification.hpp>

namespace lia::domain {

using core::Errc;
using core::Error;
using core::Result;
using core::Status;

namespace {

Error bad(std::string message) {
  return Error(Errc::invalid_argument, "gamification: " + std::move(message));
}

// Half up, saturating to 0..INT_MAX; the epsilon absorbs binary noise such as
// 100 * 0.29 = 28.999999999999996.
int round_half_up(double x) {
  const double r = std::floor(x + 0.5 + 1e-9);
  if (!(r > 0)) return 0;
  if (r >= static_cast<double>(std::numeric_limits<int>::max())) {
    return std::numeric_limits<int>::max();
  }
  return static_cast<int>(r);
}

int ratio_score(double value, double target) {
  return std::min(round_half_up(100.0 * value / target), 100);
}

Status validate_metrics(const AgentMetrics& m) {
  if (m.agent_id.empty()) return bad("an agent has an empty id");
  const std::string who = "agent " + m.agent_id + ": ";
  if (m.resolved_conversations < 0) return bad(who + "resolved_conversations is negative");
  if (!std::isfinite(m.avg_nps) || m.avg_nps < 0 || m.avg_nps > 10) {
    return bad(who + "avg_nps must be within 0..10");
  }
  if (!std::isfinite(m.resolution_rate) || m.resolution_rate < 0 || m.resolution_rate > 100) {
    return bad(who + "resolution_rate must be within 0..100");
  }
  if (!std::isfinite(m.avg_response_time_s) || m.avg_response_time_s < 0) {
    return bad(who + "avg_response_time_s must be a non-negative number");
  }
  return core::ok();
}

// Ranking order: see the header.
bool ranks_before(const AgentScore& a, const AgentScore& b) {
  if (a.total_score != b.total_score) return a.total_score > b.total_score;
  if (a.nps_score != b.nps_score) return a.nps_score > b.nps_score;
  if (a.metrics.resolved_conversations != b.metrics.resolved_conversations) {
    return a.metrics.resolved_conversations > b.metrics.resolved_conversations;
  }
  if (a.metrics.avg_response_time_s != b.metrics.avg_response_time_s) {
    return a.metrics.avg_response_time_s < b.metrics.avg_response_time_s;
  }
  return a.metrics.agent_id < b.metrics.agent_id;
}

}  // namespace

Status validate(const GamificationSettings& s) {
  const struct {
    const char* name;
    int value;
  } weights[] = {{"npsWeight", s.nps_weight},
                 {"volumeWeight", s.volume_weight},
                 {"resolutionWeight", s.resolution_weight},
                 {"responseTimeWeight", s.response_time_weight}};
  int sum = 0;
  for (const auto& w : weights) {
    if (w.value < 0 || w.value > 100) return bad(std::string(w.name) + " must be within 0..100");
    sum += w.value;
  }
  if (sum != 100) return bad("the weights must sum to 100, they sum to " + std::to_string(sum));
  if (s.target_nps <= 0 || s.target_nps > 10) return bad("targetNps must be within 1..10");
  if (s.target_resolution <= 0 || s.target_resolution > 100) {
    return bad("targetResolution must be within 1..100");
  }
  if (s.target_response_time_s <= 0) return bad("targetResponseTime must be positive");
  if (s.target_volume <= 0) return bad("targetVolume must be positive");
  if (s.solucionador_nps_min < 0 || s.solucionador_nps_min > 10) {
    return bad("solucionadorNpsMin must be within 0..10");
  }
  if (s.solucionador_resolution_min < 0 || s.solucionador_resolution_min > 100) {
    return bad("solucionadorResolutionMin must be within 0..100");
  }
  if (s.velocista_nps_min < 0 || s.velocista_nps_min > 10) {
    return bad("velocistaNpsMin must be within 0..10");
  }
  if (s.velocista_top_n < 0) return bad("velocistaTopN must not be negative");
  if (s.campeao_volume_top_n < 0) return bad("campeaoVolumeTopN must not be negative");
  if (s.hall_of_fame_size < 0) return bad("hallOfFameSize must not be negative");
  return core::ok();
}

std::string_view to_string(Badge b) noexcept {
  switch (b) {
    case Badge::solucionador:
      return "solucionador";
    case Badge::velocista:
      return "velocista";
    case Badge::campeao_volume:
      return "campeao_volume";
  }
  return "unknown";
}

std::optional<Badge> parse_badge(std::string_view s) noexcept {
  for (Badge b : {Badge::solucionador, Badge::velocista, Badge::campeao_volume}) {
    if (to_string(b) == s) return b;
  }
  return std::nullopt;
}

bool AgentScore::has(Badge b) const noexcept {
  return std::any_of(badges.begin(), badges.end(),
                     [b](const AwardedBadge& a) { return a.badge == b; });
}

AgentScore score_agent(const AgentMetrics& m, const GamificationSettings& s) {
  AgentScore out;
  out.metrics = m;
  if (m.resolved_conversations <= 0) return out;  // no activity, no points
  out.nps_score = m.has_nps ? ratio_score(m.avg_nps, s.target_nps) : 0;
  out.volume_score = ratio_score(m.resolved_conversations, s.target_volume);
  out.resolution_score = ratio_score(m.resolution_rate, s.target_resolution);
  out.time_score = m.avg_response_time_s <= s.target_response_time_s
                       ? 100
                       : ratio_score(s.target_response_time_s, m.avg_response_time_s);
  const long long weighted = 1LL * out.nps_score * s.nps_weight +
                             1LL * out.volume_score * s.volume_weight +
                             1LL * out.resolution_score * s.resolution_weight +
                             1LL * out.time_score * s.response_time_weight;
  if (m.has_nps) {
    out.total_score = static_cast<int>((weighted + 50) / 100);
  } else {
    const long long rest = 100 - s.nps_weight;  // the other weights' sum
    out.total_score = rest > 0 ? static_cast<int>((2 * weighted + rest) / (2 * rest)) : 0;
  }
  return out;
}

Result<Ranking> compute_ranking(const std::vector<AgentMetrics>& agents,
                                const GamificationSettings& settings) {
  if (auto st = validate(settings); !st.ok()) return st.error();
  std::set<std::string_view> ids;
  for (const auto& m : agents) {
    if (auto st = validate_metrics(m); !st.ok()) return st.error();
    if (!ids.insert(m.agent_id).second) return bad("agent " + m.agent_id + " appears twice");
  }

  Ranking r;
  r.agents.reserve(agents.size());
  for (const auto& m : agents) r.agents.push_back(score_agent(m, settings));
  std::sort(r.agents.begin(), r.agents.end(), ranks_before);
  for (std::size_t i = 0; i < r.agents.size(); ++i) r.agents[i].rank = static_cast<int>(i) + 1;

  // Badges, in a fixed order per agent.
  for (auto& a : r.agents) {
    const auto& m = a.metrics;
    if (m.resolved_conversations > 0 && m.has_nps && m.avg_nps >= settings.solucionador_nps_min &&
        m.resolution_rate >= settings.solucionador_resolution_min) {
      a.badges.push_back({Badge::solucionador, round_half_up(m.resolution_rate)});
    }
  }
  // Candidates are visited in rank order, so a stable sort breaks ties by rank.
  std::vector<AgentScore*> fast;
  std::vector<AgentScore*> busy;
  for (auto& a : r.agents) {
    if (a.metrics.resolved_conversations <= 0) continue;
    busy.push_back(&a);
    if (a.metrics.has_nps && a.metrics.avg_nps >= settings.velocista_nps_min) fast.push_back(&a);
  }
  std::stable_sort(fast.begin(), fast.end(), [](const AgentScore* x, const AgentScore* y) {
    return x->metrics.avg_response_time_s < y->metrics.avg_response_time_s;
  });
  std::stable_sort(busy.begin(), busy.end(), [](const AgentScore* x, const AgentScore* y) {
    return x->metrics.resolved_conversations > y->metrics.resolved_conversations;
  });
  const auto top = [](std::vector<AgentScore*>& v, int n) {
    v.resize(std::min(v.size(), static_cast<std::size_t>(n)));
  };
  top(fast, settings.velocista_top_n);
  top(busy, settings.campeao_volume_top_n);
  for (auto* a : fast) {
    a->badges.push_back({Badge::velocista, round_half_up(a->metrics.avg_response_time_s)});
  }
  for (auto* a : busy) {
    a->badges.push_back({Badge::campeao_volume, a->metrics.resolved_conversations});
  }

  // The period's winners: an agent who resolved nothing in it (ranked only for a score given
  // to an earlier resolution) is not one.
  for (const auto& a : r.agents) {
    if (r.hall_of_fame.size() >= static_cast<std::size_t>(settings.hall_of_fame_size)) break;
    if (a.metrics.resolved_conversations > 0) r.hall_of_fame.push_back(a);
  }
  return r;
}

}  // namespace lia::domain
