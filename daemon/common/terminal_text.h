// SPDX-License-Identifier: Apache-2.0
// Text from watched processes (paths, argv, Jupyter names) and from model
// files, made safe for an analyst's terminal: no byte of it can move the
// cursor, clear the screen, set the title or start a line of its own.
#pragma once

#include <string>
#include <string_view>

namespace nbw {

// Valid UTF-8 passes unchanged except: a backslash doubles; \n \r \t are
// written so; other C0 controls, DEL and invalid bytes as \xNN; C1 controls
// and the invisible bidi and line-separator characters as \uNNNN. So the
// escaped text is one line, shows what was there, and is unambiguous.
std::string TerminalSafe(std::string_view s);

}  // namespace nbw
