// SPDX-License-Identifier: Apache-2.0
// AlertStream: a unix socket any number of subscribers attach to (`nbwarden
// tail`), each getting every alert raised while attached, as JSON lines,
// and on attach the last `backlog` alerts. Its own thread and io_context:
// Publish only posts. A subscriber that stops reading is cut off once its
// queue passes `queue_bytes` (counted), so no subscriber can slow detection
// or the others. The socket is 0660, owned by root and the configured
// group; a peer is also checked by SO_PEERCRED (root or that group).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdint>
#include <deque>
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
};

class AlertStream {
 public:
  static Result<std::unique_ptr<AlertStream>> Start(const StreamConfig& c);
  ~AlertStream();
  void Publish(std::string_view line);  // any thread
  void Stop();
  StreamStats Stats() const;

 public:
  struct Subscriber;

 private:
  AlertStream() = default;
  void Accept();
  void AcceptTls();
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
  std::thread thread_;
  std::atomic<uint64_t> attached_{0}, refused_{0}, cut_off_{0}, sent_{0}, live_{0};
};

}  // namespace nbw
