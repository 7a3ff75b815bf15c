#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/domain/nps.hpp>

using lia::core::Errc;
using lia::core::SysTime;
using lia::domain::compute_nps;
using lia::domain::nps_category;
using lia::domain::NpsCategory;
using lia::domain::parse_nps_score;
using lia::domain::within_survey_window;
using namespace std::chrono_literals;

TEST_CASE("parse_nps_score reads bare scores") {
  struct Case {
    std::string in;
    int score = 0;
  };
  const Case cases[] = {
      {"9", 9},
      {" 10 ", 10},
      {"0", 0},
      {"07", 7},
      {"nota 8", 8},
      {"Nota 8", 8},
      {"NOTA: 7", 7},
      {"nota:7", 7},
      {"nota - 6", 6},
      {"minha nota é 9", 9},
      {"Minha nota 10", 10},
      {"dou 10", 10},
      {"dou nota 9", 9},
      {"eu dou 8", 8},
      {"Eu dou nota dez!", 10},
      {"8!", 8},
      {"10!!!", 10},
      {"9.", 9},
      {"nota 10 !", 10},
      {"dez", 10},
      {"Dez", 10},
      {"NOVE", 9},
      {"nove", 9},
      {"oito", 8},
      {"sete", 7},
      {"seis", 6},
      {"cinco", 5},
      {"quatro", 4},
      {"três", 3},
      {"tres", 3},
      {"TRÊS", 3},
      {"dois", 2},
      {"duas", 2},
      {"um", 1},
      {"uma", 1},
      {"zero", 0},
      {"\t5\n", 5},
      {"9\xEF\xB8\x8F\xE2\x83\xA3", 9},  // 9️⃣
      {"\xF0\x9F\x94\x9F", 10},          // 🔟
      {"1\xEF\xB8\x8F\xE2\x83\xA3"
       "0\xEF\xB8\x8F\xE2\x83\xA3",
       10},  // 1️⃣0️⃣
      {"nota \xF0\x9F\x94\x9F", 10},
      {"10/10", 10},
      {"8/10", 8},
      {"8 / 10", 8},
      {"nota 7/10", 7},
      {"0/10", 0},
      {"9 de 10", 9},
      {"Nota 10 de 10!", 10},
      {"dez/10", 10},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    const auto s = parse_nps_score(c.in);
    REQUIRE(s.has_value());
    CHECK(*s == c.score);
  }
}

TEST_CASE("parse_nps_score refuses anything that is not clearly a score") {
  for (const char* in :
       {"",
        " ",
        "10 reais",
        "1234",
        "hoje às 10",
        "11",
        "100",
        "-1",
        "+9",
        "010",
        "9,5",
        "8.5",
        "10/10/10",
        "11/10",
        "/10",
        "8/10 obrigado",
        "8/100",
        "8/5",
        "nota de 10",
        "nota",
        "nota 11",
        "nota dez e meio",
        "8 obrigado",
        "obrigado",
        "nove mil",
        "9 9",
        "oito ou nove",
        "10 horas",
        "às 10",
        "nota10",
        "notavel",
        "dou-lhe 10",
        "dez?",
        "9?",
        "sim",
        "ok",
        "um momento",
        "me liga as 9",
        "quero cancelar",
        "\xF0\x9F\x91\x8D",
        "9\xF0\x9F\x91\x8D",
        "nove.5",
        "10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10"}) {
    INFO(in);
    CHECK_FALSE(parse_nps_score(in).has_value());
  }
}

TEST_CASE("nps_category follows 0-6 / 7-8 / 9-10") {
  for (int s = 0; s <= 10; ++s) {
    INFO(s);
    auto c = nps_category(s);
    REQUIRE(c.ok());
    const NpsCategory expected = s <= 6   ? NpsCategory::detractor
                                 : s <= 8 ? NpsCategory::neutral
                                          : NpsCategory::promoter;
    CHECK(*c == expected);
  }
  CHECK(to_string(NpsCategory::detractor) == "detractor");
  CHECK(to_string(NpsCategory::neutral) == "neutral");
  CHECK(to_string(NpsCategory::promoter) == "promoter");
  for (int bad : {-1, 11, 100}) {
    auto c = nps_category(bad);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().code() == Errc::invalid_argument);
  }
}

TEST_CASE("compute_nps counts categories and rounds half away from zero") {
  struct Case {
    std::vector<int> scores;
    int promoters = 0, neutrals = 0, detractors = 0, nps = 0;
  };
  const Case cases[] = {
      {{10, 9, 9, 10}, 4, 0, 0, 100},
      {{0, 3, 6}, 0, 0, 3, -100},
      {{7, 8}, 0, 2, 0, 0},
      {{10, 9, 0, 7, 8, 8}, 2, 3, 1, 17},        // 16.67 -> 17
      {{10, 7, 7, 7, 7, 7, 7, 7}, 1, 7, 0, 13},  // 12.5 -> 13
      {{0, 7, 7, 7, 7, 7, 7, 7}, 0, 7, 1, -13},  // -12.5 -> -13
      {{10, 0, 0}, 1, 0, 2, -33},                // -33.3 -> -33
      {{9, 9, 0}, 2, 0, 1, 33},                  // 33.3 -> 33
      {{9, 9, 8}, 2, 1, 0, 67},                  // 66.7 -> 67
      {{9, 0}, 1, 0, 1, 0},
  };
  for (const auto& c : cases) {
    auto r = compute_nps(c.scores);
    REQUIRE(r.ok());
    CHECK(r->responses == static_cast<int>(c.scores.size()));
    CHECK(r->promoters == c.promoters);
    CHECK(r->neutrals == c.neutrals);
    CHECK(r->detractors == c.detractors);
    CHECK(r->score == c.nps);
    CHECK(r->exact == Approx(100.0 * (c.promoters - c.detractors) / c.scores.size()));
    // The same from the counts alone (the API's GROUP BY).
    const auto counted = lia::domain::nps_from_counts(c.promoters, c.neutrals, c.detractors);
    CHECK(counted.responses == r->responses);
    CHECK(counted.score == c.nps);
    CHECK(counted.exact == r->exact);
  }
  // Millions of answers, no score per answer: 3,000,000 promoters and 1,000,000 detractors of
  // 6,000,000 is 33.3 -> 33.
  const auto big = lia::domain::nps_from_counts(3'000'000, 2'000'000, 1'000'000);
  CHECK(big.responses == 6'000'000);
  CHECK(big.score == 33);
}

TEST_CASE("compute_nps of no responses is 0 with responses == 0, bad scores fail") {
  auto empty = compute_nps({});
  REQUIRE(empty.ok());
  CHECK(empty->responses == 0);
  CHECK(empty->score == 0);
  CHECK(empty->exact == 0.0);

  const std::vector<int> bad = {9, 10, 11};
  auto r = compute_nps(bad);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("11"));
}

TEST_CASE("the survey window is 24 hours, both ends included") {
  const SysTime sent{std::chrono::seconds{1'750'000'000}};
  CHECK(within_survey_window(sent, sent));
  CHECK(within_survey_window(sent, sent + 1s));
  CHECK(within_survey_window(sent, sent + 23h + 59min + 59s));
  CHECK(within_survey_window(sent, sent + 24h));
  CHECK_FALSE(within_survey_window(sent, sent + 24h + 1ms));
  CHECK_FALSE(within_survey_window(sent, sent + 48h));
  CHECK_FALSE(within_survey_window(sent, sent - 1s));
  CHECK(within_survey_window(sent, sent + 2h, 2h));
  CHECK_FALSE(within_survey_window(sent, sent + 2h + 1s, 2h));
}
