#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/kafka/replay.hpp>

#include "rd_util.hpp"

namespace lia::kafka {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kWho = "dlq replay";
// Replayed records between two commits of the run's place.
constexpr std::size_t kCommitEvery = 100;

core::Error invalid(std::string what) {
  return core::Error(core::Errc::invalid_argument, fmt::format("{}: {}", kWho, what));
}

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

std::string header_or_empty(const Message& m, const std::string& name) {
  const std::string* v = m.header(name);
  return v != nullptr ? *v : std::string{};
}

DeadLetterInfo describe(const Message& m) {
  DeadLetterInfo d;
  d.partition = m.partition;
  d.offset = m.offset;
  d.origin_topic = header_or_empty(m, "lia.dlq.origin.topic");
  d.origin_partition = header_or_empty(m, "lia.dlq.origin.partition");
  d.origin_offset = header_or_empty(m, "lia.dlq.origin.offset");
  d.error = header_or_empty(m, "lia.dlq.error");
  d.retryable = header_or_empty(m, "lia.dlq.retryable");
  d.attempts = header_or_empty(m, "lia.dlq.attempts");
  d.at = header_or_empty(m, "lia.dlq.at");
  d.event_type = header_or_empty(m, "lia.event_type");
  d.event_id = header_or_empty(m, "lia.event_id");
  d.value_at_origin = header_or_empty(m, DeadLetter::kValueAtOrigin);
  return d;
}

// One partition's share of the run: [next, end) is what it still has to read.
struct Span {
  std::int64_t next = 0;
  std::int64_t end = 0;
  std::int64_t committed_next = -1;  // to commit: one past the last record replayed
};

class Run {
 public:
  Run(const ReplayOptions& o, const std::function<void(const DeadLetterInfo&)>& each)
      : o_(o), each_(each), deadline_(Clock::now() + o.timeout) {}

  core::Result<ReplayReport> go() {
    auto origin = DeadLetter::origin_of(o_.dlq_topic);
    if (!origin) {
      return invalid(fmt::format("'{}' is not a dead-letter topic (<topic>.dlq)", o_.dlq_topic));
    }
    origin_ = std::move(*origin);
    if (auto st = open(); !st) return st.error();
    if (auto st = plan(); !st) return st.error();
    for (const auto& [p, span] : spans_) {
      total_ += static_cast<std::size_t>(span.end - span.next);
    }
    if (total_ > 0) {
      if (!o_.list_only) {
        ProducerConfig pc;
        pc.bootstrap = o_.bootstrap;
        pc.client_id = "lia-dlq-replay";
        pc.properties = o_.properties;
        auto producer = Producer::create(pc);
        if (!producer) return producer.error();
        producer_ = std::move(producer).value();
      }
      if (auto st = assign(); !st) return st.error();
      auto read = read_all();
      if (!o_.list_only) {
        if (auto st = commit(); !st) return with_progress(st.error());
      }
      if (!read) return with_progress(read.error());
    }
    report_.left = total_ - report_.seen;
    return report_;
  }

 private:
  core::Error with_progress(const core::Error& e) const {
    return core::Error(e.code(),
                       fmt::format("{} ({} of {} replayed and committed before it)", e.message(),
                                   report_.replayed, total_),
                       e.retryable());
  }

  core::Status open() {
    auto rk = open_handle(
        {{"group.id", "lia-replay." + o_.dlq_topic}, {"auto.offset.reset", "earliest"}});
    if (!rk) return rk.error();
    rk_ = std::move(rk).value();
    return core::ok();
  }

  // A consumer that is assigned its partitions (never subscribes, never commits unless told).
  core::Result<HandlePtr> open_handle(
      const std::vector<std::pair<std::string, std::string>>& own) const {
    detail::ConfPtr conf(rd_kafka_conf_new());
    std::vector<std::pair<std::string, std::string>> base = {
        {"bootstrap.servers", o_.bootstrap}, {"client.id", "lia-dlq-replay"},
        {"enable.auto.commit", "false"},     {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
    };
    base.insert(base.end(), own.begin(), own.end());
    for (const auto& [name, value] : base) {
      if (auto s = detail::set(conf.get(), kWho, name, value); !s) return s.error();
    }
    for (const auto& [name, value] : o_.properties) {
      if (auto s = detail::set(conf.get(), kWho, name, value); !s) return s.error();
    }
    detail::route_logs(conf.get());
    std::array<char, 512> err{};
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err.data(), err.size());
    if (rk == nullptr) return invalid(err.data());
    (void)conf.release();  // rd_kafka_new took it
    rd_kafka_poll_set_consumer(rk);
    return HandlePtr(rk);
  }

  // Which partitions have what to read: from the group's committed offset (or the oldest
  // retained record) to the end as it is now.
  core::Status plan() {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), o_.dlq_topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    auto err = rd_kafka_metadata(rk_.get(), 0, rkt, &md, remaining_ms(deadline_));
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return detail::classify(err, "dlq replay: metadata");
    std::vector<std::int32_t> partitions;
    rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (o_.dlq_topic != md->topics[i].topic) continue;
      topic_err = md->topics[i].err;
      for (int k = 0; k < md->topics[i].partition_cnt; ++k) {
        partitions.push_back(md->topics[i].partitions[k].id);
      }
    }
    rd_kafka_metadata_destroy(md);
    if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR || partitions.empty()) {
      return invalid(fmt::format("no topic '{}' on the cluster ({})", o_.dlq_topic,
                                 rd_kafka_err2str(topic_err)));
    }
    detail::PartitionListPtr list(
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
    for (auto p : partitions)
      rd_kafka_topic_partition_list_add(list.get(), o_.dlq_topic.c_str(), p);
    err = rd_kafka_committed(rk_.get(), list.get(), remaining_ms(deadline_));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return detail::classify(err, "dlq replay: committed offsets");
    }
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      // One partition's committed offset not read would start it at the oldest record, and
      // replay again what was replayed before.
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return detail::classify(
            e.err, fmt::format("dlq replay: committed offset of partition {}", e.partition));
      }
      std::int64_t low = 0;
      std::int64_t high = 0;
      err = rd_kafka_query_watermark_offsets(rk_.get(), o_.dlq_topic.c_str(), e.partition, &low,
                                             &high, remaining_ms(deadline_));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return detail::classify(err, "dlq replay: watermark offsets");
      }
      // A committed offset below the oldest retained record: those are gone (retention).
      const std::int64_t from = e.offset >= 0 ? std::max(e.offset, low) : low;
      if (from < high) spans_[e.partition] = Span{from, high, -1};
    }
    return core::ok();
  }

  core::Status assign() {
    detail::PartitionListPtr list(
        rd_kafka_topic_partition_list_new(static_cast<int>(spans_.size())));
    for (const auto& [p, span] : spans_) {
      rd_kafka_topic_partition_list_add(list.get(), o_.dlq_topic.c_str(), p)->offset = span.next;
    }
    if (auto err = rd_kafka_assign(rk_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return detail::classify(err, "dlq replay: assign");
    }
    return core::ok();
  }

  bool done() const {
    if (report_.seen >= o_.max) return true;
    for (const auto& [p, span] : spans_) {
      if (span.next < span.end) return false;
    }
    return true;
  }

  core::Status read_all() {
    while (!done()) {
      if (remaining_ms(deadline_) == 0) {
        return core::Error(core::Errc::timeout,
                           fmt::format("{}: timed out reading {}", kWho, o_.dlq_topic), true);
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 200);
      if (m == nullptr) continue;
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> hold(
          m, rd_kafka_message_destroy);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const auto e = detail::classify(m->err, "dlq replay: fetch", rk_.get());
        if (!e.retryable()) return e;
        core::log().warn("dlq replay: fetch", {core::f::str("error", e.describe())});
        continue;
      }
      auto it = spans_.find(m->partition);
      if (it == spans_.end() || m->offset < it->second.next || m->offset >= it->second.end) {
        continue;  // came after the run started, or was read already
      }
      const Message msg = detail::to_message(m);
      const DeadLetterInfo info = describe(msg);
      ++report_.seen;
      if (each_) each_(info);
      if (!o_.list_only) {
        if (auto st = replay(msg, info); !st) return st;
        it->second.committed_next = msg.offset + 1;
        ++report_.replayed;
        // Committed as it goes, so a run stopped midway (Ctrl-C, an evicted pod) leaves the
        // next one only what it had not replayed yet.
        if (report_.replayed % kCommitEvery == 0) {
          if (auto st = commit(); !st) return st;
        }
      }
      it->second.next = msg.offset + 1;
    }
    return core::ok();
  }

  core::Status replay(const Message& msg, const DeadLetterInfo& info) {
    if (info.origin_topic != origin_) {
      return invalid(fmt::format(
          "the dead letter at partition {} offset {} names {} as its origin, not {}: not "
          "replayed, and nothing after it",
          msg.partition, msg.offset,
          info.origin_topic.empty() ? "no topic" : "'" + info.origin_topic + "'", origin_));
    }
    Record r;
    r.topic = origin_;
    // A slim dead letter's record as it was at its origin (no header added), for when the
    // headers below make it too large again.
    std::optional<Record> plain;
    if (msg.header(DeadLetter::kValueAtOrigin) != nullptr) {
      // Dead-lettered slim (too large with its headers): the record itself is read back from
      // where it failed, and it goes back with only the lia.dlq.origin.* headers added, which
      // tell a consumer it is a replay (notification sends a replayed command again).
      auto original = read_origin(msg, info);
      if (!original) return original.error();
      r.key = std::move(original->key);
      r.value = std::move(original->value);
      r.headers = std::move(original->headers);
      std::erase_if(r.headers, [](const Header& h) { return h.key.rfind("lia.dlq.", 0) == 0; });
      plain = r;
      for (const char* name :
           {"lia.dlq.origin.topic", "lia.dlq.origin.partition", "lia.dlq.origin.offset"}) {
        r.headers.push_back({name, *msg.header(name)});
      }
    } else {
      r.key = msg.key;
      r.value = msg.value;
      // The lia.dlq.* headers stay: a consumer may treat a replayed record differently (the
      // notification service sends a replayed command again), and a new dead-lettering
      // replaces them.
      r.headers = msg.headers;
    }
    r.headers.push_back(
        {"lia.replayed_from", fmt::format("{}/{}/{}", o_.dlq_topic, msg.partition, msg.offset)});
    auto delivered = producer_->produce(std::move(r)).get();
    if (!delivered.ok() && delivered.error().code() == core::Errc::too_large && plain) {
      // Within a few hundred bytes of the limit: it goes back as it was at its origin, which
      // took it (a consumer then sees a record like any other: notification treats a command
      // it already failed as one it has seen, not as a replay).
      core::log().warn(
          "dlq replay: a record kept without its value goes back without the "
          "replay's headers, too large with them",
          {core::f::id("dlq", o_.dlq_topic), core::f::num("partition", msg.partition),
           core::f::num("offset", msg.offset)});
      delivered = producer_->produce(std::move(*plain)).get();
    }
    if (!delivered.ok()) {
      const auto& e = delivered.error();
      return core::Error(e.code(),
                         fmt::format("{}: the dead letter at partition {} offset {} was not "
                                     "re-published: {}",
                                     kWho, msg.partition, msg.offset, e.message()),
                         e.retryable());
    }
    return core::ok();
  }

  // The record a slim dead letter stands for, from its origin's partition and offset: it must
  // still be there (retention, compaction) and be the same record (key, event id).
  core::Result<Message> read_origin(const Message& msg, const DeadLetterInfo& info) {
    const auto where = fmt::format(
        "the dead letter at partition {} offset {} (kept without its "
        "value) points at {} partition {} offset {}",
        msg.partition, msg.offset, info.origin_topic, info.origin_partition, info.origin_offset);
    const auto refused = [&](std::string_view why) {
      return invalid(fmt::format("{}, {}: not replayed, and nothing after it", where, why));
    };
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    if (!whole(info.origin_partition, partition) || !whole(info.origin_offset, offset)) {
      return refused("which is no partition and offset");
    }
    if (!origin_rk_) {
      // No place of its own: auto.offset.reset=error reports an offset gone by retention.
      auto rk = open_handle(
          {{"group.id", "lia-replay." + o_.dlq_topic + ".origin"}, {"auto.offset.reset", "error"}});
      if (!rk) return rk.error();
      origin_rk_ = std::move(rk).value();
    }
    rd_kafka_t* rk = origin_rk_.get();
    detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), origin_.c_str(), partition)->offset = offset;
    if (auto err = rd_kafka_assign(rk, list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return detail::classify(err, "dlq replay: assign the origin");
    }
    struct Unassign {
      rd_kafka_t* rk;
      ~Unassign() { rd_kafka_assign(rk, nullptr); }
    } unassign{rk};
    while (remaining_ms(deadline_) > 0) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
      if (m == nullptr) continue;
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> hold(
          m, rd_kafka_message_destroy);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
          m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
          m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        return refused("which is not there any more (retention)");
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const auto e = detail::classify(m->err, "dlq replay: fetch the origin", rk);
        if (!e.retryable()) return e;
        core::log().warn("dlq replay: fetch the origin", {core::f::str("error", e.describe())});
        continue;
      }
      if (m->offset < offset) continue;
      Message original = detail::to_message(m);
      const std::string* id = original.header("lia.event_id");
      if (original.offset != offset || original.key != msg.key ||
          (!info.event_id.empty() && (id == nullptr || *id != info.event_id))) {
        return refused("where another record is now (compaction, or the topic was recreated)");
      }
      return original;
    }
    return core::Error(core::Errc::timeout,
                       fmt::format("{}: timed out reading {} partition {} offset {}", kWho, origin_,
                                   partition, offset),
                       true);
  }

  template <typename T>
  static bool whole(const std::string& text, T& out) {
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc{} && ptr == end && !text.empty() && out >= 0;
  }

  core::Status commit() {
    detail::PartitionListPtr list(
        rd_kafka_topic_partition_list_new(static_cast<int>(spans_.size())));
    for (const auto& [p, span] : spans_) {
      if (span.committed_next < 0) continue;
      rd_kafka_topic_partition_list_add(list.get(), o_.dlq_topic.c_str(), p)->offset =
          span.committed_next;
    }
    if (list->cnt == 0) return core::ok();
    auto err = rd_kafka_commit(rk_.get(), list.get(), 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt && err == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
        err = list->elems[i].err;
      }
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      auto e = detail::classify(err, "dlq replay: commit");
      return core::Error(e.code(),
                         e.message() +
                             "; the records replayed since the last commit will be "
                             "replayed again next time (consumers drop them by id)",
                         e.retryable());
    }
    return core::ok();
  }

  const ReplayOptions& o_;
  const std::function<void(const DeadLetterInfo&)>& each_;
  const Clock::time_point deadline_;
  std::string origin_;
  HandlePtr rk_;
  HandlePtr origin_rk_;  // reads the origin of slim dead letters, made when one comes
  std::unique_ptr<Producer> producer_;
  std::map<std::int32_t, Span> spans_;
  std::size_t total_ = 0;
  ReplayReport report_;
};

}  // namespace

core::Result<ReplayReport> replay_dead_letters(
    const ReplayOptions& options, const std::function<void(const DeadLetterInfo&)>& each) {
  Run run(options, each);
  return run.go();
}

}  // namespace lia::kafka
