#pragma once
// Validates event data against the JSON Schemas of proto-schemas/ (draft-04, compiled into
// the library). Each schema is compiled once, when the registry is built; validation is
// thread-safe (a fresh validator per call, and a lock per schema because RapidJSON 1.1.0's
// compiled patterns are not re-entrant).
//
//   auto st = events::SchemaRegistry::instance().validate(event);
//   if (!st) ...  // "lia.whatsapp.message.received/v1: field '/media/mime_type' is missing
//                 //  (keyword 'required')"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/events/embedded.hpp>

namespace lia::events {

class SchemaRegistry {
 public:
  // The registry of the embedded schemas, built on first use.
  static const SchemaRegistry& instance();
  // A registry of the given files, laid out like proto-schemas/: every
  // "events/<type>/v<N>.json" is a schema; other paths are ignored.
  static std::unique_ptr<SchemaRegistry> from_files(std::span<const EmbeddedFile> files);

  ~SchemaRegistry();
  SchemaRegistry(const SchemaRegistry&) = delete;
  SchemaRegistry& operator=(const SchemaRegistry&) = delete;

  // How closely data must match. `strict`, for what a producer writes: exactly the schema, so
  // a misspelt or unknown property fails its tests. `tolerant`, for what a consumer reads:
  // properties the schema does not list are allowed (a producer deployed ahead of its
  // consumers may already send a new optional property); everything else is as strict.
  enum class Reading { strict, tolerant };

  // Errors (Errc::invalid_argument): unknown type/version, data that is not JSON, or data
  // that breaks the schema — the message names the failing keyword and the JSON pointer of
  // the bad field. A schema that failed to load gives Errc::internal.
  core::Status validate(std::string_view type, int version, std::string_view data_json,
                        Reading reading = Reading::strict) const;
  // Takes type and version from event.dataschema, which must be schema_uri(event.type, N).
  core::Status validate(const CloudEvent& event, Reading reading = Reading::strict) const;

  bool contains(std::string_view type, int version) const;
  std::optional<int> latest_version(std::string_view type) const;
  // Every schema, sorted by type then version.
  std::vector<SchemaRef> schemas() const;
  // The schema's JSON text, if known.
  std::optional<std::string_view> schema_text(std::string_view type, int version) const;

  // Files that failed to load or break the house rules ("$schema" draft-04, "id" equal to
  // the schema's URI, only keywords RapidJSON implements, local "$ref"s that resolve,
  // patterns that compile, required properties that exist). Empty when all is well.
  const std::vector<std::string>& problems() const;

 private:
  struct Impl;
  explicit SchemaRegistry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lia::events
