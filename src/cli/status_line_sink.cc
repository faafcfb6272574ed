#include "cli/status_line_sink.h"

#include <cstdio>

#include <spdlog/sinks/dist_sink.h>
#include <spdlog/spdlog.h>

namespace sluice::cli {
namespace {
constexpr const char* kEraseLine = "\r\x1b[K";  // carriage return, then erase to the end of the line
}

void StatusLineSink::set_status(std::string line) {
  std::lock_guard lock(mutex_);
  status_ = std::move(line);
  std::fputs(kEraseLine, stderr);
  std::fputs(status_.c_str(), stderr);
  std::fflush(stderr);
}

void StatusLineSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (!status_.empty()) std::fputs(kEraseLine, stderr);
  std::fflush(stderr);
  inner_->log(msg);
  inner_->flush();
  if (!status_.empty()) {
    std::fputs(status_.c_str(), stderr);
    std::fflush(stderr);
  }
}

void StatusLineSink::flush_() {
  inner_->flush();
}

std::shared_ptr<StatusLineSink> install_status_line_sink() {
  auto logger = spdlog::default_logger();
  auto& sinks = logger->sinks();
  // The inner sinks keep their formatters: the wrapper only decides when they write.
  auto inner = std::make_shared<spdlog::sinks::dist_sink_mt>(sinks);
  auto wrapper = std::make_shared<StatusLineSink>(inner);
  sinks.assign({wrapper});
  return wrapper;
}

}  // namespace sluice::cli
