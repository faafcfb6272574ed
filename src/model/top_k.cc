#include "model/top_k.h"

#include <algorithm>
#include <cmath>

namespace sluice::model {

void top_k(std::span<const float> row, int k, OutputKind kind, std::vector<Prediction>& out) {
  out.clear();
  if (row.empty() || k <= 0) return;
  const auto n = static_cast<int>(row.size());
  k = std::min(k, n);
  // Selection first, then the softmax only for the winners: exp() is monotonic.
  out.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = {i, row[static_cast<std::size_t>(i)]};
  std::partial_sort(out.begin(), out.begin() + k, out.end(), [](const Prediction& a, const Prediction& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
  });
  out.resize(static_cast<std::size_t>(k));
  if (kind == OutputKind::kLogits) {
    const float max = out.front().score;
    double sum = 0.0;
    for (float v : row) sum += std::exp(static_cast<double>(v - max));
    for (auto& p : out) p.score = static_cast<float>(std::exp(static_cast<double>(p.score - max)) / sum);
  }
}

}  // namespace sluice::model
