// SPDX-License-Identifier: Apache-2.0
// Parsing raw struct sockaddr_* blobs from the sensor, checked against their
// length. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nbw {

struct SockAddr {
  int family = 0;       // AF_INET, AF_INET6, AF_UNIX, ...
  std::string address;  // "127.0.0.1", "::1"; unix: the path ("@name" if abstract)
  uint16_t port = 0;    // host order
};

std::optional<SockAddr> ParseSockAddr(std::string_view blob);
std::string_view FamilyName(int family);

}  // namespace nbw
