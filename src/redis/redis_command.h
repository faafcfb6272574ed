// RedisCommand: the arguments of one Redis command, binary-safe, for redisAppendCommandArgv.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::redis {

/// Owns its arguments, except those added with add_borrowed (a payload the caller keeps alive
/// until the command is sent), so a frame's bytes go to the socket without a copy.
class RedisCommand {
 public:
  explicit RedisCommand(std::string_view name) { add(name); }
  RedisCommand(RedisCommand&&) = default;
  RedisCommand& operator=(RedisCommand&&) = default;
  RedisCommand(const RedisCommand&) = delete;
  RedisCommand& operator=(const RedisCommand&) = delete;

  /// Appends a copy of `arg`.
  RedisCommand& add(std::string_view arg) {
    const auto& s = owned_.emplace_back(arg);  // deque: earlier elements never move
    argv_.push_back(s.data());
    lens_.push_back(s.size());
    return *this;
  }
  /// Appends the decimal form of `value`.
  RedisCommand& add(std::uint64_t value) { return add(std::string_view(std::to_string(value))); }
  RedisCommand& add_int(long long value) { return add(std::string_view(std::to_string(value))); }
  /// Appends `bytes` without copying; they must stay valid until the command is sent.
  RedisCommand& add_borrowed(std::span<const std::uint8_t> bytes) {
    argv_.push_back(reinterpret_cast<const char*>(bytes.data()));
    lens_.push_back(bytes.size());
    return *this;
  }

  int argc() const { return static_cast<int>(argv_.size()); }
  const char** argv() { return argv_.data(); }
  const std::size_t* argvlen() const { return lens_.data(); }
  /// The command name and its first key, for logs ("XADD sluice:frames:{0}").
  std::string describe() const {
    std::string out(argv_[0], lens_[0]);
    if (argv_.size() > 1) out.append(" ").append(argv_[1], std::min<std::size_t>(lens_[1], 64));
    return out;
  }

 private:
  std::deque<std::string> owned_;
  std::vector<const char*> argv_;
  std::vector<std::size_t> lens_;
};

}  // namespace sluice::redis
