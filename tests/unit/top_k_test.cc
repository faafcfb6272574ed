// Tests for top-k selection and the stable softmax.
#include "model/top_k.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sluice::model {
namespace {

std::vector<int> indices(const std::vector<Prediction>& predictions) {
  std::vector<int> out;
  for (const auto& p : predictions) out.push_back(p.index);
  return out;
}

TEST(TopKTest, OrdersBestFirst) {
  const std::vector<float> row = {0.1f, 0.5f, 0.05f, 0.3f, 0.05f};
  std::vector<Prediction> out;
  top_k(row, 3, OutputKind::kProbabilities, out);
  EXPECT_EQ(indices(out), (std::vector<int>{1, 3, 0}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FLOAT_EQ(out[0].score, 0.5f);
  EXPECT_FLOAT_EQ(out[1].score, 0.3f);
  EXPECT_FLOAT_EQ(out[2].score, 0.1f);
}

TEST(TopKTest, TiesGoToTheLowerIndex) {
  const std::vector<float> row = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f, 2.0f};
  std::vector<Prediction> out;
  top_k(row, 5, OutputKind::kProbabilities, out);
  EXPECT_EQ(indices(out), (std::vector<int>{1, 2, 4, 3, 5}));

  const std::vector<float> flat(10, 0.25f);
  top_k(flat, 4, OutputKind::kLogits, out);
  EXPECT_EQ(indices(out), (std::vector<int>{0, 1, 2, 3}));
  for (const auto& p : out) EXPECT_NEAR(p.score, 0.1f, 1e-6);
}

TEST(TopKTest, KLargerThanTheRowReturnsTheWholeRow) {
  const std::vector<float> row = {0.2f, 0.7f, 0.1f};
  std::vector<Prediction> out;
  top_k(row, 10, OutputKind::kProbabilities, out);
  EXPECT_EQ(indices(out), (std::vector<int>{1, 0, 2}));
}

TEST(TopKTest, EmptyRowOrNonPositiveKGivesNothing) {
  std::vector<Prediction> out = {{7, 1.0f}};
  top_k(std::vector<float>{}, 3, OutputKind::kLogits, out);
  EXPECT_TRUE(out.empty());
  out = {{7, 1.0f}};
  top_k(std::vector<float>{1.0f, 2.0f}, 0, OutputKind::kLogits, out);
  EXPECT_TRUE(out.empty());
}

TEST(TopKTest, ReusesTheOutputVector) {
  std::vector<Prediction> out;
  top_k(std::vector<float>{1, 2, 3, 4, 5, 6}, 6, OutputKind::kProbabilities, out);
  ASSERT_EQ(out.size(), 6u);
  top_k(std::vector<float>{9, 8}, 1, OutputKind::kProbabilities, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index, 0);
  EXPECT_FLOAT_EQ(out[0].score, 9.0f);
}

TEST(TopKTest, SoftmaxOverAllClassesSumsToOne) {
  const std::vector<float> row = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f, -4.0f, 1.5f};
  std::vector<Prediction> out;
  top_k(row, static_cast<int>(row.size()), OutputKind::kLogits, out);
  ASSERT_EQ(out.size(), row.size());
  double sum = 0.0;
  for (const auto& p : out) {
    EXPECT_GT(p.score, 0.0f);
    EXPECT_LE(p.score, 1.0f);
    sum += p.score;
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(out.front().index, 3);
  EXPECT_EQ(out.back().index, 5);

  // Each score is exp(x_i) / sum(exp(x)).
  double denominator = 0.0;
  for (float v : row) denominator += std::exp(static_cast<double>(v));
  for (const auto& p : out) {
    EXPECT_NEAR(p.score, std::exp(static_cast<double>(row[static_cast<std::size_t>(p.index)])) / denominator,
                1e-6);
  }
}

TEST(TopKTest, SoftmaxOfTopKUsesTheWholeRow) {
  // Only the best is returned, but its probability is normalised over every class.
  const std::vector<float> row = {0.0f, 0.0f, 0.0f, 0.0f};
  std::vector<Prediction> out;
  top_k(row, 1, OutputKind::kLogits, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index, 0);
  EXPECT_NEAR(out[0].score, 0.25f, 1e-6);
}

TEST(TopKTest, ProbabilitiesPassThroughUnchanged) {
  const std::vector<float> row = {0.125f, 3.5f, -2.0f, 0.0f};  // not even normalised: used as is
  std::vector<Prediction> out;
  top_k(row, 4, OutputKind::kProbabilities, out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].index, 1);
  EXPECT_EQ(out[0].score, 3.5f);
  EXPECT_EQ(out[1].index, 0);
  EXPECT_EQ(out[1].score, 0.125f);
  EXPECT_EQ(out[2].index, 3);
  EXPECT_EQ(out[2].score, 0.0f);
  EXPECT_EQ(out[3].index, 2);
  EXPECT_EQ(out[3].score, -2.0f);
}

TEST(TopKTest, SoftmaxIsNumericallyStableForLargeLogits) {
  const std::vector<float> row = {1000.0f, 999.0f, 0.0f};
  std::vector<Prediction> out;
  top_k(row, 3, OutputKind::kLogits, out);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& p : out) {
    EXPECT_TRUE(std::isfinite(p.score)) << "index " << p.index;
  }
  const double e = std::exp(-1.0);
  EXPECT_EQ(out[0].index, 0);
  EXPECT_NEAR(out[0].score, 1.0 / (1.0 + e), 1e-6);
  EXPECT_EQ(out[1].index, 1);
  EXPECT_NEAR(out[1].score, e / (1.0 + e), 1e-6);
  EXPECT_EQ(out[2].index, 2);
  EXPECT_NEAR(out[2].score, 0.0, 1e-6);
  EXPECT_NEAR(out[0].score + out[1].score + out[2].score, 1.0, 1e-6);
}

TEST(TopKTest, SoftmaxIsStableForVeryNegativeLogits) {
  const std::vector<float> row = {-1000.0f, -1001.0f};
  std::vector<Prediction> out;
  top_k(row, 2, OutputKind::kLogits, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(std::isfinite(out[0].score));
  EXPECT_NEAR(out[0].score + out[1].score, 1.0, 1e-6);
  EXPECT_GT(out[0].score, out[1].score);
}

}  // namespace
}  // namespace sluice::model
