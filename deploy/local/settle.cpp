#include "settle.hpp"

#include <array>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <lia/events/topic_catalog.hpp>
#include <lia/json/json.hpp>
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

using Partition = std::pair<std::string, std::int32_t>;
using Offsets = std::map<Partition, std::int64_t>;

// A consumer handle of `group` that never joins it: it only reads the group's committed
// offsets (OffsetFetch needs no membership), the partitions and their ends.
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

core::Error kafka_error(const std::string& what, rd_kafka_resp_err_t err) {
  return core::Error(core::Errc::unavailable, fmt::format("{}: {}", what, rd_kafka_err2str(err)));
}

}  // namespace

struct InFlight::Impl {
  Stack& stack;
  const EventTap& tap;
  std::map<std::string, Handle> handles;                  // group -> its handle
  std::map<std::string, std::set<std::string>> consumed;  // group -> topics
  std::shared_ptr<pg::Pool> pool;

  Impl(Stack& s, const EventTap& t) : stack(s), tap(t) {}

  core::Result<rd_kafka_t*> handle(const std::string& group) {
    auto it = handles.find(group);
    if (it == handles.end()) {
      auto h = handle_of(stack.kafka_bootstrap(), group);
      if (!h) return h.error();
      it = handles.emplace(group, std::move(*h)).first;
    }
    return it->second.get();
  }

  // Every (group, topic) a service's consumers report in /metrics; a service that does not
  // answer (restarting) is itself in flight.
  void find_groups(std::vector<std::string>& out) {
    static const std::regex line(R"(^lia_kafka_consumer_lag\{([^}]*)\})");
    static const std::regex label(R"re((\w+)="([^"]*)")re");
    for (const auto& service : service_names()) {
      auto r = stack.call(service, "GET", "/metrics");
      if (!r || r->status != 200) {
        out.push_back(service + ": /metrics did not answer");
        continue;
      }
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

  // The partitions of the catalog's topics (the tap reads them all) and of every consumed one,
  // as the broker has them.
  core::Result<std::vector<Partition>> partitions() {
    std::set<std::string> topics;
    for (const auto& t : events::TopicCatalog::instance().topics()) topics.insert(t.name);
    for (const auto& [group, ts] : consumed) topics.insert(ts.begin(), ts.end());
    auto rk = handle("lia-in-flight");
    if (!rk) return rk.error();
    const rd_kafka_metadata_t* md = nullptr;
    if (auto err = rd_kafka_metadata(*rk, 1, nullptr, &md, kTimeoutMs);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return kafka_error("metadata", err);
    }
    std::vector<Partition> out;
    std::set<std::string> found;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      if (topics.count(t.topic) == 0 || t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      found.insert(t.topic);
      for (int p = 0; p < t.partition_cnt; ++p) out.emplace_back(t.topic, t.partitions[p].id);
    }
    rd_kafka_metadata_destroy(md);
    for (const auto& t : topics) {
      if (found.count(t) == 0)
        return core::Error(core::Errc::unavailable, "no topic " + t + " on the broker yet");
    }
    return out;
  }

  // Each partition's end (`which` RD_KAFKA_OFFSET_END) or start (RD_KAFKA_OFFSET_BEGINNING),
  // all in one request.
  core::Result<Offsets> ends(const std::vector<Partition>& parts, std::int64_t which) {
    auto rk = handle("lia-in-flight");
    if (!rk) return rk.error();
    List list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
    for (const auto& [topic, p] : parts)
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = which;
    if (auto err = rd_kafka_offsets_for_times(*rk, list.get(), kTimeoutMs);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return kafka_error("list offsets", err);
    }
    Offsets out;
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR || e.offset < 0)
        return kafka_error(fmt::format("offsets of {}[{}]", e.topic, e.partition), e.err);
      out[{e.topic, e.partition}] = e.offset;
    }
    return out;
  }

  core::Status uncommitted(const Offsets& high, const Offsets& low, std::vector<std::string>& out) {
    for (const auto& [group, topics] : consumed) {
      auto rk = handle(group);
      if (!rk) return rk.error();
      List list(rd_kafka_topic_partition_list_new(0));
      for (const auto& [tp, end] : high) {
        if (topics.count(tp.first) > 0)
          rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second);
      }
      if (auto err = rd_kafka_committed(*rk, list.get(), kTimeoutMs);
          err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return kafka_error("committed offsets of " + group, err);
      }
      std::map<std::string, std::int64_t> behind;
      for (int i = 0; i < list->cnt; ++i) {
        const auto& e = list->elems[i];
        const Partition tp{e.topic, e.partition};
        // A partition the group never committed on is read from its oldest record.
        const std::int64_t next = e.offset >= 0 ? e.offset : low.at(tp);
        if (next < high.at(tp)) behind[e.topic] += high.at(tp) - next;
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

  void unseen(const Offsets& high, const Offsets& low, std::vector<std::string>& out) const {
    Offsets seen_next;
    for (const auto& s : tap.snapshot()) {
      auto& next = seen_next[{s.topic, s.partition}];
      next = std::max(next, s.offset + 1);
    }
    std::map<std::string, std::int64_t> missing;
    for (const auto& [tp, end] : high) {
      if (events::TopicCatalog::instance().find(tp.first) == nullptr) continue;  // not tapped
      const auto it = seen_next.find(tp);
      const std::int64_t next = it == seen_next.end() ? low.at(tp) : it->second;
      if (next < end) missing[tp.first] += end - next;
    }
    for (const auto& [topic, n] : missing)
      out.push_back(fmt::format("the tap: {} records of {} not seen", n, topic));
  }

  // The sandbox's delivery ticks still queued to be posted to ingestion.
  void sandbox_ticks(std::vector<std::string>& out) {
    auto r = stack.call("sandbox", "GET", "/sandbox/sends?to=nobody");
    if (!r || r->status != 200) {
      out.push_back("the provider sandbox did not answer");
      return;
    }
    auto doc = json::parse(r->body);
    if (!doc || !doc->IsObject() || !doc->HasMember("counts") || !(*doc)["counts"].IsObject()) {
      out.push_back("the provider sandbox's counts are unreadable");
      return;
    }
    const auto& counts = (*doc)["counts"];
    if (counts.HasMember("webhooks_pending") && counts["webhooks_pending"].IsUint64()) {
      if (const auto n = counts["webhooks_pending"].GetUint64(); n > 0)
        out.push_back(fmt::format("the provider sandbox: {} ticks not posted", n));
    } else {
      out.push_back("the provider sandbox reports no webhooks_pending");
    }
  }

  // One look at everything. Every partition's end is read before and after it: a record
  // produced meanwhile (by a relay, a handler, the sandbox's tick) makes the look not quiet,
  // so a quiet one is a moment when nothing was in flight anywhere. `ends_out` gets the ends.
  core::Result<std::vector<std::string>> look(Offsets& ends_out) {
    std::vector<std::string> out;
    find_groups(out);
    // None found would make every wait pass at once: the metric's name or labels changed.
    if (consumed.empty()) {
      return core::Error(core::Errc::internal,
                         "no consumer group in the services' /metrics (lia_kafka_consumer_lag)");
    }
    auto parts = partitions();
    if (!parts) return parts.error();
    auto high = ends(*parts, RD_KAFKA_OFFSET_END);
    if (!high) return high.error();
    auto low = ends(*parts, RD_KAFKA_OFFSET_BEGINNING);
    if (!low) return low.error();
    if (auto st = uncommitted(*high, *low, out); !st) return st.error();
    if (auto st = unpublished(out); !st) return st.error();
    unseen(*high, *low, out);
    sandbox_ticks(out);
    auto after = ends(*parts, RD_KAFKA_OFFSET_END);
    if (!after) return after.error();
    if (*after != *high) out.emplace_back("records were produced while looking");
    ends_out = std::move(*after);
    return out;
  }
};

InFlight::InFlight(Stack& stack, const EventTap& tap) : impl_(std::make_unique<Impl>(stack, tap)) {}

InFlight::~InFlight() = default;

core::Result<std::vector<std::string>> InFlight::now() {
  Offsets ends;
  return impl_->look(ends);
}

core::Result<std::vector<std::string>> InFlight::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int quiet = 0;
  Offsets quiet_ends;  // the partitions' ends at the last quiet look
  while (true) {
    Offsets ends;
    auto pending = impl_->look(ends);
    if (!pending && pending.error().code() == core::Errc::internal) return pending.error();
    // A broker or database that does not answer for a moment (a service restarting) is
    // something in flight, not the end of the wait.
    std::vector<std::string> lines =
        pending ? std::move(*pending)
                : std::vector<std::string>{"cannot look: " + pending.error().describe()};
    if (!lines.empty()) {
      quiet = 0;
    } else if (quiet > 0 && ends != quiet_ends) {
      quiet = 1;  // quiet again, but something was produced in between
    } else {
      ++quiet;
    }
    if (lines.empty()) quiet_ends = std::move(ends);
    if (quiet == 2) return std::vector<std::string>{};
    if (std::chrono::steady_clock::now() >= deadline) {
      if (lines.empty()) lines.emplace_back("quiet at one look only, not at two in a row");
      return lines;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
}

}  // namespace lia::local
