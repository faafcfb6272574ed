// ChildProcess: a real subprocess for end-to-end tests, killed if the test forgets it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::test {

class ChildProcess {
 public:
  /// Starts `argv` with stdout and stderr redirected to files ("" = /dev/null).
  static ChildProcess spawn(const std::vector<std::string>& argv, const std::string& stdout_path,
                            const std::string& stderr_path);
  ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  void signal(int sig) const;
  /// The exit status (or 128+signal) once it exits, or nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

/// What a finished sluice command left: its exit status (-1 when it outlived the timeout and was
/// killed), stdout and stderr.
struct SluiceRun {
  int code = -1;
  std::string out;
  std::string err;
};
/// Runs the sluice binary with `args` to completion (at most `timeout`), its output in files in `dir`.
SluiceRun run_sluice(const std::string& dir, std::vector<std::string> args,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// A loopback port that was free a moment ago.
std::uint16_t free_port();
/// The lines of a file (empty when it does not exist).
std::vector<std::string> read_lines(const std::string& path);
std::string read_file(const std::string& path);

}  // namespace sluice::test
