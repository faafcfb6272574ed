#include "source/plugin_source.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/log_throttle.h"

namespace sluice::source {
class PluginInstance;
}

// The opaque handle of the C ABI: what a plugin gets as SluiceHost*. Points back to its instance.
struct SluiceHost {
  sluice::source::PluginInstance* instance = nullptr;
};

namespace sluice::source {
namespace {
using namespace std::chrono_literals;

constexpr auto kErrorLogInterval = 1s;
constexpr std::size_t kErrorBytes = 1024;

std::string from_buffer(const std::array<char, kErrorBytes>& buffer) {
  const auto end = std::find(buffer.begin(), buffer.end(), '\0');
  std::string text(buffer.begin(), end);
  return text.empty() ? std::string("(the plugin gave no reason)") : text;
}

// Calls the plugin's release callback once the last Payload copy goes, unless disarmed (the frame
// was not accepted, so its bytes stay the plugin's). Holds the instance, so destroy (and the
// library's unloading) come after every release.
class ReleaseOwner {
 public:
  ReleaseOwner(std::shared_ptr<PluginInstance> instance, SluiceReleaseFn release, void* context)
      : instance_(std::move(instance)), release_(release), context_(context) {}
  ~ReleaseOwner() {
    if (armed_.load(std::memory_order_acquire)) release_(context_);
  }
  ReleaseOwner(const ReleaseOwner&) = delete;
  ReleaseOwner& operator=(const ReleaseOwner&) = delete;
  void disarm() { armed_.store(false, std::memory_order_release); }

 private:
  std::shared_ptr<PluginInstance> instance_;  // released after the callback ran
  SluiceReleaseFn release_;
  void* context_;
  std::atomic<bool> armed_{true};
};

}  // namespace

// The host side of one plugin instance: the C callbacks land here. Shared by the PluginSource and
// by every zero-copy payload of the instance.
class PluginInstance : public std::enable_shared_from_this<PluginInstance> {
 public:
  PluginInstance(std::shared_ptr<const PluginLibrary> library, std::string name);
  ~PluginInstance() {
    if (self_ != nullptr) library_->table().destroy(self_);
  }
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const SluiceSourcePlugin& table() const { return library_->table(); }
  const PluginLibrary& library() const { return *library_; }
  const std::string& name() const { return name_; }

  int store_one(const SluiceFrame* frame);
  int store_many(const SluiceFrame* frames, std::size_t count, std::size_t* stored);
  void report_error(const char* message);
  void request_restart(const char* reason);
  int is_stopped() const { return stopped_.load(std::memory_order_acquire) ? 1 : 0; }
  void log(int level, const char* message) const;

  // Control thread only (create, start, stop): see PluginSource.
  SluiceSourceInstance* self_ = nullptr;
  SluiceHost host_;
  SluiceHostApi api_{};
  std::atomic<FrameSink*> sink_{nullptr};  // set by the first start; the sink outlives the source
  std::atomic<bool> stopped_{true};        // store calls refuse frames while set
  std::atomic<std::uint64_t> stream_{0};   // the stream of the current start
  std::atomic<std::uint64_t> next_seq_{0};

 private:
  static bool valid(const SluiceFrame* frame) {
    return frame != nullptr && (frame->size == 0 || frame->data != nullptr) &&
           (frame->name_size == 0 || frame->name != nullptr) &&
           (frame->release != nullptr || frame->release_ctx == nullptr);
  }
  // Builds the Frame; `keep` receives the payload's owner, so the caller can tell afterwards
  // whether sluice still holds the frame (use_count() > 1).
  Frame make_frame(const SluiceFrame& in, Clock::time_point arrival, std::shared_ptr<const void>& keep,
                   ReleaseOwner*& zero_copy);

  std::shared_ptr<const PluginLibrary> library_;  // declared first: released last
  std::string name_;
  LogThrottle error_log_{kErrorLogInterval};  // report_error: one line per interval
};

extern "C" {
static int host_store_one(SluiceHost* host, const SluiceFrame* frame) {
  return host == nullptr ? SLUICE_SOURCE_INVALID : host->instance->store_one(frame);
}
static int host_store_many(SluiceHost* host, const SluiceFrame* frames, size_t count, size_t* stored) {
  if (stored != nullptr) *stored = 0;
  return host == nullptr ? SLUICE_SOURCE_INVALID : host->instance->store_many(frames, count, stored);
}
static void host_report_error(SluiceHost* host, const char* message) {
  if (host != nullptr) host->instance->report_error(message);
}
static void host_request_restart(SluiceHost* host, const char* reason) {
  if (host != nullptr) host->instance->request_restart(reason);
}
static int host_is_stopped(const SluiceHost* host) {
  return host == nullptr ? 1 : host->instance->is_stopped();
}
static void host_log(SluiceHost* host, int level, const char* message) {
  if (host != nullptr) host->instance->log(level, message);
}
}

PluginInstance::PluginInstance(std::shared_ptr<const PluginLibrary> library, std::string name)
    : library_(std::move(library)), name_(std::move(name)) {
  host_.instance = this;
  api_.abi_version = SLUICE_SOURCE_ABI_VERSION;
  api_.struct_size = sizeof(SluiceHostApi);
  api_.store_one = host_store_one;
  api_.store_many = host_store_many;
  api_.report_error = host_report_error;
  api_.request_restart = host_request_restart;
  api_.is_stopped = host_is_stopped;
  api_.log = host_log;
}

Frame PluginInstance::make_frame(const SluiceFrame& in, Clock::time_point arrival,
                                 std::shared_ptr<const void>& keep, ReleaseOwner*& zero_copy) {
  Frame frame;
  frame.stream = stream_.load(std::memory_order_relaxed);
  frame.seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
  frame.name.assign(in.name != nullptr ? in.name : "",
                    std::min<std::size_t>(in.name_size, SLUICE_FRAME_NAME_BYTES));
  frame.arrival = arrival;
  zero_copy = nullptr;
  if (in.release != nullptr) {
    auto owner = std::make_shared<ReleaseOwner>(shared_from_this(), in.release, in.release_ctx);
    zero_copy = owner.get();
    keep = owner;
    frame.payload = Payload(std::move(owner), in.data, in.size);
  } else {
    // A copy, also held through a shared owner so that store_many can tell what sluice kept.
    auto bytes = std::make_shared<const std::vector<std::uint8_t>>(in.data, in.data + in.size);
    const auto* data = bytes->data();
    keep = bytes;
    frame.payload = Payload(std::move(bytes), data, in.size);
  }
  return frame;
}

int PluginInstance::store_one(const SluiceFrame* in) {
  if (!valid(in)) return SLUICE_SOURCE_INVALID;
  FrameSink* sink = sink_.load(std::memory_order_acquire);
  if (sink == nullptr || stopped_.load(std::memory_order_acquire)) return SLUICE_SOURCE_CLOSED;
  std::shared_ptr<const void> keep;
  ReleaseOwner* zero_copy = nullptr;
  Frame frame = make_frame(*in, Clock::now(), keep, zero_copy);
  if (sink->store(std::move(frame))) return SLUICE_SOURCE_OK;
  // Refused. If sluice dropped the frame, its bytes go back to the plugin without a release;
  // if it still holds it anyway, it is sluice's and will be released as usual.
  if (keep.use_count() > 1) return SLUICE_SOURCE_OK;
  if (zero_copy != nullptr) zero_copy->disarm();
  return SLUICE_SOURCE_CLOSED;
}

int PluginInstance::store_many(const SluiceFrame* in, std::size_t count, std::size_t* stored) {
  if (count == 0) return SLUICE_SOURCE_OK;
  if (in == nullptr) return SLUICE_SOURCE_INVALID;
  for (std::size_t i = 0; i < count; ++i) {
    if (!valid(&in[i])) return SLUICE_SOURCE_INVALID;
  }
  FrameSink* sink = sink_.load(std::memory_order_acquire);
  if (sink == nullptr || stopped_.load(std::memory_order_acquire)) return SLUICE_SOURCE_CLOSED;
  std::vector<Frame> frames;
  frames.reserve(count);
  std::vector<std::shared_ptr<const void>> keep(count);
  std::vector<ReleaseOwner*> zero_copy(count, nullptr);
  const auto arrival = Clock::now();  // handed over together: one arrival time
  for (std::size_t i = 0; i < count; ++i) frames.push_back(make_frame(in[i], arrival, keep[i], zero_copy[i]));
  if (sink->store_many(frames)) {
    if (stored != nullptr) *stored = count;
    return SLUICE_SOURCE_OK;
  }
  // FrameSink::store_many accepts a prefix of the frames (none, by its contract). What is left in
  // `frames` was not taken; whatever sluice still holds counts as accepted; the rest goes back to
  // the plugin without a release.
  frames.clear();
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (keep[i].use_count() > 1) accepted = i + 1;
  }
  for (std::size_t i = accepted; i < count; ++i) {
    if (zero_copy[i] != nullptr) zero_copy[i]->disarm();
  }
  if (stored != nullptr) *stored = accepted;
  return accepted == count ? SLUICE_SOURCE_OK : SLUICE_SOURCE_CLOSED;
}

void PluginInstance::report_error(const char* message) {
  FrameSink* sink = sink_.load(std::memory_order_acquire);
  const std::string text = message != nullptr && *message != '\0' ? message : "(no message)";
  if (sink == nullptr) {
    spdlog::warn("{}: {}", name_, text);
    return;
  }
  const auto not_logged = error_log_.admit();
  if (not_logged) {
    // Counts, keeps as the last error, and logs one line.
    sink->report_error(Status(
        Code::kIo,
        *not_logged == 0 ? text : fmt::format("{} ({} earlier reports not logged)", text, *not_logged)));
  } else {
    ++sink->stats().errors;
    sink->stats().set_last_error(Status(Code::kIo, text).to_string());
  }
}

void PluginInstance::request_restart(const char* reason) {
  FrameSink* sink = sink_.load(std::memory_order_acquire);
  if (sink == nullptr || stopped_.exchange(true)) return;  // not running, or already stopping
  sink->request_restart(
      Status(Code::kIo, reason != nullptr && *reason != '\0' ? reason : "the plugin asked for a restart"));
}

void PluginInstance::log(int level, const char* message) const {
  const char* text = message != nullptr ? message : "";
  switch (level) {
    case SLUICE_LOG_DEBUG:
      spdlog::debug("{}: {}", name_, text);
      break;
    case SLUICE_LOG_INFO:
      spdlog::info("{}: {}", name_, text);
      break;
    case SLUICE_LOG_WARN:
      spdlog::warn("{}: {}", name_, text);
      break;
    default:
      spdlog::error("{}: {}", name_, text);
      break;
  }
}

Result<std::unique_ptr<PluginSource>> PluginSource::create(std::shared_ptr<const PluginLibrary> library,
                                                           const PluginConfig& config, std::string name) {
  auto instance = std::make_shared<PluginInstance>(std::move(library), std::move(name));
  std::vector<SluiceConfigEntry> entries;
  entries.reserve(config.size());
  for (const auto& [key, value] : config) entries.push_back({key.c_str(), value.c_str()});
  std::array<char, kErrorBytes> error{};
  instance->self_ = instance->table().create(entries.data(), entries.size(), &instance->api_,
                                             &instance->host_, error.data(), error.size() - 1);
  if (instance->self_ == nullptr) {
    return Status(Code::kInvalidArgument, fmt::format("plugin '{}' refused its configuration: {}",
                                                      instance->library().path(), from_buffer(error)));
  }
  return std::make_unique<PluginSource>(std::move(instance));
}

PluginSource::PluginSource(std::shared_ptr<PluginInstance> instance) : instance_(std::move(instance)) {}

PluginSource::~PluginSource() {
  stop();
}

std::string PluginSource::name() const {
  return instance_->name();
}

Status PluginSource::start(FrameSink& sink) {
  if (running_) return Status(Code::kInternal, "already started");
  auto& in = *instance_;
  in.sink_.store(&sink, std::memory_order_release);
  auto stream = sink.open_stream(in.library().kind());
  if (!stream) return stream.status();
  in.stream_.store(*stream, std::memory_order_relaxed);
  in.next_seq_.store(0, std::memory_order_relaxed);
  in.stopped_.store(false, std::memory_order_release);
  std::array<char, kErrorBytes> error{};
  const int rc = in.table().start(in.self_, error.data(), error.size() - 1);
  if (rc != SLUICE_SOURCE_OK) {
    in.stopped_.store(true, std::memory_order_release);
    // The stream never carried a frame: closed without counting it as failed (the caller counts
    // the failed start).
    sink.close_stream(in.stream_.load(), Status(Code::kClosed, "start failed"));
    return Status(Code::kIo, fmt::format("start failed: {}", from_buffer(error)));
  }
  running_ = true;
  return Status::ok();
}

void PluginSource::stop() {
  if (!running_) return;
  auto& in = *instance_;
  in.stopped_.store(true, std::memory_order_release);
  in.table().stop(in.self_);
  running_ = false;
  if (FrameSink* sink = in.sink_.load(std::memory_order_acquire))
    sink->close_stream(in.stream_.load(), Status::ok());
}

}  // namespace sluice::source
