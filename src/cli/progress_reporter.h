// ProgressReporter: serve's live progress. On a terminal, one status line (frames/s, p99 latency,
// queue depth, errors) redrawn at most 4 times a second; elsewhere, a plain log line every 10 s
// while frames flow. --quiet turns it off.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cli/status_line_sink.h"
#include "monitor/pipeline_status.h"

namespace sluice::cli {

class ProgressReporter {
 public:
  /// `status_line` null: log lines. `sampler` must outlive the reporter.
  ProgressReporter(monitor::StatusSampler& sampler, std::shared_ptr<StatusLineSink> status_line);
  ~ProgressReporter();  // stops the thread and erases the status line
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  /// The progress text: "1234 frames/s | p99 12.3 ms | queue 56 | 0 errors | ...".
  static std::string format(const monitor::PipelineStatus& status);

 private:
  void run();

  monitor::StatusSampler& sampler_;
  std::shared_ptr<StatusLineSink> status_line_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::cli
