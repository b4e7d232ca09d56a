// SPDX-License-Identifier: Apache-2.0
// ModelGuard: the userspace half of the model-load window (the kernel half
// is bpf/model.bpf.h). For each MODEL event it records the window, opens the
// model through the loader's own fd (/proc/PID/fd/N: the very file the
// kernel saw, even if renamed or deleted since) and scans it on one
// background thread; results come back on the agent's io_context. Reports
// are cached by (device, inode, size, mtime), and a file already being
// scanned is not scanned twice. Windows are mirrored per process (inherited
// at fork when the kernel says the fork was inside one) so rules can name
// the model behind any event in a window. A file that cannot be opened for
// lack of resources (EMFILE, ENFILE, ENOMEM) is not a verdict: the open is
// retried with backoff until it works or the file is gone, and the wait is
// reported (on_pressure) so the operator hears of it.
// Everything but the worker runs on the io_context thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/unique_fd.h"
#include "guard/model_load.h"
#include "scan/scanner.h"
#include "sensor/event.h"

namespace nbw {

struct ModelGuardCounters {
  uint64_t windows = 0;         // MODEL events seen
  uint64_t scans = 0;           // files scanned
  uint64_t cache_hits = 0;      // windows answered from the cache or an in-flight scan
  uint64_t queue_full = 0;      // scans refused: queue full (reported unscannable)
  uint64_t open_failed = 0;     // the file could not be opened to scan (reported unscannable)
  uint64_t resource_waits = 0;  // opens that failed for lack of fds or memory (retried)
};

class ModelGuard {
 public:
  // Called on the io_context thread when a window's report is ready.
  using ScannedFn = std::function<void(const std::shared_ptr<ModelLoad>&)>;
  // Called on the io_context thread when a scan has to wait for resources.
  using PressureFn = std::function<void(const std::string& what)>;

  ModelGuard(boost::asio::io_context& io, std::shared_ptr<const ModelGuardPolicy> policy,
             ScannedFn on_scanned, std::string proc_root = "/proc", PressureFn on_pressure = {});
  ~ModelGuard();  // stops and joins the worker; queued scans and retries are dropped
  ModelGuard(const ModelGuard&) = delete;
  ModelGuard& operator=(const ModelGuard&) = delete;

  // A MODEL event from the kernel. The report arrives through on_scanned,
  // possibly before this returns (a cached file).
  std::shared_ptr<ModelLoad> Open(const Event& ev);
  // A fork event; `in_window` is the kernel's NBW_F_MODEL_WINDOW on it.
  void Fork(uint32_t parent, uint32_t child, bool in_window);
  void Exit(uint32_t tgid);
  // The window a process is in (its own or inherited), or null.
  const ModelLoad* WindowOf(uint32_t tgid) const;
  std::shared_ptr<const ModelLoad> SharedWindowOf(uint32_t tgid) const;
  // A new policy (reload): later scans use it; the cache is dropped.
  void SetPolicy(std::shared_ptr<const ModelGuardPolicy> policy);

  const ModelGuardCounters& counters() const { return counters_; }
  static constexpr size_t kMaxQueue = 256;
  static constexpr size_t kMaxCache = 1024;
  // Backoff of an open that failed for lack of resources: doubling, capped.
  static constexpr std::chrono::milliseconds kRetryFirst{50}, kRetryMax{2000};

 private:
  using Key = std::tuple<uint64_t, uint64_t, uint64_t, int64_t>;  // dev, ino, size, mtime
  struct Job {
    Key key;
    UniqueFd fd;
    std::string path;
    std::shared_ptr<const ModelScanner> scanner;
  };
  // Opens the load's file and queues its scan (or answers from the cache);
  // on a lack of resources, tries again after `backoff`.
  void Start(const std::shared_ptr<ModelLoad>& load, std::chrono::milliseconds backoff);
  void Worker();
  void Finish(const Key& key, std::shared_ptr<const ScanReport> report);
  void Fail(const std::shared_ptr<ModelLoad>& load, std::string why);

  boost::asio::io_context& io_;
  ScannedFn on_scanned_;
  PressureFn on_pressure_;
  const std::string proc_root_;
  std::shared_ptr<const ModelScanner> scanner_;
  ModelGuardCounters counters_;
  std::unordered_map<uint32_t, std::shared_ptr<ModelLoad>> by_pid_;
  std::map<Key, std::shared_ptr<const ScanReport>> cache_;
  std::deque<Key> cache_order_;
  std::map<Key, std::vector<std::shared_ptr<ModelLoad>>> waiting_;
  // Opens waiting to be retried (cancelled at destruction).
  std::set<std::shared_ptr<boost::asio::steady_timer>> retries_;

  std::mutex mu_;  // guards queue_ and stop_
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace nbw
