#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include <lia/domain/conversation_state.hpp>

using lia::core::Errc;
using lia::core::SysTime;
using lia::domain::advance;
using lia::domain::apply;
using lia::domain::ConversationEvent;
using lia::domain::ConversationEventKind;
using lia::domain::ConversationMode;
using lia::domain::ConversationState;
using lia::domain::ConversationStatus;
using lia::domain::decide_inbound;
using lia::domain::MessageStatus;
using lia::domain::MessageTick;
using lia::domain::parse_conversation_mode;
using lia::domain::parse_conversation_status;
using lia::domain::parse_evolution_cloud_status;
using lia::domain::parse_evolution_status;
using lia::domain::parse_message_status;
using lia::domain::parse_meta_status;
using lia::domain::Route;
using lia::domain::supersedes;
using namespace std::chrono_literals;

namespace {

using K = ConversationEventKind;
using S = ConversationStatus;
using M = ConversationMode;

constexpr ConversationState kActive{S::active, M::ai};
constexpr ConversationState kHuman{S::transferred, M::human};
constexpr ConversationState kHybrid{S::transferred, M::hybrid};
constexpr ConversationState kResolvedHuman{S::resolved, M::human};

ConversationEvent ev(K k, M mode = M::human) {
  return ConversationEvent{k, mode};
}

}  // namespace

TEST_CASE("legal conversation transitions") {
  struct Case {
    ConversationState from;
    ConversationEvent event;
    ConversationState to;
  };
  const Case cases[] = {
      {kActive, ev(K::customer_message), kActive},
      {kActive, ev(K::ai_handoff), kHuman},
      {kActive, ev(K::agent_assign), kHuman},
      {kActive, ev(K::agent_assign, M::hybrid), kHybrid},
      {kActive, ev(K::agent_resolve), {S::resolved, M::ai}},
      {kActive, ev(K::return_to_ai), kActive},
      {kHuman, ev(K::customer_message), kHuman},
      {kHuman, ev(K::ai_handoff), kHuman},  // repeated handoff: unchanged
      {kHybrid, ev(K::ai_handoff), kHybrid},
      {kHuman, ev(K::agent_assign), kHuman},  // reassignment
      {kHuman, ev(K::agent_assign, M::hybrid), kHybrid},
      {kHybrid, ev(K::agent_assign, M::human), kHuman},
      {kHuman, ev(K::agent_resolve), kResolvedHuman},
      {kHybrid, ev(K::agent_resolve), {S::resolved, M::hybrid}},
      {kHuman, ev(K::return_to_ai), kActive},
      {kResolvedHuman, ev(K::customer_reply_with_score), kResolvedHuman},
      {kResolvedHuman, ev(K::customer_reply_without_score), kActive},
      {kResolvedHuman, ev(K::reopen), kActive},
      {ConversationState{S::resolved, M::ai}, ev(K::reopen), kActive},
  };
  for (const auto& c : cases) {
    INFO(to_string(c.from.status) << "/" << to_string(c.from.mode) << " + "
                                  << to_string(c.event.kind));
    auto r = apply(c.from, c.event);
    REQUIRE(r.ok());
    CHECK(*r == c.to);
  }
}

TEST_CASE("illegal conversation transitions are conflicts that say why") {
  struct Case {
    ConversationState from;
    ConversationEvent event;
    const char* part = nullptr;
  };
  const Case cases[] = {
      {kActive, ev(K::customer_reply_with_score), "no survey is pending"},
      {kActive, ev(K::customer_reply_without_score), "no survey is pending"},
      {kHuman, ev(K::customer_reply_with_score), "no survey is pending"},
      {kActive, ev(K::reopen), "still open"},
      {kHybrid, ev(K::reopen), "still open"},
      {kActive, ev(K::agent_assign, M::ai), "human or hybrid"},
      {kResolvedHuman, ev(K::customer_message), "survey answer or reopens"},
      {kResolvedHuman, ev(K::agent_resolve), "already resolved"},
      {kResolvedHuman, ev(K::ai_handoff), "reopen it first"},
      {kResolvedHuman, ev(K::agent_assign), "reopen it first"},
      {kResolvedHuman, ev(K::return_to_ai), "reopen it first"},
  };
  for (const auto& c : cases) {
    INFO(c.part);
    auto r = apply(c.from, c.event);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == Errc::conflict);
    CHECK_FALSE(r.error().retryable());
    CHECK_THAT(r.error().message(), Catch::Contains(c.part));
    CHECK_THAT(r.error().message(), Catch::Contains(std::string(to_string(c.event.kind))));
    CHECK_THAT(r.error().message(), Catch::Contains(std::string(to_string(c.from.status))));
  }
}

TEST_CASE("a whole conversation: AI, handoff, hybrid, resolution, survey, reopen") {
  ConversationState s;
  CHECK(s == kActive);
  for (auto e : {ev(K::customer_message), ev(K::ai_handoff), ev(K::customer_message),
                 ev(K::agent_assign, M::hybrid), ev(K::agent_resolve),
                 ev(K::customer_reply_with_score), ev(K::reopen), ev(K::customer_message)}) {
    auto r = apply(s, e);
    REQUIRE(r.ok());
    s = *r;
  }
  CHECK(s == kActive);
}

TEST_CASE("decide_inbound routes by status and mode") {
  const SysTime now{std::chrono::seconds{1'750'000'000}};
  auto d = decide_inbound(kActive, "oi", std::nullopt, now);
  CHECK(d.route == Route::ai);
  CHECK(d.event.kind == K::customer_message);
  CHECK(d.next == kActive);

  d = decide_inbound(kHuman, "oi", std::nullopt, now);
  CHECK(d.route == Route::human);
  CHECK(d.next == kHuman);

  d = decide_inbound(kHybrid, "oi", std::nullopt, now);
  CHECK(d.route == Route::ai_suggestion);
  CHECK_FALSE(d.score.has_value());

  // A bare score to a pending survey within the window: recorded, stays resolved.
  d = decide_inbound(kResolvedHuman, "nota 9", now - 2h, now);
  CHECK(d.route == Route::nps_survey);
  CHECK(d.event.kind == K::customer_reply_with_score);
  CHECK(d.score == 9);
  CHECK(d.next == kResolvedHuman);

  // Not a score: reopens.
  d = decide_inbound(kResolvedHuman, "ainda estou sem internet", now - 2h, now);
  CHECK(d.route == Route::ai);
  CHECK(d.event.kind == K::customer_reply_without_score);
  CHECK(d.next == kActive);
  CHECK_FALSE(d.score.has_value());

  // A score after the 24 h window, or with no pending survey, reopens too.
  d = decide_inbound(kResolvedHuman, "10", now - 25h, now);
  CHECK(d.event.kind == K::customer_reply_without_score);
  CHECK(d.next == kActive);
  d = decide_inbound(kResolvedHuman, "10", std::nullopt, now);
  CHECK(d.event.kind == K::customer_reply_without_score);

  // The decision's event applied to the state gives its `next`.
  for (const auto& st : {kActive, kHuman, kHybrid, kResolvedHuman}) {
    for (const char* text : {"9", "oi"}) {
      const auto dd = decide_inbound(st, text, now - 1h, now);
      auto r = apply(st, dd.event);
      REQUIRE(r.ok());
      CHECK(*r == dd.next);
    }
  }
}

TEST_CASE("conversation names round-trip") {
  for (auto s : {S::active, S::transferred, S::resolved}) {
    CHECK(parse_conversation_status(to_string(s)) == s);
  }
  for (auto m : {M::ai, M::human, M::hybrid}) CHECK(parse_conversation_mode(to_string(m)) == m);
  CHECK_FALSE(parse_conversation_status("closed").has_value());
  CHECK_FALSE(parse_conversation_mode("AI").has_value());
  CHECK(to_string(Route::ai_suggestion) == "ai_suggestion");
  CHECK(to_string(K::customer_reply_without_score) == "customer_reply_without_score");
}

TEST_CASE("message ticks only move forward") {
  using MS = MessageStatus;
  const MS order[] = {MS::pending, MS::server_ack, MS::error, MS::delivery_ack, MS::read};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) {
      INFO(to_string(order[i]) << " <- " << to_string(order[j]));
      CHECK(supersedes(order[j], order[i]) == (j > i));
    }
  }

  // A late DELIVERY_ACK never overwrites READ.
  const MessageTick read{MS::read, ""};
  CHECK(advance(read, {MS::delivery_ack, ""}) == read);
  CHECK(advance(read, {MS::server_ack, ""}) == read);
  CHECK(advance(read, {MS::read, ""}) == read);

  // The usual path.
  MessageTick t;
  CHECK(t.status == MS::pending);
  t = advance(t, {MS::server_ack, ""});
  CHECK(t.status == MS::server_ack);
  t = advance(t, {MS::read, ""});  // delivery skipped
  CHECK(t.status == MS::read);
}

TEST_CASE("ERROR keeps its reason and yields only to proof of delivery") {
  using MS = MessageStatus;
  MessageTick t{MS::server_ack, ""};
  t = advance(t, {MS::error, "131026: receiver incapable"});
  CHECK(t == MessageTick{MS::error, "131026: receiver incapable"});
  // A second failure keeps the first reason; a late SERVER_ACK changes nothing.
  CHECK(advance(t, {MS::error, "other"}) == t);
  CHECK(advance(t, {MS::server_ack, ""}) == t);
  CHECK(advance(t, {MS::pending, ""}) == t);
  // Delivered after all: the reason goes away.
  CHECK(advance(t, {MS::delivery_ack, ""}) == MessageTick{MS::delivery_ack, ""});
  // A failure report after delivery is ignored.
  const MessageTick delivered{MS::delivery_ack, ""};
  CHECK(advance(delivered, {MS::error, "late"}) == delivered);
  // A stray reason on a non-error tick is dropped.
  CHECK(advance(t, {MS::read, "junk"}) == MessageTick{MS::read, ""});
}

TEST_CASE("provider status vocabularies map to our ticks") {
  using MS = MessageStatus;
  struct Case {
    const char* in = nullptr;
    MS out = MS::pending;
  };
  for (const Case& c :
       {Case{"sent", MS::server_ack}, Case{"delivered", MS::delivery_ack}, Case{"read", MS::read},
        Case{"failed", MS::error}, Case{"READ", MS::read}, Case{"played", MS::read}}) {
    INFO(c.in);
    auto r = parse_meta_status(c.in);
    REQUIRE(r.ok());
    CHECK(*r == c.out);
  }
  for (const Case& c :
       {Case{"PENDING", MS::pending}, Case{"SERVER_ACK", MS::server_ack},
        Case{"DELIVERY_ACK", MS::delivery_ack}, Case{"READ", MS::read}, Case{"PLAYED", MS::read},
        Case{"ERROR", MS::error}, Case{"server_ack", MS::server_ack}, Case{"0", MS::error},
        Case{"1", MS::pending}, Case{"2", MS::server_ack}, Case{"3", MS::delivery_ack},
        Case{"4", MS::read}, Case{"5", MS::read}}) {
    INFO(c.in);
    auto r = parse_evolution_status(std::string_view(c.in));
    REQUIRE(r.ok());
    CHECK(*r == c.out);
  }
  const MS numeric[] = {MS::error,        MS::pending, MS::server_ack,
                        MS::delivery_ack, MS::read,    MS::read};
  for (int code = 0; code <= 5; ++code) {
    auto r = parse_evolution_status(code);
    REQUIRE(r.ok());
    CHECK(*r == numeric[code]);
  }
  for (const Case& c :
       {Case{"SENT", MS::server_ack}, Case{"DELIVERED", MS::delivery_ack}, Case{"READ", MS::read},
        Case{"PLAYED", MS::read}, Case{"FAILED", MS::error}}) {
    INFO(c.in);
    auto r = parse_evolution_cloud_status(c.in);
    REQUIRE(r.ok());
    CHECK(*r == c.out);
  }
}

TEST_CASE("unknown provider statuses are errors naming the value") {
  for (const char* bad : {"", "deleted", "warning", "SERVER_ACK", "sending"}) {
    INFO(bad);
    auto r = parse_meta_status(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == Errc::invalid_argument);
    CHECK_THAT(r.error().message(), Catch::Contains("Meta"));
  }
  for (int code : {-1, 6, 99}) {
    auto r = parse_evolution_status(code);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains(std::to_string(code)));
  }
  for (const char* bad : {"", "6", "DELIVERED", "ACK", "12"}) {
    INFO(bad);
    CHECK_FALSE(parse_evolution_status(std::string_view(bad)).ok());
  }
  for (const char* bad : {"PENDING", "DELIVERY_ACK", "x"}) {
    INFO(bad);
    CHECK_FALSE(parse_evolution_cloud_status(bad).ok());
  }
  // Control characters are not echoed into the error.
  auto r = parse_meta_status("bad\nvalue");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("bad?value"));
}

TEST_CASE("stored message status values round-trip") {
  using MS = MessageStatus;
  for (auto s : {MS::pending, MS::server_ack, MS::delivery_ack, MS::read, MS::error}) {
    auto r = parse_message_status(to_string(s));
    REQUIRE(r.ok());
    CHECK(*r == s);
  }
  CHECK(to_string(MS::delivery_ack) == "DELIVERY_ACK");
  CHECK_FALSE(parse_message_status("read").ok());
  CHECK_FALSE(parse_message_status("PLAYED").ok());
}
