// SPDX-License-Identifier: Apache-2.0
#include "sinks/router.h"

#include <errno.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/file.h"
#include "common/yaml_reader.h"
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

// Facility by name, or -1.
int Facility(const std::string& name) {
  static const std::map<std::string, int> kNames = {
      {"kern", 0},      {"user", 1},    {"daemon", 3},  {"auth", 4},    {"syslog", 5},
      {"authpriv", 10}, {"audit", 13},  {"local0", 16}, {"local1", 17}, {"local2", 18},
      {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23}};
  auto it = kNames.find(name);
  return it == kNames.end() ? -1 : it->second;
}

constexpr uint64_t kMaxBytes = uint64_t{1} << 40;  // any size a disk takes

// A sink name becomes file names in spool_dir: a NUL would end the path
// early (the spool and its offset file would be one file), '/' and '..'
// would leave the directory.
bool IsSinkName(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// RFC 7230 token: what a header name may be.
bool IsHttpToken(std::string_view s) {
  static constexpr std::string_view kPunct = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kPunct.find(c) != std::string_view::npos;
  });
}

// RFC 7230 field-value: no CR, LF, NUL or other control (tab is allowed).
// A CR/LF would end the header and start another, or the body.
bool IsHttpFieldValue(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

Status ParseSink(const YAML::Node& n, const YamlReader& yr, size_t i, const std::string& hostname,
                 SinkConfig& out) {
  const std::string field = fmt::format("sinks[{}]", i);
  auto err = [&](const YAML::Node& where, const std::string& key, const std::string& what) {
    return yr.Error(where, field + (key.empty() ? "" : "." + key), what);
  };
  if (Status s = yr.KnownKeys(
          n, field,
          {"name", "type", "spool_max_bytes", "path", "max_bytes", "keep", "transport", "address",
           "facility", "app_name", "url", "tls_verify", "ca_file", "headers", "timeout_ms"});
      !s.ok()) {
    return s;
  }
  // A present key's string; absent: `fallback`.
  auto str = [&](const char* key, std::string& v, std::string fallback = {}) -> Status {
    if (!n[key]) {
      v = std::move(fallback);
      return Status::Ok();
    }
    auto r = yr.Str(n[key], field + "." + key);
    if (!r.ok()) return r.status();
    v = std::move(r).value();
    return Status::Ok();
  };
  auto u64 = [&](const char* key, uint64_t lo, uint64_t hi, uint64_t& v) -> Status {
    if (!n[key]) return Status::Ok();
    auto r = yr.U64InRange(n[key], field + "." + key, lo, hi);
    if (!r.ok()) return r.status();
    v = *r;
    return Status::Ok();
  };
  out.origin = yr.Where(n);
  if (Status s = str("type", out.type); !s.ok()) return s;
  if (Status s = str("name", out.name, out.type + std::to_string(i)); !s.ok()) return s;
  if (!IsSinkName(out.name)) {
    return err(n["name"] ? n["name"] : n, "name",
               "must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' (it "
               "names the spool file)");
  }
  if (Status s = u64("spool_max_bytes", 1, kMaxBytes, out.spool_max_bytes); !s.ok()) return s;
  if (out.type == "file") {
    std::string path;
    if (Status s = str("path", path); !s.ok()) return s;
    if (path.empty() || path[0] != '/') {
      return err(n["path"] ? n["path"] : n, "path", "must be an absolute file path");
    }
    uint64_t max = 100 << 20, keep = 5;
    if (Status s = u64("max_bytes", 1, kMaxBytes, max); !s.ok()) return s;
    if (Status s = u64("keep", 0, 100, keep); !s.ok()) return s;
    out.sink = std::make_unique<FileSink>(path, max, static_cast<int>(keep));
  } else if (out.type == "syslog") {
    SyslogTarget t;
    t.hostname = hostname;
    if (Status s = str("transport", t.transport, "udp"); !s.ok()) return s;
    if (t.transport != "udp" && t.transport != "tcp" && t.transport != "unix") {
      return err(n["transport"], "transport", "must be udp, tcp or unix");
    }
    std::string addr;
    if (Status s = str("address", addr); !s.ok()) return s;
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
      std::string name;
      if (Status s = str("facility", name); !s.ok()) return s;
      t.facility = Facility(name);
      if (t.facility < 0) {
        return err(n["facility"], "facility",
                   "must be kern, user, daemon, auth, syslog, authpriv, audit or local0-7");
      }
    }
    if (Status s = str("app_name", t.app_name, t.app_name); !s.ok()) return s;
    // RFC 5424 APP-NAME: 1 to 48 printable US-ASCII characters.
    if (t.app_name.empty() || t.app_name.size() > 48 ||
        !std::all_of(t.app_name.begin(), t.app_name.end(),
                     [](char c) { return c > 32 && c < 127; })) {
      return err(n["app_name"], "app_name", "must be 1 to 48 printable ASCII characters");
    }
    out.sink = std::make_unique<SyslogSink>(std::move(t));
  } else if (out.type == "webhook") {
    std::string url;
    if (Status s = str("url", url); !s.ok()) return s;
    auto t = WebhookTarget::FromUrl(url);
    if (!t.ok()) return err(n["url"] ? n["url"] : n, "url", t.status().message());
    if (n["tls_verify"]) {
      auto v = yr.Bool(n["tls_verify"], field + ".tls_verify");
      if (!v.ok()) return v.status();
      t->tls_verify = *v;
    }
    if (Status s = str("ca_file", t->ca_file); !s.ok()) return s;
    if (n["headers"]) {
      const std::string hf = field + ".headers";
      if (Status s = yr.Map(n["headers"], hf); !s.ok()) return s;
      for (const auto& kv : n["headers"]) {
        auto k = yr.Key(kv.first, hf);
        if (!k.ok()) return k.status();
        const std::string kf = hf + "." + *k;
        if (!IsHttpToken(*k)) {
          return yr.Error(kv.first, kf, "a header name must be an HTTP token (RFC 7230)");
        }
        auto v = yr.Str(kv.second, kf);
        if (!v.ok()) return v.status();
        if (!IsHttpFieldValue(*v)) {
          return yr.Error(kv.second, kf,
                          "a header value must not hold CR, LF, NUL or other control characters");
        }
        t->headers[*k] = *v;
      }
    }
    uint64_t ms = static_cast<uint64_t>(t->timeout.count());
    if (Status s = u64("timeout_ms", 1, 600000, ms); !s.ok()) return s;
    t->timeout = std::chrono::milliseconds(ms);
    out.sink = std::make_unique<WebhookSink>(std::move(t).value());
  } else {
    return err(n["type"] ? n["type"] : n, "type", "must be file, syslog or webhook");
  }
  return Status::Ok();
}

Status ParseLimits(const YAML::Node& l, const YamlReader& yr, LimiterConfig& out) {
  if (Status s = yr.KnownKeys(l, "limits", {"window_s", "burst", "dedup"}); !s.ok()) return s;
  out.enabled = true;
  constexpr uint64_t kWeek = 86400 * 7;
  if (l["window_s"]) {
    auto v = yr.U64InRange(l["window_s"], "limits.window_s", 1, kWeek);
    if (!v.ok()) return v.status();
    out.window = std::chrono::seconds(*v);
  }
  if (l["burst"]) {
    auto v = yr.U64InRange(l["burst"], "limits.burst", 1, kWeek);
    if (!v.ok()) return v.status();
    out.burst = static_cast<uint32_t>(*v);
  }
  if (l["dedup"]) {
    auto v = yr.Bool(l["dedup"], "limits.dedup");
    if (!v.ok()) return v.status();
    out.dedup = *v;
  }
  return Status::Ok();
}

Status ParseStream(const YAML::Node& st, const YamlReader& yr, StreamConfig& out) {
  if (Status s = yr.KnownKeys(st, "stream",
                              {"path", "group", "backlog", "queue_bytes", "max_subscribers",
                               "tls_listen", "tls_cert", "tls_key", "tls_client_ca"});
      !s.ok()) {
    return s;
  }
  for (const auto& kv : st) {
    const std::string key = kv.first.Scalar();  // KnownKeys: a string
    const std::string field = "stream." + key;
    if (key == "backlog" || key == "queue_bytes" || key == "max_subscribers") {
      const uint64_t lo = key == "backlog" ? 0 : 1;
      const uint64_t hi = key == "backlog" ? 100000 : key == "queue_bytes" ? kMaxBytes : 100000;
      auto v = yr.U64InRange(kv.second, field, lo, hi);
      if (!v.ok()) return v.status();
      (key == "backlog"       ? out.backlog
       : key == "queue_bytes" ? out.queue_bytes
                              : out.max_subscribers) = *v;
      continue;
    }
    auto v = yr.Str(kv.second, field);
    if (!v.ok()) return v.status();
    (key == "path"         ? out.path
     : key == "group"      ? out.group
     : key == "tls_listen" ? out.tls_listen
     : key == "tls_cert"   ? out.tls_cert
     : key == "tls_key"    ? out.tls_key
                           : out.tls_client_ca) = std::move(v).value();
  }
  if (out.path.empty() || out.path[0] != '/') {
    return yr.Error(st["path"] ? st["path"] : st, "stream.path", "must be an absolute path");
  }
  if (!out.tls_listen.empty()) {
    const std::string& l = out.tls_listen;
    const size_t colon = l.rfind(':');
    const long port =
        colon == std::string::npos ? -1 : std::strtol(l.c_str() + colon + 1, nullptr, 10);
    if (colon == std::string::npos || colon == 0 || port < 1 || port > 65535) {
      return yr.Error(st["tls_listen"], "stream.tls_listen", "must be ADDRESS:PORT");
    }
    for (const std::string* p : {&out.tls_cert, &out.tls_key, &out.tls_client_ca}) {
      if (p->empty() || (*p)[0] != '/') {
        const char* k = p == &out.tls_cert  ? "tls_cert"
                        : p == &out.tls_key ? "tls_key"
                                            : "tls_client_ca";
        return yr.Error(st[k] ? st[k] : st, std::string("stream.") + k,
                        "must be an absolute path: the TLS stream requires a certificate, "
                        "its key and the CA of the clients allowed (mutual TLS)");
      }
    }
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
  const YamlReader yr(origin);
  if (!root.IsMap()) return yr.Error(root, "", "must be a mapping");
  if (Status s = yr.KnownKeys(root, "", {"spool_dir", "sinks", "stream", "limits"}); !s.ok()) {
    return s;
  }
  if (const YAML::Node l = root["limits"]) {
    if (Status s = ParseLimits(l, yr, c.limits); !s.ok()) return s;
  }
  if (const YAML::Node st = root["stream"]) {
    if (Status s = ParseStream(st, yr, c.stream); !s.ok()) return s;
  }
  if (root["spool_dir"]) {
    auto d = yr.Str(root["spool_dir"], "spool_dir");
    if (!d.ok()) return d.status();
    c.spool_dir = std::move(d).value();
    if (c.spool_dir.empty() || c.spool_dir[0] != '/') {
      return yr.Error(root["spool_dir"], "spool_dir", "must be an absolute directory");
    }
  }
  if (root["sinks"]) {
    const YAML::Node s = root["sinks"];
    if (Status st = yr.List(s, "sinks"); !st.ok()) return st;
    std::set<std::string> names;
    for (size_t i = 0; i < s.size(); i++) {
      SinkConfig sc;
      if (Status st = ParseSink(s[i], yr, i, hostname, sc); !st.ok()) return st;
      if (!names.insert(sc.name).second) {
        return yr.Error(s[i], fmt::format("sinks[{}].name", i),
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

Result<std::unique_ptr<AlertRouter>> AlertRouter::Start(DaemonConfig config) {
  std::unique_ptr<AlertRouter> r(new AlertRouter());
  if (!config.stream.path.empty()) {
    auto st = AlertStream::Start(config.stream);
    if (!st.ok()) return st.status();
    r->stream_ = std::move(st).value();
  }
  if (config.sinks.empty()) return r;
  auto dir = SpoolDir::Open(config.spool_dir);
  if (!dir.ok()) return dir.status();
  for (auto& sc : config.sinks) {
    auto run = std::make_unique<Runner>();
    run->name = sc.name;
    run->type = sc.type;
    run->sink = std::move(sc.sink);
    auto spool = SpoolLog::Open(*dir, sc.name + ".spool", sc.spool_max_bytes);
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

void AlertRouter::SetDropObserver(SinkDropObserver* observer) {
  std::lock_guard lock(observer_mu_);
  observer_ = observer;
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
      if (r.unreported_drops.load() != 0) {
        std::lock_guard lock(observer_mu_);
        if (observer_) {
          if (uint64_t lost = r.unreported_drops.exchange(0)) observer_->OnSinkDrops(r.name, lost);
        }
      }
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
