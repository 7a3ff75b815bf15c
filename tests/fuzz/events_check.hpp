#pragma once
// For the fuzz targets whose outputs are events: each must match its JSON Schema.

#include <string>
#include <string_view>

#include <lia/events/schema_registry.hpp>

#include "fuzz.hpp"

namespace lia::fuzz {

inline void require_valid_event(std::string_view type, std::string_view data_json,
                                std::string_view property) {
  auto st = events::SchemaRegistry::instance().validate(type, 1, data_json);
  if (!st) fail(property, std::string(type) + ": " + st.error().message());
}

}  // namespace lia::fuzz
