// Labels: class names by output index, read from a file with one label per line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice::model {

class Labels {
 public:
  Labels() = default;
  explicit Labels(std::vector<std::string> names) : names_(std::move(names)) {}
  static Result<Labels> load(const std::string& path);

  /// The label of `index`, or "" when there is none.
  std::string_view at(std::size_t index) const {
    return index < names_.size() ? names_[index] : std::string_view{};
  }
  std::size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
};

}  // namespace sluice::model
