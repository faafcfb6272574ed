// The interface between sluice and its libtorch module (libsluice_torch.so), loaded with dlopen
// only when a TorchScript bundle is used: linking libtorch into every sluice process would run
// its static initialisers everywhere (resident memory at start-up went from 43 to 181 MiB).
//
// Both sides are built from this tree by the same compiler, so C++ types may cross the boundary;
// kTorchModuleAbi catches a module from another build.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/backend.h"

namespace sluice::model {

/// What the module needs from a bundle (a narrow copy, so the module does not depend on the
/// bundle parser).
struct TorchModelSpec {
  std::string model_path;
  std::string precision = "auto";       // fp32 | bf16 | auto
  std::vector<std::int64_t> input_chw;  // [C, H, W]
};

using CreateTorchBackendFn = Result<std::unique_ptr<Backend>> (*)(const TorchModelSpec&,
                                                                  const BackendOptions&);

struct TorchModuleEntry {
  const char* abi;  // must equal kTorchModuleAbi
  CreateTorchBackendFn create;
};

// The revision ("sluice-torch-1") must be bumped by hand whenever a type above or the Backend
// interface changes; the compiler's version string is part of it, so a module built by another
// compiler is refused too.
#define SLUICE_TORCH_STRINGIFY2(x) #x
#define SLUICE_TORCH_STRINGIFY(x) SLUICE_TORCH_STRINGIFY2(x)
inline constexpr const char* kTorchModuleAbi =
    "sluice-torch-1 gcc " __VERSION__ " spec " SLUICE_TORCH_STRINGIFY(__SIZEOF_POINTER__);

/// The module's one exported symbol, looked up by name.
inline constexpr const char* kTorchModuleEntrySymbol = "sluice_torch_module_entry";

}  // namespace sluice::model
