// shm_ring_producer: writes frames into a shm-ring for the shm-ring source plugin, as a NIC doing
// DMA would. The frames come from image files, directories or an IDX image file (as for
// `sluice send`).
//
//   shm_ring_producer --ring /sluice-ring --repeat 5
//   /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "producer/frame_set.h"
#include "shm_ring.h"

namespace {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace ring = sluice::shm_ring;

int run(const std::string& ring_name, const std::vector<std::string>& paths, int repeat, std::size_t limit,
        double wait_seconds, double timeout_seconds, bool drain) {
  auto set = sluice::producer::load_frame_set(paths, limit);
  if (!set) {
    std::fprintf(stderr, "shm_ring_producer: %s\n", set.status().message().c_str());
    return 2;
  }
  // The consumer (sluice's plugin) creates the ring: wait for it to appear.
  const auto give_up = Clock::now() + std::chrono::duration<double>(wait_seconds);
  auto shared = ring::SharedRing::open(ring_name);
  while (!shared && shared.status().code() == sluice::Code::kClosed && Clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
    shared = ring::SharedRing::open(ring_name);
  }
  if (!shared) {
    std::fprintf(stderr, "shm_ring_producer: %s\n", shared.status().message().c_str());
    return 1;
  }
  ring::RingProducer producer(**shared);
  if (auto st = producer.attach(); !st) {
    std::fprintf(stderr, "shm_ring_producer: %s\n", st.message().c_str());
    return 1;
  }
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_seconds * 1000));
  const auto start = Clock::now();
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  constexpr std::uint64_t kPublishEvery = 32;  // frames per doorbell: one barrier per 32 frames
  for (int r = 0; r < repeat; ++r) {
    for (const auto& frame : set->frames) {
      if (frames % kPublishEvery == 0) producer.publish();
      if (auto st = producer.write(frame.name, frame.payload, timeout); !st) {
        std::fprintf(stderr, "shm_ring_producer: after %llu frames: %s\n",
                     static_cast<unsigned long long>(frames), st.message().c_str());
        return 1;
      }
      ++frames;
      bytes += frame.payload.size();
    }
  }
  producer.publish();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (drain) {
    if (auto st = producer.drain(timeout); !st) {
      std::fprintf(stderr, "shm_ring_producer: %s\n", st.message().c_str());
      return 1;
    }
  }
  std::printf("sent %llu frames (%llu bytes) in %.3f s: %.0f frames/s\n",
              static_cast<unsigned long long>(frames), static_cast<unsigned long long>(bytes), seconds,
              seconds > 0 ? static_cast<double>(frames) / seconds : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes image frames into a shm-ring (the shm-ring source plugin of sluice reads them)"};
  std::string ring_name;
  std::vector<std::string> paths;
  int repeat = 1;
  std::size_t limit = 0;
  double wait_seconds = 30;
  double timeout_seconds = 60;
  bool drain = false;
  app.add_option("--ring", ring_name, "The ring's shared-memory name, e.g. /sluice-ring")->required();
  app.add_option("--repeat", repeat, "Send the set this many times")->capture_default_str();
  app.add_option("--limit", limit, "At most this many frames of the set (0 = all)")->capture_default_str();
  app.add_option("--wait", wait_seconds, "Seconds to wait for the ring to appear")->capture_default_str();
  app.add_option("--timeout", timeout_seconds, "Seconds a full ring may stay full before giving up")
      ->capture_default_str();
  app.add_flag("--drain", drain, "Before exiting, wait until sluice released every frame sent");
  app.add_option("paths", paths, "Image files, directories or an IDX image file")->required();
  CLI11_PARSE(app, argc, argv);
  return run(ring_name, paths, repeat, limit, wait_seconds, timeout_seconds, drain);
}
