#pragma once
// Evolution's webhooks carry a media message's file inline, as base64 in the message's
// "base64" member (when the webhook's base64 is on, and always over the Cloud API without
// S3): up to about 133 MiB for a 100 MB document; Evolution over the Cloud API echoes a file
// sent inline in its send.message's "media". The suite reads a media message's url, never its
// file, so the Evolution routes pass their bodies through this filter as they arrive: every
// "base64" and "media" member's string comes out empty ("base64": ""), the rest byte for
// byte. A file's size then never decides whether its message is read.
//
// It reads any byte stream, split anywhere: a member's name is matched only outside strings
// and only when a ':' follows it, so text that merely contains "base64" is kept. Broken JSON
// stays broken, for the parser to report.

#include <cstdint>
#include <string>
#include <string_view>

#include <lia/core/metrics.hpp>
#include <lia/http/router.hpp>

namespace lia::ingestion {

class InlineFileFilter final : public http::BodyFilter {
 public:
  // dropped (optional) counts the bytes left out, as they are.
  explicit InlineFileFilter(core::Counter* dropped = nullptr) : counter_(dropped) {}

  void feed(std::string_view bytes, std::string& kept) override;

  std::uint64_t dropped_bytes() const noexcept { return dropped_; }

 private:
  enum class State : std::uint8_t {
    outside,      // between tokens, or in a number or literal
    string,       // in a string, kept
    escape,       // after a backslash in a kept string
    colon,        // after "base64" and its ':', before the value
    skip,         // in the value being left out
    skip_escape,  // after a backslash in the value being left out
  };

  void outside(char c, std::string& kept);

  State state_ = State::outside;
  std::size_t matched_ = 0;   // characters of the current string matched so far
  bool candidate_ = false;    // the current string may still be a file's member name
  std::size_t name_ = 0;      // which of them (inline_files.cpp), once its first character came
  bool name_before_ = false;  // the last string was "base64", followed by whitespace only
  std::uint64_t dropped_ = 0;
  core::Counter* counter_;
};

}  // namespace lia::ingestion
