// PluginSource: a source implemented by a plugin through the C ABI of sluice/source_plugin.h.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "source/plugin_library.h"
#include "source/source.h"

namespace sluice::source {

/// key=value pairs in the order given on the command line.
using PluginConfig = std::vector<std::pair<std::string, std::string>>;

class PluginInstance;

/// Adapts one plugin instance to the Source interface. The plugin's host callbacks map onto the
/// FrameSink given to start(): store_one -> FrameSink::store, store_many -> FrameSink::store_many,
/// report_error -> FrameSink::report_error (logs throttled to about one line per second),
/// request_restart -> FrameSink::request_restart (the supervisor's), is_stopped -> this object.
/// Zero-copy payloads become Payloads whose shared owner calls the plugin's release callback;
/// each owner also keeps the instance alive, so destroy runs after the last release.
class PluginSource final : public Source {
 public:
  /// Calls the plugin's create with `config`; its refusal (a bad key or value) is the error.
  /// `name` is what logs and metrics call the source.
  static Result<std::unique_ptr<PluginSource>> create(std::shared_ptr<const PluginLibrary> library,
                                                      const PluginConfig& config, std::string name);
  explicit PluginSource(std::shared_ptr<PluginInstance> instance);
  ~PluginSource() override;
  PluginSource(const PluginSource&) = delete;
  PluginSource& operator=(const PluginSource&) = delete;

  std::string name() const override;
  /// Opens a new stream (one per start) and calls the plugin's start.
  Status start(FrameSink& sink) override;
  /// Marks the instance stopped (store calls then return CLOSED), calls the plugin's stop, which
  /// joins the plugin's threads, and closes the stream. Idempotent.
  void stop() override;

 private:
  std::shared_ptr<PluginInstance> instance_;
  bool running_ = false;  // between a successful start and stop; control thread only
};

}  // namespace sluice::source
