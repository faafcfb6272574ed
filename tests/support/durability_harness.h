// What the durability tests share: a scratch directory, a pipeline with the real Fashion-MNIST
// model listening on loopback, producers on their own threads, and a reader for the output.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "producer/acked_sender.h"
#include "producer/frame_sender.h"
#include "sluice/pipeline.h"
#include "support/fault_file_system.h"

namespace sluice::test {

/// A temporary directory, removed with everything in it at the end of the test.
struct ScratchDir {
  explicit ScratchDir(const std::string& tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string path;
};

/// The first `n` Fashion-MNIST test images as PNG frames (loaded once per process).
const producer::FrameSet& fashion_frames(std::size_t n);

/// A small, quick pipeline: the Fashion-MNIST bundle, one executor with one core, 50 ms batches,
/// results to `dir`/out.jsonl, a write-ahead log in `dir`/wal when `wal`.
PipelineConfig durable_config(const std::string& dir, FaultFileSystem* fs, bool dedup, bool wal);

/// Loads and starts a pipeline receiving on tcp-listen `listen` ("127.0.0.1:0": any port).
std::unique_ptr<Pipeline> start_pipeline(const PipelineConfig& config, const std::string& listen);
/// The port its tcp-listen source is bound to.
std::uint16_t listen_port(Pipeline& pipeline);
nlohmann::json status(const Pipeline& pipeline);

/// What the output file holds.
struct Output {
  std::size_t lines = 0;
  bool all_whole = true;  // every line is a complete JSON object with stream and seq
  std::map<std::pair<std::uint64_t, std::uint64_t>, int> keys;  // (stream, seq) -> lines
  /// Lines of streams numbered by producers (protocol v2), by stream.
  std::map<std::uint64_t, std::map<std::uint64_t, int>> producer_streams() const;
};
Output read_output(const std::string& path);

/// A producer on its own thread: send_frames_acked (protocol v2) or send_frames (seed).
class ProducerThread {
 public:
  static std::unique_ptr<ProducerThread> acked(const producer::FrameSet& set, std::uint16_t port, double rate,
                                               int connections = 1);
  static std::unique_ptr<ProducerThread> plain(const producer::FrameSet& set, std::uint16_t port,
                                               double rate = 0.0);
  ~ProducerThread();

  /// Frames acknowledged so far (acked), or sent (plain).
  std::uint64_t progress() const { return progress_.frames.load(); }
  /// Waits for the send to end; nullopt after `timeout`.
  std::optional<Status> wait(std::chrono::milliseconds timeout);
  /// Stops it and waits for its thread.
  void cancel();

 private:
  ProducerThread() = default;
  producer::SendProgress progress_;
  std::future<Status> result_;
  std::thread thread_;
};

/// Polls `ready` every 5 ms for at most `timeout`.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout);

}  // namespace sluice::test
