#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include <lia/http/router.hpp>

namespace lia::http {
namespace {

struct Segment {
  std::string text;  // literal text, or the parameter name
  bool param = false;
};

std::vector<Segment> parse_pattern(const std::string& pattern) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': \"" + pattern + "\"");
  }
  std::vector<Segment> segs;
  if (pattern == "/") return segs;
  std::string_view rest(pattern);
  rest.remove_prefix(1);
  while (true) {
    const auto slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    const bool opens = seg.find('{') != std::string_view::npos;
    const bool closes = seg.find('}') != std::string_view::npos;
    if (opens || closes) {
      if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}' ||
          seg.substr(1, seg.size() - 2).find_first_of("{}") != std::string_view::npos) {
        throw std::invalid_argument("route pattern \"" + pattern +
                                    "\": a parameter must be a whole segment like {name}");
      }
      const std::string name(seg.substr(1, seg.size() - 2));
      for (const auto& s : segs) {
        if (s.param && s.text == name) {
          throw std::invalid_argument(
              fmt::format("route pattern \"{}\": parameter {{{}}} appears twice", pattern, name));
        }
      }
      segs.push_back({name, true});
    } else {
      segs.push_back({std::string(seg), false});
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return segs;
}

// Calls f(segment) for each '/'-separated segment of path (after the leading '/'). Stops
// and returns false if f does. "/" has no segments.
template <class F>
bool for_each_segment(std::string_view path, F&& f) {
  if (path.empty() || path.front() != '/') return false;
  if (path.size() == 1) return true;
  path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    if (!f(path.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

struct Router::Pattern {
  std::string text;
  std::vector<Segment> segs;
  std::vector<std::unique_ptr<Endpoint>> endpoints;

  bool matches(std::string_view path) const {
    std::size_t i = 0;
    const bool ok = for_each_segment(path, [&](std::string_view seg) {
      if (i >= segs.size()) return false;
      const Segment& s = segs[i++];
      return s.param ? !seg.empty() : seg == s.text;
    });
    return ok && i == segs.size();
  }

  void capture(std::string_view path, StringMap& out) const {
    std::size_t i = 0;
    for_each_segment(path, [&](std::string_view seg) {
      const Segment& s = segs[i++];
      if (s.param) out.insert_or_assign(s.text, url_decode(seg, false));
      return true;
    });
  }

  const Endpoint* find(std::string_view method) const {
    for (const auto& e : endpoints) {
      if (e->method == method) return e.get();
    }
    return nullptr;
  }
};

Router::Router() = default;
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

namespace {

void set_body_options(Router::Endpoint& e, RouteOptions&& options) {
  const auto name = [&] { return "route " + e.method + " " + e.pattern + ": "; };
  if (options.body_filter && options.wire_limit < std::max<std::size_t>(options.body_limit, 1)) {
    throw std::invalid_argument(name() +
                                "a body filter needs a wire_limit of at least its "
                                "body_limit");
  }
  if (!options.body_filter && options.wire_limit != 0) {
    throw std::invalid_argument(name() + "wire_limit applies to a filtered body only");
  }
  if (options.body_timeout.count() < 0) {
    throw std::invalid_argument(name() + "negative body_timeout");
  }
  e.body_limit = options.body_limit;
  e.body_filter = std::move(options.body_filter);
  e.wire_limit = options.wire_limit;
  e.body_timeout = options.body_timeout;
  e.body_budget = std::move(options.body_budget);
}

}  // namespace

Router& Router::add(std::string method, std::string pattern, AsyncHandler handler,
                    RouteOptions options) {
  if (!handler) throw std::invalid_argument("route " + method + " " + pattern + ": no handler");
  if (options.blocking || options.probe) {
    throw std::invalid_argument("route " + method + " " + pattern +
                                ": an async handler runs on an I/O thread, never blocking");
  }
  auto e = std::make_unique<Endpoint>();
  e->method = std::move(method);
  e->pattern = std::move(pattern);
  e->async = std::move(handler);
  set_body_options(*e, std::move(options));
  return insert(std::move(e));
}

Router& Router::add(std::string method, std::string pattern, SyncHandler handler,
                    RouteOptions options) {
  if (!handler) throw std::invalid_argument("route " + method + " " + pattern + ": no handler");
  auto e = std::make_unique<Endpoint>();
  e->method = std::move(method);
  e->pattern = std::move(pattern);
  e->sync = std::move(handler);
  e->blocking = options.blocking;
  e->probe = options.probe;
  set_body_options(*e, std::move(options));
  return insert(std::move(e));
}

Router& Router::insert(std::unique_ptr<Endpoint> e) {
  if (e->method.empty()) throw std::invalid_argument("route " + e->pattern + ": empty method");
  for (char& c : e->method) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  auto segs = parse_pattern(e->pattern);
  Pattern* target = nullptr;
  for (auto& p : patterns_) {
    if (p->text == e->pattern) target = p.get();
  }
  if (target == nullptr) {
    // Two spellings of the same shape ("/a/{x}" and "/a/{y}") would shadow each other.
    for (auto& p : patterns_) {
      bool same = p->segs.size() == segs.size();
      for (std::size_t i = 0; same && i < segs.size(); ++i) {
        same =
            p->segs[i].param == segs[i].param && (segs[i].param || p->segs[i].text == segs[i].text);
      }
      if (same) {
        throw std::invalid_argument("route pattern \"" + e->pattern +
                                    "\" has the same shape as \"" + p->text +
                                    "\": use one spelling");
      }
    }
    auto p = std::make_unique<Pattern>();
    p->text = e->pattern;
    p->segs = std::move(segs);
    target = p.get();
    patterns_.push_back(std::move(p));
    // Literal segments sort before parameters at the first position where two differ.
    std::stable_sort(patterns_.begin(), patterns_.end(), [](const auto& a, const auto& b) {
      const std::size_t n = std::min(a->segs.size(), b->segs.size());
      for (std::size_t i = 0; i < n; ++i) {
        if (a->segs[i].param != b->segs[i].param) return !a->segs[i].param;
      }
      return a->segs.size() < b->segs.size();
    });
  } else if (target->find(e->method) != nullptr) {
    throw std::invalid_argument("route " + e->method + " " + e->pattern + " is added twice");
  }
  e->id = by_id_.size();
  by_id_.push_back(e.get());
  target->endpoints.push_back(std::move(e));
  return *this;
}

Router::Match Router::match(std::string_view method, std::string_view path,
                            StringMap* params) const {
  Match m;
  const Pattern* allowed_in = nullptr;
  for (const auto& p : patterns_) {
    if (!p->matches(path)) continue;
    const Endpoint* e = p->find(method);
    if (e == nullptr && method == "HEAD") e = p->find("GET");
    if (e != nullptr) {
      m.outcome = Outcome::found;
      m.endpoint = e;
      if (params != nullptr) p->capture(path, *params);
      m.allow.clear();
      return m;
    }
    // Collect what the matching patterns accept, for the Allow header.
    allowed_in = p.get();
    for (const auto& other : p->endpoints) {
      bool seen = false;
      std::string_view list(m.allow);
      while (!list.empty()) {
        const auto comma = list.find(", ");
        if (list.substr(0, comma) == other->method) seen = true;
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 2);
      }
      if (seen) continue;
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += other->method;
    }
  }
  m.outcome = allowed_in != nullptr ? Outcome::method_not_allowed : Outcome::not_found;
  return m;
}

bool Router::has_pattern(std::string_view pattern) const noexcept {
  return std::any_of(patterns_.begin(), patterns_.end(),
                     [&](const auto& p) { return p->text == pattern; });
}

std::size_t Router::largest_body_limit() const noexcept {
  std::size_t largest = 0;
  for (const Endpoint* e : by_id_) largest = std::max({largest, e->body_limit, e->wire_limit});
  return largest;
}

}  // namespace lia::http
