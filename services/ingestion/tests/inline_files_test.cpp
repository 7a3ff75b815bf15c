// InlineFileFilter: Evolution's inline files ("base64" and "media" members) are emptied as the body
// arrives, wherever it is split; everything else is kept byte for byte.

#include "src/inline_files.hpp"

#include <catch2/catch.hpp>

#include <lia/core/metrics.hpp>

#include "support.hpp"

namespace {

using lia::ingestion::InlineFileFilter;

std::string filter_whole(std::string_view body, std::uint64_t* dropped = nullptr) {
  InlineFileFilter f;
  std::string kept;
  f.feed(body, kept);
  if (dropped != nullptr) *dropped = f.dropped_bytes();
  return kept;
}

// The body fed in pieces of `step` bytes.
std::string filter_in_pieces(std::string_view body, std::size_t step) {
  InlineFileFilter f;
  std::string kept;
  for (std::size_t i = 0; i < body.size(); i += step) f.feed(body.substr(i, step), kept);
  return kept;
}

// An Evolution video message with its file inlined, as Evolution writes it.
std::string video_with_file(const std::string& file) {
  std::string video = lia::ingestion::test::fixture("evo_video.json");
  const std::string message_key = R"("message": {)";
  const auto at = video.find(message_key);
  REQUIRE(at != std::string::npos);
  video.insert(at + message_key.size(), R"("base64": ")" + file + "\",");
  return video;
}

}  // namespace

TEST_CASE("the inline file of an Evolution media message comes out empty, the rest as sent") {
  const std::string file(100'000, 'Q');
  const std::string sent = video_with_file(file + "+/9==");
  std::uint64_t dropped = 0;
  CHECK(filter_whole(sent, &dropped) == video_with_file(""));
  CHECK(dropped == file.size() + 5);
}

TEST_CASE("the filter gives the same body however the bytes are split") {
  const std::string sent = video_with_file(std::string(300, 'Z') + R"(\/\u0041)") +
                           R"({"text":"say \"base64\": \"no\"","base64" :)"
                           "\t"
                           R"("QUJD","b":"base64"})";
  const std::string whole = filter_whole(sent);
  REQUIRE(whole.size() < sent.size());
  for (const std::size_t step : {1, 2, 3, 5, 7, 64, 4096}) {
    INFO("pieces of " << step);
    CHECK(filter_in_pieces(sent, step) == whole);
  }
}

TEST_CASE("only a member named exactly base64 whose value is a string is emptied") {
  // A value "base64", longer or shorter names, an escaped name, or text that quotes one.
  for (const std::string kept : {
           R"({"a":"base64","b":"QUJD"})",
           R"({"base64x":"QUJD","xbase64":"QUJD","base6":"QUJD"})",
           R"({"base\u0036\u0034":"QUJD"})",
           R"({"text":"\"base64\":\"QUJD\""})",
           R"({"base64":null,"n":{"base64":12},"l":{"base64":[ "QUJD" ]}})",
           R"(["base64", "QUJD"])",
       }) {
    INFO(kept);
    std::uint64_t dropped = 0;
    CHECK(filter_whole(kept, &dropped) == kept);
    CHECK(dropped == 0);
  }
  // Whitespace around the colon, nested members, an escape inside the file.
  std::uint64_t dropped = 0;
  CHECK(filter_whole("{\"base64\" :\n \"QUJD\",\"m\":{\"base64\":\"ab\\\"cd\"}}", &dropped) ==
        "{\"base64\" :\n \"\",\"m\":{\"base64\":\"\"}}");
  CHECK(dropped == 4 + 6);
}

TEST_CASE("the media of a send.message echo over the Cloud API is emptied too, split or not") {
  const std::string file(50'000, 'A');
  const std::string sent =
      R"({"event":"send.message","data":{"message":{"imageMessage":{"media":")" + file +
      R"(","caption":"media","mimetype":"image/png"}},"mediax":"k","medi":"k","m":"media"}})";
  const std::string want =
      R"({"event":"send.message","data":{"message":{"imageMessage":{"media":"","caption":"media","mimetype":"image/png"}},"mediax":"k","medi":"k","m":"media"}})";
  std::uint64_t dropped = 0;
  CHECK(filter_whole(sent, &dropped) == want);
  CHECK(dropped == file.size());
  for (const std::size_t step : {1, 2, 3, 5, 4096}) {
    INFO("pieces of " << step);
    CHECK(filter_in_pieces(sent, step) == want);
  }
}

TEST_CASE("broken JSON stays broken, and the dropped bytes are counted") {
  // An unterminated file keeps only the opening quote: the parser then reports the body.
  CHECK(filter_whole(R"({"base64":"QUJD)") == R"({"base64":")");
  auto& counter = lia::core::metrics().counter("lia_ingestion_inline_files_test_bytes", "test");
  const double before = counter.value();
  InlineFileFilter f(&counter);
  std::string kept;
  f.feed(R"({"base64":"QU)", kept);
  f.feed(R"(JD"})", kept);
  CHECK(kept == R"({"base64":""})");
  CHECK(counter.value() - before == 4);
}
