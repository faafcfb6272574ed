// util/quantity.h: the one grammar for durations, sizes, counts, flags and decimal numbers, and
// its messages for `key=value` options (--source keys).
#include <gtest/gtest.h>

#include "util/quantity.h"

namespace sluice {
namespace {
using namespace std::chrono_literals;

TEST(Quantity, DurationsTakeUnitsAndBareMilliseconds) {
  EXPECT_EQ(*parse_duration("500us"), 500us);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("2min"), 120s);
  EXPECT_EQ(*parse_duration("250"), 250ms);
  EXPECT_EQ(*parse_duration_ms("250ms"), 250ms);
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("fast"));
  EXPECT_NE(parse_duration("3h").status().message().find("unknown duration unit 'h'"), std::string::npos);
}

TEST(Quantity, SizesCountsAndFlags) {
  EXPECT_EQ(*parse_size("64KiB"), 64u << 10);
  EXPECT_EQ(*parse_size("1MB"), 1000000u);
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_FALSE(parse_size("12 parsecs"));
  EXPECT_EQ(*parse_count("42"), 42u);
  EXPECT_FALSE(parse_count("-1"));
  EXPECT_FALSE(parse_count("4.5"));
  EXPECT_FALSE(parse_count(""));
  EXPECT_TRUE(*parse_flag("on"));
  EXPECT_FALSE(*parse_flag("0"));
  EXPECT_FALSE(parse_flag("maybe"));
}

TEST(Quantity, DecimalNumbersAreFiniteAndWhole) {
  EXPECT_EQ(*parse_decimal("5"), 5.0);
  EXPECT_EQ(*parse_decimal("2.5"), 2.5);
  EXPECT_EQ(*parse_decimal("0.25"), 0.25);
  EXPECT_EQ(*parse_decimal("-1.5"), -1.5);
  for (const char* bad : {"", " 5", "5fps", "2.5.1", "abc", "inf", "nan", "1e999"}) {
    const auto v = parse_decimal(bad);
    ASSERT_FALSE(v) << bad;
    EXPECT_NE(v.status().message().find("is not a decimal number"), std::string::npos)
        << v.status().message();
  }
}

TEST(Quantity, KeyValuesAreRefusedNamingTheContextTheKeyAndTheValue) {
  const auto message = [](const Status& st) { return st.message(); };
  EXPECT_EQ(*parse_positive_decimal({"ctx", "fps", "7.5"}), 7.5);
  EXPECT_EQ(message(parse_positive_decimal({"ctx", "fps", "0"}).status()),
            "ctx: fps=0 is not a positive number");
  EXPECT_EQ(message(parse_positive_decimal({"ctx", "fps", "-2"}).status()),
            "ctx: fps=-2 is not a positive number");
  EXPECT_EQ(*parse_positive_duration_ms({"ctx", "backoff", "1.5s"}), 1500ms);
  EXPECT_EQ(message(parse_positive_duration_ms({"ctx", "backoff", "0ms"}).status()),
            "ctx: backoff=0ms is not a positive duration such as 250ms, 2s or 1min");
  EXPECT_EQ(*parse_count({"ctx", "n", "3"}), 3u);
  EXPECT_EQ(message(parse_count({"ctx", "n", "x"}).status()), "ctx: n=x is not a non-negative integer");
  EXPECT_TRUE(*parse_flag({"ctx", "loop", "yes"}));
  EXPECT_EQ(message(parse_flag({"ctx", "loop", "2"}).status()),
            "ctx: loop=2 is not a flag (1/0, true/false, yes/no, on/off)");
  EXPECT_EQ(message(bad_value({"--source 'dir:/in?done='", "done", ""}, "a directory")),
            "--source 'dir:/in?done=': done= is not a directory");
}

}  // namespace
}  // namespace sluice
