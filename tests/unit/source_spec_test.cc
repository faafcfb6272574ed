// --source parsing and the source factory's refusals: every bad input names what is wrong.
#include <gtest/gtest.h>

#include "source/source_factory.h"
#include "source/source_spec.h"

namespace sluice::source {
namespace {

TEST(SourceSpecTest, SplitsKindTargetAndParamsInOrder) {
  auto spec = parse_source_spec("plugin:/opt/p/libx.so?ring=/r&slots=64&ring=/again");
  ASSERT_TRUE(spec) << spec.status().to_string();
  EXPECT_EQ(spec->kind, "plugin");
  EXPECT_EQ(spec->target, "/opt/p/libx.so");
  ASSERT_EQ(spec->params.size(), 3u);
  EXPECT_EQ(spec->params[0], (std::pair<std::string, std::string>{"ring", "/r"}));
  EXPECT_EQ(spec->params[1], (std::pair<std::string, std::string>{"slots", "64"}));
  EXPECT_EQ(spec->params[2], (std::pair<std::string, std::string>{"ring", "/again"}));
}

TEST(SourceSpecTest, TcpTargetsKeepTheirColons) {
  auto spec = parse_source_spec("tcp-listen:127.0.0.1:9999");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->kind, "tcp-listen");
  EXPECT_EQ(spec->target, "127.0.0.1:9999");
  EXPECT_TRUE(spec->params.empty());
  auto v6 = parse_source_spec("tcp-connect:[::1]:9000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->target, "[::1]:9000");
}

TEST(SourceSpecTest, PercentDecodesKeysAndValuesButNotTheTarget) {
  auto spec = parse_source_spec("dir:/data/50%off?done=/a%26b%3Dc&empty=");
  ASSERT_TRUE(spec) << spec.status().to_string();
  EXPECT_EQ(spec->target, "/data/50%off");
  ASSERT_EQ(spec->params.size(), 2u);
  EXPECT_EQ(spec->params[0].second, "/a&b=c");
  EXPECT_EQ(spec->params[1].second, "");
}

TEST(SourceSpecTest, EmptyQueryIsNoParams) {
  auto spec = parse_source_spec("dir:/in?");
  ASSERT_TRUE(spec);
  EXPECT_TRUE(spec->params.empty());
}

TEST(SourceSpecTest, RefusesBadInputNamingThePart) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"no-colon", "expected KIND:TARGET"},
      {":/x", "expected KIND:TARGET"},
      {"plugin:", "needs a target"},
      {"plugin:?a=1", "needs a target"},
      {"plugin:x.so?novalue", "'novalue' is not key=value"},
      {"plugin:x.so?=1", "empty key"},
      {"plugin:x.so?a=1&&b=2", "empty key=value item"},
      {"plugin:x.so?a=1&", "trailing '&'"},
      {"plugin:x.so?a=%zz", "bad %-escape"},
      {"plugin:x.so?a=%4", "bad %-escape"},
  };
  for (const auto& c : cases) {
    auto spec = parse_source_spec(c.text);
    ASSERT_FALSE(spec) << c.text;
    EXPECT_EQ(spec.status().code(), Code::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.expect), std::string::npos)
        << c.text << ": " << spec.status().message();
  }
}

Status make(const std::string& text) {
  auto spec = parse_source_spec(text);
  if (!spec) return spec.status();
  auto source = make_source(*spec, {});
  return source ? Status::ok() : source.status();
}

TEST(SourceFactoryTest, RefusesUnknownKindsKeysAndValues) {
  struct Case {
    std::string text;
    const char* expect;
  };
  const Case cases[] = {
      {"redis:localhost:6379", "unknown kind 'redis'"},
      {"tcp-listen:127.0.0.1:0?x=1", "takes no key=value options"},
      {"tcp-listen:nonsense", "--source 'tcp-listen:nonsense'"},
      {"dir:/tmp?bogus=1", "unknown key 'bogus' for dir"},
      {"dir:/tmp?delete=maybe", "delete=maybe is not a flag"},
      {"dir:/tmp?delete=1&done=/x", "not both"},
      {"dir:/tmp?restart_backoff=soon", "restart_backoff=soon is not a positive duration"},
      {"dir:/tmp?restart_backoff=0", "is not a positive duration"},
      {"dir:/tmp?max_restarts=-1", "max_restarts=-1 is not a non-negative integer"},
      {"plugin:/nonexistent/libnothing.so", "cannot load plugin '/nonexistent/libnothing.so'"},
  };
  for (const auto& c : cases) {
    const Status st = make(c.text);
    ASSERT_FALSE(st) << c.text;
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << c.text << ": " << st.message();
  }
}

TEST(SourceFactoryTest, BuildsTheBuiltInsWithTheirNames) {
  for (const std::string text : {"dir:/tmp?done=/tmp/done&restart_backoff=250ms&max_restarts=3",
                                 "tcp-listen:127.0.0.1:0", "tcp-connect:127.0.0.1:9"}) {
    auto spec = parse_source_spec(text);
    ASSERT_TRUE(spec);
    auto source = make_source(*spec, {});
    ASSERT_TRUE(source) << text << ": " << source.status().to_string();
    EXPECT_EQ((*source)->name().substr(0, spec->kind.size()), spec->kind) << (*source)->name();
  }
}

}  // namespace
}  // namespace sluice::source
