// Tests for JSON string escaping of untrusted bytes, and the JSON lines the sink writes.
#include "util/json_escape.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "sink/json_lines_sink.h"
#include "sink/result_record.h"

namespace sluice {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  return out;
}

// Parses `"` + escaped(text) + `"` as JSON, which must always succeed.
// Wraps the escaped text in quotes: a JSON string document.
std::string quoted(std::string_view text) {
  std::string doc(1, '"');
  append_json_escaped(doc, text);
  doc += '"';
  return doc;
}

std::string json_round_trip(std::string_view text) {
  const std::string doc = quoted(text);
  return nlohmann::json::parse(doc).get<std::string>();
}

TEST(JsonEscapeTest, AsciiPassesThrough) {
  EXPECT_EQ(escaped("cat_01.png"), "cat_01.png");
  EXPECT_EQ(escaped(""), "");
  EXPECT_EQ(escaped("a b/c"), "a b/c");
}

TEST(JsonEscapeTest, AppendsWithoutClearing) {
  std::string out = "prefix:";
  append_json_escaped(out, "x");
  EXPECT_EQ(out, "prefix:x");
}

TEST(JsonEscapeTest, ValidUtf8PassesThrough) {
  const std::string two = "caf\xC3\xA9";  // é
  const std::string three =
      "\xE2\x82\xAC"
      "5";                                          // €
  const std::string four = "\xF0\x9F\x90\xB1.jpg";  // U+1F431
  const std::string max = "\xF4\x8F\xBF\xBF";       // U+10FFFF
  for (const auto& s : {two, three, four, max}) {
    EXPECT_EQ(escaped(s), s);
    EXPECT_TRUE(is_valid_utf8(s));
    EXPECT_EQ(json_round_trip(s), s);
  }
}

TEST(JsonEscapeTest, QuotesBackslashesAndControlsAreEscaped) {
  EXPECT_EQ(escaped("a\"b"), "a\\\"b");
  EXPECT_EQ(escaped("a\\b"), "a\\\\b");
  EXPECT_EQ(escaped("\n"), "\\n");
  EXPECT_EQ(escaped("\r"), "\\r");
  EXPECT_EQ(escaped("\t"), "\\t");
  EXPECT_EQ(escaped(std::string_view("\0", 1)), "\\u0000");
  EXPECT_EQ(escaped("\x01"), "\\u0001");
  EXPECT_EQ(escaped("\x1F"), "\\u001f");
  EXPECT_EQ(escaped("\x7F"), "\\u007f");
  const std::string nasty = std::string("q\"\\\n\r\t\x01\x1f", 8) + std::string(1, '\0') + "end";
  EXPECT_EQ(json_round_trip(nasty), nasty);
}

TEST(JsonEscapeTest, InvalidBytesBecomeUnicodeEscapes) {
  EXPECT_EQ(escaped("\xFF"), "\\u00ff");
  EXPECT_EQ(escaped("a\xFE"
                    "b"),
            "a\\u00feb");
  // Overlong encoding of NUL.
  EXPECT_EQ(escaped("\xC0\x80"), "\\u00c0\\u0080");
  // Lone (high) surrogate U+D800 encoded as three bytes.
  EXPECT_EQ(escaped("\xED\xA0\x80"), "\\u00ed\\u00a0\\u0080");
  // A truncated three-byte sequence, then ASCII.
  EXPECT_EQ(escaped("\xE2\x82"
                    "x"),
            "\\u00e2\\u0082x");
  // A truncated sequence at the very end.
  EXPECT_EQ(escaped("ok\xF0\x9F"), "ok\\u00f0\\u009f");
  // A stray continuation byte.
  EXPECT_EQ(escaped("\x80"), "\\u0080");
  // Above U+10FFFF.
  EXPECT_EQ(escaped("\xF4\x90\x80\x80"), "\\u00f4\\u0090\\u0080\\u0080");
}

TEST(JsonEscapeTest, InvalidBytesStillGiveValidJson) {
  for (std::string_view s :
       {std::string_view("\xFF"), std::string_view("\xC0\x80"), std::string_view("\xED\xA0\x80"),
        std::string_view("\xE2\x82"), std::string_view("mixed \xC3\xA9 \xFF \"q\"")}) {
    const std::string doc = quoted(s);
    EXPECT_TRUE(nlohmann::json::accept(doc)) << doc;
  }
  // The mixed case keeps its valid part and shows the invalid byte as U+00FF.
  EXPECT_EQ(json_round_trip("\xC3\xA9\xFF"), "\xC3\xA9\xC3\xBF");
}

TEST(JsonEscapeTest, IsValidUtf8) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));
  EXPECT_TRUE(is_valid_utf8("\xE2\x82\xAC"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x90\xB1"));
  EXPECT_TRUE(is_valid_utf8("\xEF\xBF\xBF"));  // U+FFFF
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));  // U+D7FF, just below the surrogates
  EXPECT_TRUE(is_valid_utf8(std::string_view("\0", 1)));

  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\x80"));      // overlong three-byte
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\x80"));  // overlong four-byte
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // lone surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));              // stray continuation
  EXPECT_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("ok\xC3"));
}

sink::ResultRecord prediction_record() {
  sink::ResultRecord r;
  r.stream = 3;
  r.seq = 41;
  r.name = "shoe \"7\"\xFF.png";
  r.batch = 12;
  r.latency_ms = 1.25;
  r.top = {{9, "Ankle boot", 0.875f}, {7, "Sneaker", 0.125f}};
  return r;
}

TEST(JsonLinesTest, PredictionRecordParses) {
  std::string line;
  sink::append_json_line(prediction_record(), line);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "exactly one line";

  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("stream").get<std::uint64_t>(), 3u);
  EXPECT_EQ(j.at("seq").get<std::uint64_t>(), 41u);
  EXPECT_EQ(j.at("name").get<std::string>(), "shoe \"7\"\xC3\xBF.png");
  EXPECT_EQ(j.at("batch").get<std::uint64_t>(), 12u);
  EXPECT_NEAR(j.at("latency_ms").get<double>(), 1.25, 1e-9);
  EXPECT_FALSE(j.contains("error"));
  const auto& top = j.at("top");
  ASSERT_TRUE(top.is_array());
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].at("index").get<int>(), 9);
  EXPECT_EQ(top[0].at("label").get<std::string>(), "Ankle boot");
  EXPECT_NEAR(top[0].at("score").get<double>(), 0.875, 1e-6);
  EXPECT_EQ(top[1].at("index").get<int>(), 7);
  EXPECT_EQ(top[1].at("label").get<std::string>(), "Sneaker");
  EXPECT_NEAR(top[1].at("score").get<double>(), 0.125, 1e-6);
}

TEST(JsonLinesTest, ErrorRecordParses) {
  sink::ResultRecord r;
  r.stream = 1;
  r.seq = 0;
  r.name = "bad\n.jpg";
  r.batch = 2;
  r.latency_ms = 0.5;
  r.error_code = Code::kDecode;
  r.error = "decode: payload of 5 bytes is neither JPEG nor PNG \"x\"";
  std::string line;
  sink::append_json_line(r, line);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "exactly one line";

  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("stream").get<std::uint64_t>(), 1u);
  EXPECT_EQ(j.at("seq").get<std::uint64_t>(), 0u);
  EXPECT_EQ(j.at("name").get<std::string>(), "bad\n.jpg");
  EXPECT_EQ(j.at("batch").get<std::uint64_t>(), 2u);
  EXPECT_NEAR(j.at("latency_ms").get<double>(), 0.5, 1e-9);
  EXPECT_EQ(j.at("error").get<std::string>(), r.error);
  EXPECT_FALSE(j.contains("top"));
}

TEST(JsonLinesTest, EmptyTopAndLargeIdsParse) {
  sink::ResultRecord r;
  r.stream = 18446744073709551615ull;
  r.seq = 1ull << 40;
  std::string line;
  sink::append_json_line(r, line);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("stream").get<std::uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(j.at("seq").get<std::uint64_t>(), 1ull << 40);
  EXPECT_TRUE(j.at("top").is_array());
  EXPECT_TRUE(j.at("top").empty());
}

TEST(JsonLinesTest, LinesAppend) {
  std::string out;
  sink::append_json_line(prediction_record(), out);
  sink::append_json_line(prediction_record(), out);
  const auto first_end = out.find('\n');
  ASSERT_NE(first_end, std::string::npos);
  EXPECT_EQ(out.find('\n', first_end + 1), out.size() - 1);
  EXPECT_TRUE(nlohmann::json::accept(out.substr(0, first_end)));
  EXPECT_TRUE(nlohmann::json::accept(out.substr(first_end + 1)));
}

}  // namespace
}  // namespace sluice
