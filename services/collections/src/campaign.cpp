#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>

#include <fmt/format.h>

#include <lia/collections/campaign.hpp>
#include <lia/core/text.hpp>
#include <lia/domain/document.hpp>
#include <lia/domain/phone.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/runtime/authorize.hpp>

namespace lia::collections {
namespace {

std::string target_field(std::size_t i, std::string_view key) {
  return "targets[" + std::to_string(i) + "]" + (key.empty() ? "" : ".") + std::string(key);
}

bool valid_date(std::string_view s) {
  const auto d = core::parse_date(s);
  return d && d->year() >= std::chrono::year{1900};
}

// The days of an allowed_hours object: a string ("seg-sex") or an array of day names or
// numbers (0 Sunday .. 6 Saturday).
core::Result<domain::WeekdaySet> read_days(const json::Value& v) {
  if (v.IsString()) return domain::parse_weekdays(json::view(v));
  if (!v.IsArray()) {
    return core::Error(core::Errc::invalid_argument, "days must be a string or an array of days");
  }
  std::string joined;
  for (const auto& d : v.GetArray()) {
    if (!joined.empty()) joined += ",";
    if (d.IsString()) {
      joined += json::view(d);
    } else if (d.IsInt() && d.GetInt() >= 0 && d.GetInt() <= 6) {
      joined += std::to_string(d.GetInt());
    } else {
      return core::Error(core::Errc::invalid_argument, "days must hold day names or numbers 0..6");
    }
  }
  if (joined.empty()) return core::Error(core::Errc::invalid_argument, "days must not be empty");
  return domain::parse_weekdays(joined);
}

// A Meta phone_number_id's shape.
bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

}  // namespace

Settings read_settings(core::Env& env) {
  Settings s;
  s.jwt_secret = runtime::jwt_secret(env);
  s.tick = env.millis("LIA_COLLECTIONS_TICK_MS", std::chrono::milliseconds{5000},
                      std::chrono::milliseconds{50}, std::chrono::hours{1});
  s.provider = env.one_of("LIA_COLLECTIONS_PROVIDER", "evolution", {"meta", "evolution"});
  const auto instance = env.optional("LIA_COLLECTIONS_INSTANCE");
  if (!instance && s.provider == "meta") {
    // The default is an Evolution instance's name: as a Meta phone_number_id every send of
    // every campaign would fail, and the campaigns pause one after the other.
    env.problem("LIA_COLLECTIONS_INSTANCE",
                "must be set (the business number's phone_number_id) when "
                "LIA_COLLECTIONS_PROVIDER is meta: the default '" +
                    std::string(kDefaultInstance) + "' is an Evolution instance's name");
  }
  s.instance = instance.value_or(std::string(kDefaultInstance));
  if (core::trim(s.instance).size() != s.instance.size()) {
    env.problem("LIA_COLLECTIONS_INSTANCE", "has whitespace at its start or end (or is blank)");
  }
  if (s.instance.size() > 128)
    env.problem("LIA_COLLECTIONS_INSTANCE", "must be at most 128 characters");
  if (instance && s.provider == "meta" && !all_digits(s.instance)) {
    env.problem("LIA_COLLECTIONS_INSTANCE",
                "must be the business number's phone_number_id (digits only) when "
                "LIA_COLLECTIONS_PROVIDER is meta");
  }
  s.utc_offset = std::chrono::minutes{env.integer("LIA_COLLECTIONS_UTC_OFFSET_MINUTES", -180,
                                                  std::int64_t{-12} * 60, std::int64_t{14} * 60)};
  s.max_in_flight = static_cast<int>(env.integer("LIA_COLLECTIONS_MAX_IN_FLIGHT", 200, 1, 100000));
  s.pause_after_failures =
      static_cast<int>(env.integer("LIA_COLLECTIONS_PAUSE_AFTER_FAILURES", 20, 1, 100000));
  s.max_per_minute =
      static_cast<int>(env.integer("LIA_COLLECTIONS_MAX_PER_MINUTE", 60, 1, 1000000));
  return s;
}

core::Result<domain::ContactHours> contact_hours(const AllowedHours& h,
                                                 std::chrono::minutes utc_offset) {
  if (h.days.empty()) {
    return core::Error(core::Errc::invalid_argument, "allowed_hours.days opens no day of the week");
  }
  return domain::ContactHours::make(h.start, h.end, h.days, utc_offset);
}

domain::WeekdaySet weekdays_from_bits(int bits) {
  domain::WeekdaySet s;
  for (unsigned i = 0; i < 7; ++i) {
    if ((bits >> i) & 1) s.add(std::chrono::weekday{i});
  }
  return s;
}

std::vector<std::string> weekday_names(domain::WeekdaySet days) {
  static const char* const kNames[] = {"dom", "seg", "ter", "qua", "qui", "sex", "sab"};
  std::vector<std::string> out;
  for (unsigned i = 0; i < 7; ++i) {
    if (days.contains(std::chrono::weekday{i})) out.emplace_back(kNames[i]);
  }
  return out;
}

std::optional<core::SysTime> window_end(const domain::ContactHours& hours, core::SysTime now) {
  if (!hours.allowed_at(now)) return std::nullopt;
  const auto local = now + hours.utc_offset();
  const auto day = std::chrono::floor<std::chrono::days>(local);
  auto w = hours.window(std::chrono::weekday{day});
  if (!w) return std::nullopt;
  core::SysTime end = day + std::chrono::minutes{w->end_min};  // local, as `local` is
  // A window to midnight that the next day's opens at midnight goes on (an all-day window):
  // a batch sent at 23:59:50 is not given 10 s. It is carried into the next days up to 12
  // hours from now, so a command older than a day is still always past its not_after.
  const auto carried_to = local + std::chrono::hours{12};
  for (auto d = day + std::chrono::days{1}; w && w->end_min == 24 * 60 && end < carried_to;
       d += std::chrono::days{1}) {
    w = hours.window(std::chrono::weekday{d});
    if (!w || w->start_min != 0) break;
    end = std::min<core::SysTime>(d + std::chrono::minutes{w->end_min}, carried_to);
  }
  return end - hours.utc_offset();
}

std::string local_time_text(core::SysTime t, std::chrono::minutes utc_offset) {
  const auto local = t + utc_offset;
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{day};
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(local - day).count();
  const auto off = utc_offset.count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld (UTC%c%02lld:%02lld)",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(minutes / 60),
                static_cast<long long>(minutes % 60), off < 0 ? '-' : '+',
                static_cast<long long>(std::abs(off) / 60),
                static_cast<long long>(std::abs(off) % 60));
  return buf;
}

namespace {

bool template_name_ok(std::string_view s) {
  return !s.empty() && s.size() <= 512 && std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
}

// "pt_BR", "en", "es_MX": what Meta's templates and the send_template schema take.
bool language_ok(std::string_view s) {
  const auto lower = [](char ch) { return ch >= 'a' && ch <= 'z'; };
  const auto upper = [](char ch) { return ch >= 'A' && ch <= 'Z'; };
  const std::size_t code = s.find('_') == std::string_view::npos ? s.size() : s.find('_');
  if (code < 2 || code > 3 || !std::all_of(s.begin(), s.begin() + static_cast<long>(code), lower)) {
    return false;
  }
  if (code == s.size()) return true;
  return s.size() == code + 3 && upper(s[code + 1]) && upper(s[code + 2]);
}

// The campaign's meta_template {name, language, parameters?}.
std::variant<MetaTemplate, Invalid> parse_meta_template(const json::Obj& m) {
  if (auto st = m.only({"name", "language", "parameters"}); !st) {
    return Invalid{"meta_template", std::nullopt, st.error().message()};
  }
  MetaTemplate t;
  auto name = m.nonempty_str("name");
  if (!name) return Invalid{"meta_template.name", std::nullopt, name.error().message()};
  if (!template_name_ok(*name)) {
    return Invalid{"meta_template.name", std::nullopt,
                   "'meta_template.name' must be the approved template's name: 1..512 of a-z, "
                   "0-9 and _"};
  }
  t.name = std::string(*name);
  auto language = m.nonempty_str("language");
  if (!language) {
    return Invalid{"meta_template.language", std::nullopt, language.error().message()};
  }
  if (!language_ok(*language)) {
    return Invalid{"meta_template.language", std::nullopt,
                   "'meta_template.language' must be a language code such as pt_BR"};
  }
  t.language = std::string(*language);
  auto params = m.opt_arr("parameters");
  if (!params) {
    return Invalid{"meta_template.parameters", std::nullopt, params.error().message()};
  }
  if (*params) {
    if ((*params)->size() > 32) {
      return Invalid{"meta_template.parameters", std::nullopt,
                     "'meta_template.parameters' holds more than 32 parameters"};
    }
    for (std::size_t k = 0; k < (*params)->size(); ++k) {
      const std::string field = "meta_template.parameters[" + std::to_string(k) + "]";
      auto p = (*params)->str(k);
      if (!p || p->empty() || p->size() > 1024) {
        return Invalid{field, std::nullopt, "'" + field + "' must be a text of 1..1024 bytes"};
      }
      if (auto ph = domain::template_placeholders(*p); !ph) {
        return Invalid{field, std::nullopt, "invalid template: " + ph.error().message()};
      }
      t.parameters.emplace_back(*p);
    }
  }
  return t;
}

// One target of the request, `i` its index: its fields, and the template rendered for it.
// `seen` holds the numbers of the targets before it (valid or not), for the repeated-number
// rule.
std::variant<TargetInput, Invalid> parse_target(const json::Arr& targets, std::size_t i,
                                                const std::string& template_text,
                                                const std::optional<MetaTemplate>& meta,
                                                std::map<std::string, std::size_t>& seen) {
  auto t = targets.obj(i);
  if (!t) return Invalid{target_field(i, ""), i, t.error().message()};
  TargetInput in;

  // The phone first: a later target repeating it is at fault whatever else is wrong here.
  auto phone_text = t->nonempty_str("phone");
  if (!phone_text) return Invalid{target_field(i, "phone"), i, phone_text.error().message()};
  auto phone = domain::normalize_phone(*phone_text);
  if (!phone) {
    return Invalid{target_field(i, "phone"), i,
                   target_field(i, "phone") + ": invalid phone number: " + phone.error().message()};
  }
  in.phone = phone->digits;
  if (auto [it, fresh] = seen.emplace(in.phone, i); !fresh) {
    return Invalid{target_field(i, "phone"), i,
                   target_field(i, "phone") + ": the same number as targets[" +
                       std::to_string(it->second) + "]"};
  }

  auto tname = t->nonempty_str("name");
  if (!tname) return Invalid{target_field(i, "name"), i, tname.error().message()};
  if (tname->size() > 200)
    return Invalid{target_field(i, "name"), i, "name is longer than 200 bytes"};
  in.name = std::string(*tname);

  auto doc_text = t->opt_str("document");
  if (!doc_text) return Invalid{target_field(i, "document"), i, doc_text.error().message()};
  if (*doc_text && !(*doc_text)->empty()) {
    auto d = domain::parse_document(**doc_text);
    if (!d) {
      return Invalid{target_field(i, "document"), i,
                     target_field(i, "document") + ": invalid CPF/CNPJ: " + d.error().message()};
    }
    in.document = d->value;
    in.document_type = std::string(domain::to_string(d->type));
  }

  auto amount = t->num("debt_amount");
  if (!amount) return Invalid{target_field(i, "debt_amount"), i, amount.error().message()};
  const double cents = *amount * 100.0;
  // The product's rounding error grows with the amount (about 1e-5 cents at R$ 10^9): the
  // tolerance follows it, far below the 0.1 cent a third decimal would leave.
  const double tolerance =
      std::max(1e-6, 8 * std::numeric_limits<double>::epsilon() * std::fabs(cents));
  if (!std::isfinite(cents) || cents < 1 - tolerance || cents > 1e13 ||
      std::fabs(cents - std::round(cents)) > tolerance) {
    return Invalid{
        target_field(i, "debt_amount"), i,
        target_field(i, "debt_amount") +
            " must be a positive amount in reais (at least 0.01) with at most 2 decimals"};
  }
  in.debt_cents = std::llround(cents);

  auto due = t->str("due_date");
  if (!due) return Invalid{target_field(i, "due_date"), i, due.error().message()};
  if (!valid_date(*due)) {
    return Invalid{target_field(i, "due_date"), i,
                   target_field(i, "due_date") + " must be a date YYYY-MM-DD"};
  }
  in.due_date = std::string(*due);

  auto vars = t->opt_obj("vars");
  if (!vars) return Invalid{target_field(i, "vars"), i, vars.error().message()};
  if (*vars) {
    for (const auto& m : (*vars)->value().GetObject()) {
      const std::string key(json::view(m.name));
      if (m.value.IsString()) {
        in.vars[key] = std::string(json::view(m.value));
      } else if (m.value.IsNumber()) {
        in.vars[key] = json::to_string(m.value);
      } else {
        return Invalid{target_field(i, "vars"), i,
                       target_field(i, "vars." + key) + " must be a string or a number"};
      }
    }
  }

  const auto vars_of_target = template_vars(in.name, in.debt_cents, in.due_date, in.vars);
  if (meta) {
    if (auto rendered = render_meta_template(*meta, vars_of_target); !rendered) {
      return Invalid{"meta_template", i,
                     target_field(i, "") + ": meta_template.parameters cannot be rendered: " +
                         rendered.error().message()};
    }
  }
  auto text = domain::render_template(template_text, vars_of_target);
  if (!text) {
    return Invalid{
        "template", i,
        target_field(i, "") + ": the template cannot be rendered: " + text.error().message()};
  }
  if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
    // The scheduler could only fail it.
    return Invalid{"template", i, target_field(i, "") + ": the rendered message is empty"};
  }
  if (text->size() > 4096) {
    return Invalid{"template", i,
                   target_field(i, "") + ": the rendered message is longer than 4096 bytes"};
  }
  return in;
}

}  // namespace

std::variant<CampaignInput, Invalid> parse_campaign(std::string_view body,
                                                    const CampaignDefaults& defaults) {
  auto doc = json::parse(body);
  if (!doc) return Invalid{"body", std::nullopt, doc.error().message()};
  auto root = json::Obj::root(*doc);
  if (!root) return Invalid{"body", std::nullopt, root.error().message()};
  const json::Obj& o = *root;
  // A typo ("max_attempt") would otherwise leave the default in place without a word.
  if (auto st = o.only({"name", "description", "template", "meta_template", "allowed_hours",
                        "max_attempts", "spacing_minutes", "provider", "instance", "status",
                        "skip_invalid_targets", "targets"});
      !st) {
    return Invalid{"body", std::nullopt, st.error().message()};
  }

  CampaignInput c;
  c.max_attempts = defaults.max_attempts;
  c.spacing_minutes = defaults.spacing_minutes;
  c.hours = defaults.hours;
  c.provider = defaults.provider;
  c.instance = defaults.instance;

  auto name = o.nonempty_str("name");
  if (!name) return Invalid{"name", std::nullopt, name.error().message()};
  if (name->size() > 200) return Invalid{"name", std::nullopt, "'name' is longer than 200 bytes"};
  c.name = std::string(*name);

  auto description = o.opt_str("description");
  if (!description) return Invalid{"description", std::nullopt, description.error().message()};
  if (*description) {
    if ((*description)->size() > 2000) {
      return Invalid{"description", std::nullopt, "'description' is longer than 2000 bytes"};
    }
    c.description = std::string(**description);
  }

  auto tmpl = o.nonempty_str("template");
  if (!tmpl) return Invalid{"template", std::nullopt, tmpl.error().message()};
  if (tmpl->size() > 4096)
    return Invalid{"template", std::nullopt, "'template' is longer than 4096 bytes"};
  if (auto ph = domain::template_placeholders(*tmpl); !ph) {
    return Invalid{"template", std::nullopt, "invalid template: " + ph.error().message()};
  }
  c.template_text = std::string(*tmpl);

  auto hours = o.opt_obj("allowed_hours");
  if (!hours) return Invalid{"allowed_hours", std::nullopt, hours.error().message()};
  if (*hours) {
    const json::Obj& h = **hours;
    // A misspelt "days" would otherwise send on the default days.
    if (auto st = h.only({"start", "end", "days"}); !st) {
      return Invalid{"allowed_hours", std::nullopt, st.error().message()};
    }
    // Each of start, end and days left out keeps its default.
    for (const auto& [key, slot] : {std::pair<const char*, std::string*>{"start", &c.hours.start},
                                    std::pair<const char*, std::string*>{"end", &c.hours.end}}) {
      const std::string field = std::string("allowed_hours.") + key;
      if (const json::Value* v = h.get(key); v == nullptr || v->IsNull()) continue;
      auto text = h.nonempty_str(key);
      if (!text) return Invalid{field, std::nullopt, text.error().message()};
      *slot = std::string(*text);
    }
    if (const json::Value* days = h.get("days"); days != nullptr && !days->IsNull()) {
      auto set = read_days(*days);
      if (!set) return Invalid{"allowed_hours.days", std::nullopt, set.error().message()};
      c.hours.days = *set;
    }
  }
  auto ch = contact_hours(c.hours, defaults.utc_offset);
  if (!ch) return Invalid{"allowed_hours", std::nullopt, ch.error().message()};
  // Store the canonical HH:MM form.
  if (auto s = domain::parse_hhmm(c.hours.start)) c.hours.start = domain::format_hhmm(*s);
  if (auto e = domain::parse_hhmm(c.hours.end)) c.hours.end = domain::format_hhmm(*e);

  auto max_attempts = o.opt_i64("max_attempts");
  if (!max_attempts) return Invalid{"max_attempts", std::nullopt, max_attempts.error().message()};
  if (*max_attempts) {
    if (**max_attempts < 1 || **max_attempts > 20) {
      return Invalid{"max_attempts", std::nullopt, "'max_attempts' must be 1..20"};
    }
    c.max_attempts = static_cast<int>(**max_attempts);
  }
  auto spacing = o.opt_i64("spacing_minutes");
  if (!spacing) return Invalid{"spacing_minutes", std::nullopt, spacing.error().message()};
  if (*spacing) {
    if (**spacing < 1 || **spacing > 43200) {
      return Invalid{"spacing_minutes", std::nullopt,
                     "'spacing_minutes' must be 1..43200 (30 days)"};
    }
    c.spacing_minutes = static_cast<int>(**spacing);
  }
  auto provider = o.opt_str("provider");
  if (!provider) return Invalid{"provider", std::nullopt, provider.error().message()};
  if (*provider) {
    if (**provider != "meta" && **provider != "evolution") {
      return Invalid{"provider", std::nullopt, "'provider' must be meta or evolution"};
    }
    c.provider = std::string(**provider);
  }
  auto instance = o.opt_str("instance");
  if (!instance) return Invalid{"instance", std::nullopt, instance.error().message()};
  if (*instance) {
    if ((*instance)->empty() || (*instance)->size() > 128) {
      return Invalid{"instance", std::nullopt, "'instance' must be 1..128 characters"};
    }
    if (core::trim(**instance).size() != (*instance)->size()) {
      // notification would answer "unknown instance" for every attempt, and no reply would
      // match the campaign.
      return Invalid{"instance", std::nullopt, "'instance' must not start or end with whitespace"};
    }
    if (c.provider == "meta" && !all_digits(**instance)) {
      // Meta would refuse every attempt (code 100: no such object).
      return Invalid{"instance", std::nullopt,
                     "'instance' of a meta campaign is its phone number id: digits only"};
    }
    c.instance = std::string(**instance);
  } else if (c.provider != defaults.provider) {
    // The default instance is the default provider's: a Meta phone number id is no
    // Evolution instance, nor the other way round, and every attempt would fail.
    return Invalid{"instance", std::nullopt,
                   fmt::format("'instance' is required when 'provider' is {} (the default "
                               "instance '{}' is {}'s)",
                               c.provider, defaults.instance, defaults.provider)};
  }
  auto meta = o.opt_obj("meta_template");
  if (!meta) return Invalid{"meta_template", std::nullopt, meta.error().message()};
  if (*meta) {
    auto parsed = parse_meta_template(**meta);
    if (auto* bad = std::get_if<Invalid>(&parsed)) return std::move(*bad);
    c.meta_template = std::get<MetaTemplate>(std::move(parsed));
  }
  if (c.provider == "meta" && !c.meta_template) {
    return Invalid{"meta_template", std::nullopt,
                   "a Meta campaign needs 'meta_template' {name, language, parameters}: Meta "
                   "delivers a message the business starts only as a template it approved"};
  }
  if (c.provider != "meta" && c.meta_template) {
    return Invalid{"meta_template", std::nullopt,
                   "'meta_template' is for provider meta; an Evolution campaign sends 'template'"};
  }
  auto status = o.opt_str("status");
  if (!status) return Invalid{"status", std::nullopt, status.error().message()};
  if (*status) {
    if (**status != "active" && **status != "draft") {
      return Invalid{"status", std::nullopt, "'status' must be active or draft"};
    }
    c.status = std::string(**status);
  }

  auto skip_flag = o.opt_boolean("skip_invalid_targets");
  if (!skip_flag) {
    return Invalid{"skip_invalid_targets", std::nullopt, skip_flag.error().message()};
  }
  c.skip_invalid_targets = skip_flag->value_or(false);

  auto targets = o.arr("targets");
  if (!targets) return Invalid{"targets", std::nullopt, targets.error().message()};
  if (targets->empty()) return Invalid{"targets", std::nullopt, "'targets' must not be empty"};
  if (targets->size() > kMaxTargets) {
    return Invalid{"targets", std::nullopt,
                   "'targets' holds more than " + std::to_string(kMaxTargets) + " targets"};
  }
  std::vector<TargetProblem> problems;
  std::size_t invalid = 0;
  std::optional<Invalid> first_bad;
  std::map<std::string, std::size_t> seen_phones;
  c.targets.reserve(targets->size());
  for (std::size_t i = 0; i < targets->size(); ++i) {
    auto parsed = parse_target(*targets, i, c.template_text, c.meta_template, seen_phones);
    if (auto* in = std::get_if<TargetInput>(&parsed)) {
      c.targets.push_back(std::move(*in));
      continue;
    }
    auto& bad = std::get<Invalid>(parsed);
    ++invalid;
    if (problems.size() < kMaxListedTargetProblems) {
      // A problem every target shares (a variable the template needs and none fills) would
      // otherwise repeat its long message a hundred times.
      problems.push_back({i, bad.field, core::valid_utf8(bad.message, kMaxProblemBytes)});
    }
    if (!first_bad) first_bad = std::move(bad);
  }
  if (first_bad && !c.skip_invalid_targets) {
    // The first one's field, index and whole message, as an answer naming one target had.
    first_bad->targets = std::move(problems);
    first_bad->invalid_targets = invalid;
    return *std::move(first_bad);
  }
  if (c.targets.empty()) {
    return Invalid{"targets", std::nullopt,
                   "no valid target among the " + std::to_string(invalid) + " given",
                   std::move(problems), invalid};
  }
  c.skipped = std::move(problems);
  c.skipped_count = invalid;
  return c;
}

domain::TemplateVars template_vars(const std::string& name, std::int64_t debt_cents,
                                   const std::string& due_date, const domain::TemplateVars& extra) {
  domain::TemplateVars v = extra;
  v["name"] = name;
  v["valor"] = format_brl(debt_cents);
  v["vencimento"] = format_due_date(due_date);
  return v;
}

std::string format_brl(std::int64_t cents) {
  const bool negative = cents < 0;
  std::uint64_t abs =
      negative ? static_cast<std::uint64_t>(-(cents + 1)) + 1 : static_cast<std::uint64_t>(cents);
  std::string whole = std::to_string(abs / 100);
  std::string grouped;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) grouped += '.';
    grouped += whole[i];
  }
  char frac[4];
  std::snprintf(frac, sizeof frac, "%02u", static_cast<unsigned>(abs % 100));
  return std::string(negative ? "-R$ " : "R$ ") + grouped + "," + frac;
}

std::string format_due_date(std::string_view iso) {
  if (iso.size() != 10) return std::string(iso);
  return std::string(iso.substr(8, 2)) + "/" + std::string(iso.substr(5, 2)) + "/" +
         std::string(iso.substr(0, 4));
}

std::string recipient(std::string_view provider, std::string_view phone_digits) {
  if (provider == "evolution") return std::string(phone_digits) + "@s.whatsapp.net";
  return std::string(phone_digits);
}

namespace {

// What every send command of a campaign carries; the object stays open.
void command_head(json::Writer& w, const Attempt& a) {
  w.begin_object()
      .field("command_id", a.command_id)
      .field("provider", a.provider)
      .field("instance", a.instance)
      .field("to", a.to);
  if (a.not_after) w.field("not_after", core::format_rfc3339(*a.not_after));
  // A failed attempt is given back and made again as a new command (README, "given back"):
  // its dead letter, replayed, must not send the same message a second time.
  w.field("priority", "bulk").field("replayable", false);
}

}  // namespace

std::string send_text_data(const Attempt& a) {
  json::Writer w;
  command_head(w, a);
  w.field("text", a.text).end_object();
  return w.take();
}

std::string send_template_data(const Attempt& a) {
  json::Writer w;
  command_head(w, a);
  w.key("template").raw(meta_template_json(a.meta_template.value_or(MetaTemplate{})));
  w.end_object();
  return w.take();
}

std::string meta_template_json(const MetaTemplate& t) {
  json::Writer w;
  w.begin_object()
      .field("name", t.name)
      .field("language", t.language)
      .key("parameters")
      .begin_array();
  for (const auto& p : t.parameters) w.value(p);
  w.end_array().end_object();
  return w.take();
}

std::optional<MetaTemplate> parse_meta_template_json(std::string_view json_text) {
  auto doc = json::parse(json_text);
  if (!doc) return std::nullopt;
  auto o = json::Obj::root(*doc);
  if (!o) return std::nullopt;
  auto parsed = parse_meta_template(*o);
  if (auto* t = std::get_if<MetaTemplate>(&parsed)) return std::move(*t);
  return std::nullopt;
}

core::Result<MetaTemplate> render_meta_template(const MetaTemplate& t,
                                                const domain::TemplateVars& vars) {
  MetaTemplate out{t.name, t.language, {}};
  out.parameters.reserve(t.parameters.size());
  for (std::size_t k = 0; k < t.parameters.size(); ++k) {
    auto text = domain::render_template(t.parameters[k], vars);
    if (!text) {
      return core::Error(core::Errc::invalid_argument,
                         "parameters[" + std::to_string(k) + "]: " + text.error().message());
    }
    if (text->find_first_not_of(" \t\r\n") == std::string::npos || text->size() > 1024) {
      return core::Error(core::Errc::invalid_argument,
                         "parameters[" + std::to_string(k) + "] renders blank or past 1024 bytes");
    }
    // Meta refuses a parameter with a line break or a tab, or more than four spaces in a row
    // (its error 132018), every attempt alike.
    if (text->find_first_of("\t\r\n") != std::string::npos ||
        text->find("     ") != std::string::npos) {
      return core::Error(core::Errc::invalid_argument,
                         "parameters[" + std::to_string(k) +
                             "] renders with a line break, a tab or more than four spaces in a "
                             "row, which Meta refuses");
    }
    out.parameters.push_back(std::move(*text));
  }
  return out;
}

std::string message_requested_data(const Attempt& a) {
  json::Writer w;
  w.begin_object()
      .field("campaign_id", a.campaign_id)
      .field("target_id", a.target_id)
      .field("attempt", a.attempt)
      .field("command_id", a.command_id)
      .field("provider", a.provider)
      .field("instance", a.instance)
      .field("to", a.to);
  // What the debtor was sent, for the conversation their answer opens (conversation keeps it).
  if (a.meta_template) {
    w.field("template", a.meta_template->name).key("parameters").begin_array();
    for (const auto& p : a.meta_template->parameters) w.value(p);
    w.end_array();
  } else {
    w.field("text", a.text);
  }
  w.end_object();
  return w.take();
}

}  // namespace lia::collections
