#include <set>
#include <string>

#include <lia/collections/scheduler.hpp>
#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/events.hpp>

namespace lia::collections {
namespace {

namespace f = core::f;

domain::TemplateVars read_vars(std::string_view json_text) {
  domain::TemplateVars vars;
  auto doc = json::parse(json_text);
  if (!doc || !doc->IsObject()) return vars;
  const auto& root = *doc;  // const iterators: C++20 finds no ambiguous reversed !=
  for (const auto& m : root.GetObject()) {
    if (m.value.IsString())
      vars[std::string(json::view(m.name))] = std::string(json::view(m.value));
  }
  return vars;
}

// "FROM … WHERE …" of a campaign's targets due now, alias t: $1 the campaign, $2 now, $3 its
// max_attempts, $4 how far back a message without an outcome is still on its way. Not one
// whose last message is on its way: while notification is behind (a provider down for longer
// than the spacing), a second attempt queued beside the first would reach the debtor right
// after it. The spacing counts from the outcome (handlers.cpp pushes next_attempt_at on a
// `sent`).
std::string due_targets(const std::string& q) {
  return " FROM " + q +
         ".voice_campaign_targets t WHERE t.campaign_id = $1 AND t.status IN ('pending', "
         "'contacted') AND t.next_attempt_at IS NOT NULL AND t.next_attempt_at <= $2 AND "
         "t.attempt_count < $3 AND NOT EXISTS (SELECT 1 FROM " +
         q +
         ".message_attempts a WHERE a.target_id = t.id AND a.outcome IS NULL AND "
         "a.requested_at > $4)";
}

}  // namespace

struct Scheduler::Campaign {
  std::string id;
  std::string template_text;
  domain::ContactHours hours;
  int max_attempts = 1;
  int spacing_minutes = 1;
  std::string provider;
  std::string instance;
  std::optional<MetaTemplate> meta_template;
};

Scheduler::Scheduler(std::shared_ptr<pg::Pool> pool, std::string schema, Settings settings,
                     const core::Clock& clock)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      q_(pg::quote_ident(schema_)),
      settings_(std::move(settings)),
      clock_(clock),
      periodic_(settings_.tick, [this] { logged_tick(); }) {}

void Scheduler::start() {
  core::log().info("collections scheduler started",
                   {f::num("tick_ms", static_cast<std::int64_t>(settings_.tick.count()))});
  periodic_.start();
}

void Scheduler::logged_tick() {
  auto r = tick();
  if (!r) {
    core::log().warn("collections tick failed; retrying on the next tick",
                     {f::str("error", r.error().describe())});
  }
}

core::Result<TickReport> Scheduler::tick() {
  TickReport report;
  auto rows = pool_->exec(
      "SELECT id::text, template, hours_start, hours_end, hours_days, "
      "max_attempts, attempt_spacing_minutes, provider, instance, meta_template::text FROM " +
      q_ + ".voice_campaigns WHERE status = 'active' ORDER BY created_at, id");
  if (!rows) return rows.error();
  // Each tick starts one campaign further on: campaigns sharing an instance's send rate take
  // turns at its tokens (in creation order, the first would take them all until it ended).
  const std::size_t first = rows->empty() ? 0 : rotation_++ % rows->size();
  for (std::size_t n = 0; n < rows->size(); ++n) {
    const auto& r = (*rows)[(first + n) % rows->size()];
    ++report.campaigns;
    // Each campaign at its own time: a long tick must not send a late campaign's messages
    // at (or past) the end of its window.
    const auto now = clock_.now();
    const std::string id = r.get<std::string>(0);
    AllowedHours h{r.get<std::string>(2), r.get<std::string>(3), weekdays_from_bits(r.get<int>(4))};
    auto hours = contact_hours(h, settings_.utc_offset);
    if (!hours) {
      core::log().error("campaign has unusable allowed hours; skipped",
                        {f::id("campaign_id", id), f::str("error", hours.error().message())});
      continue;
    }
    const auto decision = hours->check(now);
    if (!decision.allowed) {
      ++report.waiting;
      const auto next = decision.next_allowed.value_or(core::SysTime::max());
      bool log_it = false;
      {
        std::lock_guard lock(logged_mu_);
        auto [it, fresh] = logged_next_.try_emplace(id, next);
        if (fresh || it->second != next) {
          it->second = next;
          log_it = true;
        }
      }
      if (log_it) {
        core::log().info("campaign outside its allowed hours; waiting",
                         {f::id("campaign_id", id),
                          f::id("next_allowed", decision.next_allowed
                                                    ? core::format_rfc3339(*decision.next_allowed)
                                                    : std::string("never")),
                          f::id("next_allowed_local",
                                decision.next_allowed
                                    ? local_time_text(*decision.next_allowed, settings_.utc_offset)
                                    : std::string("never"))});
      }
    } else {
      {
        std::lock_guard lock(logged_mu_);
        logged_next_.erase(id);
      }
      Campaign c{id,
                 r.get<std::string>(1),
                 *hours,
                 r.get<int>(5),
                 r.get<int>(6),
                 r.get<std::string>(7),
                 r.get<std::string>(8),
                 std::nullopt};
      if (auto meta = r.get<std::optional<std::string>>(9)) {
        c.meta_template = parse_meta_template_json(*meta);
      }
      if (auto st = run_campaign(c, report); !st) {
        // Database trouble stops the tick (the next one tries again); anything else is this
        // campaign's own, and must not hold back the campaigns after it.
        if (st.error().retryable()) return st.error();
        ++report.errors;
        core::log().error("campaign could not send; the other campaigns go on",
                          {f::id("campaign_id", id), f::str("error", st.error().describe())});
        continue;
      }
    }
    // A target still due later: not done, and nothing locked (every pod looks at every active
    // campaign each tick, inside its hours or not). The due index answers it. A target with
    // attempts left but no next one due is left to the check below.
    auto due = pool_->exec("SELECT 1 FROM " + q_ +
                               ".voice_campaign_targets t WHERE t.campaign_id = $1 AND t.status "
                               "IN ('pending', 'contacted') AND t.next_attempt_at IS NOT NULL AND "
                               "t.attempt_count < $2 LIMIT 1",
                           id, r.get<int>(5));
    if (!due) return due.error();
    if (!due->empty()) continue;
    // The campaign's row is locked before its targets are read: an expired message giving its
    // attempt back (handlers.cpp) locks it too, so one of the two sees the other's commit (an
    // UPDATE alone would re-check a locked row against the targets as they were).
    bool completed = false;
    auto done = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
      completed = false;
      auto active = tx.exec("SELECT 1 FROM " + q_ +
                                ".voice_campaigns WHERE id = $1 AND status = 'active' FOR NO KEY "
                                "UPDATE",
                            id);
      if (!active) return active.error();
      if (active->empty()) return {};
      auto upd = tx.exec("UPDATE " + q_ +
                             ".voice_campaigns c SET status = 'completed', completed_at = $2, "
                             "updated_at = $2 WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM " +
                             q_ +
                             ".voice_campaign_targets t WHERE t.campaign_id = c.id AND t.status "
                             "IN ('pending', 'contacted') AND t.attempt_count < c.max_attempts)",
                         id, now);
      if (!upd) return upd.error();
      completed = upd->affected() > 0;
      return {};
    });
    if (!done) return done.error();
    if (completed) {
      ++report.completed;
      core::log().info("campaign completed", {f::id("campaign_id", id)});
    }
  }
  {
    // A campaign paused, completed or deleted while it waited is forgotten: the map holds only
    // active campaigns, and one resumed outside its hours says again when it will send.
    std::set<std::string> active;
    for (const auto& r : *rows) active.insert(r.get<std::string>(0));
    std::lock_guard lock(logged_mu_);
    std::erase_if(logged_next_, [&](const auto& e) { return !active.contains(e.first); });
  }
  if (report.sent > 0 || report.failed > 0 || report.errors > 0 || report.opted_out > 0) {
    core::log().info("collections tick",
                     {f::num("campaigns", report.campaigns), f::num("sent", report.sent),
                      f::num("failed", report.failed), f::num("opted_out", report.opted_out),
                      f::num("waiting", report.waiting), f::num("campaign_errors", report.errors)});
  }
  return report;
}

core::Status Scheduler::run_campaign(const Campaign& c, TickReport& report) {
  const auto spacing = std::chrono::minutes{c.spacing_minutes};
  int taken_total = 0;
  while (taken_total < kPerCampaignPerTick) {
    // Each batch at its own time, with the end of its window as not_after; none once the
    // window closed.
    const auto now = clock_.now();
    const auto not_after = window_end(c.hours, now);
    if (!not_after) break;
    // A command older than a day is past its not_after (the end of its window): it will never
    // be sent, even if its outcome was lost.
    const auto on_its_way_since = now - std::chrono::hours{24};
    // Nothing due (most of a day, with the spacing a day): no transaction, no lock, and the
    // instance's rate row untouched. Every pod asks every tick; the due index answers it.
    auto any_due = pool_->exec("SELECT 1" + due_targets(q_) + " LIMIT 1", c.id, now, c.max_attempts,
                               on_its_way_since);
    if (!any_due) return any_due.error();
    if (any_due->empty()) break;
    int sent = 0, failed = 0, opted_out = 0;
    bool stopped = false;
    bool full = false;
    bool throttled = false;
    auto taken = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Result<int> {
      sent = 0;
      failed = 0;
      opted_out = 0;
      stopped = false;
      full = false;
      throttled = false;
      // Still active, and kept so until the batch commits: a pause waits for this batch
      // and stops the next one.
      auto active = tx.exec(
          "SELECT 1 FROM " + q_ + ".voice_campaigns WHERE id = $1 AND status = 'active' FOR SHARE",
          c.id);
      if (!active) return active.error();
      if (active->empty()) {
        stopped = true;
        return 0;
      }
      // Messages still awaiting their outcome.
      auto open = tx.exec("SELECT count(*) FROM " + q_ +
                              ".message_attempts WHERE campaign_id = $1 AND outcome IS NULL "
                              "AND requested_at > $2",
                          c.id, on_its_way_since);
      if (!open) return open.error();
      const std::int64_t room = settings_.max_in_flight - (*open)[0].get<std::int64_t>(0);
      if (room <= 0) {
        full = true;
        return 0;
      }
      // The instance's send rate (LIA_COLLECTIONS_MAX_PER_MINUTE), every campaign and replica
      // on it together: a token bucket whose row stays locked until this batch commits, so
      // batches of one instance take from it one after the other.
      const double per_second = settings_.max_per_minute / 60.0;
      const double capacity = std::max(
          1.0,
          per_second * std::max(10.0, 2.0 * std::chrono::duration<double>(settings_.tick).count()));
      auto bucket = tx.exec(
          "INSERT INTO " + q_ +
              ".instance_send_rate AS r (provider, instance, tokens, refilled_at) VALUES ($1, $2, "
              "$3, $4) ON CONFLICT (provider, instance) DO UPDATE SET tokens = LEAST($3, r.tokens "
              "+ $5 * GREATEST(0, extract(epoch FROM ($4::timestamptz - r.refilled_at)))::float8), "
              "refilled_at = GREATEST(r.refilled_at, $4) RETURNING floor(r.tokens)::bigint",
          c.provider, c.instance, capacity, now, per_second);
      if (!bucket) return bucket.error();
      const std::int64_t tokens = (*bucket)[0].get<std::int64_t>(0);
      if (tokens <= 0) {
        throttled = true;
        return 0;
      }
      // The due targets, locked: replicas share the work, a target is never taken twice.
      auto rows = tx.exec(
          "SELECT t.id::text, t.debtor_name, t.phone_number, t.debt_amount, "
          "to_char(t.due_date, 'YYYY-MM-DD'), t.vars::text, t.attempt_count, EXISTS (SELECT 1 "
          "FROM " +
              q_ + ".contact_opt_outs o WHERE o.phone_number = t.phone_number)" + due_targets(q_) +
              " ORDER BY t.next_attempt_at, t.id LIMIT $5 FOR UPDATE OF t SKIP LOCKED",
          c.id, now, c.max_attempts, on_its_way_since,
          std::min<std::int64_t>({kBatch, room, tokens}));
      if (!rows) return rows.error();
      if (rows->empty()) return 0;
      std::vector<Attempt> attempts;
      attempts.reserve(rows->size());
      json::Writer ok_rows, bad_rows;
      ok_rows.begin_array();
      bad_rows.begin_array();
      std::string opted = "{";  // the targets whose number asked for no more messages
      for (const auto& r : *rows) {
        const std::string target = r.get<std::string>(0);
        // A debtor who opted out after the target was made, or while an opt-out's own update
        // waited for this batch's lock: nothing is sent.
        if (r.get<bool>(7)) {
          opted += (opted.size() > 1 ? "," : "") + target;
          ++opted_out;
          continue;
        }
        const auto vars =
            template_vars(r.get<std::string>(1), r.get<std::int64_t>(3), r.get<std::string>(4),
                          read_vars(r.get<std::string_view>(5)));
        auto text = domain::render_template(c.template_text, vars);
        std::optional<core::Result<MetaTemplate>> meta;
        if (c.meta_template) meta = render_meta_template(*c.meta_template, vars);
        if (!text || text->empty() || text->size() > 4096 || (meta && !*meta)) {
          const std::string reason =
              !text ? "template: " + text.error().message()
              : (meta && !*meta)
                  ? "meta_template: " + meta->error().message()
                  : std::string("template: the rendered message is empty or too long");
          bad_rows.begin_object().field("id", target).field("reason", reason).end_object();
          ++failed;
          core::log().warn(
              "campaign target failed",
              {f::id("campaign_id", c.id), f::id("target_id", target), f::str("reason", reason)});
          continue;
        }
        Attempt a;
        a.campaign_id = c.id;
        a.target_id = target;
        a.attempt = r.get<int>(6) + 1;
        a.command_id = core::Uuid::v7(clock_).str();
        a.provider = c.provider;
        a.instance = c.instance;
        a.to = recipient(c.provider, r.get<std::string_view>(2));
        a.text = std::move(*text);
        if (meta) a.meta_template = std::move(**meta);
        a.not_after = not_after;
        ok_rows.begin_object()
            .field("id", a.target_id)
            .field("command_id", a.command_id)
            .field("attempt", a.attempt);
        if (a.attempt < c.max_attempts) {
          ok_rows.field("next_at", core::format_rfc3339(now + spacing));
        } else {
          ok_rows.key("next_at").null();
        }
        ok_rows.end_object();
        attempts.push_back(std::move(a));
      }
      ok_rows.end_array();
      bad_rows.end_array();
      if (!attempts.empty()) {
        auto took = tx.exec("UPDATE " + q_ +
                                ".instance_send_rate SET tokens = tokens - $3 WHERE provider = $1 "
                                "AND instance = $2",
                            c.provider, c.instance, static_cast<std::int64_t>(attempts.size()));
        if (!took) return took.error();
        const std::string ok_json = ok_rows.take();
        auto upd = tx.exec("UPDATE " + q_ +
                               ".voice_campaign_targets t SET attempt_count = x.attempt, "
                               "last_attempt_at = $2, next_attempt_at = x.next_at, "
                               "last_command_id = x.command_id, updated_at = $2 FROM "
                               "jsonb_to_recordset($1::jsonb) AS x(id uuid, command_id uuid, "
                               "attempt integer, next_at timestamptz) WHERE t.id = x.id",
                           ok_json, now);
        if (!upd) return upd.error();
        auto ins = tx.exec("INSERT INTO " + q_ +
                               ".message_attempts (command_id, target_id, campaign_id, attempt, "
                               "requested_at) SELECT x.command_id, x.id, $2, x.attempt, $3 FROM "
                               "jsonb_to_recordset($1::jsonb) AS x(id uuid, command_id uuid, "
                               "attempt integer)",
                           ok_json, c.id, now);
        if (!ins) return ins.error();
      }
      if (opted_out > 0) {
        auto upd = tx.exec("UPDATE " + q_ +
                               ".voice_campaign_targets SET status = 'opted_out', "
                               "next_attempt_at = NULL, updated_at = $2 WHERE id = ANY($1::uuid[])",
                           opted + "}", now);
        if (!upd) return upd.error();
      }
      if (failed > 0) {
        auto upd = tx.exec(
            "UPDATE " + q_ +
                ".voice_campaign_targets t SET status = 'failed', last_error = x.reason, "
                "next_attempt_at = NULL, updated_at = $2 FROM "
                "jsonb_to_recordset($1::jsonb) AS x(id uuid, reason text) WHERE t.id = x.id",
            bad_rows.take(), now);
        if (!upd) return upd.error();
      }
      for (const auto& a : attempts) {
        const std::string key = events::chat_key(a.instance, a.to);
        auto cmd = runtime::publish(
            tx, schema_, kServiceName,
            {.topic = std::string(events::topics::notification_commands),
             .key = key,
             .type = std::string(a.meta_template ? events::types::notification_send_template
                                                 : events::types::notification_send_text),
             .subject = a.target_id,
             .data = a.meta_template ? send_template_data(a) : send_text_data(a)},
            clock_);
        if (!cmd) return cmd.error();
        auto ev =
            runtime::publish(tx, schema_, kServiceName,
                             {.topic = std::string(events::topics::collections_events),
                              .key = key,
                              .type = std::string(events::types::collections_message_requested),
                              .subject = a.target_id,
                              .data = message_requested_data(a)},
                             clock_);
        if (!ev) return ev.error();
        core::log().debug("campaign message requested",
                          {f::id("campaign_id", a.campaign_id), f::id("target_id", a.target_id),
                           f::num("attempt", a.attempt), f::id("command_id", a.command_id),
                           f::phone("to", a.to)});
      }
      sent = static_cast<int>(attempts.size());
      return static_cast<int>(rows->size());
    });
    if (!taken) return taken.error();
    if (stopped) {
      core::log().info("campaign no longer active; its tick stops", {f::id("campaign_id", c.id)});
      break;
    }
    if (throttled) {
      ++report.throttled;
      core::log().debug("campaign waits for its instance's send rate",
                        {f::id("campaign_id", c.id), f::id("instance", c.instance),
                         f::num("max_per_minute", settings_.max_per_minute)});
      break;
    }
    if (full) {
      ++report.held;
      core::log().debug(
          "campaign waits for outcomes of its messages in flight",
          {f::id("campaign_id", c.id),
           f::num("max_in_flight", static_cast<std::int64_t>(settings_.max_in_flight))});
      break;
    }
    report.sent += sent;
    report.failed += failed;
    report.opted_out += opted_out;
    taken_total += *taken;
    if (*taken > 0) {
      core::log().info("campaign messages requested",
                       {f::id("campaign_id", c.id), f::num("sent", sent), f::num("failed", failed),
                        f::num("opted_out", opted_out)});
    }
    if (*taken < kBatch) break;
  }
  return {};
}

}  // namespace lia::collections
