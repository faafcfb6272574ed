#include "video/video_source_factory.h"

#include <fmt/format.h>

#include "video/url_redaction.h"
#include "video/video_source.h"

namespace sluice::video {

Result<std::unique_ptr<source::Source>> make_video_source(const source::SourceSpec& spec,
                                                          const source::SourceDefaults& defaults) {
  // As written after "video:", credentials removed: the source's name in logs and metrics.
  const std::string written = redact_url(std::string_view(spec.text).substr(spec.kind.size() + 1));
  const std::string context = fmt::format("--source 'video:{}'", written);
  if (defaults.video_channels != 1 && defaults.video_channels != 3) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}: video sources need `sluice serve`: they hand raw pixels to the model, and "
                              "this command takes encoded frames only",
                              context));
  }
  auto video = parse_video_options(spec.target, spec.params, context);
  if (!video) return video.status();
  VideoSourceOptions options;
  options.video = std::move(*video);
  options.max_pixels = defaults.max_pixels;
  options.pixels = defaults.video_channels == 1 ? PixelFormat::kGray8 : PixelFormat::kRgb24;
  options.name = "video " + written;
  options.resize_target = defaults.video_resize_target;
  return std::unique_ptr<source::Source>(std::make_unique<VideoSource>(std::move(options)));
}

}  // namespace sluice::video
