#pragma once
// Brazilian taxpayer documents: CPF (people, 11 digits) and CNPJ (companies, 14 characters),
// both ending in two mod-11 check digits.
//
// CNPJ: besides the numeric form, the alphanumeric CNPJ of Receita Federal (IN RFB
// 2.229/2024, issued from July 2026) is accepted: the first 12 characters may be digits or
// letters A-Z, the last 2 are digits, and each character counts as its ASCII code minus 48
// in the check-digit sums ('0'..'9' -> 0..9, 'A' -> 17, ... 'Z' -> 42). Numeric CNPJs are
// unchanged by that rule.
//
// Masking for logs lives in lia::core (f::document / mask_document); it is not repeated here.
// Error messages never contain the document itself.

#include <optional>
#include <string>
#include <string_view>

#include <lia/core/result.hpp>

namespace lia::domain {

enum class DocumentType { cpf, cnpj };
// "CPF" / "CNPJ" (the clientDocumentType values).
std::string_view to_string(DocumentType t) noexcept;

struct Document {
  DocumentType type = DocumentType::cpf;
  std::string value;  // normalized: digits (and upper-case letters for alphanumeric CNPJ)

  friend bool operator==(const Document&, const Document&) = default;
};

// Removes the usual separators ('.', '-', '/', spaces) and upper-cases letters:
// "123.456.789-09" -> "12345678909", "12.abc.345/01de-35" -> "12ABC34501DE35".
// Fails on any other character.
core::Result<std::string> normalize_document(std::string_view input);

// The type a normalized document has by its shape (11 digits: CPF; 12 alphanumerics + 2
// digits: CNPJ), without checking the check digits. nullopt for any other shape.
std::optional<DocumentType> detect_document_type(std::string_view normalized) noexcept;

// Check-digit validation of a formatted or bare document. A CPF or numeric CNPJ whose
// digits are all the same ("111.111.111-11", "00000000000000") is rejected even though its
// check digits add up.
bool is_valid_cpf(std::string_view input);
bool is_valid_cnpj(std::string_view input);

// Normalizes, detects the type and checks the digits.
core::Result<Document> parse_document(std::string_view input);

// "123.456.789-09" / "12.345.678/0001-95"
std::string format_document(const Document& doc);

// Free text with every valid CPF replaced by "[CPF]" and CNPJ by "[CNPJ]": a run of digits
// joined by single '.', '-', '/', ',' or spaces (as people write them: "529.982.247-25",
// "529 982 247 25", "529982247-25", "CPF52998224725"; a no-break space, a Unicode dash, and a
// '.', '-' or '/' with a space on either side join too: "529.982.247 - 25") whose digits pass
// the check; and an alphanumeric CNPJ ("12.ABC.345/01DE-35", either case) as a word of its own.
// Other numbers (a CEP, a phone, an amount after "R$") stay, unless one happens to pass a CPF's
// check (about 1 in 100 of the 11-digit ones), which only hides it too. For text that leaves the
// suite (a third-party model) and needs no document to be useful.
std::string redact_documents(std::string_view text);

}  // namespace lia::domain
