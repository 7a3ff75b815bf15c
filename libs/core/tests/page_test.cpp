#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/core/page.hpp>

using namespace lia::core;

TEST_CASE("a page cursor reads back what it wrote, and nothing else") {
  const std::string id = "0190a5e2-7b1c-7def-8123-456789abcdef";
  const auto c = parse_page_cursor(page_cursor(1'733'500'000'123'456, id));
  REQUIRE(c);
  CHECK(c->us == 1'733'500'000'123'456);
  CHECK(c->id == id);
  // Either case of the uuid; kept canonical (lower case).
  const auto upper = parse_page_cursor("5_0190A5E2-7B1C-7DEF-8123-456789ABCDEF");
  REQUIRE(upper);
  CHECK(upper->id == id);
  CHECK(parse_page_cursor("0_" + id));
  CHECK(parse_page_cursor("253402300799999999_" + id));

  for (const std::string& bad : std::vector<std::string>{
           "", "_", "12", "12_", "_" + id, "-1_" + id,
           "253402300799999999" + std::string("0_") + id, "253402300800000000_" + id, "1x_" + id,
           "1_" + id + "x", "1_not-a-uuid", " 1_" + id, "1__" + id}) {
    INFO(bad);
    CHECK_FALSE(parse_page_cursor(bad));
  }
}
