// TorchBackend: libtorch for TorchScript bundles, in fp32 or bf16. Compiled only into the libtorch
// module (libsluice_torch.so); sluice reaches it through model/torch_module.h.
#pragma once

#include <memory>

#include "model/backend.h"
#include "model/torch_module_abi.h"

namespace sluice::model {

/// What --precision auto picks on this CPU, and why (for the log).
struct PrecisionChoice {
  bool bf16 = false;
  std::string reason;
};
PrecisionChoice choose_precision(const std::string& requested);

/// Loads a TorchScript module, freezes it and runs it in channels-last. With bf16 it runs under
/// CPU autocast: that is several times faster on AMX/AVX512-BF16 CPUs. It deliberately does not
/// call torch::jit::optimize_for_inference, whose prepacked fp32 convolutions ignore autocast.
Result<std::unique_ptr<Backend>> create_torch_backend(const TorchModelSpec& spec,
                                                      const BackendOptions& options);

}  // namespace sluice::model
