#include "inline_files.hpp"

#include <array>

namespace lia::ingestion {

namespace {

// The members whose string is a file: Baileys' "base64", and the "media" of a media message
// that Evolution over the Cloud API echoes in send.message when the file was sent inline
// (its URL, when sent by one, is left out too: the suite reads neither). They differ at their
// first character, which picks the one a string may still be.
constexpr std::array<std::string_view, 2> kNames = {"base64", "media"};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

void InlineFileFilter::outside(char c, std::string& kept) {
  kept += c;
  if (c == '"') {
    state_ = State::string;
    matched_ = 0;
    candidate_ = true;
    name_before_ = false;
    return;
  }
  if (name_before_ && c == ':') {
    state_ = State::colon;
    name_before_ = false;
    return;
  }
  if (!is_space(c)) name_before_ = false;
}

void InlineFileFilter::feed(std::string_view bytes, std::string& kept) {
  std::uint64_t dropped = 0;
  std::size_t i = 0;
  while (i < bytes.size()) {
    switch (state_) {
      case State::outside:
        outside(bytes[i++], kept);
        break;
      case State::string: {
        const char c = bytes[i++];
        kept += c;
        if (c == '\\') {
          state_ = State::escape;
          candidate_ = false;  // an escaped name is never Evolution's
        } else if (c == '"') {
          state_ = State::outside;
          name_before_ = candidate_ && matched_ > 0 && matched_ == kNames[name_].size();
        } else if (candidate_) {
          if (matched_ == 0) {
            candidate_ = false;
            for (std::size_t n = 0; n < kNames.size() && !candidate_; ++n) {
              if (kNames[n].front() == c) {
                name_ = n;
                candidate_ = true;
              }
            }
          } else {
            candidate_ = matched_ < kNames[name_].size() && c == kNames[name_][matched_];
          }
          ++matched_;
        }
        break;
      }
      case State::escape:
        kept += bytes[i++];
        state_ = State::string;
        break;
      case State::colon: {
        const char c = bytes[i];
        if (is_space(c)) {
          kept += c;
          ++i;
        } else if (c == '"') {
          kept += c;
          ++i;
          state_ = State::skip;
        } else {
          state_ = State::outside;  // not a string (null, a number): kept as it is
        }
        break;
      }
      case State::skip: {
        // The value's bulk: base64 holds neither a quote nor a backslash.
        const auto stop = bytes.find_first_of("\"\\", i);
        const std::size_t end = stop == std::string_view::npos ? bytes.size() : stop;
        dropped += end - i;
        i = end;
        if (i == bytes.size()) break;
        if (bytes[i] == '"') {
          kept += '"';
          state_ = State::outside;
        } else {
          ++dropped;
          state_ = State::skip_escape;
        }
        ++i;
        break;
      }
      case State::skip_escape:
        ++dropped;
        ++i;
        state_ = State::skip;
        break;
    }
  }
  dropped_ += dropped;
  if (counter_ != nullptr && dropped != 0) counter_->inc(static_cast<double>(dropped));
}

}  // namespace lia::ingestion
