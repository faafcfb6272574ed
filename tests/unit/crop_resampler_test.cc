// CropResampler computes only the pixels a crop keeps; they must equal the same pixels of the
// whole-image resize (antialiased_resize, Pillow's structure), for any size, crop position
// (including torchvision's padding), channel count and resize direction.
#include "vision/crop_resampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "vision/antialiased_resize.h"
#include "vision/resize_coefficients.h"
#include "vision/simd_target.h"

namespace sluice::vision {
namespace {

DecodedImage noise_image(int width, int height, int channels, unsigned seed) {
  std::mt19937 rng(seed);
  DecodedImage image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
                      static_cast<std::size_t>(channels));
  for (auto& v : image.pixels) v = static_cast<std::uint8_t>(rng() & 0xFF);
  return image;
}

// Normalisation that leaves the pixel values as they are: (v / 1 - 0) / 1.
Normalisation identity() {
  Normalisation n;
  n.divisor = 1.0f;
  return n;
}

// Geometry: resize to resized_w x resized_h, then a crop_w x crop_h crop at (left, top); checked on
// every SIMD target in `targets`. Returns the windows the horizontal pass used (0: the gather path).
int expect_crop_of_full_resize(const std::vector<std::int64_t>& targets, const DecodedImage& image,
                               int resized_w, int resized_h, int left, int top, int crop_w, int crop_h) {
  SCOPED_TRACE(std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
               std::to_string(image.channels) + " -> " + std::to_string(resized_w) + "x" +
               std::to_string(resized_h) + ", crop " + std::to_string(crop_w) + "x" + std::to_string(crop_h) +
               " at " + std::to_string(left) + "," + std::to_string(top));
  DecodedImage full;
  ResizeScratch scratch;
  EXPECT_TRUE(antialiased_resize(image, resized_w, resized_h, full, scratch));

  PlaneMapping mapping;
  mapping.planes = image.channels;
  mapping.normalisation = {identity(), identity(), identity()};
  PreprocessGeometry g{resized_w, resized_h, left, top, crop_w, crop_h};
  const std::size_t plane = static_cast<std::size_t>(crop_w) * static_cast<std::size_t>(crop_h);
  std::vector<float> out(plane * static_cast<std::size_t>(image.channels), -1.0f);
  CropResampler resampler;
  for (const std::int64_t target : targets) {
    SCOPED_TRACE("SIMD target " + simd_target_name(target));
    cap_simd_target(target);
    EXPECT_EQ(active_simd_target(), target);
    std::fill(out.begin(), out.end(), -1.0f);
    EXPECT_TRUE(resampler.run(image, g, mapping, out));
    std::size_t differing = 0;
    for (int c = 0; c < image.channels; ++c) {
      for (int y = 0; y < crop_h; ++y) {
        for (int x = 0; x < crop_w; ++x) {
          const int sx = left + x, sy = top + y;
          const bool inside = sx >= 0 && sy >= 0 && sx < resized_w && sy < resized_h;
          const float expected =
              inside ? full.pixels[(static_cast<std::size_t>(sy) * static_cast<std::size_t>(resized_w) +
                                    static_cast<std::size_t>(sx)) *
                                       static_cast<std::size_t>(image.channels) +
                                   static_cast<std::size_t>(c)]
                     : 0.0f;
          const float got =
              out[static_cast<std::size_t>(c) * plane + static_cast<std::size_t>(y * crop_w + x)];
          differing += got != expected;
        }
      }
    }
    EXPECT_EQ(differing, 0u);
  }
  cap_simd_target(0);
  return resampler.last_windows();
}

TEST(CropResamplerTest, EqualsTheCropOfTheWholeResizeOnEverySimdTarget) {
  (void)apply_simd_environment();  // every target, whatever SLUICE_SIMD says
  cap_simd_target(0);
  const auto targets = available_simd_targets();
  std::vector<std::string> names;
  for (auto t : targets) names.push_back(simd_target_name(t));
  // The AVX2 and AVX-512 paths must be there whenever the CPU has what Highway needs for them,
  // or a dispatch or build mistake would go unseen.
  const auto has = [&](const char* name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  EXPECT_TRUE(has("SCALAR"));
  if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul")) {
    EXPECT_TRUE(has("SSE4"));
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("fma")) {
    EXPECT_TRUE(has("AVX2"));
  }
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq")) {
    EXPECT_TRUE(has("AVX3"));
  }
  unsigned seed = 1;
  std::vector<int> windows_used;
  const auto check = [&](const DecodedImage& image, int rw, int rh, int left, int top, int cw, int ch) {
    windows_used.push_back(expect_crop_of_full_resize(targets, image, rw, rh, left, top, cw, ch));
  };
  for (int channels : {1, 3}) {
    check(noise_image(768, 576, channels, seed++), 341, 256, 58, 16, 224, 224);
    check(noise_image(97, 131, channels, seed++), 256, 345, 16, 60, 224, 224);   // upscale
    check(noise_image(256, 383, channels, seed++), 256, 383, 16, 80, 224, 224);  // identity
    check(noise_image(60, 20, channels, seed++), 28, 28, 0, 0, 28, 28);          // down x, up y
    check(noise_image(1, 300, channels, seed++), 256, 900, 16, 338, 224, 224);
    check(noise_image(300, 1, channels, seed++), 900, 256, 338, 16, 224, 224);
    check(noise_image(1, 1, channels, seed++), 5, 7, -3, -2, 11, 13);  // padded
    check(noise_image(100, 60, channels, seed++), 100, 60, -62, 10, 224, 40);
    check(noise_image(2000, 37, channels, seed++), 1384, 25, 3, 1, 17, 23);         // 17 columns
    check(noise_image(1920, 1080, channels, seed++), 455, 256, 116, 16, 224, 224);  // 4.2x: 2 windows
    check(noise_image(3000, 500, channels, seed++), 384, 64, 80, 0, 224, 64);       // 7.8x: 3 windows
    check(noise_image(4000, 3000, channels, seed++), 341, 256, 58, 16, 224, 224);   // 11.7x: 4 windows
    check(noise_image(6000, 400, channels, seed++), 341, 23, 58, 0, 224, 23);       // 17.6x: gathers
  }
  // Every way of loading pixels was exercised.
  for (int w = 0; w <= kMaxWindows; ++w) {
    EXPECT_NE(std::find(windows_used.begin(), windows_used.end(), w), windows_used.end()) << w << " windows";
  }
}

TEST(CropResamplerTest, ReusesItsBuffersAcrossSizes) {
  // One resampler, sizes in turn: the tables of a previous image must not leak into the next, and
  // the plan it keeps for a repeated size must serve new pixels.
  CropResampler resampler;
  PlaneMapping mapping;
  mapping.planes = 3;
  mapping.normalisation = {identity(), identity(), identity()};
  std::vector<float> a(3 * 224 * 224), b(3 * 224 * 224);
  const DecodedImage small = noise_image(300, 260, 3, 7), large = noise_image(900, 700, 3, 8);
  const PreprocessGeometry gs{295, 256, 36, 16, 224, 224}, gl{329, 256, 52, 16, 224, 224};
  ASSERT_TRUE(resampler.run(small, gs, mapping, a));
  ASSERT_TRUE(resampler.run(large, gl, mapping, b));
  std::vector<float> again(a.size());
  ASSERT_TRUE(resampler.run(small, gs, mapping, again));
  EXPECT_EQ(a, again);
  CropResampler fresh;
  ASSERT_TRUE(fresh.run(large, gl, mapping, again));
  EXPECT_EQ(b, again);
  // Same size and geometry as the run before: the kept plan must serve another image's pixels.
  const DecodedImage other = noise_image(300, 260, 3, 9);
  ASSERT_TRUE(resampler.run(other, gs, mapping, again));
  CropResampler fresh_other;
  std::vector<float> expected(a.size());
  ASSERT_TRUE(fresh_other.run(other, gs, mapping, expected));
  EXPECT_EQ(expected, again);
  EXPECT_NE(a, again);
  // The same sizes with the crop elsewhere: a new plan.
  const PreprocessGeometry shifted{295, 256, 35, 15, 224, 224};
  ASSERT_TRUE(resampler.run(other, shifted, mapping, again));
  ASSERT_TRUE(fresh_other.run(other, shifted, mapping, expected));
  EXPECT_EQ(expected, again);
}

TEST(ResizeCoefficientsTest, SameSizeIsTheIdentity) {
  AxisCoefficients c;
  ASSERT_TRUE(compute_axis_coefficients(57, 57, 0, 57, c));
  for (int i = 0; i < 57; ++i) {
    EXPECT_EQ(c.first[static_cast<std::size_t>(i)], i);
    EXPECT_EQ(c.row(i)[0], 1 << kResizePrecisionBits);
    for (int t = 1; t < c.taps; ++t) EXPECT_EQ(c.row(i)[t], 0);
  }
}

TEST(ResizeCoefficientsTest, WindowMatchesTheWholeAxisAndSumsToOne) {
  AxisCoefficients whole, window;
  ASSERT_TRUE(compute_axis_coefficients(768, 341, 0, 341, whole));
  ASSERT_TRUE(compute_axis_coefficients(768, 341, 58, 224, window));
  ASSERT_EQ(whole.taps, window.taps);
  EXPECT_EQ(whole.taps, 7);  // Pillow's ksize: ceil(768 / 341) * 2 + 1
  for (int i = 0; i < 224; ++i) {
    EXPECT_EQ(window.first[static_cast<std::size_t>(i)], whole.first[static_cast<std::size_t>(58 + i)]);
    std::int64_t sum = 0;
    for (int t = 0; t < window.taps; ++t) {
      EXPECT_EQ(window.row(i)[t], whole.row(58 + i)[t]);
      sum += window.row(i)[t];
    }
    // Each weight is rounded on its own: the sum is 2^22 within a rounding per tap.
    EXPECT_NEAR(static_cast<double>(sum), 1 << kResizePrecisionBits, window.taps);
  }
}

TEST(ResizeCoefficientsTest, RefusesWhatPillowRefuses) {
  AxisCoefficients c;
  // Pillow: outSize > INT_MAX / (ksize * sizeof(double)) is a MemoryError; upscaling has ksize 3.
  const Status st = compute_axis_coefficients(1, 100'000'000, 0, 1, c);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kLimit);
  EXPECT_TRUE(compute_axis_coefficients(1, 80'000'000, 0, 1, c));
}

}  // namespace
}  // namespace sluice::vision
