// SPDX-License-Identifier: Apache-2.0
// Wall-clock helpers. The kernel stamps events with CLOCK_BOOTTIME; adding
// RealtimeMinusBoottimeNs() turns a stamp into Unix time. Any thread.
#pragma once

#include <cstdint>
#include <ctime>

namespace nbw {

inline int64_t TimespecNs(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec;
}

inline uint64_t RealtimeNowNs() {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<uint64_t>(TimespecNs(t));
}

inline int64_t RealtimeMinusBoottimeNs() {
  struct timespec rt, bt;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_BOOTTIME, &bt);
  return TimespecNs(rt) - TimespecNs(bt);
}

}  // namespace nbw
