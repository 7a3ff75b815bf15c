#pragma once
// Keyset pages of a list ordered by (a time, a uuid) descending: the last item's pair, exact to
// the microsecond, is the cursor of the next page, written "<microseconds since 1970>_<uuid>"
// (the APIs' `before` parameter and `next_before` field). Unlike an offset, a page deep in a
// long list costs what the first one does, and rows added meanwhile do not shift it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lia::core {

struct PageCursor {
  std::int64_t us = 0;  // from 1970 to the year 9999, as PostgreSQL's timestamptz holds them
  std::string id;       // a uuid in its canonical form
};

// nullopt for anything that is not such a cursor (another form, a time out of range).
std::optional<PageCursor> parse_page_cursor(std::string_view text);
std::string page_cursor(std::int64_t us, std::string_view id);

}  // namespace lia::core
