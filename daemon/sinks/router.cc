// SPDX-License-Identifier: Apache-2.0
#include "sinks/router.h"

#include <errno.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>

#include "common/file.h"
#include "common/policy_files.h"
#include "sinks/file_sink.h"
#include "sinks/webhook_sink.h"

namespace nbw {

struct AlertRouter::Runner {
  std::string name, type;
  std::unique_ptr<Sink> sink;
  std::unique_ptr<SpoolLog> spool;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false, kicked = false;
  std::atomic<uint64_t> delivered{0}, dropped{0}, unreported_drops{0}, failures{0};
  std::atomic<bool> healthy{true};
  std::string last_error;  // under mu
};

namespace {

constexpr size_t kBatch = 64;
constexpr auto kMinBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(30);

int Facility(const YAML::Node& n) {
  static const std::map<std::string, int> kNames = {
      {"kern", 0},      {"user", 1},    {"daemon", 3},  {"auth", 4},    {"syslog", 5},
      {"authpriv", 10}, {"audit", 13},  {"local0", 16}, {"local1", 17}, {"local2", 18},
      {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23}};
  auto it = kNames.find(n.as<std::string>());
  return it == kNames.end() ? -1 : it->second;
}

Result<uint64_t> Size(const YAML::Node& n, const std::string& where) {
  try {
    long long v = n.as<long long>();
    if (v > 0) return static_cast<uint64_t>(v);
  } catch (const YAML::Exception&) {
  }
  return Status::Error(where, "must be a positive number of bytes");
}

Status ParseSink(const YAML::Node& n, const std::string& origin, size_t i,
                 const std::string& hostname, SinkConfig& out) {
  const std::string at = YamlWhere(origin, n);
  const std::string field = fmt::format("sinks[{}]", i);
  auto err = [&](const YAML::Node& where, const std::string& key, const std::string& what) {
    return Status::Error(YamlWhere(origin, where) + ": " + field + (key.empty() ? "" : "." + key),
                         what);
  };
  if (!n.IsMap()) return err(n, "", "must be a mapping");
  static const std::set<std::string> kKeys = {
      "name", "type",       "spool_max_bytes", "path",     "max_bytes",
      "keep", "transport",  "address",         "facility", "app_name",
      "url",  "tls_verify", "ca_file",         "headers",  "timeout_ms"};
  for (const auto& kv : n) {
    if (!kKeys.count(kv.first.as<std::string>())) {
      return err(kv.first, kv.first.as<std::string>(), "unknown key");
    }
  }
  out.origin = at;
  out.type = n["type"] ? n["type"].as<std::string>() : "";
  out.name = n["name"] ? n["name"].as<std::string>() : out.type + std::to_string(i);
  if (out.name.empty() || out.name.find('/') != std::string::npos || out.name[0] == '.') {
    return err(n["name"], "name", "must be a plain name (it names the spool file)");
  }
  if (n["spool_max_bytes"]) {
    auto v = Size(n["spool_max_bytes"],
                  YamlWhere(origin, n["spool_max_bytes"]) + ": " + field + ".spool_max_bytes");
    if (!v.ok()) return v.status();
    out.spool_max_bytes = *v;
  }
  auto str = [&](const char* key) { return n[key] ? n[key].as<std::string>() : std::string(); };
  if (out.type == "file") {
    if (str("path").empty() || str("path")[0] != '/') {
      return err(n["path"] ? n["path"] : n, "path", "must be an absolute file path");
    }
    uint64_t max = 100 << 20;
    if (n["max_bytes"]) {
      auto v =
          Size(n["max_bytes"], YamlWhere(origin, n["max_bytes"]) + ": " + field + ".max_bytes");
      if (!v.ok()) return v.status();
      max = *v;
    }
    int keep = 5;
    if (n["keep"]) {
      try {
        keep = n["keep"].as<int>();
      } catch (const YAML::Exception&) {
        keep = -1;
      }
      if (keep < 0 || keep > 100) return err(n["keep"], "keep", "must be 0 to 100 rotated files");
    }
    out.sink = std::make_unique<FileSink>(str("path"), max, keep);
  } else if (out.type == "syslog") {
    SyslogTarget t;
    t.transport = n["transport"] ? str("transport") : "udp";
    t.hostname = hostname;
    if (t.transport != "udp" && t.transport != "tcp" && t.transport != "unix") {
      return err(n["transport"], "transport", "must be udp, tcp or unix");
    }
    const std::string addr = str("address");
    if (t.transport == "unix") {
      if (addr.empty() || addr[0] != '/') {
        return err(n["address"] ? n["address"] : n, "address", "must be a socket path");
      }
      t.path = addr;
    } else {
      const size_t colon = addr.rfind(':');
      long port =
          colon == std::string::npos ? -1 : std::strtol(addr.c_str() + colon + 1, nullptr, 10);
      if (colon == std::string::npos || colon == 0 || port < 1 || port > 65535) {
        return err(n["address"] ? n["address"] : n, "address", "must be HOST:PORT");
      }
      t.host = addr.substr(0, colon);
      t.port = static_cast<uint16_t>(port);
    }
    if (n["facility"]) {
      t.facility = Facility(n["facility"]);
      if (t.facility < 0) {
        return err(n["facility"], "facility",
                   "must be kern, user, daemon, auth, syslog, authpriv, audit or local0-7");
      }
    }
    if (n["app_name"]) t.app_name = str("app_name");
    out.sink = std::make_unique<SyslogSink>(std::move(t));
  } else if (out.type == "webhook") {
    auto t = WebhookTarget::FromUrl(str("url"));
    if (!t.ok()) return err(n["url"] ? n["url"] : n, "url", t.status().message());
    if (n["tls_verify"]) {
      try {
        t->tls_verify = n["tls_verify"].as<bool>();
      } catch (const YAML::Exception&) {
        return err(n["tls_verify"], "tls_verify", "must be true or false");
      }
    }
    t->ca_file = str("ca_file");
    if (n["headers"]) {
      if (!n["headers"].IsMap()) return err(n["headers"], "headers", "must be a mapping");
      for (const auto& kv : n["headers"]) {
        t->headers[kv.first.as<std::string>()] = kv.second.as<std::string>();
      }
    }
    if (n["timeout_ms"]) {
      int ms = 0;
      try {
        ms = n["timeout_ms"].as<int>();
      } catch (const YAML::Exception&) {
      }
      if (ms < 1 || ms > 600000) {
        return err(n["timeout_ms"], "timeout_ms", "must be 1 to 600000 milliseconds");
      }
      t->timeout = std::chrono::milliseconds(ms);
    }
    out.sink = std::make_unique<WebhookSink>(std::move(t).value());
  } else {
    return err(n["type"] ? n["type"] : n, "type", "must be file, syslog or webhook");
  }
  return Status::Ok();
}

}  // namespace

Result<DaemonConfig> DaemonConfig::Parse(const std::string& yaml, const std::string& origin,
                                         const std::string& hostname) {
  auto doc = ParseYaml(yaml, origin);
  if (!doc.ok()) return doc.status();
  DaemonConfig c;
  c.origin = origin;
  const YAML::Node root = *doc;
  if (!root || root.IsNull()) return c;
  if (!root.IsMap()) return Status::Error(YamlWhere(origin, root), "must be a mapping");
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key != "spool_dir" && key != "sinks" && key != "stream" && key != "limits") {
      return Status::Error(YamlWhere(origin, kv.first) + ": " + key,
                           "unknown key (spool_dir, sinks, stream, limits)");
    }
  }
  if (const YAML::Node l = root["limits"]) {
    if (!l.IsMap()) return Status::Error(YamlWhere(origin, l) + ": limits", "must be a mapping");
    c.limits.enabled = true;
    for (const auto& kv : l) {
      const std::string key = kv.first.as<std::string>();
      const std::string where = YamlWhere(origin, kv.second) + ": limits." + key;
      if (key == "window_s" || key == "burst") {
        auto v = Size(kv.second, where);
        if (!v.ok() || *v > 86400 * 7) {
          return Status::Error(where, "must be a positive number (at most a week of seconds)");
        }
        if (key == "window_s") {
          c.limits.window = std::chrono::seconds(*v);
        } else {
          c.limits.burst = static_cast<uint32_t>(*v);
        }
      } else if (key == "dedup") {
        try {
          c.limits.dedup = kv.second.as<bool>();
        } catch (const YAML::Exception&) {
          return Status::Error(where, "must be true or false");
        }
      } else {
        return Status::Error(where, "unknown key (window_s, burst, dedup)");
      }
    }
  }
  if (const YAML::Node st = root["stream"]) {
    if (!st.IsMap()) return Status::Error(YamlWhere(origin, st) + ": stream", "must be a mapping");
    for (const auto& kv : st) {
      const std::string key = kv.first.as<std::string>();
      const std::string where = YamlWhere(origin, kv.second) + ": stream." + key;
      if (key == "path" || key == "group" || key == "tls_listen" || key == "tls_cert" ||
          key == "tls_key" || key == "tls_client_ca") {
        std::string& field = key == "path"         ? c.stream.path
                             : key == "group"      ? c.stream.group
                             : key == "tls_listen" ? c.stream.tls_listen
                             : key == "tls_cert"   ? c.stream.tls_cert
                             : key == "tls_key"    ? c.stream.tls_key
                                                   : c.stream.tls_client_ca;
        field = kv.second.as<std::string>();
      } else if (key == "backlog" || key == "queue_bytes" || key == "max_subscribers") {
        auto v = Size(kv.second, where);
        if (!v.ok() && key != "backlog") return v.status();
        (key == "backlog"       ? c.stream.backlog
         : key == "queue_bytes" ? c.stream.queue_bytes
                                : c.stream.max_subscribers) = v.ok() ? *v : 0;
      } else {
        return Status::Error(where,
                             "unknown key (path, group, backlog, queue_bytes, max_subscribers, "
                             "tls_listen, tls_cert, tls_key, tls_client_ca)");
      }
    }
    if (c.stream.path.empty() || c.stream.path[0] != '/') {
      return Status::Error(YamlWhere(origin, st) + ": stream.path", "must be an absolute path");
    }
    if (!c.stream.tls_listen.empty()) {
      const std::string& l = c.stream.tls_listen;
      const size_t colon = l.rfind(':');
      const long port =
          colon == std::string::npos ? -1 : std::strtol(l.c_str() + colon + 1, nullptr, 10);
      if (colon == std::string::npos || colon == 0 || port < 1 || port > 65535) {
        return Status::Error(YamlWhere(origin, st["tls_listen"]) + ": stream.tls_listen",
                             "must be ADDRESS:PORT");
      }
      for (const char* k : {"tls_cert", "tls_key", "tls_client_ca"}) {
        if (!st[k] || st[k].as<std::string>().empty() || st[k].as<std::string>()[0] != '/') {
          return Status::Error(YamlWhere(origin, st) + ": stream." + k,
                               "must be an absolute path: the TLS stream requires a certificate, "
                               "its key and the CA of the clients allowed (mutual TLS)");
        }
      }
    }
  }
  if (root["spool_dir"]) {
    c.spool_dir = root["spool_dir"].as<std::string>();
    if (c.spool_dir.empty() || c.spool_dir[0] != '/') {
      return Status::Error(YamlWhere(origin, root["spool_dir"]) + ": spool_dir",
                           "must be an absolute directory");
    }
  }
  if (root["sinks"]) {
    const YAML::Node s = root["sinks"];
    if (!s.IsSequence()) return Status::Error(YamlWhere(origin, s) + ": sinks", "must be a list");
    std::set<std::string> names;
    for (size_t i = 0; i < s.size(); i++) {
      SinkConfig sc;
      if (Status st = ParseSink(s[i], origin, i, hostname, sc); !st.ok()) return st;
      if (!names.insert(sc.name).second) {
        return Status::Error(YamlWhere(origin, s[i]) + fmt::format(": sinks[{}].name", i),
                             "'" + sc.name + "' is used twice (it names the spool)");
      }
      c.sinks.push_back(std::move(sc));
    }
  }
  return c;
}

Result<DaemonConfig> DaemonConfig::Load(const std::string& path, const std::string& hostname) {
  auto text = ReadFileBounded(path, 1 << 20);
  if (!text.ok()) return text.status();
  return Parse(*text, path, hostname);
}

Result<std::unique_ptr<AlertRouter>> AlertRouter::Start(DaemonConfig config, DropFn on_drop) {
  std::unique_ptr<AlertRouter> r(new AlertRouter());
  r->on_drop_ = std::move(on_drop);
  if (!config.stream.path.empty()) {
    auto st = AlertStream::Start(config.stream);
    if (!st.ok()) return st.status();
    r->stream_ = std::move(st).value();
  }
  if (config.sinks.empty()) return r;
  std::error_code ec;
  std::filesystem::create_directories(config.spool_dir, ec);
  if (ec) return Status::Error("spool_dir " + config.spool_dir, ec.message());
  chmod(config.spool_dir.c_str(), 0700);  // alerts name users and paths
  for (auto& sc : config.sinks) {
    auto run = std::make_unique<Runner>();
    run->name = sc.name;
    run->type = sc.type;
    run->sink = std::move(sc.sink);
    auto spool = SpoolLog::Open(config.spool_dir + "/" + sc.name + ".spool", sc.spool_max_bytes);
    if (!spool.ok()) return spool.status();
    run->spool = std::move(spool).value();
    const uint64_t pending = run->spool->pending_lines();
    if (pending) spdlog::info("sink {}: {} alert(s) spooled before, delivering", sc.name, pending);
    r->runners_.push_back(std::move(run));
  }
  for (auto& run : r->runners_) {
    Runner* p = run.get();
    run->thread = std::thread([self = r.get(), p] { self->Run(*p); });
  }
  return r;
}

AlertRouter::~AlertRouter() {
  Stop();
}

void AlertRouter::Publish(std::string_view line) {
  if (stream_) stream_->Publish(line);
  for (auto& r : runners_) {
    if (!r->spool->Append(line)) {
      r->dropped++;
      if (r->unreported_drops++ == 0) {
        spdlog::error("sink {}: spool full: dropping alerts until it drains", r->name);
      }
      continue;
    }
    {
      std::lock_guard lock(r->mu);
      r->kicked = true;
    }
    r->cv.notify_one();
  }
}

void AlertRouter::Run(Runner& r) {
  auto backoff = std::chrono::milliseconds(kMinBackoff);
  for (;;) {
    {
      std::unique_lock lock(r.mu);
      if (r.stop) return;
    }
    std::vector<std::string> batch = r.spool->Peek(kBatch);
    if (batch.empty()) {
      std::unique_lock lock(r.mu);
      r.cv.wait_for(lock, std::chrono::seconds(1), [&] { return r.stop || r.kicked; });
      r.kicked = false;
      continue;
    }
    auto done = r.sink->Deliver(batch);
    const size_t n = done.ok() ? *done : 0;
    if (n) {
      r.spool->Commit(n);
      r.delivered += n;
    }
    if (n == batch.size()) {
      if (!r.healthy.exchange(true)) spdlog::info("sink {}: delivering again", r.name);
      backoff = kMinBackoff;
      if (uint64_t lost = r.unreported_drops.exchange(0); lost && on_drop_) on_drop_(r.name, lost);
      continue;
    }
    r.failures++;
    const std::string why = done.ok() ? "partial delivery" : done.status().message();
    {
      std::lock_guard lock(r.mu);
      r.last_error = why;
    }
    if (r.healthy.exchange(false)) {
      spdlog::warn("sink {}: {}: spooling, retrying with backoff", r.name, why);
    }
    std::unique_lock lock(r.mu);
    r.cv.wait_for(lock, backoff, [&] { return r.stop; });
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  }
}

void AlertRouter::Stop() {
  if (stream_) stream_->Stop();
  for (auto& r : runners_) {
    {
      std::lock_guard lock(r->mu);
      r->stop = true;
    }
    r->cv.notify_one();
  }
  for (auto& r : runners_) {
    if (r->thread.joinable()) r->thread.join();
  }
}

std::optional<StreamStats> AlertRouter::Stream() const {
  if (!stream_) return std::nullopt;
  return stream_->Stats();
}

std::vector<SinkStats> AlertRouter::Stats() {
  std::vector<SinkStats> out;
  for (auto& r : runners_) {
    SinkStats s;
    s.name = r->name;
    s.type = r->type;
    s.delivered = r->delivered;
    s.dropped = r->dropped;
    s.failures = r->failures;
    s.pending = r->spool->pending_lines();
    s.healthy = r->healthy;
    std::lock_guard lock(r->mu);
    s.last_error = r->last_error;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace nbw
