// SPDX-License-Identifier: Apache-2.0
#include "common/peer.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

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

Status RestrictSocketFile(const std::string& path, std::optional<gid_t> group) {
  if (chown(path.c_str(), 0, group.value_or(0)) != 0 ||
      chmod(path.c_str(), group ? 0660 : 0600) != 0) {
    return Status::FromErrno(path, errno);
  }
  return Status::Ok();
}

}  // namespace nbw
