// SPDX-License-Identifier: Apache-2.0
#include "policy/policy_bundle.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <filesystem>
#include <memory>

namespace nbw {

Result<PolicyBundle> PolicyBundle::Load(const std::string& path) {
  auto files = ReadPolicyFiles(path);
  if (!files.ok()) return files.status();
  return FromFiles(*files, path);
}

Result<PolicyBundle> PolicyBundle::FromFiles(const std::vector<PolicyFile>& files,
                                             const std::string& path) {
  auto targets = TargetSet::LoadFiles(files, path);
  if (!targets.ok()) return targets.status();
  auto rules = RuleSet::LoadFiles(files);
  if (!rules.ok()) return rules.status();
  auto model = ModelGuardPolicy::LoadFiles(files);
  if (!model.ok()) return model.status();
  return PolicyBundle{path, PolicyVersion(files, path), std::move(targets).value(),
                      std::move(rules).value(), std::move(model).value()};
}

std::string PolicyVersion(const std::vector<PolicyFile>& files, const std::string& root) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (const auto& f : files) {
    // Relative names: the same tree installed elsewhere is the same version.
    const std::string name = std::filesystem::path(f.path).lexically_relative(root).string();
    EVP_DigestUpdate(ctx.get(), name.data(), name.size() + 1);
    EVP_DigestUpdate(ctx.get(), f.text.data(), f.text.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < 8 && i < n; i++) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

uint32_t RoleIds::Id(const std::string& role) {
  auto [it, inserted] = ids_.try_emplace(role, static_cast<uint32_t>(ids_.size() + 1));
  return it->second;
}

Result<KernelPolicy> CompileKernelPolicy(const PolicyBundle& bundle, RoleIds& roles) {
  return CompileKernelPolicy(bundle.targets, bundle.rules, bundle.model_guard, roles);
}

Result<KernelPolicy> CompileKernelPolicy(const TargetSet& targets, const RuleSet& rules,
                                         const ModelGuardPolicy& model_guard, RoleIds& roles) {
  KernelPolicy k;
  uint32_t rule_no = 0;
  for (const auto& r : rules.rules()) {
    rule_no++;
    if (r->action == RuleAction::kAlert) continue;
    std::vector<uint32_t> ids;
    for (const auto& name : r->roles) ids.push_back(roles.Id(name));
    if (ids.empty()) ids.push_back(KernelPolicy::kAnyRole);
    const bool kill = r->action == RuleAction::kKill;
    if (!kill && k.needs_connect_hooks.empty()) {
      k.needs_connect_hooks = fmt::format("{}: rule {}", r->source, r->id);
    }
    if (r->kernel.model_window) {
      for (uint32_t role : ids) {
        k.model_enforce[role] |= kill ? NBW_MODEL_KILL_EXEC : NBW_MODEL_DENY_CONNECT;
      }
    } else if (kill) {
      for (uint32_t role : ids) {
        for (const auto& n : r->kernel.exec_names) {
          // The kernel's comm: the first NBW_COMM_LEN - 1 bytes of the name.
          k.kill_exec[{role, n.substr(0, NBW_COMM_LEN - 1)}] = rule_no;
        }
      }
    } else {
      std::vector<uint16_t> ports = r->kernel.ports;
      if (ports.empty()) ports.push_back(0);
      for (uint32_t role : ids) {
        for (const auto& a : r->kernel.addrs) {
          if (a.bytes.size() != (a.family == AF_INET6 ? 16u : 4u)) {
            return Status::Error(
                r->source, fmt::format("rule {}: address of {} bytes", r->id, a.bytes.size()));
          }
          for (uint16_t port : ports) k.deny_connect[{role, a.family, a.bytes, port}] = rule_no;
        }
      }
    }
  }
  for (const auto& e : model_guard.extensions()) k.model_exts.insert(e);
  k.model_grace = model_guard.grace();
  for (const auto& p : targets.CommPrefixes()) k.candidate_comms.insert(p);
  return k;
}

}  // namespace nbw
