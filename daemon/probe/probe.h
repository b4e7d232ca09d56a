// SPDX-License-Identifier: Apache-2.0
// What this kernel supports, found by loading tiny programs and asking the
// kernel (never by version number). Shared by `nbwarden doctor` and the
// daemon's start-up log. Any thread; takes a few milliseconds; needs root
// for the BPF rows.
#pragma once

#include <string>
#include <vector>

namespace nbw {

struct Feature {
  std::string name;
  bool available = false;
  bool required = false;  // the sensor cannot run without it
  std::string detail;     // what was found, or why not; what falls back
};

std::vector<Feature> ProbeKernel();
// True when every required feature is available.
bool SensorCanRun(const std::vector<Feature>& features);

}  // namespace nbw
