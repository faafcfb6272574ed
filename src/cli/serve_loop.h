// What `serve` and `worker` share once their pipeline has its sources: start it, the --http
// endpoint and the progress line; run until Ctrl-C or SIGTERM; stop within --stop-timeout, and
// let a second signal force the stop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/cli_support.h"
#include "cli/status_line_sink.h"
#include "engine/streaming_context.h"
#include "observe/batch_history.h"
#include "observe/result_observer.h"

namespace sluice::cli {

struct ServeLoopOptions {
  std::string http;                             // --http HOST:PORT; "" = off
  bool quiet = false;                           // no progress reporter
  std::shared_ptr<StatusLineSink> status_line;  // null: progress goes to plain log lines
  std::chrono::milliseconds stop_timeout{30000};
  std::string ready_message;  // logged once everything runs
  /// The error line for a forced or timed-out stop, given the frames still without a result.
  std::function<std::string(std::uint64_t in_flight)> unfinished;
};

/// Returns 0 after a clean stop, 1 when the pipeline or the endpoint could not start. A forced
/// stop (second signal: 130) or an expired --stop-timeout (1) ends the process at once, after the
/// `unfinished` line: waiting longer is what the operator just refused.
int serve_until_signalled(engine::StreamingContext& ctx, observe::BatchHistory& batches,
                          observe::ResultObserver& observed, SignalWaiter& signals,
                          const ServeLoopOptions& options);

}  // namespace sluice::cli
