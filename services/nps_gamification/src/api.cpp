#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include <lia/auth/auth.hpp>
#include <lia/core/log.hpp>
#include <lia/core/page.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/gamification.hpp>
#include <lia/domain/hours.hpp>
#include <lia/domain/nps.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/nps_gamification/api.hpp>
#include <lia/nps_gamification/messages.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/authorize.hpp>

namespace lia::nps_gamification {
namespace {

namespace f = core::f;
using http::json_error;
using http::Request;
using http::Response;

Response db_error(const core::Error& e) {
  core::log().error("database error", {f::str("error", e.describe())});
  if (e.retryable()) return json_error(503, "unavailable", "database unavailable, retry later");
  return json_error(500, "internal", "internal error");
}

Response bad_request(std::string_view message) {
  return json_error(400, "invalid_argument", message);
}

std::optional<std::string> format_ms(std::optional<std::int64_t> ms) {
  if (!ms) return std::nullopt;
  return core::format_rfc3339(core::SysTime{
      std::chrono::duration_cast<core::SysTime::duration>(std::chrono::milliseconds{*ms})});
}

std::string ms_col(std::string_view col) {
  return "(extract(epoch from " + std::string(col) + ") * 1000)::bigint";
}

std::optional<std::int64_t> parse_int(std::string_view s, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

// Optional [from, to) time bounds from the query; the error is the 400 to answer.
struct Bounds {
  std::optional<core::SysTime> from;
  std::optional<core::SysTime> to;
};
core::Result<Bounds> read_bounds(const Request& req, std::chrono::minutes utc_offset) {
  Bounds b;
  for (auto [name, out] : {std::pair<const char*, std::optional<core::SysTime>*>{"from", &b.from},
                           std::pair<const char*, std::optional<core::SysTime>*>{"to", &b.to}}) {
    const std::string* v = req.query_param(name);
    if (v == nullptr || v->empty()) continue;
    auto t = parse_time_bound(*v, utc_offset);
    if (!t) {
      // A query string reads '+' as a space: "…T00:00:00+00:00" arrives as "…T00:00:00 00:00".
      const bool plus_as_space = v->find(' ') != std::string::npos;
      return core::Error(core::Errc::invalid_argument,
                         std::string("'") + name + "' must be an RFC 3339 date-time or YYYY-MM-DD" +
                             (plus_as_space ? " (in a URL, write a '+' offset as %2B)" : ""));
    }
    *out = *t;
  }
  if (b.from && b.to && *b.from >= *b.to) {
    return core::Error(core::Errc::invalid_argument, "'from' must be before 'to'");
  }
  return b;
}

const char* const kFeedbackColumns =
    "id::text, survey_id::text, conversation_id::text, agent_id::text, assistant_type, "
    "nps_score, category, comment, client_name, handling_score, handling_status, "
    "handling_notes, handled_by, (extract(epoch from handled_at) * 1000)::bigint, "
    "(extract(epoch from created_at) * 1000)::bigint";

void write_feedback(json::Writer& w, const pg::Row& r) {
  w.begin_object()
      .field("id", r.get<std::string>(0))
      .field("survey_id", r.get<std::string>(1))
      .field("conversation_id", r.get<std::string>(2));
  w.key("agent_id").value(r.get<std::optional<std::string>>(3));
  w.key("assistant_type").value(r.get<std::optional<std::string>>(4));
  w.field("nps_score", r.get<int>(5)).field("category", r.get<std::string>(6));
  w.key("comment").value(r.get<std::optional<std::string>>(7));
  w.key("client_name").value(r.get<std::optional<std::string>>(8));
  w.key("handling_score").value(r.get<std::optional<int>>(9));
  w.key("handling_status").value(r.get<std::optional<std::string>>(10));
  w.key("handling_notes").value(r.get<std::optional<std::string>>(11));
  w.key("handled_by").value(r.get<std::optional<std::string>>(12));
  w.key("handled_at").value(format_ms(r.get<std::optional<std::int64_t>>(13)));
  w.key("created_at").value(format_ms(r.get<std::optional<std::int64_t>>(14)));
  w.end_object();
}

// ---- settings ---------------------------------------------------------------------------

struct AllSettings {
  domain::GamificationSettings g;
  std::string calculation_period = "monthly";
  bool auto_calculate = false;
  std::string calculation_frequency = "monthly";
  int calculation_day_of_month = 1;
  int calculation_day_of_week = 1;
  std::string calculation_time = "00:00";
  std::optional<std::string> updated_by;
  std::optional<std::int64_t> updated_at_ms;
};

const char* const kSettingsColumns =
    "nps_weight, volume_weight, resolution_weight, response_time_weight, solucionador_nps_min, "
    "solucionador_resolution_min, velocista_nps_min, velocista_top_n, campeao_volume_top_n, "
    "target_nps, target_resolution, target_response_time, target_volume, calculation_period, "
    "auto_calculate, calculation_frequency, calculation_day_of_month, calculation_day_of_week, "
    "calculation_time, updated_by, (extract(epoch from updated_at) * 1000)::bigint";

// The integer settings, by JSON name, in the column order above.
std::vector<std::pair<const char*, int*>> int_fields(AllSettings& s) {
  auto& g = s.g;
  return {{"nps_weight", &g.nps_weight},
          {"volume_weight", &g.volume_weight},
          {"resolution_weight", &g.resolution_weight},
          {"response_time_weight", &g.response_time_weight},
          {"solucionador_nps_min", &g.solucionador_nps_min},
          {"solucionador_resolution_min", &g.solucionador_resolution_min},
          {"velocista_nps_min", &g.velocista_nps_min},
          {"velocista_top_n", &g.velocista_top_n},
          {"campeao_volume_top_n", &g.campeao_volume_top_n},
          {"target_nps", &g.target_nps},
          {"target_resolution", &g.target_resolution},
          {"target_response_time", &g.target_response_time_s},
          {"target_volume", &g.target_volume}};
}

AllSettings read_settings(const pg::Row& r) {
  AllSettings s;
  int col = 0;
  for (auto& [name, out] : int_fields(s)) *out = r.get<int>(col++);
  s.calculation_period = r.get<std::string>(13);
  s.auto_calculate = r.get<bool>(14);
  s.calculation_frequency = r.get<std::string>(15);
  s.calculation_day_of_month = r.get<int>(16);
  s.calculation_day_of_week = r.get<int>(17);
  s.calculation_time = r.get<std::string>(18);
  s.updated_by = r.get<std::optional<std::string>>(19);
  s.updated_at_ms = r.get<std::optional<std::int64_t>>(20);
  return s;
}

std::string settings_to_json(AllSettings s) {
  json::Writer w;
  w.begin_object();
  for (auto& [name, out] : int_fields(s)) w.field(name, *out);
  w.field("calculation_period", s.calculation_period)
      .field("auto_calculate", s.auto_calculate)
      .field("calculation_frequency", s.calculation_frequency)
      .field("calculation_day_of_month", s.calculation_day_of_month)
      .field("calculation_day_of_week", s.calculation_day_of_week)
      .field("calculation_time", s.calculation_time);
  w.key("updated_by").value(s.updated_by);
  w.key("updated_at").value(format_ms(s.updated_at_ms));
  w.end_object();
  return w.take();
}

// Applies a PUT body onto `s`; the error names the bad field.
core::Status merge_settings(AllSettings& s, const json::Obj& body) {
  using core::Errc;
  using core::Error;
  auto fields = int_fields(s);
  static const std::set<std::string, std::less<>> kText = {
      "calculation_period",       "auto_calculate",          "calculation_frequency",
      "calculation_day_of_month", "calculation_day_of_week", "calculation_time"};
  for (const auto& m : body.value().GetObject()) {
    const std::string_view key = json::view(m.name);
    bool known = kText.count(key) > 0;
    for (auto& [name, out] : fields) {
      if (key != name) continue;
      known = true;
      auto v = body.i64(key);
      if (!v) return v.error();
      if (*v < -1'000'000 || *v > 1'000'000) {
        return Error(Errc::invalid_argument, "field '" + std::string(key) + "' is out of range");
      }
      *out = static_cast<int>(*v);
    }
    if (!known) return Error(Errc::invalid_argument, "unknown setting '" + std::string(key) + "'");
  }
  if (auto st = domain::validate(s.g); !st) {
    // The domain names the seed's fields (targetNps); this API's are target_nps.
    std::string message = st.error().message();
    std::string weights;
    for (const auto& [name, out] : fields) {
      std::string camel;
      for (const char* c = name; *c != '\0'; ++c) {
        if (*c == '_' && c[1] != '\0') {
          camel += static_cast<char>(c[1] - 'a' + 'A');
          ++c;
        } else {
          camel += *c;
        }
      }
      if (const auto at = message.find(camel + " "); at != std::string::npos) {
        message.replace(at, camel.size(), "field '" + std::string(name) + "'");
      }
      if (std::string_view(name).ends_with("_weight")) {
        weights += (weights.empty() ? "" : ", ") + std::string(name);
      }
    }
    if (const auto at = message.find("the weights "); at != std::string::npos) {
      message.replace(at, 11, "the weights (" + weights + ")");
    }
    return Error(Errc::invalid_argument, message);
  }
  if (auto v = body.opt_str("calculation_period"); !v) {
    return v.error();
  } else if (*v) {
    if (**v != "weekly" && **v != "monthly" && **v != "quarterly") {
      return Error(Errc::invalid_argument,
                   "calculation_period must be weekly, monthly or quarterly");
    }
    s.calculation_period = std::string(**v);
  }
  if (auto v = body.opt_str("calculation_frequency"); !v) {
    return v.error();
  } else if (*v) {
    if (**v != "daily" && **v != "weekly" && **v != "monthly" && **v != "quarterly") {
      return Error(Errc::invalid_argument,
                   "calculation_frequency must be daily, weekly, monthly or quarterly");
    }
    s.calculation_frequency = std::string(**v);
  }
  if (auto v = body.opt_boolean("auto_calculate"); !v) {
    return v.error();
  } else if (*v) {
    s.auto_calculate = **v;
  }
  if (auto v = body.opt_i64("calculation_day_of_month"); !v) {
    return v.error();
  } else if (*v) {
    if (**v < 1 || **v > 31)
      return Error(Errc::invalid_argument, "calculation_day_of_month must be 1..31");
    s.calculation_day_of_month = static_cast<int>(**v);
  }
  if (auto v = body.opt_i64("calculation_day_of_week"); !v) {
    return v.error();
  } else if (*v) {
    if (**v < 1 || **v > 7)
      return Error(Errc::invalid_argument, "calculation_day_of_week must be 1..7");
    s.calculation_day_of_week = static_cast<int>(**v);
  }
  if (auto v = body.opt_str("calculation_time"); !v) {
    return v.error();
  } else if (*v) {
    auto minutes = domain::parse_hhmm(**v);
    if (!minutes || *minutes >= 24 * 60) {
      return Error(Errc::invalid_argument, "calculation_time must be HH:MM (00:00..23:59)");
    }
    s.calculation_time = domain::format_hhmm(*minutes);
  }
  return {};
}

}  // namespace

Api::Api(std::shared_ptr<pg::Pool> pool, std::string schema, const Settings& settings,
         const core::Clock& clock)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      q_(pg::quote_ident(schema_)),
      jwt_secret_(settings.jwt_secret),
      utc_offset_(settings.utc_offset),
      users_(pool_, schema_),
      clock_(clock) {}

void Api::add_routes(http::Router& router) const {
  const http::RouteOptions blocking{.blocking = true};
  router.add(
      "GET", "/api/nps", [this](const Request& r) { return nps(r); }, blocking);
  router.add(
      "GET", "/api/feedback", [this](const Request& r) { return list_feedback(r); }, blocking);
  router.add(
      "PATCH", "/api/feedback/{id}", [this](const Request& r) { return patch_feedback(r); },
      blocking);
  router.add(
      "POST", "/api/gamification/calculate", [this](const Request& r) { return calculate(r); },
      blocking);
  router.add(
      "GET", "/api/gamification/ranking", [this](const Request& r) { return ranking(r); },
      blocking);
  router.add(
      "GET", "/api/gamification/settings", [this](const Request& r) { return get_settings(r); },
      blocking);
  router.add(
      "PUT", "/api/gamification/settings", [this](const Request& r) { return put_settings(r); },
      blocking);
}

Response Api::nps(const Request& req) const {
  auth::Claims claims;
  if (auto denied = runtime::authorize(req, jwt_secret_, auth::Role::agent, claims, &users_))
    return *denied;
  auto bounds = read_bounds(req, utc_offset_);
  if (!bounds) return bad_request(bounds.error().message());
  std::optional<std::string> agent;
  if (const std::string* a = req.query_param("agent_id"); a != nullptr && !a->empty()) {
    auto id = core::Uuid::parse(*a);
    if (!id) return bad_request("'agent_id' must be a UUID");
    agent = id->str();
  }
  // An agent's own answers only: narrowed to one answer's time, anyone else's figures (the
  // whole team's included) would tell what that customer scored; the feedback list is
  // SUPERVISOR+.
  if (claims.role == auth::Role::agent) {
    const auto own = core::Uuid::parse(claims.subject);
    if (agent && (!own || *agent != own->str())) {
      return http::json_error(403, "forbidden", "an agent may ask for their own NPS only");
    }
    if (!own) return http::json_error(403, "forbidden", "an agent may ask for their own NPS only");
    agent = own->str();
  }
  auto rows =
      pool_->exec("SELECT nps_score, count(*) FROM " + q_ +
                      ".satisfaction_feedback WHERE ($1::timestamptz IS NULL OR created_at >= $1) "
                      "AND ($2::timestamptz IS NULL OR created_at < $2) "
                      "AND ($3::uuid IS NULL OR agent_id = $3) GROUP BY nps_score",
                  bounds->from, bounds->to, agent);
  if (!rows) return db_error(rows.error());
  // Counted per category, not a score per response: the whole history may be millions.
  std::array<std::int64_t, 3> counts{};  // detractors, neutrals, promoters
  for (const auto& r : *rows) {
    auto category = domain::nps_category(r.get<int>(0));
    if (!category) return db_error(category.error());
    counts.at(static_cast<std::size_t>(*category)) += r.get<std::int64_t>(1);
  }
  const auto narrow = [](std::int64_t n) {
    return static_cast<int>(std::min<std::int64_t>(n, std::numeric_limits<int>::max() / 3));
  };
  const auto summary = domain::nps_from_counts(
      narrow(counts[static_cast<std::size_t>(domain::NpsCategory::promoter)]),
      narrow(counts[static_cast<std::size_t>(domain::NpsCategory::neutral)]),
      narrow(counts[static_cast<std::size_t>(domain::NpsCategory::detractor)]));
  json::Writer w;
  w.begin_object()
      .field("nps", summary.score)
      .field("nps_exact", summary.exact)
      .field("promoters", summary.promoters)
      .field("neutrals", summary.neutrals)
      .field("detractors", summary.detractors)
      .field("responses", summary.responses);
  w.key("from").value(bounds->from ? std::optional(core::format_rfc3339(*bounds->from))
                                   : std::nullopt);
  w.key("to").value(bounds->to ? std::optional(core::format_rfc3339(*bounds->to)) : std::nullopt);
  w.end_object();
  return Response::json(200, w.take());
}

Response Api::list_feedback(const Request& req) const {
  auth::Claims claims;
  if (auto denied = runtime::authorize(req, jwt_secret_, auth::Role::supervisor, claims, &users_))
    return *denied;
  std::optional<std::string> category, handling;
  if (const std::string* c = req.query_param("category"); c != nullptr && !c->empty()) {
    if (*c != "detractor" && *c != "neutral" && *c != "promoter") {
      return bad_request("'category' must be detractor, neutral or promoter");
    }
    category = *c;
  }
  if (const std::string* h = req.query_param("handling_status"); h != nullptr && !h->empty()) {
    if (*h != "pending" && *h != "in_progress" && *h != "resolved") {
      return bad_request("'handling_status' must be pending, in_progress or resolved");
    }
    handling = *h;
  }
  auto bounds = read_bounds(req, utc_offset_);
  if (!bounds) return bad_request(bounds.error().message());
  std::int64_t limit = 50, offset = 0;
  if (const std::string* l = req.query_param("limit"); l != nullptr && !l->empty()) {
    auto v = parse_int(*l, 1, 500);
    if (!v) return bad_request("'limit' must be an integer 1..500");
    limit = *v;
  }
  if (const std::string* o = req.query_param("offset"); o != nullptr && !o->empty()) {
    auto v = parse_int(*o, 0, 1'000'000'000);
    if (!v) return bad_request("'offset' must be a non-negative integer");
    offset = *v;
  }
  // The next page after one whose next_before it is: as fast deep in the list as at its start.
  std::optional<core::PageCursor> before;
  if (const std::string* b = req.query_param("before"); b != nullptr && !b->empty()) {
    before = core::parse_page_cursor(*b);
    if (!before) return bad_request("'before' must be the next_before of an earlier page");
    if (offset != 0) return bad_request("give 'before' or 'offset', not both");
  }
  auto rows = pool_->exec(
      std::string("SELECT ") + kFeedbackColumns +
          ", (extract(epoch from created_at) * 1000000)::bigint FROM " + q_ +
          ".satisfaction_feedback WHERE ($1::text IS NULL OR category = $1) "
          "AND ($2::text IS NULL OR handling_status = $2) "
          "AND ($3::timestamptz IS NULL OR created_at >= $3) "
          "AND ($4::timestamptz IS NULL OR created_at < $4) "
          "AND ($7::bigint IS NULL OR (created_at, id) < (timestamptz 'epoch' + $7::bigint * "
          "interval '1 microsecond', $8::uuid)) "
          "ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6",
      category, handling, bounds->from, bounds->to, limit, offset,
      before ? std::optional<std::int64_t>(before->us) : std::nullopt,
      before ? std::optional<std::string>(before->id) : std::nullopt);
  if (!rows) return db_error(rows.error());
  json::Writer w;
  w.begin_object().array_field("feedback");
  for (const auto& r : *rows) write_feedback(w, r);
  w.end_array().field("limit", limit).field("offset", offset);
  // A full page may have more after it.
  if (!rows->empty() && static_cast<std::int64_t>(rows->size()) == limit) {
    const auto& last = (*rows)[rows->size() - 1];
    w.field("next_before", core::page_cursor(last.get<std::int64_t>(last.columns() - 1),
                                             last.get<std::string>(0)));
  }
  w.end_object();
  return Response::json(200, w.take());
}

Response Api::patch_feedback(const Request& req) const {
  auth::Claims claims;
  if (auto denied = runtime::authorize(req, jwt_secret_, auth::Role::supervisor, claims, &users_))
    return *denied;
  const std::string* id = req.param("id");
  if (id == nullptr || !core::Uuid::parse(*id))
    return bad_request("the feedback id must be a UUID");
  auto doc = json::parse(req.body);
  if (!doc) return bad_request(doc.error().message());
  auto body = json::Obj::root(*doc);
  if (!body) return bad_request(body.error().message());
  if (auto st = body->only({"handling_status", "handling_notes", "handling_score"}); !st) {
    return bad_request(st.error().message());
  }
  if (body->size() == 0) {
    return bad_request("nothing to change: send handling_status, handling_notes or handling_score");
  }
  auto status = body->opt_str("handling_status");
  if (!status) return bad_request(status.error().message());
  // null clears notes and score; a status it would leave as it was while recording the caller
  // as the one who handled it.
  if (!*status && body->get("handling_status") != nullptr) {
    return bad_request("'handling_status' cannot be null: pending, in_progress or resolved");
  }
  if (*status && **status != "pending" && **status != "in_progress" && **status != "resolved") {
    return bad_request("'handling_status' must be pending, in_progress or resolved");
  }
  auto notes = body->opt_str("handling_notes");
  if (!notes) return bad_request(notes.error().message());
  if (*notes && (*notes)->size() > 4096)
    return bad_request("'handling_notes' is longer than 4096 bytes");
  auto score = body->opt_i64("handling_score");
  if (!score) return bad_request(score.error().message());
  if (*score && (**score < 1 || **score > 5)) return bad_request("'handling_score' must be 1..5");

  auto opt_text = [](const std::optional<std::string_view>& v) {
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  };
  auto rows =
      pool_->exec("UPDATE " + q_ +
                      ".satisfaction_feedback SET "
                      "handling_status = CASE WHEN $2 THEN $3 ELSE handling_status END, "
                      "handling_notes = CASE WHEN $4 THEN $5 ELSE handling_notes END, "
                      "handling_score = CASE WHEN $6 THEN $7::integer ELSE handling_score END, "
                      "handled_by = $8, handled_at = $9 WHERE id = $1 RETURNING " +
                      kFeedbackColumns,
                  *id, body->has("handling_status"), opt_text(*status),
                  body->get("handling_notes") != nullptr, opt_text(*notes),
                  body->get("handling_score") != nullptr, *score, claims.subject, clock_.now());
  if (!rows) return db_error(rows.error());
  if (rows->empty()) return json_error(404, "not_found", "no feedback with this id");
  core::log().info("feedback handling updated",
                   {f::id("feedback_id", *id), f::id("handled_by", claims.subject),
                    f::id("handling_status", *status ? std::string(**status) : std::string("-"))});
  json::Writer w;
  write_feedback(w, (*rows)[0]);
  return Response::json(200, w.take());
}

Response Api::calculate(const Request& req) const {
  auth::Claims claims;
  if (auto denied = runtime::authorize(req, jwt_secret_, auth::Role::supervisor, claims, &users_))
    return *denied;
  std::string period = period_of(clock_.now(), utc_offset_);
  if (const std::string* p = req.query_param("period"); p != nullptr && !p->empty()) period = *p;
  auto bounds = period_bounds(period, utc_offset_);
  if (!bounds) return bad_request("'period' must be YYYY-MM");

  struct Outcome {
    std::size_t agents = 0;
    std::optional<core::Error> invalid;  // the ranking could not be computed (bad settings)
  };
  auto done = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Result<Outcome> {
    Outcome out;
    if (auto l =
            tx.exec("SELECT pg_advisory_xact_lock(hashtext($1))", schema_ + "/ranking/" + period);
        !l) {
      return l.error();
    }
    auto srows = tx.exec(std::string("SELECT ") + kSettingsColumns + " FROM " + q_ +
                         ".gamification_settings WHERE id = 1");
    if (!srows) return srows.error();
    AllSettings settings;
    if (!srows->empty()) settings = read_settings((*srows)[0]);

    auto mrows = tx.exec(
        "WITH r AS (SELECT agent_id, count(DISTINCT conversation_id) AS conversations, "
        "count(*) AS n, count(*) FILTER (WHERE NOT reopened) AS kept, "
        "avg(duration_ms::float8 / 1000.0 / greatest(coalesce(message_count, 1), 1)) "
        "FILTER (WHERE duration_ms IS NOT NULL) AS per_message FROM " +
            q_ +
            ".agent_resolutions WHERE resolved_at >= $1 AND resolved_at < $2 GROUP BY agent_id), "
            "fb AS (SELECT agent_id, avg(nps_score)::float8 AS nps FROM " +
            q_ +
            ".satisfaction_feedback WHERE agent_id IS NOT NULL AND created_at >= $1 "
            "AND created_at < $2 GROUP BY agent_id) "
            "SELECT agent_id::text, coalesce(r.n, 0), coalesce(r.kept, 0), "
            "coalesce(r.per_message, 0)::float8, coalesce(fb.nps, 0)::float8, "
            "fb.nps IS NOT NULL, coalesce(r.conversations, 0) "
            "FROM r FULL JOIN fb USING (agent_id) WHERE NOT EXISTS (SELECT 1 FROM " +
            q_ +
            ".desk_users d WHERE d.user_id = agent_id AND NOT "
            "d.participates_in_gamification) ORDER BY 1",
        bounds->first, bounds->second);
    if (!mrows) return mrows.error();
    std::vector<domain::AgentMetrics> metrics;
    metrics.reserve(mrows->size());
    for (const auto& r : *mrows) {
      domain::AgentMetrics m;
      m.agent_id = r.get<std::string>(0);
      const auto n = r.get<std::int64_t>(1);
      const auto kept = r.get<std::int64_t>(2);
      // Volume counts conversations: one the customer reopened and the agent resolved again
      // is one conversation (the reopen already costs its success rate, per resolution).
      m.resolved_conversations = static_cast<int>(r.get<std::int64_t>(6));
      m.resolution_rate = n > 0 ? 100.0 * static_cast<double>(kept) / static_cast<double>(n) : 0.0;
      m.avg_response_time_s = r.get<double>(3);
      m.avg_nps = r.get<double>(4);
      m.has_nps = r.get<bool>(5);
      metrics.push_back(std::move(m));
    }
    auto ranking = domain::compute_ranking(metrics, settings.g);
    if (!ranking) {
      out.invalid = ranking.error();
      return out;
    }
    for (const char* table :
         {"gamification_scores", "gamification_badges", "gamification_history"}) {
      auto del = tx.exec("DELETE FROM " + q_ + "." + table + " WHERE period = $1", period);
      if (!del) return del.error();
    }
    json::Writer scores, badges, history;
    scores.begin_array();
    badges.begin_array();
    history.begin_array();
    for (const auto& a : ranking->agents) {
      const auto& m = a.metrics;
      scores.begin_object()
          .field("id", core::Uuid::v7(clock_).str())
          .field("agent_id", m.agent_id)
          .field("total_conversations", m.resolved_conversations)
          .field("avg_nps", static_cast<std::int64_t>(std::lround(m.avg_nps)))
          .field("success_rate", static_cast<std::int64_t>(std::lround(m.resolution_rate)))
          .field("avg_response_time", static_cast<std::int64_t>(std::lround(m.avg_response_time_s)))
          .field("volume_score", a.volume_score)
          .field("nps_score", a.nps_score)
          .field("resolution_score", a.resolution_score)
          .field("time_score", a.time_score)
          .field("total_score", a.total_score)
          .field("ranking", a.rank)
          .end_object();
      for (const auto& b : a.badges) {
        badges.begin_object()
            .field("id", core::Uuid::v7(clock_).str())
            .field("agent_id", m.agent_id)
            .field("badge_type", domain::to_string(b.badge))
            .field("metric", b.metric)
            .end_object();
      }
    }
    for (const auto& a : ranking->hall_of_fame) {
      const auto& m = a.metrics;
      history.begin_object()
          .field("id", core::Uuid::v7(clock_).str())
          .field("agent_id", m.agent_id)
          .field("ranking", a.rank)
          .field("total_score", a.total_score)
          .object_field("metrics")
          .field("total_conversations", m.resolved_conversations)
          .field("avg_nps", m.avg_nps)
          .field("success_rate", m.resolution_rate)
          .field("avg_response_time", m.avg_response_time_s)
          .field("nps_score", a.nps_score)
          .field("volume_score", a.volume_score)
          .field("resolution_score", a.resolution_score)
          .field("time_score", a.time_score)
          .end_object()
          .array_field("badges");
      for (const auto& b : a.badges) history.value(domain::to_string(b.badge));
      history.end_array().end_object();
    }
    scores.end_array();
    badges.end_array();
    history.end_array();
    const auto now = clock_.now();
    auto ins = tx.exec(
        "INSERT INTO " + q_ +
            ".gamification_scores (id, agent_id, period, total_conversations, avg_nps, "
            "success_rate, "
            "avg_response_time, volume_score, nps_score, resolution_score, time_score, "
            "total_score, "
            "ranking, calculated_at) SELECT x.id, x.agent_id, $2, x.total_conversations, "
            "x.avg_nps, "
            "x.success_rate, x.avg_response_time, x.volume_score, x.nps_score, x.resolution_score, "
            "x.time_score, x.total_score, x.ranking, $3 FROM jsonb_to_recordset($1::jsonb) AS "
            "x(id uuid, agent_id uuid, total_conversations integer, avg_nps integer, success_rate "
            "integer, avg_response_time integer, volume_score integer, nps_score integer, "
            "resolution_score integer, time_score integer, total_score integer, ranking integer)",
        scores.take(), period, now);
    if (!ins) return ins.error();
    ins = tx.exec("INSERT INTO " + q_ +
                      ".gamification_badges (id, agent_id, badge_type, period, metric, awarded_at) "
                      "SELECT x.id, x.agent_id, x.badge_type, $2, x.metric, $3 FROM "
                      "jsonb_to_recordset($1::jsonb) AS x(id uuid, agent_id uuid, badge_type text, "
                      "metric integer)",
                  badges.take(), period, now);
    if (!ins) return ins.error();
    ins = tx.exec("INSERT INTO " + q_ +
                      ".gamification_history (id, period, agent_id, ranking, total_score, metrics, "
                      "badges, created_at) SELECT x.id, $2, x.agent_id, x.ranking, x.total_score, "
                      "x.metrics, x.badges, $3 FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "
                      "agent_id uuid, ranking integer, total_score integer, metrics jsonb, badges "
                      "text[])",
                  history.take(), period, now);
    if (!ins) return ins.error();
    out.agents = ranking->agents.size();
    return out;
  });
  if (!done) return db_error(done.error());
  if (done->invalid) return json_error(422, "invalid_settings", done->invalid->message());
  core::log().info("ranking calculated", {f::id("period", period),
                                          f::num("agents", static_cast<std::int64_t>(done->agents)),
                                          f::id("by", claims.subject)});
  auto body = ranking_json(period);
  if (!body) return db_error(body.error());
  return Response::json(200, *body);
}

Response Api::ranking(const Request& req) const {
  auth::Claims claims;
  if (auto denied = runtime::authorize(req, jwt_secret_, auth::Role::agent, claims, &users_))
    return *denied;
  std::string period = period_of(clock_.now(), utc_offset_);
  if (const std::string* p = req.query_param("period"); p != nullptr && !p->empty()) period = *p;
  if (!period_bounds(period, utc_offset_)) return bad_request("'period' must be YYYY-MM");
  auto body = ranking_json(period);
  if (!body) return db_error(body.error());
  return Response::json(200, *body);
}

core::Result<std::string> Api::ranking_json(const std::string& period) const {
  // The three reads see one snapshot: a calculation committing between them would otherwise
  // show the old scores with the new badges or hall of fame.
  struct Read {
    pg::Rows scores, badges, hall;
  };
  auto read = pg::transact(
      *pool_,
      [&](pg::Tx& tx) -> core::Result<Read> {
        auto scores = tx.exec(
            "SELECT agent_id::text, ranking, total_score, nps_score, volume_score, "
            "resolution_score, time_score, total_conversations, avg_nps, "
            "success_rate, avg_response_time, " +
                ms_col("calculated_at") + " FROM " + q_ +
                ".gamification_scores WHERE period = $1 ORDER BY ranking",
            period);
        if (!scores) return scores.error();
        auto badges = tx.exec("SELECT agent_id::text, badge_type, metric FROM " + q_ +
                                  ".gamification_badges WHERE period = $1 ORDER BY agent_id, "
                                  "CASE badge_type WHEN 'solucionador' THEN 1 WHEN 'velocista' "
                                  "THEN 2 ELSE 3 END",
                              period);
        if (!badges) return badges.error();
        auto hall = tx.exec(
            "SELECT ranking, agent_id::text, total_score, array_to_json(badges)::text "
            "FROM " +
                q_ + ".gamification_history WHERE period = $1 ORDER BY ranking",
            period);
        if (!hall) return hall.error();
        return Read{std::move(*scores), std::move(*badges), std::move(*hall)};
      },
      {.isolation = pg::Isolation::repeatable_read, .read_only = true});
  if (!read) return read.error();
  const pg::Rows* scores = &read->scores;
  const pg::Rows* badges = &read->badges;
  const pg::Rows* hall = &read->hall;

  json::Writer w;
  w.begin_object().field("period", period);
  w.key("calculated_at")
      .value(scores->empty() ? std::nullopt
                             : format_ms((*scores)[0].get<std::optional<std::int64_t>>(11)));
  w.array_field("agents");
  for (const auto& r : *scores) {
    const std::string agent = r.get<std::string>(0);
    w.begin_object()
        .field("agent_id", agent)
        .field("rank", r.get<int>(1))
        .field("total_score", r.get<int>(2))
        .field("nps_score", r.get<int>(3))
        .field("volume_score", r.get<int>(4))
        .field("resolution_score", r.get<int>(5))
        .field("time_score", r.get<int>(6))
        .field("total_conversations", r.get<int>(7))
        .field("avg_nps", r.get<int>(8))
        .field("success_rate", r.get<int>(9))
        .field("avg_response_time", r.get<int>(10))
        .array_field("badges");
    for (const auto& b : *badges) {
      if (b.get<std::string_view>(0) != agent) continue;
      w.begin_object()
          .field("type", b.get<std::string>(1))
          .field("metric", b.get<int>(2))
          .end_object();
    }
    w.end_array().end_object();
  }
  w.end_array().array_field("hall_of_fame");
  for (const auto& r : *hall) {
    w.begin_object()
        .field("rank", r.get<int>(0))
        .field("agent_id", r.get<std::string>(1))
        .field("total_score", r.get<int>(2))
        .raw_field("badges", r.get<std::string>(3))
        .end_object();
  }
  w.end_array().end_object();
  return w.take();
}

core::Result<std::string> Api::settings_json() const {
  auto rows = pool_->exec(std::string("SELECT ") + kSettingsColumns + " FROM " + q_ +
                          ".gamification_settings WHERE id = 1");
  if (!rows) return rows.error();
  AllSettings s;
  if (!rows->empty()) s = read_settings((*rows)[0]);
  return settings_to_json(s);
}

Response Api::get_settings(const Request& req) const {
  auth::Claims claims;
  if (auto denied = runtime::authorize(req, jwt_secret_, auth::Role::supervisor, claims, &users_))
    return *denied;
  auto body = settings_json();
  if (!body) return db_error(body.error());
  return Response::json(200, *body);
}

Response Api::put_settings(const Request& req) const {
  auth::Claims claims;
  if (auto denied = runtime::authorize(req, jwt_secret_, auth::Role::admin, claims, &users_))
    return *denied;
  auto doc = json::parse(req.body);
  if (!doc) return bad_request(doc.error().message());
  auto body = json::Obj::root(*doc);
  if (!body) return bad_request(body.error().message());

  auto r = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Result<std::optional<core::Error>> {
    auto rows = tx.exec(std::string("SELECT ") + kSettingsColumns + " FROM " + q_ +
                        ".gamification_settings WHERE id = 1 FOR UPDATE");
    if (!rows) return rows.error();
    AllSettings s;
    if (!rows->empty()) s = read_settings((*rows)[0]);
    if (auto st = merge_settings(s, *body); !st) return std::optional<core::Error>(st.error());
    const auto& g = s.g;
    auto upd = tx.exec(
        "INSERT INTO " + q_ +
            ".gamification_settings (id, nps_weight, volume_weight, resolution_weight, "
            "response_time_weight, solucionador_nps_min, solucionador_resolution_min, "
            "velocista_nps_min, velocista_top_n, campeao_volume_top_n, target_nps, "
            "target_resolution, target_response_time, target_volume, calculation_period, "
            "auto_calculate, calculation_frequency, calculation_day_of_month, "
            "calculation_day_of_week, calculation_time, updated_by, updated_at) VALUES (1, $1, $2, "
            "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, "
            "$21) "
            "ON CONFLICT (id) DO UPDATE SET nps_weight = $1, volume_weight = $2, "
            "resolution_weight = $3, response_time_weight = $4, solucionador_nps_min = $5, "
            "solucionador_resolution_min = $6, velocista_nps_min = $7, velocista_top_n = $8, "
            "campeao_volume_top_n = $9, target_nps = $10, target_resolution = $11, "
            "target_response_time = $12, target_volume = $13, calculation_period = $14, "
            "auto_calculate = $15, calculation_frequency = $16, calculation_day_of_month = $17, "
            "calculation_day_of_week = $18, calculation_time = $19, updated_by = $20, "
            "updated_at = $21",
        g.nps_weight, g.volume_weight, g.resolution_weight, g.response_time_weight,
        g.solucionador_nps_min, g.solucionador_resolution_min, g.velocista_nps_min,
        g.velocista_top_n, g.campeao_volume_top_n, g.target_nps, g.target_resolution,
        g.target_response_time_s, g.target_volume, s.calculation_period, s.auto_calculate,
        s.calculation_frequency, s.calculation_day_of_month, s.calculation_day_of_week,
        s.calculation_time, claims.subject, clock_.now());
    if (!upd) return upd.error();
    return std::optional<core::Error>{};
  });
  if (!r) return db_error(r.error());
  if (*r) return bad_request((*r)->message());
  core::log().info("gamification settings updated", {f::id("by", claims.subject)});
  auto out = settings_json();
  if (!out) return db_error(out.error());
  return Response::json(200, *out);
}

}  // namespace lia::nps_gamification
