// SPDX-License-Identifier: Apache-2.0
// Who may talk to the daemon's unix sockets (the control socket, the alert
// stream): root, or a member of one configured group. Checked on the peer's
// credentials (SO_PEERCRED) on top of the socket file's 0600/0660 mode, and
// a socket is bound in a private directory and moved into place with its mode
// already set, so it is never reachable with a wider one.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "common/status.h"

namespace nbw {

// The group's id; an error names it if there is none.
Result<gid_t> GroupId(const std::string& group);
// root, or (with a group) its gid or a member of it.
bool PeerAllowed(int fd, std::optional<gid_t> group);
// The peer's uid (SO_PEERCRED): per-user connection caps key on it.
std::optional<uid_t> PeerUid(int fd);
// Binds `fd`, an unbound AF_UNIX socket, at `path`: owner root and group,
// mode 0600 (0660 with a group), replacing a stale socket file there. The
// socket is bound inside a fresh 0700 directory next to `path`, given its
// owner and mode, then rename()d onto `path` (atomic, and the inode keeps its
// mode), so it is never reachable with a wider mode and the process umask,
// shared by every thread, is never touched.
[[nodiscard]] Status BindRestrictedSocket(int fd, const std::string& path,
                                          std::optional<gid_t> group);

}  // namespace nbw
