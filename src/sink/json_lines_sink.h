// JsonLinesSink: one JSON object per line, to a file or to stdout.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "sink/dedup_index.h"
#include "sink/sink.h"

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

class JsonLinesSink final : public Sink {
 public:
  /// `path` "-" means stdout (no append, no dedup). Fails when the file cannot be opened.
  static Result<std::unique_ptr<JsonLinesSink>> open(const std::string& path, JsonLinesOptions options = {});
  ~JsonLinesSink() override;

  Status write(std::span<const ResultRecord> records) override;
  Status flush() override;

  struct FileCloser {
    void operator()(std::FILE* f) const;
  };
  JsonLinesSink(std::string path, std::unique_ptr<std::FILE, FileCloser> file);

  /// Lines not written because their (stream, seq) already had one.
  std::uint64_t duplicates_suppressed() const { return duplicates_; }

 private:
  /// Cuts a torn last line and, with dedup, indexes the lines already present.
  Status load_existing(bool dedup);

  std::string path_;
  std::mutex mu_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string buffer_;
  std::optional<DedupIndex> dedup_;
  std::atomic<std::uint64_t> duplicates_{0};
};

}  // namespace sluice::sink
