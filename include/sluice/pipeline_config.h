// PipelineConfig: everything a pipeline needs, as a plain struct with the command line's defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

namespace fs {
class FileSystem;
}

enum class BatchMode {
  kInterval,    // Spark: a batch every batch interval
  kContinuous,  // Triton: a batch when max_batch frames wait, or the oldest waited max_delay
};

/// Where received blocks wait for their batch (Spark's StorageLevel).
enum class StorageLevel {
  kMemory,         // payloads stay in memory; the memory budget holds sources back
  kMemoryAndDisk,  // a block is spilled when the budget is more than half used
  kDisk,           // every block is spilled
};

/// When the write-ahead log and the result file are fsynced.
enum class FsyncPolicy {
  kAlways,    // after every group commit: survives power loss
  kInterval,  // at most every fsync_interval: a power loss may lose that window
  kNever,     // left to the OS: survives a crash of the process only
};

/// Spark Streaming's PID rate estimator (spark.streaming.backpressure.pid.*).
struct PidSettings {
  double proportional = 1.0;
  double integral = 0.2;
  double derivative = 0.0;
  double min_rate = 100.0;  // records per second
};

/// Producer connections a tcp-listen source takes from one IP address: a quarter of the default
/// --max-connections, so one host cannot take every connection, and a burst of short connections
/// from one host (each closed before the server has read it) still fits.
inline constexpr std::size_t kDefaultMaxConnectionsPerPeer = 256;

struct PipelineConfig {
  // --- The model
  std::string model;        // a bundle directory, or a bare .onnx file (required)
  std::string labels;       // a labels file overriding the bundle's; empty: the bundle's
  std::string preprocess;   // "imagenet" or "none", overriding the bundle's; empty: the bundle's
  std::string output_kind;  // "logits" or "probabilities"; empty: the bundle's
  std::string precision;    // "fp32", "bf16" or "auto"; empty: the bundle's

  // --- Batching
  BatchMode mode = BatchMode::kInterval;
  std::chrono::milliseconds batch_interval{1000};
  /// Blocks (partitions) are cut this often; zero: the smaller of 200 ms and the batch interval.
  std::chrono::milliseconds block_interval{0};
  std::chrono::microseconds max_delay{5000};  // continuous mode: the longest a frame waits for its batch
  int executors = 0;                          // model sessions; 0: the default plan for this CPU
  int cores = 0;                              // threads per session; 0: the default plan
  /// Most frames per model call; 0: derived from the model's input when it loads (64 for small
  /// inputs such as 28x28, 8 for 224x224 and larger, whose working memory grows fast with it).
  std::size_t max_batch = 0;
  int top_k = 5;

  // --- Limits
  /// Bytes of data in flight the pipeline may hold: received frames (whole and partial), decode
  /// buffers, the dedup index. Sources stop reading before it is crossed. Not resident memory:
  /// code, models and allocator slack come on top (the sluice command derives this from a
  /// resident-memory bound).
  std::uint64_t memory_budget = 256ull << 20;
  std::uint64_t max_pixels = 64ull << 20;  // an image with more pixels gets an error line
  bool jpeg_dct_scaling = false;           // faster JPEG decoding that is not exact (see README)

  // --- Rate control (Spark's spark.streaming.backpressure.* and receiver.maxRate)
  bool backpressure = false;
  double initial_rate = 0.0;  // records/s per source before the first estimate; 0: none
  double max_rate = 0.0;      // records/s per source, always; 0: unlimited
  PidSettings pid;

  // --- Storage and durability
  StorageLevel storage_level = StorageLevel::kMemory;
  std::string spill_dir;  // needed by kMemoryAndDisk and kDisk
  std::uint64_t disk_budget = 8ull << 30;
  std::string wal_dir;  // write-ahead log; empty: none
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  std::chrono::milliseconds fsync_interval{100};
  std::uint64_t wal_segment_bytes = 64ull << 20;

  // --- Output (besides the result callback)
  std::string output;   // a JSON-lines file; "-": stdout; empty: none
  bool append = false;  // keep what the output holds (implied by wal_dir and dedup)
  bool dedup = false;   // at most one line per (stream, seq), counting lines already there

  // --- Built-in sources
  /// Pipeline::submit() hands frames in (a source named "submit", one stream).
  bool submit = true;
  std::uint64_t max_frame_bytes = 64ull << 20;                           // a longer frame is a framing error
  std::size_t max_connections = 1024;                                    // per tcp-listen source
  std::size_t max_connections_per_peer = kDefaultMaxConnectionsPerPeer;  // per tcp-listen source and peer IP
  /// Producer identities (tokens, their stream ids and frame-name prefixes) for tcp-listen
  /// sources: a YAML file (see README, "Producer identity"); empty: none.
  std::string tokens_file;
  std::chrono::milliseconds idle_timeout{60000};
  /// TLS on tcp-listen sources, PEM files (all empty: plain TCP). tls_cert and tls_key: the
  /// server's certificate chain and key; tls_ca: clients must present a certificate it signed.
  /// Reloaded on SIGHUP (the sluice command) and when the files change.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;

  /// The file system every durable write goes through; nullptr: the real one. Must outlive the
  /// pipeline.
  fs::FileSystem* file_system = nullptr;
};

}  // namespace sluice
