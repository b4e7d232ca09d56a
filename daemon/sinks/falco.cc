// SPDX-License-Identifier: Apache-2.0
// Falco's JSON output, from an nbwarden alert. Falco's fields where one
// exists (proc.*, user.uid, container.id, evt.type, fd.name, k8s.*), and
// nbwarden's own under "nbwarden." and "jupyter.".
#include <nlohmann/json.hpp>

#include "sinks/sink.h"

namespace nbw {
namespace {

using json = nlohmann::json;

std::string FalcoPriority(const std::string& severity) {
  static const char* kNames[] = {"Emergency", "Alert",  "Critical",      "Error",
                                 "Warning",   "Notice", "Informational", "Debug"};
  return kNames[SyslogSeverity(severity)];
}

}  // namespace

int SyslogSeverity(const std::string& s) {
  static const char* kNames[] = {"emergency", "alert",  "critical",      "error",
                                 "warning",   "notice", "informational", "debug"};
  for (int i = 0; i < 8; i++) {
    if (s == kNames[i]) return i;
  }
  return 4;  // unknown: warning, never dropped to debug
}

Result<std::string> RenderFalco(const std::string& alert_json) {
  json a;
  try {
    a = json::parse(alert_json);
  } catch (const json::exception& e) {
    return Status::Error("alert", std::string("not JSON: ") + e.what());
  }
  if (!a.is_object() || !a.contains("rule") || !a["rule"].is_object()) {
    return Status::Error("alert", "no rule");
  }
  const std::string severity = a.value("severity", "warning");
  const std::string time = a.value("time", "");
  json f = json::object();
  f["nbwarden.rule_id"] = a["rule"].value("id", "");
  f["nbwarden.action"] = a.value("action", "alert");
  if (a.contains("proc") && a["proc"].is_object()) {
    const json& p = a["proc"];
    if (p.contains("pid")) f["proc.pid"] = p["pid"];
    if (p.contains("ppid")) f["proc.ppid"] = p["ppid"];
    if (p.contains("comm")) f["proc.name"] = p["comm"];
    if (p.contains("exe")) f["proc.exepath"] = p["exe"];
    if (p.contains("uid")) f["user.uid"] = p["uid"];
    if (p.contains("argv") && p["argv"].is_array()) {
      std::string cmd;
      for (const auto& s : p["argv"]) {
        if (!s.is_string()) continue;
        cmd += (cmd.empty() ? "" : " ") + s.get<std::string>();
      }
      f["proc.cmdline"] = cmd;
    }
  }
  if (a.contains("target") && a["target"].is_object()) {
    const json& t = a["target"];
    for (const char* k : {"role", "selector"}) {
      if (t.contains(k)) f[std::string("nbwarden.target.") + k] = t[k];
    }
    if (t.contains("kernel_id")) f["jupyter.kernel_id"] = t["kernel_id"];
    if (t.contains("user")) f["jupyter.user"] = t["user"];
    if (t.contains("notebook_path")) f["jupyter.notebook_path"] = t["notebook_path"];
    if (t.contains("container_id")) f["container.id"] = t["container_id"];
    static const std::pair<const char*, const char*> kK8s[] = {{"k8s_pod", "k8s.pod.name"},
                                                               {"k8s_namespace", "k8s.ns.name"},
                                                               {"k8s_node", "k8s.node.name"}};
    for (const auto& [from, to] : kK8s) {
      if (t.contains(from)) f[to] = t[from];
    }
  }
  if (a.contains("event") && a["event"].is_object()) {
    const json& e = a["event"];
    if (e.contains("type")) f["evt.type"] = e["type"];
    if (e.contains("open") && e["open"].is_object() && e["open"].contains("path")) {
      f["fd.name"] = e["open"]["path"];
    }
    if (e.contains("syscall")) f["nbwarden.syscall"] = e["syscall"];
  }
  if (a.contains("model") && a["model"].is_object()) {
    for (const char* k : {"path", "sha256", "verdict"}) {
      if (a["model"].contains(k)) f[std::string("nbwarden.model.") + k] = a["model"][k];
    }
  }
  json tags = json::array();
  tags.push_back(a["rule"].value("id", ""));
  if (a.contains("mitre") && a["mitre"].is_array()) {
    for (const auto& m : a["mitre"]) tags.push_back(m);
  }
  json out;
  // Falco prints "<time>: <Priority> <message>".
  const std::string clock = time.size() > 11 ? time.substr(11, time.size() - 12) : time;
  out["output"] = clock + ": " + FalcoPriority(severity) + " " + a.value("summary", "");
  out["priority"] = FalcoPriority(severity);
  out["rule"] = a["rule"].value("name", "");
  out["time"] = time;
  out["output_fields"] = std::move(f);
  out["source"] = "nbwarden";
  out["tags"] = std::move(tags);
  out["hostname"] = a.value("host", "");
  return out.dump();
}

}  // namespace nbw
