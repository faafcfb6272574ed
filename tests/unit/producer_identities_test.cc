// The tokens file of serve --tokens: parsing, errors that name the line and key, and lookups.
#include "source/producer_identities.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "wire/protocol_v2.h"

namespace sluice::source {
namespace {

std::string hex(const Sha256& digest) {
  std::string out;
  for (auto b : digest) out += fmt::format("{:02x}", b);
  return out;
}

TEST(ProducerIdentities, ParsesTokensDigestsSubjectsRangesAndPrefixes) {
  const std::string text = fmt::format(R"(anonymous: true
identities:
  camera-1:
    token: secret-one
    streams: [4294967296, 4294967300-4294967309]
    names: [cam1/]
  camera-2:
    token_sha256: {}
    subject: CN=camera-2
    streams: ["5000000000"]
)",
                                       hex(sha256("secret-two")));
  auto ids = ProducerIdentities::parse(text, "tokens.yaml");
  ASSERT_TRUE(ids) << ids.status().to_string();
  EXPECT_TRUE(ids->allow_anonymous());
  ASSERT_EQ(ids->identities().size(), 2u);

  const auto* one = ids->by_token("secret-one");
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->name, "camera-1");
  EXPECT_TRUE(one->owns_stream(4294967296));
  EXPECT_FALSE(one->owns_stream(4294967297));
  EXPECT_TRUE(one->owns_stream(4294967300));
  EXPECT_TRUE(one->owns_stream(4294967309));
  EXPECT_FALSE(one->owns_stream(4294967310));
  EXPECT_TRUE(one->may_name("cam1/shot-1.png"));
  EXPECT_FALSE(one->may_name("cam2/shot-1.png"));

  const auto* two = ids->by_token("secret-two");
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(two->name, "camera-2");
  EXPECT_TRUE(two->may_name("anything"));  // no names: any name
  EXPECT_EQ(ids->by_subject("CN=camera-2"), two);
  EXPECT_EQ(ids->by_subject("CN=camera-1"), nullptr);
  EXPECT_EQ(ids->owner_of(5000000000), two);
  EXPECT_EQ(ids->owner_of(4294967305), one);
  EXPECT_EQ(ids->owner_of(4294967297), nullptr);

  EXPECT_EQ(ids->by_token("secret"), nullptr);
  EXPECT_EQ(ids->by_token(""), nullptr);
}

TEST(ProducerIdentities, AnonymousIsOffUnlessAsked) {
  auto ids = ProducerIdentities::parse("identities:\n  a:\n    token: t\n    streams: [4294967296]\n", "f");
  ASSERT_TRUE(ids) << ids.status().to_string();
  EXPECT_FALSE(ids->allow_anonymous());
}

// Each bad file: the message must hold every one of the fragments (file:line, the key...).
struct BadFile {
  const char* text;
  std::vector<std::string> fragments;
};

TEST(ProducerIdentities, ErrorsNameTheFileTheLineAndTheKey) {
  const std::vector<BadFile> cases = {
      {"identities: [unclosed\n", {"t.yaml:"}},
      {"identities:\n  a:\n    token: t\n    streams: [4294967296]\n    colour: red\n",
       {"t.yaml:5:", "unknown key 'colour'", "identity 'a'"}},
      {"identitees:\n  a: {}\n", {"t.yaml:1:", "unknown key 'identitees'"}},
      {"anonymous: maybe\nidentities: {}\n", {"t.yaml:1:", "anonymous"}},
      {"identities:\n  a:\n    token: t\n    streams: [12]\n", {"t.yaml:4:", "below 4294967296"}},
      {"identities:\n  a:\n    token: t\n    streams: [4294967299-4294967296]\n",
       {"t.yaml:4:", "ends before"}},
      {"identities:\n  a:\n    token: t\n    streams: [4294967296-x]\n",
       {"t.yaml:4:", "not an id or a range"}},
      {"identities:\n  a:\n    token_sha256: abc\n    streams: [4294967296]\n",
       {"t.yaml:3:", "64 hex digits"}},
      {"identities:\n  a:\n    streams: [4294967296]\n", {"t.yaml:3:", "needs a token"}},
      {"identities:\n  a:\n    token: t\n", {"t.yaml:3:", "needs streams"}},
      {"identities:\n  a:\n    token: t\n    streams: [4294967296-4294967300]\n"
       "  b:\n    token: u\n    streams: [4294967300]\n",
       {"t.yaml:5:", "shares stream ids 4294967300-4294967300", "'a'"}},
      {"identities:\n  a:\n    token: t\n    streams: [4294967296]\n"
       "  b:\n    token: t\n    streams: [4294967297]\n",
       {"t.yaml:5:", "has the token of identity 'a'"}},
      {"- just\n- a list\n", {"t.yaml:1:", "identities"}},
      {"anonymous: true\n", {"'identities' is missing"}},
  };
  for (const auto& c : cases) {
    auto ids = ProducerIdentities::parse(c.text, "t.yaml");
    ASSERT_FALSE(ids) << c.text;
    for (const auto& fragment : c.fragments) {
      EXPECT_NE(ids.status().message().find(fragment), std::string::npos)
          << "'" << fragment << "' not in: " << ids.status().message() << "\nfor:\n"
          << c.text;
    }
    EXPECT_NE(ids.status().message().find("rule: --tokens"), std::string::npos) << ids.status().message();
  }
}

TEST(ProducerIdentities, LoadFailsOnAMissingFile) {
  auto ids = ProducerIdentities::load("/nonexistent/tokens.yaml");
  ASSERT_FALSE(ids);
  EXPECT_NE(ids.status().message().find("/nonexistent/tokens.yaml"), std::string::npos);
}

TEST(ProtocolV2, HelloCarriesAnOptionalToken) {
  const auto plain = wire::encode_hello({4294967296, 7, {}});
  EXPECT_EQ(std::string(plain.begin(), plain.end()), R"({"v":2,"stream":4294967296,"seq":7})");
  auto parsed = wire::parse_hello(plain);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->token.empty());

  const auto with = wire::encode_hello({4294967296, 7, "s3cret \"quoted\""});
  parsed = wire::parse_hello(with);
  ASSERT_TRUE(parsed) << parsed.status().to_string();
  EXPECT_EQ(parsed->token, "s3cret \"quoted\"");
  EXPECT_EQ(parsed->stream, 4294967296u);
  EXPECT_EQ(parsed->next_seq, 7u);

  const std::string bad = R"({"v":2,"stream":4294967296,"seq":0,"token":5})";
  EXPECT_FALSE(wire::parse_hello(std::span(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size())));
}

}  // namespace
}  // namespace sluice::source
