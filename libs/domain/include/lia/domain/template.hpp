#pragma once
// Message templates (notification.message_templates): text with placeholders.
//
//   "Olá {{clientName}}, sou {{ agentName }}."   named placeholders
//   "Seu código é {{1}}."                         positional placeholders (WhatsApp style)
//   "Olá! Sou *{agentName}*, assumindo..."        single braces, the legacy form of the
//                                                 seed templates
//
// Rules:
// - A name is a letter or '_' followed by letters, digits, '_' or '.', or a number >= 1.
//   Spaces just inside "{{" and "}}" are ignored.
// - "{{" must open a valid placeholder closed by "}}"; otherwise the template is invalid
//   (the error gives the byte offset). There is no escape for a literal "{{".
// - A single '{' is a placeholder only when an identifier and '}' follow directly
//   ("{agentName}"); any other '{' or '}' is literal text ("{ ok }", "{1}", "R$ {valor").
// - Values are inserted verbatim: a value containing "{{x}}" is not expanded again.
// - Every missing variable is an error (Errc::invalid_argument) naming all of them.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/result.hpp>

namespace lia::domain {

using TemplateVars = std::map<std::string, std::string, std::less<>>;

// Renders with named variables; positional placeholders look up "1", "2", ...
core::Result<std::string> render_template(std::string_view tmpl, const TemplateVars& vars);

// Renders with positional values: {{1}} is values[0]. Named placeholders are missing.
core::Result<std::string> render_template(std::string_view tmpl,
                                          std::span<const std::string> values);

// The distinct placeholder names in order of first appearance; fails on a malformed
// template.
core::Result<std::vector<std::string>> template_placeholders(std::string_view tmpl);

// Checks the template is well formed and uses only `declared` variables (the template's
// `variables` column); the error names the undeclared ones.
core::Status validate_template(std::string_view tmpl, std::span<const std::string> declared);

}  // namespace lia::domain
