// The one Catch2 main every test executable links (compiled once).
//
// Catch2 v2 takes --warn only once ("--warn NoTests --warn NoAssertions" is refused as an
// unrecognised token), so --warn-no-assertions adds NoAssertions beside it: a test case or
// leaf section that checks no assertion then fails. lia_test passes both to every test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  Catch::Session session;
  bool no_assertions = false;
  session.cli(session.cli() |
              Catch::clara::Opt(no_assertions)["--warn-no-assertions"](
                  "as --warn NoAssertions, which can then go beside another --warn"));
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  if (no_assertions) {
    auto& config = session.configData();
    config.warnings =
        static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoAssertions);
  }
  return session.run();
}
