#include "api.hpp"

#include <lia/auth/auth.hpp>
#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/connection.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/authorize.hpp>

#include "assistant.hpp"
#include "store.hpp"
#include "tools.hpp"

namespace lia::ai_orchestration {
namespace {

using http::json_error;
using http::Request;
using http::Response;

constexpr const char* kTs = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";

std::string ts(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', " + kTs + ")";
}

std::optional<Response> deny(const Request& req, const ApiDeps& d, auth::Role need) {
  if (d.jwt_secret.empty()) {
    return json_error(503, "unavailable", "the API is disabled: LIA_JWT_SECRET is not set");
  }
  auth::Claims claims;
  return runtime::authorize(req, d.jwt_secret, need, claims, d.users.get());
}

Response db_error(const core::Error& e) {
  core::log().warn("api database error", {core::f::str("error", e.describe())});
  if (e.retryable()) return json_error(503, "unavailable", "the database is unavailable; retry");
  return json_error(500, "internal", "unexpected database error");
}

core::Error bad(const std::string& why) {
  return core::Error(core::Errc::invalid_argument, why);
}

}  // namespace

core::Result<OutageInput> parse_outage(std::string_view body) {
  auto doc = json::parse(body);
  if (!doc) return bad(doc.error().message());
  auto o = json::Obj::root(*doc);
  if (!o) return bad("the body must be a JSON object");
  if (auto st = o->only({"cep_prefix", "region", "description", "eta"}); !st) {
    return bad(st.error().message());
  }
  OutageInput in;
  auto prefix = o->nonempty_str("cep_prefix");
  if (!prefix) return bad(prefix.error().message());
  std::string digits;
  for (char c : *prefix) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != '-') {
      return bad("field 'cep_prefix' must hold 1 to 8 digits of a CEP");
    }
  }
  if (digits.empty() || digits.size() > 8) {
    return bad("field 'cep_prefix' must hold 1 to 8 digits of a CEP");
  }
  in.cep_prefix = digits;
  auto region = o->nonempty_str("region");
  if (!region) return bad(region.error().message());
  in.region = std::string(*region);
  auto description = o->nonempty_str("description");
  if (!description) return bad(description.error().message());
  in.description = std::string(*description);
  if (in.region.size() > 256 || in.description.size() > 2048) {
    return bad("fields 'region' (256) and 'description' (2048) are too long");
  }
  auto eta = o->opt_str("eta");
  if (!eta) return bad(eta.error().message());
  if (*eta) {
    if (!events::is_rfc3339(**eta)) return bad("field 'eta' must be an RFC 3339 date-time");
    in.eta = std::string(**eta);
  }
  return in;
}

core::Result<PromptInput> parse_prompt(std::string_view body) {
  auto doc = json::parse(body);
  if (!doc) return bad(doc.error().message());
  auto o = json::Obj::root(*doc);
  if (!o) return bad("the body must be a JSON object");
  // "model" and the others GET shows are not set here: refused rather than dropped.
  if (auto st = o->only({"content", "instructions", "temperature"}); !st) {
    return bad(st.error().message());
  }
  PromptInput in;
  auto content = o->nonempty_str("content");
  if (!content) return bad(content.error().message());
  if (content->size() > std::size_t{32} * 1024) return bad("field 'content' is longer than 32 KiB");
  in.content = std::string(*content);
  auto instructions = o->opt_str("instructions");
  if (!instructions) return bad(instructions.error().message());
  if (*instructions && (*instructions)->size() > std::size_t{32} * 1024) {
    return bad("field 'instructions' is longer than 32 KiB");
  }
  if (*instructions) in.instructions = std::string(**instructions);
  auto temperature = o->opt_i64("temperature");
  if (!temperature) return bad(temperature.error().message());
  if (*temperature) {
    if (**temperature < 0 || **temperature > 100) {
      return bad("field 'temperature' must be between 0 and 100");
    }
    in.temperature = static_cast<int>(**temperature);
  }
  return in;
}

std::string next_version(std::string_view version) {
  int parts[3] = {0, 0, 0};
  int n = 0;
  std::size_t i = 0;
  bool ok = !version.empty();
  while (ok && n < 3 && i <= version.size()) {
    std::size_t j = i;
    int v = 0;
    while (j < version.size() && version[j] >= '0' && version[j] <= '9' && j - i < 6) {
      v = v * 10 + (version[j] - '0');
      ++j;
    }
    if (j == i) ok = false;
    parts[n++] = v;
    if (j == version.size()) break;
    if (version[j] != '.') ok = false;
    i = j + 1;
  }
  if (!ok || n != 3) return std::string(version) + ".1";
  return std::to_string(parts[0]) + "." + std::to_string(parts[1] + 1) + ".0";
}

void add_api_routes(http::Router& router, ApiDeps deps) {
  auto d = std::make_shared<ApiDeps>(std::move(deps));
  const std::string s = pg::quote_ident(d->schema);
  const http::RouteOptions blocking{.blocking = true};

  router.add("GET", "/api/ai/assistants", [d](const Request& req) {
    if (auto no = deny(req, *d, auth::Role::agent)) return *no;
    json::Writer w;
    w.begin_object().array_field("assistants");
    for (Assistant a : kAssistants) {
      w.begin_object()
          .field("assistant", to_string(a))
          .field("department", department_of(a))
          .end_object();
    }
    w.end_array().field("default", "apresentacao").end_object();
    return Response::json(200, w.take());
  });

  const std::string q_prompts =
      "SELECT id, assistant_type, version, content, coalesce(instructions, ''), temperature, "
      "coalesce(model, ''), " +
      ts("updated_at") + " FROM " + s +
      ".prompt_templates WHERE status = 'active' ORDER BY assistant_type";
  router.add(
      "GET", "/api/ai/prompts",
      [d, q_prompts](const Request& req) {
        if (auto no = deny(req, *d, auth::Role::supervisor)) return *no;
        auto rows = d->pool->exec(q_prompts);
        if (!rows) return db_error(rows.error());
        json::Writer w;
        w.begin_object().array_field("prompts");
        for (const auto& r : *rows) {
          w.begin_object()
              .field("id", r.get<std::string>(0))
              .field("assistant", r.get<std::string>(1))
              .field("version", r.get<std::string>(2))
              .field("content", r.get<std::string>(3))
              .field("instructions", r.get<std::string>(4))
              .field("temperature", r.get<std::optional<std::int64_t>>(5))
              .field("model", r.get<std::string>(6))
              .field("updated_at", r.get<std::string>(7))
              .end_object();
        }
        w.end_array().end_object();
        return Response::json(200, w.take());
      },
      blocking);

  const std::string q_active =
      "SELECT version, tools::text, model, top_p, temperature, "
      "instructions, id::text, content FROM " +
      s +
      ".prompt_templates WHERE assistant_type = $1 AND status = 'active' "
      "FOR UPDATE";
  const std::string q_archive = "UPDATE " + s +
                                ".prompt_templates SET status = 'archived', updated_at = now() "
                                "WHERE assistant_type = $1 AND status = 'active'";
  const std::string q_insert =
      "INSERT INTO " + s +
      ".prompt_templates (assistant_type, version, status, content, "
      "instructions, tools, model, temperature, top_p, created_by) VALUES ($1, $2, 'active', $3, "
      "$4, $5::jsonb, $6, $7, $8, $9) RETURNING id";
  router.add(
      "PUT", "/api/ai/prompts/{assistant}",
      [d, q_active, q_archive, q_insert](const Request& req) {
        if (auto no = deny(req, *d, auth::Role::admin)) return *no;
        const auto assistant = parse_assistant(*req.param("assistant"));
        if (!assistant) return json_error(404, "not_found", "unknown assistant");
        auto in = parse_prompt(req.body);
        if (!in) return json_error(400, "invalid_argument", in.error().message());
        auto user = auth::verify_bearer(req.header("authorization"), d->jwt_secret);
        const std::string by = user ? user->username : "api";
        struct Created {
          std::string id;
          std::string version;
          bool changed = true;
        };
        auto created = pg::transact(*d->pool, [&](pg::Tx& tx) -> core::Result<Created> {
          auto cur = tx.exec(q_active, to_string(*assistant));
          if (!cur) return cur.error();
          std::string version = "1.0.0";
          std::optional<std::string> tools;
          std::optional<std::string> model;
          std::optional<int> top_p;
          // What the body leaves out is carried over from the active version.
          std::optional<int> temperature = in->temperature;
          std::optional<std::string> instructions = in->instructions;
          if (!cur->empty()) {
            const auto r = (*cur)[0];
            version = next_version(r.get<std::string>(0));
            tools = r.get<std::optional<std::string>>(1);
            model = r.get<std::optional<std::string>>(2);
            top_p = r.get<std::optional<int>>(3);
            if (!temperature) temperature = r.get<std::optional<int>>(4);
            if (!instructions) instructions = r.get<std::optional<std::string>>(5);
            // The same prompt again (a retry after a timeout): the active version stands, no
            // new one is made. PUT is idempotent.
            if (r.get<std::string>(7) == in->content &&
                instructions == r.get<std::optional<std::string>>(5) &&
                temperature == r.get<std::optional<int>>(4)) {
              return Created{r.get<std::string>(6), r.get<std::string>(0), false};
            }
          }
          if (auto a = tx.exec(q_archive, to_string(*assistant)); !a) return a.error();
          auto ins = tx.exec(q_insert, to_string(*assistant), version, in->content, instructions,
                             tools, model, temperature, top_p, by);
          if (!ins) return ins.error();
          return Created{(*ins)[0].get<std::string>(0), version};
        });
        if (!created) {
          if (created.error().code() == core::Errc::conflict) {
            return json_error(409, "conflict", "that prompt version exists already; retry");
          }
          return db_error(created.error());
        }
        if (created->changed) {
          if (d->prompts) d->prompts->invalidate();
          core::log().info("prompt updated",
                           {core::f::id("assistant", std::string(to_string(*assistant))),
                            core::f::id("version", created->version)});
        }
        json::Writer w;
        w.begin_object()
            .field("id", created->id)
            .field("assistant", to_string(*assistant))
            .field("version", created->version)
            .field("status", "active")
            .field("changed", created->changed)
            .end_object();
        return Response::json(200, w.take());
      },
      blocking);

  const std::string q_threads =
      "SELECT id, message_count, coalesce(summary, ''), " + ts("created_at") + ", " +
      ts("closed_at") + ", closed_reason FROM " + s +
      ".conversation_threads WHERE conversation_id = $1 ORDER BY created_at, id";
  router.add(
      "GET", "/api/ai/conversations/{id}/threads",
      [d, q_threads](const Request& req) {
        // Supervisors only: the summaries quote the customer's messages, and this service does
        // not know which conversations an agent may see (conversation decides that).
        if (auto no = deny(req, *d, auth::Role::supervisor)) return *no;
        const auto id = core::Uuid::parse(*req.param("id"));
        if (!id) return json_error(400, "invalid_argument", "the conversation id must be a UUID");
        auto rows = d->pool->exec(q_threads, id->str());
        if (!rows) return db_error(rows.error());
        json::Writer w;
        w.begin_object().field("conversation_id", id->str()).array_field("threads");
        for (const auto& r : *rows) {
          w.begin_object()
              .field("id", r.get<std::string>(0))
              .field("message_count", r.get<std::int64_t>(1))
              .field("summary", r.get<std::string>(2))
              .field("created_at", r.get<std::string>(3))
              .field("closed_at", r.get<std::optional<std::string>>(4))
              .field("closed_reason", r.get<std::optional<std::string>>(5))
              .end_object();
        }
        w.end_array().end_object();
        return Response::json(200, w.take());
      },
      blocking);

  const std::string q_outages = "SELECT id, cep_prefix, region, description, " + ts("eta") + ", " +
                                ts("opened_at") + " FROM " + s +
                                ".outages WHERE closed_at IS NULL ORDER BY opened_at";
  router.add(
      "GET", "/api/ai/outages",
      [d, q_outages](const Request& req) {
        if (auto no = deny(req, *d, auth::Role::agent)) return *no;
        auto rows = d->pool->exec(q_outages);
        if (!rows) return db_error(rows.error());
        json::Writer w;
        w.begin_object().array_field("outages");
        for (const auto& r : *rows) {
          w.begin_object()
              .field("id", r.get<std::string>(0))
              .field("cep_prefix", r.get<std::string>(1))
              .field("region", r.get<std::string>(2))
              .field("description", r.get<std::string>(3))
              .field("eta", r.get<std::optional<std::string>>(4))
              .field("opened_at", r.get<std::string>(5))
              .end_object();
        }
        w.end_array().end_object();
        return Response::json(200, w.take());
      },
      blocking);

  const std::string q_open = "INSERT INTO " + s +
                             ".outages (id, cep_prefix, region, description, eta) VALUES ($1, $2, "
                             "$3, $4, $5::timestamptz)";
  router.add(
      "POST", "/api/ai/outages",
      [d, q_open](const Request& req) {
        if (auto no = deny(req, *d, auth::Role::supervisor)) return *no;
        auto in = parse_outage(req.body);
        if (!in) return json_error(400, "invalid_argument", in.error().message());
        const auto id = core::Uuid::v7().str();
        auto r = d->pool->exec(q_open, id, in->cep_prefix, in->region, in->description, in->eta);
        if (!r) return db_error(r.error());
        core::log().info("outage registered",
                         {core::f::id("outage_id", id), core::f::id("cep_prefix", in->cep_prefix)});
        json::Writer w;
        w.begin_object()
            .field("id", id)
            .field("cep_prefix", in->cep_prefix)
            .field("region", in->region)
            .field("description", in->description)
            .field("eta", in->eta)
            .end_object();
        return Response::json(201, w.take());
      },
      blocking);

  const std::string q_close =
      "UPDATE " + s + ".outages SET closed_at = now() WHERE id = $1 AND closed_at IS NULL";
  router.add(
      "POST", "/api/ai/outages/{id}/close",
      [d, q_close](const Request& req) {
        if (auto no = deny(req, *d, auth::Role::supervisor)) return *no;
        const auto id = core::Uuid::parse(*req.param("id"));
        if (!id) return json_error(400, "invalid_argument", "the outage id must be a UUID");
        auto r = d->pool->exec(q_close, id->str());
        if (!r) return db_error(r.error());
        if (r->affected() == 0) return json_error(404, "not_found", "no open outage with that id");
        core::log().info("outage closed", {core::f::id("outage_id", id->str())});
        return Response::json(200, R"({"closed":true})");
      },
      blocking);
}

}  // namespace lia::ai_orchestration
