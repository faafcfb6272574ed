#include "model/quantization.h"

#include <fstream>
#include <iterator>
#include <string_view>

#include <fmt/format.h>

#include "util/cpu_features.h"

namespace sluice::model {

bool has_int8_operators(const std::string& model_path) {
  if (model_path.size() < 5 || model_path.substr(model_path.size() - 5) != ".onnx") return false;
  std::ifstream in(model_path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Operator types are plain strings in the protobuf (NodeProto.op_type).
  for (const std::string_view op : {"QLinearConv", "QLinearMatMul", "QLinearAdd", "ConvInteger",
                                    "MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear"}) {
    if (bytes.find(op) != std::string::npos) return true;
  }
  return false;
}

std::optional<std::string> int8_cpu_warning(const std::string& model_path) {
  const auto& cpu = cpu_features();
  if (cpu.int8_dot_product() || !has_int8_operators(model_path)) return std::nullopt;
  return fmt::format(
      "the model computes in int8, but this CPU ({}: {}) has no VNNI or AMX: ONNX Runtime's u8s8 kernels "
      "saturate "
      "their 16-bit sums here, so scores differ from a VNNI CPU's and top-1 can change. Use an fp32 model, "
      "or one "
      "quantized with reduced range (onnxruntime.quantization: reduce_range=True)",
      cpu.model, cpu.describe());
}

}  // namespace sluice::model
