#include <algorithm>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include <lia/events/embedded.hpp>
#include <lia/events/topic_catalog.hpp>
#include <lia/json/json.hpp>

namespace lia::events {

namespace {

core::Error invalid(const std::string& what) {
  return core::Error(core::Errc::invalid_argument, "topic catalog: " + what);
}

core::Result<std::vector<std::string>> strings(const json::Obj& o, std::string_view key) {
  auto a = o.arr(key);
  if (!a) return a.error();
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a->size(); ++i) {
    auto s = a->str(i);
    if (!s) return s.error();
    if (s->empty()) {
      return core::Error(core::Errc::invalid_argument,
                         fmt::format("field '{}' must not be empty", a->element_path(i)));
    }
    out.emplace_back(*s);
  }
  return out;
}

core::Error bad(std::string what) {
  return core::Error(core::Errc::invalid_argument, std::move(what));
}

// Errors come back without the "topic catalog: " prefix; parse() adds it.
core::Result<Topic> parse_topic(const json::Obj& o) {
  Topic t;
  auto name = o.nonempty_str("name");
  if (!name) return name.error();
  t.name = std::string(*name);
  auto description = o.opt_str("description");
  if (!description) return description.error();
  t.description = std::string(description->value_or(""));
  auto key = o.nonempty_str("key");
  if (!key) return key.error();
  t.key = std::string(*key);

  auto partitions = o.i64("partitions");
  if (!partitions) return partitions.error();
  if (*partitions < 1 || *partitions > 10000) {
    return bad(fmt::format("field '{}' must be between 1 and 10000, got {}",
                           o.field_path("partitions"), *partitions));
  }
  t.partitions = static_cast<int>(*partitions);

  auto cleanup = o.str("cleanup");
  if (!cleanup) return cleanup.error();
  auto retention = o.opt_i64("retention_ms");
  if (!retention) return retention.error();
  if (*cleanup == "delete") {
    t.cleanup = Cleanup::remove;
    if (!*retention || **retention <= 0) {
      return bad(
          fmt::format("field '{}' must be a positive number of milliseconds for "
                      "cleanup 'delete'",
                      o.field_path("retention_ms")));
    }
    t.retention_ms = **retention;
  } else if (*cleanup == "compact") {
    t.cleanup = Cleanup::compact;
    if (*retention) {
      return bad(fmt::format("field '{}' must be absent for cleanup 'compact'",
                             o.field_path("retention_ms")));
    }
    t.retention_ms = -1;
  } else {
    return bad(fmt::format("field '{}' must be 'delete' or 'compact', got '{}'",
                           o.field_path("cleanup"), *cleanup));
  }

  auto producers = strings(o, "producers");
  if (!producers) return producers.error();
  t.producers = std::move(*producers);
  auto consumers = strings(o, "consumers");
  if (!consumers) return consumers.error();
  t.consumers = std::move(*consumers);
  auto types = strings(o, "event_types");
  if (!types) return types.error();
  t.event_types = std::move(*types);
  if (t.event_types.empty()) {
    return bad(
        fmt::format("field '{}' must list at least one event type", o.field_path("event_types")));
  }

  auto dlq = o.opt_str("dlq");
  if (!dlq) return dlq.error();
  t.dlq = std::string(dlq->value_or(""));
  auto of = o.opt_str("dead_letter_of");
  if (!of) return of.error();
  t.dead_letter_of = std::string(of->value_or(""));
  if (t.dlq.empty() == t.dead_letter_of.empty()) {
    return bad(
        fmt::format("topic '{}' must have exactly one of 'dlq' (its dead-letter "
                    "topic) or 'dead_letter_of' (it is one)",
                    t.name));
  }
  return t;
}

}  // namespace

std::string_view to_string(Cleanup c) {
  return c == Cleanup::compact ? "compact" : "delete";
}

bool Topic::carries(std::string_view event_type) const {
  return std::find(event_types.begin(), event_types.end(), event_type) != event_types.end();
}

core::Result<TopicCatalog> TopicCatalog::parse(std::string_view text) {
  auto doc = json::parse(text);
  if (!doc) return invalid(doc.error().message());
  auto root = json::Obj::root(*doc);
  if (!root) return invalid(root.error().message());

  TopicCatalog c;
  auto defaults = root->opt_obj("defaults");
  if (!defaults) return invalid(defaults.error().message());
  if (*defaults) {
    auto rf = (*defaults)->opt_i64("replication_factor");
    if (!rf) return invalid(rf.error().message());
    auto isr = (*defaults)->opt_i64("min_insync_replicas");
    if (!isr) return invalid(isr.error().message());
    c.replication_factor_ = static_cast<int>(rf->value_or(1));
    c.min_insync_replicas_ = static_cast<int>(isr->value_or(1));
    if (c.replication_factor_ < 1 || c.min_insync_replicas_ < 1 ||
        c.min_insync_replicas_ > c.replication_factor_) {
      return invalid("defaults: need 1 <= min_insync_replicas <= replication_factor");
    }
  }

  auto keys = root->obj("keys");
  if (!keys) return invalid(keys.error().message());
  for (const auto& m : keys->value().GetObject()) {
    auto d = keys->str(json::view(m.name));
    if (!d) return invalid(d.error().message());
    c.keys_.emplace(std::string(json::view(m.name)), std::string(*d));
  }

  auto topics = root->arr("topics");
  if (!topics) return invalid(topics.error().message());
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < topics->size(); ++i) {
    auto o = topics->obj(i);
    if (!o) return invalid(o.error().message());
    auto t = parse_topic(*o);
    if (!t) return invalid(t.error().message());
    if (!names.insert(t->name).second) {
      return invalid(fmt::format("topic '{}' is listed twice", t->name));
    }
    if (!c.keys_.contains(t->key)) {
      return invalid(
          fmt::format("topic '{}': key '{}' is not described in 'keys'", t->name, t->key));
    }
    c.topics_.push_back(std::move(*t));
  }
  if (c.topics_.empty()) return invalid("field 'topics' must list at least one topic");

  for (const auto& t : c.topics_) {
    if (t.is_dlq()) {
      const Topic* origin = c.find(t.dead_letter_of);
      if (origin == nullptr || origin->dlq != t.name) {
        return invalid(fmt::format("dead-letter topic '{}' names '{}', whose dlq is not '{}'",
                                   t.name, t.dead_letter_of, t.name));
      }
    } else {
      const Topic* dlq = c.find(t.dlq);
      if (dlq == nullptr || dlq->dead_letter_of != t.name) {
        return invalid(
            fmt::format("topic '{}': its dlq '{}' is not a topic with "
                        "dead_letter_of '{}'",
                        t.name, t.dlq, t.name));
      }
    }
  }
  return c;
}

const TopicCatalog& TopicCatalog::instance() {
  static const TopicCatalog catalog = [] {
    auto text = embedded_file("catalog.json");
    if (!text) throw std::runtime_error("topic catalog: catalog.json is not embedded");
    auto parsed = parse(*text);
    if (!parsed) throw std::runtime_error(parsed.error().message());
    return std::move(parsed).value();
  }();
  return catalog;
}

const Topic* TopicCatalog::find(std::string_view name) const {
  for (const auto& t : topics_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Topic* TopicCatalog::topic_for_type(std::string_view event_type) const {
  for (const auto& t : topics_) {
    if (!t.is_dlq() && t.carries(event_type)) return &t;
  }
  return nullptr;
}

std::vector<const Topic*> TopicCatalog::produced_by(std::string_view service) const {
  std::vector<const Topic*> out;
  for (const auto& t : topics_) {
    if (std::find(t.producers.begin(), t.producers.end(), service) != t.producers.end()) {
      out.push_back(&t);
    }
  }
  return out;
}

std::vector<const Topic*> TopicCatalog::consumed_by(std::string_view service) const {
  std::vector<const Topic*> out;
  for (const auto& t : topics_) {
    if (std::find(t.consumers.begin(), t.consumers.end(), service) != t.consumers.end()) {
      out.push_back(&t);
    }
  }
  return out;
}

}  // namespace lia::events
