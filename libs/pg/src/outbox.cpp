#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/pg/outbox.hpp>

namespace lia::pg {

std::string outbox_channel(const std::string& schema) {
  return schema + "_outbox";
}

core::Result<std::int64_t> enqueue(Tx& tx, const std::string& schema, const OutboxMessage& msg) {
  std::string headers = "{";
  for (std::size_t i = 0; i < msg.headers.size(); ++i) {
    if (i > 0) headers += ',';
    headers += '"';
    core::json_escape(headers, msg.headers[i].first);
    headers += "\":\"";
    core::json_escape(headers, msg.headers[i].second);
    headers += '"';
  }
  headers += '}';
  auto r = tx.exec("WITH ins AS (INSERT INTO " + quote_ident(schema) +
                       ".outbox (event_id, topic, key, payload, headers) "
                       "VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id) "
                       "SELECT id, pg_notify($6, '') FROM ins",
                   msg.event_id, msg.topic, msg.key, msg.payload, headers, outbox_channel(schema));
  if (!r) return r.error();
  return (*r)[0].get<std::int64_t>(0);
}

core::Result<bool> inbox_claim(Tx& tx, const std::string& schema, const std::string& consumer,
                               const std::string& event_id) {
  auto r = tx.exec("INSERT INTO " + quote_ident(schema) +
                       ".inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   consumer, event_id);
  if (!r) return r.error();
  return r->affected() == 1;
}

}  // namespace lia::pg
