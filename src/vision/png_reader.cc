#include "vision/png_reader.h"

#include <png.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vision/image_decoder.h"
#include "vision/pillow_convert.h"

namespace sluice::vision {
namespace {

// libpng's callbacks and the functions that call into libpng. libpng reports an error by
// longjmp-ing to the setjmp of the function that made the call, so those functions hold only
// trivially destructible locals, and every C++ object (buffers, Status) lives outside them.
struct PngInput {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t position;
  char error[160];
};

void read_from_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (n > in->size - in->position) png_error(png, "the data ends early (truncated PNG)");
  std::memcpy(out, in->data + in->position, n);
  in->position += n;
}

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(in->error, sizeof(in->error), "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

// The most libpng keeps of any one ancillary chunk it reads (a palette is 768 bytes, tRNS 256);
// libpng's default is 8 MB. With the chunks skipped below, a valid image needs far less.
constexpr png_alloc_size_t kChunkBytes = 256u << 10;
// libpng's own buffers besides its rows: the zlib stream (its 32 KiB window and state), the
// chunks it keeps, and the structs.
constexpr std::uint64_t kLibpngFixedBytes = (1u << 20) + 2 * kChunkBytes;

// Chunks whose content Pillow does not apply to the pixels: libpng skips them without reading
// their data into memory.
void skip_unused_chunks(png_structp png) {
  static constexpr png_byte kSkipped[] = {'i',  'C', 'C',  'P', '\0', 'i',  'T', 'X',  't', '\0', 't', 'E',
                                          'X',  't', '\0', 'z', 'T',  'X',  't', '\0', 's', 'P',  'L', 'T',
                                          '\0', 'e', 'X',  'I', 'f',  '\0', 'h', 'I',  'S', 'T',  '\0'};
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, kSkipped, sizeof(kSkipped) / 5);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, 0);  // and every unknown one
  png_set_chunk_malloc_max(png, kChunkBytes);
}

struct Header {
  png_uint_32 width, height;
  int bit_depth, color_type;
};

bool read_header(png_structp png, png_infop info, Header* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  int interlace = 0, compression = 0, filter = 0;
  png_get_IHDR(png, info, &h->width, &h->height, &h->bit_depth, &h->color_type, &interlace, &compression,
               &filter);
  return true;
}

// Pillow's unpacking, as libpng transforms; returns the channels and bytes per row libpng then gives.
bool set_transforms(png_structp png, png_infop info, const Header* h, int* channels, std::size_t* row_bytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (h->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // tRNS becomes a 4th channel
  if (h->color_type == PNG_COLOR_TYPE_GRAY && h->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (h->bit_depth == 16 && h->color_type != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *channels = png_get_channels(png, info);
  *row_bytes = png_get_rowbytes(png, info);
  return true;
}

bool read_rows(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

struct PngHandles {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngHandles() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
};

}  // namespace

Status PngReader::decode(std::span<const std::uint8_t> bytes, int channels, std::uint64_t max_pixels,
                         DecodedImage& out, DecodeAdmission* admission) {
  last_buffer_bytes_ = 0;
  PngInput input{bytes.data(), bytes.size(), 0, {}};
  PngHandles handles;
  handles.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &input, on_error, on_warning);
  if (handles.png == nullptr) return Status(Code::kInternal, "libpng could not be initialised");
  handles.info = png_create_info_struct(handles.png);
  if (handles.info == nullptr) return Status(Code::kInternal, "libpng could not be initialised");
  png_set_read_fn(handles.png, &input, read_from_memory);
  skip_unused_chunks(handles.png);

  Header h{};
  if (!read_header(handles.png, handles.info, &h)) {
    return Status(Code::kDecode, fmt::format("corrupt PNG header: {}", input.error));
  }
  if (auto st = check_image_dimensions(h.width, h.height, max_pixels); !st) return st;
  const int width = static_cast<int>(h.width), height = static_cast<int>(h.height);
  int given = 0;
  std::size_t row_bytes = 0;
  if (!set_transforms(handles.png, handles.info, &h, &given, &row_bytes)) {
    return Status(Code::kDecode, fmt::format("corrupt PNG: {}", input.error));
  }
  const bool gray16 = h.bit_depth == 16 && h.color_type == PNG_COLOR_TYPE_GRAY;
  const auto pixels = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  // libpng writes straight into the output when its rows already are what Pillow gives.
  const bool direct = given == channels && !gray16;
  const std::size_t out_bytes = pixels * static_cast<std::size_t>(channels);
  const std::size_t raw_bytes = direct ? 0 : row_bytes * static_cast<std::size_t>(height);
  const std::size_t pointer_bytes = static_cast<std::size_t>(height) * sizeof(std::uint8_t*);
  if (admission != nullptr) {
    // libpng's rows: the current and previous row of the file's own layout (up to 8 bytes per
    // pixel before stripping), and one row of the transformed layout.
    const std::uint64_t library = kLibpngFixedBytes + 3 * (static_cast<std::uint64_t>(width) * 8 + 64);
    if (auto st = admission->admit({width, height, out_bytes + raw_bytes + pointer_bytes + library}); !st) {
      return st;
    }
  }
  out.width = width;
  out.height = height;
  out.channels = channels;
  out.pixels.resize(out_bytes);
  std::uint8_t* target = out.pixels.data();
  if (!direct) {
    raw_.resize(raw_bytes);
    target = raw_.data();
  }
  rows_.resize(static_cast<std::size_t>(height));
  last_buffer_bytes_ = out_bytes + raw_bytes + pointer_bytes;
  for (int y = 0; y < height; ++y)
    rows_[static_cast<std::size_t>(y)] = target + static_cast<std::size_t>(y) * row_bytes;
  if (!read_rows(handles.png, rows_.data())) {
    return Status(Code::kDecode, fmt::format("corrupt PNG data: {}", input.error));
  }
  if (direct) return Status::ok();

  std::uint8_t* dst = out.pixels.data();
  const std::uint8_t* src = raw_.data();
  const auto n = pixels;
  if (gray16) {
    // Pillow opens 16-bit gray as mode "I" (big-endian samples); converting clips to 0..255.
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned v = (static_cast<unsigned>(src[2 * i]) << 8) | src[2 * i + 1];
      const auto g = static_cast<std::uint8_t>(std::min(v, 255u));
      if (channels == 1) {
        dst[i] = g;
      } else {
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = g;
      }
    }
    return Status::ok();
  }
  if (given <= 2) {  // gray, or gray + alpha: the gray value, replicated for RGB (l2rgb, la2rgb, la2l)
    const auto stride = static_cast<std::size_t>(given);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t g = src[i * stride];
      if (channels == 1) {
        dst[i] = g;
      } else {
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = g;
      }
    }
    return Status::ok();
  }
  const auto stride = static_cast<std::size_t>(given);  // RGB or RGBA
  if (channels == 1) {
    pillow_rgb_to_luma(src, stride, n, dst);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      std::memcpy(dst + 3 * i, src + i * stride, 3);  // rgba2rgb drops alpha
  }
  return Status::ok();
}

}  // namespace sluice::vision
