#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>

namespace json = lia::json;

TEST_CASE("Writer builds nested objects and arrays") {
  json::Writer w;
  std::optional<std::string> absent;
  std::optional<std::string> caption = "oi";
  w.begin_object()
      .field("id", "abc")
      .field("count", 3)
      .field("big", std::numeric_limits<std::uint64_t>::max())
      .field("neg", std::int64_t{-5})
      .field("ratio", 0.25)
      .field("ok", true)
      .field("caption", caption)
      .field("absent", absent)
      .key("tags")
      .begin_array()
      .value("a")
      .value(std::string("b"))
      .null()
      .begin_object()
      .end_object()
      .begin_array()
      .end_array()
      .end_array()
      .object_field("inner")
      .field("x", std::string_view("y"))
      .end_object()
      .raw_field("data", R"({"k":[1,2]})")
      .end_object();
  REQUIRE(w.complete());
  CHECK(w.take() ==
        R"({"id":"abc","count":3,"big":18446744073709551615,"neg":-5,"ratio":0.25,"ok":true,)"
        R"("caption":"oi","tags":["a","b",null,{},[]],"inner":{"x":"y"},"data":{"k":[1,2]}})");
}

TEST_CASE("Writer escapes strings and repairs invalid UTF-8") {
  json::Writer w;
  w.begin_array().value("quote\" back\\ nl\n tab\t ctl\x01").value("ação ✓ \xF0\x9F\x98\x80");
  w.value("bad \xC3\x28 end \xFF").end_array();
  const std::string text = w.take();
  CHECK(text ==
        "[\"quote\\\" back\\\\ nl\\n tab\\t ctl\\u0001\",\"ação ✓ \xF0\x9F\x98\x80\","
        "\"bad \xEF\xBF\xBD( end \xEF\xBF\xBD\"]");
  auto parsed = json::parse(text);  // parse validates UTF-8
  REQUIRE(parsed.ok());
  CHECK(json::view(parsed.value()[0]) == "quote\" back\\ nl\n tab\t ctl\x01");

  // A NUL (e.g. from a webhook that wrote \u0000) is replaced, so what is written parses.
  json::Writer nul;
  nul.begin_array().value(std::string_view("a\0b", 3)).end_array();
  const std::string written = nul.take();
  CHECK(written ==
        "[\"a\xEF\xBF\xBD"
        "b\"]");
  CHECK(json::parse(written).ok());
}

TEST_CASE("Writer writes non-finite doubles as null and round-trips doubles") {
  json::Writer w;
  w.begin_array()
      .value(std::numeric_limits<double>::quiet_NaN())
      .value(std::numeric_limits<double>::infinity())
      .value(0.1)
      .value(-1e300)
      .end_array();
  const std::string text = w.take();
  auto d = json::parse(text);
  REQUIRE(d.ok());
  CHECK(d.value()[0].IsNull());
  CHECK(d.value()[1].IsNull());
  CHECK(d.value()[2].GetDouble() == 0.1);
  CHECK(d.value()[3].GetDouble() == -1e300);
}

TEST_CASE("Writer marks misuse as broken") {
  SECTION("value where a key is due") {
    json::Writer w;
    w.begin_object().value("x");
    CHECK_FALSE(w.ok());
    CHECK(w.take().empty());
  }
  SECTION("key in an array") {
    json::Writer w;
    w.begin_array().key("k");
    CHECK_FALSE(w.ok());
  }
  SECTION("unbalanced end") {
    json::Writer w;
    w.begin_object().end_array();
    CHECK_FALSE(w.ok());
  }
  SECTION("two top-level values") {
    json::Writer w;
    w.value(1).value(2);
    CHECK_FALSE(w.ok());
  }
  SECTION("incomplete") {
    json::Writer w;
    w.begin_object().key("a");
    CHECK(w.ok());
    CHECK_FALSE(w.complete());
    CHECK(w.take().empty());
  }
}

TEST_CASE("quote") {
  CHECK(json::quote("a\"b") == R"("a\"b")");
  CHECK(json::quote("") == R"("")");
}
