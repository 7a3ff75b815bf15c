#include <algorithm>
#include <mutex>
#include <string_view>

#include <fmt/format.h>
#include <unistd.h>

#include <lia/core/log.hpp>
#include <lia/core/text.hpp>
#include <lia/pg/batch.hpp>
#include <lia/pg/outbox.hpp>

#include "local_relays.hpp"

namespace lia::pg {

namespace detail {
namespace {

struct LocalRelays {
  std::mutex mu;
  std::vector<std::pair<std::string, int>> active;  // (schema, eventfd)
};

LocalRelays& local_relays() {
  static LocalRelays relays;
  return relays;
}

}  // namespace

void register_local_relay(const std::string& schema, int wake_fd) {
  auto& r = local_relays();
  std::lock_guard lk(r.mu);
  r.active.emplace_back(schema, wake_fd);
}

void unregister_local_relay(const std::string& schema, int wake_fd) {
  auto& r = local_relays();
  std::lock_guard lk(r.mu);
  std::erase(r.active, std::pair<std::string, int>{schema, wake_fd});
}

bool local_relay_active(const std::string& schema) {
  auto& r = local_relays();
  std::lock_guard lk(r.mu);
  return std::any_of(r.active.begin(), r.active.end(),
                     [&](const auto& a) { return a.first == schema; });
}

void wake_local_relays(const Deferred& deferred) {
  if (deferred.outbox.empty() && deferred.wake.empty()) return;
  auto& r = local_relays();
  std::lock_guard lk(r.mu);
  for (const auto& relay : r.active) {
    const std::string& schema = relay.first;
    const bool wrote =
        std::any_of(deferred.outbox.begin(), deferred.outbox.end(),
                    [&schema](const auto& o) { return o.first == schema; }) ||
        std::find(deferred.wake.begin(), deferred.wake.end(), schema) != deferred.wake.end();
    if (!wrote) continue;
    const std::uint64_t one = 1;
    (void)::write(relay.second, &one, sizeof one);
  }
}

}  // namespace detail

std::string outbox_channel(const std::string& schema) {
  return schema + "_outbox";
}

namespace {

std::string headers_json(const OutboxMessage& msg) {
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
  return headers;
}

}  // namespace

core::Result<std::int64_t> enqueue(Tx& tx, const std::string& schema, const OutboxMessage& msg) {
  const std::string headers = headers_json(msg);
  const std::string insert = "INSERT INTO " + quote_ident(schema) +
                             ".outbox (event_id, topic, key, payload, headers) "
                             "VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id";
  if (detail::local_relay_active(schema)) {
    auto r = tx.exec(insert, msg.event_id, msg.topic, msg.key, msg.payload, headers);
    if (!r) return r.error();
    auto& wake = tx.deferred().wake;
    if (std::find(wake.begin(), wake.end(), schema) == wake.end()) wake.push_back(schema);
    return (*r)[0].get<std::int64_t>(0);
  }
  auto r = tx.exec("WITH ins AS (" + insert + ") SELECT id, pg_notify($6, '') FROM ins",
                   msg.event_id, msg.topic, msg.key, msg.payload, headers, outbox_channel(schema));
  if (!r) return r.error();
  return (*r)[0].get<std::int64_t>(0);
}

void enqueue_at_commit(Tx& tx, const std::string& schema, OutboxMessage msg) {
  tx.deferred().outbox.emplace_back(schema, std::move(msg));
}

namespace detail {

DeferredStatements deferred_statements(const Deferred& deferred) {
  DeferredStatements out;
  // One statement per schema, rows in the order they were queued (ids follow that order,
  // which keeps each key's events in order through the relay).
  std::vector<std::string> schemas;
  for (const auto& [schema, msg] : deferred.outbox) {
    if (std::find(schemas.begin(), schemas.end(), schema) == schemas.end()) {
      schemas.push_back(schema);
    }
  }
  for (const auto& schema : schemas) {
    std::string ids = "{", topics = "{", keys = "{", payloads = "{", headers = "{";
    for (const auto& [s, msg] : deferred.outbox) {
      if (s != schema) continue;
      append_array_element(ids, msg.event_id);
      append_array_element(topics, msg.topic);
      append_array_element(keys, msg.key);
      append_array_element(payloads, msg.payload);
      append_array_element(headers, headers_json(msg));
    }
    for (auto* a : {&ids, &topics, &keys, &payloads, &headers}) *a += '}';
    const std::string insert = "INSERT INTO " + quote_ident(schema) +
                               ".outbox (event_id, topic, key, payload, headers) "
                               "SELECT e, t, k, p, h FROM unnest($1::uuid[], $2::text[], "
                               "$3::text[], $4::text[], $5::jsonb[]) "
                               "WITH ORDINALITY AS u (e, t, k, p, h, n) ORDER BY n";
    if (local_relay_active(schema)) {  // woken after the COMMIT (wake_local_relays)
      out.push_back({insert, make_params(ids, topics, keys, payloads, headers)});
    } else {
      out.push_back({"WITH ins AS (" + insert +
                         " RETURNING id) SELECT pg_notify($6, '') FROM (SELECT 1 FROM ins LIMIT "
                         "1) one",
                     make_params(ids, topics, keys, payloads, headers, outbox_channel(schema))});
    }
  }
  // A batch's inbox claims: plain INSERTs, so a claim made meanwhile by another transaction
  // fails the commit instead of being applied twice.
  schemas.clear();
  for (const auto& c : deferred.inbox) {
    if (std::find(schemas.begin(), schemas.end(), c.schema) == schemas.end()) {
      schemas.push_back(c.schema);
    }
  }
  for (const auto& schema : schemas) {
    std::string consumers = "{", ids = "{";
    for (const auto& c : deferred.inbox) {
      if (c.schema != schema) continue;
      append_array_element(consumers, c.consumer);
      append_array_element(ids, c.event_id);
    }
    consumers += '}';
    ids += '}';
    out.push_back({"INSERT INTO " + quote_ident(schema) +
                       ".inbox (consumer, event_id) SELECT * FROM unnest($1::text[], $2::text[])",
                   make_params(consumers, ids)});
  }
  return out;
}

}  // namespace detail

core::Result<bool> inbox_claim(Tx& tx, const std::string& schema, const std::string& consumer,
                               const std::string& event_id) {
  if (Batch* batch = tx.batch(); batch != nullptr && batch->expects(event_id)) {
    return batch->claim(schema, consumer, event_id);
  }
  auto r = tx.exec("INSERT INTO " + quote_ident(schema) +
                       ".inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   consumer, event_id);
  if (!r) return r.error();
  return r->affected() == 1;
}

}  // namespace lia::pg
