#pragma once
// Phone numbers as WhatsApp sees them, normalized to E.164 digits (no '+').
//
// Brazilian numbers (country code 55) are "55" + DDD (2-digit area code) + subscriber:
// - mobile: 9 digits starting with 9 ("55 11 9 8765-4321");
// - landline: 8 digits starting with 2..5 ("55 11 3456-7890").
// WhatsApp often reports mobiles without the ninth digit ("551187654321"): an 8-digit
// subscriber starting with 6..9 is a mobile and gets the 9 added back, so a contact has one
// identity whichever form arrives.
//
// Accepted inputs (surrounding whitespace ignored):
//   "5511987654321", "+55 (11) 98765-4321", "11987654321" (10 or 11 digits: +55 assumed),
//   "011987654321" (trunk prefix 0), "005511987654321" (international prefix 00),
//   "5511987654321@s.whatsapp.net", "5511987654321:12@s.whatsapp.net" (device suffix),
//   "5511987654321@c.us" (older Evolution form), "+1 415 555 2671" (other country).
// Rejected: group JIDs (@g.us), @lid JIDs (the caller must resolve them to a phone first),
// broadcast and newsletter JIDs, letters, a DDD that does not exist, bad lengths.
// Numbers of other countries are kept as digits when they have 8..15 digits; no
// country-specific rule is applied to them.
//
// Error messages never contain the number itself (they end up in logs).

#include <string>
#include <string_view>
#include <vector>

#include <lia/core/result.hpp>

namespace lia::domain {

enum class PhoneKind { br_mobile, br_landline, international };
std::string_view to_string(PhoneKind k) noexcept;

struct Phone {
  std::string digits;  // E.164 without '+': "5511987654321"
  PhoneKind kind = PhoneKind::international;

  bool brazilian() const noexcept { return kind != PhoneKind::international; }
  // The area code of a Brazilian number ("11"); empty for other countries.
  std::string_view ddd() const noexcept;
  // "+5511987654321"
  std::string e164() const { return "+" + digits; }

  friend bool operator==(const Phone&, const Phone&) = default;
};

// A number as a person writes it: "+55 (11) 98765-4321", "(11) 98765-4321" (+55 assumed),
// "011 98765-4321" (trunk prefix), "0 15 11 98765-4321" (trunk prefix and a carrier), "0055…"
// or "00 21 55 …" (from Brazil, 00 and a carrier), a
// JID. A "(DDD)" in parentheses is always national (DDD 55 is also the country code). Another
// country's number needs its '+': without it, 12 or more digits that do not start
// with 55 are refused (a Brazilian number with a digit too many must not become a number
// abroad), and so is 00 followed by anything but a carrier and 55 (a carrier's two digits
// cannot be told from a country code).
core::Result<Phone> normalize_phone(std::string_view input);

// A number as WhatsApp itself reports it: a JID, or digits that always start with the country
// code (Meta's `from` and `wa_id`, a JID's user part, E.164 without '+'). Unlike
// normalize_phone, 10 or 11 digits are not taken for a Brazilian DDD + number:
// "14155552671" is +1 415 555 2671, not a number in area code 14. Brazilian numbers still get
// their ninth digit ("551187654321" -> "5511987654321").
core::Result<Phone> normalize_wa_id(std::string_view input);

// "5511987654321@s.whatsapp.net"
std::string to_whatsapp_jid(const Phone& phone);

// The ways a one-to-one chat may be written: `chat` itself first, then, for a phone (as
// normalize_wa_id, else normalize_phone, reads it), its E.164 digits and, for a Brazilian
// mobile, the same without the ninth digit (as WhatsApp names older accounts) when that reads
// back as the same number, each bare (Meta) and as a JID (Evolution). A group, an @lid or anything
// else that names no phone: itself only.
std::vector<std::string> chat_spellings(std::string_view chat);

// What a WhatsApp JID names, from its server part.
enum class JidKind {
  user,        // @s.whatsapp.net, @c.us: a phone
  group,       // @g.us
  lid,         // @lid: a privacy id the provider must resolve to a phone
  broadcast,   // @broadcast (status@broadcast, broadcast lists)
  newsletter,  // @newsletter (channels)
  not_a_jid,   // no '@'
  unknown,     // any other server
};
JidKind jid_kind(std::string_view jid) noexcept;
std::string_view to_string(JidKind k) noexcept;

// True for the 67 Brazilian area codes in use (Anatel numbering plan): 11-19, 21, 22, 24,
// 27, 28, 31-35, 37, 38, 41-49, 51, 53-55, 61-69, 71, 73-75, 77, 79, 81-89, 91-99.
bool is_valid_ddd(int ddd) noexcept;

}  // namespace lia::domain
