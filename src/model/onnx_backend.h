// OnnxBackend: ONNX Runtime on the CPU.
#pragma once

#include <memory>

#include "model/backend.h"

namespace sluice::model {

Result<std::unique_ptr<Backend>> create_onnx_backend(const ModelBundle& bundle,
                                                     const BackendOptions& options);

}  // namespace sluice::model
