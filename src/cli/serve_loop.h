// What `serve` and `worker` share once their pipeline runs: the --http endpoint and the progress
// line; run until Ctrl-C or SIGTERM; stop within --stop-timeout, and let a second signal force it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/cli_support.h"
#include "cli/status_line_sink.h"
#include "monitor/pipeline_view.h"

namespace sluice::cli {

struct ServeLoopOptions {
  std::string http;                             // --http HOST:PORT; "" = off
  std::string http_allowed_hosts;               // --http-allowed-hosts h1,h2
  bool quiet = false;                           // no progress reporter
  std::shared_ptr<StatusLineSink> status_line;  // null: progress goes to plain log lines
  std::chrono::milliseconds stop_timeout{30000};
  std::string ready_message;  // logged once everything runs
  /// The error line for a forced or timed-out stop, given the frames still without a result.
  std::function<std::string(std::uint64_t in_flight)> unfinished;
};

/// Stops the pipeline: every accepted frame gets its line, retrying a failing output until the
/// deadline. Returns the frames left without a line.
using StopPipeline = std::function<std::uint64_t(std::chrono::steady_clock::time_point deadline)>;

/// For a started pipeline. Returns 0 after a clean stop; 1 when the endpoint could not start, or
/// when frames were left without a line (the output could not be written). A forced stop (second
/// signal: 130) or an expired --stop-timeout (1) ends the process at once, after the `unfinished`
/// line: waiting longer is what the operator just refused.
int serve_until_signalled(monitor::PipelineView& view, const StopPipeline& stop, SignalWaiter& signals,
                          const ServeLoopOptions& options);

}  // namespace sluice::cli
