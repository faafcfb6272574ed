// JsonLinesSink: one JSON object per line, to a file or to stdout.
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "sink/sink.h"

namespace sluice::sink {

/// Formats one record as a single JSON line (with the trailing newline) appended to `out`:
/// {"stream":1,"seq":0,"name":"x","batch":3,"latency_ms":1.25,"top":[{"index":0,"label":"a","score":0.9}]}
/// or, for a failure, "error":"..." in place of "top".
void append_json_line(const ResultRecord& record, std::string& out);

class JsonLinesSink final : public Sink {
 public:
  /// `path` "-" means stdout. Fails when the file cannot be opened for writing.
  static Result<std::unique_ptr<JsonLinesSink>> open(const std::string& path);
  ~JsonLinesSink() override;

  Status write(std::span<const ResultRecord> records) override;
  Status flush() override;

  struct FileCloser {
    void operator()(std::FILE* f) const;
  };
  JsonLinesSink(std::string path, std::unique_ptr<std::FILE, FileCloser> file);

 private:
  std::string path_;
  std::mutex mu_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string buffer_;
};

}  // namespace sluice::sink
