// Certificates for TLS tests, made at test time with the openssl command line (Debian's openssl):
// a CA, and leaf certificates it signs (EC P-256, valid two days, usable by servers and clients,
// for localhost and 127.0.0.1).
#pragma once

#include <string>

namespace sluice::test {

/// A PEM certificate and its private key.
struct CertFiles {
  std::string cert;
  std::string key;
};

/// The openssl executable the helpers run.
inline constexpr const char* kOpenssl = "/usr/bin/openssl";

/// A self-signed CA, dir/NAME.crt and dir/NAME.key, subject CN=NAME.
CertFiles make_ca(const std::string& dir, const std::string& name);
/// A leaf certificate for CN=`common_name`, signed by `ca`: dir/NAME.crt and dir/NAME.key.
CertFiles make_leaf(const std::string& dir, const std::string& name, const std::string& common_name,
                    const CertFiles& ca);

/// Runs `command` with /bin/sh; its exit status, its output (stdout and stderr) in `output`.
int run_shell(const std::string& command, std::string* output = nullptr);

}  // namespace sluice::test
