// SPDX-License-Identifier: Apache-2.0
#include "sinks/webhook_sink.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace nbw {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

template <typename Stream>
Status Exchange(Stream& stream, const WebhookTarget& t, const std::string& body) {
  http::request<http::string_body> req{http::verb::post, t.path, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, "nbwarden");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : t.headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return Status::Error("webhook " + t.host, "sending: " + ec.message());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  http::read(stream, buf, parser, ec);
  // A server that ends an unframed reply by closing without TLS's
  // close_notify (Python's http.server, many small receivers) truncates the
  // stream after the status line: once the header is read, the status is
  // what counts.
  if (ec == asio::ssl::error::stream_truncated && parser.is_header_done()) ec = {};
  if (ec) return Status::Error("webhook " + t.host, "reading the reply: " + ec.message());
  const unsigned code = parser.get().result_int();
  if (code < 200 || code > 299) {
    return Status::Error("webhook " + t.host, fmt::format("HTTP {}", code));
  }
  return Status::Ok();
}

}  // namespace

Result<WebhookTarget> WebhookTarget::FromUrl(const std::string& url) {
  WebhookTarget t;
  // The path goes into the request line: a CR/LF or space there would
  // split the request.
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) {
    return Status::Error(url, "must not hold spaces or control characters");
  }
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    t.tls = true;
    t.port = 443;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return Status::Error(url, "must start with http:// or https://");
  }
  const size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']') == std::string::npos) {
    const std::string port = hostport.substr(colon + 1);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 1 || p > 65535) {
      return Status::Error(url, "the port must be a number from 1 to 65535");
    }
    t.port = static_cast<uint16_t>(p);
    hostport.resize(colon);
  }
  if (hostport.empty()) return Status::Error(url, "no host");
  t.host = hostport;
  return t;
}

Status WebhookSink::Post(const std::string& body) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(t_.host, std::to_string(t_.port), ec);
  if (ec) return Status::Error("webhook " + t_.host, "resolving: " + ec.message());
  if (!t_.tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(t_.timeout);
    stream.connect(endpoints, ec);
    if (ec) return Status::Error("webhook " + t_.host, "connecting: " + ec.message());
    Status s = Exchange(stream, t_, body);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return s;
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  if (t_.tls_verify) {
    if (t_.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
    } else {
      ctx.load_verify_file(t_.ca_file, ec);
    }
    if (ec) return Status::Error("webhook " + t_.host, "CA certificates: " + ec.message());
    ctx.set_verify_mode(asio::ssl::verify_peer);
    ctx.set_verify_callback(asio::ssl::host_name_verification(t_.host));
  } else {
    ctx.set_verify_mode(asio::ssl::verify_none);
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), t_.host.c_str())) {
    return Status::Error("webhook " + t_.host, "setting SNI");
  }
  beast::get_lowest_layer(stream).expires_after(t_.timeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return Status::Error("webhook " + t_.host, "connecting: " + ec.message());
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return Status::Error("webhook " + t_.host, "TLS: " + ec.message());
  Status s = Exchange(stream, t_, body);
  stream.shutdown(ec);
  return s;
}

Result<size_t> WebhookSink::Deliver(const std::vector<std::string>& alerts) {
  size_t done = 0;
  for (const auto& a : alerts) {
    auto body = RenderFalco(a);
    if (!body.ok()) {
      // Not an alert we can render: it can never be delivered, so it is
      // passed over (and said), not retried forever.
      spdlog::error("sink: webhook: skipping an alert: {}", body.status().message());
      done++;
      continue;
    }
    if (Status s = Post(*body); !s.ok()) {
      return done ? Result<size_t>(done) : Result<size_t>(s);
    }
    done++;
  }
  return done;
}

}  // namespace nbw
