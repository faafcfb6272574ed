// Backend: one inference session. An executor owns one and is its only caller.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "model/model_bundle.h"
#include "sluice/status.h"

namespace sluice::model {

/// The tensor shapes a backend accepts and returns, batch dimension excluded.
struct ModelShape {
  int channels = 0;
  int height = 0;
  int width = 0;
  int classes = 0;
  std::size_t input_elements() const {
    return static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) *
           static_cast<std::size_t>(width);
  }
};

struct BackendOptions {
  int intra_op_threads = 1;  // the executor's cores
  std::size_t max_batch = 64;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const ModelShape& shape() const = 0;
  /// `input` holds batch * input_elements() floats (NCHW); `output` receives batch * classes
  /// floats. batch must be in [1, max_batch].
  virtual Status infer(std::span<const float> input, std::size_t batch, std::span<float> output) = 0;
  /// One line for the log: engine, precision, threads.
  virtual std::string describe() const = 0;
};

/// Creates the backend the bundle names.
Result<std::unique_ptr<Backend>> create_backend(const ModelBundle& bundle, const BackendOptions& options);

/// The model's input shape (channels, height, width; classes when known): the bundle's declared
/// input, else read from the model by a one-thread session (a bare .onnx file).
Result<ModelShape> input_shape(const ModelBundle& bundle);

}  // namespace sluice::model
