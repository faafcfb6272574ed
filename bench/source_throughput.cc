// sluice_source_bench: how fast each source delivers frames into the pipeline, shm-ring against
// tcp-listen over loopback, with the same frames in the same run.
//
// Each source stores into a counting FrameSink that drops every frame at once, so the figure is
// the source's own delivery rate (receive, frame, hand over), not the model's. The producer runs
// on its own thread in this process for both: `sluice send`'s sender over loopback TCP, and the
// shm-ring producer writing into the ring. The shm-ring plugin is loaded through the real plugin
// loader, as `sluice serve --source plugin:...` does. Time runs from the first frame stored to
// the last; each source runs --rounds times, alternating, and the median is reported.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "producer/frame_sender.h"
#include "producer/frame_set.h"
#include "shm_ring.h"
#include "source/plugin_source.h"
#include "source/tcp_listen_source.h"

namespace {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace sluice;

// Counts frames and the time between the first and the last; drops each frame at once.
class CountingSink final : public source::FrameSink {
 public:
  explicit CountingSink(std::uint64_t target) : target_(target), stats_("bench") {}
  Status store_many(std::vector<Frame>& frames) override {
    std::uint64_t bytes = 0;
    for (const auto& f : frames) bytes += f.payload.size();
    count(frames.size(), bytes);
    frames.clear();  // releases zero-copy payloads now
    return Status::ok();
  }
  source::Reservation try_reserve(std::size_t, std::size_t) override { return {}; }
  void unreserve(std::size_t) override {}
  void admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) override {
    admitted(store_many(frames));
  }
  void set_wake(std::function<void()>) override {}
  Result<std::uint64_t> open_stream(std::string_view) override { return ++streams_; }
  void close_stream(std::uint64_t, const Status&) override {}
  void report_error(const Status& error) override { spdlog::warn("{}", error.to_string()); }
  observe::SourceStats& stats() override { return stats_; }

  /// Waits for the target count; the seconds from the first frame to the last, or -1 on timeout.
  double wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    if (!done_cv_.wait_for(lock, timeout, [&] { return frames_ >= target_; })) return -1;
    return std::chrono::duration<double>(last_ - first_).count();
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  void count(std::uint64_t n, std::uint64_t bytes) {
    const auto now = Clock::now();
    std::lock_guard lock(mu_);
    if (frames_ == 0) first_ = now;
    frames_ += n;
    bytes_ += bytes;
    last_ = now;
    if (frames_ >= target_) done_cv_.notify_all();
  }
  const std::uint64_t target_;
  observe::SourceStats stats_;
  std::uint64_t streams_ = 0;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::uint64_t frames_ = 0, bytes_ = 0;
  Clock::time_point first_{}, last_{};
};

struct Options {
  std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  std::size_t limit = 10000;
  int repeat = 10;
  int rounds = 3;
  int connections = 1;
  std::string plugin = SLUICE_SHM_RING_PLUGIN;
  std::uint32_t slots = 16384;
  std::uint32_t slot_bytes = 4096;
  std::string only;  // "tcp" or "shm": measure one source (for profiling)
};

double run_tcp(const producer::FrameSet& set, const Options& o) {
  const std::uint64_t total = set.frames.size() * static_cast<std::uint64_t>(o.repeat);
  CountingSink sink(total);
  source::TcpListenSource source({{"127.0.0.1", 0}, 64u << 20, 1024});
  if (auto st = source.start(sink); !st) throw std::runtime_error(st.to_string());
  producer::SendProgress progress;
  std::thread sender([&] {
    auto summary = producer::send_frames(set, source.bound(), {0.0, o.connections, o.repeat}, progress);
    if (!summary) spdlog::error("send: {}", summary.status().to_string());
  });
  const double seconds = sink.wait(300s);
  sender.join();
  source.stop();
  if (seconds <= 0) throw std::runtime_error("tcp-listen: not every frame arrived");
  return static_cast<double>(total) / seconds;
}

double run_shm(const producer::FrameSet& set, const Options& o) {
  const std::uint64_t total = set.frames.size() * static_cast<std::uint64_t>(o.repeat);
  const std::string ring_name = fmt::format("/sluice-bench-{}", ::getpid());
  CountingSink sink(total);
  auto library = source::PluginLibrary::load(o.plugin);
  if (!library) throw std::runtime_error(library.status().to_string());
  auto plugin = source::PluginSource::create(
      *library,
      {{"ring", ring_name}, {"slots", std::to_string(o.slots)}, {"slot_bytes", std::to_string(o.slot_bytes)}},
      "plugin shm-ring");
  if (!plugin) throw std::runtime_error(plugin.status().to_string());
  if (auto st = (*plugin)->start(sink); !st) throw std::runtime_error(st.to_string());
  std::thread writer([&] {
    auto shared = shm_ring::SharedRing::open(ring_name);
    if (!shared) return spdlog::error("open: {}", shared.status().message());
    shm_ring::RingProducer producer(**shared);
    if (auto st = producer.attach(); !st) return spdlog::error("attach: {}", st.message());
    // As shm_ring_producer does: publish every 32 frames (one barrier per doorbell).
    std::uint64_t written = 0;
    for (int r = 0; r < o.repeat; ++r) {
      for (const auto& frame : set.frames) {
        if (written++ % 32 == 0) producer.publish();
        if (auto st = producer.write(frame.name, frame.payload, 30s); !st)
          return spdlog::error("write: {}", st.message());
      }
    }
    producer.publish();
  });
  const double seconds = sink.wait(300s);
  writer.join();
  (*plugin)->stop();
  if (seconds <= 0) throw std::runtime_error("shm-ring: not every frame arrived");
  return static_cast<double>(total) / seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Source throughput: shm-ring against tcp-listen over loopback, same frames, same run"};
  Options o;
  app.add_option("--images", o.images, "An IDX image file, image files or a directory")
      ->capture_default_str();
  app.add_option("--limit", o.limit, "Frames taken from --images")->capture_default_str();
  app.add_option("--repeat", o.repeat, "Times each source receives the set")->capture_default_str();
  app.add_option("--rounds", o.rounds, "Measurements per source (the median is reported)")
      ->capture_default_str();
  app.add_option("--connections", o.connections, "tcp-listen producer connections")->capture_default_str();
  app.add_option("--plugin", o.plugin, "The shm-ring plugin")->capture_default_str();
  app.add_option("--slots", o.slots, "shm-ring slots")->capture_default_str();
  app.add_option("--slot-bytes", o.slot_bytes, "shm-ring slot payload bytes")->capture_default_str();
  app.add_option("--only", o.only, "Measure one source: tcp or shm (for profiling)")
      ->check(CLI::IsMember({"tcp", "shm"}));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  try {
    auto set = producer::load_frame_set({o.images}, o.limit);
    if (!set) throw std::runtime_error(set.status().to_string());
    const auto frames = set->frames.size() * static_cast<std::uint64_t>(o.repeat);
    std::printf("%zu frames x %d = %llu frames per run, %.0f bytes per frame on average\n",
                set->frames.size(), o.repeat, static_cast<unsigned long long>(frames),
                static_cast<double>(set->bytes()) / static_cast<double>(set->frames.size()));
    std::vector<double> tcp, shm;
    for (int r = 0; r < o.rounds; ++r) {
      tcp.push_back(o.only == "shm" ? 1.0 : run_tcp(*set, o));
      shm.push_back(o.only == "tcp" ? 1.0 : run_shm(*set, o));
      std::printf("round %d: tcp-listen %.0f frames/s, shm-ring %.0f frames/s\n", r + 1, tcp.back(),
                  shm.back());
    }
    const double t = median(tcp), s = median(shm);
    std::printf("tcp-listen: %.0f frames/s (median of %d, %d connection(s))\n", t, o.rounds, o.connections);
    std::printf("shm-ring: %.0f frames/s (median of %d)\n", s, o.rounds);
    std::printf("ratio: %.2f\n", s / t);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice_source_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
