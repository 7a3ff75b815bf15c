#include "settle.hpp"

#include <array>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <lia/events/topic_catalog.hpp>
#include <lia/pg/pool.hpp>

#include "stack.hpp"
#include "tap.hpp"

namespace lia::local {
namespace {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using List = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

constexpr int kTimeoutMs = 5000;

// A consumer handle of `group` that never joins it: it only reads the group's committed
// offsets and the partitions' watermarks.
core::Result<Handle> handle_of(const std::string& bootstrap, const std::string& group) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> err{};
  for (const auto& [k, v] : std::map<std::string, std::string>{{"bootstrap.servers", bootstrap},
                                                               {"group.id", group},
                                                               {"enable.auto.commit", "false"},
                                                               {"client.id", "lia-in-flight"}}) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err.data(), err.size()) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return core::Error(core::Errc::invalid_argument, err.data());
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return core::Error(core::Errc::internal, err.data());
  }
  return Handle(rk);
}

const events::Topic& topic_named(const std::string& name) {
  const auto* t = events::TopicCatalog::instance().find(name);
  if (t == nullptr) throw std::runtime_error("no topic " + name + " in the catalog");
  return *t;
}

}  // namespace

struct InFlight::Impl {
  Stack& stack;
  const EventTap& tap;
  std::map<std::string, Handle> groups;  // group -> its handle ("" for watermarks alone)
  std::map<std::string, std::set<std::string>> consumed;  // group -> topics
  std::shared_ptr<pg::Pool> pool;

  Impl(Stack& s, const EventTap& t) : stack(s), tap(t) {}

  core::Result<rd_kafka_t*> handle(const std::string& group) {
    auto it = groups.find(group);
    if (it == groups.end()) {
      auto h = handle_of(stack.kafka_bootstrap(),
                         group.empty() ? std::string("lia-in-flight-watermarks") : group);
      if (!h) return h.error();
      it = groups.emplace(group, std::move(*h)).first;
    }
    return it->second.get();
  }

  // Every (group, topic) a service's consumers report in /metrics.
  void find_groups() {
    static const std::regex line(R"(^lia_kafka_consumer_lag\{([^}]*)\})");
    static const std::regex label(R"re((\w+)="([^"]*)")re");
    for (const auto& service : service_names()) {
      auto r = stack.call(service, "GET", "/metrics");
      if (!r || r->status != 200) continue;  // restarting: its groups are known or come later
      std::size_t start = 0;
      while (start < r->body.size()) {
        auto end = r->body.find('\n', start);
        if (end == std::string::npos) end = r->body.size();
        const std::string text = r->body.substr(start, end - start);
        start = end + 1;
        std::smatch m;
        if (!std::regex_search(text, m, line)) continue;
        const std::string labels = m[1].str();
        std::string group;
        std::string topic;
        for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label);
             it != std::sregex_iterator(); ++it) {
          if ((*it)[1] == "group") group = (*it)[2];
          if ((*it)[1] == "topic") topic = (*it)[2];
        }
        if (!group.empty() && !topic.empty()) consumed[group].insert(topic);
      }
    }
  }

  core::Status watermarks(const std::string& topic, std::int32_t partition, std::int64_t& low,
                          std::int64_t& high) {
    auto rk = handle("");
    if (!rk) return rk.error();
    const auto err =
        rd_kafka_query_watermark_offsets(*rk, topic.c_str(), partition, &low, &high, kTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return core::Error(core::Errc::unavailable, fmt::format("watermarks of {}[{}]: {}", topic,
                                                              partition, rd_kafka_err2str(err)));
    }
    return core::ok();
  }

  core::Status uncommitted(std::vector<std::string>& out) {
    for (const auto& [group, topics] : consumed) {
      auto rk = handle(group);
      if (!rk) return rk.error();
      List list(rd_kafka_topic_partition_list_new(0));
      for (const auto& topic : topics) {
        for (int p = 0; p < topic_named(topic).partitions; ++p)
          rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
      }
      const auto err = rd_kafka_committed(*rk, list.get(), kTimeoutMs);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return core::Error(core::Errc::unavailable, fmt::format("committed offsets of {}: {}",
                                                                group, rd_kafka_err2str(err)));
      }
      std::map<std::string, std::int64_t> behind;
      for (int i = 0; i < list->cnt; ++i) {
        const auto& e = list->elems[i];
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (auto st = watermarks(e.topic, e.partition, low, high); !st) return st;
        // A partition the group never committed on is read from its oldest record.
        const std::int64_t next = e.offset >= 0 ? e.offset : low;
        if (next < high) behind[e.topic] += high - next;
      }
      for (const auto& [topic, n] : behind)
        out.push_back(fmt::format("{}: {} records of {} not committed", group, n, topic));
    }
    return core::ok();
  }

  core::Status unpublished(std::vector<std::string>& out) {
    if (!pool) {
      pg::PoolConfig pc;
      pc.url = stack.pg_url();
      pc.size = 1;
      pc.application_name = "lia-in-flight";
      auto p = pg::Pool::create(pc);
      if (!p) return p.error();
      pool = *p;
    }
    auto schemas = pool->exec(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' ORDER BY "
        "1");
    if (!schemas) return schemas.error();
    for (const auto& row : *schemas) {
      const auto schema = row.get<std::string>(0);
      auto n = pool->exec("SELECT count(*) FROM \"" + schema +
                          "\".outbox WHERE published_at IS NULL AND failed_at IS NULL");
      if (!n) return n.error();
      if (const auto c = (*n)[0].get<std::int64_t>(0); c > 0)
        out.push_back(fmt::format("{}.outbox: {} events not published", schema, c));
    }
    return core::ok();
  }

  core::Status unseen(std::vector<std::string>& out) {
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> seen_next;
    for (const auto& s : tap.snapshot()) {
      auto& next = seen_next[{s.topic, s.partition}];
      next = std::max(next, s.offset + 1);
    }
    for (const auto& topic : events::TopicCatalog::instance().topics()) {
      std::int64_t missing = 0;
      for (std::int32_t p = 0; p < topic.partitions; ++p) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (auto st = watermarks(topic.name, p, low, high); !st) return st;
        const auto it = seen_next.find({topic.name, p});
        const std::int64_t next = it == seen_next.end() ? low : it->second;
        if (next < high) missing += high - next;
      }
      if (missing > 0)
        out.push_back(fmt::format("the tap: {} records of {} not seen", missing, topic.name));
    }
    return core::ok();
  }
};

InFlight::InFlight(Stack& stack, const EventTap& tap) : impl_(std::make_unique<Impl>(stack, tap)) {}

InFlight::~InFlight() = default;

core::Result<std::vector<std::string>> InFlight::now() {
  impl_->find_groups();
  // None found would make every wait pass at once: the metric's name or labels changed.
  if (impl_->consumed.empty()) {
    return core::Error(core::Errc::internal,
                       "no consumer group in the services' /metrics (lia_kafka_consumer_lag)");
  }
  std::vector<std::string> out;
  if (auto st = impl_->uncommitted(out); !st) return st.error();
  if (auto st = impl_->unpublished(out); !st) return st.error();
  if (auto st = impl_->unseen(out); !st) return st.error();
  return out;
}

core::Result<std::vector<std::string>> InFlight::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int quiet = 0;
  while (true) {
    auto pending = now();
    if (!pending) return pending.error();
    quiet = pending->empty() ? quiet + 1 : 0;
    if (quiet == 2 || std::chrono::steady_clock::now() >= deadline) return pending;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
}

}  // namespace lia::local
