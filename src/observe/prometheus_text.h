// PrometheusText: writes the Prometheus text exposition format, version 0.0.4.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "observe/histogram.h"

namespace sluice::observe {

class PrometheusText {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  /// Starts a metric family: its # HELP and # TYPE lines. `type` is counter, gauge or histogram.
  /// A family's samples follow it directly, and each family is started once.
  void family(std::string_view name, std::string_view type, std::string_view help);
  /// One sample line of the current family (`name` carries a suffix such as _bucket if any).
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  /// A whole histogram family: its buckets (cumulative, `le` in seconds), _sum and _count.
  void histogram(std::string_view name, std::string_view help, const Histogram::Snapshot& snapshot);

  const std::string& text() const { return out_; }

  /// Label values escape backslash, double quote and newline; help texts backslash and newline.
  static std::string escape_label_value(std::string_view value);
  static std::string escape_help(std::string_view help);
  /// Go's float formatting as Prometheus expects it: +Inf, -Inf, NaN, else the shortest exact form.
  static std::string format_value(double value);

 private:
  std::string out_;
};

}  // namespace sluice::observe
