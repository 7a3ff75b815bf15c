#include <charconv>

#include <fmt/format.h>

#include <lia/core/clock.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/json/json.hpp>

namespace lia::events {

namespace {

constexpr std::string_view kSchemaPrefix = "lia://schemas/";

core::Error invalid(const std::string& what) {
  return core::Error(core::Errc::invalid_argument, "invalid CloudEvent: " + what);
}

}  // namespace

std::string schema_uri(std::string_view type, int version) {
  return fmt::format("{}{}/v{}", kSchemaPrefix, type, version);
}

std::optional<SchemaRef> parse_schema_uri(std::string_view uri) {
  if (!uri.starts_with(kSchemaPrefix)) return std::nullopt;
  uri.remove_prefix(kSchemaPrefix.size());
  const auto slash = uri.rfind("/v");
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view type = uri.substr(0, slash);
  const std::string_view num = uri.substr(slash + 2);
  if (type.find('/') != std::string_view::npos) return std::nullopt;
  if (num.empty() || num.front() == '0') return std::nullopt;
  int version = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), version);
  if (ec != std::errc{} || end != num.data() + num.size() || version < 1) return std::nullopt;
  return SchemaRef{std::string(type), version};
}

std::string source_for(std::string_view service) {
  return fmt::format("/lia/{}", service);
}

bool is_rfc3339(std::string_view s) {
  return core::parse_rfc3339(s).has_value();
}

CloudEvent make_event(std::string_view type, int version, std::string_view source,
                      std::string_view subject, std::string data_json, const core::Clock& clock) {
  CloudEvent ev;
  ev.id = core::Uuid::v7(clock).str();
  ev.source = std::string(source);
  ev.type = std::string(type);
  ev.time = core::format_rfc3339(clock.now());
  if (!subject.empty()) ev.subject = std::string(subject);
  ev.dataschema = schema_uri(type, version);
  ev.data = data_json.empty() ? std::string("{}") : std::move(data_json);
  return ev;
}

std::string encode(const CloudEvent& ev) {
  json::Writer w;
  w.begin_object()
      .field("specversion", ev.specversion)
      .field("id", ev.id)
      .field("source", ev.source)
      .field("type", ev.type)
      .field("time", ev.time)
      .field("subject", ev.subject)
      .field("datacontenttype", ev.datacontenttype)
      .field("dataschema", ev.dataschema)
      .raw_field("data", ev.data.empty() ? std::string_view("{}") : std::string_view(ev.data))
      .end_object();
  return w.take();
}

core::Result<CloudEvent> decode(std::string_view text) {
  auto doc = json::parse(text);
  if (!doc) return invalid(doc.error().message());
  auto root = json::Obj::root(*doc);
  if (!root) return invalid(root.error().message());

  CloudEvent ev;
  auto required = [&](std::string_view key, std::string& out) -> core::Status {
    auto v = root->nonempty_str(key);
    if (!v) return invalid(v.error().message());
    out = std::string(*v);
    return {};
  };

  if (auto st = required("specversion", ev.specversion); !st) return st.error();
  if (ev.specversion != "1.0") {
    return invalid(fmt::format("unsupported specversion '{}' (expected '1.0')", ev.specversion));
  }
  if (auto st = required("id", ev.id); !st) return st.error();
  if (auto st = required("source", ev.source); !st) return st.error();
  if (auto st = required("type", ev.type); !st) return st.error();
  if (auto st = required("time", ev.time); !st) return st.error();
  if (!is_rfc3339(ev.time)) {
    return invalid(fmt::format("field 'time' must be an RFC 3339 date-time, got '{}'", ev.time));
  }
  if (auto st = required("dataschema", ev.dataschema); !st) return st.error();

  auto subject = root->opt_str("subject");
  if (!subject) return invalid(subject.error().message());
  if (*subject) ev.subject = std::string(**subject);

  auto content_type = root->opt_str("datacontenttype");
  if (!content_type) return invalid(content_type.error().message());
  if (*content_type) {
    const std::string_view ct = **content_type;
    const std::string_view base = ct.substr(0, ct.find(';'));
    if (base != "application/json") {
      return invalid(
          fmt::format("field 'datacontenttype' must be 'application/json', got '{}'", ct));
    }
    ev.datacontenttype = std::string(ct);
  }

  if (root->has("data_base64")) return invalid("field 'data_base64' is not supported: use 'data'");
  auto data = root->obj("data");
  if (!data) return invalid(data.error().message());
  ev.data = json::to_string(data->value());
  return ev;
}

}  // namespace lia::events
