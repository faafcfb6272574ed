// A source plugin built by the test suite. It stores the files of dir=PATH (in name order) and can
// misbehave on request, so tests can drive every path of the plugin host and the supervisor.
// Keys: dir (files to store; none = store nothing), api (many | one), zero_copy (1 | 0),
// chunk (frames per store_many, 64), faults (the first N runs report an error and ask for a
// restart instead of storing), start_errors (the N starts after the first fail).
// Counters over the library's life: sluice_test_plugin_counters().
#include <dirent.h>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sluice/source_plugin.h"

namespace {

struct Counters {
  std::atomic<std::uint64_t> created{0}, starts{0}, stops{0}, destroyed{0}, released{0}, stored{0},
      refused{0};
};
Counters g_counters;

void write_error(char* buffer, std::size_t size, const std::string& message) {
  if (buffer == nullptr || size == 0) return;
  const std::size_t n = std::min(message.size(), size - 1);
  std::memcpy(buffer, message.data(), n);
  buffer[n] = '\0';
}

struct File {
  std::string name;
  std::vector<std::uint8_t> bytes;
};

// A zero-copy payload: a heap copy whose ownership passes to sluice until release.
struct Buffer {
  std::vector<std::uint8_t> bytes;
};

extern "C" void release_buffer(void* context) {
  std::unique_ptr<Buffer> owned(static_cast<Buffer*>(context));
  ++g_counters.released;
}

}  // namespace

struct SluiceSourceInstance {
  const SluiceHostApi* api = nullptr;
  SluiceHost* host = nullptr;
  std::vector<File> files;
  bool many = true;
  bool zero_copy = true;
  std::size_t chunk = 64;
  std::uint64_t faults = 0;
  std::uint64_t start_errors = 0;
  std::uint64_t runs = 0;
  std::thread thread;

  SluiceFrame frame_for(const File& file) const {
    if (!zero_copy) {
      return {file.name.data(), file.name.size(), file.bytes.data(), file.bytes.size(), nullptr, nullptr};
    }
    auto buffer = std::make_unique<Buffer>(Buffer{file.bytes});
    const auto* data = buffer->bytes.data();
    const auto size = buffer->bytes.size();
    return {file.name.data(), file.name.size(), data, size, release_buffer, buffer.release()};
  }
  // A frame sluice did not accept stays ours: free its buffer without counting a release.
  static void reclaim(const SluiceFrame& frame) {
    std::unique_ptr<Buffer> owned(static_cast<Buffer*>(frame.release_ctx));
    ++g_counters.refused;
  }

  void run() {
    if (++runs <= faults) {
      api->report_error(host, "test plugin: simulated device fault");
      api->request_restart(host, "test plugin: device reset needed");
      return;
    }
    std::vector<SluiceFrame> frames;
    for (std::size_t begin = 0; begin < files.size() && api->is_stopped(host) == 0;) {
      const std::size_t end = std::min(files.size(), begin + (many ? chunk : 1));
      frames.clear();
      for (std::size_t i = begin; i < end; ++i) frames.push_back(frame_for(files[i]));
      std::size_t stored = 0;
      int rc = SLUICE_SOURCE_OK;
      if (many) {
        rc = api->store_many(host, frames.data(), frames.size(), &stored);
      } else {
        rc = api->store_one(host, frames.data());
        stored = rc == SLUICE_SOURCE_OK ? 1 : 0;
      }
      g_counters.stored += stored;
      for (std::size_t i = stored; i < frames.size(); ++i) {
        if (frames[i].release_ctx != nullptr) reclaim(frames[i]);
      }
      if (rc != SLUICE_SOURCE_OK) return;
      begin = end;
    }
  }
};

namespace {

bool load_files(const std::string& dir, std::vector<File>& out) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    out.push_back({name, std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {})});
  }
  return true;
}

bool parse_count(const std::string& text, std::uint64_t& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stoull(text);
  return true;
}

SluiceSourceInstance* create(const SluiceConfigEntry* config, size_t count, const SluiceHostApi* api,
                             SluiceHost* host, char* error, size_t error_size) {
  auto self = std::make_unique<SluiceSourceInstance>();
  self->api = api;
  self->host = host;
  for (size_t i = 0; i < count; ++i) {
    const std::string key = config[i].key;
    const std::string value = config[i].value;
    std::uint64_t n = 0;
    bool ok = true;
    if (key == "dir") {
      ok = load_files(value, self->files);
    } else if (key == "api") {
      ok = value == "many" || value == "one";
      self->many = value == "many";
    } else if (key == "zero_copy") {
      ok = value == "0" || value == "1";
      self->zero_copy = value == "1";
    } else if (key == "chunk") {
      ok = parse_count(value, n) && n > 0;
      self->chunk = static_cast<std::size_t>(n);
    } else if (key == "faults") {
      ok = parse_count(value, self->faults);
    } else if (key == "start_errors") {
      ok = parse_count(value, self->start_errors);
    } else {
      write_error(error, error_size, "unknown key '" + key + "'");
      return nullptr;
    }
    if (!ok) {
      write_error(error, error_size, "bad value " + key + "=" + value);
      return nullptr;
    }
  }
  ++g_counters.created;
  return self.release();  // sluice owns it until destroy
}

int start(SluiceSourceInstance* self, char* error, size_t error_size) {
  const auto n = ++g_counters.starts;
  (void)n;
  if (self->runs > 0 && self->start_errors > 0) {
    --self->start_errors;
    write_error(error, error_size, "test plugin: simulated start failure");
    return SLUICE_SOURCE_FAILED;
  }
  self->thread = std::thread([self] { self->run(); });
  return SLUICE_SOURCE_OK;
}

void stop(SluiceSourceInstance* self) {
  if (self->thread.joinable()) self->thread.join();
  ++g_counters.stops;
}

void destroy(SluiceSourceInstance* self) {
  std::unique_ptr<SluiceSourceInstance> owned(self);
  ++g_counters.destroyed;
}

constexpr SluiceSourcePlugin kPlugin{
    SLUICE_SOURCE_ABI_VERSION, sizeof(SluiceSourcePlugin), "test", create, start, stop, destroy};

}  // namespace

extern "C" SLUICE_PLUGIN_EXPORT const SluiceSourcePlugin* sluice_source_plugin(void) {
  return &kPlugin;
}

/// created, starts, stops, destroyed, released, stored, refused (7 values).
extern "C" SLUICE_PLUGIN_EXPORT void sluice_test_plugin_counters(std::uint64_t* out) {
  out[0] = g_counters.created;
  out[1] = g_counters.starts;
  out[2] = g_counters.stops;
  out[3] = g_counters.destroyed;
  out[4] = g_counters.released;
  out[5] = g_counters.stored;
  out[6] = g_counters.refused;
}
