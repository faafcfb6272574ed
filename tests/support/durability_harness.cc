#include "support/durability_harness.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "monitor/pipeline_view.h"
#include "source/tcp_listen_source.h"
#include "support/child_process.h"
#include "support/test_env.h"
#include "wire/protocol_v2.h"

namespace sluice::test {
using namespace std::chrono_literals;

ScratchDir::ScratchDir(const std::string& tag) : path(make_temp_dir(tag)) {}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

const producer::FrameSet& fashion_frames(std::size_t n) {
  static std::mutex mu;
  static std::map<std::size_t, producer::FrameSet> sets;
  std::lock_guard lock(mu);
  auto& set = sets[n];
  if (set.frames.empty()) {
    auto loaded = producer::load_idx_frames(fashion_images(), n);
    if (loaded) set = std::move(*loaded);
    EXPECT_EQ(set.frames.size(), n) << (loaded ? "" : loaded.status().to_string());
  }
  return set;
}

PipelineConfig durable_config(const std::string& dir, FaultFileSystem* fs, bool dedup, bool wal) {
  PipelineConfig c;
  c.model = fashion_bundle();
  c.batch_interval = std::chrono::milliseconds(50);
  c.executors = 1;
  c.cores = 1;
  c.memory_budget = 64ull << 20;
  c.output = dir + "/out.jsonl";
  c.dedup = dedup;
  c.append = true;
  if (wal) c.wal_dir = dir + "/wal";
  c.submit = false;
  c.file_system = fs;
  return c;
}

std::unique_ptr<Pipeline> start_pipeline(const PipelineConfig& config, const std::string& listen) {
  auto pipeline = Pipeline::load(config);
  EXPECT_TRUE(pipeline) << pipeline.status().to_string();
  if (!pipeline) return nullptr;
  auto st = (*pipeline)->add_source("tcp-listen:" + listen);
  EXPECT_TRUE(st) << st.to_string();
  st = (*pipeline)->start();
  EXPECT_TRUE(st) << st.to_string();
  if (!st) return nullptr;
  return std::move(*pipeline);
}

std::uint16_t listen_port(Pipeline& pipeline) {
  auto& ctx = pipeline.view().context;
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    if (const auto* tcp = dynamic_cast<const source::TcpListenSource*>(&ctx.source(i)))
      return tcp->bound().port;
  }
  return 0;
}

nlohmann::json status(const Pipeline& pipeline) {
  return nlohmann::json::parse(pipeline.status_json());
}

std::map<std::uint64_t, std::map<std::uint64_t, int>> Output::producer_streams() const {
  std::map<std::uint64_t, std::map<std::uint64_t, int>> out;
  for (const auto& [key, n] : keys) {
    if (key.first >= wire::kMinProducerStreamId) out[key.first][key.second] = n;
  }
  return out;
}

Output read_output(const std::string& path) {
  Output out;
  const auto text = read_file(path);
  if (!text.empty() && text.back() != '\n') out.all_whole = false;  // a torn last line
  for (const auto& line : read_lines(path)) {
    ++out.lines;
    const auto r = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!r.is_object() || !r.contains("stream") || !r.contains("seq") ||
        !(r.contains("top") || r.contains("error"))) {
      out.all_whole = false;
      continue;
    }
    ++out.keys[{r["stream"].get<std::uint64_t>(), r["seq"].get<std::uint64_t>()}];
  }
  return out;
}

std::unique_ptr<ProducerThread> ProducerThread::acked(const producer::FrameSet& set, std::uint16_t port,
                                                      double rate, int connections) {
  std::unique_ptr<ProducerThread> p(new ProducerThread());
  std::promise<Status> promise;
  p->result_ = promise.get_future();
  producer::AckedSendOptions options;
  options.send.rate = rate;
  options.send.connections = connections;
  options.give_up_after = 60s;
  p->thread_ =
      std::thread([&set, port, options, promise = std::move(promise), progress = &p->progress_]() mutable {
        auto r = producer::send_frames_acked(set, {"127.0.0.1", port}, options, *progress);
        promise.set_value(r ? Status::ok() : r.status());
      });
  return p;
}

std::unique_ptr<ProducerThread> ProducerThread::plain(const producer::FrameSet& set, std::uint16_t port,
                                                      double rate) {
  std::unique_ptr<ProducerThread> p(new ProducerThread());
  std::promise<Status> promise;
  p->result_ = promise.get_future();
  producer::SendOptions options;
  options.rate = rate;
  p->thread_ =
      std::thread([&set, port, options, promise = std::move(promise), progress = &p->progress_]() mutable {
        auto r = producer::send_frames(set, {"127.0.0.1", port}, options, *progress);
        promise.set_value(r ? Status::ok() : r.status());
      });
  return p;
}

ProducerThread::~ProducerThread() {
  cancel();
}

std::optional<Status> ProducerThread::wait(std::chrono::milliseconds timeout) {
  if (!result_.valid()) return Status(Code::kInternal, "already waited for");
  if (result_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  if (thread_.joinable()) thread_.join();
  return result_.get();
}

void ProducerThread::cancel() {
  progress_.cancel = true;
  if (thread_.joinable()) thread_.join();
}

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace sluice::test
