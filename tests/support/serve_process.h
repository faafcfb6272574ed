// ServeProcess: the real `sluice serve` (or `sluice worker`, `sluice ingest`) as a test fixture.
//
//   ServeProcess serve;                              // Fashion bundle, --listen on a free port
//   ServeProcess serve({.http = true, .args = {"--max-rate", "600"}});
//   ASSERT_TRUE(serve.ready()) << serve.log();
//   ... send to serve.port() ...
//   serve.wait_for_lines(500);
//   const auto status = serve.status();             // /api/status, parsed
//   const auto m = serve.metrics();                 // /metrics, parsed strictly
//   ASSERT_EQ(serve.stop(), 0) << serve.log();      // SIGTERM, then the exit code
//   const auto lines = serve.lines();               // the output's JSON lines
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/test_env.h"

namespace sluice::test {

struct ServeOptions {
  /// Where its files go (output, log); "" makes a fresh temporary directory tagged `tag`.
  std::string dir;
  std::string tag = "serve";
  /// Further flags, after the defaults below.
  std::vector<std::string> args;
  /// --listen 127.0.0.1:<port> (port: the one below, or a free one).
  bool listen = true;
  /// The port to listen on (0: a free one); also what ready() waits for when `listen` is false
  /// and the port is given elsewhere (a config file).
  std::uint16_t port = 0;
  /// --http 127.0.0.1:<free port>; ready() then also waits for it.
  bool http = false;
  /// --model (empty: none; the flags or a config file give it).
  std::string model = fashion_bundle();
  /// --output <dir>/results.jsonl.
  bool output = true;
  /// --batch-interval and --block-interval ("" leaves sluice's default): short, so tests are quick.
  std::string batch_interval = "200ms";
  std::string block_interval = "50ms";
  /// The subcommand.
  std::string command = "serve";
  /// Its stderr, in the directory.
  std::string log_name = "serve.log";
  /// With no port to watch, ready() waits for this in the log.
  std::string ready_log = "serving;";
  /// Above zero: runs it on a pseudo-terminal (script(1)), stopped by SIGINT after this long
  /// (timeout(1)); log() is then the terminal's screen.
  std::chrono::seconds terminal{0};
  /// How long ready() may take.
  std::chrono::milliseconds start_timeout{60000};
};

class ServeProcess {
 public:
  /// Starts the process and waits (bounded) until it listens on its ports, or, with none, until
  /// it logs that it serves; or until it exits (a refused start).
  explicit ServeProcess(ServeOptions options = {});
  ServeProcess(ServeProcess&&) = default;
  /// Kills it (SIGKILL) if the test did not stop it.
  ~ServeProcess() = default;

  bool ready() const { return ready_; }
  std::uint16_t port() const { return port_; }
  /// "127.0.0.1:<port>".
  std::string address() const;
  std::uint16_t http_port() const { return http_port_; }
  const std::string& dir() const { return dir_; }
  std::string output() const { return dir_ + "/results.jsonl"; }
  std::string log_path() const { return dir_ + "/" + options_.log_name; }
  /// Its stderr so far.
  std::string log() const;
  int pid() const { return process_ ? process_->pid() : -1; }

  /// The output's JSON lines (see read_json_lines; `settled` false while it runs).
  std::vector<nlohmann::json> lines(bool settled = true) const;
  /// Waits until the output has `n` lines; the count it saw.
  std::size_t wait_for_lines(std::size_t n,
                             std::chrono::milliseconds timeout = std::chrono::seconds(120)) const;
  /// Waits until its log holds `text`.
  bool wait_for_log(const std::string& text,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  /// GET on its --http port.
  HttpReply get(const std::string& path) const;
  /// /api/status, parsed (null when it does not answer).
  nlohmann::json status() const;
  /// /metrics, parsed strictly (empty when it does not answer).
  MetricSamples metrics() const;
  /// Polls /api/status until `done` holds (or `timeout`); the last status.
  nlohmann::json wait_for_status(const std::function<bool(const nlohmann::json&)>& done,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  /// Polls /metrics until `done` holds (or `timeout`); the last samples.
  MetricSamples wait_for_metrics(const std::function<bool(const MetricSamples&)>& done,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

  void signal(int sig) const {
    if (process_) process_->signal(sig);
  }
  /// SIGTERM, then its exit code (nullopt if it outlives `timeout`).
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// SIGKILL, then its exit status (128 + 9).
  std::optional<int> kill9();
  /// Waits for it to exit by itself: its exit code, or nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  bool alive();

  ServeOptions options_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::uint16_t http_port_ = 0;
  std::optional<ChildProcess> process_;
  std::optional<int> exit_code_;
  bool ready_ = false;
};

/// `sluice send --to 127.0.0.1:<port> ARGS...`, its stdout and stderr in dir/send.out, send.err.
ChildProcess spawn_send(const std::string& dir, std::uint16_t port, const std::vector<std::string>& args);

}  // namespace sluice::test
