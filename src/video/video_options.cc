#include "video/video_options.h"

#include <fmt/format.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

#include "util/quantity.h"
#include "video/url_redaction.h"

namespace sluice::video {
namespace {

// The target as written, with the camera URL's own '?' (written %3F so that it does not start
// sluice's query) restored. Other %-escapes are FFmpeg's business and stay as written.
std::string restore_question_marks(std::string_view target) {
  std::string out;
  out.reserve(target.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && i + 2 < target.size() && target[i + 1] == '3' &&
        (target[i + 2] == 'F' || target[i + 2] == 'f')) {
      out += '?';
      i += 2;
    } else {
      out += target[i];
    }
  }
  return out;
}

}  // namespace

const char* drop_policy_name(DropPolicy policy) {
  switch (policy) {
    case DropPolicy::kNone:
      return "none";
    case DropPolicy::kOldest:
      return "oldest";
    case DropPolicy::kNewest:
      return "newest";
  }
  return "?";
}

bool ffmpeg_knows_option(const std::string& key) {
  constexpr int kFlags = AV_OPT_SEARCH_CHILDREN | AV_OPT_SEARCH_FAKE_OBJ;
  const AVClass* format_class = avformat_get_class();
  const AVClass* codec_class = avcodec_get_class();
  return av_opt_find(&format_class, key.c_str(), nullptr, 0, kFlags) != nullptr ||
         av_opt_find(&codec_class, key.c_str(), nullptr, 0, kFlags) != nullptr;
}

Result<VideoOptions> parse_video_options(std::string_view target,
                                         const std::vector<std::pair<std::string, std::string>>& params,
                                         std::string_view context) {
  VideoOptions o;
  o.url = target == "-" ? std::string("pipe:0") : restore_question_marks(target);
  o.display_url = redact_url(o.url);
  o.network = is_network_url(o.url);
  std::optional<bool> live;
  std::optional<DropPolicy> drop;
  bool backoff_given = false, max_backoff_given = false;
  for (const auto& [key, value] : params) {
    const KeyValue option{context, key, value};
    if (key == "fps") {
      auto v = parse_positive_decimal(option);
      if (!v) return v.status();
      o.fps = *v;
    } else if (key == "every") {
      auto n = parse_count(option);
      if (!n) return n.status();
      if (*n == 0) return bad_value(option, "at least 1");
      o.every = *n;
    } else if (key == "keyframes" || key == "loop" || key == "realtime" || key == "live" ||
               key == "prescale") {
      auto flag = parse_flag(option);
      if (!flag) return flag.status();
      if (key == "keyframes") o.keyframes = *flag;
      if (key == "loop") o.loop = *flag;
      if (key == "realtime") o.realtime = *flag;
      if (key == "live") live = *flag;
      if (key == "prescale") o.prescale = *flag;
    } else if (key == "drop") {
      if (value == "oldest") {
        drop = DropPolicy::kOldest;
      } else if (value == "newest") {
        drop = DropPolicy::kNewest;
      } else if (value == "none") {
        drop = DropPolicy::kNone;
      } else {
        return bad_value(option, "oldest, newest or none");
      }
    } else if (key == "queue") {
      auto n = parse_count(option);
      if (!n) return n.status();
      if (*n == 0 || *n > 1000) return bad_value(option, "between 1 and 1000 pictures");
      o.queue = static_cast<std::size_t>(*n);
    } else if (key == "reconnect_backoff" || key == "reconnect_max_backoff" || key == "stall_timeout") {
      auto d = parse_positive_duration_ms(option);
      if (!d) return d.status();
      if (key == "reconnect_backoff") {
        o.reconnect_backoff = *d;
        backoff_given = true;
      } else if (key == "reconnect_max_backoff") {
        o.reconnect_max_backoff = *d;
        max_backoff_given = true;
      } else {
        o.stall_timeout = *d;
      }
    } else if (key == "max_reconnects") {
      auto n = parse_count(option);
      if (!n) return n.status();
      o.max_reconnects = static_cast<std::uint32_t>(std::min<std::uint64_t>(*n, UINT32_MAX));
    } else if (key == "format") {
      if (av_find_input_format(value.c_str()) == nullptr) {
        return bad_value(option, "an input format FFmpeg knows (see ffmpeg -demuxers)");
      }
      o.format = value;
    } else if (ffmpeg_knows_option(key)) {
      o.ffmpeg_options.emplace_back(key, value);
    } else {
      return Status(Code::kInvalidArgument,
                    fmt::format("{}: unknown key '{}': neither sluice's (known: {}) nor an FFmpeg format, "
                                "protocol or decoder option",
                                context, key, kVideoKeys));
    }
  }
  if (o.fps > 0 && o.every > 1) {
    return Status(Code::kInvalidArgument, fmt::format("{}: give fps=N or every=N, not both", context));
  }
  if (o.loop && o.network) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}: loop=1 is for files; a network stream is reconnected instead", context));
  }
  if (o.realtime && o.network) {
    return Status(
        Code::kInvalidArgument,
        fmt::format("{}: realtime=1 is for files; a network stream arrives at its own rate", context));
  }
  o.live = live.value_or(o.network || o.realtime);
  o.drop = drop.value_or(o.live ? DropPolicy::kOldest : DropPolicy::kNone);
  if (backoff_given && !max_backoff_given && o.reconnect_max_backoff < o.reconnect_backoff) {
    o.reconnect_max_backoff = o.reconnect_backoff;
  }
  if (o.reconnect_max_backoff < o.reconnect_backoff) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}: reconnect_max_backoff ({} ms) is below reconnect_backoff ({} ms)", context,
                              o.reconnect_max_backoff.count(), o.reconnect_backoff.count()));
  }
  return o;
}

}  // namespace sluice::video
