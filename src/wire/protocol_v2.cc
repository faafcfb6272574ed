#include "wire/protocol_v2.h"

#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sluice::wire {

std::vector<std::uint8_t> encode_hello(const Hello& hello) {
  // Without a token the payload is byte for byte what producers sent before tokens existed.
  std::string text = fmt::format(R"({{"v":2,"stream":{},"seq":{}}})", hello.stream, hello.next_seq);
  if (!hello.token.empty()) {
    text = nlohmann::json{{"v", 2}, {"stream", hello.stream}, {"seq", hello.next_seq}, {"token", hello.token}}
               .dump();
  }
  return {text.begin(), text.end()};
}

Result<Hello> parse_hello(std::span<const std::uint8_t> payload) {
  const auto json =
      nlohmann::json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    return Status(Code::kFraming, "hello payload is not a JSON object");
  if (!json.contains("v") || !json["v"].is_number_integer() || json["v"].get<int>() != 2) {
    return Status(Code::kFraming, "hello asks for an unsupported protocol version (this server speaks v2)");
  }
  if (!json.contains("stream") || !json["stream"].is_number_unsigned() || !json.contains("seq") ||
      !json["seq"].is_number_unsigned()) {
    return Status(Code::kFraming, "hello needs unsigned integers 'stream' and 'seq'");
  }
  Hello hello{json["stream"].get<std::uint64_t>(), json["seq"].get<std::uint64_t>(), {}};
  if (json.contains("token")) {
    if (!json["token"].is_string() || json["token"].get_ref<const std::string&>().empty() ||
        json["token"].get_ref<const std::string&>().size() > kMaxTokenBytes) {
      return Status(Code::kFraming, "hello 'token' must be a non-empty string of at most 1024 bytes");
    }
    hello.token = json["token"].get<std::string>();
  }
  if (hello.stream < kMinProducerStreamId) {
    return Status(Code::kFraming,
                  fmt::format("hello stream id {} is below 2^32 (rule: producer stream ids are >= "
                              "4294967296; smaller ids are the server's)",
                              hello.stream));
  }
  return hello;
}

std::array<std::uint8_t, kHeaderBytes + 8> encode_ack(std::uint64_t next_seq) {
  std::array<std::uint8_t, kHeaderBytes + 8> out{};
  const auto header = *encode_header(kAckName, 8);
  std::memcpy(out.data(), header.data(), header.size());
  for (int i = 0; i < 8; ++i)
    out[kHeaderBytes + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(next_seq >> (56 - 8 * i));
  return out;
}

Result<std::uint64_t> parse_ack(std::span<const std::uint8_t> payload) {
  if (payload.size() != 8)
    return Status(Code::kFraming, fmt::format("ack payload is {} bytes, not 8", payload.size()));
  std::uint64_t n = 0;
  for (auto b : payload) n = (n << 8) | b;
  return n;
}

}  // namespace sluice::wire
