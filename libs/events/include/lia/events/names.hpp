#pragma once
// Names of the topics and event types of proto-schemas/ (the tests check that each one is
// in the catalog or has a schema), and the record keys.

#include <string>
#include <string_view>

namespace lia::events {

namespace topics {
inline constexpr std::string_view whatsapp_inbound = "whatsapp.inbound.v1";
inline constexpr std::string_view whatsapp_status = "whatsapp.status.v1";
inline constexpr std::string_view conversation_events = "conversation.events.v1";
inline constexpr std::string_view ai_events = "ai.events.v1";
inline constexpr std::string_view notification_commands = "notification.commands.v1";
inline constexpr std::string_view notification_events = "notification.events.v1";
inline constexpr std::string_view contacts = "contacts.v1";
inline constexpr std::string_view users = "users.v1";
inline constexpr std::string_view engagement_events = "engagement.events.v1";
inline constexpr std::string_view collections_events = "collections.events.v1";
}  // namespace topics

// Kafka record headers every LIA event carries, and the optional ones.
namespace headers {
inline constexpr std::string_view event_id = "lia.event_id";
inline constexpr std::string_view event_type = "lia.event_type";
// On notification.events.v1: the CloudEvents source of the command the event is about
// ("/lia/collections"), so consumers skip other services' outcomes without a look-up.
inline constexpr std::string_view command_source = "lia.command_source";
}  // namespace headers

namespace types {
// whatsapp.inbound.v1 / whatsapp.status.v1 (ingestion)
inline constexpr std::string_view whatsapp_message_received = "lia.whatsapp.message.received";
inline constexpr std::string_view whatsapp_message_status = "lia.whatsapp.message.status";
inline constexpr std::string_view whatsapp_connection_updated = "lia.whatsapp.connection.updated";
// conversation.events.v1 (conversation)
inline constexpr std::string_view conversation_created = "lia.conversation.created";
inline constexpr std::string_view conversation_message_stored = "lia.conversation.message.stored";
inline constexpr std::string_view conversation_transferred = "lia.conversation.transferred";
inline constexpr std::string_view conversation_assigned = "lia.conversation.assigned";
inline constexpr std::string_view conversation_unassigned = "lia.conversation.unassigned";
inline constexpr std::string_view conversation_resolved = "lia.conversation.resolved";
inline constexpr std::string_view conversation_reopened = "lia.conversation.reopened";
// ai.events.v1 (ai_orchestration)
inline constexpr std::string_view ai_reply_generated = "lia.ai.reply.generated";
inline constexpr std::string_view ai_handoff_requested = "lia.ai.handoff.requested";
inline constexpr std::string_view ai_analysis_completed = "lia.ai.analysis.completed";
inline constexpr std::string_view ai_assistant_changed = "lia.ai.assistant.changed";
inline constexpr std::string_view ai_tool_invoked = "lia.ai.tool.invoked";
// notification.commands.v1 (conversation, nps_gamification, collections)
inline constexpr std::string_view notification_send_text = "lia.notification.send_text";
inline constexpr std::string_view notification_send_template = "lia.notification.send_template";
// notification.events.v1 (notification)
inline constexpr std::string_view notification_message_sent = "lia.notification.message.sent";
inline constexpr std::string_view notification_message_failed = "lia.notification.message.failed";
inline constexpr std::string_view notification_message_dead_lettered =
    "lia.notification.message.dead_lettered";
inline constexpr std::string_view notification_message_undelivered =
    "lia.notification.message.undelivered";
// engagement.events.v1 (nps_gamification)
inline constexpr std::string_view engagement_survey_sent = "lia.engagement.survey.sent";
inline constexpr std::string_view engagement_survey_failed = "lia.engagement.survey.failed";
inline constexpr std::string_view engagement_score_recorded = "lia.engagement.score.recorded";
// collections.events.v1 (collections)
inline constexpr std::string_view collections_message_requested =
    "lia.collections.message.requested";
// contacts.v1 / users.v1 (conversation; compacted)
inline constexpr std::string_view contact_upserted = "lia.contact.upserted";
inline constexpr std::string_view user_upserted = "lia.user.upserted";
}  // namespace types

// The record key of chat-keyed topics: "<instance>:<chat_id>", so everything about one
// chat lands in one partition, in order. Events about a whole number use the instance.
inline std::string chat_key(std::string_view instance, std::string_view chat_id) {
  std::string key;
  key.reserve(instance.size() + 1 + chat_id.size());
  key.append(instance).append(":").append(chat_id);
  return key;
}

}  // namespace lia::events
