// SPDX-License-Identifier: Apache-2.0
// A Sink delivers alert lines (schema nbwarden.alert/v1, one JSON object
// each) to one receiver. Deliver is called from the sink's own worker
// thread (sinks/router.h), never from detection, and may block up to the
// sink's timeout. It returns how many of the batch the receiver now has,
// in order; fewer than all (or an error) means "retry the rest later".
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace nbw {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual Result<size_t> Deliver(const std::vector<std::string>& alerts) = 0;
};

// Falco-compatible rendering of one alert line (output, priority, rule,
// time, output_fields, source, tags, hostname), as falcosidekick accepts.
Result<std::string> RenderFalco(const std::string& alert_json);

// RFC 5424 severity (0 emergency .. 7 debug) of an alert's severity name.
int SyslogSeverity(const std::string& severity);

}  // namespace nbw
