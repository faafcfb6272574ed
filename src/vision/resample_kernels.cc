// Compiled once per SIMD target Highway supports on x86-64 (scalar, SSSE3, SSE4, AVX2, AVX-512),
// and dispatched at run time to the best one the CPU has: the build never assumes the build
// machine's CPU. Every target computes the same integers: 32-bit lanes, Pillow's sums.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "vision/resample_kernels.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// The order matters: foreach_target.h re-includes this file once per target before highway.h.
#include <hwy/highway.h>

#include <cstring>

#include "vision/resample_kernels.h"
#include "vision/resize_coefficients.h"

HWY_BEFORE_NAMESPACE();
namespace sluice::vision {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Pillow's clip8 of N sums, stored as N bytes: an arithmetic shift, then saturation to 0..255
// (DemoteTo saturates).
template <class D>
HWY_INLINE void StoreClipped(D /* d */, hn::Vec<D> sum, std::uint8_t* out) {
  const hn::Rebind<std::uint8_t, D> d8;
  hn::StoreU(hn::DemoteTo(d8, hn::ShiftRight<kResizePrecisionBits>(sum)), d8, out);
}

// Horizontal pass, any scale: per tap, one 32-bit gather per lane loads the tap's whole pixel
// (R, G, B and the next byte) from the lane's own offset; the channels are then split with
// shifts and masks and multiplied by the lane's own weight.
void HorizontalGathered(const HorizontalPass& p) {
  const hn::ScalableTag<std::int32_t> d;
  const std::size_t lanes = hn::Lanes(d);
  const auto half = hn::Set(d, 1 << (kResizePrecisionBits - 1));
  const auto low_byte = hn::Set(d, 0xFF);
  const auto columns = static_cast<std::size_t>(p.columns);
  for (int r = 0; r < p.row_count; ++r) {
    // Offsets are in bytes: GatherOffset reads an unaligned 32-bit word at base + offset.
    const auto* base = reinterpret_cast<const std::int32_t*>(p.rows[r]);
    std::uint8_t* out = p.out + static_cast<std::size_t>(r) * columns;
    for (std::size_t x = 0; x < columns; x += lanes) {
      auto s0 = half, s1 = half, s2 = half;
      for (int t = 0; t < p.taps; ++t) {
        const std::size_t k = static_cast<std::size_t>(t) * columns + x;
        const auto pixel = hn::GatherOffset(d, base, hn::LoadU(d, p.offsets + k));
        const auto w = hn::LoadU(d, p.weights + k);
        s0 = hn::Add(s0, hn::Mul(hn::And(pixel, low_byte), w));
        if (p.channels == 3) {
          s1 = hn::Add(s1, hn::Mul(hn::And(hn::ShiftRight<8>(pixel), low_byte), w));
          s2 = hn::Add(s2, hn::Mul(hn::And(hn::ShiftRight<16>(pixel), low_byte), w));
        }
      }
      StoreClipped(d, s0, out + x);
      if (p.channels == 3) {
        StoreClipped(d, s1, out + p.plane_stride + x);
        StoreClipped(d, s2, out + 2 * p.plane_stride + x);
      }
    }
  }
}

#if HWY_TARGET != HWY_SCALAR
// The vector's 16-byte blocks, each loaded from plane + bases[block]: block b feeds lanes
// 4b..4b+3 (one group of outputs).
template <class D8>
HWY_INLINE hn::Vec<D8> LoadWindows(D8 d8, const std::uint8_t* plane, const std::int32_t* bases) {
  if constexpr (hn::MaxLanes(D8()) <= kWindowBytes) {
    return hn::LoadU(d8, plane + bases[0]);
  } else {
    const hn::Half<D8> dh;
    constexpr std::size_t kBlocks = hn::MaxLanes(hn::Half<D8>()) / kWindowBytes;
    return hn::Combine(d8, LoadWindows(dh, plane, bases + kBlocks), LoadWindows(dh, plane, bases));
  }
}

// Horizontal pass when every group of 4 outputs reads within kWindows x 16 pixels (scales up to
// about 3 with one window, 12 with four; every upscale): per channel, kWindows window loads per
// group and, per tap, kWindows byte shuffles put each lane's pixel in the low byte of its 32-bit
// lane, zero-extended.
template <int kChannels, int kWindows>
void HorizontalWindowed(const HorizontalPass& p) {
  const hn::ScalableTag<std::int32_t> d;
  const hn::Repartition<std::uint8_t, decltype(d)> d8;
  const std::size_t lanes = hn::Lanes(d);
  const auto half = hn::Set(d, 1 << (kResizePrecisionBits - 1));
  const auto columns = static_cast<std::size_t>(p.columns);
  const std::size_t groups = columns / kWindowOutputs;
  const auto span = static_cast<std::size_t>(p.span_end - p.span_begin);
  const std::uint8_t* planes[3] = {p.planar, p.planar + p.planar_stride, p.planar + 2 * p.planar_stride};
  for (int r = 0; r < p.row_count; ++r) {
    const std::uint8_t* row = p.rows[r] + static_cast<std::size_t>(p.span_begin) * kChannels;
    if constexpr (kChannels == 3) {
      const hn::ScalableTag<std::uint8_t> du;
      const std::size_t n = hn::Lanes(du);
      std::uint8_t* planar = p.planar;
      for (std::size_t i = 0; i < span; i += n) {
        hn::Vec<decltype(du)> c0, c1, c2;
        hn::LoadInterleaved3(du, row + 3 * i, c0, c1, c2);
        hn::StoreU(c0, du, planar + i);
        hn::StoreU(c1, du, planar + p.planar_stride + i);
        hn::StoreU(c2, du, planar + 2 * p.planar_stride + i);
      }
    } else {
      planes[0] = row;
    }
    std::uint8_t* out = p.out + static_cast<std::size_t>(r) * columns;
    for (std::size_t x = 0; x < columns; x += lanes) {
      const std::size_t group = x / kWindowOutputs;
      const std::int32_t* bases = p.window_base + group;
      hn::Vec<decltype(d8)> window[kChannels][kWindows];
      hn::Vec<decltype(d)> sum[kChannels];
      for (int c = 0; c < kChannels; ++c) {
        for (int j = 0; j < kWindows; ++j)
          window[c][j] = LoadWindows(d8, planes[c] + j * kWindowBytes, bases);
        sum[c] = half;
      }
      for (int t = 0; t < p.taps; ++t) {
        hn::Vec<decltype(d8)> shuffle[kWindows];
        for (int j = 0; j < kWindows; ++j) {
          shuffle[j] =
              hn::LoadU(d8, p.shuffles + ((static_cast<std::size_t>(t) * kWindows + j) * groups + group) *
                                             kWindowBytes);
        }
        const auto w = hn::LoadU(d, p.weights + static_cast<std::size_t>(t) * columns + x);
        for (int c = 0; c < kChannels; ++c) {
          auto bytes = hn::TableLookupBytesOr0(window[c][0], shuffle[0]);
          for (int j = 1; j < kWindows; ++j)
            bytes = hn::Or(bytes, hn::TableLookupBytesOr0(window[c][j], shuffle[j]));
          sum[c] = hn::Add(sum[c], hn::Mul(hn::BitCast(d, bytes), w));
        }
      }
      for (int c = 0; c < kChannels; ++c)
        StoreClipped(d, sum[c], out + static_cast<std::size_t>(c) * p.plane_stride + x);
    }
  }
}

template <int kChannels>
void HorizontalWindowedBy(const HorizontalPass& p) {
  switch (p.windows) {
    case 1:
      return HorizontalWindowed<kChannels, 1>(p);
    case 2:
      return HorizontalWindowed<kChannels, 2>(p);
    case 3:
      return HorizontalWindowed<kChannels, 3>(p);
    default:
      return HorizontalWindowed<kChannels, 4>(p);
  }
}
#endif

void HorizontalPassImpl(const HorizontalPass& p) {
#if HWY_TARGET != HWY_SCALAR
  if (p.windows > 0) {
    if (p.channels == 3) return HorizontalWindowedBy<3>(p);
    return HorizontalWindowedBy<1>(p);
  }
#endif
  HorizontalGathered(p);
}

// Vertical pass, vectorised over columns: every lane of an output row shares its weights. The
// 8-bit result is normalised and the floats go straight to the tensor.
void VerticalPassImpl(const VerticalPass& p) {
  const hn::ScalableTag<std::int32_t> d;
  const hn::Rebind<std::uint8_t, decltype(d)> d8;
  const hn::Rebind<float, decltype(d)> df;
  const std::size_t lanes = hn::Lanes(d);
  const auto half = hn::Set(d, 1 << (kResizePrecisionBits - 1));
  const auto zero = hn::Zero(d);
  const auto top = hn::Set(d, 255);
  const Normalisation& n = p.normalisation;
  const auto divisor = hn::Set(df, n.divisor), scale = hn::Set(df, n.scale);
  const auto mean = hn::Set(df, n.mean), std_dev = hn::Set(df, n.std);
  const auto columns = static_cast<std::size_t>(p.columns);
  const auto width = static_cast<std::size_t>(p.width);
  HWY_ALIGN float tail[hn::MaxLanes(df)];
  for (int y = 0; y < p.rows_out; ++y) {
    const std::int32_t* w = p.weights + static_cast<std::size_t>(y) * static_cast<std::size_t>(p.taps);
    const std::uint8_t* in = p.in + static_cast<std::size_t>(p.first[y]) * columns;
    const int count = p.count[y];
    float* out = p.out + static_cast<std::size_t>(y) * p.out_stride;
    for (std::size_t x = 0; x < width; x += lanes) {
      auto sum = half;
      for (int t = 0; t < count; ++t) {
        const auto pixel = hn::PromoteTo(d, hn::LoadU(d8, in + static_cast<std::size_t>(t) * columns + x));
        sum = hn::Add(sum, hn::Mul(pixel, hn::Set(d, w[t])));
      }
      const auto value =
          hn::ConvertTo(df, hn::Min(hn::Max(hn::ShiftRight<kResizePrecisionBits>(sum), zero), top));
      // Normalisation::operator(), in IEEE float32 operations that give the same result per lane.
      const auto x01 = n.divide ? hn::Div(value, divisor) : hn::Mul(value, scale);
      const auto result = hn::Div(hn::Sub(x01, mean), std_dev);
      if (x + lanes <= width) {
        hn::StoreU(result, df, out + x);
      } else {
        hn::Store(result, df, tail);
        std::memcpy(out + x, tail, (width - x) * sizeof(float));
      }
    }
  }
}

std::int64_t ActiveTarget() {
  return HWY_TARGET;
}

}  // namespace HWY_NAMESPACE
}  // namespace sluice::vision
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sluice::vision {

HWY_EXPORT(HorizontalPassImpl);
HWY_EXPORT(VerticalPassImpl);
HWY_EXPORT(ActiveTarget);

void run_horizontal_pass(const HorizontalPass& pass) {
  HWY_DYNAMIC_DISPATCH(HorizontalPassImpl)(pass);
}
void run_vertical_pass(const VerticalPass& pass) {
  HWY_DYNAMIC_DISPATCH(VerticalPassImpl)(pass);
}
std::int64_t resample_kernels_target() {
  return HWY_DYNAMIC_DISPATCH(ActiveTarget)();
}
std::int64_t resample_kernels_compiled_targets() {
  return HWY_TARGETS;
}

}  // namespace sluice::vision
#endif  // HWY_ONCE
