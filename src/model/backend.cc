#include "model/backend.h"

#include <fmt/format.h>

#include "model/onnx_backend.h"
#include "model/torch_module.h"

namespace sluice::model {

Result<std::unique_ptr<Backend>> create_backend(const ModelBundle& bundle, const BackendOptions& options) {
  if (bundle.backend == "onnxruntime" || bundle.backend == "onnx") {
    if (bundle.precision == "bf16") {
      return Status(Code::kInvalidArgument,
                    "the onnxruntime backend runs fp32 models as fp32: use --precision fp32 "
                    "or auto, or a TorchScript bundle for bf16");
    }
    return create_onnx_backend(bundle, options);
  }
  if (bundle.backend == "torch" || bundle.backend == "torchscript" || bundle.backend == "libtorch") {
    return create_torch_backend_via_module(bundle, options);
  }
  return Status(
      Code::kInvalidArgument,
      fmt::format("unknown backend '{}' in the model bundle (known: onnxruntime, torch)", bundle.backend));
}

Result<ModelShape> input_shape(const ModelBundle& bundle) {
  if (bundle.input_chw.size() == 3) {
    ModelShape shape;
    shape.channels = static_cast<int>(bundle.input_chw[0]);
    shape.height = static_cast<int>(bundle.input_chw[1]);
    shape.width = static_cast<int>(bundle.input_chw[2]);
    return shape;
  }
  auto backend = create_backend(bundle, {1, 1});
  if (!backend) return backend.status();
  return (*backend)->shape();
}

}  // namespace sluice::model
