#include <string>
#include <vector>

#include <lia/core/text.hpp>
#include <lia/domain/document.hpp>

namespace lia::domain {

using core::Errc;
using core::Error;
using core::Result;

namespace {

constexpr std::size_t kMaxInput = 64;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

bool all_same(std::string_view s) {
  for (char c : s) {
    if (c != s.front()) return false;
  }
  return true;
}

// Check digit for the mod-11 scheme shared by CPF and CNPJ: sum of value*weight,
// remainder r; digit = r < 2 ? 0 : 11 - r.
int mod11_digit(int sum) {
  const int r = sum % 11;
  return r < 2 ? 0 : 11 - r;
}

bool cpf_digits_ok(std::string_view d) {
  if (d.size() != 11) return false;
  for (char c : d) {
    if (!is_digit(c)) return false;
  }
  if (all_same(d)) return false;
  for (std::size_t n = 9; n <= 10; ++n) {  // first check digit over 9 digits, second over 10
    int sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += (d[i] - '0') * static_cast<int>(n + 1 - i);
    if (mod11_digit(sum) != d[n] - '0') return false;
  }
  return true;
}

bool cnpj_shape_ok(std::string_view d) {
  if (d.size() != 14) return false;
  for (std::size_t i = 0; i < 12; ++i) {
    if (!is_digit(d[i]) && !is_upper(d[i])) return false;
  }
  return is_digit(d[12]) && is_digit(d[13]);
}

// Bytes of an amount at text[i]: digits, thousands in groups of three after a dot, a comma
// and two decimals ("1.234,56", "10,00", "123456,78"); 0: none.
std::size_t amount_len(std::string_view text, std::size_t i) {
  const auto digits_at = [&](std::size_t j, std::size_t n) {
    if (j + n > text.size()) return false;
    for (std::size_t k = j; k < j + n; ++k) {
      if (!is_digit(text[k])) return false;
    }
    return j + n == text.size() || !is_digit(text[j + n]);
  };
  std::size_t j = i;
  while (j < text.size() && is_digit(text[j])) ++j;
  if (j == i) return 0;
  if (j - i <= 3) {
    while (j < text.size() && text[j] == '.' && digits_at(j + 1, 3)) j += 4;
  }
  if (j < text.size() && text[j] == ',' && digits_at(j + 1, 2)) return j + 3 - i;
  return 0;
}

// A separator joining two digit groups: its bytes, what it stands for ('.', '-', '/', ' ' or
// ','; 0: none), and whether it is a mark with a space beside it.
struct Joiner {
  std::size_t len = 0;
  char kind = 0;
  bool spaced = false;
};

// The separator at text[j]: one character (ASCII, a no-break space, a Unicode dash or minus
// sign pasted from elsewhere), or a '.', '-' or '/' with a space on either side ("529.982.247 -
// 25", but also "…25. 2 boletos": such a joiner may end a document as well as join it).
Joiner joiner_at(std::string_view text, std::size_t j) {
  const auto byte = [&](std::size_t k) {
    return k < text.size() ? static_cast<unsigned char>(text[k]) : 0U;
  };
  const auto mark_at = [&](std::size_t k) -> std::pair<std::size_t, char> {
    if (k >= text.size()) return {0, 0};
    const char c = text[k];
    if (c == '.' || c == '-' || c == '/') return {1, c};
    if (byte(k) == 0xE2 && byte(k + 1) == 0x80 && byte(k + 2) >= 0x90 && byte(k + 2) <= 0x95) {
      return {3, '-'};  // U+2010..U+2015
    }
    if (byte(k) == 0xE2 && byte(k + 1) == 0x88 && byte(k + 2) == 0x92) return {3, '-'};  // U+2212
    return {0, 0};
  };
  const auto space_at = [&](std::size_t k) -> std::size_t {
    if (k >= text.size()) return 0;
    if (text[k] == ' ') return 1;
    return core::nbsp_len(text, k);
  };
  if (j < text.size() && text[j] == ',') return {1, ',', false};
  const std::size_t k = j + space_at(j);
  if (const auto [n, c] = mark_at(k); n > 0) {
    const std::size_t after = space_at(k + n);
    return {k + n - j + after, c, k > j || after > 0};
  }
  if (k > j) return {k - j, ' ', false};
  return {};
}

bool is_alnum(char c) {
  return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z');
}

}  // namespace

std::string_view to_string(DocumentType t) noexcept {
  return t == DocumentType::cpf ? "CPF" : "CNPJ";
}

Result<std::string> normalize_document(std::string_view input) {
  if (input.size() > kMaxInput) return Error(Errc::invalid_argument, "document: too long");
  std::string out;
  out.reserve(input.size());
  for (char c : input) {
    if (is_digit(c) || is_upper(c)) {
      out.push_back(c);
    } else if (c >= 'a' && c <= 'z') {
      out.push_back(static_cast<char>(c - 'a' + 'A'));
    } else if (c != '.' && c != '-' && c != '/' && c != ' ' && c != '\t') {
      return Error(Errc::invalid_argument,
                   "document: unexpected character; only digits, letters, '.', '-', '/' and "
                   "spaces are allowed");
    }
  }
  if (out.empty()) return Error(Errc::invalid_argument, "document: empty");
  return out;
}

std::optional<DocumentType> detect_document_type(std::string_view d) noexcept {
  if (d.size() == 11) {
    for (char c : d) {
      if (!is_digit(c)) return std::nullopt;
    }
    return DocumentType::cpf;
  }
  if (cnpj_shape_ok(d)) return DocumentType::cnpj;
  return std::nullopt;
}

std::string redact_documents(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (const auto n = is_alnum(text[i]) ? core::alphanumeric_cnpj_len(text, i) : 0; n > 0) {
      out += "[CNPJ]";
      i += n;
      continue;
    }
    if (!is_digit(text[i])) {
      out.push_back(text[i++]);
      continue;
    }
    // After "R$" an amount ("R$ 123.456.789,10", "R$10,00") is no document; the run goes on
    // after it ("R$10,00/529.982.247-25").
    if (const auto n = core::after_currency(text, i) ? amount_len(text, i) : 0; n > 0) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    // The run: digit groups joined by single separators ("529.982.247-25 01310-100"; a comma
    // too: "529.982.247,25" is a CPF typed with the decimal key; see joiner_at).
    std::vector<std::pair<std::size_t, std::size_t>> groups;  // [begin, end) in text
    std::vector<Joiner> seps;  // seps[g]: what joins group g to the one before (g > 0)
    std::size_t end = i;       // one past the run's last digit
    Joiner joined_by;
    for (std::size_t j = i; j < text.size();) {
      if (is_digit(text[j])) {
        if (groups.empty() || groups.back().second != j) {
          groups.emplace_back(j, j);
          seps.push_back(joined_by);
        }
        groups.back().second = j + 1;
        end = ++j;
        continue;
      }
      const auto joiner = joiner_at(text, j);
      if (joiner.len == 0 || j + joiner.len >= text.size() || !is_digit(text[j + joiner.len])) {
        break;
      }
      joined_by = joiner;
      j += joiner.len;
    }
    // The separator before group g (g > 0).
    const auto sep_before = [&](std::size_t g) { return seps[g].kind; };
    // Where a piece of the run ends: a comma, or a spaced mark ("…247 25 - 3 meses", "…25. 2
    // boletos"), which may end a sentence as well as join a document.
    const auto piece_starts = [&](std::size_t g) {
      return g == 0 || seps[g].kind == ',' || seps[g].spaced;
    };
    bool pieces = false;
    for (std::size_t g = 1; g < groups.size(); ++g) pieces = pieces || piece_starts(g);
    const auto digits_of = [&](std::size_t from, std::size_t to) {  // groups [from, to)
      std::string d;
      for (std::size_t g = from; g < to; ++g) {
        d.append(text.substr(groups[g].first, groups[g].second - groups[g].first));
      }
      return d;
    };
    std::size_t commas = 0;
    for (std::size_t g = 1; g < groups.size(); ++g) commas += sep_before(g) == ',' ? 1 : 0;
    // Glued to letters ("CPF52998224725") or not, a valid document is hidden all the same:
    // the whole run (with at most one comma: a list "12,34,56,78,909" is no CPF), or each
    // piece of it between commas or spaced marks, or else groups in a row of a document's own
    // shape, written out or with some of its separators left off (11 or 14 digits, 3.3.3-2,
    // 9-2, 2.3.3/4-2, 8/4-2, 12-2, 2.3.3/6), so a CPF beside a CEP or a phone is found, and the
    // digits of a phone, a date or a boleto line do not make one by chance.
    if (commas <= 1) {
      const std::string all = digits_of(0, groups.size());
      if ((all.size() == 11 && cpf_digits_ok(all)) ||
          (all.size() == 14 && core::cnpj_check_digits_ok(all))) {
        out += all.size() == 11 ? "[CPF]" : "[CNPJ]";
        i = end;
        continue;
      }
    }
    struct Shape {
      std::vector<std::size_t> sizes;
      char sep;  // the separator the groups need between them; 0: any
    };
    static const Shape kShapes[] = {{{11}, 0},    {{3, 3, 3, 2}, 0},    {{9, 2}, '-'},
                                    {{14}, 0},    {{2, 3, 3, 4, 2}, 0}, {{8, 4, 2}, 0},
                                    {{12, 2}, 0}, {{2, 3, 3, 6}, 0}};
    const auto document_at = [&](std::size_t from, std::size_t to) -> const char* {
      const std::string d = digits_of(from, to);
      if (d.size() == 11 && cpf_digits_ok(d)) return "[CPF]";
      if (d.size() == 14 && core::cnpj_check_digits_ok(d)) return "[CNPJ]";
      return nullptr;
    };
    // The groups of the document found at g, and its mark (0 and nullptr: none).
    const auto found_at = [&](std::size_t g) -> std::pair<std::size_t, const char*> {
      if (pieces && piece_starts(g)) {  // the piece up to the next comma or spaced mark
        std::size_t to = g + 1;
        while (to < groups.size() && !piece_starts(to)) ++to;
        if (const char* found = document_at(g, to)) return {to - g, found};
      }
      for (const auto& shape : kShapes) {
        if (g + shape.sizes.size() > groups.size()) continue;
        bool fits = true;
        for (std::size_t k = 0; k < shape.sizes.size() && fits; ++k) {
          const auto [b, e] = groups[g + k];
          fits = e - b == shape.sizes[k] &&
                 (k == 0 || shape.sep == 0 || sep_before(g + k) == shape.sep);
        }
        if (const char* found = fits ? document_at(g, g + shape.sizes.size()) : nullptr) {
          return {shape.sizes.size(), found};
        }
      }
      return {0, nullptr};
    };
    std::size_t copied = i;  // text before this is in `out`
    for (std::size_t g = 0; g < groups.size();) {
      const auto [matched, found] = found_at(g);
      if (matched == 0) {
        ++g;
        continue;
      }
      out.append(text.substr(copied, groups[g].first - copied));
      out += found;
      // A document that starts inside this one and runs past it is hidden with it: the nine
      // digits of "123.456.712 11.222.333/0001-81" and the CNPJ's first two pass a CPF's check
      // by chance (1 in 100), and would leave the CNPJ's other twelve in the clear.
      std::size_t last = g + matched;  // one past the hidden groups
      for (std::size_t h = g + 1; h < last; ++h) {
        const auto [more, also] = found_at(h);
        if (h + more > last) {
          out += also;
          last = h + more;
        }
      }
      copied = groups[last - 1].second;
      g = last;
    }
    out.append(text.substr(copied, end - copied));
    i = end;
  }
  return out;
}

bool is_valid_cpf(std::string_view input) {
  auto d = normalize_document(input);
  return d.ok() && cpf_digits_ok(*d);
}

bool is_valid_cnpj(std::string_view input) {
  auto d = normalize_document(input);
  return d.ok() && core::cnpj_check_digits_ok(*d);
}

Result<Document> parse_document(std::string_view input) {
  auto d = normalize_document(input);
  if (!d.ok()) return d.error();
  const auto type = detect_document_type(*d);
  if (!type) {
    return Error(Errc::invalid_argument,
                 "document: expected a CPF (11 digits) or a CNPJ (14 characters), got " +
                     std::to_string(d->size()) + " characters");
  }
  if (*type == DocumentType::cpf && !cpf_digits_ok(*d)) {
    return Error(Errc::invalid_argument, "document: invalid CPF check digits");
  }
  if (*type == DocumentType::cnpj && !core::cnpj_check_digits_ok(*d)) {
    return Error(Errc::invalid_argument, "document: invalid CNPJ check digits");
  }
  return Document{*type, std::move(*d)};
}

std::string format_document(const Document& doc) {
  const std::string& v = doc.value;
  if (doc.type == DocumentType::cpf && v.size() == 11) {
    return v.substr(0, 3) + "." + v.substr(3, 3) + "." + v.substr(6, 3) + "-" + v.substr(9, 2);
  }
  if (doc.type == DocumentType::cnpj && v.size() == 14) {
    return v.substr(0, 2) + "." + v.substr(2, 3) + "." + v.substr(5, 3) + "/" + v.substr(8, 4) +
           "-" + v.substr(12, 2);
  }
  return v;  // not a normalized document: returned unformatted
}

}  // namespace lia::domain
