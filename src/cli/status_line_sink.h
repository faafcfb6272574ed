// StatusLineSink: an spdlog sink for a terminal that keeps one live status line under the log:
// each log line is printed above it, and set_status() redraws it in place.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace sluice::cli {

class StatusLineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  /// `inner` formats and writes the log lines to stderr, as before.
  explicit StatusLineSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

  /// Replaces the status line; "" erases it. It must fit the terminal's width (no wrapping).
  void set_status(std::string line);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
  std::string status_;
};

/// Puts a StatusLineSink in front of the default logger's sinks. Call before other threads log.
std::shared_ptr<StatusLineSink> install_status_line_sink();

}  // namespace sluice::cli
