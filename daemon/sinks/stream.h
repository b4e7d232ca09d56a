// SPDX-License-Identifier: Apache-2.0
// AlertStream: a unix socket any number of subscribers attach to (`nbwarden
// tail`), each getting every alert raised while attached, as JSON lines,
// and on attach the last `backlog` alerts. Its own thread and io_context:
// Publish only posts. A subscriber that stops reading is cut off once its
// queue passes `queue_bytes` (counted), so no subscriber can slow detection
// or the others. The socket is 0660, owned by root and the configured
// group; a peer is also checked by SO_PEERCRED (root or that group).
// Connections are bounded so no peer can take the daemon's fds: at most
// max_subscribers in all, kPerUid per local peer uid (root's are not
// counted), kMaxHandshakes TLS handshakes at once (each within
// kHandshakeTimeout), and none while fewer than kFdReserve fds are left.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/status.h"

namespace nbw {

struct StreamConfig {
  std::string path;   // empty: no stream
  std::string group;  // may attach besides root; empty: root only
  // TCP with TLS, for subscribers on other machines: "ADDRESS:PORT", the
  // server's certificate and key, and the CA whose client certificates may
  // attach (mutual TLS is required: alerts name users and paths).
  std::string tls_listen, tls_cert, tls_key, tls_client_ca;
  size_t backlog = 100;  // alerts replayed to a new subscriber
  size_t queue_bytes = 1 << 20;
  size_t max_subscribers = 64;
};

struct StreamStats {
  uint64_t subscribers = 0, attached = 0, refused = 0, cut_off = 0, sent = 0;
  uint64_t refused_fds = 0;    // refused: too few fds left (counted in refused too)
  uint64_t accept_failed = 0;  // accept itself failed (EMFILE, ...)
};

class AlertStream {
 public:
  static Result<std::unique_ptr<AlertStream>> Start(const StreamConfig& c);
  ~AlertStream();
  void Publish(std::string_view line);  // any thread
  void Stop();
  StreamStats Stats() const;

  static constexpr size_t kPerUid = 8;
  static constexpr size_t kMaxHandshakes = 16;
  static constexpr std::chrono::seconds kHandshakeTimeout{10};

 public:
  struct Subscriber;

 private:
  AlertStream() = default;
  void Accept();
  void AcceptTls();
  // After a failed accept: count it, and accept again only after a pause
  // (the connection stays queued; retrying at once would spin).
  void AcceptFailed(std::function<void()> again);
  // Too few fds left for another connection: refuse it (counted).
  bool FdsShort();
  void Attach(std::shared_ptr<Subscriber> s);
  void Send(const std::shared_ptr<Subscriber>& s, const std::string& line);
  void Write(const std::shared_ptr<Subscriber>& s);
  void Drop(const std::shared_ptr<Subscriber>& s);

  StreamConfig cfg_;
  std::optional<gid_t> group_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> tls_acceptor_;
  std::set<std::shared_ptr<Subscriber>> subs_;  // io_ thread only
  std::deque<std::string> backlog_;             // io_ thread only
  std::map<uid_t, size_t> per_uid_;             // io_ thread only: local subscribers
  size_t handshaking_ = 0;                      // io_ thread only
  std::unique_ptr<boost::asio::steady_timer> backoff_;
  std::thread thread_;
  std::atomic<uint64_t> attached_{0}, refused_{0}, cut_off_{0}, sent_{0}, live_{0};
  std::atomic<uint64_t> refused_fds_{0}, accept_failed_{0};
};

}  // namespace nbw
