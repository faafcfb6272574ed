// SupervisedSource: restarts a failing source with exponential backoff (Spark's
// ReceiverSupervisor), and keeps its state and restart count in SourceStats.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "source/backoff.h"
#include "source/source.h"
#include "util/mutex.h"

namespace sluice::source {

struct RestartPolicy {
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  /// Restarts allowed over the source's life; past it the source is left kFailed. 0 = no limit.
  std::uint32_t max_restarts = 0;
  /// A source that ran this long since its last (re)start counts as healthy: the backoff starts
  /// again from initial_backoff. 0 = max_backoff.
  std::chrono::milliseconds healthy_after{0};
};

/// A Source decorator. The inner source asks for a restart through FrameSink::request_restart
/// (a plugin's request_restart callback ends there). The supervisor's own thread then stops the
/// inner source, waits (state kBackoff), and starts it again (state kRunning); a start that fails
/// is retried with a doubled delay. Every restart attempt increments SourceStats::restarts; every
/// request and failed start increments SourceStats::errors and sets the last error. One log line
/// per event. The first start() is synchronous and its failure is returned, so a misconfigured
/// source stops sluice's start-up instead of looping.
class SupervisedSource final : public Source {
 public:
  SupervisedSource(std::unique_ptr<Source> inner, RestartPolicy policy);
  ~SupervisedSource() override;
  SupervisedSource(const SupervisedSource&) = delete;
  SupervisedSource& operator=(const SupervisedSource&) = delete;

  std::string name() const override { return inner_->name(); }
  Status start(FrameSink& sink) override;
  /// Stops the supervisor (also during a backoff wait, at once) and then the inner source.
  void stop() override;
  void on_frames_done(std::span<const Frame> frames) override { inner_->on_frames_done(frames); }

  Source& inner() { return *inner_; }

 private:
  class Proxy;
  void run();
  /// Waits `delay` unless stop() is called first; returns false when stopping.
  bool sleep_unless_stopped(std::chrono::milliseconds delay);
  void on_restart_request(const Status& why);

  std::unique_ptr<Source> inner_;
  RestartPolicy policy_;
  FrameSink* sink_ = nullptr;
  std::unique_ptr<Proxy> proxy_;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::optional<Status> pending_ GUARDED_BY(mu_);  // a restart request not handled yet
  bool inner_running_ = false;                     // supervisor thread, or stop() after joining it
  Clock::time_point started_at_{};                 // supervisor thread
  std::thread thread_;
};

}  // namespace sluice::source
