// Whether a model computes in 8-bit integers, and what that means on this CPU.
#pragma once

#include <optional>
#include <string>

namespace sluice::model {

/// True when the ONNX file holds QLinear*, *Integer or QuantizeLinear/DequantizeLinear operators
/// (QOperator or QDQ int8 models). Reads the file's operator names; false for other formats.
bool has_int8_operators(const std::string& model_path);

/// The warning for an int8 model on a CPU without an 8-bit dot-product instruction (VNNI or AMX),
/// or nothing when there is none to give.
std::optional<std::string> int8_cpu_warning(const std::string& model_path);

}  // namespace sluice::model
