// SPDX-License-Identifier: Apache-2.0
#include "common/peer.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace nbw {

Result<gid_t> GroupId(const std::string& group) {
  struct group gr, *res = nullptr;
  char buf[4096];
  if (getgrnam_r(group.c_str(), &gr, buf, sizeof buf, &res) != 0 || !res) {
    return Status::Error("group '" + group + "'", "no such group");
  }
  return res->gr_gid;
}

bool PeerAllowed(int fd, std::optional<gid_t> group) {
  struct ucred cred = {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  if (cred.uid == 0) return true;
  if (!group) return false;
  if (cred.gid == *group) return true;
  // A member by supplementary group: the group's member list.
  struct group gr, *gres = nullptr;
  struct passwd pw, *pres = nullptr;
  char gbuf[16384], pbuf[4096];
  if (getgrgid_r(*group, &gr, gbuf, sizeof gbuf, &gres) != 0 || !gres) return false;
  if (getpwuid_r(cred.uid, &pw, pbuf, sizeof pbuf, &pres) != 0 || !pres) return false;
  for (char** m = gr.gr_mem; m && *m; m++) {
    if (std::strcmp(*m, pw.pw_name) == 0) return true;
  }
  return false;
}

std::optional<uid_t> PeerUid(int fd) {
  struct ucred cred = {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  return cred.uid;
}

namespace {

// sockaddr_un for `path`, if it fits.
std::optional<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return std::nullopt;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

Status BindRestrictedSocket(int fd, const std::string& path, std::optional<gid_t> group) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  std::string dir = (parent.empty() ? std::string(".") : parent) + "/.nbw-bind-XXXXXX";
  const std::string suffix = "/s";
  // Both the final path and the one in the private directory fit sun_path.
  if (!UnixAddress(path) || !UnixAddress(dir + suffix)) {
    const size_t room =
        sizeof(sockaddr_un::sun_path) - 1 - (dir.size() - parent.size()) - suffix.size();
    return Status::Error(
        path, "socket path too long (its directory at most " + std::to_string(room) + " bytes)");
  }
  if (!mkdtemp(dir.data())) return Status::FromErrno(dir, errno);  // mode 0700, ours
  const std::string inside = dir + suffix;
  const auto addr = UnixAddress(inside);
  Status st = Status::Ok();
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    st = Status::FromErrno(path, errno);
  } else if (chown(inside.c_str(), 0, group.value_or(0)) != 0 ||
             chmod(inside.c_str(), group ? 0660 : 0600) != 0 ||
             rename(inside.c_str(), path.c_str()) != 0) {  // replaces a stale socket
    st = Status::FromErrno(path, errno);
    unlink(inside.c_str());
  }
  rmdir(dir.c_str());
  return st;
}

}  // namespace nbw
