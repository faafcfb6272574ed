#include "source/source_factory.h"

#include <fmt/format.h>

#include "net/socket.h"
#include "source/dir_source.h"
#include "source/plugin_source.h"
#include "source/supervised_source.h"
#include "source/tcp_connect_source.h"
#include "source/tcp_listen_source.h"
#include "util/quantity.h"
#include "video/video_source_factory.h"

namespace sluice::source {
namespace {

// Where a key's value was given, for messages.
std::string context_of(const SourceSpec& spec) {
  return fmt::format("--source '{}'", spec.text);
}

// Takes the supervisor's keys out of `params`, leaving the source's own.
Result<RestartPolicy> take_restart_policy(const SourceSpec& spec,
                                          std::vector<std::pair<std::string, std::string>>& params) {
  RestartPolicy policy;
  std::vector<std::pair<std::string, std::string>> rest;
  const auto context = context_of(spec);
  for (auto& [key, value] : params) {
    const KeyValue option{context, key, value};
    if (key == "restart_backoff") {
      auto d = parse_positive_duration_ms(option);
      if (!d) return d.status();
      policy.initial_backoff = *d;
    } else if (key == "restart_max_backoff") {
      auto d = parse_positive_duration_ms(option);
      if (!d) return d.status();
      policy.max_backoff = *d;
    } else if (key == "max_restarts") {
      auto n = parse_count(option);
      if (!n) return n.status();
      policy.max_restarts = static_cast<std::uint32_t>(std::min<std::uint64_t>(*n, UINT32_MAX));
    } else {
      rest.emplace_back(std::move(key), std::move(value));
    }
  }
  if (policy.max_backoff < policy.initial_backoff) policy.max_backoff = policy.initial_backoff;
  params = std::move(rest);
  return policy;
}

Result<std::unique_ptr<Source>> make_dir(const SourceSpec& spec,
                                         std::vector<std::pair<std::string, std::string>> params,
                                         const SourceDefaults& defaults) {
  DirSourceOptions options;
  options.directory = spec.target;
  options.max_file_bytes = defaults.max_frame_bytes;
  options.file_system = defaults.file_system;
  const auto context = context_of(spec);
  for (const auto& [key, value] : params) {
    const KeyValue option{context, key, value};
    if (key == "done") {
      if (value.empty()) return bad_value(option, "a directory");
      options.done_dir = value;
    } else if (key == "delete") {
      auto flag = parse_flag(option);
      if (!flag) return flag.status();
      options.remove_done = *flag;
    } else if (key == "existing") {
      auto flag = parse_flag(option);
      if (!flag) return flag.status();
      options.existing = *flag;
    } else {
      return Status(Code::kInvalidArgument,
                    fmt::format("--source '{}': unknown key '{}' for dir (known: done, delete, existing, "
                                "restart_backoff, restart_max_backoff, max_restarts)",
                                spec.text, key));
    }
  }
  if (options.remove_done && !options.done_dir.empty()) {
    return Status(Code::kInvalidArgument,
                  fmt::format("--source '{}': give done=DIR or delete=1, not both", spec.text));
  }
  return std::unique_ptr<Source>(std::make_unique<DirSource>(std::move(options)));
}

}  // namespace

Result<std::unique_ptr<Source>> make_source(const SourceSpec& spec, const SourceDefaults& defaults) {
  if (spec.kind == "tcp-listen" || spec.kind == "tcp-connect") {
    if (!spec.params.empty()) {
      return Status(Code::kInvalidArgument, fmt::format("--source '{}': {} takes no key=value options (use "
                                                        "--max-frame-bytes and --max-connections)",
                                                        spec.text, spec.kind));
    }
    auto endpoint = net::parse_endpoint(spec.target);
    if (!endpoint) {
      return Status(Code::kInvalidArgument,
                    fmt::format("--source '{}': {}", spec.text, endpoint.status().message()));
    }
    if (spec.kind == "tcp-listen") {
      TcpListenOptions options;
      options.endpoint = *endpoint;
      options.max_frame_bytes = defaults.max_frame_bytes;
      options.max_connections = defaults.max_connections;
      options.idle_timeout = defaults.idle_timeout;
      options.max_connections_per_peer = defaults.max_connections_per_peer;
      options.identities = defaults.identities;
      const auto& tls = defaults.tls;
      if (!tls.cert.empty() || !tls.key.empty() || !tls.ca.empty()) {
        auto context = net::TlsServerContext::create(tls);
        if (!context) return context.status();
        options.tls = std::move(*context);
      }
      return std::unique_ptr<Source>(std::make_unique<TcpListenSource>(std::move(options)));
    }
    TcpConnectOptions options;
    options.endpoint = *endpoint;
    options.max_frame_bytes = defaults.max_frame_bytes;
    return std::unique_ptr<Source>(std::make_unique<TcpConnectSource>(options));
  }
  if (spec.kind == "video") return video::make_video_source(spec, defaults);
  if (spec.kind != "plugin" && spec.kind != "dir") {
    return Status(
        Code::kInvalidArgument,
        fmt::format("--source '{}': unknown kind '{}' (known: plugin, dir, tcp-listen, tcp-connect, video)",
                    spec.text, spec.kind));
  }
  auto params = spec.params;
  auto policy = take_restart_policy(spec, params);
  if (!policy) return policy.status();
  std::unique_ptr<Source> inner;
  if (spec.kind == "dir") {
    auto dir = make_dir(spec, std::move(params), defaults);
    if (!dir) return dir.status();
    inner = std::move(*dir);
  } else {
    auto library = PluginLibrary::load(spec.target);
    if (!library) return library.status();
    // "plugin PATH?query": the option as written, so two instances of a plugin stay apart.
    auto plugin = PluginSource::create(std::move(*library), params,
                                       fmt::format("plugin {}", spec.text.substr(spec.kind.size() + 1)));
    if (!plugin) return plugin.status();
    inner = std::move(*plugin);
  }
  return std::unique_ptr<Source>(std::make_unique<SupervisedSource>(std::move(inner), *policy));
}

}  // namespace sluice::source
