// Top-k selection over one row of model output, with an optional softmax.
#pragma once

#include <span>
#include <vector>

namespace sluice::model {

struct Prediction {
  int index = 0;
  float score = 0.0f;
};

enum class OutputKind {
  kLogits,         // raw scores: sluice applies softmax
  kProbabilities,  // already normalised by the model: used as they are
};

/// The `k` highest scores of `row`, best first (ties broken by lower index). With kLogits the
/// scores are softmax probabilities, computed stably (max subtracted). Writes into `out`,
/// reusing its storage.
void top_k(std::span<const float> row, int k, OutputKind kind, std::vector<Prediction>& out);

}  // namespace sluice::model
