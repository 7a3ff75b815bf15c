#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/notification/retention.hpp>

namespace lia::notification {

namespace f = core::f;

Retention::Retention(std::shared_ptr<OutboundStore> store, const core::Clock& clock,
                     RetentionOptions options)
    : store_(std::move(store)),
      clock_(clock),
      options_(options),
      periodic_(options_.every, [this] { round(); }) {}

core::Result<std::int64_t> Retention::purge_once() {
  static auto& purged =
      core::metrics().counter("lia_notification_outbound_purged_total",
                              "Finished sends deleted past LIA_NOTIFY_RETENTION_DAYS");
  const auto before = clock_.now() - options_.keep;
  std::int64_t total = 0;
  for (;;) {
    if (periodic_.stopping()) break;  // a stop ends the purge between two slices
    auto n = store_->purge_finished(before, options_.slice);
    if (!n) return n.error();
    total += *n;
    purged.inc(static_cast<double>(*n));
    if (*n < options_.slice) break;
  }
  return total;
}

void Retention::round() {
  auto n = purge_once();
  if (!n) {
    core::log().warn("purge of old sends failed; the next round tries again",
                     {f::str("error", n.error().describe())});
  } else if (*n > 0) {
    core::log().info("old sends deleted",
                     {f::num("rows", *n), f::num("retention_days", options_.keep.count() / 24)});
  }
}

}  // namespace lia::notification
