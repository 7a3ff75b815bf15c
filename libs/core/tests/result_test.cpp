#include <catch2/catch.hpp>

#include <lia/core/result.hpp>

using lia::core::Errc;
using lia::core::Error;
using lia::core::Result;

namespace {
Result<int> parse_positive(int x) {
  if (x <= 0) return Error(Errc::invalid_argument, "must be positive");
  return x;
}
}  // namespace

TEST_CASE("Result carries a value or an error") {
  auto good = parse_positive(3);
  REQUIRE(good.ok());
  CHECK(*good == 3);
  auto bad = parse_positive(-1);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code() == Errc::invalid_argument);
  CHECK(bad.error().describe() == "invalid_argument: must be positive");
  CHECK(bad.value_or(7) == 7);
}

TEST_CASE("retryable follows the error code unless overridden") {
  CHECK(Error(Errc::unavailable, "broker down").retryable());
  CHECK(Error(Errc::timeout, "slow").retryable());
  CHECK_FALSE(Error(Errc::invalid_argument, "bad").retryable());
  CHECK_FALSE(Error(Errc::unavailable, "gone for good", false).retryable());
  CHECK(Error(Errc::internal, "transient", true).retryable());
}

TEST_CASE("Result<void> and error_code interop") {
  lia::core::Status s = lia::core::ok();
  CHECK(s.ok());
  lia::core::Status e = Error(Errc::conflict, "dup");
  CHECK_FALSE(e.ok());
  std::error_code ec = Errc::timeout;
  CHECK(ec.message() == "timeout");
  CHECK(std::string(ec.category().name()) == "lia");
}
