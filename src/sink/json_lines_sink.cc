#include "sink/json_lines_sink.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/json_escape.h"

namespace sluice::sink {

void append_json_line(const ResultRecord& r, std::string& out) {
  fmt::format_to(std::back_inserter(out), R"({{"stream":{},"seq":{},"name":")", r.stream, r.seq);
  append_json_escaped(out, r.name);
  fmt::format_to(std::back_inserter(out), R"(","batch":{},"latency_ms":{:.3f},)", r.batch, r.latency_ms);
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

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path) {
  std::FILE* f = path == "-" ? stdout : std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return Status(Code::kIo,
                  fmt::format("cannot open output '{}' for writing: {}", path, std::strerror(errno)));
  }
  return std::make_unique<JsonLinesSink>(path, std::unique_ptr<std::FILE, FileCloser>(f));
}

Status JsonLinesSink::write(std::span<const ResultRecord> records) {
  std::lock_guard lock(mu_);
  buffer_.clear();
  for (const auto& r : records) append_json_line(r, buffer_);
  if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_.get()) != buffer_.size()) {
    return Status(Code::kIo, fmt::format("writing results to '{}' failed: {}", path_, std::strerror(errno)));
  }
  return Status::ok();
}

Status JsonLinesSink::flush() {
  std::lock_guard lock(mu_);
  if (std::fflush(file_.get()) != 0) {
    return Status(Code::kIo, fmt::format("flushing '{}' failed: {}", path_, std::strerror(errno)));
  }
  return Status::ok();
}

}  // namespace sluice::sink
