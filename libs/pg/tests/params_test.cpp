#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include <lia/pg/connection.hpp>
#include <lia/pg/params.hpp>
#include <lia/pg/rows.hpp>

using namespace lia;
using lia::pg::to_param;

TEST_CASE("parameters become text, optional and nullopt become NULL") {
  CHECK(to_param(std::string("abc")) == "abc");
  CHECK(to_param(std::string_view("sv")) == "sv");
  CHECK(to_param("lit") == "lit");
  const char* null_ptr = nullptr;
  CHECK_FALSE(to_param(null_ptr).has_value());
  CHECK(to_param(42) == "42");
  CHECK(to_param(std::int64_t{-9'000'000'000}) == "-9000000000");
  CHECK(to_param(std::uint16_t{7}) == "7");
  CHECK(to_param(true) == "true");
  CHECK(to_param(false) == "false");
  CHECK(to_param(0.1) == "0.1");
  CHECK(to_param(1e300) == "1e+300");
  CHECK(to_param(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(to_param(-std::numeric_limits<double>::infinity()) == "-Infinity");
  CHECK_FALSE(to_param(std::nullopt).has_value());
  CHECK_FALSE(to_param(std::optional<int>{}).has_value());
  CHECK(to_param(std::optional<int>{5}) == "5");
  CHECK(to_param(std::optional<std::string>{"x"}) == "x");
  auto u = core::Uuid::parse("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b");
  REQUIRE(u);
  CHECK(to_param(*u) == "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b");
  CHECK(to_param(core::SysTime{std::chrono::milliseconds{1'700'000'000'123}}) ==
        "2023-11-14T22:13:20.123Z");
  auto ps = pg::make_params(1, "a", std::nullopt, 2.5);
  REQUIRE(ps.size() == 4);
  CHECK_FALSE(ps[2].has_value());
  CHECK(ps[3] == "2.5");
}

TEST_CASE("column text parses into C++ types, bad values throw DataError naming the column") {
  using pg::detail::parse;
  CHECK(parse<int>("-12", "c") == -12);
  CHECK(parse<std::int64_t>("9000000000", "c") == 9'000'000'000);
  CHECK_THROWS_AS(parse<std::int16_t>("70000", "c"), pg::DataError);
  CHECK_THROWS_AS(parse<int>("12x", "c"), pg::DataError);
  CHECK(parse<std::uint32_t>("4000000000", "c") == 4'000'000'000U);
  CHECK(parse<double>("2.5", "c") == 2.5);
  CHECK(std::isnan(parse<double>("NaN", "c")));
  CHECK(parse<bool>("t", "c"));
  CHECK_FALSE(parse<bool>("f", "c"));
  CHECK_THROWS_WITH(parse<bool>("maybe", "flag"), Catch::Contains("column flag"));
  CHECK(parse<std::string>("x y", "c") == "x y");
  CHECK(parse<core::Uuid>("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", "c").version() == 7);
  CHECK_THROWS_AS(parse<core::Uuid>("nope", "c"), pg::DataError);
}

TEST_CASE("SQLSTATEs map to error codes and retryability") {
  auto unique = pg::error_from_sqlstate("23505", "duplicate key");
  CHECK(unique.code() == core::Errc::conflict);
  CHECK_FALSE(unique.retryable());
  CHECK(pg::sqlstate(unique) == "23505");
  CHECK(unique.message() == "SQLSTATE 23505: duplicate key");

  for (const char* s :
       {"40001", "40P01", "08006", "08001", "57P01", "53300", "25006", "25P03", "57P05"}) {
    auto e = pg::error_from_sqlstate(s, "x");
    INFO(s);
    CHECK(e.code() == core::Errc::unavailable);
    CHECK(e.retryable());
  }
  CHECK(pg::error_from_sqlstate("57014", "canceled").code() == core::Errc::timeout);
  CHECK(pg::error_from_sqlstate("23503", "fk").code() == core::Errc::invalid_argument);
  CHECK(pg::error_from_sqlstate("22P02", "bad uuid").code() == core::Errc::invalid_argument);
  CHECK(pg::error_from_sqlstate("42501", "denied").code() == core::Errc::unauthorized);
  // The deployment's to fix, not the record's: a consumer waits instead of dead-lettering.
  CHECK(pg::error_from_sqlstate("42501", "denied").retryable());
  CHECK(pg::error_from_sqlstate("28P01", "password authentication failed").retryable());
  auto syntax = pg::error_from_sqlstate("42601", "syntax");
  CHECK(syntax.code() == core::Errc::internal);
  CHECK_FALSE(syntax.retryable());
  CHECK_FALSE(pg::sqlstate(core::Error(core::Errc::internal, "other")).has_value());
}

TEST_CASE("identifiers and literals are quoted") {
  CHECK(pg::quote_ident("svc") == "\"svc\"");
  CHECK(pg::quote_ident("a\"b") == "\"a\"\"b\"");
  CHECK(pg::quote_literal("it's") == "'it''s'");
  CHECK(pg::quote_literal("a\\b") == "E'a\\\\b'");
  CHECK_FALSE(pg::quote_literal(std::string_view("a\0b", 3)).has_value());
}
