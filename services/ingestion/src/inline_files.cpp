#include "inline_files.hpp"

namespace lia::ingestion {

namespace {

constexpr std::string_view kName = "base64";

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
          name_before_ = candidate_ && matched_ == kName.size();
        } else if (candidate_) {
          candidate_ = matched_ < kName.size() && c == kName[matched_];
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
