// JsonLinesSink: one JSON object per line, to a file or to stdout.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "sink/dedup_index.h"
#include "sink/sink.h"
#include "sluice/file_system.h"

namespace sluice::sink {

/// Formats one record as a single JSON line (with the trailing newline) appended to `out`:
/// {"stream":1,"seq":0,"name":"x","batch":3,"latency_ms":1.25,"top":[{"index":0,"label":"a","score":0.9}]}
/// or, for a failure, "error":"..." in place of "top". Video frames add "pts_ms" and "url" after
/// "name"; other lines have neither.
void append_json_line(const ResultRecord& record, std::string& out);

struct JsonLinesOptions {
  /// Keep what the file holds and add to it (a torn last line from a crash is cut off).
  bool append = false;
  /// Write at most one line per (stream, seq), counting the lines already in the file: with a
  /// write-ahead log and producer acks this makes the output exactly-once. Implies append.
  bool dedup = false;
};

/// What an appending sink found in the file it opened.
struct ExistingOutput {
  std::uint64_t lines = 0;
  /// The highest stream id below 2^32 (ids the server numbers itself) in the file; 0 when none.
  std::uint64_t highest_server_stream = 0;
};

class JsonLinesSink final : public Sink {
 public:
  /// `path` "-" means stdout (no append, no dedup). Fails when the file cannot be opened or read.
  static Result<std::unique_ptr<JsonLinesSink>> open(const std::string& path, JsonLinesOptions options = {},
                                                     fs::FileSystem& fs = fs::FileSystem::posix());

  Status write(std::span<ResultRecord> records) override;
  Status commit(Durability durability) override;
  std::size_t memory_bytes() const override { return memory_bytes_.load(std::memory_order_relaxed); }

  const ExistingOutput& existing() const { return existing_; }
  const std::string& path() const { return path_; }
  /// Dedup: a stream that can get no more lines; its entries are dropped (committer thread).
  void forget_stream(std::uint64_t stream) override;
  /// Dedup: keeps only the streams for which `keep` is true (before the first delivery).
  void retain_streams(const std::function<bool(std::uint64_t)>& keep);

  JsonLinesSink(std::string path, std::unique_ptr<fs::WritableFile> file, bool dedup);

 private:
  /// Cuts a torn last line and indexes the lines already present.
  Status load_existing(fs::FileSystem& fs);
  void update_memory();

  std::string path_;
  std::unique_ptr<fs::WritableFile> file_;
  std::optional<DedupIndex> dedup_;
  ExistingOutput existing_;
  std::string buffer_;
  struct PairHash {
    std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& p) const {
      return std::hash<std::uint64_t>()(p.first * 0x9E3779B97F4A7C15ull ^ p.second);
    }
  };
  // Pairs of the delivery in progress: indexed only once it succeeds.
  std::unordered_set<std::pair<std::uint64_t, std::uint64_t>, PairHash> fresh_;
  /// The file's size after the last delivery that succeeded; a failed one is cut back to it.
  std::uint64_t committed_size_ = 0;
  bool needs_rollback_ = false;
  std::atomic<std::size_t> memory_bytes_{0};
};

}  // namespace sluice::sink
