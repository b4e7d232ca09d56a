// SPDX-License-Identifier: Apache-2.0
// AlertRouter: every alert to every configured sink, none blocking
// detection and none lost to a slow or dead receiver. Each sink has a spool
// (sinks/spool.h) that Publish appends to, and a worker thread that
// delivers from it in order, retrying with backoff while the receiver is
// down. An alert that finds a spool full is dropped and counted; once the
// sink delivers again, the count is reported as an alert of its own.
// The daemon config (nbwarden.yaml) says which sinks; errors name
// file:line:col and the field.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "alert/limiter.h"
#include "common/status.h"
#include "sinks/sink.h"
#include "sinks/spool.h"
#include "sinks/stream.h"

namespace nbw {

struct SinkConfig {
  std::string name, type;      // type: file, syslog, webhook
  std::string origin;          // file:line:col of the entry
  std::unique_ptr<Sink> sink;  // built from the entry
  uint64_t spool_max_bytes = 64 << 20;
};

struct DaemonConfig {
  std::string spool_dir = "/var/lib/nbwarden/spool";
  std::vector<SinkConfig> sinks;
  StreamConfig stream;   // the live stream `nbwarden tail` attaches to
  LimiterConfig limits;  // deduplication and rate limiting (alert/limiter.h)
  std::string origin;

  // hostname goes into syslog messages.
  static Result<DaemonConfig> Parse(const std::string& yaml, const std::string& origin,
                                    const std::string& hostname);
  static Result<DaemonConfig> Load(const std::string& path, const std::string& hostname);
};

struct SinkStats {
  std::string name, type;
  uint64_t delivered = 0, dropped = 0, failures = 0, pending = 0;
  bool healthy = true;
  std::string last_error;
};

// Told when a sink delivers again after dropping `dropped` alerts (its spool
// was full), to raise an alert about it. Called on that sink's worker thread.
class SinkDropObserver {
 public:
  virtual ~SinkDropObserver() = default;
  virtual void OnSinkDrops(std::string_view sink, uint64_t dropped) = 0;
};

class AlertRouter {
 public:
  static Result<std::unique_ptr<AlertRouter>> Start(DaemonConfig config);
  ~AlertRouter();

  // The one observer of drops (nullptr: none; drops wait, counted, for the
  // next one). Any thread. Returns only when no worker is inside the previous
  // observer's OnSinkDrops, so its owner may be destroyed right after.
  void SetDropObserver(SinkDropObserver* observer);

  // Any thread; never blocks on a receiver.
  void Publish(std::string_view alert_line);
  // Lets each worker finish its current attempt (bounded by the sink's
  // timeout) and stops them; what is undelivered stays spooled.
  void Stop();
  std::vector<SinkStats> Stats();
  // The live stream's counters; nullopt when none is configured.
  std::optional<StreamStats> Stream() const;

 private:
  struct Runner;
  AlertRouter() = default;
  void Run(Runner& r);
  std::mutex observer_mu_;
  SinkDropObserver* observer_ = nullptr;  // guarded by observer_mu_
  std::vector<std::unique_ptr<Runner>> runners_;
  std::unique_ptr<AlertStream> stream_;
};

}  // namespace nbw
