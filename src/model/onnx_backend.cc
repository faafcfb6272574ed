#include "model/onnx_backend.h"

#include <onnxruntime_cxx_api.h>

#include <mutex>

#include <fmt/format.h>

namespace sluice::model {
namespace {

// One ONNX Runtime environment per process, shared by every session.
Ort::Env& ort_env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "sluice");
  return env;
}

class OnnxBackend final : public Backend {
 public:
  const ModelShape& shape() const override { return shape_; }
  std::string describe() const override {
    return fmt::format(
        "onnxruntime {}, {} intra-op thread(s), fp32 input '{}' [N,{},{},{}], output '{}' [N,{}]",
        Ort::GetVersionString(), threads_, input_name_, shape_.channels, shape_.height, shape_.width,
        output_name_, shape_.classes);
  }

  Status infer(std::span<const float> input, std::size_t batch, std::span<float> output) override {
    if (batch == 0 || batch > max_batch_) {
      return Status(Code::kInternal, fmt::format("batch {} outside [1, {}]", batch, max_batch_));
    }
    if (input.size() < batch * shape_.input_elements() ||
        output.size() < batch * static_cast<std::size_t>(shape_.classes)) {
      return Status(Code::kInternal, "tensor buffers too small for the batch");
    }
    try {
      const std::array<std::int64_t, 4> in_shape{static_cast<std::int64_t>(batch), shape_.channels,
                                                 shape_.height, shape_.width};
      const std::array<std::int64_t, 2> out_shape{static_cast<std::int64_t>(batch), shape_.classes};
      // Tensors are views over the caller's buffers: no copies and no allocation per frame.
      Ort::Value in =
          Ort::Value::CreateTensor<float>(memory_, const_cast<float*>(input.data()),
                                          batch * shape_.input_elements(), in_shape.data(), in_shape.size());
      Ort::Value out = Ort::Value::CreateTensor<float>(memory_, output.data(),
                                                       batch * static_cast<std::size_t>(shape_.classes),
                                                       out_shape.data(), out_shape.size());
      const char* in_names[] = {input_name_.c_str()};
      const char* out_names[] = {output_name_.c_str()};
      session_->Run(run_options_, in_names, &in, 1, out_names, &out, 1);
    } catch (const Ort::Exception& e) {
      return Status(Code::kModel, fmt::format("onnxruntime: {}", e.what()));
    }
    return Status::ok();
  }

  static Result<std::unique_ptr<Backend>> create(const ModelBundle& bundle, const BackendOptions& options) {
    auto backend = std::make_unique<OnnxBackend>();
    backend->threads_ = options.intra_op_threads;
    backend->max_batch_ = options.max_batch;
    try {
      Ort::SessionOptions so;
      so.SetIntraOpNumThreads(options.intra_op_threads);
      so.SetInterOpNumThreads(1);
      so.SetExecutionMode(ORT_SEQUENTIAL);
      so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
      // Executors are already one thread each when cores = 1; spinning would steal their cores.
      so.AddConfigEntry("session.intra_op.allow_spinning", options.intra_op_threads > 1 ? "1" : "0");
      backend->session_ = std::make_unique<Ort::Session>(ort_env(), bundle.model_path.c_str(), so);
      auto& session = *backend->session_;
      Ort::AllocatorWithDefaultOptions allocator;
      if (session.GetInputCount() < 1 || session.GetOutputCount() < 1) {
        return Status(Code::kModel, "the model has no input or no output");
      }
      backend->input_name_ =
          bundle.input_name.empty() ? session.GetInputNameAllocated(0, allocator).get() : bundle.input_name;
      backend->output_name_ = bundle.output_name.empty() ? session.GetOutputNameAllocated(0, allocator).get()
                                                         : bundle.output_name;
      auto index_of = [&](bool input, const std::string& name) -> int {
        const std::size_t n = input ? session.GetInputCount() : session.GetOutputCount();
        for (std::size_t i = 0; i < n; ++i) {
          auto got = input ? session.GetInputNameAllocated(i, allocator)
                           : session.GetOutputNameAllocated(i, allocator);
          if (name == got.get()) return static_cast<int>(i);
        }
        return -1;
      };
      const int in_index = index_of(true, backend->input_name_);
      const int out_index = index_of(false, backend->output_name_);
      if (in_index < 0)
        return Status(Code::kModel, fmt::format("the model has no input named '{}'", backend->input_name_));
      if (out_index < 0)
        return Status(Code::kModel, fmt::format("the model has no output named '{}'", backend->output_name_));
      const auto in_dims = session.GetInputTypeInfo(in_index).GetTensorTypeAndShapeInfo().GetShape();
      const auto out_dims = session.GetOutputTypeInfo(out_index).GetTensorTypeAndShapeInfo().GetShape();
      if (in_dims.size() != 4) {
        return Status(Code::kModel, fmt::format("input '{}' has rank {}; sluice feeds NCHW (rank 4)",
                                                backend->input_name_, in_dims.size()));
      }
      std::array<std::int64_t, 3> chw{in_dims[1], in_dims[2], in_dims[3]};
      for (std::size_t i = 0; i < 3; ++i) {
        if (i < bundle.input_chw.size()) {
          if (chw[i] > 0 && chw[i] != bundle.input_chw[i]) {
            return Status(Code::kModel,
                          fmt::format("bundle input.shape {} disagrees with the model's {} at dimension {}",
                                      bundle.input_chw[i], chw[i], i + 1));
          }
          chw[i] = bundle.input_chw[i];
        }
        if (chw[i] <= 0) {
          return Status(Code::kModel,
                        "the model's input shape is dynamic; declare input.shape [C, H, W] in the bundle");
        }
      }
      if (out_dims.size() != 2 || out_dims[1] <= 0) {
        return Status(Code::kModel, fmt::format("output '{}' must be [N, classes] with a fixed class count",
                                                backend->output_name_));
      }
      backend->shape_ = {static_cast<int>(chw[0]), static_cast<int>(chw[1]), static_cast<int>(chw[2]),
                         static_cast<int>(out_dims[1])};
    } catch (const Ort::Exception& e) {
      return Status(Code::kModel,
                    fmt::format("cannot load '{}' with onnxruntime: {}", bundle.model_path, e.what()));
    }
    return std::unique_ptr<Backend>(std::move(backend));
  }

  OnnxBackend() : memory_(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault)) {}

  Ort::MemoryInfo memory_;
  Ort::RunOptions run_options_;
  std::unique_ptr<Ort::Session> session_;
  std::string input_name_, output_name_;
  ModelShape shape_;
  int threads_ = 1;
  std::size_t max_batch_ = 1;
};

}  // namespace

Result<std::unique_ptr<Backend>> create_onnx_backend(const ModelBundle& bundle,
                                                     const BackendOptions& options) {
  return OnnxBackend::create(bundle, options);
}

}  // namespace sluice::model
