// SPDX-License-Identifier: Apache-2.0
// nbwarden tail: the live alert stream (sinks/stream.h), filtered, as a
// readable coloured view on a terminal or as raw JSON lines.
#include <errno.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "common/terminal_text.h"
#include "common/unique_fd.h"
#include "main/cli.h"

namespace nbw::cli {
namespace {

const char* const kSeverities[] = {"emergency", "alert",  "critical",      "error",
                                   "warning",   "notice", "informational", "debug"};

int SeverityRank(const std::string& s) {
  for (int i = 0; i < 8; i++) {
    if (s == kSeverities[i]) return i;
  }
  return 4;
}

const char* Colour(int rank) {
  if (rank <= 2) return "\033[1;31m";  // emergency, alert, critical: bold red
  if (rank == 3) return "\033[31m";
  if (rank == 4) return "\033[33m";
  return "\033[36m";
}

std::string Str(const nlohmann::json& j, const char* a, const char* b = nullptr) {
  const nlohmann::json* p = &j;
  for (const char* k : {a, b}) {
    if (!k) break;
    if (!p->is_object() || !p->contains(k)) return "";
    p = &(*p)[k];
  }
  return p->is_string() ? p->get<std::string>() : p->is_number() ? p->dump() : "";
}

// TLS to a daemon's stream.tls_listen, with this client's certificate
// (the daemon requires one) and the CA that signed the daemon's.
Status ConnectTls(const TailOptions& o, boost::asio::io_context& io, boost::asio::ssl::context& ctx,
                  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>>& out) {
  namespace asio = boost::asio;
  const size_t colon = o.connect.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::Error("--connect " + o.connect, "must be HOST:PORT");
  }
  const std::string host = o.connect.substr(0, colon), port = o.connect.substr(colon + 1);
  boost::system::error_code ec;
  ctx.load_verify_file(o.ca, ec);
  if (!ec) ctx.use_certificate_chain_file(o.cert, ec);
  if (!ec) ctx.use_private_key_file(o.key, asio::ssl::context::pem, ec);
  if (ec) return Status::Error("TLS files (--ca, --cert, --key)", ec.message());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  ctx.set_verify_callback(asio::ssl::host_name_verification(host));
  out = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(io, ctx);
  SSL_set_tlsext_host_name(out->native_handle(), host.c_str());
  asio::ip::tcp::resolver resolver(io);
  auto eps = resolver.resolve(host, port, ec);
  if (!ec) asio::connect(out->lowest_layer(), eps, ec);
  if (ec) return Status::Error(o.connect, ec.message());
  out->handshake(asio::ssl::stream_base::client, ec);
  if (ec) return Status::Error(o.connect, "TLS: " + ec.message());
  return Status::Ok();
}

}  // namespace

int Tail(const TailOptions& o) {
  int min_rank = 7;
  if (!o.severity.empty()) {
    auto it = std::find(std::begin(kSeverities), std::end(kSeverities), o.severity);
    if (it == std::end(kSeverities)) {
      std::fprintf(stderr,
                   "nbwarden tail: --severity: '%s' is not one of emergency, alert, critical, "
                   "error, warning, notice, informational, debug\n",
                   o.severity.c_str());
      return 2;
    }
    min_rank = static_cast<int>(it - std::begin(kSeverities));
  }
  // The source of lines: the local unix socket, or TLS to a remote daemon.
  std::function<ssize_t(char*, size_t)> read_some;
  UniqueFd fd;
  boost::asio::io_context io;
  boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls;
  if (!o.connect.empty()) {
    auto st = ConnectTls(o, io, ctx, tls);
    if (!st.ok()) {
      std::fprintf(stderr, "nbwarden tail: %s\n", st.message().c_str());
      return 1;
    }
    read_some = [&](char* buf, size_t len) -> ssize_t {
      boost::system::error_code ec;
      size_t n = tls->read_some(boost::asio::buffer(buf, len), ec);
      if (ec == boost::asio::error::eof) return 0;
      if (ec) {
        // The daemon refusing our certificate arrives here (TLS 1.3 says so
        // after the handshake): an error, not the end of the stream.
        std::fprintf(stderr, "nbwarden tail: %s: %s\n", o.connect.c_str(), ec.message().c_str());
        return -1;
      }
      return static_cast<ssize_t>(n);
    };
  } else {
    fd.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un un = {};
    un.sun_family = AF_UNIX;
    if (o.socket.size() >= sizeof un.sun_path) {
      std::fprintf(stderr, "nbwarden tail: %s: path too long\n", o.socket.c_str());
      return 1;
    }
    std::strncpy(un.sun_path, o.socket.c_str(), sizeof un.sun_path - 1);
    if (!fd.valid() || connect(fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
      std::fprintf(stderr, "nbwarden tail: %s: %s (is nbwardend running with a stream?)\n",
                   o.socket.c_str(), std::strerror(errno));
      return 1;
    }
    read_some = [&](char* buf, size_t len) { return read(fd.get(), buf, len); };
  }
  const bool colour = !o.json && !o.no_colour && isatty(STDOUT_FILENO);
  std::string buf;
  size_t shown = 0;
  char chunk[65536];
  for (;;) {
    errno = 0;
    ssize_t n = read_some(chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 1;
    if (n == 0) break;  // the daemon stopped, or cut us off
    buf.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = buf.substr(start, nl - start);
      nlohmann::json a;
      try {
        a = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        std::fprintf(stderr, "nbwarden tail: skipping a line that is not JSON\n");
        continue;
      }
      const int rank = SeverityRank(Str(a, "severity"));
      if (rank > min_rank) continue;
      if (!o.rules.empty() &&
          std::find(o.rules.begin(), o.rules.end(), Str(a, "rule", "id")) == o.rules.end()) {
        continue;
      }
      if (!o.user.empty() && Str(a, "target", "user") != o.user) continue;
      if (o.json) {
        std::printf("%s\n", line.c_str());
      } else {
        // Every field escaped: paths, argv and names in an alert are the
        // watched processes' to choose, and a terminal obeys what it prints.
        const std::string time = Str(a, "time");
        std::string sev = Str(a, "severity");
        std::transform(sev.begin(), sev.end(), sev.begin(), ::toupper);
        const std::string user = Str(a, "target", "user");
        std::printf("%s  %s%-9s%s  %-12s  %s  %s  %s\n",
                    TerminalSafe(time.size() > 19 ? time.substr(11, 8) : time).c_str(),
                    colour ? Colour(rank) : "", TerminalSafe(sev).c_str(), colour ? "\033[0m" : "",
                    TerminalSafe(Str(a, "rule", "id")).c_str(),
                    TerminalSafe(Str(a, "host")).c_str(),
                    user.empty() ? "-" : TerminalSafe(user).c_str(),
                    TerminalSafe(Str(a, "summary")).c_str());
      }
      std::fflush(stdout);
      if (o.count && ++shown >= o.count) return 0;
    }
    buf.erase(0, start);
    if (buf.size() > (16u << 20)) buf.clear();  // no line is that long
  }
  return 0;
}

}  // namespace nbw::cli
