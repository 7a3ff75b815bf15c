#pragma once
// Context threads (seed 000 conversation_threads): every stored message of a conversation
// counts in its active thread; when the thread reaches the rotation threshold (55) it is
// closed with a summary of what was said, and the next message opens a fresh thread that
// starts from that summary, so the context sent to a model stays short. Pure.

#include <optional>
#include <string>
#include <vector>

#include "assistant.hpp"

namespace lia::ai_orchestration {

inline constexpr int kThreadRotation = 55;

// One message of the recent history, oldest first.
struct HistoryMessage {
  std::string message_id;
  std::string author;  // customer, ai, agent, system
  std::string text;
};

// True when a thread holding `message_count` messages (the newest included) must rotate:
// it closes with a summary and the next message counts in a fresh thread.
constexpr bool rotation_due(int message_count, int threshold = kThreadRotation) {
  return message_count >= threshold;
}

struct SummaryInput {
  Assistant assistant = Assistant::apresentacao;
  int message_count = 0;               // of the thread being closed
  std::string previous_summary;        // the summary the thread started from
  std::vector<HistoryMessage> recent;  // oldest first
  std::optional<Sentiment> last_sentiment;
};

// The summary kept when a thread closes (at most 4000 bytes, Portuguese).
std::string summarize_thread(const SummaryInput& in);

// The ids of the last customer messages, kept as preserved_message_ids.
std::vector<std::string> preserved_ids(const std::vector<HistoryMessage>& recent,
                                       std::size_t n = 5);

}  // namespace lia::ai_orchestration
