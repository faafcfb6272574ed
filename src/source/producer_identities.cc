#include "source/producer_identities.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "wire/protocol_v2.h"

namespace sluice::source {
namespace {

constexpr std::string_view kIdentityKeys = "token, token_sha256, subject, streams, names";

struct Parser {
  const std::string& file;

  Status error(const YAML::Node& at, const std::string& message) const {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}:{}: {} (rule: --tokens)", file, at.Mark().line + 1, message));
  }
};

bool parse_u64(std::string_view text, std::uint64_t& out) {
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

Result<StreamIdRange> parse_range(const Parser& p, const YAML::Node& item, const std::string& who) {
  if (!item.IsScalar()) return p.error(item, fmt::format("'{}': each stream is an id or FIRST-LAST", who));
  const std::string text = item.Scalar();
  StreamIdRange range;
  const auto dash = text.find('-');
  const bool ok = dash == std::string::npos
                      ? parse_u64(text, range.first) && (range.last = range.first, true)
                      : parse_u64(std::string_view(text).substr(0, dash), range.first) &&
                            parse_u64(std::string_view(text).substr(dash + 1), range.last);
  if (!ok) {
    return p.error(item,
                   fmt::format("'{}': stream '{}' is not an id or a range FIRST-LAST of ids", who, text));
  }
  if (range.last < range.first)
    return p.error(item, fmt::format("'{}': stream range '{}' ends before it starts", who, text));
  if (range.first < wire::kMinProducerStreamId) {
    return p.error(item,
                   fmt::format("'{}': stream '{}' is below 4294967296 (producer stream ids are >= 2^32; "
                               "smaller ids are the server's)",
                               who, text));
  }
  return range;
}

Result<Sha256> parse_hex_digest(const Parser& p, const YAML::Node& node, const std::string& who) {
  const std::string text = node.IsScalar() ? node.Scalar() : std::string();
  Sha256 digest{};
  if (text.size() != 64) {
    return p.error(node, fmt::format("'{}': token_sha256 must be 64 hex digits", who));
  }
  for (std::size_t i = 0; i < digest.size(); ++i) {
    unsigned value = 0;
    const auto* begin = text.data() + 2 * i;
    const auto [ptr, ec] = std::from_chars(begin, begin + 2, value, 16);
    if (ec != std::errc() || ptr != begin + 2)
      return p.error(node, fmt::format("'{}': token_sha256 must be 64 hex digits", who));
    digest[i] = static_cast<std::uint8_t>(value);
  }
  return digest;
}

Result<ProducerIdentity> parse_identity(const Parser& p, const std::string& name, const YAML::Node& body) {
  ProducerIdentity id;
  id.name = name;
  if (!body.IsMap()) {
    return p.error(body, fmt::format("identity '{}' must be a mapping of {}", name, kIdentityKeys));
  }
  for (const auto& kv : body) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& value = kv.second;
    if (key == "token") {
      if (!value.IsScalar() || value.Scalar().empty())
        return p.error(kv.first, fmt::format("'{}': token must be a non-empty string", name));
      if (id.has_token)
        return p.error(kv.first, fmt::format("'{}': give token or token_sha256, not both", name));
      id.token_sha256 = sha256(value.Scalar());
      id.has_token = true;
    } else if (key == "token_sha256") {
      if (id.has_token)
        return p.error(kv.first, fmt::format("'{}': give token or token_sha256, not both", name));
      auto digest = parse_hex_digest(p, value, name);
      if (!digest) return digest.status();
      id.token_sha256 = *digest;
      id.has_token = true;
    } else if (key == "subject") {
      if (!value.IsScalar() || value.Scalar().empty())
        return p.error(kv.first, fmt::format("'{}': subject must be a non-empty string", name));
      id.subject = value.Scalar();
    } else if (key == "streams") {
      if (!value.IsSequence() || value.size() == 0)
        return p.error(kv.first, fmt::format("'{}': streams must be a non-empty list", name));
      for (const auto& item : value) {
        auto range = parse_range(p, item, name);
        if (!range) return range.status();
        id.streams.push_back(*range);
      }
    } else if (key == "names") {
      if (!value.IsSequence())
        return p.error(kv.first, fmt::format("'{}': names must be a list of frame-name prefixes", name));
      for (const auto& item : value) {
        if (!item.IsScalar() || item.Scalar().empty())
          return p.error(item, fmt::format("'{}': a name prefix must be a non-empty string", name));
        id.name_prefixes.push_back(item.Scalar());
      }
    } else {
      return p.error(kv.first,
                     fmt::format("unknown key '{}' in identity '{}' (known: {})", key, name, kIdentityKeys));
    }
  }
  if (!id.has_token && id.subject.empty())
    return p.error(body, fmt::format("identity '{}' needs a token, a token_sha256 or a subject", name));
  if (id.streams.empty()) return p.error(body, fmt::format("identity '{}' needs streams", name));
  return id;
}

}  // namespace

Sha256 sha256(std::string_view text) {
  Sha256 out{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr);
  return out;
}

bool ProducerIdentity::owns_stream(std::uint64_t stream) const {
  return std::any_of(streams.begin(), streams.end(),
                     [stream](const StreamIdRange& r) { return stream >= r.first && stream <= r.last; });
}

bool ProducerIdentity::may_name(std::string_view frame_name) const {
  if (name_prefixes.empty()) return true;
  return std::any_of(name_prefixes.begin(), name_prefixes.end(),
                     [frame_name](const std::string& prefix) { return frame_name.starts_with(prefix); });
}

Result<ProducerIdentities> ProducerIdentities::parse(const std::string& text, const std::string& file) {
  const Parser p{file};
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}:{}: {} (rule: --tokens)", file, e.mark.line + 1, e.msg));
  }
  if (!doc || !doc.IsMap()) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}:1: expected a mapping with 'identities' (rule: --tokens)", file));
  }
  ProducerIdentities out;
  bool have_identities = false;
  try {
    for (const auto& kv : doc) {
      const std::string key = kv.first.Scalar();
      if (key == "anonymous") {
        bool flag = false;
        if (!kv.second.IsScalar() || !YAML::convert<bool>::decode(kv.second, flag))
          return p.error(kv.first, "'anonymous' must be true or false");
        out.allow_anonymous_ = flag;
      } else if (key == "identities") {
        have_identities = true;
        if (kv.second.IsNull()) continue;
        if (!kv.second.IsMap())
          return p.error(kv.first, "'identities' must map each identity's name to its settings");
        for (const auto& entry : kv.second) {
          auto id = parse_identity(p, entry.first.Scalar(), entry.second);
          if (!id) return id.status();
          const std::size_t index = out.identities_.size();
          if (id->has_token && !out.by_token_.emplace(id->token_sha256, index).second) {
            return p.error(entry.first,
                           fmt::format("identity '{}' has the token of identity '{}'", id->name,
                                       out.identities_[out.by_token_.at(id->token_sha256)].name));
          }
          if (!id->subject.empty() && !out.by_subject_.emplace(id->subject, index).second) {
            return p.error(entry.first,
                           fmt::format("identity '{}' has the subject of another identity", id->name));
          }
          for (const auto& range : id->streams) {
            for (const auto& other : out.identities_) {
              for (const auto& r : other.streams) {
                if (range.first <= r.last && r.first <= range.last) {
                  return p.error(
                      entry.first,
                      fmt::format("identity '{}' shares stream ids {}-{} with identity '{}'", id->name,
                                  std::max(range.first, r.first), std::min(range.last, r.last), other.name));
                }
              }
            }
          }
          out.identities_.push_back(std::move(*id));
        }
      } else {
        return p.error(kv.first, fmt::format("unknown key '{}' (known: anonymous, identities)", key));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}:{}: {} (rule: --tokens)", file, e.mark.line + 1, e.msg));
  }
  if (!have_identities) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}:1: 'identities' is missing (rule: --tokens)", file));
  }
  return out;
}

Result<std::shared_ptr<const ProducerIdentities>> ProducerIdentities::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status(Code::kInvalidArgument, fmt::format("--tokens: cannot read '{}'", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse(text.str(), path);
  if (!parsed) return parsed.status();
  return std::shared_ptr<const ProducerIdentities>(std::make_shared<ProducerIdentities>(std::move(*parsed)));
}

const ProducerIdentity* ProducerIdentities::by_token(std::string_view token) const {
  // Looked up by digest: what the lookup's timing can reveal is about the digest, not the token.
  const auto it = by_token_.find(sha256(token));
  return it == by_token_.end() ? nullptr : &identities_[it->second];
}

const ProducerIdentity* ProducerIdentities::by_subject(std::string_view subject) const {
  const auto it = by_subject_.find(subject);
  return it == by_subject_.end() ? nullptr : &identities_[it->second];
}

const ProducerIdentity* ProducerIdentities::owner_of(std::uint64_t stream) const {
  for (const auto& id : identities_) {
    if (id.owns_stream(stream)) return &id;
  }
  return nullptr;
}

}  // namespace sluice::source
