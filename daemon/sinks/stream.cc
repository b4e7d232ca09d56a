// SPDX-License-Identifier: Apache-2.0
#include "sinks/stream.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <filesystem>
#include <functional>

#include "common/fd_budget.h"
#include "common/peer.h"

namespace nbw {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

using tcp = asio::ip::tcp;

// A subscriber over a unix socket or TLS: the queue logic is the same.
struct AlertStream::Subscriber {
  virtual ~Subscriber() = default;
  using Done = std::function<void(const boost::system::error_code&)>;
  virtual void Write(const std::string& data, Done done) = 0;
  virtual void WaitForLeave(Done done) = 0;  // subscribers do not talk
  virtual void Close() = 0;
  std::deque<std::string> queue;
  size_t queued = 0;
  bool writing = false;
  char probe = 0;
  std::optional<uid_t> uid;  // a local peer's, for the per-uid cap
};

namespace {

// The same subscriber over any stream: a unix socket, or TLS over TCP.
template <typename Stream>
struct StreamSubscriber : AlertStream::Subscriber {
  template <typename... Args>
  explicit StreamSubscriber(Args&&... args) : stream(std::forward<Args>(args)...) {}
  void Write(const std::string& d, Done done) override {
    asio::async_write(stream, asio::buffer(d),
                      [done](const boost::system::error_code& ec, size_t) { done(ec); });
  }
  void WaitForLeave(Done done) override {
    stream.async_read_some(asio::buffer(&probe, 1),
                           [done](const boost::system::error_code& ec, size_t) { done(ec); });
  }
  void Close() override {
    boost::system::error_code ec;
    stream.lowest_layer().close(ec);
  }
  Stream stream;
};
using LocalSubscriber = StreamSubscriber<local::socket>;
using TlsSubscriber = StreamSubscriber<asio::ssl::stream<tcp::socket>>;

}  // namespace

Result<std::unique_ptr<AlertStream>> AlertStream::Start(const StreamConfig& c) {
  std::unique_ptr<AlertStream> s(new AlertStream());
  s->cfg_ = c;
  if (!c.group.empty()) {
    auto g = GroupId(c.group);
    if (!g.ok()) return Status::Error("stream", g.status().message());
    s->group_ = *g;
  }
  std::error_code fec;
  std::filesystem::create_directories(std::filesystem::path(c.path).parent_path(), fec);
  boost::system::error_code ec;
  s->acceptor_ = std::make_unique<local::acceptor>(s->io_);
  s->acceptor_->open(local(), ec);
  if (ec) return Status::Error("stream " + c.path, ec.message());
  // Replaces a stale socket from a previous run.
  if (Status st = BindRestrictedSocket(s->acceptor_->native_handle(), c.path, s->group_);
      !st.ok()) {
    return st.Wrap("stream");
  }
  s->acceptor_->listen(64, ec);
  if (ec) return Status::Error("stream " + c.path, ec.message());
  s->backoff_ = std::make_unique<asio::steady_timer>(s->io_);
  s->Accept();
  if (!c.tls_listen.empty()) {
    s->tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    s->tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1);
    s->tls_->use_certificate_chain_file(c.tls_cert, ec);
    if (!ec) s->tls_->use_private_key_file(c.tls_key, asio::ssl::context::pem, ec);
    if (!ec) s->tls_->load_verify_file(c.tls_client_ca, ec);
    if (ec) return Status::Error("stream TLS", ec.message());
    // Mutual TLS: no client certificate from that CA, no alerts.
    s->tls_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    const size_t colon = c.tls_listen.rfind(':');
    const auto addr = asio::ip::make_address(c.tls_listen.substr(0, colon), ec);
    if (ec) return Status::Error("stream.tls_listen " + c.tls_listen, ec.message());
    tcp::endpoint ep(addr, static_cast<uint16_t>(std::stoi(c.tls_listen.substr(colon + 1))));
    s->tls_acceptor_ = std::make_unique<tcp::acceptor>(s->io_);
    s->tls_acceptor_->open(ep.protocol(), ec);
    if (!ec) s->tls_acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s->tls_acceptor_->bind(ep, ec);
    if (!ec) s->tls_acceptor_->listen(64, ec);
    if (ec) return Status::Error("stream.tls_listen " + c.tls_listen, ec.message());
    s->AcceptTls();
  }
  s->thread_ = std::thread([p = s.get()] { p->io_.run(); });
  return s;
}

AlertStream::~AlertStream() {
  Stop();
}

void AlertStream::Stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_->close(ec);
    if (tls_acceptor_) tls_acceptor_->close(ec);
    backoff_->cancel();
    for (const auto& s : subs_) s->Close();
    subs_.clear();
  });
  io_.stop();
  thread_.join();
  ::unlink(cfg_.path.c_str());
}

void AlertStream::AcceptFailed(std::function<void()> again) {
  accept_failed_++;
  backoff_->expires_after(std::chrono::milliseconds(100));
  backoff_->async_wait([again = std::move(again)](const boost::system::error_code& ec) {
    if (!ec) again();
  });
}

bool AlertStream::FdsShort() {
  if (FdHeadroom() >= kFdReserve) return false;
  refused_fds_++;
  return true;
}

void AlertStream::Accept() {
  acceptor_->async_accept([this](const boost::system::error_code& ec, local::socket sock) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) return AcceptFailed([this] { Accept(); });
    const std::optional<uid_t> uid = PeerUid(sock.native_handle());
    const auto mine = uid ? per_uid_.find(*uid) : per_uid_.end();
    if (!uid || !PeerAllowed(sock.native_handle(), group_) || FdsShort() ||
        (*uid != 0 && mine != per_uid_.end() && mine->second >= kPerUid)) {
      refused_++;
      boost::system::error_code ignored;
      sock.close(ignored);
    } else {
      auto sub = std::make_shared<LocalSubscriber>(std::move(sock));
      if (*uid != 0) sub->uid = uid;
      Attach(std::move(sub));
    }
    Accept();
  });
}

void AlertStream::AcceptTls() {
  tls_acceptor_->async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) return AcceptFailed([this] { AcceptTls(); });
    if (handshaking_ >= kMaxHandshakes || FdsShort()) {
      refused_++;
      boost::system::error_code ignored;
      sock.close(ignored);
      return AcceptTls();
    }
    auto s = std::make_shared<TlsSubscriber>(std::move(sock), *tls_);
    // The handshake verifies the client's certificate; bounded in time and
    // in number so silent peers cannot hold slots.
    handshaking_++;
    auto timer = std::make_shared<asio::steady_timer>(io_, kHandshakeTimeout);
    timer->async_wait([s](const boost::system::error_code& tec) {
      if (!tec) s->Close();
    });
    s->stream.async_handshake(asio::ssl::stream_base::server,
                              [this, s, timer](const boost::system::error_code& hec) {
                                handshaking_--;
                                timer->cancel();
                                if (hec) {
                                  refused_++;
                                  s->Close();
                                  return;
                                }
                                Attach(s);
                              });
    AcceptTls();
  });
}

void AlertStream::Attach(std::shared_ptr<Subscriber> s) {
  if (subs_.size() >= cfg_.max_subscribers) {
    refused_++;
    s->Close();
    return;
  }
  subs_.insert(s);
  if (s->uid) per_uid_[*s->uid]++;
  attached_++;
  live_ = subs_.size();
  for (const auto& line : backlog_) Send(s, line);
  s->WaitForLeave([this, s](const boost::system::error_code&) { Drop(s); });
}

void AlertStream::Publish(std::string_view line) {
  asio::post(io_, [this, l = std::string(line) + "\n"] {
    backlog_.push_back(l);
    while (backlog_.size() > cfg_.backlog) backlog_.pop_front();
    // Copy: Send may drop a subscriber from the set.
    auto subs = subs_;
    for (const auto& s : subs) Send(s, l);
  });
}

void AlertStream::Send(const std::shared_ptr<Subscriber>& s, const std::string& line) {
  if (s->queued + line.size() > cfg_.queue_bytes) {
    cut_off_++;
    spdlog::warn("stream: a subscriber stopped reading ({} bytes queued): cut off", s->queued);
    Drop(s);
    return;
  }
  s->queue.push_back(line);
  s->queued += line.size();
  if (!s->writing) Write(s);
}

void AlertStream::Write(const std::shared_ptr<Subscriber>& s) {
  if (s->queue.empty()) {
    s->writing = false;
    return;
  }
  s->writing = true;
  s->Write(s->queue.front(), [this, s](const boost::system::error_code& ec) {
    if (ec) {
      Drop(s);
      return;
    }
    s->queued -= s->queue.front().size();
    s->queue.pop_front();
    sent_++;
    Write(s);
  });
}

void AlertStream::Drop(const std::shared_ptr<Subscriber>& s) {
  if (!subs_.erase(s)) return;
  if (s->uid && --per_uid_[*s->uid] == 0) per_uid_.erase(*s->uid);
  s->Close();
  live_ = subs_.size();
}

StreamStats AlertStream::Stats() const {
  return {live_.load(), attached_.load(),    refused_.load(),      cut_off_.load(),
          sent_.load(), refused_fds_.load(), accept_failed_.load()};
}

}  // namespace nbw
