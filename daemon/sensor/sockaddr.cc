// SPDX-License-Identifier: Apache-2.0
#include "sensor/sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace nbw {

std::optional<SockAddr> ParseSockAddr(std::string_view b) {
  sa_family_t fam;
  if (b.size() < sizeof fam) return std::nullopt;
  std::memcpy(&fam, b.data(), sizeof fam);
  SockAddr out;
  out.family = fam;
  char text[INET6_ADDRSTRLEN] = {};
  switch (fam) {
    case AF_INET: {
      struct sockaddr_in in;
      if (b.size() < sizeof in - sizeof in.sin_zero) return std::nullopt;
      std::memset(&in, 0, sizeof in);
      std::memcpy(&in, b.data(), std::min(b.size(), sizeof in));
      inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
      out.address = text;
      out.port = ntohs(in.sin_port);
      return out;
    }
    case AF_INET6: {
      struct sockaddr_in6 in6;
      if (b.size() < offsetof(struct sockaddr_in6, sin6_scope_id)) return std::nullopt;
      std::memset(&in6, 0, sizeof in6);
      std::memcpy(&in6, b.data(), std::min(b.size(), sizeof in6));
      inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
      out.address = text;
      out.port = ntohs(in6.sin6_port);
      return out;
    }
    case AF_UNIX: {
      std::string_view path = b.substr(sizeof fam);
      path = path.substr(0, std::min(path.size(), sizeof(sockaddr_un::sun_path)));
      if (!path.empty() && path[0] == '\0') {
        // Abstract namespace: shown as @name, as ss(8) does.
        out.address = "@" + std::string(path.substr(1));
        while (!out.address.empty() && out.address.back() == '\0') out.address.pop_back();
      } else {
        out.address = std::string(path.substr(0, path.find('\0')));
      }
      return out;
    }
    default: return out;
  }
}

std::string_view FamilyName(int family) {
  switch (family) {
    case AF_UNIX: return "unix";
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_PACKET: return "packet";
    case AF_NETLINK: return "netlink";
    case 0: return "unspec";
    default: return "other";
  }
}

}  // namespace nbw
