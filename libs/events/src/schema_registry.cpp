// The one translation unit that instantiates RapidJSON's schema validator.
#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include <lia/events/schema_registry.hpp>
#include <lia/json/schema.hpp>

namespace lia::events {

namespace {

using json::Value;

constexpr std::string_view kDraft04 = "http://json-schema.org/draft-04/schema#";

// Draft-04 keywords RapidJSON 1.1.0 implements, plus annotations it ignores harmlessly.
const std::set<std::string_view, std::less<>>& allowed_keywords() {
  static const std::set<std::string_view, std::less<>> k = {
      // validation
      "type", "enum", "allOf", "anyOf", "oneOf", "not", "properties", "required", "dependencies",
      "patternProperties", "additionalProperties", "minProperties", "maxProperties", "items",
      "additionalItems", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
      "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "$ref",
      // structure and annotations
      "definitions", "$schema", "id", "title", "description", "default"};
  return k;
}

const std::set<std::string_view, std::less<>>& type_names() {
  static const std::set<std::string_view, std::less<>> k = {"null",   "boolean", "object", "array",
                                                            "number", "integer", "string"};
  return k;
}

// "a/b" -> "a~1b" (RFC 6901).
std::string pointer_token(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

bool regex_compiles(const std::string& pattern) {
  rapidjson::internal::Regex re(pattern.c_str());
  return re.IsValid();
}

// Checks one schema node and everything below it against the house rules.
class Linter {
 public:
  Linter(const json::Document& root, std::vector<std::string>& out) : root_(root), out_(out) {}

  void schema(const Value& node, const std::string& at) {
    if (!node.IsObject()) {
      problem(at, "a schema must be an object");
      return;
    }
    for (const auto& m : node.GetObject()) {
      const std::string_view kw = json::view(m.name);
      const std::string child = at + "/" + pointer_token(kw);
      if (!allowed_keywords().contains(kw)) {
        problem(at, fmt::format("keyword '{}' is not implemented by the validator", kw));
        continue;
      }
      const Value& v = m.value;
      if (kw == "$ref") {
        ref(v, child);
      } else if (kw == "properties" || kw == "definitions") {
        schema_map(v, child);
      } else if (kw == "patternProperties") {
        if (v.IsObject()) {
          for (const auto& p : v.GetObject()) {
            const std::string pattern(json::view(p.name));
            if (!regex_compiles(pattern)) {
              problem(child, fmt::format("pattern '{}' does not compile", pattern));
            }
          }
        }
        schema_map(v, child);
      } else if (kw == "dependencies") {
        if (!v.IsObject()) {
          problem(child, "must be an object");
        } else {
          for (const auto& d : v.GetObject()) {
            if (d.value.IsObject())
              schema(d.value, child + "/" + pointer_token(json::view(d.name)));
          }
        }
      } else if (kw == "items") {
        if (v.IsArray()) {
          schema_list(v, child);
        } else {
          schema(v, child);
        }
      } else if (kw == "additionalItems" || kw == "additionalProperties") {
        if (!v.IsBool()) schema(v, child);
      } else if (kw == "allOf" || kw == "anyOf" || kw == "oneOf") {
        if (!v.IsArray() || v.Empty()) {
          problem(child, "must be a non-empty array");
        } else {
          schema_list(v, child);
        }
      } else if (kw == "not") {
        schema(v, child);
      } else if (kw == "pattern") {
        if (!v.IsString()) {
          problem(child, "must be a string");
        } else if (!regex_compiles(std::string(json::view(v)))) {
          problem(child, fmt::format("pattern '{}' does not compile", json::view(v)));
        }
      } else if (kw == "type") {
        type(v, child);
      } else if (kw == "required") {
        required(node, v, child);
      } else if (kw == "enum") {
        if (!v.IsArray() || v.Empty()) problem(child, "must be a non-empty array");
      }
    }
  }

 private:
  void problem(const std::string& at, const std::string& what) {
    out_.push_back(fmt::format("#{}: {}", at, what));
  }

  void schema_map(const Value& v, const std::string& at) {
    if (!v.IsObject()) {
      problem(at, "must be an object");
      return;
    }
    for (const auto& m : v.GetObject())
      schema(m.value, at + "/" + pointer_token(json::view(m.name)));
  }

  void schema_list(const Value& v, const std::string& at) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) schema(v[i], fmt::format("{}/{}", at, i));
  }

  void ref(const Value& v, const std::string& at) {
    if (!v.IsString()) {
      problem(at, "must be a string");
      return;
    }
    const std::string_view target = json::view(v);
    if (!target.starts_with("#")) {
      problem(at,
              fmt::format("'{}' is not a local reference (remote $ref is not supported)", target));
      return;
    }
    rapidjson::Pointer pointer(target.data(), target.size());
    if (!pointer.IsValid() || pointer.Get(root_) == nullptr) {
      problem(at, fmt::format("'{}' does not resolve", target));
    }
  }

  void type(const Value& v, const std::string& at) {
    auto known = [](const Value& t) {
      return t.IsString() && type_names().contains(json::view(t));
    };
    bool ok = false;
    if (v.IsString()) {
      ok = known(v);
    } else if (v.IsArray() && !v.Empty()) {
      ok = std::all_of(v.Begin(), v.End(), known);
    }
    if (!ok)
      problem(at, "must name JSON types (null, boolean, object, array, number, integer, string)");
  }

  void required(const Value& node, const Value& v, const std::string& at) {
    if (!v.IsArray() || v.Empty()) {
      problem(at, "must be a non-empty array of property names");
      return;
    }
    const auto extra = node.FindMember("additionalProperties");
    const bool closed =
        extra != node.MemberEnd() && extra->value.IsBool() && !extra->value.GetBool();
    const auto props = node.FindMember("properties");
    for (const auto& name : v.GetArray()) {
      if (!name.IsString()) {
        problem(at, "must hold strings");
        continue;
      }
      const bool listed =
          props != node.MemberEnd() && props->value.IsObject() && props->value.HasMember(name);
      if (closed && !listed) {
        problem(at, fmt::format("'{}' is required but not in 'properties' of a closed object",
                                json::view(name)));
      }
    }
  }

  const json::Document& root_;
  std::vector<std::string>& out_;
};

// One branch of a root-level "allOf", compiled on its own (with the root's definitions) so
// a failure can name the rule that broke rather than just "allOf".
struct Branch {
  std::string pointer;      // "#/allOf/<i>"
  std::string description;  // the branch's "description", if any
  std::unique_ptr<json::Document> source;
  std::unique_ptr<rapidjson::SchemaDocument> compiled;
};

struct Entry {
  std::string path;
  std::string_view text;
  std::unique_ptr<json::Document> source;               // kept for error messages
  std::unique_ptr<rapidjson::SchemaDocument> compiled;  // null when the schema is broken
  // The same schema with every "additionalProperties": false taken out: how a consumer reads
  // (a newer producer's optional property is no reason to refuse an event).
  std::unique_ptr<json::Document> open_source;
  std::unique_ptr<rapidjson::SchemaDocument> open_compiled;
  std::vector<Branch> branches;
  std::string problem;
  // RapidJSON 1.1.0 keeps the match state of a "pattern" inside the compiled regex, so one
  // SchemaDocument must not validate on two threads at once. Validating takes microseconds;
  // a lock per schema is cheaper than a compiled copy per thread.
  mutable std::mutex mu;
};

std::vector<Branch> compile_branches(const json::Document& root) {
  std::vector<Branch> out;
  const auto all_of = root.FindMember("allOf");
  if (all_of == root.MemberEnd() || !all_of->value.IsArray()) return out;
  const auto defs = root.FindMember("definitions");
  for (rapidjson::SizeType i = 0; i < all_of->value.Size(); ++i) {
    const Value& branch = all_of->value[i];
    if (!branch.IsObject()) continue;
    Branch b;
    b.pointer = fmt::format("#/allOf/{}", i);
    b.source = std::make_unique<json::Document>();
    auto& alloc = b.source->GetAllocator();
    b.source->CopyFrom(branch, alloc);
    if (defs != root.MemberEnd() && !b.source->HasMember("definitions")) {
      Value copy(defs->value, alloc);
      b.source->AddMember("definitions", copy, alloc);
    }
    const auto d = branch.FindMember("description");
    if (d != branch.MemberEnd() && d->value.IsString()) b.description = json::view(d->value);
    b.compiled = std::make_unique<rapidjson::SchemaDocument>(*b.source);
    out.push_back(std::move(b));
  }
  return out;
}

// Removes `"additionalProperties": false` from `schema` and from the schemas it holds for
// properties, items and definitions. Not under the combinators (not, anyOf, oneOf, allOf,
// dependencies): there a closed object may be what tells two branches apart, or what a `not`
// refuses, and opening it would change what the rule means instead of allowing more.
void open_objects(Value& schema) {
  if (!schema.IsObject()) return;
  if (schema.HasMember("additionalProperties")) {
    const Value& extra = schema["additionalProperties"];
    if (extra.IsBool() && !extra.GetBool()) schema.RemoveMember("additionalProperties");
  }
  const auto each_value = [](Value& map) {
    if (!map.IsObject()) return;
    for (rapidjson::SizeType i = 0; i < map.MemberCount(); ++i) {
      open_objects((map.MemberBegin() + i)->value);
    }
  };
  for (const char* key : {"properties", "patternProperties", "definitions"}) {
    if (schema.HasMember(key)) each_value(schema[key]);
  }
  for (const char* key : {"additionalProperties", "additionalItems"}) {
    if (schema.HasMember(key)) open_objects(schema[key]);
  }
  if (schema.HasMember("items")) {
    Value& items = schema["items"];
    if (items.IsArray()) {
      for (rapidjson::SizeType i = 0; i < items.Size(); ++i) open_objects(items[i]);
    } else {
      open_objects(items);
    }
  }
}

std::optional<SchemaRef> ref_of_path(std::string_view path) {
  // events/<type>/v<N>.json
  constexpr std::string_view prefix = "events/";
  constexpr std::string_view suffix = ".json";
  if (!path.starts_with(prefix) || !path.ends_with(suffix)) return std::nullopt;
  path.remove_prefix(prefix.size());
  path.remove_suffix(suffix.size());
  return parse_schema_uri(fmt::format("lia://schemas/{}", path));
}

std::string describe_pointer(const std::string& ptr) {
  return ptr.empty() ? "/" : ptr;
}

// "field '/a/b'", or "the data" for the root.
std::string describe_subject(const std::string& ptr) {
  return ptr.empty() ? std::string("the data") : fmt::format("field '{}'", ptr);
}

std::string join_values(const Value& array) {
  std::string out;
  for (const auto& v : array.GetArray()) {
    if (!out.empty()) out += ", ";
    out += v.IsString() ? std::string(json::view(v)) : json::to_string(v);
  }
  return out;
}

}  // namespace

struct SchemaRegistry::Impl {
  std::map<std::string, std::map<int, Entry>, std::less<>> entries;
  std::vector<std::string> problems;

  const Entry* find(std::string_view type, int version) const {
    auto t = entries.find(type);
    if (t == entries.end()) return nullptr;
    auto v = t->second.find(version);
    return v == t->second.end() ? nullptr : &v->second;
  }

  void load(const EmbeddedFile& file) {
    const auto id = ref_of_path(file.path);
    if (!id) {
      problems.push_back(
          fmt::format("{}: not a schema path (expected events/<type>/v<N>.json)", file.path));
      return;
    }
    Entry& e = entries[id->type][id->version];
    e.path = std::string(file.path);
    e.text = file.content;
    auto fail = [&](const std::string& what) {
      e.problem = fmt::format("{}: {}", file.path, what);
      problems.push_back(e.problem);
    };

    auto parsed = json::parse(file.content);
    if (!parsed) return fail(parsed.error().message());
    e.source = std::make_unique<json::Document>(std::move(parsed).value());
    const json::Document& doc = *e.source;
    if (!doc.IsObject()) return fail("a schema must be a JSON object");

    std::vector<std::string> lint;
    auto root = json::Obj::root(doc).value();
    if (root.opt_str("$schema").value_or(std::nullopt) != kDraft04) {
      lint.push_back(fmt::format("#: '$schema' must be '{}'", kDraft04));
    }
    const std::string uri = schema_uri(id->type, id->version);
    if (root.opt_str("id").value_or(std::nullopt) != std::string_view(uri)) {
      lint.push_back(fmt::format("#: 'id' must be '{}'", uri));
    }
    if (root.opt_str("type").value_or(std::nullopt) != std::string_view("object")) {
      lint.push_back("#: 'type' must be 'object' (event data is a JSON object)");
    }
    Linter(doc, lint).schema(doc, "");
    if (!lint.empty()) {
      std::string all;
      for (const auto& l : lint) all += (all.empty() ? "" : "; ") + l;
      return fail(all);
    }
    e.compiled = std::make_unique<rapidjson::SchemaDocument>(doc);
    e.open_source = std::make_unique<json::Document>();
    e.open_source->CopyFrom(doc, e.open_source->GetAllocator());
    open_objects(*e.open_source);
    e.open_compiled = std::make_unique<rapidjson::SchemaDocument>(*e.open_source);
    e.branches = compile_branches(doc);
  }

  // A message naming the keyword and the JSON pointer of the bad field.
  std::string explain(const Entry& e, const rapidjson::SchemaValidator& v,
                      const json::Document& data) const {
    const char* kw = v.GetInvalidSchemaKeyword();
    const std::string keyword = kw != nullptr ? kw : "";
    rapidjson::StringBuffer dbuf;
    v.GetInvalidDocumentPointer().Stringify(dbuf);
    const std::string doc_ptr(dbuf.GetString(), dbuf.GetSize());
    rapidjson::StringBuffer sbuf;
    v.GetInvalidSchemaPointer().StringifyUriFragment(sbuf);
    const std::string schema_ptr(sbuf.GetString(), sbuf.GetSize());

    const Value* schema_node = v.GetInvalidSchemaPointer().Get(*e.source);
    const Value* data_node = v.GetInvalidDocumentPointer().Get(data);
    const Value* rule = nullptr;
    if (schema_node != nullptr && schema_node->IsObject()) {
      auto it = schema_node->FindMember(rapidjson::StringRef(keyword.c_str()));
      if (it != schema_node->MemberEnd()) rule = &it->value;
    }

    if (keyword == "required" && rule != nullptr && rule->IsArray() && data_node != nullptr &&
        data_node->IsObject()) {
      for (const auto& name : rule->GetArray()) {
        if (name.IsString() && !data_node->HasMember(name)) {
          return fmt::format("field '{}/{}' is missing (keyword 'required')", doc_ptr,
                             pointer_token(json::view(name)));
        }
      }
    }
    if (keyword == "additionalProperties") {
      // RapidJSON points at the unexpected member itself.
      return fmt::format("field '{}' is not allowed (keyword 'additionalProperties')",
                         describe_pointer(doc_ptr));
    }
    if (keyword == "allOf" && schema_ptr == "#") {
      for (const auto& b : e.branches) {
        rapidjson::SchemaValidator branch(*b.compiled);
        if (!data.Accept(branch)) {
          return fmt::format("{} breaks a rule (keyword 'allOf', schema '{}'){}",
                             describe_subject(doc_ptr), b.pointer,
                             b.description.empty() ? "" : ": " + b.description);
        }
      }
    }
    std::string what;
    if (keyword == "enum" && rule != nullptr && rule->IsArray()) {
      what = fmt::format("must be one of {}", join_values(*rule));
    } else if (keyword == "type" && rule != nullptr) {
      what = fmt::format("must be of type {}",
                         rule->IsArray() ? join_values(*rule) : std::string(json::view(*rule)));
    } else if (keyword == "pattern" && rule != nullptr && rule->IsString()) {
      what = fmt::format("does not match pattern '{}'", json::view(*rule));
    } else if (rule != nullptr && (rule->IsNumber() || rule->IsBool())) {
      what = fmt::format("breaks '{}: {}'", keyword, json::to_string(*rule));
    } else {
      what = "is invalid";
    }
    std::string msg = fmt::format("{} {} (keyword '{}', schema '{}')", describe_subject(doc_ptr),
                                  what, keyword, schema_ptr);
    if (schema_node != nullptr && schema_node->IsObject() && schema_ptr != "#") {
      auto d = schema_node->FindMember("description");
      if (d != schema_node->MemberEnd() && d->value.IsString() &&
          (keyword == "allOf" || keyword == "anyOf" || keyword == "oneOf" || keyword == "not")) {
        msg += fmt::format(": {}", json::view(d->value));
      }
    }
    return msg;
  }
};

SchemaRegistry::SchemaRegistry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchemaRegistry::~SchemaRegistry() = default;

std::unique_ptr<SchemaRegistry> SchemaRegistry::from_files(std::span<const EmbeddedFile> files) {
  auto impl = std::make_unique<Impl>();
  for (const auto& f : files) {
    if (f.path.starts_with("events/")) impl->load(f);
  }
  return std::unique_ptr<SchemaRegistry>(new SchemaRegistry(std::move(impl)));
}

const SchemaRegistry& SchemaRegistry::instance() {
  static const std::unique_ptr<SchemaRegistry> registry = from_files(embedded_files());
  return *registry;
}

core::Status SchemaRegistry::validate(std::string_view type, int version,
                                      std::string_view data_json, Reading reading) const {
  const Entry* e = impl_->find(type, version);
  if (e == nullptr) {
    return core::Error(core::Errc::invalid_argument,
                       fmt::format("no schema for event type '{}' version {}", type, version));
  }
  if (!e->compiled) {
    return core::Error(core::Errc::internal,
                       fmt::format("schema {} is broken: {}", e->path, e->problem));
  }
  auto data = json::parse(data_json);
  if (!data) {
    return core::Error(
        core::Errc::invalid_argument,
        fmt::format("{}/v{}: data is not JSON: {}", type, version, data.error().message()));
  }
  const bool open = reading == Reading::tolerant;
  std::lock_guard lock(e->mu);
  rapidjson::SchemaValidator validator(open ? *e->open_compiled : *e->compiled);
  if (data->Accept(validator)) return {};
  return core::Error(
      core::Errc::invalid_argument,
      fmt::format("{}/v{}: {}", type, version, impl_->explain(*e, validator, *data)));
}

core::Status SchemaRegistry::validate(const CloudEvent& event, Reading reading) const {
  const auto ref = parse_schema_uri(event.dataschema);
  if (!ref) {
    return core::Error(core::Errc::invalid_argument,
                       fmt::format("event {}: dataschema '{}' is not of the form "
                                   "lia://schemas/<type>/v<N>",
                                   event.id, event.dataschema));
  }
  if (ref->type != event.type) {
    return core::Error(core::Errc::invalid_argument,
                       fmt::format("event {}: dataschema '{}' does not match type '{}'", event.id,
                                   event.dataschema, event.type));
  }
  return validate(ref->type, ref->version, event.data, reading);
}

bool SchemaRegistry::contains(std::string_view type, int version) const {
  return impl_->find(type, version) != nullptr;
}

std::optional<int> SchemaRegistry::latest_version(std::string_view type) const {
  auto t = impl_->entries.find(type);
  if (t == impl_->entries.end() || t->second.empty()) return std::nullopt;
  return t->second.rbegin()->first;
}

std::vector<SchemaRef> SchemaRegistry::schemas() const {
  std::vector<SchemaRef> out;
  for (const auto& [type, versions] : impl_->entries) {
    for (const auto& [version, entry] : versions) out.push_back({type, version});
  }
  return out;
}

std::optional<std::string_view> SchemaRegistry::schema_text(std::string_view type,
                                                            int version) const {
  const Entry* e = impl_->find(type, version);
  if (e == nullptr) return std::nullopt;
  return e->text;
}

const std::vector<std::string>& SchemaRegistry::problems() const {
  return impl_->problems;
}

}  // namespace lia::events
