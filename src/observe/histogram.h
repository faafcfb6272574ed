// Histogram: a Prometheus-style histogram with fixed bucket bounds. Lock-free: observe() is two
// relaxed atomic adds and a bucket search, cheap enough for every model call and every frame.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

namespace sluice::observe {

class Histogram {
 public:
  /// What one read of the histogram saw. `counts` has one entry per bound plus the +Inf bucket,
  /// and is not cumulative; `count` is always their sum (so the +Inf bucket equals the count).
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;
    std::uint64_t count = 0;
    double sum = 0.0;

    /// The q-quantile (0..1), interpolated linearly inside its bucket as Prometheus'
    /// histogram_quantile() does; 0 when empty. An answer in the +Inf bucket is the last bound.
    double quantile(double q) const;
    /// What was observed after `earlier` (a snapshot of the same histogram).
    Snapshot since(const Snapshot& earlier) const;
  };

  /// `bounds`: strictly increasing finite upper bounds (Prometheus' `le`); +Inf is implicit.
  explicit Histogram(std::vector<double> bounds = latency_seconds_bounds());

  /// From 0.5 ms to 60 s: model calls, batch times and frame latencies all fall inside.
  static std::vector<double> latency_seconds_bounds();

  void observe(double value);
  Snapshot snapshot() const;
  std::span<const double> bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0.0};
};

}  // namespace sluice::observe
