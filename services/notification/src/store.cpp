#include <lia/json/writer.hpp>
#include <lia/notification/store.hpp>
#include <lia/pg/connection.hpp>

namespace lia::notification {
namespace {

// retry_at as milliseconds since the epoch (NULL when none).
std::string retry_at_ms() {
  return "(extract(epoch FROM retry_at) * 1000)::bigint";
}

std::string utc(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

std::optional<std::string> template_parameters_json(const SendCommand& cmd) {
  if (cmd.kind != CommandKind::template_message) return std::nullopt;
  json::Writer w;
  w.begin_array();
  for (const auto& p : cmd.tmpl.parameters) w.value(p);
  w.end_array();
  return w.take();
}

template <class T>
std::optional<T> when(bool cond, const T& v) {
  return cond ? std::optional<T>(v) : std::nullopt;
}

}  // namespace

OutboundStore::OutboundStore(std::shared_ptr<pg::Pool> pool, std::string schema)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      table_(pg::quote_ident(schema_) + ".outbound_messages") {}

core::Result<Claim> OutboundStore::claim(const SendCommand& cmd,
                                         const std::optional<std::string>& body, bool sending_now,
                                         const std::string& row_id) {
  const bool tmpl = cmd.kind == CommandKind::template_message;
  const std::optional<std::string> not_after =
      cmd.not_after ? std::optional<std::string>(core::format_rfc3339(*cmd.not_after))
                    : std::nullopt;
  auto rows = pool_->exec(
      "WITH ins AS (INSERT INTO " + table_ +
          " (id, command_id, event_id, command_type, provider, instance, to_chat, conversation_id,"
          " message_id, priority, body, template_name, template_language, template_parameters,"
          " not_after, status, attempts, delivery_status, last_attempt_at, in_flight,"
          " command_source)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
          " 'sending', 1, 'PENDING', now(), $16, $17)"
          " ON CONFLICT (command_id) DO NOTHING RETURNING status, attempts, last_error, in_flight,"
          " retry_at, error_code, id, replayed_from)"
          " SELECT true, status, attempts, last_error, in_flight, " +
          retry_at_ms() +
          ", error_code, id::text, replayed_from FROM ins"
          " UNION ALL SELECT false, status, attempts, last_error, in_flight, " +
          retry_at_ms() + ", error_code, id::text, replayed_from FROM " + table_ +
          " WHERE command_id = $2 AND NOT EXISTS (SELECT 1 FROM ins)",
      row_id, cmd.command_id, cmd.event_id, to_string(cmd.kind), to_string(cmd.provider),
      cmd.instance, cmd.to, cmd.conversation_id, cmd.message_id, cmd.priority, body,
      when(tmpl, cmd.tmpl.name), when(tmpl, cmd.tmpl.language), template_parameters_json(cmd),
      not_after, sending_now,
      cmd.source.empty() ? std::optional<std::string>{} : std::optional<std::string>(cmd.source));
  if (!rows) return rows.error();
  if (rows->empty()) {
    // Another transaction inserted the same command id and had not committed when this
    // statement took its snapshot: try again once it has.
    return core::Error(core::Errc::unavailable,
                       "command " + cmd.command_id + " is being claimed concurrently");
  }
  const auto row = (*rows)[0];
  Claim c;
  c.inserted = row.get<bool>(0);
  c.status = row.get<std::string>(1);
  c.attempts = row.get<int>(2);
  c.last_error = row.get<std::optional<std::string>>(3);
  c.in_flight = row.get<bool>(4);
  if (const auto at = row.get<std::optional<std::int64_t>>(5)) {
    c.retry_at = core::SysTime{std::chrono::milliseconds{*at}};
  }
  c.error_code = row.get<std::optional<std::string>>(6);
  c.row_id = row.get<std::string>(7);
  c.replayed_from = row.get<std::optional<std::string>>(8);
  return c;
}

core::Result<int> OutboundStore::next_attempt(const std::string& command_id, int after) {
  auto rows =
      pool_->exec("UPDATE " + table_ +
                      " SET attempts = attempts + 1, in_flight = true, last_attempt_at = now(),"
                      " echo_message_id = NULL, updated_at = now() WHERE command_id = $1"
                      " AND status = 'sending'"
                      // An echo of the last try kept on the row: that try went (sent_by_echo).
                      " AND attempts = $2 AND echo_message_id IS NULL RETURNING attempts",
                  command_id, after);
  if (!rows) return rows.error();
  if (rows->empty()) {
    return core::Error(core::Errc::conflict,
                       "command " + command_id + " is no longer being sent by this handler");
  }
  return (*rows)[0].get<int>(0);
}

core::Result<std::optional<OutboundStore::Progress>> OutboundStore::progress(
    const std::string& command_id) {
  auto rows = pool_->exec(
      "SELECT status, attempts, in_flight FROM " + table_ + " WHERE command_id = $1", command_id);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Progress>{};
  const auto r = (*rows)[0];
  return std::optional<Progress>(Progress{r.get<std::string>(0), r.get<int>(1), r.get<bool>(2)});
}

core::Result<std::int64_t> OutboundStore::purge_finished(core::SysTime before, int limit) {
  // By (status, created_at), the index the status look-ups use: a range per final status.
  // And finished as long ago: a row replayed and finished again later (a dead letter replayed,
  // failed once more) has a newer dead letter that may still be replayed, and must find it.
  auto rows = pool_->exec("DELETE FROM " + table_ +
                              " WHERE command_id IN (SELECT command_id FROM " + table_ +
                              " WHERE status IN ('sent', 'failed', 'dead_lettered') AND "
                              "created_at < $1::timestamptz AND (finished_at IS NULL OR "
                              "finished_at < $1::timestamptz) LIMIT $2)",
                          core::format_rfc3339(before), limit);
  if (!rows) return rows.error();
  return rows->affected();
}

core::Result<bool> OutboundStore::try_failed(const std::string& command_id, int attempt,
                                             const std::string& reason,
                                             std::optional<core::SysTime> retry_at,
                                             std::optional<int> http_status) {
  // An echo kept while the try waited for its answer holds only if that answer may come with a
  // message sent (a 5xx: Evolution's own write failing after the send): a 429, a refusal or a
  // request that never left sent nothing, so the echo was another send's (of the same text).
  auto rows = pool_->exec(
      "UPDATE " + table_ +
          " SET in_flight = false, last_error = $3, retry_at = $4::timestamptz, http_status = $5,"
          " echo_message_id = CASE WHEN $5::int >= 500 THEN echo_message_id END,"
          " updated_at = now() WHERE command_id = $1 AND status = 'sending' AND attempts = $2",
      command_id, attempt, reason,
      retry_at ? std::optional<std::string>(core::format_rfc3339(*retry_at)) : std::nullopt,
      http_status);
  if (!rows) return rows.error();
  return rows->affected() == 1;
}

core::Result<bool> OutboundStore::mark_sent(pg::Tx& tx, const std::string& command_id, int attempts,
                                            const std::string& provider_message_id,
                                            int http_status) {
  auto rows =
      tx.exec("UPDATE " + table_ +
                  " SET status = 'sent', attempts = $2, provider_message_id = $3,"
                  " http_status = $4, delivery_status = 'SERVER_ACK', last_error = NULL,"
                  " error_code = NULL, sent_at = now(), finished_at = now(), updated_at = now(),"
                  " in_flight = false, echo_message_id = CASE WHEN echo_message_id = $3 THEN"
                  " echo_message_id END"
                  " WHERE command_id = $1 AND (status = 'sending' OR (status IN ('failed', "
                  "'dead_lettered') AND error_code = 'outcome_unknown' AND attempts = $2))",
              command_id, attempts, provider_message_id, http_status);
  if (!rows) return rows.error();
  return rows->affected() == 1;
}

core::Result<bool> OutboundStore::mark_failed(pg::Tx& tx, const std::string& command_id, int seen,
                                              std::string_view status, int attempts,
                                              std::string_view reason,
                                              const std::optional<std::string>& code,
                                              std::optional<int> http_status) {
  auto rows = tx.exec("UPDATE " + table_ +
                          " SET status = $2, attempts = $3, last_error = $4, error_code = $5,"
                          " http_status = $6, finished_at = now(), updated_at = now(),"
                          " in_flight = false"
                          " WHERE command_id = $1 AND status = 'sending' AND attempts = $7",
                      command_id, status, attempts, reason, code, http_status, seen);
  if (!rows) return rows.error();
  return rows->affected() == 1;
}

namespace {
// What a row becomes when the provider took its message: 'sent', SERVER_ACK, no error.
constexpr std::string_view kSentColumns =
    "status = 'sent', delivery_status = 'SERVER_ACK', last_error = NULL, error_code = NULL,"
    " http_status = NULL, sent_at = COALESCE(last_attempt_at, now()), finished_at = now(),"
    " updated_at = now(),"
    " in_flight = false, retry_at = NULL";
}  // namespace

namespace {
// No other row has this provider id (a new statement: its snapshot is taken after the locks
// the statements before it waited for).
std::string no_row_with_id(const std::string& table, const std::string& id_param) {
  return " AND NOT EXISTS (SELECT 1 FROM " + table +
         " o WHERE o.provider_message_id = " + id_param + " AND o.instance = " + table +
         ".instance AND o.provider = 'evolution')";
}
}  // namespace

core::Result<std::vector<Unsettled>> OutboundStore::unsettled_sends(
    pg::Tx& tx, const std::string& instance, const std::vector<std::string>& recipients,
    const std::string& text, const std::string& provider_message_id) {
  std::string spellings;
  for (const auto& r : recipients) {
    if (r.find(',') != std::string::npos) continue;  // no chat id has one
    if (!spellings.empty()) spellings += ',';
    spellings += r;
  }
  // The first line is the predicate of outbound_messages_unsettled_idx (migration 0011): the
  // rows in flight and those ended unknown, by recipient.
  auto rows = tx.exec(
      "SELECT command_id::text, status, attempts, in_flight, to_chat, conversation_id::text,"
      " message_id::text, command_source,"
      " (extract(epoch FROM last_attempt_at) * 1000)::bigint, http_status FROM " +
          table_ +
          " WHERE provider_message_id IS NULL AND (status = 'sending' OR error_code ="
          " 'outcome_unknown') AND to_chat = ANY (string_to_array($2, ','))"
          // In flight; between two tries, the last answered with a 5xx (Evolution may answer
          // one for a message it sent); or ended unknown.
          " AND provider = 'evolution' AND instance = $1 AND ((status = 'sending' AND (in_flight"
          " OR (attempts > 0 AND http_status >= 500))) OR status IN ('failed', 'dead_lettered'))"
          " AND (echo_message_id IS NULL OR"
          " echo_message_id = $4) AND btrim(body) = btrim($3)"
          " AND last_attempt_at > now() - interval '1 day'" +
          no_row_with_id(table_, "$4") + " ORDER BY created_at FOR UPDATE",
      instance, spellings, text, provider_message_id);
  if (!rows) return rows.error();
  std::vector<Unsettled> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) {
    Unsettled u;
    u.command.command_id = r.get<std::string>(0);
    u.status = r.get<std::string>(1);
    u.attempts = r.get<int>(2);
    u.in_flight = r.get<bool>(3);
    u.command.provider = Provider::evolution;
    u.command.instance = instance;
    u.command.to = r.get<std::string>(4);
    u.command.conversation_id = r.get<std::optional<std::string>>(5);
    u.command.message_id = r.get<std::optional<std::string>>(6);
    u.command.source = r.get<std::optional<std::string>>(7).value_or("");
    u.last_attempt_ms = r.get<std::int64_t>(8);
    u.http_status = r.get<std::optional<int>>(9);
    out.push_back(std::move(u));
  }
  return out;
}

core::Result<bool> OutboundStore::note_echo(pg::Tx& tx, const std::string& command_id, int attempts,
                                            const std::string& provider_message_id) {
  auto rows = tx.exec("UPDATE " + table_ +
                          " SET echo_message_id = $3, updated_at = now() WHERE command_id = $1"
                          " AND status = 'sending' AND attempts = $2" +
                          no_row_with_id(table_, "$3"),
                      command_id, attempts, provider_message_id);
  if (!rows) return rows.error();
  return rows->affected() == 1;
}

core::Result<std::optional<std::string>> OutboundStore::sent_by_echo(pg::Tx& tx,
                                                                     const std::string& command_id,
                                                                     int attempts) {
  // Locked first, on a condition the echo's write does not change: an echo being noted now
  // is waited for, and its id read from the row as that write left it.
  auto locked = tx.exec("SELECT echo_message_id FROM " + table_ +
                            " WHERE command_id = $1 AND status = 'sending' AND attempts = $2"
                            " FOR UPDATE",
                        command_id, attempts);
  if (!locked) return locked.error();
  if (locked->empty() || !(*locked)[0].get<std::optional<std::string>>(0)) {
    return std::optional<std::string>{};
  }
  auto rows = tx.exec("UPDATE " + table_ + " SET provider_message_id = echo_message_id, " +
                          std::string(kSentColumns) +
                          " WHERE command_id = $1 AND status = 'sending' AND attempts = $2"
                          " AND echo_message_id IS NOT NULL" +
                          no_row_with_id(table_, table_ + ".echo_message_id") +
                          " RETURNING provider_message_id",
                      command_id, attempts);
  if (!rows) return rows.error();
  if (rows->empty()) {
    // Another row has that id: the echo was of that row's send, not of this try. Forgotten,
    // so that the next try is not held up by it.
    auto cleared = tx.exec("UPDATE " + table_ +
                               " SET echo_message_id = NULL, updated_at = now() WHERE command_id ="
                               " $1 AND status = 'sending' AND attempts = $2",
                           command_id, attempts);
    if (!cleared) return cleared.error();
    return std::optional<std::string>{};
  }
  return std::optional<std::string>((*rows)[0].get<std::string>(0));
}

core::Result<std::optional<int>> OutboundStore::settle_by_echo(
    pg::Tx& tx, const std::string& command_id, const std::string& provider_message_id) {
  auto rows = tx.exec("UPDATE " + table_ + " SET provider_message_id = $2, echo_message_id = $2, " +
                          std::string(kSentColumns) +
                          " WHERE command_id = $1 AND provider_message_id IS NULL"
                          " AND status IN ('failed', 'dead_lettered')"
                          " AND error_code = 'outcome_unknown'" +
                          no_row_with_id(table_, "$2") + " RETURNING attempts",
                      command_id, provider_message_id);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<int>{};
  return std::optional<int>((*rows)[0].get<int>(0));
}

core::Result<std::optional<int>> OutboundStore::settle_between_tries(
    pg::Tx& tx, const std::string& command_id, int attempts,
    const std::string& provider_message_id) {
  auto rows = tx.exec("UPDATE " + table_ + " SET provider_message_id = $3, echo_message_id = $3, " +
                          std::string(kSentColumns) +
                          " WHERE command_id = $1 AND status = 'sending' AND NOT in_flight"
                          " AND attempts = $2 AND provider_message_id IS NULL" +
                          no_row_with_id(table_, "$3") + " RETURNING attempts",
                      command_id, attempts, provider_message_id);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<int>{};
  return std::optional<int>((*rows)[0].get<int>(0));
}

core::Result<bool> OutboundStore::reopen(const std::string& command_id,
                                         const std::string& replay_token) {
  auto rows = pool_->exec("UPDATE " + table_ +
                              " SET status = 'sending', attempts = 0, finished_at = NULL,"
                              " in_flight = false, retry_at = NULL, replayed_from = $2,"
                              " echo_message_id = NULL,"
                              // The failure's own: a row being sent again does not show it.
                              " last_error = NULL, error_code = NULL, http_status = NULL,"
                              " updated_at = now()"
                              " WHERE command_id = $1 AND status IN ('failed', 'dead_lettered')"
                              " AND replayed_from IS DISTINCT FROM $2",
                          command_id, replay_token);
  if (!rows) return rows.error();
  return rows->affected() == 1;
}

core::Result<std::optional<std::string>> OutboundStore::find_template(const std::string& name,
                                                                      const std::string& language) {
  auto rows = pool_->exec("SELECT template FROM " + pg::quote_ident(schema_) +
                              ".message_templates WHERE key = $1 AND language = $2",
                          name, language);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<std::string>{};
  return std::optional<std::string>((*rows)[0].get<std::string>(0));
}

core::Result<std::optional<OutboundRecord>> OutboundStore::find(const std::string& command_id) {
  auto rows = pool_->exec(
      "SELECT command_id::text, command_type, provider, instance, to_chat, conversation_id::text,"
      " message_id::text, body, template_name, template_language, status, attempts,"
      " provider_message_id, delivery_status, delivery_error, last_error, error_code, "
      "http_status, " +
          utc("not_after") + ", " + utc("created_at") + ", " + utc("last_attempt_at") + ", " +
          utc("sent_at") + ", " + utc("finished_at") + ", " + utc("updated_at") + " FROM " +
          table_ + " WHERE command_id = $1",
      command_id);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<OutboundRecord>{};
  const auto r = (*rows)[0];
  OutboundRecord o;
  o.command_id = r.get<std::string>(0);
  o.command_type = r.get<std::string>(1);
  o.provider = r.get<std::string>(2);
  o.instance = r.get<std::string>(3);
  o.to = r.get<std::string>(4);
  o.conversation_id = r.get<std::optional<std::string>>(5);
  o.message_id = r.get<std::optional<std::string>>(6);
  o.body = r.get<std::optional<std::string>>(7);
  o.template_name = r.get<std::optional<std::string>>(8);
  o.template_language = r.get<std::optional<std::string>>(9);
  o.status = r.get<std::string>(10);
  o.attempts = r.get<int>(11);
  o.provider_message_id = r.get<std::optional<std::string>>(12);
  o.delivery_status = r.get<std::optional<std::string>>(13);
  o.delivery_error = r.get<std::optional<std::string>>(14);
  o.last_error = r.get<std::optional<std::string>>(15);
  o.error_code = r.get<std::optional<std::string>>(16);
  o.http_status = r.get<std::optional<int>>(17);
  o.not_after = r.get<std::optional<std::string>>(18);
  o.created_at = r.get<std::string>(19);
  o.last_attempt_at = r.get<std::optional<std::string>>(20);
  o.sent_at = r.get<std::optional<std::string>>(21);
  o.finished_at = r.get<std::optional<std::string>>(22);
  o.updated_at = r.get<std::string>(23);
  return std::optional<OutboundRecord>(std::move(o));
}

core::Result<std::optional<Delivery>> OutboundStore::find_delivery(
    std::string_view provider, std::string_view instance, std::string_view provider_message_id) {
  auto rows = pool_->exec(
      "SELECT command_id::text, delivery_status, delivery_error, status = 'sent', attempts,"
      " to_chat, conversation_id::text, message_id::text, command_source FROM " +
          table_ + " WHERE provider_message_id = $1 AND instance = $2 AND provider = $3",
      provider_message_id, instance, provider);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Delivery>{};
  const auto r = (*rows)[0];
  Delivery d;
  d.command.command_id = r.get<std::string>(0);
  if (auto s = r.get<std::optional<std::string>>(1)) {
    auto parsed = domain::parse_message_status(*s);
    if (parsed) d.tick.status = *parsed;
  }
  d.tick.error_reason = r.get<std::optional<std::string>>(2).value_or("");
  d.sent = r.get<bool>(3);
  d.attempts = r.get<int>(4);
  d.command.provider = parse_provider(provider).value_or(Provider::meta);
  d.command.instance = std::string(instance);
  d.command.to = r.get<std::string>(5);
  d.command.conversation_id = r.get<std::optional<std::string>>(6);
  d.command.message_id = r.get<std::optional<std::string>>(7);
  d.command.source = r.get<std::optional<std::string>>(8).value_or("");
  return std::optional<Delivery>(std::move(d));
}

core::Result<std::vector<std::string>> OutboundStore::in_flight_recipients(
    std::string_view provider, std::string_view instance, int limit) {
  // Few rows: the (status, created_at) index narrows it to the 'sending' ones.
  auto rows = pool_->exec("SELECT to_chat FROM " + table_ +
                              " WHERE status = 'sending' AND in_flight AND instance = $1"
                              " AND provider = $2 LIMIT $3",
                          instance, provider, limit);
  if (!rows) return rows.error();
  std::vector<std::string> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) out.push_back(r.get<std::string>(0));
  return out;
}

namespace {

// Compare-and-set of a row's tick (and, for a delivery failure, its code; a tick past an
// ERROR, a delivery proving it was not final, clears it with the failure's reason).
std::string set_delivery_sql(const std::string& table) {
  return "UPDATE " + table +
         " SET delivery_status = $2::text, delivery_error = $3, delivery_updated_at = now(),"
         " updated_at = now(), error_code = CASE WHEN $2::text = 'ERROR' THEN COALESCE($6, "
         "error_code) END WHERE command_id = $1"
         " AND COALESCE(delivery_status, 'PENDING') = $4 AND delivery_error IS NOT DISTINCT FROM "
         "$5";
}

std::optional<std::string> reason_of(const domain::MessageTick& t) {
  return t.error_reason.empty() ? std::optional<std::string>{}
                                : std::optional<std::string>(t.error_reason);
}

}  // namespace

core::Result<bool> OutboundStore::set_delivery(const std::string& command_id,
                                               const domain::MessageTick& expected,
                                               const domain::MessageTick& next) {
  auto rows = pool_->exec(set_delivery_sql(table_), command_id, domain::to_string(next.status),
                          reason_of(next), domain::to_string(expected.status), reason_of(expected),
                          std::optional<std::string>{});
  if (!rows) return rows.error();
  return rows->affected() == 1;
}

core::Result<bool> OutboundStore::set_delivery_failed(pg::Tx& tx, const std::string& command_id,
                                                      const domain::MessageTick& expected,
                                                      const domain::MessageTick& next,
                                                      const std::optional<std::string>& code) {
  auto rows =
      tx.exec(set_delivery_sql(table_), command_id, domain::to_string(next.status), reason_of(next),
              domain::to_string(expected.status), reason_of(expected), code);
  if (!rows) return rows.error();
  return rows->affected() == 1;
}

}  // namespace lia::notification
