// SPDX-License-Identifier: Apache-2.0
// Integration harness: one real Sensor loaded into the running kernel for the
// whole test binary, and a way to run nbw_actor as a tracked (or untracked)
// process and collect exactly the events of its process tree.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "require_root.h"
#include "sensor/sensor.h"

namespace nbw::testing {

#define NBW_REQUIRE_BPF() NBW_REQUIRE_ROOT("loads BPF programs")

struct ActorRun {
  pid_t pid = 0;
  int status = 0;                        // waitpid status
  std::map<std::string, long long> out;  // the actor's key=value lines
  std::vector<Event> events;             // events of the actor's process tree, in order

  // Events of one kind (and syscall, when >= 0).
  std::vector<const Event*> Of(EventKind kind, int syscall = -1) const;
  const Event* First(EventKind kind, int syscall = -1) const;
};

class SensorHarness {
 public:
  static SensorHarness& Get();
  Sensor& sensor() { return *sensor_; }
  // Runs nbw_actor ARGS; when `track`, it is tracked before it execs.
  ActorRun Run(const std::vector<std::string>& args, bool track = true);

 private:
  SensorHarness();
  void PollFor(int ms);
  std::unique_ptr<Sensor> sensor_;
  std::vector<Event> seen_;
};

std::string ActorPath();
// A fresh directory under /tmp, with symlinks resolved.
std::string TempDir();

}  // namespace nbw::testing
