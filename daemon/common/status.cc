// SPDX-License-Identifier: Apache-2.0
#include "common/status.h"

#include <cstdlib>
#include <cstring>

namespace nbw {

Status Status::FromErrno(std::string_view context, int err) {
  err = std::abs(err);
  char buf[128];
  // GNU strerror_r returns the message pointer, possibly not buf.
  const char* msg = strerror_r(err, buf, sizeof buf);
  return Error(context, msg);
}

}  // namespace nbw
