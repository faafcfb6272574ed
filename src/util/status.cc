#include "sluice/status.h"

namespace sluice {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kFraming:
      return "framing";
    case Code::kDecode:
      return "decode";
    case Code::kLimit:
      return "limit";
    case Code::kIo:
      return "io";
    case Code::kClosed:
      return "closed";
    case Code::kModel:
      return "model";
    case Code::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace sluice
