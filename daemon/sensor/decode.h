// SPDX-License-Identifier: Apache-2.0
// Turning a raw ring-buffer record into an Event. Everything the kernel sends
// is checked here (ABI version, kind, sizes, blob lengths) before any field
// is used; a bad record is an error value, never undefined behaviour.
#pragma once

#include <cstddef>
#include <span>

#include "common/status.h"
#include "sensor/event.h"

namespace nbw {

// Any thread. `realtime_offset_ns` is CLOCK_REALTIME - CLOCK_BOOTTIME.
Result<Event> DecodeEvent(std::span<const std::byte> record, int64_t realtime_offset_ns);

}  // namespace nbw
