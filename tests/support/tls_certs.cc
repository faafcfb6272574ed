#include "support/tls_certs.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <functional>
#include <stdexcept>

#include <fmt/format.h>

namespace sluice::test {
namespace {

void run_or_throw(const std::string& command) {
  std::string output;
  if (run_shell(command, &output) != 0) {
    throw std::runtime_error(fmt::format("`{}` failed: {}", command, output));
  }
}

}  // namespace

int run_shell(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
    if (output != nullptr) output->append(buf.data(), n);
  }
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

CertFiles make_ca(const std::string& dir, const std::string& name) {
  CertFiles ca{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  run_or_throw(fmt::format(
      "{} req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '{}' -out '{}' -days 2 -subj "
      "'/CN={}'",
      kOpenssl, ca.key, ca.cert, name));
  return ca;
}

CertFiles make_leaf(const std::string& dir, const std::string& name, const std::string& common_name,
                    const CertFiles& ca) {
  CertFiles leaf{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  const auto csr = dir + "/" + name + ".csr";
  const auto ext = dir + "/" + name + ".ext";
  std::ofstream(ext) << "basicConstraints=CA:FALSE\n"
                        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n";
  run_or_throw(fmt::format(
      "{} req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '{}' -out '{}' -subj '/CN={}'",
      kOpenssl, leaf.key, csr, common_name));
  run_or_throw(fmt::format(
      "{} x509 -req -in '{}' -CA '{}' -CAkey '{}' -set_serial 0x{:x} -out '{}' -days 2 -extfile '{}'",
      kOpenssl, csr, ca.cert, ca.key, std::hash<std::string>{}(dir + name) & 0xffffffffffffull, leaf.cert,
      ext));
  return leaf;
}

}  // namespace sluice::test
