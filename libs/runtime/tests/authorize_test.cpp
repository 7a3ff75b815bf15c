#include <catch2/catch.hpp>

#include <lia/runtime/authorize.hpp>

using namespace lia;

TEST_CASE("LIA_JWT_SECRET: at least 32 bytes, required unless a service can do without it") {
  const std::string key32 = "0123456789abcdef0123456789abcdef";
  auto good = core::Env::from_map({{"LIA_JWT_SECRET", key32}});
  CHECK(runtime::jwt_secret(good) == key32);
  CHECK(good.problems().empty());

  // HS256 wants 256 bits: one byte short is refused.
  for (const std::string& short_value : {std::string("dev"), key32.substr(1)}) {
    auto short_key = core::Env::from_map({{"LIA_JWT_SECRET", short_value}});
    (void)runtime::jwt_secret(short_key, /*required=*/false);
    REQUIRE(short_key.problems().size() == 1);
    CHECK(short_key.problems()[0] == "LIA_JWT_SECRET: must be at least 32 bytes long");
  }

  auto missing = core::Env::from_map({});
  CHECK(runtime::jwt_secret(missing).empty());
  REQUIRE(missing.problems().size() == 1);
  CHECK(missing.problems()[0].find("LIA_JWT_SECRET") != std::string::npos);

  auto optional = core::Env::from_map({});
  CHECK(runtime::jwt_secret(optional, /*required=*/false).empty());
  CHECK(optional.problems().empty());
}
