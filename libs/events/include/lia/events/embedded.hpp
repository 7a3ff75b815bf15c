#pragma once
// proto-schemas/ as compiled into the library: catalog.json and events/<type>/v<N>.json.

#include <optional>
#include <span>
#include <string_view>

namespace lia::events {

struct EmbeddedFile {
  std::string_view path;     // relative to proto-schemas/, e.g. "events/lia.user.upserted/v1.json"
  std::string_view content;  // the file's text
};

// Every embedded file, catalog.json first, then the schemas sorted by path.
std::span<const EmbeddedFile> embedded_files();

// The content of one embedded file, if present.
inline std::optional<std::string_view> embedded_file(std::string_view path) {
  for (const auto& f : embedded_files()) {
    if (f.path == path) return f.content;
  }
  return std::nullopt;
}

}  // namespace lia::events
