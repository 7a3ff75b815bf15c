// Request bodies of the REST APIs: the agent API of conversation (login, users, messages,
// transfers, resolutions) and collections' campaigns, with the time bounds of nps_gamification's
// reports. Their callers are authenticated, but a client's bug or a hostile insider may send
// anything; the answer must be a 400 that names the field, never a crash.
// Input: byte 0 chooses the parser, the rest is the body.
// Properties:
//   - a refused body is invalid_argument and says why (the API's 400);
//   - an accepted body holds what the handlers rely on: user names and passwords within their
//     limits, a transfer's agent a UUID, a campaign with 1 to 10,000 targets whose phones are
//     E.164 digits and whose template rendered.

#include <variant>

#include <lia/collections/campaign.hpp>
#include <lia/conversation/api_bodies.hpp>
#include <lia/domain/phone.hpp>
#include <lia/nps_gamification/messages.hpp>

#include "fuzz.hpp"

namespace {

using lia::fuzz::require;
namespace conv = lia::conversation;
namespace coll = lia::collections;

template <typename R>
void refused_well(const R& r) {
  if (r.ok()) return;
  require(r.error().code() == lia::core::Errc::invalid_argument, "a refused body is a 400",
          r.error().describe());
  require(!r.error().message().empty(), "a refused body says why");
}

void campaign(std::string_view body) {
  static const coll::CampaignDefaults defaults;
  auto parsed = coll::parse_campaign(body, defaults);
  if (const auto* bad = std::get_if<coll::Invalid>(&parsed)) {
    require(!bad->field.empty() && !bad->message.empty(), "a refused campaign names the field");
    return;
  }
  const auto& c = std::get<coll::CampaignInput>(parsed);
  require(!c.targets.empty() && c.targets.size() <= coll::kMaxTargets,
          "a campaign has 1 to 10,000 targets");
  for (const auto& t : c.targets) {
    auto phone = lia::domain::normalize_phone("+" + t.phone);
    require(phone && phone->digits == t.phone, "a target's phone is E.164 digits", t.phone);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = lia::fuzz::split_choice(data, size);
  if (!in) return 0;
  const auto [pick, input] = *in;
  switch (pick % 7) {
    case 0:
      refused_well(conv::parse_login(input));
      break;
    case 1: {
      auto u = conv::parse_new_user(input);
      refused_well(u);
      if (u) {
        require(u->username.size() >= 3 && u->username.size() <= 64, "a user name has 3 to 64",
                u->username);
        require(u->password.size() >= 8 && u->password.size() <= 256,
                "a password has 8 to 256 bytes");
        require(!u->departments.empty(), "a user has a department");
      }
      break;
    }
    case 2:
      refused_well(conv::parse_send_text(input));
      break;
    case 3: {
      auto t = conv::parse_transfer(input);
      refused_well(t);
      if (t) require(conv::is_uuid(t->agent_id), "a transfer's agent is a UUID", t->agent_id);
      break;
    }
    case 4:
      refused_well(conv::parse_resolve(input));
      break;
    case 5:
      campaign(input);
      break;
    default:
      refused_well(lia::nps_gamification::parse_time_bound(input, std::chrono::minutes{-180}));
      break;
  }
  return 0;
}
