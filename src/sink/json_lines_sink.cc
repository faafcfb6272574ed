#include "sink/json_lines_sink.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/json_escape.h"

namespace sluice::sink {
namespace {

constexpr std::uint64_t kServerStreamLimit = 1ull << 32;  // ids below are numbered by the server

// Standard output as a WritableFile: it cannot be cut back or synced (pipes, terminals).
class StdoutFile final : public fs::WritableFile {
 public:
  Status append(std::span<const std::uint8_t> data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(STDOUT_FILENO, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status(Code::kIo, fmt::format("writing to stdout: {}", std::strerror(errno)));
      size_ += static_cast<std::uint64_t>(n);
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return Status::ok();
  }
  Status flush() override { return Status::ok(); }
  Status sync() override { return Status::ok(); }
  Status truncate(std::uint64_t) override {
    return Status(Code::kIo, "stdout cannot be cut back after a failed write");
  }
  std::uint64_t size() const override { return size_; }

 private:
  std::uint64_t size_ = 0;
};

// Reads "stream" and "seq" from the start of one of our own lines without a JSON parser:
// {"stream":N,"seq":M,...}. Falls back to nlohmann for anything else.
bool parse_identity(std::string_view line, std::uint64_t& stream, std::uint64_t& seq) {
  constexpr std::string_view kStream = R"({"stream":)", kSeq = R"(,"seq":)";
  if (line.substr(0, kStream.size()) == kStream) {
    const char* p = line.data() + kStream.size();
    const char* end = line.data() + line.size();
    auto r = std::from_chars(p, end, stream);
    if (r.ec == std::errc() && std::string_view(r.ptr, end - r.ptr).substr(0, kSeq.size()) == kSeq) {
      r = std::from_chars(r.ptr + kSeq.size(), end, seq);
      if (r.ec == std::errc()) return true;
    }
  }
  const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("stream") && json.contains("seq") &&
      json["stream"].is_number_unsigned() && json["seq"].is_number_unsigned()) {
    stream = json["stream"].get<std::uint64_t>();
    seq = json["seq"].get<std::uint64_t>();
    return true;
  }
  return false;
}

}  // namespace

void append_json_line(const ResultRecord& r, std::string& out) {
  fmt::format_to(std::back_inserter(out), R"({{"stream":{},"seq":{},"name":")", r.stream, r.seq);
  append_json_escaped(out, r.name);
  out += '"';
  if (r.pts_ms) fmt::format_to(std::back_inserter(out), R"(,"pts_ms":{})", *r.pts_ms);
  if (r.url) {
    out += R"(,"url":")";
    append_json_escaped(out, *r.url);
    out += '"';
  }
  fmt::format_to(std::back_inserter(out), R"(,"batch":{},"latency_ms":{:.3f},)", r.batch, r.latency_ms);
  if (!r.ok()) {
    out += R"("error":")";
    append_json_escaped(out, r.error);
    out += "\"}\n";
    return;
  }
  out += R"("top":[)";
  for (std::size_t i = 0; i < r.top.size(); ++i) {
    const auto& p = r.top[i];
    fmt::format_to(std::back_inserter(out), R"({}{{"index":{},"label":")", i ? "," : "", p.index);
    append_json_escaped(out, p.label);
    fmt::format_to(std::back_inserter(out), R"(","score":{:.6g}}})", p.score);
  }
  out += "]}\n";
}

JsonLinesSink::JsonLinesSink(std::string path, std::unique_ptr<fs::WritableFile> file, bool dedup)
    : path_(std::move(path)), file_(std::move(file)) {
  if (dedup) dedup_.emplace();
}

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path, JsonLinesOptions options,
                                                           fs::FileSystem& fs) {
  const bool append = options.append || options.dedup;
  if (path == "-") {
    if (append) return Status(Code::kInvalidArgument, "dedup and append need an output file, not stdout");
    return std::make_unique<JsonLinesSink>(path, std::make_unique<StdoutFile>(), false);
  }
  auto sink = std::make_unique<JsonLinesSink>(path, nullptr, options.dedup);
  if (append) {
    // Index first (it may cut a torn last line), then open for appending.
    if (auto st = sink->load_existing(fs); !st) return st;
  }
  const bool existed = fs.stat(path).exists;
  auto file = fs.open_writable(path, append ? fs::OpenMode::kAppend : fs::OpenMode::kTruncate);
  if (!file) return Status(Code::kIo, fmt::format("cannot open the output: {}", file.status().message()));
  if (!existed) {
    // The new file's name must be durable too: fdatasync of the file alone does not make it so,
    // and a power loss could take the whole file, acknowledged lines included.
    if (auto st = fs.sync_dir(fs::parent_dir(path)); !st) {
      return Status(Code::kIo, fmt::format("cannot open the output: {}", st.message()));
    }
  }
  sink->file_ = std::move(*file);
  sink->committed_size_ = sink->file_->size();
  sink->update_memory();
  return sink;
}

Status JsonLinesSink::load_existing(fs::FileSystem& fs) {
  const auto info = fs.stat(path_);
  if (!info.exists) return Status::ok();
  auto file = fs.open_readable(path_);
  if (!file) return file.status();
  // Read in chunks: the file may be far larger than the memory budget.
  constexpr std::size_t kChunk = 1 << 20;
  std::vector<std::uint8_t> chunk;
  std::string line;
  std::uint64_t kept = 0;
  for (std::uint64_t offset = 0; offset < info.size;) {
    chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, info.size - offset)));
    if (auto st = (*file)->read_at(offset, chunk); !st) return st;
    offset += chunk.size();
    for (const std::uint8_t byte : chunk) {
      if (byte != '\n') {
        line.push_back(static_cast<char>(byte));
        continue;
      }
      ++existing_.lines;
      kept += line.size() + 1;
      std::uint64_t stream = 0, seq = 0;
      if (parse_identity(line, stream, seq)) {
        if (dedup_) dedup_->insert(stream, seq);
        if (stream < kServerStreamLimit)
          existing_.highest_server_stream = std::max(existing_.highest_server_stream, stream);
      } else {
        spdlog::warn("{}: line {} is not a result line; it is kept but not indexed", path_, existing_.lines);
      }
      line.clear();
    }
  }
  if (!line.empty()) {  // the last line has no newline: a write torn by a crash
    spdlog::warn("{}: cutting a torn last line ({} bytes) left by a crash", path_, line.size());
    if (auto st = fs.truncate(path_, kept); !st) return st;
  }
  if (existing_.lines) spdlog::info("{}: appending after {} existing result line(s)", path_, existing_.lines);
  return Status::ok();
}

Status JsonLinesSink::write(std::span<ResultRecord> records) {
  for (auto& r : records) {
    r.duplicate = false;
    if (dedup_ && (dedup_->contains(r.stream, r.seq) || !fresh_.emplace(r.stream, r.seq).second)) {
      r.duplicate = true;
      continue;
    }
    append_json_line(r, buffer_);
  }
  return Status::ok();
}

Status JsonLinesSink::commit(Durability durability) {
  Status st;
  if (needs_rollback_) {
    // A failed commit may have left part of its lines: cut them before writing them again.
    st = file_->truncate(committed_size_);
    if (st) needs_rollback_ = false;
  }
  if (st)
    st = file_->append(std::span(reinterpret_cast<const std::uint8_t*>(buffer_.data()), buffer_.size()));
  if (st) st = file_->flush();
  if (st && durability == Durability::kSynced) st = file_->sync();
  if (!st) {
    needs_rollback_ = true;
    if (file_->truncate(committed_size_)) needs_rollback_ = false;
    buffer_.clear();
    fresh_.clear();
    return Status(Code::kIo, fmt::format("writing result lines to '{}': {}", path_, st.message()));
  }
  committed_size_ = file_->size();
  buffer_.clear();
  if (dedup_) {
    for (const auto& [stream, seq] : fresh_) dedup_->insert(stream, seq);
    fresh_.clear();
    update_memory();
  }
  return Status::ok();
}

void JsonLinesSink::forget_stream(std::uint64_t stream) {
  if (!dedup_) return;
  dedup_->forget(stream);
  update_memory();
}

void JsonLinesSink::retain_streams(const std::function<bool(std::uint64_t)>& keep) {
  if (!dedup_) return;
  dedup_->retain(keep);
  update_memory();
}

void JsonLinesSink::update_memory() {
  memory_bytes_.store(dedup_ ? dedup_->memory_bytes() : 0, std::memory_order_relaxed);
}

}  // namespace sluice::sink
