// SPDX-License-Identifier: Apache-2.0
#include "guard/model_guard.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>

#include "common/clock.h"
#include "common/fd_budget.h"

namespace nbw {

ModelGuard::ModelGuard(boost::asio::io_context& io, std::shared_ptr<const ModelGuardPolicy> policy,
                       ScannedFn on_scanned, std::string proc_root, PressureFn on_pressure)
    : io_(io),
      on_scanned_(std::move(on_scanned)),
      on_pressure_(std::move(on_pressure)),
      proc_root_(std::move(proc_root)),
      scanner_(std::make_shared<const ModelScanner>(std::move(policy))),
      worker_([this] { Worker(); }) {}

ModelGuard::~ModelGuard() {
  // A cancelled retry's handler returns without touching this.
  for (const auto& t : retries_) t->cancel();
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void ModelGuard::SetPolicy(std::shared_ptr<const ModelGuardPolicy> policy) {
  scanner_ = std::make_shared<const ModelScanner>(std::move(policy));
  cache_.clear();
  cache_order_.clear();
}

namespace {

// Opens `path` for reading only if it is the regular file with inode `ino`.
// The path is a target's fd link or a name a target controls: it may have
// been swapped for a FIFO or a device since the kernel saw it, and opening
// some devices has side effects. So: O_PATH first (opens nothing), check,
// then reopen that very inode through /proc/self/fd. On failure `err` is
// the errno (0 when the file is not the one the kernel saw).
UniqueFd OpenRegular(const std::string& path, uint64_t ino, struct stat& st, int& err) {
  err = 0;
  UniqueFd pinned(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!pinned.valid()) err = errno;
  if (!pinned.valid() || fstat(pinned.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_ino != ino) {
    return UniqueFd();
  }
  const std::string self = fmt::format("/proc/self/fd/{}", pinned.get());
  UniqueFd fd(::open(self.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) err = errno;
  struct stat again {};
  if (!fd.valid() || fstat(fd.get(), &again) != 0 || again.st_ino != st.st_ino ||
      again.st_dev != st.st_dev) {
    return UniqueFd();
  }
  return fd;
}

}  // namespace

std::shared_ptr<ModelLoad> ModelGuard::Open(const Event& ev) {
  counters_.windows++;
  auto load = std::make_shared<ModelLoad>();
  load->window_id = ev.args[5];
  load->loader = ev.tgid;
  load->fd = static_cast<int32_t>(ev.args[0]);
  load->path = ev.str[0];
  load->trigger = ev.args[1] == NBW_MODEL_BY_MAGIC ? "content" : "extension";
  load->inode = ev.args[2];
  load->device = ev.args[3];
  load->size = ev.args[4];
  load->opened_ns = ev.realtime_ns;
  by_pid_[ev.tgid] = load;
  Start(load, kRetryFirst);
  return load;
}

void ModelGuard::Start(const std::shared_ptr<ModelLoad>& load, std::chrono::milliseconds backoff) {
  // The loader's fd is the file the kernel judged. If it is already closed
  // (read whole, then unpickled from memory), the path is the fallback,
  // accepted only if it is still the same inode.
  struct stat st {};
  int by_fd = 0, by_path = 0;
  UniqueFd fd = OpenRegular(fmt::format("{}/{}/fd/{}", proc_root_, load->loader, load->fd),
                            load->inode, st, by_fd);
  if (!fd.valid()) fd = OpenRegular(load->path, load->inode, st, by_path);
  if (!fd.valid() && (IsResourceErrno(by_fd) || IsResourceErrno(by_path))) {
    // Not the file's fault: no verdict from it. Try again later.
    if (retries_.size() >= kMaxQueue) {
      counters_.queue_full++;
      Fail(load, fmt::format("scan queue full ({} files waiting for resources)", kMaxQueue));
      return;
    }
    counters_.resource_waits++;
    const int err = IsResourceErrno(by_fd) ? by_fd : by_path;
    spdlog::warn("guard: cannot open {} to scan it: {}; retrying in {} ms", load->path,
                 std::strerror(err), backoff.count());
    if (on_pressure_) {
      on_pressure_(fmt::format("the scan of model {} waits: opening it failed ({})", load->path,
                               std::strerror(err)));
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, backoff);
    retries_.insert(timer);
    timer->async_wait([this, timer, load, backoff](const boost::system::error_code& ec) {
      if (ec) return;
      retries_.erase(timer);
      Start(load, std::min(backoff * 2, std::chrono::milliseconds(kRetryMax)));
    });
    return;
  }
  if (!fd.valid()) {
    Fail(load, "the model file was gone or replaced before it could be read");
    return;
  }
  Key key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  if (auto it = cache_.find(key); it != cache_.end()) {
    counters_.cache_hits++;
    load->report = it->second;
    on_scanned_(load);
    return;
  }
  auto [wit, first] = waiting_.try_emplace(key);
  wit->second.push_back(load);
  if (!first) {
    counters_.cache_hits++;
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queue_.size() < kMaxQueue) {
      queue_.push_back(Job{key, std::move(fd), load->path, scanner_});
      cv_.notify_one();
      return;
    }
  }
  counters_.queue_full++;
  waiting_.erase(key);
  Fail(load, fmt::format("scan queue full ({} files waiting)", kMaxQueue));
}

void ModelGuard::Fail(const std::shared_ptr<ModelLoad>& load, std::string why) {
  counters_.open_failed++;
  auto r = std::make_shared<ScanReport>();
  r->path = load->path;
  r->format = "unknown";
  r->Unscannable("", 0, std::move(why));
  r->Conclude();
  load->report = std::move(r);
  on_scanned_(load);
}

void ModelGuard::Worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    auto report = std::make_shared<const ScanReport>(job.scanner->ScanFd(job.fd.get(), job.path));
    boost::asio::post(io_, [this, key = job.key, report] { Finish(key, report); });
  }
}

void ModelGuard::Finish(const Key& key, std::shared_ptr<const ScanReport> report) {
  counters_.scans++;
  cache_[key] = report;
  cache_order_.push_back(key);
  while (cache_order_.size() > kMaxCache) {
    cache_.erase(cache_order_.front());
    cache_order_.pop_front();
  }
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return;
  auto loads = std::move(it->second);
  waiting_.erase(it);
  for (auto& load : loads) {
    load->report = report;
    on_scanned_(load);
  }
}

void ModelGuard::Fork(uint32_t parent, uint32_t child, bool in_window) {
  if (!in_window) return;
  auto it = by_pid_.find(parent);
  if (it != by_pid_.end()) by_pid_[child] = it->second;
}

void ModelGuard::Exit(uint32_t tgid) {
  by_pid_.erase(tgid);
}

std::shared_ptr<const ModelLoad> ModelGuard::SharedWindowOf(uint32_t tgid) const {
  auto it = by_pid_.find(tgid);
  return it == by_pid_.end() ? nullptr : it->second;
}

const ModelLoad* ModelGuard::WindowOf(uint32_t tgid) const {
  return SharedWindowOf(tgid).get();
}

}  // namespace nbw
