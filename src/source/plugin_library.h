// PluginLibrary: one dlopen'ed source plugin, its entry table checked against our ABI version.
#pragma once

#include <memory>
#include <string>

#include "sluice/source_plugin.h"
#include "sluice/status.h"

namespace sluice::source {

/// Owns the dlopen handle; the library is closed when the last shared_ptr goes. Every plugin
/// instance (and through it every zero-copy payload) holds one, so code of the plugin is never
/// unloaded while sluice may still call it.
class PluginLibrary {
 public:
  /// Loads `path` (RTLD_NOW | RTLD_LOCAL), finds SLUICE_SOURCE_ENTRY_SYMBOL, calls it and checks
  /// the table: its ABI version must equal SLUICE_SOURCE_ABI_VERSION (the error names both), its
  /// size must cover this version's table, and create/start/stop/destroy must be set.
  static Result<std::shared_ptr<const PluginLibrary>> load(const std::string& path);

  /// Only load() can make the key, so only load() constructs.
  class Key {
    friend class PluginLibrary;
    Key() = default;
  };
  PluginLibrary(Key, std::string path, void* handle) : path_(std::move(path)), handle_(handle) {}
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const SluiceSourcePlugin& table() const { return *table_; }
  const std::string& path() const { return path_; }
  /// The plugin's own short name ("shm-ring"), or "plugin" when it gives none.
  std::string kind() const;

 private:
  struct Closer {
    void operator()(void* handle) const;
  };

  std::string path_;
  std::unique_ptr<void, Closer> handle_;       // dlclose'd last, after everything that used the library
  const SluiceSourcePlugin* table_ = nullptr;  // static storage inside the library
};

}  // namespace sluice::source
