#include "source/plugin_library.h"

#include <dlfcn.h>

#include <fmt/format.h>

namespace sluice::source {
namespace {
std::string last_dl_error() {
  const char* e = dlerror();
  return e != nullptr ? std::string(e) : std::string("unknown dl error");
}
}  // namespace

Result<std::shared_ptr<const PluginLibrary>> PluginLibrary::load(const std::string& path) {
  if (path.empty()) return Status(Code::kInvalidArgument, "plugin: empty library path");
  dlerror();  // clear a stale error
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return Status(Code::kInvalidArgument, fmt::format("cannot load plugin '{}': {}", path, last_dl_error()));
  }
  // From here the handle is owned by `lib`, so every early return closes it.
  auto lib = std::make_shared<PluginLibrary>(Key{}, path, handle);
  dlerror();
  void* symbol = dlsym(lib->handle_.get(), SLUICE_SOURCE_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    return Status(Code::kInvalidArgument,
                  fmt::format("plugin '{}' does not export '{}', so it is not a sluice source plugin ({})",
                              path, SLUICE_SOURCE_ENTRY_SYMBOL, last_dl_error()));
  }
  const auto entry = reinterpret_cast<SluiceSourcePluginEntryFn>(symbol);
  const SluiceSourcePlugin* table = entry();
  if (table == nullptr) {
    return Status(Code::kInvalidArgument,
                  fmt::format("plugin '{}': {}() returned no table", path, SLUICE_SOURCE_ENTRY_SYMBOL));
  }
  // abi_version is read before anything else: it is the one field every version keeps in place.
  if (table->abi_version != SLUICE_SOURCE_ABI_VERSION) {
    return Status(
        Code::kInvalidArgument,
        fmt::format("plugin '{}' was built for sluice source plugin ABI version {}, but this sluice "
                    "supports ABI version {}; rebuild the plugin against this sluice's "
                    "include/sluice/source_plugin.h",
                    path, table->abi_version, SLUICE_SOURCE_ABI_VERSION));
  }
  if (table->struct_size < sizeof(SluiceSourcePlugin)) {
    return Status(Code::kInvalidArgument,
                  fmt::format("plugin '{}': its table is {} bytes, ABI version {} needs {}", path,
                              table->struct_size, SLUICE_SOURCE_ABI_VERSION, sizeof(SluiceSourcePlugin)));
  }
  const char* missing = table->create == nullptr    ? "create"
                        : table->start == nullptr   ? "start"
                        : table->stop == nullptr    ? "stop"
                        : table->destroy == nullptr ? "destroy"
                                                    : nullptr;
  if (missing != nullptr) {
    return Status(Code::kInvalidArgument,
                  fmt::format("plugin '{}': its table has no '{}' function", path, missing));
  }
  lib->table_ = table;
  return std::shared_ptr<const PluginLibrary>(std::move(lib));
}

void PluginLibrary::Closer::operator()(void* handle) const {
  if (handle != nullptr) dlclose(handle);
}

std::string PluginLibrary::kind() const {
  return table_ != nullptr && table_->name != nullptr && *table_->name != '\0' ? std::string(table_->name)
                                                                               : std::string("plugin");
}

}  // namespace sluice::source
