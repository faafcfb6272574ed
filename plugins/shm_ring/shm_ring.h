// The shm-ring transport: a single-producer / single-consumer ring of fixed-size slots in POSIX
// shared memory, as a NIC doing DMA into host memory would fill it. The consumer (the shm-ring
// plugin inside sluice) hands slots to the pipeline without copying them and frees each slot when
// sluice releases it; releases may come in any order.
//
// Shared layout (all integers native-endian; both sides run on one machine):
//   RingHeader (3 cache lines) | slot 0 | slot 1 | ... | slot N-1
//   slot = SlotHeader (32 bytes: payload size, 28-byte NUL-padded name) + payload, `stride` bytes
// Indexes grow forever (64 bits); slot i lives at position i % slots.
// Invariants: free_index <= write_index <= free_index + slots. The producer only writes slots
// in [write_index, free_index + slots); the consumer only reads slots below write_index, and
// frees them by advancing free_index over the run of released slots at the tail, so a slot
// released early waits until every slot before it is released too.
// Waiting: each side spins briefly, then sleeps on a futex word (data_seq, free_seq) with a short
// timeout, after announcing itself (consumer_waiting, producer_wake_at); the other side wakes it
// only when announced. A producer facing a full ring asks to be woken once a quarter of the ring
// is free, not at every freed slot, so a busy ring costs one wake-up per many frames.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::shm_ring {

inline constexpr std::uint64_t kMagic = 0x31474E4952454C53ull;  // "SLERING1"
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::size_t kNameBytes = 28;

struct Geometry {
  std::uint32_t slots = 1024;
  std::uint32_t slot_bytes = 64 * 1024;  // payload capacity of one slot
};

struct alignas(64) RingHeader {
  std::uint64_t magic;  // set last, with release order, once the rest is initialised
  std::uint32_t version;
  std::uint32_t slots;
  std::uint32_t slot_bytes;
  std::uint32_t stride;  // bytes between slot starts (32 + slot_bytes, rounded up to 64)
  std::uint64_t total_bytes;
  std::uint32_t producer_pid;             // the attached producer, 0 when none (single producer)
  alignas(64) std::uint64_t write_index;  // producer: slots below are published
  std::uint32_t data_seq;                 // futex word, bumped by a publish that finds the consumer waiting
  std::uint32_t consumer_waiting;
  alignas(64) std::uint64_t free_index;  // consumer: slots below are free for the producer
  std::uint32_t free_seq;                // futex word, bumped when free_index reaches producer_wake_at
  std::uint64_t producer_wake_at;  // a sleeping producer's wish: wake it when free_index gets here; 0 = awake
};

struct SlotHeader {
  std::uint32_t size;  // payload bytes, <= slot_bytes
  char name[kNameBytes];
};
static_assert(sizeof(SlotHeader) == 32);

/// One mapping of a ring: the shm file descriptor and the mmap, released by the destructor.
class SharedRing {
 public:
  /// Consumer side: opens the ring `name` ("/sluice-ring"), creating and initialising it with
  /// `geometry` when it does not exist. An existing ring must have the same geometry.
  static Result<std::unique_ptr<SharedRing>> create_or_open(const std::string& name, Geometry geometry);
  /// Producer side: opens an existing ring whose header is initialised (kClosed when absent).
  static Result<std::unique_ptr<SharedRing>> open(const std::string& name);

  SharedRing(std::string name, int fd, void* base, std::size_t bytes, bool created);
  ~SharedRing();
  SharedRing(const SharedRing&) = delete;
  SharedRing& operator=(const SharedRing&) = delete;

  /// Removes the name at destruction (the mapping itself lives on in whoever still has it).
  void unlink_on_close(bool unlink) { unlink_ = unlink; }
  bool created() const { return created_; }
  const std::string& name() const { return name_; }
  RingHeader& header() const { return *static_cast<RingHeader*>(base_); }
  Geometry geometry() const { return {header().slots, header().slot_bytes}; }
  SlotHeader& slot(std::uint64_t index) const;
  std::uint8_t* payload(std::uint64_t index) const {
    return reinterpret_cast<std::uint8_t*>(&slot(index) + 1);
  }

 private:
  std::string name_;
  int fd_;
  void* base_;
  std::size_t bytes_;
  bool created_;
  bool unlink_ = false;
};

/// Bytes a ring of `geometry` needs.
std::size_t ring_bytes(Geometry geometry);

/// The writing side. One per ring at a time: attach() claims the ring for this process.
class RingProducer {
 public:
  explicit RingProducer(SharedRing& ring) : ring_(ring) {}
  ~RingProducer();
  RingProducer(const RingProducer&) = delete;
  RingProducer& operator=(const RingProducer&) = delete;

  /// Claims the ring (fails when another live process is its producer).
  Status attach();
  /// Copies one frame into the next slot without publishing it yet (as a NIC fills descriptors
  /// before it rings the doorbell). Waits while the ring is full, publishing what is staged
  /// first; fails with kClosed after `timeout` without the consumer freeing a slot, kLimit when
  /// the payload is larger than a slot or the name longer than 28 bytes.
  Status write(std::string_view name, std::span<const std::uint8_t> payload,
               std::chrono::milliseconds timeout);
  /// Makes every written slot visible to the consumer and wakes it if it sleeps. One full
  /// barrier per call, so publishing every few dozen frames keeps the cost per frame low.
  void publish();
  /// write() then publish().
  Status push(std::string_view name, std::span<const std::uint8_t> payload,
              std::chrono::milliseconds timeout) {
    auto st = write(name, payload, timeout);
    if (st) publish();
    return st;
  }
  /// Waits until the consumer freed every slot published so far (all frames were processed).
  Status drain(std::chrono::milliseconds timeout);

 private:
  bool wait_for_free(std::uint64_t want_free, std::chrono::milliseconds timeout);
  SharedRing& ring_;
  bool attached_ = false;
  std::uint64_t cached_free_ = 0;  // a free_index seen earlier; it only grows
  std::uint64_t staged_ = 0;       // the next slot to write; > write_index while slots are staged
  bool have_staged_index_ = false;
};

/// The reading side. Single consumer thread, except release(), which any thread may call.
class RingConsumer {
 public:
  /// Starts reading at the oldest slot not freed: frames a previous consumer took but never
  /// released are delivered again (at least once).
  explicit RingConsumer(SharedRing& ring);

  /// Waits up to `timeout` for published slots; returns how many are readable at read_index().
  std::uint64_t wait(std::chrono::milliseconds timeout);
  std::uint64_t read_index() const { return read_; }
  void advance(std::uint64_t n) { read_ += n; }
  /// Hands slots back: reading resumes at `index` (frames sluice did not accept).
  void rewind(std::uint64_t index) { read_ = index; }
  /// Marks slot `index` (read and not yet released) as released; advances free_index over the
  /// run of released slots at the tail and wakes a waiting producer. Thread-safe.
  void release(std::uint64_t index);
  std::uint64_t free_index() const;

 private:
  SharedRing& ring_;
  std::uint64_t read_;                                     // consumer thread only
  std::unique_ptr<std::atomic<std::uint8_t>[]> released_;  // per slot position, 1 = released
  std::mutex free_mu_;                                     // held by the thread that advances free_
  std::atomic<std::uint64_t> free_{0};                     // what free_index holds; written under free_mu_
};

}  // namespace sluice::shm_ring
