#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>

namespace lia::core {
namespace {

enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };

void atomic_add(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

// `text` escaped as the exposition format wants it: a backslash as \\, a newline as \n, and
// in a label value (`quotes`) a double quote as \".
void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\' || (quotes && c == '"')) {
      out += '\\';
    } else if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
}

// The labels as the exposition writes them, in the order given.
std::string render_labels(const Labels& labels) {
  std::string s;
  for (const auto& [k, v] : labels) {
    if (!s.empty()) s += ',';
    s += k;
    s += "=\"";
    append_escaped(s, v, /*quotes=*/true);
    s += '"';
  }
  return s;
}

// The series' key: its labels sorted by name, so that the same labels given in another
// order are the same series (written as its first registration gave them).
std::string series_key(Labels labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return render_labels(labels);
}

// HELP text escapes a backslash as \\ and a newline as \n (the text exposition format).
std::string escape_help(const std::string& help) {
  std::string s;
  s.reserve(help.size());
  append_escaped(s, help, /*quotes=*/false);
  return s;
}

std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

}  // namespace

void Counter::inc(double v) {
  if (!(v >= 0)) return;  // negative or NaN: a counter never goes down
  atomic_add(value_, v);
}
void Gauge::add(double v) {
  atomic_add(value_, v);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

// Series a metric keeps at most; the labels of any more are all written "other" (one series).
constexpr std::size_t kMaxSeriesPerMetric = 1000;

struct Registry::Family {
  std::string help;
  int type = kCounter;
  std::map<std::string, std::unique_ptr<Counter>> counters;
  std::map<std::string, std::unique_ptr<Gauge>> gauges;
  std::map<std::string, std::unique_ptr<Histogram>> histograms;
  std::map<std::string, std::string> shown;  // series key -> its labels as first given
  const std::string& labels_of(const std::string& key) const { return shown.at(key); }
  template <class Metric, class... Args>
  Metric& slot(std::map<std::string, std::unique_ptr<Metric>>& series, const Labels& labels,
               Args&&... args) {
    std::string key = series_key(labels);
    auto found = series.find(key);
    if (found != series.end()) return *found->second;
    // A label whose values come from outside (an instance name, a code) would otherwise add a
    // series for every value ever seen: past the cap, new ones share one whose every label
    // reads "other", which the scrape shows and memory does not grow with.
    Labels given = labels;
    if (series.size() >= kMaxSeriesPerMetric) {
      for (auto& label : given) label.second = "other";
      key = series_key(given);
      found = series.find(key);
      if (found != series.end()) return *found->second;
    }
    auto& s = series[key];
    s = std::make_unique<Metric>(std::forward<Args>(args)...);
    shown.emplace(key, render_labels(given));
    return *s;
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::family(const std::string& name, const std::string& help, int type) {
  auto& f = families_[name];
  if (!f) {
    f = std::make_unique<Family>();
    f->help = help;
    f->type = type;
  }
  return *f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = family(name, help, kCounter);
  return f.slot(f.counters, labels);
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = family(name, help, kGauge);
  return f.slot(f.gauges, labels);
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const Labels& labels, const std::vector<double>& bounds) {
  std::lock_guard lock(mu_);
  auto& f = family(name, help, kHistogram);
  return f.slot(f.histograms, labels, bounds);
}

std::string Registry::render() const {
  static constexpr const char* kTypes[] = {"counter", "gauge", "histogram"};
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& family : families_) {
    const std::string& name = family.first;
    const auto& f = family.second;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f->help), name,
                       kTypes[f->type]);
    auto series = [&](const std::string& suffix, const std::string& labels, double v) {
      out += name;
      out += suffix;
      if (!labels.empty()) out += "{" + labels + "}";
      out += ' ';
      out += num(v);
      out += '\n';
    };
    for (const auto& [key, c] : f->counters) series("", f->labels_of(key), c->value());
    for (const auto& [key, g] : f->gauges) series("", f->labels_of(key), g->value());
    for (const auto& [key, h] : f->histograms) {
      const std::string& l = f->labels_of(key);
      std::uint64_t cumulative = 0;
      const std::string sep = l.empty() ? "" : ",";
      for (std::size_t i = 0; i <= h->bounds().size(); ++i) {
        cumulative += h->bucket(i);
        const std::string le = i < h->bounds().size() ? num(h->bounds()[i]) : "+Inf";
        series("_bucket", fmt::format("{}{}le=\"{}\"", l, sep, le),
               static_cast<double>(cumulative));
      }
      series("_sum", l, h->sum());
      series("_count", l, static_cast<double>(h->count()));
    }
  }
  return out;
}

Registry& metrics() {
  static Registry registry;
  return registry;
}

}  // namespace lia::core
