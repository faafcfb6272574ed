#include "support/fault_file_system.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace sluice::test {
namespace stdfs = std::filesystem;
namespace {

std::string normal(const std::string& path) {
  std::string p = stdfs::absolute(stdfs::path(path)).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string parent_of(const std::string& normal_path) {
  return normal(stdfs::path(normal_path).parent_path().string());
}

Status errno_error(const char* what, const std::string& path, int err) {
  return Status(Code::kIo, fmt::format("{} '{}': {} (injected)", what, path, std::strerror(err)));
}

const char* verb(FaultFileSystem::Op op) {
  using Op = FaultFileSystem::Op;
  switch (op) {
    case Op::kAppend:
      return "writing";
    case Op::kFlush:
      return "flushing";
    case Op::kSync:
      return "fdatasync of";
    case Op::kRename:
      return "cannot rename";
    case Op::kRemove:
      return "cannot delete";
    case Op::kTruncate:
      return "truncating";
    case Op::kSyncDir:
      return "fsync of directory";
    case Op::kOpen:
      return "cannot open";
  }
  return "?";
}

}  // namespace

const char* op_name(FaultFileSystem::Op op) {
  using Op = FaultFileSystem::Op;
  switch (op) {
    case Op::kAppend:
      return "append";
    case Op::kFlush:
      return "flush";
    case Op::kSync:
      return "sync";
    case Op::kRename:
      return "rename";
    case Op::kRemove:
      return "remove";
    case Op::kTruncate:
      return "truncate";
    case Op::kSyncDir:
      return "sync_dir";
    case Op::kOpen:
      return "open";
  }
  return "?";
}

// Every call takes the file system's lock for its whole length, so that a crash() or a
// power_loss() never falls in the middle of one and the synced sizes match the disk.
class FaultWritableFile final : public fs::WritableFile {
 public:
  FaultWritableFile(FaultFileSystem& fs, std::string path, std::unique_ptr<fs::WritableFile> base,
                    std::shared_ptr<FaultFileSystem::Node> node)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)), node_(std::move(node)) {}

  Status append(std::span<const std::uint8_t> data) override {
    std::lock_guard lock(fs_.mu_);
    const auto d = fs_.decide(FaultFileSystem::Op::kAppend, path_);
    if (!d.error.is_ok()) {
      if (d.short_write) (void)base_->append(data.first(data.size() / 2));
      return d.error;
    }
    auto st = base_->append(data);
    if (st) after(FaultFileSystem::Op::kAppend, d);
    return st;
  }
  Status flush() override {
    std::lock_guard lock(fs_.mu_);
    const auto d = fs_.decide(FaultFileSystem::Op::kFlush, path_);
    if (!d.error.is_ok()) return d.error;
    auto st = base_->flush();
    if (st) after(FaultFileSystem::Op::kFlush, d);
    return st;
  }
  Status sync() override {
    std::lock_guard lock(fs_.mu_);
    const auto d = fs_.decide(FaultFileSystem::Op::kSync, path_);
    if (!d.error.is_ok()) return d.error;
    auto st = base_->sync();
    if (st) {
      node_->synced_size = base_->size();
      after(FaultFileSystem::Op::kSync, d);
    }
    return st;
  }
  Status truncate(std::uint64_t size) override {
    std::lock_guard lock(fs_.mu_);
    const auto d = fs_.decide(FaultFileSystem::Op::kTruncate, path_);
    if (!d.error.is_ok()) return d.error;
    auto st = base_->truncate(size);
    if (st) {
      node_->synced_size = std::min(node_->synced_size, size);
      after(FaultFileSystem::Op::kTruncate, d);
    }
    return st;
  }
  std::uint64_t size() const override { return base_->size(); }

 private:
  void after(FaultFileSystem::Op op, const FaultFileSystem::Decision& d) {
    fs_.count_success(op, path_);
    if (d.crash_after) fs_.crashed_ = true;
  }

  FaultFileSystem& fs_;
  std::string path_;
  std::unique_ptr<fs::WritableFile> base_;
  std::shared_ptr<FaultFileSystem::Node> node_;
};

FaultFileSystem::FaultFileSystem(std::string trash_dir, fs::FileSystem& base)
    : base_(base), trash_dir_(normal(trash_dir)) {
  std::error_code ec;
  stdfs::create_directories(trash_dir_, ec);
}

FaultFileSystem::~FaultFileSystem() {
  std::error_code ec;
  stdfs::remove_all(trash_dir_, ec);
}

int FaultFileSystem::add_rule(Rule rule) {
  std::lock_guard lock(mu_);
  const int id = next_rule_++;
  rules_[id] = RuleState{std::move(rule)};
  return id;
}

void FaultFileSystem::clear_rule(int id) {
  std::lock_guard lock(mu_);
  if (auto it = rules_.find(id); it != rules_.end()) it->second.active = false;
}

void FaultFileSystem::clear_rules() {
  std::lock_guard lock(mu_);
  for (auto& [id, r] : rules_) r.active = false;
}

std::uint64_t FaultFileSystem::fired(int id) const {
  std::lock_guard lock(mu_);
  const auto it = rules_.find(id);
  return it == rules_.end() ? 0 : it->second.fired;
}

std::uint64_t FaultFileSystem::faults() const {
  std::lock_guard lock(mu_);
  return faults_;
}

std::uint64_t FaultFileSystem::succeeded(Op op, std::string_view path) const {
  std::lock_guard lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [key, count] : successes_) {
    if (key.first == op && key.second.find(path) != std::string::npos) n += count;
  }
  return n;
}

void FaultFileSystem::crash() {
  std::lock_guard lock(mu_);
  crashed_ = true;
}

bool FaultFileSystem::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

void FaultFileSystem::restart() {
  std::lock_guard lock(mu_);
  crashed_ = false;
  rules_.clear();
  hook_ = nullptr;
}

Status FaultFileSystem::frozen_error(const std::string& path) const {
  return Status(Code::kIo,
                fmt::format("'{}': the file system crashed (injected): {}", path, std::strerror(EIO)));
}

FaultFileSystem::Decision FaultFileSystem::decide(Op op, const std::string& path, const std::string& other) {
  Decision d;
  if (crashed_) {
    d.error = frozen_error(path);
    return d;
  }
  for (auto& [id, r] : rules_) {
    if (!r.active || r.rule.op != op) continue;
    const auto& want = r.rule.path;
    if (!want.empty() && path.find(want) == std::string::npos &&
        (other.empty() || other.find(want) == std::string::npos)) {
      continue;
    }
    if (++r.seen <= r.rule.after) continue;
    ++r.fired;
    ++faults_;
    if (r.rule.times != kUntilCleared && r.fired >= r.rule.times) r.active = false;
    switch (r.rule.fault) {
      case Fault::kNoSpace:
        d.error = errno_error(verb(op), path, ENOSPC);
        break;
      case Fault::kIoError:
        d.error = errno_error(verb(op), path, EIO);
        break;
      case Fault::kShortWrite:
        d.error = errno_error(verb(op), path, ENOSPC);
        d.short_write = op == Op::kAppend;
        break;
      case Fault::kCrash:
        crashed_ = true;
        d.error = frozen_error(path);
        break;
      case Fault::kCrashAfter:
        d.crash_after = true;
        break;
    }
    return d;
  }
  return d;
}

void FaultFileSystem::count_success(Op op, const std::string& path, const std::string& other) {
  ++successes_[{op, path}];
  if (!other.empty()) ++successes_[{op, other}];
  if (hook_) hook_(op, path);
}

void FaultFileSystem::on_success(std::function<void(Op op, const std::string& path)> hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

std::shared_ptr<FaultFileSystem::Node> FaultFileSystem::node_for(const std::string& path, bool* created) {
  const std::string key = normal(path);
  if (created != nullptr) *created = false;
  if (auto it = files_.find(key); it != files_.end()) return it->second;
  auto node = std::make_shared<Node>();
  const auto info = base_.stat(path);
  if (info.exists) {
    node->synced_size = info.size;  // there before we looked: durable
  } else if (created != nullptr) {
    *created = true;
  }
  files_[key] = node;
  return node;
}

std::string FaultFileSystem::new_trash_path() {
  return fmt::format("{}/{}", trash_dir_, next_trash_++);
}

Status FaultFileSystem::move_file(const std::string& from, const std::string& to) {
  return base_.rename(from, to);
}

Result<std::unique_ptr<fs::WritableFile>> FaultFileSystem::open_writable(const std::string& path,
                                                                         fs::OpenMode mode) {
  std::lock_guard lock(mu_);
  const auto d = decide(Op::kOpen, path);
  if (!d.error.is_ok()) return d.error;
  const bool existed = base_.stat(path).exists;
  auto file = base_.open_writable(path, mode);
  if (!file) return file.status();
  bool created = false;
  auto node = node_for(path, &created);
  if (mode == fs::OpenMode::kTruncate) node->synced_size = 0;  // the cut is not durable before a sync
  if (!existed) {
    node->synced_size = 0;
    const auto key = normal(path);
    dir_ops_.push_back(DirOp{DirOp::kCreate, key, {}, {}, nullptr, {parent_of(key)}});
  }
  count_success(Op::kOpen, path);
  if (d.crash_after) crashed_ = true;
  return std::unique_ptr<fs::WritableFile>(
      std::make_unique<FaultWritableFile>(*this, path, std::move(*file), std::move(node)));
}

Result<std::unique_ptr<fs::ReadableFile>> FaultFileSystem::open_readable(const std::string& path) {
  std::lock_guard lock(mu_);
  const auto d = decide(Op::kOpen, path);
  if (!d.error.is_ok()) return d.error;
  auto file = base_.open_readable(path);
  if (file) count_success(Op::kOpen, path);
  if (d.crash_after) crashed_ = true;
  return file;
}

Result<std::vector<std::uint8_t>> FaultFileSystem::read_file(const std::string& path) {
  std::lock_guard lock(mu_);
  if (crashed_) return frozen_error(path);
  return base_.read_file(path);
}

Status FaultFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  const auto d = decide(Op::kRename, from, to);
  if (!d.error.is_ok()) return d.error;
  const auto from_key = normal(from), to_key = normal(to);
  // The file the rename replaces is kept (a hard link) until the rename is durable.
  std::string trash;
  std::shared_ptr<Node> replaced;
  if (base_.stat(to).exists) {
    replaced = node_for(to, nullptr);
    trash = new_trash_path();
    if (::link(to.c_str(), trash.c_str()) != 0) {
      return Status(Code::kIo,
                    fmt::format("fault file system: cannot keep '{}': {}", to, std::strerror(errno)));
    }
  }
  auto node = node_for(from, nullptr);
  if (auto st = base_.rename(from, to); !st) {
    if (!trash.empty()) (void)base_.remove(trash);
    return st;
  }
  files_.erase(from_key);
  files_[to_key] = node;
  std::vector<std::string> dirs{parent_of(from_key)};
  if (parent_of(to_key) != dirs.front()) dirs.push_back(parent_of(to_key));
  dir_ops_.push_back(DirOp{DirOp::kRename, to_key, from_key, trash, replaced, std::move(dirs)});
  count_success(Op::kRename, from, to);
  if (d.crash_after) crashed_ = true;
  return Status::ok();
}

Status FaultFileSystem::remove(const std::string& path) {
  std::lock_guard lock(mu_);
  const auto d = decide(Op::kRemove, path);
  if (!d.error.is_ok()) return d.error;
  const auto key = normal(path);
  // Kept (a hard link) until the unlink is durable: a power loss brings it back.
  const std::string trash = new_trash_path();
  const bool kept = ::link(path.c_str(), trash.c_str()) == 0;
  if (!kept && errno != ENOENT) {
    return Status(Code::kIo,
                  fmt::format("fault file system: cannot keep '{}': {}", path, std::strerror(errno)));
  }
  auto node = kept ? node_for(path, nullptr) : nullptr;
  if (auto st = base_.remove(path); !st) {
    if (kept) (void)base_.remove(trash);
    return st;
  }
  files_.erase(key);
  dir_ops_.push_back(DirOp{DirOp::kUnlink, key, {}, trash, node, {parent_of(key)}});
  count_success(Op::kRemove, path);
  if (d.crash_after) crashed_ = true;
  return Status::ok();
}

Status FaultFileSystem::truncate(const std::string& path, std::uint64_t size) {
  std::lock_guard lock(mu_);
  const auto d = decide(Op::kTruncate, path);
  if (!d.error.is_ok()) return d.error;
  auto node = node_for(path, nullptr);
  if (auto st = base_.truncate(path, size); !st) return st;
  node->synced_size = std::min(node->synced_size, size);
  count_success(Op::kTruncate, path);
  if (d.crash_after) crashed_ = true;
  return Status::ok();
}

Status FaultFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  const auto d = decide(Op::kSyncDir, dir);
  if (!d.error.is_ok()) return d.error;
  if (auto st = base_.sync_dir(dir); !st) return st;
  const auto key = normal(dir);
  std::vector<DirOp> still;
  for (auto& op : dir_ops_) {
    std::erase(op.dirs_unsynced, key);
    if (!op.dirs_unsynced.empty()) {
      still.push_back(std::move(op));
    } else if (!op.trash.empty()) {
      (void)base_.remove(op.trash);  // the unlink (or the replacement) is durable
    }
  }
  dir_ops_ = std::move(still);
  count_success(Op::kSyncDir, dir);
  if (d.crash_after) crashed_ = true;
  return Status::ok();
}

Status FaultFileSystem::create_dirs(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (crashed_) return frozen_error(dir);
  return base_.create_dirs(dir);
}

Result<std::vector<std::string>> FaultFileSystem::list_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (crashed_) return frozen_error(dir);
  return base_.list_dir(dir);
}

fs::FileInfo FaultFileSystem::stat(const std::string& path) {
  return base_.stat(path);
}

std::string FaultFileSystem::power_loss() {
  std::lock_guard lock(mu_);
  std::string report;
  // Directory operations that were not made durable, newest first.
  for (auto it = dir_ops_.rbegin(); it != dir_ops_.rend(); ++it) {
    auto& op = *it;
    switch (op.kind) {
      case DirOp::kCreate:
        if (base_.stat(op.path).exists) (void)base_.remove(op.path);
        files_.erase(op.path);
        report += fmt::format("created {} is gone; ", op.path);
        break;
      case DirOp::kRename: {
        if (base_.stat(op.path).exists) (void)move_file(op.path, op.from);
        if (auto f = files_.find(op.path); f != files_.end()) {
          files_[op.from] = f->second;
          files_.erase(op.path);
        }
        if (!op.trash.empty()) {
          (void)move_file(op.trash, op.path);
          if (op.node) files_[op.path] = op.node;
        }
        report += fmt::format("rename {} -> {} undone; ", op.from, op.path);
        break;
      }
      case DirOp::kUnlink:
        if (!op.trash.empty() && base_.stat(op.trash).exists) {
          (void)move_file(op.trash, op.path);
          if (op.node) files_[op.path] = op.node;
          report += fmt::format("deleted {} is back; ", op.path);
        }
        break;
    }
  }
  dir_ops_.clear();
  // File contents: what was fsynced.
  for (const auto& [path, node] : files_) {
    const auto info = base_.stat(path);
    if (info.exists && info.regular && info.size > node->synced_size) {
      (void)base_.truncate(path, node->synced_size);
      report += fmt::format("{} cut from {} to {} bytes; ", path, info.size, node->synced_size);
    }
  }
  files_.clear();
  rules_.clear();
  hook_ = nullptr;
  crashed_ = false;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(trash_dir_, ec)) stdfs::remove(e.path(), ec);
  return report;
}

}  // namespace sluice::test
