// SPDX-License-Identifier: Apache-2.0
#include "sinks/file_sink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace nbw {
namespace {

Status WriteAll(int fd, const std::string& s, const std::string& what) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno(what, errno);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

FileSink::FileSink(std::string path, uint64_t max_bytes, int keep)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {}

Status FileSink::Reopen() {
  fd_.reset(open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd_.valid()) return Status::FromErrno(path_, errno);
  struct stat st = {};
  fstat(fd_.get(), &st);
  size_ = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

Status FileSink::Rotate() {
  fd_.reset();
  for (int i = keep_; i >= 1; i--) {
    const std::string from = i == 1 ? path_ : fmt::format("{}.{}", path_, i - 1);
    const std::string to = fmt::format("{}.{}", path_, i);
    if (rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno("rotating " + from, errno);
    }
  }
  if (keep_ == 0) unlink(path_.c_str());
  return Reopen();
}

Result<size_t> FileSink::Deliver(const std::vector<std::string>& alerts) {
  if (!fd_.valid()) {
    if (Status s = Reopen(); !s.ok()) return s;
  }
  size_t done = 0;
  for (const auto& a : alerts) {
    if (size_ > 0 && size_ + a.size() + 1 > max_bytes_) {
      if (Status s = Rotate(); !s.ok()) return done ? Result<size_t>(done) : Result<size_t>(s);
    }
    if (Status s = WriteAll(fd_.get(), a + "\n", path_); !s.ok()) {
      fd_.reset();
      return done ? Result<size_t>(done) : Result<size_t>(s);
    }
    size_ += a.size() + 1;
    done++;
  }
  return done;
}

SyslogSink::SyslogSink(SyslogTarget t) : t_(std::move(t)) {}

std::string SyslogSink::Format(const SyslogTarget& t, const std::string& alert_json) {
  std::string severity = "warning", time = "-", msgid = "-";
  try {
    auto a = nlohmann::json::parse(alert_json);
    severity = a.value("severity", severity);
    time = a.value("time", time);
    if (a.contains("rule") && a["rule"].is_object()) msgid = a["rule"].value("id", msgid);
  } catch (const nlohmann::json::exception&) {
  }
  const int pri = t.facility * 8 + SyslogSeverity(severity);
  // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
  return fmt::format("<{}>1 {} {} {} {} {} - {}", pri, time, t.hostname.empty() ? "-" : t.hostname,
                     t.app_name, getpid(), msgid, alert_json);
}

Status SyslogSink::Connect() {
  fd_.reset();
  if (t_.transport == "unix") {
    fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un un = {};
    un.sun_family = AF_UNIX;
    std::strncpy(un.sun_path, t_.path.c_str(), sizeof un.sun_path - 1);
    if (!fd_.valid() || connect(fd_.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
      fd_.reset();
      return Status::FromErrno("syslog " + t_.path, errno);
    }
    return Status::Ok();
  }
  addrinfo hints = {}, *res = nullptr;
  hints.ai_socktype = t_.transport == "udp" ? SOCK_DGRAM : SOCK_STREAM;
  const std::string port = std::to_string(t_.port);
  if (int e = getaddrinfo(t_.host.c_str(), port.c_str(), &hints, &res); e != 0) {
    return Status::Error("syslog " + t_.host, gai_strerror(e));
  }
  int err = ECONNREFUSED;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd_.reset(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd_.valid() && connect(fd_.get(), ai->ai_addr, ai->ai_addrlen) == 0) break;
    err = errno;
    fd_.reset();
  }
  freeaddrinfo(res);
  if (!fd_.valid()) return Status::FromErrno(fmt::format("syslog {}:{}", t_.host, t_.port), err);
  timeval tv = {5, 0};
  setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return Status::Ok();
}

Result<size_t> SyslogSink::Deliver(const std::vector<std::string>& alerts) {
  if (!fd_.valid()) {
    if (Status s = Connect(); !s.ok()) return s;
  }
  size_t done = 0;
  for (const auto& a : alerts) {
    std::string msg = Format(t_, a);
    // TCP: octet counting (RFC 6587), so a message may hold anything.
    if (t_.transport == "tcp") msg = fmt::format("{} {}", msg.size(), msg);
    Status s = WriteAll(fd_.get(), msg, "syslog");
    if (!s.ok()) {
      fd_.reset();
      return done ? Result<size_t>(done) : Result<size_t>(s);
    }
    done++;
  }
  return done;
}

}  // namespace nbw
