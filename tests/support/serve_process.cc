#include "support/serve_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include <fmt/format.h>

#include "support/results.h"
#include "support/wait.h"

namespace sluice::test {

using nlohmann::json;

ServeProcess::ServeProcess(ServeOptions options) : options_(std::move(options)) {
  dir_ = options_.dir.empty() ? make_temp_dir(options_.tag) : options_.dir;
  port_ = options_.port != 0 ? options_.port : (options_.listen ? free_port() : 0);
  http_port_ = options_.http ? free_port() : 0;
  std::vector<std::string> argv{sluice_binary(), options_.command};
  if (options_.listen) argv.insert(argv.end(), {"--listen", address()});
  if (!options_.model.empty()) argv.insert(argv.end(), {"--model", options_.model});
  if (options_.output) argv.insert(argv.end(), {"--output", output()});
  if (!options_.batch_interval.empty())
    argv.insert(argv.end(), {"--batch-interval", options_.batch_interval});
  if (!options_.block_interval.empty())
    argv.insert(argv.end(), {"--block-interval", options_.block_interval});
  if (options_.http) argv.insert(argv.end(), {"--http", fmt::format("127.0.0.1:{}", http_port_)});
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());
  const auto gives = [&](const char* flag) {
    return std::find(options_.args.begin(), options_.args.end(), flag) != options_.args.end();
  };
  if (options_.command == "serve" && !gives("--memory-budget") && !gives("--config")) {
    const auto flags = sanitizer_serve_flags();
    argv.insert(argv.end(), flags.begin(), flags.end());
  }
  if (options_.terminal.count() > 0) {
    std::string inner = fmt::format("timeout --preserve-status -s INT {}", options_.terminal.count());
    for (const auto& arg : argv) inner += " '" + arg + "'";
    process_.emplace(ChildProcess::spawn({"/usr/bin/script", "-qfec", inner, "/dev/null"}, log_path(), ""));
  } else {
    process_.emplace(ChildProcess::spawn(argv, "", log_path()));
  }

  const auto alive = [this] { return this->alive(); };
  if (port_ == 0 && http_port_ == 0) {
    // No port to watch (sources only): the log says when it serves.
    ready_ = eventually([&] { return !alive() || log().find(options_.ready_log) != std::string::npos; },
                        options_.start_timeout) &&
             alive();
    return;
  }
  ready_ = true;
  for (const auto port : {port_, http_port_}) {
    if (port != 0) ready_ = ready_ && wait_until_listening(port, options_.start_timeout, alive);
  }
  ready_ = ready_ && alive();
}

bool ServeProcess::alive() {
  if (exit_code_) return false;
  if (!process_ || !process_->running()) return false;
  exit_code_ = process_->wait(std::chrono::milliseconds(0));
  return !exit_code_;
}

std::string ServeProcess::address() const {
  return fmt::format("127.0.0.1:{}", port_);
}

std::string ServeProcess::log() const {
  return read_file(log_path());
}

std::vector<json> ServeProcess::lines(bool settled) const {
  return read_json_lines(output(), settled);
}

std::size_t ServeProcess::wait_for_lines(std::size_t n, std::chrono::milliseconds timeout) const {
  return test::wait_for_lines(output(), n, timeout);
}

bool ServeProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  return wait_for_text(log_path(), text, timeout);
}

HttpReply ServeProcess::get(const std::string& path) const {
  if (http_port_ == 0) {
    ADD_FAILURE() << "GET " << path << ": this ServeProcess was started without http";
    return {};
  }
  return http_get(http_port_, path);
}

json ServeProcess::status() const {
  const auto reply = get("/api/status");
  if (reply.status != 200) return nullptr;
  return json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
}

MetricSamples ServeProcess::metrics() const {
  const auto reply = get("/metrics");
  return reply.status == 200 ? parse_exposition(reply.body) : MetricSamples{};
}

json ServeProcess::wait_for_status(const std::function<bool(const json&)>& done,
                                   std::chrono::milliseconds timeout) const {
  json last;
  eventually(
      [&] {
        last = status();
        return last.is_object() && done(last);
      },
      timeout, std::chrono::milliseconds(100));
  return last;
}

MetricSamples ServeProcess::wait_for_metrics(const std::function<bool(const MetricSamples&)>& done,
                                             std::chrono::milliseconds timeout) const {
  MetricSamples last;
  eventually(
      [&] {
        last = metrics();
        return !last.empty() && done(last);
      },
      timeout, std::chrono::milliseconds(100));
  return last;
}

std::optional<int> ServeProcess::stop(std::chrono::milliseconds timeout) {
  if (alive()) process_->signal(SIGTERM);
  return wait(timeout);
}

std::optional<int> ServeProcess::kill9() {
  if (alive()) process_->signal(SIGKILL);
  return wait(std::chrono::seconds(30));
}

std::optional<int> ServeProcess::wait(std::chrono::milliseconds timeout) {
  if (!exit_code_ && process_) exit_code_ = process_->wait(timeout);
  return exit_code_;
}

ChildProcess spawn_send(const std::string& dir, std::uint16_t port, const std::vector<std::string>& args) {
  std::vector<std::string> argv{sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess::spawn(argv, dir + "/send.out", dir + "/send.err");
}

}  // namespace sluice::test
