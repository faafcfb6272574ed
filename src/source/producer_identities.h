// ProducerIdentities: who may produce into a listening source (--tokens FILE), and what.
//
// The file is YAML:
//
//   anonymous: false            # optional: true lets producers without a token in (plain seed
//                               # producers, and hellos without a token on ids no identity owns)
//   identities:
//     camera-1:
//       token_sha256: 5e88...   # hex SHA-256 of the token (or `token: secret`, the token itself)
//       subject: CN=camera-1    # optional: a TLS client certificate's subject
//       streams: [4294967296, 4294967300-4294967399]   # stream ids and inclusive ranges
//       names: [cam1/]          # optional: frame-name prefixes it may use; omitted: any name
//
// Each identity owns its stream ids alone: two identities may not share an id or a token.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice::source {

using Sha256 = std::array<std::uint8_t, 32>;

/// SHA-256 of `text` (OpenSSL's libcrypto).
Sha256 sha256(std::string_view text);

/// Inclusive range of producer stream ids.
struct StreamIdRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

struct ProducerIdentity {
  std::string name;
  bool has_token = false;
  Sha256 token_sha256{};
  std::string subject;  // empty: none
  std::vector<StreamIdRange> streams;
  std::vector<std::string> name_prefixes;  // empty: any name

  bool owns_stream(std::uint64_t stream) const;
  bool may_name(std::string_view frame_name) const;
};

class ProducerIdentities {
 public:
  /// Parses the YAML text of a tokens file; errors name `file`, the line and the key.
  static Result<ProducerIdentities> parse(const std::string& text, const std::string& file);
  /// Reads and parses a tokens file.
  static Result<std::shared_ptr<const ProducerIdentities>> load(const std::string& path);

  /// The identity whose token this is; nullptr for an unknown token.
  const ProducerIdentity* by_token(std::string_view token) const;
  /// The identity of a TLS client certificate subject; nullptr when none names it.
  const ProducerIdentity* by_subject(std::string_view subject) const;
  /// The identity that owns a stream id; nullptr when none does.
  const ProducerIdentity* owner_of(std::uint64_t stream) const;
  /// Producers without a token may connect (plain producers, and hellos on unowned ids).
  bool allow_anonymous() const { return allow_anonymous_; }
  const std::vector<ProducerIdentity>& identities() const { return identities_; }

 private:
  std::vector<ProducerIdentity> identities_;
  std::map<Sha256, std::size_t> by_token_;
  std::map<std::string, std::size_t, std::less<>> by_subject_;
  bool allow_anonymous_ = false;
};

}  // namespace sluice::source
