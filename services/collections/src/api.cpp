#include <charconv>
#include <map>
#include <variant>

#include <lia/auth/auth.hpp>
#include <lia/collections/api.hpp>
#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/phone.hpp>
#include <lia/json/writer.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/authorize.hpp>

namespace lia::collections {
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

// [{target_index, field, message}, ...]
void write_problems(json::Writer& w, const std::vector<TargetProblem>& problems) {
  w.begin_array();
  for (const auto& p : problems) {
    w.begin_object()
        .field("target_index", static_cast<std::uint64_t>(p.index))
        .field("field", p.field)
        .field("message", p.message)
        .end_object();
  }
  w.end_array();
}

Response invalid(const Invalid& i) {
  json::Writer w;
  w.begin_object()
      .object_field("error")
      .field("code", "invalid_argument")
      .field("message", i.message)
      .field("field", i.field);
  if (i.target) w.field("target_index", static_cast<std::uint64_t>(*i.target));
  if (i.invalid_targets > 0) {
    w.field("invalid_targets", static_cast<std::uint64_t>(i.invalid_targets));
    w.key("targets");
    write_problems(w, i.targets);
  }
  w.end_object().end_object();
  return Response::json(400, w.take());
}

// A query or path parameter that is not what the route takes, named.
Response bad_request(std::string_view field, std::string_view message) {
  return invalid(Invalid{std::string(field), std::nullopt, std::string(message)});
}

// The 201 of POST /api/campaigns: made again from the same request when a retry replays it.
Response created(const std::string& id, const CampaignInput& c) {
  json::Writer w;
  w.begin_object()
      .field("id", id)
      .field("name", c.name)
      .field("status", c.status)
      .field("total_targets", static_cast<std::uint64_t>(c.targets.size()))
      .object_field("counts")
      .field("pending", static_cast<std::uint64_t>(c.targets.size()))
      .end_object();
  if (c.skip_invalid_targets) {
    w.field("skipped_targets", static_cast<std::uint64_t>(c.skipped_count));
    w.key("skipped");
    write_problems(w, c.skipped);
  }
  w.end_object();
  Response res = Response::json(201, w.take());
  res.headers.add("Location", "/api/campaigns/" + id);
  return res;
}

std::optional<std::string> format_ms(std::optional<std::int64_t> ms) {
  if (!ms) return std::nullopt;
  return core::format_rfc3339(core::SysTime{
      std::chrono::duration_cast<core::SysTime::duration>(std::chrono::milliseconds{*ms})});
}

std::optional<std::int64_t> parse_int(std::string_view s, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

double reais(std::int64_t cents) {
  return static_cast<double>(cents) / 100.0;
}

const char* const kCampaignColumns =
    "id::text, name, description, status, template, hours_start, hours_end, hours_days, "
    "max_attempts, attempt_spacing_minutes, provider, instance, total_targets, created_by, "
    "(extract(epoch from created_at) * 1000)::bigint, "
    "(extract(epoch from started_at) * 1000)::bigint, "
    "(extract(epoch from completed_at) * 1000)::bigint, meta_template::text, paused_reason, "
    "failures_in_a_row";

using Counts =
    std::map<std::string, std::map<std::string, std::int64_t>>;  // campaign -> status -> n

// Writes the campaign's fields (the object stays open for the caller).
void write_campaign(json::Writer& w, const pg::Row& r, const Counts& counts) {
  const std::string id = r.get<std::string>(0);
  w.begin_object().field("id", id).field("name", r.get<std::string>(1));
  w.key("description").value(r.get<std::optional<std::string>>(2));
  w.field("status", r.get<std::string>(3))
      .field("template", r.get<std::string>(4))
      .object_field("allowed_hours")
      .field("start", r.get<std::string>(5))
      .field("end", r.get<std::string>(6))
      .array_field("days");
  for (const auto& d : weekday_names(weekdays_from_bits(r.get<int>(7)))) w.value(d);
  w.end_array().end_object();
  w.field("max_attempts", r.get<int>(8))
      .field("spacing_minutes", r.get<int>(9))
      .field("provider", r.get<std::string>(10))
      .field("instance", r.get<std::string>(11))
      .field("total_targets", r.get<int>(12));
  if (auto meta = r.get<std::optional<std::string>>(17)) {
    w.key("meta_template").raw(*meta);
  } else {
    w.key("meta_template").null();
  }
  w.key("created_by").value(r.get<std::optional<std::string>>(13));
  w.key("created_at").value(format_ms(r.get<std::optional<std::int64_t>>(14)));
  w.key("started_at").value(format_ms(r.get<std::optional<std::int64_t>>(15)));
  w.key("completed_at").value(format_ms(r.get<std::optional<std::int64_t>>(16)));
  w.key("paused_reason").value(r.get<std::optional<std::string>>(18));
  w.field("failures_in_a_row", r.get<int>(19));
  w.object_field("counts");
  for (const char* s : {"pending", "contacted", "responded", "promised", "paid", "failed",
                        "exhausted", "opted_out"}) {
    std::int64_t n = 0;
    if (auto c = counts.find(id); c != counts.end()) {
      if (auto it = c->second.find(s); it != c->second.end()) n = it->second;
    }
    w.field(s, n);
  }
  w.end_object();
}

core::Result<Counts> count_targets(pg::Pool& pool, const std::string& q,
                                   const std::string& ids_array) {
  auto rows = pool.exec("SELECT campaign_id::text, status, count(*) FROM " + q +
                            ".voice_campaign_targets WHERE campaign_id = ANY($1::uuid[]) "
                            "GROUP BY campaign_id, status",
                        ids_array);
  if (!rows) return rows.error();
  Counts out;
  for (const auto& r : *rows)
    out[r.get<std::string>(0)][r.get<std::string>(1)] = r.get<std::int64_t>(2);
  return out;
}

}  // namespace

Api::Api(std::shared_ptr<pg::Pool> pool, std::string schema, Settings settings,
         const core::Clock& clock)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      q_(pg::quote_ident(schema_)),
      settings_(std::move(settings)),
      users_(pool_, schema_),
      clock_(clock) {}

void Api::add_routes(http::Router& router) const {
  const http::RouteOptions blocking{.blocking = true};
  // Up to kMaxTargets targets with their CRM columns (`vars`): 10,000 at 1.5 KB is 15 MB,
  // past the server's 4 MiB.
  const http::RouteOptions create_options{.blocking = true, .body_limit = kCreateBodyLimit};
  router.add(
      "POST", "/api/campaigns", [this](const Request& r) { return create(r); }, create_options);
  router.add(
      "GET", "/api/campaigns", [this](const Request& r) { return list(r); }, blocking);
  router.add(
      "GET", "/api/campaigns/{id}", [this](const Request& r) { return get(r); }, blocking);
  router.add(
      "POST", "/api/campaigns/{id}/pause", [this](const Request& r) { return pause(r); }, blocking);
  router.add(
      "POST", "/api/campaigns/{id}/resume", [this](const Request& r) { return resume(r); },
      blocking);
  router.add(
      "GET", "/api/opt-outs/{phone}", [this](const Request& r) { return get_opt_out(r); },
      blocking);
  router.add(
      "DELETE", "/api/opt-outs/{phone}", [this](const Request& r) { return delete_opt_out(r); },
      blocking);
}

Response Api::create(const Request& req) const {
  auth::Claims claims;
  if (auto denied =
          runtime::authorize(req, settings_.jwt_secret, auth::Role::supervisor, claims, &users_)) {
    return *denied;
  }
  auto idem = http::idempotency_key(req);
  if (!idem)
    return invalid({std::string(http::kIdempotencyKey), std::nullopt, idem.error().message()});
  const std::optional<std::string>& key = *idem;

  CampaignDefaults defaults;
  defaults.provider = settings_.provider;
  defaults.instance = settings_.instance;
  defaults.utc_offset = settings_.utc_offset;
  auto stored = pool_->exec(
      "SELECT default_max_attempts, default_attempt_spacing_minutes, "
      "default_hours_start, default_hours_end, default_hours_days FROM " +
      q_ + ".collection_settings WHERE id = 1");
  if (!stored) return db_error(stored.error());
  if (!stored->empty()) {
    const auto r = (*stored)[0];
    defaults.max_attempts = r.get<int>(0);
    defaults.spacing_minutes = r.get<int>(1);
    defaults.hours = {r.get<std::string>(2), r.get<std::string>(3),
                      weekdays_from_bits(r.get<int>(4))};
  }

  auto parsed = parse_campaign(req.body, defaults);
  if (auto* bad = std::get_if<Invalid>(&parsed)) return invalid(*bad);
  const CampaignInput& c = std::get<CampaignInput>(parsed);

  const auto now = clock_.now();
  const std::string id = core::Uuid::v7(clock_).str();
  json::Writer targets;
  targets.begin_array();
  for (const auto& t : c.targets) {
    targets.begin_object()
        .field("id", core::Uuid::v7(clock_).str())
        .field("name", t.name)
        .field("phone", t.phone)
        .field("document", t.document)
        .field("document_type", t.document_type)
        .field("debt", t.debt_cents)
        .field("due_date", t.due_date)
        .object_field("vars");
    for (const auto& [k, v] : t.vars) targets.field(k, v);
    targets.end_object().end_object();
  }
  targets.end_array();
  const std::string targets_json = targets.take();
  const bool active = c.status == "active";
  const std::optional<std::string> body_sha256 =
      key ? std::optional(auth::to_hex(auth::sha256(req.body))) : std::nullopt;

  // With a key, the unique index (created_by, idempotency_key) decides: ON CONFLICT DO NOTHING
  // waits for a concurrent request with the same key and inserts nothing once it committed;
  // then its campaign is read.
  enum class Outcome { created, replayed, key_reused };
  struct Done {
    Outcome outcome = Outcome::created;
    std::string id;
  };
  auto done = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Result<Done> {
    auto ins = tx.exec(
        "INSERT INTO " + q_ +
            ".voice_campaigns (id, name, description, status, template, hours_start, "
            "hours_end, hours_days, max_attempts, attempt_spacing_minutes, provider, "
            "instance, total_targets, created_by, created_at, updated_at, started_at, "
            "idempotency_key, request_sha256, meta_template) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
            "$15, $16, $17, $18, $19::jsonb) ON CONFLICT (created_by, idempotency_key) "
            "WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
        id, c.name, c.description.empty() ? std::nullopt : std::optional(c.description), c.status,
        c.template_text, c.hours.start, c.hours.end, static_cast<int>(c.hours.days.bits()),
        c.max_attempts, c.spacing_minutes, c.provider, c.instance,
        static_cast<std::int64_t>(c.targets.size()), claims.subject, now,
        active ? std::optional(now) : std::nullopt, key, body_sha256,
        c.meta_template ? std::optional(meta_template_json(*c.meta_template)) : std::nullopt);
    if (!ins) return ins.error();
    if (ins->empty()) {
      if (!key) return core::Error(core::Errc::internal, "campaign insert skipped without a key");
      auto first = tx.exec("SELECT id::text, request_sha256 FROM " + q_ +
                               ".voice_campaigns WHERE created_by = $1 AND idempotency_key = $2",
                           claims.subject, *key);
      if (!first) return first.error();
      // Deleted since the insert met it: the whole transaction again.
      if (first->empty()) {
        return core::Error(core::Errc::unavailable, "the idempotency key's campaign went away",
                           true);
      }
      const auto r = (*first)[0];
      return Done{r.get<std::optional<std::string>>(1) == body_sha256 ? Outcome::replayed
                                                                      : Outcome::key_reused,
                  r.get<std::string>(0)};
    }
    auto tins =
        tx.exec("INSERT INTO " + q_ +
                    ".voice_campaign_targets (id, campaign_id, debtor_name, phone_number, "
                    "debtor_document, debtor_document_type, debt_amount, due_date, vars, "
                    "next_attempt_at, created_at, updated_at) SELECT x.id, $2, x.name, x.phone, "
                    "x.document, x.document_type, x.debt, x.due_date, x.vars, $3, $3, $3 FROM "
                    "jsonb_to_recordset($1::jsonb) AS x(id uuid, name text, phone text, "
                    "document text, document_type text, debt bigint, due_date date, vars jsonb)",
                targets_json, id, now);
    if (!tins) return tins.error();
    return Done{Outcome::created, id};
  });
  if (!done) return db_error(done.error());
  switch (done->outcome) {
    case Outcome::created:
      core::log().info(
          "campaign created",
          {f::id("campaign_id", id), f::id("status", c.status),
           f::num("targets", static_cast<std::int64_t>(c.targets.size())),
           f::num("skipped_targets", static_cast<std::int64_t>(c.skipped_count)),
           f::id("created_by", claims.subject), f::flag("idempotency_key", key.has_value())});
      return created(id, c);
    case Outcome::replayed: {
      core::log().info("campaign create replayed (same Idempotency-Key and body)",
                       {f::id("campaign_id", done->id), f::id("created_by", claims.subject),
                        f::num("skipped_targets", static_cast<std::int64_t>(c.skipped_count))});
      Response res = created(done->id, c);
      res.headers.add("Idempotent-Replayed", "true");
      return res;
    }
    case Outcome::key_reused:
      core::log().warn("Idempotency-Key reused with a different request",
                       {f::id("campaign_id", done->id), f::id("created_by", claims.subject)});
      return json_error(422, "idempotency_key_reused",
                        "Idempotency-Key reused with a different request");
  }
  return json_error(500, "internal", "internal error");
}

Response Api::list(const Request& req) const {
  auth::Claims claims;
  if (auto denied =
          runtime::authorize(req, settings_.jwt_secret, auth::Role::supervisor, claims, &users_)) {
    return *denied;
  }
  std::int64_t limit = 50, offset = 0;
  if (const std::string* l = req.query_param("limit"); l != nullptr && !l->empty()) {
    auto v = parse_int(*l, 1, 500);
    if (!v) return bad_request("limit", "'limit' must be an integer 1..500");
    limit = *v;
  }
  if (const std::string* o = req.query_param("offset"); o != nullptr && !o->empty()) {
    auto v = parse_int(*o, 0, 1'000'000'000);
    if (!v) return bad_request("offset", "'offset' must be a non-negative integer");
    offset = *v;
  }
  std::optional<std::string> status;
  if (const std::string* s = req.query_param("status"); s != nullptr && !s->empty()) {
    if (*s != "draft" && *s != "active" && *s != "paused" && *s != "completed" &&
        *s != "cancelled") {
      return bad_request("status",
                         "'status' must be draft, active, paused, completed or cancelled");
    }
    status = *s;
  }
  auto rows = pool_->exec(std::string("SELECT ") + kCampaignColumns + " FROM " + q_ +
                              ".voice_campaigns WHERE ($1::text IS NULL OR status = $1) "
                              "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
                          status, limit, offset);
  if (!rows) return db_error(rows.error());
  std::string ids = "{";
  for (const auto& r : *rows) {
    if (ids.size() > 1) ids += ",";
    ids += r.get<std::string>(0);
  }
  ids += "}";
  auto counts = count_targets(*pool_, q_, ids);
  if (!counts) return db_error(counts.error());
  json::Writer w;
  w.begin_object().array_field("campaigns");
  for (const auto& r : *rows) {
    write_campaign(w, r, *counts);
    w.end_object();
  }
  w.end_array().field("limit", limit).field("offset", offset).end_object();
  return Response::json(200, w.take());
}

Response Api::get(const Request& req) const {
  auth::Claims claims;
  if (auto denied =
          runtime::authorize(req, settings_.jwt_secret, auth::Role::supervisor, claims, &users_)) {
    return *denied;
  }
  const std::string* id = req.param("id");
  if (id == nullptr || !core::Uuid::parse(*id))
    return bad_request("id", "the campaign id must be a UUID");
  auto rows = pool_->exec(
      std::string("SELECT ") + kCampaignColumns + " FROM " + q_ + ".voice_campaigns WHERE id = $1",
      *id);
  if (!rows) return db_error(rows.error());
  if (rows->empty()) return json_error(404, "not_found", "no campaign with this id");
  auto counts = count_targets(*pool_, q_, "{" + *id + "}");
  if (!counts) return db_error(counts.error());
  auto targets = pool_->exec(
      "SELECT id::text, debtor_name, phone_number, debtor_document, "
      "debtor_document_type, debt_amount, to_char(due_date, 'YYYY-MM-DD'), "
      "status, attempt_count, "
      "(extract(epoch from last_attempt_at) * 1000)::bigint, "
      "(extract(epoch from next_attempt_at) * 1000)::bigint, last_error, conversation_id::text "
      "FROM " +
          q_ + ".voice_campaign_targets WHERE campaign_id = $1 ORDER BY id",
      *id);
  if (!targets) return db_error(targets.error());
  json::Writer w;
  write_campaign(w, (*rows)[0], *counts);
  w.array_field("targets");
  for (const auto& t : *targets) {
    w.begin_object()
        .field("id", t.get<std::string>(0))
        .field("name", t.get<std::string>(1))
        .field("phone", t.get<std::string>(2));
    w.key("document").value(t.get<std::optional<std::string>>(3));
    w.key("document_type").value(t.get<std::optional<std::string>>(4));
    w.field("debt_amount", reais(t.get<std::int64_t>(5)))
        .field("due_date", t.get<std::string>(6))
        .field("status", t.get<std::string>(7))
        .field("attempts", t.get<int>(8));
    w.key("last_attempt_at").value(format_ms(t.get<std::optional<std::int64_t>>(9)));
    w.key("next_attempt_at").value(format_ms(t.get<std::optional<std::int64_t>>(10)));
    w.key("last_error").value(t.get<std::optional<std::string>>(11));
    w.key("conversation_id").value(t.get<std::optional<std::string>>(12));
    w.end_object();
  }
  w.end_array().end_object();
  return Response::json(200, w.take());
}

Response Api::pause(const Request& req) const {
  return transition(req, false);
}
Response Api::resume(const Request& req) const {
  return transition(req, true);
}

Response Api::transition(const Request& req, bool to_active) const {
  auth::Claims claims;
  if (auto denied =
          runtime::authorize(req, settings_.jwt_secret, auth::Role::supervisor, claims, &users_)) {
    return *denied;
  }
  const std::string* id = req.param("id");
  if (id == nullptr || !core::Uuid::parse(*id))
    return bad_request("id", "the campaign id must be a UUID");
  const auto now = clock_.now();
  auto rows = to_active
                  ? pool_->exec("UPDATE " + q_ +
                                    ".voice_campaigns SET status = 'active', updated_at = $2, "
                                    "started_at = coalesce(started_at, $2), paused_reason = NULL, "
                                    "failures_in_a_row = 0 WHERE id = $1 AND status "
                                    "IN ('paused', 'draft') RETURNING status",
                                *id, now)
                  : pool_->exec("UPDATE " + q_ +
                                    ".voice_campaigns SET status = 'paused', updated_at = $2 "
                                    "WHERE id = $1 AND status = 'active' RETURNING status",
                                *id, now);
  if (!rows) return db_error(rows.error());
  if (rows->empty()) {
    auto current = pool_->exec("SELECT status FROM " + q_ + ".voice_campaigns WHERE id = $1", *id);
    if (!current) return db_error(current.error());
    if (current->empty()) return json_error(404, "not_found", "no campaign with this id");
    const std::string status = (*current)[0].get<std::string>(0);
    // Repeating the same request is not an error.
    if ((to_active && status == "active") || (!to_active && status == "paused")) {
      return Response::json(200, R"({"id":")" + *id + R"(","status":")" + status + R"("})");
    }
    return json_error(409, "conflict", "the campaign is " + status);
  }
  core::log().info(to_active ? "campaign resumed" : "campaign paused",
                   {f::id("campaign_id", *id), f::id("by", claims.subject)});
  return Response::json(
      200, R"({"id":")" + *id + R"(","status":")" + (*rows)[0].get<std::string>(0) + R"("})");
}

namespace {

// The {phone} of an opt-out route, as targets keep it (E.164 digits), or the 400 naming it.
std::variant<std::string, Response> opt_out_phone(const Request& req) {
  const std::string* text = req.param("phone");
  auto phone =
      text == nullptr
          ? core::Result<domain::Phone>(core::Error(core::Errc::invalid_argument, "missing"))
          : domain::normalize_phone(*text);
  if (!phone) {
    return bad_request("phone", "the phone is not a phone number: " + phone.error().message());
  }
  return phone->digits;
}

}  // namespace

Response Api::get_opt_out(const Request& req) const {
  auth::Claims claims;
  if (auto denied =
          runtime::authorize(req, settings_.jwt_secret, auth::Role::supervisor, claims, &users_)) {
    return *denied;
  }
  auto phone = opt_out_phone(req);
  if (auto* bad = std::get_if<Response>(&phone)) return std::move(*bad);
  const auto& digits = std::get<std::string>(phone);
  auto rows = pool_->exec(
      "SELECT (extract(epoch from opted_out_at) * 1000)::bigint, "
      "conversation_id::text, source FROM " +
          q_ + ".contact_opt_outs WHERE phone_number = $1",
      digits);
  if (!rows) return db_error(rows.error());
  if (rows->empty()) return json_error(404, "not_found", "this number has not opted out");
  const auto r = (*rows)[0];
  json::Writer w;
  w.begin_object().field("phone", digits);
  w.key("opted_out_at").value(format_ms(r.get<std::optional<std::int64_t>>(0)));
  w.key("conversation_id").value(r.get<std::optional<std::string>>(1));
  w.field("source", r.get<std::string>(2)).end_object();
  return Response::json(200, w.take());
}

Response Api::delete_opt_out(const Request& req) const {
  auth::Claims claims;
  if (auto denied =
          runtime::authorize(req, settings_.jwt_secret, auth::Role::admin, claims, &users_)) {
    return *denied;
  }
  auto phone = opt_out_phone(req);
  if (auto* bad = std::get_if<Response>(&phone)) return std::move(*bad);
  const auto& digits = std::get<std::string>(phone);
  auto rows = pool_->exec(
      "DELETE FROM " + q_ + ".contact_opt_outs WHERE phone_number = $1 RETURNING 1", digits);
  if (!rows) return db_error(rows.error());
  if (rows->empty()) return json_error(404, "not_found", "this number has not opted out");
  // Its targets stay opted_out: a campaign made from now on may send to it.
  core::log().info("collection opt-out removed",
                   {f::phone("phone", digits), f::id("by", claims.subject)});
  return Response::json(200, R"({"phone":")" + digits + R"(","opted_out":false})");
}

}  // namespace lia::collections
