#include "engine/block_store.h"

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sluice/file_system.h"

namespace sluice::engine {

Result<StorageLevel> parse_storage_level(const std::string& text) {
  if (text == "memory") return StorageLevel::kMemory;
  if (text == "memory_and_disk" || text == "memory-and-disk") return StorageLevel::kMemoryAndDisk;
  if (text == "disk") return StorageLevel::kDisk;
  return Status(Code::kInvalidArgument,
                fmt::format("unknown --storage-level '{}' (known: memory, memory_and_disk, disk)", text));
}

const char* storage_level_name(StorageLevel level) {
  switch (level) {
    case StorageLevel::kMemory:
      return "memory";
    case StorageLevel::kMemoryAndDisk:
      return "memory_and_disk";
    case StorageLevel::kDisk:
      return "disk";
  }
  return "?";
}

void BlockStore::configure(SpillPolicy policy, MemoryBudget* budget) {
  policy_ = std::move(policy);
  budget_ = budget;
  if (policy_.level != StorageLevel::kMemory) {
    // Spill files hold frames: a directory sluice creates for them is the owner's only (0700).
    (void)fs::FileSystem::posix().create_dirs(policy_.dir);
  }
}

std::uint64_t BlockStore::spilled_bytes() const {
  MutexLock lock(mu_);
  std::uint64_t n = 0;
  for (const auto& weak : live_spills_) {
    if (auto live = weak.lock()) n += static_cast<const store::SpillFile*>(live.get())->bytes();
  }
  return n;
}

bool BlockStore::should_spill(const Block& block) const {
  if (policy_.level == StorageLevel::kMemory || block.bytes == 0 || budget_ == nullptr) return false;
  if (spilled_bytes() + block.bytes > policy_.disk_budget) return false;  // the memory budget takes over
  return policy_.level == StorageLevel::kDisk || budget_->held() * 2 > budget_->limit();
}

void BlockStore::put(Block block) {
  if (should_spill(block)) {
    auto spill = store::SpillFile::write(policy_.dir, block.id, block.frames);
    if (spill) {
      block.spill = std::move(*spill);
      budget_->release(block.bytes);  // the payloads left memory
      ++spilled_blocks_;
      MutexLock lock(mu_);
      std::erase_if(live_spills_, [](const auto& w) { return w.expired(); });
      live_spills_.push_back(std::shared_ptr<const void>(block.spill));
      block.bytes = 0;
    } else {
      spdlog::warn("block {} stays in memory: {}", block.id, spill.status().to_string());
    }
  }
  MutexLock lock(mu_);
  bytes_ += block.bytes;
  blocks_.push_back(std::move(block));
}

std::vector<Block> BlockStore::take_all() {
  MutexLock lock(mu_);
  std::vector<Block> out(std::make_move_iterator(blocks_.begin()), std::make_move_iterator(blocks_.end()));
  blocks_.clear();
  bytes_ = 0;
  return out;
}

std::size_t BlockStore::blocks() const {
  MutexLock lock(mu_);
  return blocks_.size();
}

std::size_t BlockStore::bytes() const {
  MutexLock lock(mu_);
  return bytes_;
}

}  // namespace sluice::engine
