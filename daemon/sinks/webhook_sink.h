// SPDX-License-Identifier: Apache-2.0
// HTTP(S) webhook: POSTs each alert in Falco's JSON form, as falcosidekick
// and the pipelines built on it accept. TLS verifies the peer and its name
// by default (system CAs, or ca_file). A 2xx reply is delivery; anything
// else is retried later, in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "sinks/sink.h"

namespace nbw {

struct WebhookTarget {
  bool tls = false;
  std::string host;
  uint16_t port = 80;
  std::string path = "/";
  bool tls_verify = true;
  std::string ca_file;
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds timeout{5000};

  // http[s]://host[:port][/path]; the error names what is wrong.
  static Result<WebhookTarget> FromUrl(const std::string& url);
};

class WebhookSink : public Sink {
 public:
  explicit WebhookSink(WebhookTarget t) : t_(std::move(t)) {}
  Result<size_t> Deliver(const std::vector<std::string>& alerts) override;

 private:
  Status Post(const std::string& body);
  WebhookTarget t_;
};

}  // namespace nbw
