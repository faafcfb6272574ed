#include "cli/progress_reporter.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::cli {
namespace {
constexpr auto kStatusLinePeriod = std::chrono::milliseconds(250);  // at most 4 redraws a second
constexpr auto kLogLinePeriod = std::chrono::seconds(10);

std::size_t terminal_width() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}
}  // namespace

ProgressReporter::ProgressReporter(monitor::StatusSampler& sampler,
                                   std::shared_ptr<StatusLineSink> status_line)
    : sampler_(sampler), status_line_(std::move(status_line)), thread_([this] { run(); }) {}

ProgressReporter::~ProgressReporter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (status_line_) status_line_->set_status("");
}

std::string ProgressReporter::format(const monitor::PipelineStatus& s) {
  std::uint64_t errors = s.failed;
  for (const auto& src : s.sources) errors += src.errors;
  std::string text =
      fmt::format("{:.0f} frames/s | p99 {} | queue {} | {} error{} | {} frames", s.received_per_second,
                  s.recent_latency_samples ? fmt::format("{:.1f} ms", s.latency_p99_ms) : "-", s.in_flight,
                  errors, errors == 1 ? "" : "s", s.received);
  if (s.stable) text += *s.stable ? " | stable" : " | falling behind";
  return text;
}

void ProgressReporter::run() {
  const auto period = status_line_ ? std::chrono::duration_cast<std::chrono::milliseconds>(kStatusLinePeriod)
                                   : std::chrono::duration_cast<std::chrono::milliseconds>(kLogLinePeriod);
  std::uint64_t last_logged = 0;
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, period, [this] { return stopping_; })) {
    lock.unlock();
    const auto status = sampler_.sample();
    if (status_line_) {
      std::string line = "sluice: " + format(status);
      const std::size_t width = terminal_width();
      if (line.size() >= width) line.resize(width - 1);  // a wrapped line could not be redrawn in place
      status_line_->set_status(std::move(line));
    } else if (status.received != last_logged || status.in_flight > 0) {
      // Plain log lines only while something happens: an idle server stays quiet.
      last_logged = status.received;
      spdlog::info("progress: {}", format(status));
    }
    lock.lock();
  }
}

}  // namespace sluice::cli
