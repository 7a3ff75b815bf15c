#include <catch2/catch.hpp>

#include <lia/runtime/authorize.hpp>

using namespace lia;

TEST_CASE("LIA_JWT_SECRET: at least 16 bytes, required unless a service can do without it") {
  auto good = core::Env::from_map({{"LIA_JWT_SECRET", "0123456789abcdef"}});
  CHECK(runtime::jwt_secret(good) == "0123456789abcdef");
  CHECK(good.problems().empty());

  auto short_key = core::Env::from_map({{"LIA_JWT_SECRET", "dev"}});
  (void)runtime::jwt_secret(short_key, /*required=*/false);
  REQUIRE(short_key.problems().size() == 1);
  CHECK(short_key.problems()[0] == "LIA_JWT_SECRET: must be at least 16 bytes long");

  auto missing = core::Env::from_map({});
  CHECK(runtime::jwt_secret(missing).empty());
  REQUIRE(missing.problems().size() == 1);
  CHECK(missing.problems()[0].find("LIA_JWT_SECRET") != std::string::npos);

  auto optional = core::Env::from_map({});
  CHECK(runtime::jwt_secret(optional, /*required=*/false).empty());
  CHECK(optional.problems().empty());
}
