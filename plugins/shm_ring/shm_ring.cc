#include "shm_ring.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>

namespace sluice::shm_ring {
namespace {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Before sleeping on the futex, a side polls for this long: a futex round trip costs a few
// microseconds in each process, more than a frame takes, so a busy ring never sleeps.
constexpr auto kSpinFor = 50us;
constexpr auto kMaxSleep = 20ms;  // futex waits are bounded, so missed wake-ups cost little

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `ready` until it holds or kSpinFor has passed; returns its last value.
template <typename Ready>
bool spin_until(Ready ready) {
  if (ready()) return true;
  const auto until = Clock::now() + kSpinFor;
  for (unsigned i = 1;; ++i) {
    cpu_relax();
    if (ready()) return true;
    if (i % 64 == 0 && Clock::now() >= until) return false;
  }
}

std::atomic_ref<std::uint64_t> at(std::uint64_t& v) {
  return std::atomic_ref<std::uint64_t>(v);
}
std::atomic_ref<std::uint32_t> at(std::uint32_t& v) {
  return std::atomic_ref<std::uint32_t>(v);
}

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// The futex words live in memory shared between processes: no FUTEX_PRIVATE_FLAG.
void futex_wait(std::uint32_t& word, std::uint32_t expected, std::chrono::milliseconds timeout) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  syscall(SYS_futex, &word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}
void futex_wake(std::uint32_t& word) {
  syscall(SYS_futex, &word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

std::uint32_t stride_for(std::uint32_t slot_bytes) {
  const std::uint64_t raw = sizeof(SlotHeader) + static_cast<std::uint64_t>(slot_bytes);
  return static_cast<std::uint32_t>((raw + 63) / 64 * 64);
}

bool process_alive(std::uint32_t pid) {
  return pid != 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

}  // namespace

std::size_t ring_bytes(Geometry geometry) {
  return sizeof(RingHeader) + static_cast<std::size_t>(geometry.slots) * stride_for(geometry.slot_bytes);
}

SharedRing::SharedRing(std::string name, int fd, void* base, std::size_t bytes, bool created)
    : name_(std::move(name)), fd_(fd), base_(base), bytes_(bytes), created_(created) {}

SharedRing::~SharedRing() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
  if (fd_ >= 0) ::close(fd_);
  if (unlink_) ::shm_unlink(name_.c_str());
}

SlotHeader& SharedRing::slot(std::uint64_t index) const {
  auto* bytes = static_cast<std::uint8_t*>(base_) + sizeof(RingHeader) +
                static_cast<std::size_t>(index % header().slots) * header().stride;
  return *reinterpret_cast<SlotHeader*>(bytes);
}

Result<std::unique_ptr<SharedRing>> SharedRing::create_or_open(const std::string& name, Geometry geometry) {
  if (name.size() < 2 || name.front() != '/' || name.find('/', 1) != std::string::npos) {
    return Status(Code::kInvalidArgument,
                  "ring name '" + name + "' must look like /name (one leading slash)");
  }
  if (geometry.slots < 2 || geometry.slot_bytes == 0 || geometry.slot_bytes > (1u << 30)) {
    return Status(Code::kInvalidArgument, "ring geometry: slots must be >= 2 and slot_bytes in 1..2^30");
  }
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status(Code::kIo, errno_text("shm_open " + name));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const Status error(Code::kIo, errno_text("fstat " + name));
    ::close(fd);
    return error;
  }
  const std::size_t bytes = ring_bytes(geometry);
  const bool created = st.st_size == 0;
  if (created && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const Status error(Code::kIo, errno_text("ftruncate " + name));
    ::close(fd);
    ::shm_unlink(name.c_str());
    return error;
  }
  if (!created && static_cast<std::size_t>(st.st_size) != bytes) {
    ::close(fd);
    return Status(Code::kInvalidArgument,
                  "ring " + name + " exists with " + std::to_string(st.st_size) + " bytes, but slots=" +
                      std::to_string(geometry.slots) + " slot_bytes=" + std::to_string(geometry.slot_bytes) +
                      " need " + std::to_string(bytes) + "; remove it or give its geometry");
  }
  // MAP_POPULATE: fault every page in now, not one by one in the first lap of the ring.
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (base == MAP_FAILED) {
    const Status error(Code::kIo, errno_text("mmap " + name));
    ::close(fd);
    return error;
  }
  auto ring = std::make_unique<SharedRing>(name, fd, base, bytes, created);
  RingHeader& h = ring->header();
  if (created) {
    h.version = kLayoutVersion;
    h.slots = geometry.slots;
    h.slot_bytes = geometry.slot_bytes;
    h.stride = stride_for(geometry.slot_bytes);
    h.total_bytes = bytes;
    at(h.magic).store(kMagic, std::memory_order_release);
  } else if (at(h.magic).load(std::memory_order_acquire) != kMagic || h.version != kLayoutVersion ||
             h.slots != geometry.slots || h.slot_bytes != geometry.slot_bytes) {
    return Status(Code::kInvalidArgument, "ring " + name + " exists but is not a version-" +
                                              std::to_string(kLayoutVersion) + " ring of this geometry");
  }
  return ring;
}

Result<std::unique_ptr<SharedRing>> SharedRing::open(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return Status(errno == ENOENT ? Code::kClosed : Code::kIo, errno_text("shm_open " + name));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(RingHeader)) {
    ::close(fd);
    return Status(Code::kClosed, "ring " + name + " is not initialised yet");
  }
  const auto bytes = static_cast<std::size_t>(st.st_size);
  // MAP_POPULATE: fault every page in now, not one by one in the first lap of the ring.
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (base == MAP_FAILED) {
    const Status error(Code::kIo, errno_text("mmap " + name));
    ::close(fd);
    return error;
  }
  auto ring = std::make_unique<SharedRing>(name, fd, base, bytes, false);
  RingHeader& h = ring->header();
  if (at(h.magic).load(std::memory_order_acquire) != kMagic) {
    return Status(Code::kClosed, "ring " + name + " is not initialised yet");
  }
  if (h.version != kLayoutVersion || h.total_bytes != bytes || ring_bytes({h.slots, h.slot_bytes}) != bytes) {
    return Status(Code::kInvalidArgument,
                  "ring " + name + " has an unknown layout (version " + std::to_string(h.version) + ")");
  }
  return ring;
}

RingProducer::~RingProducer() {
  publish();
  if (attached_) {
    std::uint32_t mine = static_cast<std::uint32_t>(::getpid());
    at(ring_.header().producer_pid).compare_exchange_strong(mine, 0);
  }
}

Status RingProducer::attach() {
  auto pid = at(ring_.header().producer_pid);
  const auto mine = static_cast<std::uint32_t>(::getpid());
  std::uint32_t current = 0;
  if (!pid.compare_exchange_strong(current, mine)) {
    if (current != mine && process_alive(current)) {
      return Status(Code::kInvalidArgument,
                    "ring " + ring_.name() + " already has a producer (pid " + std::to_string(current) + ")");
    }
    if (!pid.compare_exchange_strong(current, mine)) {  // a dead producer's claim: take it over
      return Status(Code::kInvalidArgument, "ring " + ring_.name() + " was claimed by another producer");
    }
  }
  attached_ = true;
  return Status::ok();
}

bool RingProducer::wait_for_free(std::uint64_t want_free, std::chrono::milliseconds timeout) {
  if (cached_free_ >= want_free) return true;  // no need to touch the consumer's cache line
  RingHeader& h = ring_.header();
  auto free_index = at(h.free_index);
  auto deadline = Clock::now() + timeout;
  std::uint64_t seen = 0;
  spin_until([&] { return (seen = free_index.load(std::memory_order_acquire)) >= want_free; });
  // Asleep, wait for a quarter of the ring (at most up to what is published), not one slot.
  const std::uint64_t published = at(h.write_index).load(std::memory_order_relaxed);
  const std::uint64_t wake_at = std::max(want_free, std::min(want_free + h.slots / 4, published));
  while (seen < want_free) {
    // Announce, then re-check: the consumer stores free_index before it reads producer_wake_at.
    at(h.producer_wake_at).store(wake_at, std::memory_order_seq_cst);
    const std::uint32_t seq = at(h.free_seq).load(std::memory_order_seq_cst);
    const std::uint64_t now_free = free_index.load(std::memory_order_seq_cst);
    if (now_free < wake_at) futex_wait(h.free_seq, seq, kMaxSleep);
    at(h.producer_wake_at).store(0, std::memory_order_relaxed);
    const std::uint64_t after = free_index.load(std::memory_order_acquire);
    if (after != seen) deadline = Clock::now() + timeout;  // progress: the consumer is alive
    seen = after;
    if (seen < want_free && Clock::now() >= deadline) return false;
  }
  cached_free_ = seen;
  return true;
}

Status RingProducer::write(std::string_view name, std::span<const std::uint8_t> payload,
                           std::chrono::milliseconds timeout) {
  RingHeader& h = ring_.header();
  if (payload.size() > h.slot_bytes) {
    return Status(Code::kLimit, "frame '" + std::string(name) + "' has " + std::to_string(payload.size()) +
                                    " bytes; the ring's slots hold " + std::to_string(h.slot_bytes));
  }
  if (name.size() > kNameBytes)
    return Status(Code::kLimit, "frame name '" + std::string(name) + "' is over 28 bytes");
  if (!have_staged_index_) {
    staged_ = at(h.write_index).load(std::memory_order_relaxed);  // only we write it
    have_staged_index_ = true;
  }
  const std::uint64_t w = staged_;
  const std::uint64_t need_free = w + 1 > h.slots ? w + 1 - h.slots : 0;  // slot w must be free
  if (cached_free_ < need_free) {
    publish();  // the consumer must see what is staged, or it frees nothing
    if (!wait_for_free(need_free, timeout)) {
      return Status(Code::kClosed, "the ring stayed full: the consumer freed no slot in time");
    }
  }
  SlotHeader& slot = ring_.slot(w);
  std::memset(slot.name, 0, sizeof slot.name);
  std::memcpy(slot.name, name.data(), name.size());
  slot.size = static_cast<std::uint32_t>(payload.size());
  if (!payload.empty()) std::memcpy(ring_.payload(w), payload.data(), payload.size());
  staged_ = w + 1;
  return Status::ok();
}

void RingProducer::publish() {
  if (!have_staged_index_) return;
  RingHeader& h = ring_.header();
  if (at(h.write_index).load(std::memory_order_relaxed) == staged_) return;
  // The slots' bytes happen-before the consumer's acquire load of write_index. seq_cst store,
  // then seq_cst load of consumer_waiting: either the consumer sees the new write_index before it
  // sleeps, or we see it waiting, bump the futex word and wake it.
  at(h.write_index).store(staged_, std::memory_order_seq_cst);
  if (at(h.consumer_waiting).load(std::memory_order_seq_cst) != 0) {
    at(h.data_seq).fetch_add(1, std::memory_order_seq_cst);
    futex_wake(h.data_seq);
  }
}

Status RingProducer::drain(std::chrono::milliseconds timeout) {
  publish();
  const std::uint64_t w = at(ring_.header().write_index).load(std::memory_order_relaxed);
  if (!wait_for_free(w, timeout))
    return Status(Code::kClosed, "the consumer did not free every slot in time");
  return Status::ok();
}

RingConsumer::RingConsumer(SharedRing& ring)
    : ring_(ring), released_(std::make_unique<std::atomic<std::uint8_t>[]>(ring.header().slots)) {
  free_ = at(ring_.header().free_index).load(std::memory_order_acquire);
  read_ = free_.load();
}

std::uint64_t RingConsumer::wait(std::chrono::milliseconds timeout) {
  RingHeader& h = ring_.header();
  auto write_index = at(h.write_index);
  std::uint64_t w = 0;
  spin_until([&] { return (w = write_index.load(std::memory_order_acquire)) != read_; });
  if (w == read_) {
    // Announce, then re-check: the producer stores write_index before it reads consumer_waiting.
    at(h.consumer_waiting).store(1, std::memory_order_seq_cst);
    const std::uint32_t seq = at(h.data_seq).load(std::memory_order_seq_cst);
    w = write_index.load(std::memory_order_seq_cst);
    if (w == read_) futex_wait(h.data_seq, seq, std::min(timeout, std::chrono::milliseconds(kMaxSleep)));
    at(h.consumer_waiting).store(0, std::memory_order_relaxed);
    w = write_index.load(std::memory_order_acquire);
  }
  return w - read_;
}

void RingConsumer::release(std::uint64_t index) {
  const std::uint32_t slots = ring_.header().slots;
  released_[index % slots].store(1, std::memory_order_seq_cst);
  // Whoever holds the lock reclaims; a releaser that finds it taken leaves its mark for the
  // holder, which looks at the tail again after unlocking, so no mark is left behind.
  while (free_mu_.try_lock()) {
    // At the tail position only slot free_ can be marked: a later lap is not written before it
    // is freed.
    std::uint64_t free = free_.load(std::memory_order_relaxed);
    const std::uint64_t before = free;
    while (released_[free % slots].load(std::memory_order_acquire) != 0) {
      released_[free % slots].store(0, std::memory_order_relaxed);
      ++free;
    }
    if (free != before) {
      free_.store(free, std::memory_order_seq_cst);
      RingHeader& h = ring_.header();
      at(h.free_index).store(free, std::memory_order_seq_cst);
      std::uint64_t wake_at = at(h.producer_wake_at).load(std::memory_order_seq_cst);
      // One wake-up per wish; a newer wish the producer made meanwhile stays.
      if (wake_at != 0 && free >= wake_at && at(h.producer_wake_at).compare_exchange_strong(wake_at, 0)) {
        at(h.free_seq).fetch_add(1, std::memory_order_seq_cst);
        futex_wake(h.free_seq);
      }
    }
    free_mu_.unlock();
    if (released_[free % slots].load(std::memory_order_seq_cst) == 0) return;
  }
}

std::uint64_t RingConsumer::free_index() const {
  return free_.load(std::memory_order_acquire);
}

}  // namespace sluice::shm_ring
