// SPDX-License-Identifier: Apache-2.0
#include "engine/engine.h"

namespace nbw {

void Engine::Evaluate(const EvalContext& ctx, const OnMatch& on_match) {
  const auto& candidates = rules_.ForKind(ctx.ev.kind);
  if (candidates.empty()) return;
  counters_.evaluated++;
  for (const Rule* r : candidates) {
    if (r->Matches(ctx)) {
      counters_.matches++;
      on_match(*r, ctx);
    }
  }
}

}  // namespace nbw
