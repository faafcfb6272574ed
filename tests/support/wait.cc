#include "support/wait.h"

#include <fstream>
#include <sstream>
#include <thread>

#include "support/child_process.h"

namespace sluice::test {

bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

bool wait_for_text(const std::string& path, const std::string& text, std::chrono::milliseconds timeout) {
  return eventually([&] { return read_file(path).find(text) != std::string::npos; }, timeout,
                    std::chrono::milliseconds(50));
}

std::size_t wait_for_lines(const std::string& path, std::size_t n, std::chrono::milliseconds timeout) {
  std::size_t count = 0;
  eventually(
      [&] {
        count = read_lines(path).size();
        return count >= n;
      },
      timeout, std::chrono::milliseconds(50));
  return count;
}

bool listening(std::uint16_t port) {
  // Lines of "sl local_address rem_address st ...": addresses in hex, state 0A is LISTEN.
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    const auto colon = local.find(':');
    if (state != "0A" || colon == std::string::npos) continue;
    const auto address = local.substr(0, colon);
    if (std::stoul(local.substr(colon + 1), nullptr, 16) != port) continue;
    if (address == "0100007F" || address == "00000000") return true;
  }
  return false;
}

bool wait_until_listening(std::uint16_t port, std::chrono::milliseconds timeout,
                          const std::function<bool()>& alive) {
  bool up = false;
  eventually(
      [&] {
        up = listening(port);
        return up || (alive && !alive());
      },
      timeout);
  return up;
}

}  // namespace sluice::test
