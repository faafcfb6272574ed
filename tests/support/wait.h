// The one set of bounded waits for tests: a condition, a file's lines or text, a listening port.
// Each polls until it holds or its timeout passes, and returns whether it held (or what it saw).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace sluice::test {

/// Polls `ready` every `poll` for at most `timeout`; its last value.
bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(20));
/// Polls until the file holds `text`.
bool wait_for_text(const std::string& path, const std::string& text, std::chrono::milliseconds timeout);
/// Polls until the file has at least `n` lines; returns the final count.
std::size_t wait_for_lines(const std::string& path, std::size_t n, std::chrono::milliseconds timeout);
/// True when a socket listens on 127.0.0.1:port (or 0.0.0.0:port), read from /proc/net/tcp: a
/// check that opens no connection, so the server sees no probe stream.
bool listening(std::uint16_t port);
/// Polls until listening(port); `alive`, when given, ends the wait early once it is false.
bool wait_until_listening(std::uint16_t port, std::chrono::milliseconds timeout,
                          const std::function<bool()>& alive = {});

}  // namespace sluice::test
