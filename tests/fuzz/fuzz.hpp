#pragma once
// What the fuzz targets share. Each target is one file defining LLVMFuzzerTestOneInput, the
// libFuzzer entry point, and checks properties that must hold for every input; a broken
// property aborts, so libFuzzer keeps the input and the corpus replay fails.
//
// Built two ways (tests/fuzz/CMakeLists.txt):
//   - always: linked with replay_main.cpp, ctest replays the seed corpus
//     (tests/fuzz/corpus/<target>/) through it: fuzz_<target>_corpus;
//   - with clang and -DLIA_FUZZ=ON: linked with libFuzzer, ASan and UBSan (scripts/fuzz).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace lia::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Most targets read their first byte as a choice (a provider, a parser, a tool) and the rest
// as the input proper; nullopt for an empty input.
struct Choice {
  unsigned char choice = 0;
  std::string_view rest;
};
inline std::optional<Choice> split_choice(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return std::nullopt;
  return Choice{data[0], as_text(data + 1, size - 1)};
}

// A broken property: say which, and abort (libFuzzer saves the input as crash-<sha1>).
[[noreturn]] inline void fail(std::string_view property, std::string_view detail) {
  std::fprintf(stderr, "fuzz: property broken: %.*s\n  %.*s\n", static_cast<int>(property.size()),
               property.data(), static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void require(bool holds, std::string_view property, std::string_view detail = {}) {
  if (!holds) fail(property, detail);
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace lia::fuzz
