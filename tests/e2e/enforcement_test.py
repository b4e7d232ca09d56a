# SPDX-License-Identifier: Apache-2.0
"""In-kernel enforcement for real: a kill rule stops a forbidden exec before
the new program runs one instruction (its side effect never happens), and a
deny rule fails connect() with EPERM in the kernel. Non-loopback addresses
only inside a network namespace the actor creates."""
import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import jsonschema

from nbwtest import ACTOR, ACTOR_ROLE_TARGETS, Daemon, alert_schema, require_root

POLICY = ACTOR_ROLE_TARGETS + """rules:
  - id: TEST-KILL
    name: Forbidden program in a model server
    event: exec
    roles: [model-server]
    action: kill
    severity: critical
    mitre: [T1059]
    when: {exec.name: [nbwforbid]}
  - id: TEST-DENY
    name: Forbidden destination
    event: net
    action: deny
    severity: critical
    mitre: [T1552.005]
    when: {net.op: connect, net.address: [10.66.0.1, "fd00:66::1"], net.port: [80]}
"""


def out_of(p):
    return dict(l.split("=", 1) for l in p.stdout.split() if "=" in l)


class EnforcementTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root()
        cls.tmp = tempfile.mkdtemp(prefix="nbwenf.")
        cls.policy = os.path.join(cls.tmp, "policy.yaml")
        with open(cls.policy, "w") as f:
            f.write(POLICY)
        cls.forbid = os.path.join(cls.tmp, "nbwforbid")
        shutil.copy("/bin/sh", cls.forbid)  # a shell under a forbidden name
        cls.schema = alert_schema()
        cls.daemon = Daemon(policies=cls.policy)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def alerts(self, rule_id, since):
        deadline = time.time() + 5
        while time.time() < deadline:
            found = [l for l in self.daemon.lines()[since:]
                     if l.get("kind") == "alert" and l["rule"]["id"] == rule_id]
            if found:
                for a in found:
                    jsonschema.validate(a, self.schema)
                return found
            time.sleep(0.1)
        return []

    def test_forbidden_exec_is_killed_before_it_runs(self):
        marker = os.path.join(self.tmp, "payload-ran")
        since = len(self.daemon.lines())
        p = subprocess.run([ACTOR, "as-server", "settle", "spawn", self.forbid, "nbwforbid", "-c",
                            "touch " + marker], capture_output=True, text=True)
        out = out_of(p)
        self.assertEqual(int(out["child_signal"]), signal.SIGKILL)
        self.assertFalse(os.path.exists(marker), "the forbidden program ran")
        a = self.alerts("TEST-KILL", since)
        self.assertEqual(len(a), 1)
        self.assertEqual(a[0]["action"], "killed")
        self.assertEqual(a[0]["event"]["exec"]["killed"], True)
        self.assertEqual(a[0]["event"]["proc"]["pid"], int(out["child"]))

    def test_same_exec_in_another_role_runs(self):
        marker = os.path.join(self.tmp, "kernel-ran")
        since = len(self.daemon.lines())
        p = subprocess.run([ACTOR, "as-kernel", "settle", "spawn", self.forbid, "nbwforbid", "-c",
                            "touch " + marker], capture_output=True, text=True)
        out = out_of(p)
        self.assertEqual((int(out["child_signal"]), int(out["child_exit"])), (0, 0))
        self.assertTrue(os.path.exists(marker))
        time.sleep(0.5)
        self.assertEqual([l for l in self.daemon.lines()[since:] if l.get("kind") == "alert"
                          and l["rule"]["id"] == "TEST-KILL"], [])

    def test_denied_connect_fails_with_eperm(self):
        since = len(self.daemon.lines())
        p = subprocess.run([ACTOR, "as-kernel", "connect-isolated4", "10.66.0.1", "80"],
                           capture_output=True, text=True)
        self.assertEqual(int(out_of(p)["connect_errno"]), errno.EPERM)
        a = self.alerts("TEST-DENY", since)
        self.assertEqual(len(a), 1)
        self.assertEqual(a[0]["action"], "denied")
        self.assertEqual(a[0]["event"]["errno"], "EPERM")
        self.assertEqual(a[0]["event"]["net"]["address"], "10.66.0.1")
        p = subprocess.run([ACTOR, "as-kernel", "connect-isolated6", "fd00:66::1", "80"],
                           capture_output=True, text=True)
        self.assertEqual(int(out_of(p)["connect_errno"]), errno.EPERM)

    def test_other_destinations_and_untracked_processes_are_not_denied(self):
        # Untracked: a copy of the actor under a name no selector's comm
        # prefix matches. (nbw_actor without a role is a candidate until
        # userspace rejects it, and rules for every role apply to a
        # candidate meanwhile: that window is enforcement failing closed.)
        plain = os.path.join(tempfile.mkdtemp(prefix="nbwenf."), "plain_prog")
        shutil.copy(ACTOR, plain)
        try:
            for cmd in ([ACTOR, "as-kernel", "connect-isolated4", "10.66.0.1", "81"],
                        [ACTOR, "as-kernel", "connect-isolated4", "10.66.0.2", "80"],
                        [plain, "connect-isolated4", "10.66.0.1", "80"]):  # not a target
                p = subprocess.run(cmd, capture_output=True, text=True)
                self.assertEqual(int(out_of(p)["connect_errno"]), errno.ENETUNREACH, cmd)
        finally:
            shutil.rmtree(os.path.dirname(plain), ignore_errors=True)

    def test_status_counts_kernel_actions(self):
        subprocess.run([ACTOR, "as-kernel", "connect-isolated4", "10.66.0.1", "80"],
                       capture_output=True)
        deadline = time.time() + 15  # the status file is rewritten every 5 s
        denied = 0
        while time.time() < deadline and denied < 1:
            time.sleep(0.5)
            if os.path.exists(self.daemon.status_path):
                with open(self.daemon.status_path) as f:
                    denied = json.load(f)["sensor"]["denied"]
        self.assertGreaterEqual(denied, 1)


if __name__ == "__main__":
    unittest.main()
