// SPDX-License-Identifier: Apache-2.0
// The daemon's operator interfaces, on the agent's own loop: the control
// socket (`nbwarden status`, `nbwarden reload`; one request line, one JSON
// reply) and Prometheus metrics with a health check over HTTP on loopback.
// Control connections are bounded in number and time, so no peer can take
// the fds model scans need; running short is alert NBW-SELF-004.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "agent/agent.h"
#include "common/fd_budget.h"
#include "common/peer.h"

namespace nbw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;
using tcp = asio::ip::tcp;

Status Agent::StartControl() {
  if (opts_.control_path.empty()) return Status::Ok();
  std::optional<gid_t> group;
  if (!opts_.control_group.empty()) {
    auto g = GroupId(opts_.control_group);
    if (!g.ok()) return Status::Error("control socket", g.status().message());
    group = *g;
  }
  std::error_code fec;
  std::filesystem::create_directories(std::filesystem::path(opts_.control_path).parent_path(), fec);
  boost::system::error_code ec;
  {
    // A socket someone answers on is another daemon's: not ours to remove.
    local::socket probe(io_);
    probe.connect(local::endpoint(opts_.control_path), ec);
    if (!ec) {
      return Status::Error("control socket " + opts_.control_path,
                           "another nbwardend is running (or give --control-socket)");
    }
    ec.clear();
  }
  control_ = std::make_unique<local::acceptor>(io_);
  control_->open(local(), ec);
  if (ec) return Status::Error("control socket " + opts_.control_path, ec.message());
  // Replaces the stale socket of a daemon that is gone.
  if (Status s = BindRestrictedSocket(control_->native_handle(), opts_.control_path, group);
      !s.ok()) {
    return s.Wrap("control socket");
  }
  control_->listen(16, ec);
  if (ec) return Status::Error("control socket " + opts_.control_path, ec.message());
  control_group_ = group;
  control_conns_ = std::make_shared<ControlConnections>();
  control_backoff_ = std::make_unique<asio::steady_timer>(io_);
  AcceptControl();
  spdlog::info("agent: control socket {}", opts_.control_path);
  return Status::Ok();
}

// What the control socket holds open, and why it refused others. Shared
// with each connection, whose end gives its slot back: a connection may
// outlive the agent inside the io_context.
struct Agent::ControlConnections {
  struct Conn {
    Conn(local::socket s, uid_t u, std::shared_ptr<ControlConnections> o)
        : sock(std::move(s)), timer(sock.get_executor()), uid(u), owner(std::move(o)) {
      owner->live.insert(this);
      owner->per_uid[uid]++;
    }
    ~Conn() {
      owner->live.erase(this);
      if (--owner->per_uid[uid] == 0) owner->per_uid.erase(uid);
    }
    void Close() {
      boost::system::error_code ignored;
      sock.close(ignored);
      timer.cancel();
    }
    local::socket sock;
    asio::streambuf buf{256};  // a request is one short line
    asio::steady_timer timer;
    const uid_t uid;
    const std::shared_ptr<ControlConnections> owner;
  };
  std::set<Conn*> live;
  std::map<uid_t, size_t> per_uid;
  uint64_t served = 0, refused_busy = 0, refused_fds = 0, timed_out = 0, accept_failed = 0;
};

// The metrics endpoint's open connections: each holds a slot until its last
// handler is gone (which may be after the agent, inside the io_context).
struct Agent::MetricsConnections {
  struct Slot {
    explicit Slot(std::shared_ptr<MetricsConnections> o) : owner(std::move(o)) { owner->open++; }
    ~Slot() { owner->open--; }
    const std::shared_ptr<MetricsConnections> owner;
  };
  size_t open = 0;
  uint64_t served = 0, refused = 0, accept_failed = 0;
};

void Agent::AcceptControl() {
  control_->async_accept([this](const boost::system::error_code& ec, local::socket sock) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    if (ec) {
      // EMFILE and kin: the connection stays queued, and accepting again at
      // once would spin. Wait a little.
      control_conns_->accept_failed++;
      ReportPressure("the control socket could not accept a connection: " + ec.message());
      control_backoff_->expires_after(std::chrono::milliseconds(100));
      control_backoff_->async_wait([this](const boost::system::error_code& tec) {
        if (!tec && !stopping_) AcceptControl();
      });
      return;
    }
    ServeControl(std::move(sock));
    AcceptControl();
  });
}

void Agent::ServeControl(local::socket sock) {
  boost::system::error_code ignored;
  const int fd = sock.native_handle();
  const std::optional<uid_t> uid = PeerUid(fd);
  if (!uid || !PeerAllowed(fd, control_group_)) {
    control_refused_++;
    sock.close(ignored);
    return;
  }
  ControlConnections& c = *control_conns_;
  if (const size_t left = FdHeadroom(); left < kFdReserve) {
    c.refused_fds++;
    sock.close(ignored);
    ReportPressure(
        fmt::format("a control connection (uid {}) was refused: {} fds left, {} are "
                    "kept for model scans and sinks",
                    *uid, left, kFdReserve));
    return;
  }
  const auto mine = c.per_uid.find(*uid);
  if (c.live.size() >= kControlMax ||
      (*uid != 0 && mine != c.per_uid.end() && mine->second >= kControlPerUid)) {
    c.refused_busy++;
    sock.close(ignored);
    ReportPressure(
        fmt::format("control connections refused: uid {} holds {}, {} open in all "
                    "(caps {} per uid, {} in all)",
                    *uid, mine == c.per_uid.end() ? 0 : mine->second, c.live.size(), kControlPerUid,
                    kControlMax));
    return;
  }
  c.served++;
  auto conn = std::make_shared<ControlConnections::Conn>(std::move(sock), *uid, control_conns_);
  // The request, the reply, all within kControlIdle: an idle peer holds no slot.
  conn->timer.expires_after(kControlIdle);
  conn->timer.async_wait([conn](const boost::system::error_code& tec) {
    if (tec) return;
    conn->owner->timed_out++;
    boost::system::error_code e;
    conn->sock.close(e);
  });
  asio::async_read_until(
      conn->sock, conn->buf, '\n', [this, conn](const boost::system::error_code& rec, size_t) {
        if (rec) return conn->Close();
        std::string cmd;
        std::istream in(&conn->buf);
        std::getline(in, cmd);
        nlohmann::json reply;
        if (cmd == "status") {
          reply = StatusJson(false);
        } else if (cmd == "reload") {
          Status st = Reload();
          reply = {{"ok", st.ok()}, {"policy_version", policy_version_}};
          if (!st.ok()) reply["error"] = st.message();
        } else {
          reply = {{"ok", false}, {"error", "unknown command (status, reload)"}};
        }
        auto out = std::make_shared<std::string>(reply.dump() + "\n");
        asio::async_write(conn->sock, asio::buffer(*out),
                          [conn, out](const boost::system::error_code&, size_t) { conn->Close(); });
      });
}

void Agent::StopControl() {
  if (metrics_backoff_) metrics_backoff_->cancel();
  if (!control_) return;
  boost::system::error_code ec;
  control_->close(ec);
  if (control_backoff_) control_backoff_->cancel();
  ::unlink(opts_.control_path.c_str());
  // Open connections end now: their handlers run with an error and return.
  for (auto* conn : control_conns_->live) conn->Close();
}

nlohmann::json Agent::ControlStatusJson() const {
  nlohmann::json j = {{"pressure_events", pressure_events_}};
  if (control_conns_) {
    const ControlConnections& c = *control_conns_;
    j.update({{"open", c.live.size()},
              {"served", c.served},
              {"refused_peer", control_refused_},
              {"refused_busy", c.refused_busy},
              {"refused_fds", c.refused_fds},
              {"timed_out", c.timed_out},
              {"accept_failed", c.accept_failed}});
  }
  if (metrics_conns_) {
    const MetricsConnections& m = *metrics_conns_;
    j["metrics"] = {{"open", m.open},
                    {"served", m.served},
                    {"refused", m.refused},
                    {"accept_failed", m.accept_failed}};
  }
  return j;
}

void Agent::ReportPressure(const std::string& what) {
  pressure_events_++;
  const auto now = std::chrono::steady_clock::now();
  if (last_pressure_alert_ && now - *last_pressure_alert_ < kPressureAlertEvery) {
    spdlog::debug("agent: resource pressure: {}", what);  // a flood must not flood the log
    return;
  }
  last_pressure_alert_ = now;
  spdlog::warn("agent: resource pressure: {}", what);
  EmitSelfAlert("NBW-SELF-004", "Resource pressure", Severity::kError,
                fmt::format("{} ({} pressure event(s) so far; {} fds free)", what, pressure_events_,
                            FdHeadroom()));
}

void Agent::CheckStreamPressure() {
  if (!opts_.router) return;
  const auto k = opts_.router->Stream();
  if (!k || k->refused_fds + k->accept_failed == stream_pressure_seen_) return;
  const uint64_t fresh = k->refused_fds + k->accept_failed - stream_pressure_seen_;
  stream_pressure_seen_ = k->refused_fds + k->accept_failed;
  ReportPressure(
      fmt::format("the alert stream refused or could not accept {} subscriber(s) for "
                  "lack of fds",
                  fresh));
}

Status Agent::StartMetrics() {
  if (opts_.metrics_listen.empty()) return Status::Ok();
  const size_t colon = opts_.metrics_listen.rfind(':');
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(
      colon == std::string::npos ? "" : opts_.metrics_listen.substr(0, colon), ec);
  const long port = colon == std::string::npos
                        ? -1
                        : std::strtol(opts_.metrics_listen.c_str() + colon + 1, nullptr, 10);
  if (ec || port < 1 || port > 65535) {
    return Status::Error("--metrics-listen " + opts_.metrics_listen, "must be ADDRESS:PORT");
  }
  // Counters say what is watched and what was missed: not for the network.
  if (!addr.is_loopback()) {
    return Status::Error("--metrics-listen " + opts_.metrics_listen,
                         "must be a loopback address (127.0.0.1 or ::1)");
  }
  metrics_ = std::make_unique<tcp::acceptor>(io_);
  tcp::endpoint ep(addr, static_cast<uint16_t>(port));
  metrics_->open(ep.protocol(), ec);
  if (!ec) metrics_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) metrics_->bind(ep, ec);
  if (!ec) metrics_->listen(16, ec);
  if (ec) return Status::Error("metrics " + opts_.metrics_listen, ec.message());
  metrics_conns_ = std::make_shared<MetricsConnections>();
  metrics_backoff_ = std::make_unique<asio::steady_timer>(io_);
  AcceptMetrics();
  spdlog::info("agent: metrics on http://{}/metrics", opts_.metrics_listen);
  return Status::Ok();
}

std::string Agent::MetricsText() {
  const nlohmann::json st = StatusJson(false);
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& body) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", name, help, name, type, body);
  };
  auto num = [](const nlohmann::json& j, const char* k) -> uint64_t {
    return j.contains(k) && j[k].is_number() ? j[k].get<uint64_t>() : 0;
  };
  const auto& s = st["sensor"];
  const auto& a = st["agent"];
  metric("nbwarden_events_total", "counter", "events decoded from the kernel",
         fmt::format("nbwarden_events_total {}\n", num(s, "events")));
  std::string drops;
  for (const char* r :
       {"ringbuf_full", "inflight_full", "tracked_full", "decode_errors", "seccomp_full"}) {
    drops += fmt::format("nbwarden_events_dropped_total{{reason=\"{}\"}} {}\n", r, num(s, r));
  }
  metric("nbwarden_events_dropped_total", "counter", "events lost, by reason", drops);
  metric("nbwarden_alerts_total", "counter", "alerts raised",
         fmt::format("nbwarden_alerts_total {}\n", num(a, "alerts")));
  metric("nbwarden_alerts_folded_total", "counter", "alerts folded by deduplication and limits",
         fmt::format("nbwarden_alerts_folded_total {}\n", num(a, "alerts_folded")));
  metric("nbwarden_enforced_total", "counter", "in-kernel enforcement",
         fmt::format("nbwarden_enforced_total{{action=\"kill\"}} {}\n"
                     "nbwarden_enforced_total{{action=\"deny\"}} {}\n",
                     num(s, "killed"), num(s, "denied")));
  metric("nbwarden_targets", "gauge", "processes watched as targets now",
         fmt::format("nbwarden_targets {}\n", num(a, "targets_live")));
  if (st.contains("sinks")) {
    std::string d, p, dr, h;
    for (const auto& k : st["sinks"]) {
      const std::string name = k.value("name", "");
      d += fmt::format("nbwarden_sink_delivered_total{{sink=\"{}\"}} {}\n", name,
                       num(k, "delivered"));
      p += fmt::format("nbwarden_sink_pending{{sink=\"{}\"}} {}\n", name, num(k, "pending"));
      dr += fmt::format("nbwarden_sink_dropped_total{{sink=\"{}\"}} {}\n", name, num(k, "dropped"));
      h += fmt::format("nbwarden_sink_up{{sink=\"{}\"}} {}\n", name,
                       k.value("healthy", false) ? 1 : 0);
    }
    metric("nbwarden_sink_delivered_total", "counter", "alerts a sink delivered", d);
    metric("nbwarden_sink_pending", "gauge", "alerts spooled, waiting for a sink", p);
    metric("nbwarden_sink_dropped_total", "counter", "alerts a full spool dropped", dr);
    metric("nbwarden_sink_up", "gauge", "1 if the sink's last delivery worked", h);
  }
  return out;
}

void Agent::AcceptMetrics() {
  metrics_->async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    MetricsConnections& m = *metrics_conns_;
    if (ec) {
      m.accept_failed++;
      ReportPressure("the metrics endpoint could not accept a connection: " + ec.message());
      metrics_backoff_->expires_after(std::chrono::milliseconds(100));
      metrics_backoff_->async_wait([this](const boost::system::error_code& tec) {
        if (!tec && !stopping_) AcceptMetrics();
      });
      return;
    }
    // Any local user can connect: bounded in number here, in time below.
    if (const size_t left = m.open < kMetricsMax ? FdHeadroom() : 0; left < kFdReserve) {
      m.refused++;
      boost::system::error_code ignored;
      sock.close(ignored);
      ReportPressure(fmt::format("a metrics connection was refused: {} open (cap {}), {} fds left",
                                 m.open, kMetricsMax, left));
      return AcceptMetrics();
    }
    m.served++;
    auto slot = std::make_shared<MetricsConnections::Slot>(metrics_conns_);
    auto stream = std::make_shared<beast::tcp_stream>(std::move(sock));
    auto buf = std::make_shared<beast::flat_buffer>();
    auto req = std::make_shared<http::request<http::empty_body>>();
    stream->expires_after(std::chrono::seconds(5));  // a slow client is dropped
    http::async_read(*stream, *buf, *req,
                     [this, slot, stream, buf, req](const boost::system::error_code& rec, size_t) {
                       if (rec) return;
                       auto res = std::make_shared<http::response<http::string_body>>();
                       res->version(req->version());
                       res->keep_alive(false);
                       const std::string target(req->target());
                       if (req->method() != http::verb::get) {
                         res->result(http::status::method_not_allowed);
                       } else if (target == "/metrics") {
                         res->set(http::field::content_type, "text/plain; version=0.0.4");
                         res->body() = MetricsText();
                       } else if (target == "/healthz") {
                         // Healthy: the sensor is attached and the loop answers (this
                         // reply is the loop answering).
                         const bool ok = sensor_ != nullptr && !stopping_;
                         res->result(ok ? http::status::ok : http::status::service_unavailable);
                         res->body() = ok ? "ok\n" : "stopping\n";
                       } else {
                         res->result(http::status::not_found);
                       }
                       res->prepare_payload();
                       http::async_write(
                           *stream, *res,
                           [slot, stream, res](const boost::system::error_code&, size_t) {
                             boost::system::error_code ignored;
                             stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
                           });
                     });
    AcceptMetrics();
  });
}

}  // namespace nbw
