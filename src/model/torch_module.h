// Loads the libtorch module (libsluice_torch.so) on first use and creates TorchScript backends
// through it. ONNX-only processes never load libtorch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/model_bundle.h"

namespace sluice::model {

/// Where the module is looked for: only $SLUICE_TORCH_MODULE when it is set; otherwise, in order,
/// beside the running binary, ../lib/sluice/ from the binary, and the build tree it was built in.
/// Empty when this build has no libtorch module.
std::vector<std::string> torch_module_candidates();

/// A TorchScript backend, through the module. The module stays loaded for the rest of the process:
/// libtorch cannot be unloaded safely (its thread pools and static state outlive any backend).
Result<std::unique_ptr<Backend>> create_torch_backend_via_module(const ModelBundle& bundle,
                                                                 const BackendOptions& options);

}  // namespace sluice::model
