#include "model/backend.h"

#include <fmt/format.h>

#include "model/onnx_backend.h"

namespace sluice::model {

Result<std::unique_ptr<Backend>> create_backend(const ModelBundle& bundle, const BackendOptions& options) {
  if (bundle.backend == "onnxruntime" || bundle.backend == "onnx")
    return create_onnx_backend(bundle, options);
  return Status(Code::kInvalidArgument,
                fmt::format("unknown backend '{}' in the model bundle (known: onnxruntime)", bundle.backend));
}

}  // namespace sluice::model
