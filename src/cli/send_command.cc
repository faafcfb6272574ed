// sluice send: a producer that streams images in the seed wire format.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include "cli/cli_support.h"
#include "net/tls_context.h"
#include "producer/acked_sender.h"
#include "producer/frame_sender.h"
#include "video/video_sender.h"
#include "wire/protocol_v2.h"

namespace sluice::cli {
namespace {

struct SendCliOptions {
  std::vector<std::string> paths;
  std::string to;
  std::string listen;
  producer::SendOptions send;
  std::size_t limit = 0;
  bool ack = false;
  std::string give_up_after = "120s";
  std::string token;
  std::string token_file;
  std::uint64_t stream_id = 0;
  int jpeg_quality = 95;
  net::TlsClientFiles tls;
};

// --tls-ca and friends: the producer's TLS, verified against the host of `to` unless
// --tls-server-name says otherwise; nullptr without --tls-ca.
std::shared_ptr<const net::TlsClient> make_tls(const SendCliOptions& opts, const net::Endpoint& to) {
  const auto& files = opts.tls;
  if (!files.enabled()) {
    if (!files.cert.empty() || !files.key.empty() || !files.server_name.empty()) {
      throw std::runtime_error(
          "--tls-cert, --tls-key and --tls-server-name need --tls-ca (TLS is on with it)");
    }
    return nullptr;
  }
  auto ctx = net::make_client_context(files);
  if (!ctx) throw std::runtime_error(ctx.status().message());
  auto tls = std::make_shared<net::TlsClient>();
  tls->ctx = std::move(*ctx);
  tls->server_name = files.server_name.empty() ? to.host : files.server_name;
  return tls;
}

// The summary of a send (stdout), or the error that ended it (stderr); the exit code.
int report(const Result<producer::SendSummary>& summary, const producer::SendProgress& progress) {
  if (!summary) {
    std::fprintf(stderr, "sluice send: error after %llu frames: %s\n",
                 static_cast<unsigned long long>(progress.frames.load()),
                 summary.status().to_string().c_str());
    return 1;
  }
  std::printf("sent %llu frames, %.1f MB in %.2f s: %.0f frames/s\n",
              static_cast<unsigned long long>(summary->frames), static_cast<double>(summary->bytes) / 1e6,
              summary->seconds, summary->frames_per_second());
  return 0;
}

// The first line of a token file, without its line break.
std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token))
    throw std::runtime_error(fmt::format("--token-file: cannot read '{}'", path));
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty())
    throw std::runtime_error(fmt::format("--token-file: '{}' holds no token on its first line", path));
  return token;
}

// Video inputs (files, URLs, "-" for stdin): each is one connection, read and sent as it decodes.
int run_send_videos(const SendCliOptions& opts) {
  if (!opts.listen.empty() || opts.ack || !opts.token.empty() || !opts.token_file.empty() ||
      opts.stream_id != 0 || opts.send.repeat != 1 || opts.send.connections != 1) {
    throw std::runtime_error(
        "video inputs are sent with --to, --rate and --limit: each input is one connection (one stream); "
        "--listen, --ack, --token, --stream-id, --repeat and --connections take image files");
  }
  if (opts.tls.enabled()) throw std::runtime_error("--tls-ca: video inputs are sent without TLS for now");
  if (opts.jpeg_quality < 1 || opts.jpeg_quality > 100)
    throw std::runtime_error("--jpeg-quality must be 1..100");
  std::vector<video::VideoInput> inputs;
  for (const auto& path : opts.paths) {
    if (!video::is_video_input(path)) {
      throw std::runtime_error(fmt::format(
          "'{}' is not a video input: give either video inputs or image files and directories", path));
    }
    auto input = video::parse_video_input(path);
    if (!input) throw std::runtime_error(input.status().message());
    inputs.push_back(std::move(*input));
  }
  auto ep = net::parse_endpoint(opts.to);
  if (!ep) throw std::runtime_error(ep.status().message());
  producer::SendProgress progress;
  return report(video::send_videos(inputs, *ep, {opts.send.rate, opts.limit, opts.jpeg_quality}, progress),
                progress);
}

int run_send(const SendCliOptions& opts) {
  if (opts.to.empty() == opts.listen.empty()) {
    throw std::runtime_error(
        "give exactly one of --to HOST:PORT (connect to a pipeline) or --listen HOST:PORT "
        "(serve a pipeline started with --connect)");
  }
  if (opts.ack && !opts.listen.empty()) {
    throw std::runtime_error(
        "--ack works with --to only: acknowledgements flow back on connections the producer opens");
  }
  if (!opts.token.empty() && !opts.token_file.empty())
    throw std::runtime_error("give --token or --token-file, not both");
  if (opts.stream_id != 0 && opts.stream_id < wire::kMinProducerStreamId)
    throw std::runtime_error("--stream-id must be at least 4294967296 (2^32): smaller ids are the server's");
  const bool acked = opts.ack || !opts.token.empty() || !opts.token_file.empty() || opts.stream_id != 0;
  if (acked && !opts.listen.empty()) {
    throw std::runtime_error(
        "--ack, --token, --token-file and --stream-id work with --to only: they need a hello on a connection "
        "the producer opens");
  }
  if (opts.send.connections < 1 || opts.send.repeat < 1 || opts.send.rate < 0) {
    throw std::runtime_error(
        "--connections and --repeat must be at least 1, and --rate must not be negative");
  }
  if (std::any_of(opts.paths.begin(), opts.paths.end(),
                  [](const auto& p) { return video::is_video_input(p); })) {
    return run_send_videos(opts);
  }
  auto set = producer::load_frame_set(opts.paths, opts.limit);
  if (!set) throw std::runtime_error(set.status().message());
  std::fprintf(stderr, "loaded %zu frames (%.1f MB)\n", set->frames.size(),
               static_cast<double>(set->bytes()) / 1e6);
  producer::SendProgress progress;
  Result<producer::SendSummary> summary = Status(Code::kInternal, "not run");
  if (!opts.to.empty()) {
    auto ep = net::parse_endpoint(opts.to);
    if (!ep) throw std::runtime_error(ep.status().message());
    const auto tls = make_tls(opts, *ep);
    if (acked) {
      producer::AckedSendOptions acked_options{opts.send, 4096, parse_duration(opts.give_up_after), {}, 0};
      acked_options.token = opts.token_file.empty() ? opts.token : read_token_file(opts.token_file);
      acked_options.first_stream = opts.stream_id;
      summary = producer::send_frames_acked(*set, *ep, acked_options, progress, tls.get());
    } else {
      summary = producer::send_frames(*set, *ep, opts.send, progress, tls.get());
    }
  } else {
    auto ep = net::parse_endpoint(opts.listen);
    if (!ep) throw std::runtime_error(ep.status().message());
    if (opts.tls.enabled() || !opts.tls.cert.empty())
      throw std::runtime_error("--listen serves frames without TLS for now: give the TLS options with --to");
    summary = producer::serve_frames(*set, *ep, opts.send, progress, [&](const net::Endpoint& bound) {
      std::fprintf(stderr, "serving frames on %s to %d client(s)\n", bound.to_string().c_str(),
                   opts.send.connections);
    });
  }
  return report(summary, progress);
}

}  // namespace

void register_send(CLI::App& app) {
  auto opts = std::make_shared<SendCliOptions>();
  auto* cmd = app.add_subcommand(
      "send", "Stream image files, directories, an IDX image file or videos to a pipeline");
  cmd->add_option("paths", opts->paths,
                  "Image files (.jpg/.png), directories of them, or an IDX image file (sent as PNG frames "
                  "named by index); or videos: a file (mp4, mkv, avi, ts, ...), a URL (rtsp://, udp://, "
                  "http://, ...) or - (a stream on stdin, e.g. MJPEG), each optionally followed by "
                  "?fps=N|every=N&keyframes=1&realtime=1&format=F and FFmpeg options; sampled pictures go as "
                  "JPEG frames named like clip.mp4#000012, one connection per video")
      ->required();
  cmd->add_option("--to", opts->to, "Connect to a pipeline listening on HOST:PORT (give --to or --listen)");
  cmd->add_option("--listen", opts->listen,
                  "Serve the frames on HOST:PORT to pipelines started with --connect");
  cmd->add_option("--rate", opts->send.rate,
                  "Frames per second over all connections; 0 = as fast as possible")
      ->capture_default_str();
  cmd->add_option("--connections", opts->send.connections,
                  "Parallel connections (with --listen: clients to serve before exiting)")
      ->capture_default_str();
  cmd->add_option("--repeat", opts->send.repeat, "Send the whole set this many times")->capture_default_str();
  cmd->add_flag(
      "--ack", opts->ack,
      "At-least-once delivery (with --to): ask the server for acknowledgements, keep frames until they "
      "are acknowledged, and re-send them after a reconnect");
  cmd->add_option("--token", opts->token,
                  "Put this token in the hello (implies --ack): the producer's identity for a server started "
                  "with --tokens. Visible in the process list: prefer --token-file");
  cmd->add_option("--token-file", opts->token_file,
                  "As --token, reading the token from the first line of a file");
  cmd->add_option(
      "--stream-id", opts->stream_id,
      "The stream id of the first connection, >= 2^32 (the next connections take the ids after it; "
      "implies --ack); default: random ids. With a server's --tokens, ids its identity owns");
  cmd->add_option("--give-up-after", opts->give_up_after,
                  "With --ack: fail when a connection makes no progress for this long")
      ->capture_default_str();
  cmd->add_option("--limit", opts->limit,
                  "Send at most this many distinct frames (0 = all); for videos, per video")
      ->capture_default_str();
  cmd->add_option("--tls-ca", opts->tls.ca,
                  "TLS (with --to): verify the server's certificate against these PEM CA certificates");
  cmd->add_option("--tls-cert", opts->tls.cert,
                  "With --tls-ca: present this PEM client certificate (for a server started with --tls-ca)");
  cmd->add_option("--tls-key", opts->tls.key, "The PEM private key of --tls-cert");
  cmd->add_option("--tls-server-name", opts->tls.server_name,
                  "With --tls-ca: the name (or IP address) the server's certificate must carry; default: the "
                  "host of --to");
  cmd->add_option("--jpeg-quality", opts->jpeg_quality,
                  "Videos: JPEG quality of the frames sent (1-100); Motion-JPEG input is passed on as it is")
      ->capture_default_str();
  cmd->callback([opts] {
    if (const int rc = run_send(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
