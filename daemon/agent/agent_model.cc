// SPDX-License-Identifier: Apache-2.0
// The agent's side of the model-load guard: see Agent::OnModelEvent.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "alert/alert.h"
#include "alert/render.h"

namespace nbw {

void Agent::OnModelEvent(const Event& ev, ProcessInfo& p) {
  Emit(ev, &p);
  model_events_[ev.args[5]] = PendingModelEvent{ev, p};
  spdlog::debug("guard: model window pid={} path={} trigger={}", ev.tgid, ev.str[0],
                ev.args[1] == NBW_MODEL_BY_MAGIC ? "content" : "extension");
  guard_->Open(ev);  // may call OnModelScanned before returning (cache)
}

void Agent::OnModelScanned(const std::shared_ptr<ModelLoad>& load) {
  spdlog::info("guard: scanned pid={} path={} verdict={} sha256={}", load->loader, load->path,
               load->verdict(), load->report ? load->report->sha256 : "");
  auto it = model_events_.find(load->window_id);
  if (it != model_events_.end()) {
    PendingModelEvent pending = std::move(it->second);
    model_events_.erase(it);
    // The rules see the process as it was when it opened the model; it may
    // have exited since.
    ProcessInfo* now = table_.Find(pending.ev.tgid);
    EvalContext ctx(pending.ev, now ? now : &pending.proc, &table_);
    ctx.writes = &writes_;
    ctx.model = load.get();
    line_is_event_ = false;
    engine_.Evaluate(ctx, [this](const Rule& r, const EvalContext& c) { EmitAlert(r, c); });
  }
  ReleaseHeldAlerts(load->window_id, false);
}

void Agent::HoldAlert(const Rule& rule, std::string_view action, const EvalContext& ctx) {
  held_.push_back(HeldAlert{guard_->SharedWindowOf(ctx.ev.tgid),
                            std::chrono::steady_clock::now(),
                            {rule.id, rule.name, rule.severity, rule.mitre},
                            std::string(action),
                            rule.Summarize(ctx),
                            line_,
                            ctx.ev.realtime_ns,
                            ctx.proc ? *ctx.proc : ProcessInfo{},
                            ctx.Ancestors()});
}

// Held alerts go out in the order they were raised: those of `window_id`
// (0: all) now that its scan is done, or those held too long.
void Agent::ReleaseHeldAlerts(uint64_t window_id, bool timed_out) {
  if (held_.empty()) return;
  std::deque<HeldAlert> keep;
  for (auto& h : held_) {
    if (window_id != 0 && h.model->window_id != window_id) {
      keep.push_back(std::move(h));
      continue;
    }
    const ModelLoad* model = h.model.get();
    if (timed_out && !model->report) alerts_released_unscanned_++;
    alert_line_.clear();
    RenderAlert(h.rule, h.action, h.summary, h.time_ns, host_, h.proc.tgid ? &h.proc : nullptr,
                h.ancestry, h.event, alert_line_, model);
    WriteAlert(alert_line_);
  }
  held_ = std::move(keep);
  std::fflush(opts_.out);
}

void Agent::ReleaseExpiredAlerts() {
  const auto cutoff = std::chrono::steady_clock::now() - kAlertHold;
  while (!held_.empty() && held_.front().since < cutoff) {
    ReleaseHeldAlerts(held_.front().model->window_id, true);
  }
}

}  // namespace nbw
