#include "tools.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <map>
#include <vector>

#include <fmt/format.h>

#include <lia/core/clock.hpp>
#include <lia/core/text.hpp>
#include <lia/json/json.hpp>

namespace lia::ai_orchestration {
namespace {

constexpr CoverageArea kCoverage[] = {
    {"01", "São Paulo", "fibra", 1000},      {"02", "São Paulo", "fibra", 1000},
    {"03", "São Paulo", "fibra", 1000},      {"04", "São Paulo", "fibra", 1000},
    {"05", "São Paulo", "fibra", 1000},      {"130", "Campinas", "fibra", 1000},
    {"131", "Campinas", "fibra", 1000},      {"200", "Rio de Janeiro", "fibra", 500},
    {"201", "Rio de Janeiro", "fibra", 500}, {"220", "Rio de Janeiro", "fibra", 500},
    {"300", "Belo Horizonte", "fibra", 500}, {"301", "Belo Horizonte", "fibra", 500},
    {"800", "Curitiba", "fibra", 1000},      {"801", "Curitiba", "fibra", 1000},
    {"880", "Florianópolis", "fibra", 500},
};

constexpr const char* kDepartments[] = {"support", "commercial", "financial", "cancellation",
                                        "general"};

ToolInvocation failed(ToolInvocation inv, std::string why) {
  inv.ok = false;
  inv.error = std::move(why);
  inv.result_json.clear();
  return inv;
}

ToolInvocation succeeded(ToolInvocation inv, std::string result) {
  inv.ok = true;
  inv.result_json = std::move(result);
  inv.error.clear();
  return inv;
}

// The CEP argument: 8 digits, or the reason it is not one.
core::Result<std::string> cep_argument(const json::Obj& args) {
  auto cep = args.str("cep");
  if (!cep) return cep.error();
  auto digits = normalize_cep(*cep);
  if (!digits) {
    return core::Error(core::Errc::invalid_argument,
                       "argument 'cep' must be a CEP of 8 digits (e.g. 01310-100)");
  }
  return *digits;
}

std::string run_transfer(const json::Obj& args, std::string& error) {
  auto reason = args.nonempty_str("reason");
  if (!reason) {
    error = reason.error().message();
    return {};
  }
  auto dep = args.opt_str("department");
  if (!dep) {
    error = dep.error().message();
    return {};
  }
  json::Writer w;
  w.begin_object().field("transferred", true);
  if (*dep) {
    const auto d = **dep;
    if (std::none_of(std::begin(kDepartments), std::end(kDepartments),
                     [&](const char* k) { return d == k; })) {
      error =
          "argument 'department' must be one of support, commercial, financial, "
          "cancellation, general";
      return {};
    }
    w.field("department", d);
  }
  w.end_object();
  return w.take();
}

}  // namespace

std::string_view to_string(Tool t) noexcept {
  switch (t) {
    case Tool::transfer_to_human:
      return "transfer_to_human";
    case Tool::check_coverage:
      return "check_coverage";
    case Tool::lookup_outage:
      return "lookup_outage";
    case Tool::register_lead:
      return "register_lead";
    case Tool::register_complaint:
      return "register_complaint";
    case Tool::register_payment_promise:
      return "register_payment_promise";
    case Tool::register_opt_out:
      return "register_opt_out";
  }
  return "transfer_to_human";
}

std::optional<Tool> parse_tool(std::string_view name) noexcept {
  for (Tool t :
       {Tool::transfer_to_human, Tool::check_coverage, Tool::lookup_outage, Tool::register_lead,
        Tool::register_complaint, Tool::register_payment_promise, Tool::register_opt_out}) {
    if (to_string(t) == name) return t;
  }
  return std::nullopt;
}

const std::string& tool_definitions_json() {
  static const std::string defs =
      R"([)"
      R"({"type":"function","function":{"name":"transfer_to_human","description":"Transfere a conversa para um atendente humano. Use quando o cliente pedir uma pessoa, estiver muito irritado ou o assunto exigir um humano.","parameters":{"type":"object","properties":{"reason":{"type":"string","description":"Motivo da transferência, em poucas palavras."},"department":{"type":"string","enum":["support","commercial","financial","cancellation","general"],"description":"Setor que deve assumir."}},"required":["reason"],"additionalProperties":false}}},)"
      R"({"type":"function","function":{"name":"check_coverage","description":"Verifica se há cobertura de internet fibra no CEP do cliente.","parameters":{"type":"object","properties":{"cep":{"type":"string","description":"CEP com 8 dígitos, ex.: 01310-100."}},"required":["cep"],"additionalProperties":false}}},)"
      R"({"type":"function","function":{"name":"lookup_outage","description":"Consulta se há falha massiva (queda de rede) aberta na região do CEP.","parameters":{"type":"object","properties":{"cep":{"type":"string","description":"CEP com 8 dígitos."}},"required":["cep"],"additionalProperties":false}}},)"
      R"({"type":"function","function":{"name":"register_lead","description":"Registra o interesse de compra do cliente para a equipe comercial.","parameters":{"type":"object","properties":{"interest":{"type":"string","description":"O que o cliente quer (plano, upgrade, instalação)."},"plan":{"type":"string","description":"Plano escolhido, se houver."},"cep":{"type":"string","description":"CEP de instalação, se informado."},"name":{"type":"string","description":"Nome do cliente, se informado."}},"required":["interest"],"additionalProperties":false}}},)"
      R"({"type":"function","function":{"name":"register_complaint","description":"Registra uma reclamação formal na ouvidoria e devolve o protocolo.","parameters":{"type":"object","properties":{"description":{"type":"string","description":"Resumo da reclamação."},"category":{"type":"string","description":"Categoria: atendimento, tecnico, financeiro, comercial ou outro."}},"required":["description"],"additionalProperties":false}}},)"
      R"({"type":"function","function":{"name":"register_payment_promise","description":"Registra a promessa de pagamento do cliente (dia do mês ou data).","parameters":{"type":"object","properties":{"day":{"type":"integer","minimum":1,"maximum":31,"description":"Dia do mês em que o cliente promete pagar."},"date":{"type":"string","description":"Data prometida, AAAA-MM-DD."},"amount":{"type":"number","minimum":0,"description":"Valor prometido em reais, se informado."}},"additionalProperties":false}}},)"
      R"({"type":"function","function":{"name":"register_opt_out","description":"Registra que o cliente não quer mais receber mensagens de cobrança: as campanhas de cobrança deixam de enviar para o número desta conversa. Use só quando o cliente pedir isso; depois transfira com transfer_to_human para a equipe financeira.","parameters":{"type":"object","properties":{},"additionalProperties":false}}})"
      R"(])";
  return defs;
}

bool tool_offered(Tool tool, Assistant assistant) noexcept {
  if (tool == Tool::register_payment_promise || tool == Tool::register_opt_out) {
    return assistant == Assistant::financeiro || assistant == Assistant::cobranca;
  }
  return true;
}

const std::string& tool_definitions_json(Assistant assistant) {
  static const auto by_assistant = [] {
    std::array<std::string, kAssistants.size()> out;
    const auto all = json::parse(tool_definitions_json());
    for (std::size_t i = 0; i < kAssistants.size(); ++i) {
      json::Writer w;
      w.begin_array();
      for (const auto& t : all->GetArray()) {
        const auto tool = parse_tool(json::view(t["function"]["name"]));
        if (tool && tool_offered(*tool, kAssistants[i])) w.raw(json::to_string(t));
      }
      w.end_array();
      out[i] = w.take();
    }
    return out;
  }();
  const auto it = std::find(kAssistants.begin(), kAssistants.end(), assistant);
  return by_assistant[static_cast<std::size_t>(it - kAssistants.begin()) % kAssistants.size()];
}

namespace {

// Each tool's argument names, read from its schema in tool_definitions_json(): the one list
// the model is told and the calls are held to (every schema says additionalProperties: false).
const std::vector<std::string>& argument_names(Tool tool) {
  static const auto names = [] {
    std::map<std::string, std::vector<std::string>, std::less<>> by_tool;
    auto doc = json::parse(tool_definitions_json());
    for (const auto& t : doc->GetArray()) {
      const auto& fn = t["function"];
      auto& list = by_tool[fn["name"].GetString()];
      for (const auto& p : fn["parameters"]["properties"].GetObject()) {
        list.emplace_back(p.name.GetString(), p.name.GetStringLength());
      }
    }
    return by_tool;
  }();
  static const std::vector<std::string> none;
  const auto it = names.find(to_string(tool));
  return it == names.end() ? none : it->second;
}

// The first argument `tool` does not take, if any.
std::optional<std::string> unknown_argument(Tool tool, const json::Value& args) {
  const auto& known = argument_names(tool);
  for (const auto& m : args.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (std::find(known.begin(), known.end(), name) == known.end()) return std::string(name);
  }
  return std::nullopt;
}

}  // namespace

std::optional<CoverageArea> coverage_for(std::string_view cep) {
  std::optional<CoverageArea> best;
  for (const auto& area : kCoverage) {
    if (cep.substr(0, area.prefix.size()) == area.prefix &&
        (!best || area.prefix.size() > best->prefix.size())) {
      best = area;
    }
  }
  return best;
}

std::string format_cep(std::string_view cep) {
  if (cep.size() != 8) return std::string(cep);
  return std::string(cep.substr(0, 5)) + "-" + std::string(cep.substr(5));
}

std::optional<std::string> normalize_cep(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != '-' && c != '.' && c != ' ') {
      return std::nullopt;
    }
  }
  if (digits.size() != 8) return std::nullopt;
  return digits;
}

std::string protocol_for(std::string_view prefix, std::string_view message_id) {
  std::string hex;
  for (char c : message_id) {
    if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
      hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  if (hex.size() < kProtocolDigits) hex.insert(0, kProtocolDigits - hex.size(), '0');
  return std::string(prefix) + "-" + hex.substr(hex.size() - kProtocolDigits);
}

namespace {

// A registration's value in the `registrations` map: the protocol, or the promised day/date.
// The date when one is given, as collections takes it over the day.
// The amount, when given, belongs to it: the same day for another amount is a new promise.
std::string promise_key(std::int64_t day, std::optional<std::string_view> date, double amount) {
  std::string key = date ? "date:" + std::string(*date) : "day:" + std::to_string(day);
  if (amount != 0) key += fmt::format("|amount:{:.2f}", amount);
  return key;
}

// Above any debt a campaign chases: a model's slip (a CPF or a phone read as an amount).
constexpr double kMaxPromisedAmount = 10'000'000.0;

std::string already(std::string_view protocol, bool complaint) {
  json::Writer w;
  w.begin_object()
      .field("registered", true)
      .field("already_registered", true)
      .field("protocol", protocol);
  if (complaint) w.field("deadline_business_days", 5);
  w.end_object();
  return w.take();
}

}  // namespace

std::string BuiltinTools::registrations_json() const {
  if (made_.empty()) return {};
  json::Writer w;
  w.begin_object();
  for (const auto& [tool, value] : made_) w.field(tool, value);
  w.end_object();
  return w.take();
}

const std::string* BuiltinTools::registered(Tool tool) const {
  const std::string name(to_string(tool));
  if (auto it = made_.find(name); it != made_.end()) return &it->second;
  if (auto it = context_.registered.find(name); it != context_.registered.end()) {
    return &it->second;
  }
  return nullptr;
}

ToolInvocation BuiltinTools::run(std::string_view name, std::string_view arguments_json,
                                 std::string call_id) {
  ToolInvocation inv;
  inv.call_id = std::move(call_id);
  const auto tool = parse_tool(name);
  if (arguments_json.size() > kMaxToolArguments) {
    // Published with the call and kept by conversation: a model's runaway text is refused
    // here, as a failed call the model hears about, before anything is registered.
    inv.known = tool.has_value();
    if (tool) inv.tool = *tool;
    return failed(std::move(inv),
                  "arguments are larger than " + std::to_string(kMaxToolArguments) + " bytes");
  }
  auto doc = json::parse(arguments_json.empty() ? std::string_view("{}") : arguments_json);
  if (doc && doc->IsObject()) inv.arguments_json = json::to_string(*doc);
  if (!tool) {
    inv.known = false;
    return failed(std::move(inv), "unknown tool '" + std::string(name.substr(0, 64)) + "'");
  }
  inv.tool = *tool;
  if (!doc) return failed(std::move(inv), "arguments are not JSON: " + doc.error().message());
  auto args = json::Obj::root(*doc);
  if (!args) return failed(std::move(inv), "arguments must be a JSON object");
  // What the schema does not name is refused, not ignored: the model hears which argument and
  // what the tool takes, and no call that succeeds carries an argument nothing reads.
  if (auto extra = unknown_argument(*tool, *doc)) {
    std::string takes;
    for (const auto& n : argument_names(*tool)) takes += (takes.empty() ? "" : ", ") + n;
    return failed(std::move(inv), "unknown argument '" +
                                      std::string(core::utf8_prefix(*extra, 64)) +
                                      "': " + std::string(to_string(*tool)) + " takes " + takes);
  }

  switch (*tool) {
    case Tool::transfer_to_human: {
      std::string error;
      auto result = run_transfer(*args, error);
      if (!error.empty()) return failed(std::move(inv), error);
      return succeeded(std::move(inv), std::move(result));
    }
    case Tool::check_coverage: {
      auto cep = cep_argument(*args);
      if (!cep) return failed(std::move(inv), cep.error().message());
      json::Writer w;
      w.begin_object().field("cep", *cep);
      if (auto area = coverage_for(*cep)) {
        w.field("covered", true)
            .field("city", area->city)
            .field("technology", area->technology)
            .field("max_mbps", area->max_mbps);
      } else {
        w.field("covered", false);
      }
      w.end_object();
      return succeeded(std::move(inv), w.take());
    }
    case Tool::lookup_outage: {
      auto cep = cep_argument(*args);
      if (!cep) return failed(std::move(inv), cep.error().message());
      std::optional<Outage> outage;
      if (outages_ != nullptr) {
        auto found = outages_->find(*cep);
        if (!found) {
          if (found.error().retryable() && !unavailable_) unavailable_ = found.error();
          return failed(std::move(inv), "the outage table is unavailable");
        }
        outage = std::move(*found);
      }
      json::Writer w;
      w.begin_object().field("cep", *cep).field("outage", outage.has_value());
      if (outage) {
        w.field("outage_id", outage->id)
            .field("region", outage->region)
            .field("description", outage->description)
            .field("eta", outage->eta);
      }
      w.end_object();
      return succeeded(std::move(inv), w.take());
    }
    case Tool::register_lead: {
      auto interest = args->nonempty_str("interest");
      if (!interest) return failed(std::move(inv), interest.error().message());
      if (auto cep = args->opt_str("cep"); !cep) {
        return failed(std::move(inv), cep.error().message());
      } else if (*cep && !(**cep).empty() && !normalize_cep(**cep)) {  // "": not given
        return failed(std::move(inv), "argument 'cep' must be a CEP of 8 digits");
      }
      // Text, if given: a number or an object would be dropped by conversation unheard.
      for (const char* field : {"plan", "name"}) {
        if (auto v = args->opt_str(field); !v) return failed(std::move(inv), v.error().message());
      }
      if (const auto* before = registered(Tool::register_lead)) {
        return succeeded(std::move(inv), already(*before, false));
      }
      const auto protocol = protocol_for("LEAD", context_.message_id);
      made_[std::string(to_string(Tool::register_lead))] = protocol;
      json::Writer w;
      w.begin_object().field("registered", true).field("protocol", protocol).end_object();
      return succeeded(std::move(inv), w.take());
    }
    case Tool::register_complaint: {
      auto description = args->nonempty_str("description");
      if (!description) return failed(std::move(inv), description.error().message());
      // One of the ouvidoria's categories, if given (conversation files any other as "outro").
      auto category = args->opt_str("category");
      if (!category) return failed(std::move(inv), category.error().message());
      if (*category && !(**category).empty()) {
        static constexpr std::array<std::string_view, 5> kCategories{
            "atendimento", "tecnico", "financeiro", "comercial", "outro"};
        if (std::find(kCategories.begin(), kCategories.end(), **category) == kCategories.end()) {
          return failed(std::move(inv),
                        "argument 'category' must be one of atendimento, tecnico, financeiro, "
                        "comercial, outro");
        }
      }
      if (const auto* before = registered(Tool::register_complaint)) {
        return succeeded(std::move(inv), already(*before, true));
      }
      const auto protocol = protocol_for("OUV", context_.message_id);
      made_[std::string(to_string(Tool::register_complaint))] = protocol;
      json::Writer w;
      w.begin_object()
          .field("registered", true)
          .field("protocol", protocol)
          .field("deadline_business_days", 5)
          .end_object();
      return succeeded(std::move(inv), w.take());
    }
    case Tool::register_payment_promise: {
      auto given_day = args->opt_i64("day");
      if (!given_day) return failed(std::move(inv), given_day.error().message());
      auto given_date = args->opt_str("date");
      if (!given_date) return failed(std::move(inv), given_date.error().message());
      auto given_amount = args->opt_num("amount");
      if (!given_amount) return failed(std::move(inv), given_amount.error().message());
      // Models often fill an optional argument with "" or 0: not given.
      const std::optional<std::string_view> date =
          *given_date && !(**given_date).empty() ? *given_date : std::nullopt;
      const std::int64_t day = given_day->value_or(0);    // 0: not given
      const double amount = given_amount->value_or(0.0);  // 0: not given
      if (day == 0 && !date) return failed(std::move(inv), "give 'day' or 'date'");
      if (day != 0 && (day < 1 || day > 31)) {
        return failed(std::move(inv), "argument 'day' must be between 1 and 31");
      }
      // A day of the calendar, not "2026-02-30": collections keeps it as a due date.
      const auto promised = date ? core::parse_date(*date) : std::nullopt;
      if (date && !promised) {
        return failed(std::move(inv), "argument 'date' must be a day as YYYY-MM-DD");
      }
      // Not a day gone by, nor one past a year from now: a model that took another year for
      // this one ("dia 15 de abril" as a year long past) hears which day today is.
      if (const auto today = core::parse_date(context_.today); promised && today) {
        const std::chrono::sys_days first{*today};
        const std::chrono::sys_days asked{*promised};
        if (asked < first || asked > first + std::chrono::days{366}) {
          return failed(std::move(inv), "argument 'date' must be from today (" + context_.today +
                                            ") to a year from now");
        }
      }
      // Both, naming two days: which one the customer said is the model's to ask, not ours
      // to pick (collections keeps the date; the model may have told the customer the day).
      if (promised && day != 0 && static_cast<unsigned>(promised->day()) != day) {
        return failed(std::move(inv),
                      "arguments 'day' and 'date' name different days: give the one the "
                      "customer said");
      }
      if (amount < 0) {
        return failed(std::move(inv), "argument 'amount' must not be negative");
      }
      if (amount > kMaxPromisedAmount) {
        return failed(std::move(inv), "argument 'amount' is not a plausible amount in reais");
      }
      // The same promise again (the customer repeats the day) is the one registered; another
      // day, date or amount replaces it.
      const auto key = promise_key(day, date, amount);
      const auto* before = registered(Tool::register_payment_promise);
      // The same day without an amount is the promise made with one (collections keeps it).
      const bool again =
          before != nullptr &&
          (*before == key || (amount == 0 && before->substr(0, before->find('|')) == key));
      if (!again) made_[std::string(to_string(Tool::register_payment_promise))] = key;
      json::Writer w;
      w.begin_object().field("registered", true);
      if (again) w.field("already_registered", true);
      if (day != 0) w.field("day", day);
      if (date) w.field("date", *date);
      if (amount != 0) w.field("amount", amount);
      w.end_object();
      return succeeded(std::move(inv), w.take());
    }
    case Tool::register_opt_out:
      // collections keeps the number (once: the same request again changes nothing there).
      return succeeded(std::move(inv), R"({"registered":true})");
  }
  return failed(std::move(inv), "unknown tool");
}

}  // namespace lia::ai_orchestration
