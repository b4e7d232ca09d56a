// SPDX-License-Identifier: Apache-2.0
#include "sinks/stream.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <filesystem>

#include "common/peer.h"

namespace nbw {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

struct AlertStream::Subscriber {
  explicit Subscriber(local::socket s) : sock(std::move(s)) {}
  local::socket sock;
  std::deque<std::string> queue;
  size_t queued = 0;
  bool writing = false;
  char probe = 0;  // read into, to see the peer leave
};

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
  ::unlink(c.path.c_str());  // a stale socket from a previous run
  boost::system::error_code ec;
  s->acceptor_ = std::make_unique<local::acceptor>(s->io_);
  s->acceptor_->open(local(), ec);
  // Not reachable before its mode is set: bind under a restrictive umask.
  const mode_t old = umask(0177);
  if (!ec) s->acceptor_->bind(local::endpoint(c.path), ec);
  umask(old);
  if (!ec) s->acceptor_->listen(64, ec);
  if (ec) return Status::Error("stream " + c.path, ec.message());
  if (Status st = RestrictSocketFile(c.path, s->group_); !st.ok()) return st;
  s->Accept();
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
    for (const auto& s : subs_) s->sock.close(ec);
    subs_.clear();
  });
  io_.stop();
  thread_.join();
  ::unlink(cfg_.path.c_str());
}

void AlertStream::Accept() {
  acceptor_->async_accept([this](const boost::system::error_code& ec, local::socket sock) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (!PeerAllowed(sock.native_handle(), group_) || subs_.size() >= cfg_.max_subscribers) {
        refused_++;
        boost::system::error_code ignored;
        sock.close(ignored);
      } else {
        auto s = std::make_shared<Subscriber>(std::move(sock));
        subs_.insert(s);
        attached_++;
        live_ = subs_.size();
        for (const auto& line : backlog_) Send(s, line);
        // Subscribers do not talk; a read completing means they left.
        s->sock.async_read_some(asio::buffer(&s->probe, 1),
                                [this, s](const boost::system::error_code&, size_t) { Drop(s); });
      }
    }
    Accept();
  });
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
  asio::async_write(s->sock, asio::buffer(s->queue.front()),
                    [this, s](const boost::system::error_code& ec, size_t) {
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
  boost::system::error_code ec;
  s->sock.close(ec);
  live_ = subs_.size();
}

StreamStats AlertStream::Stats() const {
  return {live_.load(), attached_.load(), refused_.load(), cut_off_.load(), sent_.load()};
}

}  // namespace nbw
