// make_video_source: the `video:URL?key=value&...` kind of --source.
#pragma once

#include <memory>

#include "source/source.h"
#include "source/source_factory.h"
#include "source/source_spec.h"

namespace sluice::video {

/// Parses the keys (VideoOptions) and builds a VideoSource that produces the pixels the model
/// takes (defaults.video_channels). No supervisor: the source reconnects by itself. Fails on a
/// bad value or a key neither sluice nor FFmpeg knows, naming it; every message shows the URL
/// without credentials.
Result<std::unique_ptr<source::Source>> make_video_source(const source::SourceSpec& spec,
                                                          const source::SourceDefaults& defaults);

}  // namespace sluice::video
