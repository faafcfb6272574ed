#include "model/torch_module.h"

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "model/torch_module_abi.h"

namespace sluice::model {
namespace {

namespace fs = std::filesystem;
constexpr const char* kModuleFile = "libsluice_torch.so";

[[maybe_unused]] fs::path running_binary_dir() {
  std::array<char, 4096> buf{};
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return {};
  return fs::path(std::string(buf.data(), static_cast<std::size_t>(n))).parent_path();
}

// The loaded module: resolved once per process; the handle is deliberately never closed (see the
// header).
struct LoadedModule {
  const TorchModuleEntry* entry = nullptr;
  std::string error;  // why it could not be loaded
  std::string path;
};

LoadedModule load_module() {
  LoadedModule out;
  const auto candidates = torch_module_candidates();
  if (candidates.empty()) {
    out.error =
        "this sluice was built without libtorch, so TorchScript bundles cannot run (install libtorch-dev "
        "and rebuild: scripts/setup.sh does both)";
    return out;
  }
  std::string tried;
  for (const auto& path : candidates) {
    if (!fs::exists(path)) {
      tried += fmt::format("\n  {}: not found", path);
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      tried += fmt::format("\n  {}: {}", path, ::dlerror());
      continue;
    }
    const auto* entry = static_cast<const TorchModuleEntry*>(::dlsym(handle, kTorchModuleEntrySymbol));
    if (entry == nullptr || entry->abi == nullptr || std::strcmp(entry->abi, kTorchModuleAbi) != 0) {
      tried += fmt::format("\n  {}: built by another build of sluice (ABI '{}', expected '{}')", path,
                           entry != nullptr && entry->abi != nullptr ? entry->abi : "none", kTorchModuleAbi);
      ::dlclose(handle);
      continue;
    }
    out.entry = entry;
    out.path = path;
    // libtorch allocates its activations afresh on every call (tens of MiB per batch). Under the
    // 64 KiB mmap threshold that main() sets for payloads, each became a fresh mapping, faulted in
    // and unmapped again: bf16 ResNet-50 ran at half speed (52 against 101 images/s at batch 8).
    // A process that runs libtorch serves every allocation from the heap and keeps what it frees
    // for reuse, as PyTorch's own allocator does; its resident memory stays at its peak.
    ::mallopt(M_MMAP_MAX, 0);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    spdlog::info(
        "libtorch module loaded from {}; malloc: no mmap, no trim below 1 GiB (for libtorch's speed)", path);
    return out;
  }
  out.error = fmt::format(
      "cannot load the libtorch module {} (set SLUICE_TORCH_MODULE to its path, or rebuild with "
      "scripts/setup.sh); tried:{}",
      kModuleFile, tried);
  return out;
}

}  // namespace

std::vector<std::string> torch_module_candidates() {
#ifdef SLUICE_TORCH_MODULE_BUILD_PATH
  // An explicit path is the only candidate: a wrong one must fail, not fall back silently.
  if (const char* env = std::getenv("SLUICE_TORCH_MODULE"); env != nullptr && *env != '\0') return {env};
  std::vector<std::string> out;
  if (const auto dir = running_binary_dir(); !dir.empty()) {
    out.push_back((dir / kModuleFile).string());
    out.push_back((dir / ".." / "lib" / "sluice" / kModuleFile).lexically_normal().string());
  }
  out.emplace_back(SLUICE_TORCH_MODULE_BUILD_PATH);
  return out;
#else
  return {};
#endif
}

Result<std::unique_ptr<Backend>> create_torch_backend_via_module(const ModelBundle& bundle,
                                                                 const BackendOptions& options) {
  static std::once_flag once;
  static LoadedModule module;  // process lifetime, by design
  std::call_once(once, [] { module = load_module(); });
  if (module.entry == nullptr) return Status(Code::kModel, module.error);
  TorchModelSpec spec;
  spec.model_path = bundle.model_path;
  spec.precision = bundle.precision;
  spec.input_chw = bundle.input_chw;
  return module.entry->create(spec, options);
}

}  // namespace sluice::model
