// SPDX-License-Identifier: Apache-2.0
#include "alert/alert.h"

#include "alert/render.h"
#include "common/json_writer.h"

namespace nbw {

void RenderAlert(const AlertRuleRef& rule, std::string_view action, std::string_view summary,
                 uint64_t time_ns, std::string_view host, const ProcessInfo* proc,
                 const std::vector<AncestorRef>& ancestry, std::string_view event, std::string& out,
                 const ModelLoad* model) {
  JsonWriter j(out);
  j.BeginObject();
  j.Field("kind", "alert").Field("schema", "nbwarden.alert/v1");
  j.Field("time", FormatTime(time_ns)).Field("time_ns", time_ns).Field("host", host);
  j.Key("rule").BeginObject().Field("id", rule.id).Field("name", rule.name).EndObject();
  j.Field("severity", SeverityName(rule.severity));
  j.Field("action", action);
  j.Key("mitre").BeginArray();
  for (const auto& m : rule.mitre) j.String(m);
  j.EndArray();
  j.Field("summary", summary);
  if (proc) {
    j.Key("proc").BeginObject();
    j.Field("pid", proc->tgid).Field("ppid", proc->ppid).Field("uid", proc->uid);
    j.Field("comm", proc->comm).Field("exe", proc->exe);
    j.Key("argv").BeginArray();
    for (const auto& a : proc->argv) j.String(a);
    j.EndArray();
    j.Key("ancestry").BeginArray();
    for (const auto& a : ancestry)
      j.BeginObject().Field("pid", a.pid).Field("exe", a.exe).EndObject();
    j.EndArray();
    j.EndObject();
    if (proc->state == TrackState::kTarget) WriteTarget(j.Key("target"), *proc);
  }
  if (model) {
    j.Key("model").BeginObject();
    j.Field("path", model->path).Field("trigger", model->trigger);
    j.Field("loader_pid", model->loader).Field("window_id", model->window_id);
    j.Field("verdict", model->verdict());
    if (model->report) {
      const ScanReport& r = *model->report;
      j.Field("sha256", r.sha256).Field("format", r.format).Field("size", r.size);
      j.Field("complete", r.complete).Field("trusted", r.trusted);
      j.Key("findings").BeginArray();
      size_t n = 0;
      for (const auto& f : r.findings) {
        if (++n > 16) break;  // the full list is `nbwarden scan`'s job
        WriteFinding(j, f);
      }
      j.EndArray();
    }
    j.EndObject();
  }
  if (!event.empty()) j.Key("event").Raw(event);
  j.EndObject();
}

}  // namespace nbw
