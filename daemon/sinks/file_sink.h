// SPDX-License-Identifier: Apache-2.0
// Sinks to local places and syslog: JSON lines to a file rotated by size,
// and RFC 5424 syslog over UDP, TCP (octet-counted framing, RFC 6587) or a
// unix datagram socket, with the alert's JSON as the message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "sinks/sink.h"

namespace nbw {

class FileSink : public Sink {
 public:
  // Rotates when the file would pass max_bytes: path -> path.1 -> ... ->
  // path.<keep>, the oldest removed.
  FileSink(std::string path, uint64_t max_bytes, int keep);
  Result<size_t> Deliver(const std::vector<std::string>& alerts) override;

 private:
  Status Reopen();
  Status Rotate();
  std::string path_;
  uint64_t max_bytes_;
  int keep_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};

struct SyslogTarget {
  std::string transport;  // udp, tcp, unix
  std::string host;       // udp/tcp
  uint16_t port = 514;
  std::string path;   // unix
  int facility = 13;  // log audit (RFC 5424: 13)
  std::string app_name = "nbwarden";
  std::string hostname;  // the message's HOSTNAME
};

class SyslogSink : public Sink {
 public:
  explicit SyslogSink(SyslogTarget t);
  Result<size_t> Deliver(const std::vector<std::string>& alerts) override;
  // The RFC 5424 message for one alert (exposed for tests).
  static std::string Format(const SyslogTarget& t, const std::string& alert_json);

 private:
  Status Connect();
  SyslogTarget t_;
  UniqueFd fd_;
};

}  // namespace nbw
