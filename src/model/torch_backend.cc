#include "model/torch_backend.h"

#include <ATen/autocast_mode.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/cpu_features.h"

namespace sluice::model {

PrecisionChoice choose_precision(const std::string& requested) {
  const auto& cpu = cpu_features();
  if (requested == "fp32") return {false, "--precision fp32"};
  if (requested == "bf16") {
    return {true, cpu.amx_bf16 || cpu.avx512_bf16
                      ? "--precision bf16"
                      : "--precision bf16 (this CPU has neither AMX nor AVX512-BF16: "
                        "expect it to be slower than fp32)"};
  }
  if (cpu.amx_bf16) return {true, "auto: the CPU has AMX-BF16"};
  if (cpu.avx512_bf16) return {true, "auto: the CPU has AVX512-BF16"};
  return {false, fmt::format("auto: the CPU has neither AMX nor AVX512-BF16 ({})", cpu.describe())};
}

namespace {

class TorchBackend final : public Backend {
 public:
  const ModelShape& shape() const override { return shape_; }
  std::string describe() const override {
    return fmt::format(
        "libtorch {} {} (channels-last, frozen TorchScript), {} intra-op thread(s), input [N,{},{},{}], "
        "output [N,{}]; precision chosen by {}",
        TORCH_VERSION, bf16_ ? "bf16 autocast" : "fp32", threads_, shape_.channels, shape_.height,
        shape_.width, shape_.classes, reason_);
  }

  Status infer(std::span<const float> input, std::size_t batch, std::span<float> output) override {
    if (batch == 0 || batch > max_batch_) return Status(Code::kInternal, "batch outside [1, max_batch]");
    try {
      // Autocast and grad mode are thread-local: set them on the calling (executor) thread. The
      // autocast state is left as it is after the call: the executor thread runs nothing else in
      // libtorch, and switching it off and on around every call cost ~15 % at batch 8. In
      // inference mode the autocast cache stays empty (it only keeps casts of tensors that
      // require grad), so nothing accumulates.
      c10::InferenceMode inference;
      if (at::autocast::is_cpu_enabled() != bf16_) at::autocast::set_cpu_enabled(bf16_);
      if (bf16_) at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      auto x = torch::from_blob(const_cast<float*>(input.data()),
                                {static_cast<long>(batch), shape_.channels, shape_.height, shape_.width},
                                torch::kFloat32)
                   .contiguous(at::MemoryFormat::ChannelsLast);
      auto y = module_.forward({x}).toTensor().to(torch::kFloat32).contiguous();
      if (y.dim() != 2 || y.size(0) != static_cast<long>(batch) || y.size(1) != shape_.classes) {
        return Status(Code::kModel, "the model's output is not [N, classes]");
      }
      std::memcpy(output.data(), y.data_ptr<float>(),
                  batch * static_cast<std::size_t>(shape_.classes) * sizeof(float));
    } catch (const std::exception& e) {
      return Status(Code::kModel, fmt::format("libtorch: {}", e.what()));
    }
    return Status::ok();
  }

  static Result<std::unique_ptr<Backend>> create(const TorchModelSpec& bundle,
                                                 const BackendOptions& options) {
    auto b = std::make_unique<TorchBackend>();
    const auto choice = choose_precision(bundle.precision);
    b->bf16_ = choice.bf16;
    b->reason_ = choice.reason;
    b->threads_ = options.intra_op_threads;
    b->max_batch_ = options.max_batch;
    if (bundle.input_chw.size() != 3) {
      return Status(Code::kModel,
                    "a TorchScript bundle must declare input.shape [C, H, W] in its bundle.yaml");
    }
    try {
      torch::set_num_threads(options.intra_op_threads);
      c10::InferenceMode inference;
      auto module = torch::jit::load(bundle.model_path);
      module.eval();
      b->module_ = torch::jit::freeze(module);
      b->shape_ = {static_cast<int>(bundle.input_chw[0]), static_cast<int>(bundle.input_chw[1]),
                   static_cast<int>(bundle.input_chw[2]), 0};
      // One dry run learns the class count and warms the kernels up.
      std::vector<float> probe(b->shape_.input_elements());
      auto x = torch::from_blob(probe.data(), {1, b->shape_.channels, b->shape_.height, b->shape_.width},
                                torch::kFloat32)
                   .contiguous(at::MemoryFormat::ChannelsLast);
      at::autocast::set_cpu_enabled(b->bf16_);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      auto y = b->module_.forward({x}).toTensor();
      at::autocast::set_cpu_enabled(false);
      if (y.dim() != 2) return Status(Code::kModel, "the model's output is not [N, classes]");
      b->shape_.classes = static_cast<int>(y.size(1));
    } catch (const std::exception& e) {
      return Status(Code::kModel,
                    fmt::format("cannot load '{}' with libtorch: {}", bundle.model_path, e.what()));
    }
    return std::unique_ptr<Backend>(std::move(b));
  }

 private:
  torch::jit::Module module_;
  ModelShape shape_;
  bool bf16_ = false;
  std::string reason_;
  int threads_ = 1;
  std::size_t max_batch_ = 1;
};

}  // namespace

Result<std::unique_ptr<Backend>> create_torch_backend(const TorchModelSpec& spec,
                                                      const BackendOptions& options) {
  return TorchBackend::create(spec, options);
}

}  // namespace sluice::model

// What sluice looks up after dlopen (model/torch_module.cc).
extern "C" __attribute__((visibility("default")))
const sluice::model::TorchModuleEntry sluice_torch_module_entry{sluice::model::kTorchModuleAbi,
                                                                &sluice::model::create_torch_backend};
