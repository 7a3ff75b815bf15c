#pragma once
// Pure pieces of collections: the service's settings, reading and validating a campaign
// request, template variables of a target, allowed hours, recipients and the data of the
// command and event each attempt produces. No I/O.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <lia/core/clock.hpp>
#include <lia/core/config.hpp>
#include <lia/core/result.hpp>
#include <lia/domain/hours.hpp>
#include <lia/domain/template.hpp>

namespace lia::collections {

inline constexpr const char* kServiceName = "collections";
inline constexpr const char* kDefaultSchema = "collections";
inline constexpr const char* kConsumerGroup = "lia-collections";
inline constexpr const char* kDefaultInstance = "lia-cobranca";

struct Settings {
  std::string jwt_secret;                   // LIA_JWT_SECRET (required)
  std::chrono::milliseconds tick{5000};     // LIA_COLLECTIONS_TICK_MS
  std::string provider = "evolution";       // LIA_COLLECTIONS_PROVIDER: meta | evolution
  std::string instance = kDefaultInstance;  // LIA_COLLECTIONS_INSTANCE (at most 128 characters)
  std::chrono::minutes utc_offset{-180};    // LIA_COLLECTIONS_UTC_OFFSET_MINUTES
  // LIA_COLLECTIONS_MAX_IN_FLIGHT: messages of one campaign handed to notification whose
  // outcome has not come back; no more are requested until some have. A pause stops the
  // campaign within about this many messages (notification has no cancel), and an outage of
  // notification does not pile up the whole campaign in its queue.
  int max_in_flight = 200;
  // LIA_COLLECTIONS_PAUSE_AFTER_FAILURES: a campaign whose messages fail this many times in a
  // row for the service's trouble (credentials, the instance, a provider down: not the
  // debtor's, whose attempts are given back) is paused with the reason, until resumed.
  int pause_after_failures = 20;
  // LIA_COLLECTIONS_MAX_PER_MINUTE: campaign messages requested per minute on one provider
  // instance, every campaign and replica together (a WhatsApp number sending hundreds of
  // messages to people who never wrote is how numbers get banned; Meta's tiers cap the
  // business-initiated conversations too). Bursts of at most 10 seconds' worth (or two ticks').
  int max_per_minute = 60;
};
// Reads the settings above; problems are collected in `env`.
Settings read_settings(core::Env& env);

// ---- allowed hours ------------------------------------------------------------------

struct AllowedHours {
  std::string start = "08:00";  // HH:MM local
  std::string end = "20:00";    // HH:MM local, exclusive
  domain::WeekdaySet days = domain::WeekdaySet::monday_to_friday();
};
core::Result<domain::ContactHours> contact_hours(const AllowedHours& h,
                                                 std::chrono::minutes utc_offset);
domain::WeekdaySet weekdays_from_bits(int bits);
// "dom", "seg", "ter", "qua", "qui", "sex", "sab" for the days in the set, Sunday first.
std::vector<std::string> weekday_names(domain::WeekdaySet days);
// The end of the allowed window that contains `now` (nullopt when `now` is not allowed):
// the `not_after` of the commands sent now, so nothing queued is delivered after hours. A
// window to midnight whose next day opens at 00:00 is carried past midnight, up to 12 hours on.
std::optional<core::SysTime> window_end(const domain::ContactHours& hours, core::SysTime now);
// `t` in the hours' local time, "2026-11-23 08:00 (UTC-03:00)", for logs.
std::string local_time_text(core::SysTime t, std::chrono::minutes utc_offset);

// ---- campaign requests --------------------------------------------------------------

struct TargetInput {
  std::string name;
  std::string phone;                         // E.164 digits
  std::optional<std::string> document;       // normalized CPF/CNPJ
  std::optional<std::string> document_type;  // "CPF" / "CNPJ"
  std::int64_t debt_cents = 0;
  std::string due_date;       // YYYY-MM-DD
  domain::TemplateVars vars;  // extra template variables of this target
};

// A target the request cannot have: its index, the field and why.
struct TargetProblem {
  std::size_t index = 0;
  std::string field;
  std::string message;
};

// At most this many targets' problems are listed (in a 400, or as skipped); all are counted.
inline constexpr std::size_t kMaxListedTargetProblems = 100;
// Each listed problem's message is cut to this many bytes (the first one's, in the error's
// own `message`, is whole).
inline constexpr std::size_t kMaxProblemBytes = 300;

// A Meta campaign's message: Meta delivers a message the business starts (to a debtor who
// has not written in the last 24 hours) only as a template it approved. Each parameter is
// rendered for the target like the campaign's `template` ("{{name}}", "{{valor}}", ...) and
// fills the approved template's body {{1}}, {{2}}, ... in order.
struct MetaTemplate {
  std::string name;      // as approved: lower case, digits, '_'
  std::string language;  // "pt_BR"
  std::vector<std::string> parameters;
};

struct CampaignInput {
  std::string name;
  std::string description;
  std::string template_text;
  AllowedHours hours;
  int max_attempts = 3;
  int spacing_minutes = 1440;
  std::string provider;
  std::string instance;
  std::optional<MetaTemplate> meta_template;  // required with provider meta, refused otherwise
  std::string status = "active";              // active | draft
  std::vector<TargetInput> targets;
  // "skip_invalid_targets": true creates the campaign with the valid targets; these are the
  // ones left out (the first kMaxListedTargetProblems) and how many.
  bool skip_invalid_targets = false;
  std::vector<TargetProblem> skipped;
  std::size_t skipped_count = 0;
};

// Where a request went wrong: the field ("targets[2].phone", "template", "allowed_hours")
// and, for a target's problem, its index. When targets are at fault, every one of them is
// counted and the first kMaxListedTargetProblems listed, so one answer shows them all.
struct Invalid {
  std::string field;
  std::optional<std::size_t> target;
  std::string message;
  std::vector<TargetProblem> targets = {};
  std::size_t invalid_targets = 0;
};

struct CampaignDefaults {
  int max_attempts = 3;
  int spacing_minutes = 1440;
  AllowedHours hours;
  std::string provider = "evolution";
  std::string instance = kDefaultInstance;
  std::chrono::minutes utc_offset{-180};
};

inline constexpr std::size_t kMaxTargets = 10000;
// The largest body of POST /api/campaigns (its route's body_limit): room for kMaxTargets
// targets of about 1.6 KB each.
inline constexpr std::size_t kCreateBodyLimit = std::size_t{16} * 1024 * 1024;

// Parses and validates POST /api/campaigns: every target's phone (E.164, Brazilian rules),
// document (CPF/CNPJ check digits), amount and due date, the hours, and the template
// rendered for every target (a variable a target cannot fill is the target's error). Every
// target is checked: the Invalid counts and lists all the bad ones, or, with
// skip_invalid_targets, the campaign keeps the good ones and lists the rest as skipped.
std::variant<CampaignInput, Invalid> parse_campaign(std::string_view body,
                                                    const CampaignDefaults& defaults);

// The variables a target fills: name, valor ("R$ 1.234,56"), vencimento ("30/11/2026"),
// plus the target's own vars (which do not override these three).
domain::TemplateVars template_vars(const std::string& name, std::int64_t debt_cents,
                                   const std::string& due_date, const domain::TemplateVars& extra);
// 123456 -> "R$ 1.234,56"
std::string format_brl(std::int64_t cents);
// "2026-11-30" -> "30/11/2026"
std::string format_due_date(std::string_view iso_date);

// The chat a provider expects: Meta's wa_id (the digits), Evolution's JID
// ("<digits>@s.whatsapp.net"), as ingestion and conversation name chats.
std::string recipient(std::string_view provider, std::string_view phone_digits);

// ---- produced data ------------------------------------------------------------------

struct Attempt {
  std::string campaign_id;
  std::string target_id;
  int attempt = 1;
  std::string command_id;
  std::string provider;
  std::string instance;
  std::string to;
  std::string text;
  std::optional<MetaTemplate> meta_template;  // its parameters rendered for the target
  std::optional<core::SysTime> not_after;
};
// lia.notification.send_text (priority bulk)
std::string send_text_data(const Attempt& a);
// lia.notification.send_template (priority bulk), for an attempt with a meta_template
std::string send_template_data(const Attempt& a);

// The campaign's meta_template as stored (JSON) and read back; nullopt for SQL NULL / bad.
std::string meta_template_json(const MetaTemplate& t);
std::optional<MetaTemplate> parse_meta_template_json(std::string_view json_text);
// `t` with each parameter rendered with `vars`, or the first error.
core::Result<MetaTemplate> render_meta_template(const MetaTemplate& t,
                                                const domain::TemplateVars& vars);
// lia.collections.message.requested
std::string message_requested_data(const Attempt& a);

}  // namespace lia::collections
