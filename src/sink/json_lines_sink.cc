#include "sink/json_lines_sink.h"

#include <cerrno>
#include <cstring>

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/json_escape.h"

namespace sluice::sink {

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

void JsonLinesSink::FileCloser::operator()(std::FILE* f) const {
  if (f != nullptr && f != stdout) std::fclose(f);
}

JsonLinesSink::JsonLinesSink(std::string path, std::unique_ptr<std::FILE, FileCloser> file)
    : path_(std::move(path)), file_(std::move(file)) {}

JsonLinesSink::~JsonLinesSink() {
  (void)flush();
}

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path,
                                                           JsonLinesOptions options) {
  const bool append = options.append || options.dedup;
  if (path == "-" && append) {
    return Status(Code::kInvalidArgument, "--dedup and --append need an output file, not stdout");
  }
  std::unique_ptr<JsonLinesSink> sink;
  if (append) {
    // Index first (it may cut a torn last line), then open for appending.
    sink = std::make_unique<JsonLinesSink>(path, nullptr);
    if (auto st = sink->load_existing(options.dedup); !st) return st;
  }
  std::FILE* f = path == "-" ? stdout : std::fopen(path.c_str(), append ? "a" : "w");
  if (f == nullptr) {
    return Status(Code::kIo,
                  fmt::format("cannot open output '{}' for writing: {}", path, std::strerror(errno)));
  }
  if (!sink) sink = std::make_unique<JsonLinesSink>(path, nullptr);
  sink->file_.reset(f);
  return sink;
}

Status JsonLinesSink::load_existing(bool dedup) {
  if (dedup) dedup_.emplace();
  std::ifstream in(path_, std::ios::binary);
  if (!in) return Status::ok();  // nothing there yet
  std::string line;
  std::uint64_t kept = 0, lines = 0;
  bool torn = false;
  while (std::getline(in, line)) {
    if (in.eof()) {  // the last line has no newline: a write torn by a crash
      torn = true;
      break;
    }
    ++lines;
    kept += line.size() + 1;
    if (!dedup_) continue;
    const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("stream") && json.contains("seq") &&
        json["stream"].is_number_unsigned() && json["seq"].is_number_unsigned()) {
      dedup_->insert(json["stream"].get<std::uint64_t>(), json["seq"].get<std::uint64_t>());
    } else {
      spdlog::warn("{}: line {} is not a result line; it is kept but not indexed for --dedup", path_, lines);
    }
  }
  in.close();
  if (torn) {
    spdlog::warn("{}: cutting a torn last line ({} bytes) left by a crash", path_, line.size());
    if (::truncate(path_.c_str(), static_cast<off_t>(kept)) != 0) {
      return Status(Code::kIo, fmt::format("cannot truncate '{}': {}", path_, std::strerror(errno)));
    }
  }
  if (lines) spdlog::info("{}: appending after {} existing result line(s)", path_, lines);
  return Status::ok();
}

Status JsonLinesSink::write(std::span<const ResultRecord> records) {
  std::lock_guard lock(mu_);
  buffer_.clear();
  for (const auto& r : records) {
    if (dedup_ && !dedup_->insert(r.stream, r.seq)) {
      duplicates_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    append_json_line(r, buffer_);
  }
  if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_.get()) != buffer_.size()) {
    return Status(Code::kIo, fmt::format("writing results to '{}' failed: {}", path_, std::strerror(errno)));
  }
  return Status::ok();
}

Status JsonLinesSink::flush() {
  std::lock_guard lock(mu_);
  if (!file_) return Status::ok();
  if (std::fflush(file_.get()) != 0) {
    return Status(Code::kIo, fmt::format("flushing '{}' failed: {}", path_, std::strerror(errno)));
  }
  return Status::ok();
}

}  // namespace sluice::sink
