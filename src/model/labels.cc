#include "model/labels.h"

#include <fstream>

#include <fmt/format.h>

namespace sluice::model {

Result<Labels> Labels::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(Code::kInvalidArgument, fmt::format("cannot open labels file '{}'", path));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  return Labels(std::move(names));
}

}  // namespace sluice::model
