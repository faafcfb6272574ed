// shm-ring: a source plugin that takes frames from a shared-memory ring (see shm_ring.h) and hands
// them to sluice without copying: each payload points into the ring, and its release callback
// frees the slot.
//
//   --source 'plugin:libsluice_shm_ring.so?ring=/sluice-ring&slots=4096&slot_bytes=65536'
// Keys: ring (required, "/name"), slots (1024), slot_bytes (65536), batch (frames per store_many,
// 256), api (many | one: store_many or store_one), unlink (1: remove the ring's name when sluice
// is done with it, if this plugin created it).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/plugin_util.h"
#include "shm_ring.h"
#include "sluice/source_plugin.h"

namespace {
using namespace std::chrono_literals;
using sluice::plugin_util::write_error;
namespace ring = sluice::shm_ring;

struct SlotRef;
}  // namespace

// The plugin's instance: the definition of the opaque handle of the C ABI.
struct SluiceSourceInstance {
  const SluiceHostApi* api = nullptr;
  SluiceHost* host = nullptr;
  std::string ring_name;
  ring::Geometry geometry;
  std::size_t batch = 256;
  bool use_many = true;
  bool unlink = true;
  std::unique_ptr<ring::SharedRing> shared;  // mapped from create to destroy
  std::unique_ptr<ring::RingConsumer> consumer;
  std::unique_ptr<SlotRef[]> refs;  // per slot position: the release context of its frame
  std::thread thread;

  void run();
};

namespace {

// What a release callback gets: the slot's absolute index, set when the slot is handed over. A
// position is reused only after its slot was released, so one SlotRef per position suffices.
struct SlotRef {
  SluiceSourceInstance* self = nullptr;
  std::uint64_t index = 0;
};

extern "C" void release_slot(void* context) {
  auto* ref = static_cast<SlotRef*>(context);
  ref->self->consumer->release(ref->index);
}

}  // namespace

void SluiceSourceInstance::run() {
  std::vector<SluiceFrame> frames;
  frames.reserve(batch);
  const auto slot_bytes = shared->header().slot_bytes;
  while (api->is_stopped(host) == 0) {
    const std::uint64_t available = consumer->wait(50ms);
    if (available == 0) continue;
    const std::uint64_t first = consumer->read_index();
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(available, batch));
    frames.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t index = first + i;
      const ring::SlotHeader& slot = shared->slot(index);
      std::size_t size = slot.size;
      if (size > slot_bytes) {  // a producer bug: never read past the slot
        api->report_error(host, "shm-ring: a slot claims more bytes than a slot holds; sent as empty");
        size = 0;
      }
      SlotRef& ref = refs[index % geometry.slots];
      ref.index = index;
      frames.push_back(SluiceFrame{slot.name, strnlen(slot.name, ring::kNameBytes), shared->payload(index),
                                   size, release_slot, &ref});
    }
    // Advance before storing: a release may come before store_many returns.
    consumer->advance(n);
    std::size_t stored = 0;
    int rc = SLUICE_SOURCE_OK;
    if (use_many) {
      rc = api->store_many(host, frames.data(), frames.size(), &stored);
    } else {
      for (; stored < frames.size(); ++stored) {
        rc = api->store_one(host, &frames[stored]);
        if (rc != SLUICE_SOURCE_OK) break;
      }
    }
    if (rc != SLUICE_SOURCE_OK) {
      consumer->rewind(first + stored);  // not accepted: offered again after a restart
      break;
    }
  }
}

namespace {

SluiceSourceInstance* create(const SluiceConfigEntry* config, size_t count, const SluiceHostApi* api,
                             SluiceHost* host, char* error, size_t error_size) {
  auto self = std::make_unique<SluiceSourceInstance>();
  self->api = api;
  self->host = host;
  using sluice::plugin_util::parse_flag;
  using sluice::plugin_util::parse_u64;
  for (size_t i = 0; i < count; ++i) {
    const std::string key = config[i].key;
    const std::string value = config[i].value;
    bool ok = true;
    if (key == "ring") {
      self->ring_name = value;
    } else if (key == "slots") {
      auto v = parse_u64(value, 2, 1u << 24);
      ok = v.has_value();
      if (ok) self->geometry.slots = static_cast<std::uint32_t>(*v);
    } else if (key == "slot_bytes") {
      auto v = parse_u64(value, 1, 1u << 30);
      ok = v.has_value();
      if (ok) self->geometry.slot_bytes = static_cast<std::uint32_t>(*v);
    } else if (key == "batch") {
      auto v = parse_u64(value, 1, 65536);
      ok = v.has_value();
      if (ok) self->batch = static_cast<std::size_t>(*v);
    } else if (key == "api") {
      ok = value == "many" || value == "one";
      self->use_many = value == "many";
    } else if (key == "unlink") {
      auto v = parse_flag(value);
      ok = v.has_value();
      if (ok) self->unlink = *v;
    } else {
      write_error(error, error_size,
                  "unknown key '" + key + "' (known: ring, slots, slot_bytes, batch, api, unlink)");
      return nullptr;
    }
    if (!ok) {
      write_error(error, error_size, "bad value " + key + "=" + value);
      return nullptr;
    }
  }
  if (self->ring_name.empty()) {
    write_error(error, error_size, "ring=/NAME is required (the POSIX shared-memory name of the ring)");
    return nullptr;
  }
  auto shared = ring::SharedRing::create_or_open(self->ring_name, self->geometry);
  if (!shared) {
    write_error(error, error_size, shared.status().message());
    return nullptr;
  }
  self->shared = std::move(*shared);
  self->shared->unlink_on_close(self->unlink && self->shared->created());
  self->consumer = std::make_unique<ring::RingConsumer>(*self->shared);
  self->refs = std::make_unique<SlotRef[]>(self->geometry.slots);
  for (std::uint32_t i = 0; i < self->geometry.slots; ++i) self->refs[i].self = self.get();
  const std::string note = std::string(self->shared->created() ? "created" : "attached to") + " ring " +
                           self->ring_name + " (" + std::to_string(self->geometry.slots) + " slots of " +
                           std::to_string(self->geometry.slot_bytes) + " bytes)";
  api->log(host, SLUICE_LOG_INFO, note.c_str());
  return self.release();  // owned by sluice until destroy
}

int start(SluiceSourceInstance* self, char* error, size_t error_size) {
  try {
    self->thread = std::thread([self] { self->run(); });
  } catch (const std::exception& e) {
    write_error(error, error_size, std::string("cannot start the reader thread: ") + e.what());
    return SLUICE_SOURCE_FAILED;
  }
  return SLUICE_SOURCE_OK;
}

void stop(SluiceSourceInstance* self) {
  // is_stopped already reports 1, so the reader leaves its loop within one wait (50 ms).
  if (self->thread.joinable()) self->thread.join();
}

void destroy(SluiceSourceInstance* self) {
  std::unique_ptr<SluiceSourceInstance> owned(self);  // every slot is released by now
}

constexpr SluiceSourcePlugin kPlugin{
    SLUICE_SOURCE_ABI_VERSION, sizeof(SluiceSourcePlugin), "shm-ring", create, start, stop, destroy};

}  // namespace

extern "C" SLUICE_PLUGIN_EXPORT const SluiceSourcePlugin* sluice_source_plugin(void) {
  return &kPlugin;
}
