#pragma once
// The agents' ranking for one period (monthly by default): sub-scores, weighted total,
// rank, badges and hall of fame, as stored in engagement.gamification_scores,
// gamification_badges and gamification_history.
//
// Sub-scores are integers 0..100, each rounded half up from its exact value:
//   npsScore        = min(100, 100 * avgNps / targetNps)
//   volumeScore     = min(100, 100 * resolvedConversations / targetVolume)
//   resolutionScore = min(100, 100 * resolutionRate / targetResolution)
//   timeScore       = 100 when avgResponseTime <= targetResponseTime, else
//                     100 * targetResponseTime / avgResponseTime (halves when the time
//                     doubles; never below 0). An agent with no resolved conversation has
//                     no response time to speak of: timeScore 0.
//   An agent with no resolved conversation gets 0 on every sub-score.
// totalScore = (npsScore*npsWeight + volumeScore*volumeWeight
//               + resolutionScore*resolutionWeight + timeScore*responseTimeWeight) / 100,
//   rounded half up, over the integer sub-scores (weights are percentages summing to 100).
//   An agent whose customers gave no score in the period has no NPS to speak of (not an NPS
//   of 0): npsScore 0, and the total is the other three over their own weights,
//   (volumeScore*volumeWeight + resolutionScore*resolutionWeight
//    + timeScore*responseTimeWeight) / (100 - npsWeight), rounded half up (0 when npsWeight
//   is 100); the NPS badges' minimum is not met.
//
// Rank 1..N, no shared ranks: ties on totalScore are broken by, in order, higher
// npsScore, more resolved conversations, lower average response time, then agent id
// (byte order), so the same input always gives the same ranking.
//
// Badges (each with the metric stored beside it):
//   solucionador   avgNps >= solucionadorNpsMin and resolutionRate >= solucionadorResolutionMin
//                  (and at least one resolved conversation); metric: resolution rate.
//   velocista      the velocistaTopN agents with the lowest avgResponseTime among those
//                  with avgNps >= velocistaNpsMin and at least one resolved conversation;
//                  metric: avg response time in seconds.
//   campeao_volume the campeaoVolumeTopN agents with the most resolved conversations (at
//                  least one); metric: resolved conversations.
//   Ties at the edge of a top N are broken by rank: exactly N agents get the badge.
// Hall of fame: the first hallOfFameSize (5) agents of the ranking.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/result.hpp>

namespace lia::domain {

struct AgentMetrics {
  std::string agent_id;
  int resolved_conversations = 0;    // >= 0
  double avg_nps = 0.0;              // 0..10
  double resolution_rate = 0.0;      // 0..100 (%)
  double avg_response_time_s = 0.0;  // >= 0
  bool has_nps = true;               // false: no score in the period (avg_nps unused)
};

struct GamificationSettings {
  int nps_weight = 40;
  int volume_weight = 30;
  int resolution_weight = 20;
  int response_time_weight = 10;
  int solucionador_nps_min = 7;
  int solucionador_resolution_min = 70;
  int velocista_nps_min = 7;
  int velocista_top_n = 1;
  int campeao_volume_top_n = 1;
  int target_nps = 8;
  int target_resolution = 85;
  int target_response_time_s = 120;
  int target_volume = 500;
  int hall_of_fame_size = 5;  // not a gamification_settings column: the history keeps 5
};

// Weights >= 0 summing to 100, targets > 0, thresholds in range, top N and hall of fame
// size >= 0. The error names the offending setting.
core::Status validate(const GamificationSettings& s);

enum class Badge { solucionador, velocista, campeao_volume };
std::string_view to_string(Badge b) noexcept;
std::optional<Badge> parse_badge(std::string_view s) noexcept;

struct AwardedBadge {
  Badge badge = Badge::solucionador;
  int metric = 0;  // see the header comment

  friend bool operator==(const AwardedBadge&, const AwardedBadge&) = default;
};

struct AgentScore {
  AgentMetrics metrics;
  int nps_score = 0;
  int volume_score = 0;
  int resolution_score = 0;
  int time_score = 0;
  int total_score = 0;
  int rank = 0;                      // 1..N
  std::vector<AwardedBadge> badges;  // in the order solucionador, velocista, campeao_volume

  bool has(Badge b) const noexcept;
};

struct Ranking {
  std::vector<AgentScore> agents;        // by rank
  std::vector<AgentScore> hall_of_fame;  // the first hall_of_fame_size of `agents`
};

// The sub-scores and total of one agent, without rank or badges.
AgentScore score_agent(const AgentMetrics& m, const GamificationSettings& s);

// Fails on invalid settings, an empty or duplicate agent id, or metrics out of range
// (negative, NaN, avg NPS above 10, resolution rate above 100); the error names the agent.
core::Result<Ranking> compute_ranking(const std::vector<AgentMetrics>& agents,
                                      const GamificationSettings& settings = {});

}  // namespace lia::domain
