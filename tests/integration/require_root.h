// SPDX-License-Identifier: Apache-2.0
// Tests that need root: skipped elsewhere, but under CI (NBW_REQUIRE_BPF=1,
// set by .ci/test) a missing privilege is a failure, never a skip.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#define NBW_REQUIRE_ROOT(why)                                                \
  do {                                                                       \
    if (geteuid() != 0) {                                                    \
      if (std::getenv("NBW_REQUIRE_BPF")) FAIL() << "needs root (CI): " why; \
      GTEST_SKIP() << "needs root: " why;                                    \
    }                                                                        \
  } while (0)
