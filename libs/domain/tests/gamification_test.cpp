#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/domain/gamification.hpp>

using lia::core::Errc;
using lia::domain::AgentMetrics;
using lia::domain::AgentScore;
using lia::domain::AwardedBadge;
using lia::domain::Badge;
using lia::domain::compute_ranking;
using lia::domain::GamificationSettings;
using lia::domain::parse_badge;
using lia::domain::Ranking;
using lia::domain::score_agent;
using lia::domain::validate;

namespace {

AgentMetrics agent(std::string id, int resolved, double nps, double rate, double time_s) {
  return AgentMetrics{std::move(id), resolved, nps, rate, time_s};
}

const AgentScore& find(const Ranking& r, const std::string& id) {
  for (const auto& a : r.agents) {
    if (a.metrics.agent_id == id) return a;
  }
  FAIL("agent " << id << " not in ranking");
  return r.agents.front();
}

}  // namespace

TEST_CASE("sub-scores are relative to the targets and capped at 100") {
  const GamificationSettings s;  // targets: nps 8, resolution 85, time 120 s, volume 500
  struct Case {
    AgentMetrics m;
    int nps = 0, volume = 0, resolution = 0, time = 0, total = 0;
  };
  const Case cases[] = {
      // at every target: 100 everywhere
      {agent("a", 500, 8, 85, 120), 100, 100, 100, 100, 100},
      // above every target: still 100
      {agent("b", 900, 10, 100, 10), 100, 100, 100, 100, 100},
      // half of every target; time twice the target
      {agent("c", 250, 4, 42.5, 240), 50, 50, 50, 50, 50},
      // 7/8 = 87.5 -> 88; 100/500 = 20; 70/85 = 82.35 -> 82; 120/180 = 66.67 -> 67
      // total = (88*40 + 20*30 + 82*20 + 67*10) / 100 = 64.3 -> 64
      {agent("d", 100, 7, 70, 180), 88, 20, 82, 67, 64},
      // time far above target decays toward 0
      {agent("e", 1, 0, 0, 12000), 0, 0, 0, 1, 0},
      // the time score is 100 at or below the target
      {agent("f", 50, 9, 90, 0), 100, 10, 100, 100, 73},
  };
  for (const auto& c : cases) {
    INFO(c.m.agent_id);
    const auto a = score_agent(c.m, s);
    CHECK(a.nps_score == c.nps);
    CHECK(a.volume_score == c.volume);
    CHECK(a.resolution_score == c.resolution);
    CHECK(a.time_score == c.time);
    CHECK(a.total_score == c.total);
  }
}

TEST_CASE("an agent with no resolved conversation scores 0 everywhere") {
  const auto a = score_agent(agent("idle", 0, 10, 100, 5), {});
  CHECK(a.nps_score == 0);
  CHECK(a.volume_score == 0);
  CHECK(a.resolution_score == 0);
  CHECK(a.time_score == 0);
  CHECK(a.total_score == 0);
}

TEST_CASE("an agent whose customers gave no score is ranked on the other three weights") {
  // 250 of 500 conversations (50), 85 % kept (100), 60 s (100): (50*30 + 100*20 + 100*10) / 60.
  auto quiet = agent("quiet", 250, 0, 85, 60);
  quiet.has_nps = false;
  const auto a = score_agent(quiet, {});
  CHECK(a.nps_score == 0);
  CHECK(a.volume_score == 50);
  CHECK(a.total_score == 75);                       // 4500 / 60
  auto halfway = agent("halfway", 255, 0, 85, 60);  // volume 51: 4530 / 60 = 75.5
  halfway.has_nps = false;
  CHECK(score_agent(halfway, {}).total_score == 76);  // half up
  // The same agent with every customer giving 0 is worse off: the NPS weighs 40 %.
  CHECK(score_agent(agent("harsh", 250, 0, 85, 60), {}).total_score == 45);
  GamificationSettings only_nps;
  only_nps.nps_weight = 100;
  only_nps.volume_weight = only_nps.resolution_weight = only_nps.response_time_weight = 0;
  CHECK(score_agent(quiet, only_nps).total_score == 0);
  // No NPS badge without an NPS, even with a minimum of 0.
  GamificationSettings lenient;
  lenient.solucionador_nps_min = 0;
  lenient.velocista_nps_min = 0;
  auto ranking = compute_ranking({quiet}, lenient);
  REQUIRE(ranking.ok());
  REQUIRE(ranking->agents.size() == 1);
  CHECK_FALSE(ranking->agents[0].has(Badge::solucionador));
  CHECK_FALSE(ranking->agents[0].has(Badge::velocista));
  CHECK(ranking->agents[0].has(Badge::campeao_volume));
}

TEST_CASE("weights change the total") {
  GamificationSettings s;
  s.nps_weight = 100;
  s.volume_weight = 0;
  s.resolution_weight = 0;
  s.response_time_weight = 0;
  CHECK(score_agent(agent("a", 1, 6, 10, 900), s).total_score == 75);  // 6/8
  s.nps_weight = 0;
  s.response_time_weight = 100;
  CHECK(score_agent(agent("a", 1, 6, 10, 900), s).total_score == 13);  // 120/900 = 13.3
}

TEST_CASE("the ranking orders by total with deterministic tie-breaks") {
  const std::vector<AgentMetrics> in = {
      agent("zoe", 500, 8, 85, 120),    // 100
      agent("ana", 250, 4, 42.5, 240),  // 50
      agent("bia", 250, 4, 42.5, 240),  // 50, same everything as ana: id breaks the tie
      agent("caio", 100, 7, 70, 180),   // 64
      agent("duda", 0, 0, 0, 0),        // 0
  };
  auto r = compute_ranking(in);
  REQUIRE(r.ok());
  REQUIRE(r->agents.size() == 5);
  const char* order[] = {"zoe", "caio", "ana", "bia", "duda"};
  for (int i = 0; i < 5; ++i) {
    INFO(i);
    CHECK(r->agents[i].metrics.agent_id == order[i]);
    CHECK(r->agents[i].rank == i + 1);
  }

  // Same input in another order: same ranking.
  std::vector<AgentMetrics> reversed(in.rbegin(), in.rend());
  auto r2 = compute_ranking(reversed);
  REQUIRE(r2.ok());
  for (int i = 0; i < 5; ++i) CHECK(r2->agents[i].metrics.agent_id == order[i]);
}

TEST_CASE("ties on total are broken by NPS score, then volume, then response time") {
  GamificationSettings s;
  s.nps_weight = 50;
  s.volume_weight = 50;
  s.resolution_weight = 0;
  s.response_time_weight = 0;
  // x: nps 100, volume 0 -> 50; y: nps 0... both totals 50 but x has the higher NPS score.
  auto r = compute_ranking({agent("y", 500, 0, 0, 0), agent("x", 1, 8, 0, 0)}, s);
  REQUIRE(r.ok());
  CHECK(r->agents[0].total_score == r->agents[1].total_score);
  CHECK(r->agents[0].metrics.agent_id == "x");

  // Same total and NPS score: more conversations first.
  auto v = compute_ranking({agent("p", 100, 8, 0, 0), agent("q", 101, 8, 0, 0)}, s);
  REQUIRE(v.ok());
  CHECK(v->agents[0].total_score == v->agents[1].total_score);
  CHECK(v->agents[0].metrics.agent_id == "q");

  // Same total, NPS score and volume: faster first.
  auto t = compute_ranking({agent("m", 100, 8, 0, 30), agent("n", 100, 8, 0, 20)}, s);
  REQUIRE(t.ok());
  CHECK(t->agents[0].metrics.agent_id == "n");
}

TEST_CASE("badges follow the settings") {
  const std::vector<AgentMetrics> in = {
      agent("ana", 300, 9, 90, 200),   // solucionador, campeao_volume
      agent("bia", 100, 8, 75, 45),    // solucionador, velocista
      agent("caio", 200, 6, 95, 30),   // fastest but NPS < 7: no velocista; no solucionador
      agent("duda", 50, 7, 69.9, 60),  // resolution just below 70: no solucionador
      agent("edu", 0, 10, 100, 0),     // no conversations: no badge at all
  };
  auto r = compute_ranking(in);
  REQUIRE(r.ok());
  const auto& ana = find(*r, "ana");
  CHECK(ana.badges ==
        std::vector<AwardedBadge>{{Badge::solucionador, 90}, {Badge::campeao_volume, 300}});
  const auto& bia = find(*r, "bia");
  CHECK(bia.badges == std::vector<AwardedBadge>{{Badge::solucionador, 75}, {Badge::velocista, 45}});
  CHECK(find(*r, "caio").badges.empty());
  CHECK(find(*r, "duda").badges.empty());
  CHECK(find(*r, "edu").badges.empty());
  CHECK(ana.has(Badge::campeao_volume));
  CHECK_FALSE(ana.has(Badge::velocista));

  // Thresholds are inclusive: NPS exactly 7 and resolution exactly 70.
  auto edge = compute_ranking({agent("e", 10, 7, 70, 500)});
  REQUIRE(edge.ok());
  CHECK(edge->agents[0].has(Badge::solucionador));
}

TEST_CASE("top N badges go to exactly N agents, ties broken by rank") {
  GamificationSettings s;
  s.velocista_top_n = 2;
  s.campeao_volume_top_n = 2;
  const std::vector<AgentMetrics> in = {
      agent("a", 100, 9, 90, 30),
      agent("b", 100, 8, 90, 30),
      agent("c", 100, 7, 90, 30),
      agent("d", 50, 9, 90, 20),
  };
  auto r = compute_ranking(in, s);
  REQUIRE(r.ok());
  // velocista: d (20 s), then among a, b, c at 30 s the best ranked (a)
  CHECK(find(*r, "d").has(Badge::velocista));
  CHECK(find(*r, "a").has(Badge::velocista));
  CHECK_FALSE(find(*r, "b").has(Badge::velocista));
  CHECK_FALSE(find(*r, "c").has(Badge::velocista));
  // campeao_volume: a, b, c tie on 100: the two best ranked
  CHECK(find(*r, "a").has(Badge::campeao_volume));
  CHECK(find(*r, "b").has(Badge::campeao_volume));
  CHECK_FALSE(find(*r, "c").has(Badge::campeao_volume));
  CHECK_FALSE(find(*r, "d").has(Badge::campeao_volume));

  s.velocista_top_n = 0;
  s.campeao_volume_top_n = 0;
  auto none = compute_ranking(in, s);
  REQUIRE(none.ok());
  for (const auto& a : none->agents) {
    CHECK_FALSE(a.has(Badge::velocista));
    CHECK_FALSE(a.has(Badge::campeao_volume));
  }
}

TEST_CASE("hall of fame is the top 5") {
  std::vector<AgentMetrics> in;
  in.reserve(8);
  for (int i = 0; i < 8; ++i)
    in.push_back(agent("agent" + std::to_string(i), 50 * (i + 1), 8, 85, 60));
  auto r = compute_ranking(in);
  REQUIRE(r.ok());
  REQUIRE(r->hall_of_fame.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(r->hall_of_fame[i].rank == i + 1);
    CHECK(r->hall_of_fame[i].metrics.agent_id == r->agents[i].metrics.agent_id);
  }
  CHECK(r->hall_of_fame[0].metrics.agent_id == "agent7");

  auto small = compute_ranking({agent("solo", 1, 8, 85, 60)});
  REQUIRE(small.ok());
  CHECK(small->hall_of_fame.size() == 1);

  auto empty = compute_ranking({});
  REQUIRE(empty.ok());
  CHECK(empty->agents.empty());
  CHECK(empty->hall_of_fame.empty());

  // An agent with only a score given this month to an earlier resolution is ranked, last, but
  // won nothing this month.
  auto late = compute_ranking({agent("active", 3, 8, 85, 60), agent("late_score", 0, 10, 0, 0)});
  REQUIRE(late.ok());
  CHECK(late->agents.size() == 2);
  REQUIRE(late->hall_of_fame.size() == 1);
  CHECK(late->hall_of_fame[0].metrics.agent_id == "active");
}

TEST_CASE("settings are validated, naming the bad one") {
  CHECK(validate(GamificationSettings{}).ok());
  struct Case {
    GamificationSettings s;
    const char* part = nullptr;
  };
  auto with = [](auto change) {
    GamificationSettings s;
    change(s);
    return s;
  };
  const Case cases[] = {
      {with([](auto& s) { s.nps_weight = 50; }), "sum to 110"},
      {with([](auto& s) {
         s.nps_weight = -10;
         s.volume_weight = 80;
       }),
       "npsWeight"},
      {with([](auto& s) { s.target_nps = 0; }), "targetNps"},
      {with([](auto& s) { s.target_nps = 11; }), "targetNps"},
      {with([](auto& s) { s.target_resolution = 0; }), "targetResolution"},
      {with([](auto& s) { s.target_response_time_s = 0; }), "targetResponseTime"},
      {with([](auto& s) { s.target_volume = -1; }), "targetVolume"},
      {with([](auto& s) { s.solucionador_nps_min = 11; }), "solucionadorNpsMin"},
      {with([](auto& s) { s.solucionador_resolution_min = 101; }), "solucionadorResolutionMin"},
      {with([](auto& s) { s.velocista_nps_min = -1; }), "velocistaNpsMin"},
      {with([](auto& s) { s.velocista_top_n = -1; }), "velocistaTopN"},
      {with([](auto& s) { s.campeao_volume_top_n = -1; }), "campeaoVolumeTopN"},
      {with([](auto& s) { s.hall_of_fame_size = -1; }), "hallOfFameSize"},
  };
  for (const auto& c : cases) {
    INFO(c.part);
    auto st = validate(c.s);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code() == Errc::invalid_argument);
    CHECK_THAT(st.error().message(), Catch::Contains(c.part));
    CHECK_FALSE(compute_ranking({agent("a", 1, 8, 85, 60)}, c.s).ok());
  }
}

TEST_CASE("bad metrics are rejected, naming the agent") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    AgentMetrics m;
    const char* part = nullptr;
  };
  const Case cases[] = {
      {agent("", 1, 8, 85, 60), "empty id"},
      {agent("neg", -1, 8, 85, 60), "resolved_conversations"},
      {agent("hi", 1, 10.5, 85, 60), "avg_nps"},
      {agent("nan", 1, nan, 85, 60), "avg_nps"},
      {agent("rate", 1, 8, 100.1, 60), "resolution_rate"},
      {agent("rneg", 1, 8, -1, 60), "resolution_rate"},
      {agent("time", 1, 8, 85, -1), "avg_response_time_s"},
      {agent("tinf", 1, 8, 85, inf), "avg_response_time_s"},
  };
  for (const auto& c : cases) {
    INFO(c.part);
    auto r = compute_ranking({agent("ok", 1, 8, 85, 60), c.m});
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains(c.part));
    CHECK_THAT(r.error().message(), Catch::Contains(c.m.agent_id));
  }
  auto dup = compute_ranking({agent("x", 1, 8, 85, 60), agent("x", 2, 8, 85, 60)});
  REQUIRE_FALSE(dup.ok());
  CHECK_THAT(dup.error().message(), Catch::Contains("agent x appears twice"));
}

TEST_CASE("huge inputs saturate instead of overflowing") {
  const auto a = score_agent(agent("big", std::numeric_limits<int>::max(), 10, 100, 1e300), {});
  CHECK(a.volume_score == 100);
  CHECK(a.time_score == 0);
  auto r = compute_ranking({agent("big", std::numeric_limits<int>::max(), 10, 100, 1e300)});
  REQUIRE(r.ok());
  const auto& b = r->agents[0];
  REQUIRE(b.has(Badge::velocista));
  CHECK(b.badges[1].metric == std::numeric_limits<int>::max());
}

TEST_CASE("badge names round-trip") {
  for (Badge b : {Badge::solucionador, Badge::velocista, Badge::campeao_volume}) {
    CHECK(parse_badge(to_string(b)) == b);
  }
  CHECK(to_string(Badge::campeao_volume) == "campeao_volume");
  CHECK_FALSE(parse_badge("Velocista").has_value());
}
