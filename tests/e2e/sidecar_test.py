# SPDX-License-Identifier: Apache-2.0
"""Sidecar mode: `nbwardend --scope pod` in a pod with a shared process
namespace watches only the processes of its own pid namespace, so one
pod's agent never reports another's. Here the test creates the namespace:
the real nbwardend runs in a new pid namespace (unshare --pid; /proc stays
the host's, as a sidecar mounts the host's /proc), nbw_actor reads
/etc/shadow once inside that namespace (nsenter) and once outside. Only the
inside one is a target and raises an alert; the outside one is counted as
out of scope."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from nbwtest import ACTOR, actor_policies, NBWARDEND, require_root


class SidecarTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwpod.")
        policies = actor_policies(os.path.join(self.tmp, "policies"))
        self.out = os.path.join(self.tmp, "out.jsonl")
        self.status = os.path.join(self.tmp, "status.json")
        self.log = open(os.path.join(self.tmp, "log"), "w")
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child", NBWARDEND, "-p", policies,
             "--scope", "pod", "-o", self.out, "--status-file", self.status,
             "--status-interval-ms", "200", "--control-socket",
             os.path.join(self.tmp, "control.sock")], stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline and "agent: watching" not in self.read_log():
            self.assertIsNone(self.proc.poll(), self.read_log())
            time.sleep(0.05)
        self.assertIn("agent: scope pod: only pid namespace", self.read_log())
        # The daemon: unshare's child, pid 1 of the new namespace.
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            self.daemon_pid = int(f.read().split()[0])

    def tearDown(self):
        # unshare blocks SIGTERM and waits: stop the daemon, then it returns.
        if getattr(self, "daemon_pid", None):
            os.kill(self.daemon_pid, signal.SIGTERM)
        else:
            self.proc.kill()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            subprocess.run(["pkill", "-KILL", "-f", self.tmp])
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read_log(self):
        with open(self.log.name) as f:
            return f.read()

    def lines(self):
        with open(self.out) as f:
            return [json.loads(l) for l in f]

    def test_only_the_pods_processes_are_watched(self):
        inside = subprocess.run(["nsenter", "--target", str(self.daemon_pid), "--pid", "--",
                                 ACTOR, "as-kernel", "open", "/etc/shadow"], timeout=30)
        self.assertEqual(inside.returncode, 0)
        outside = subprocess.run([ACTOR, "as-kernel", "open", "/etc/shadow"], timeout=30)
        self.assertEqual(outside.returncode, 0)
        deadline = time.time() + 10
        status = {}
        while time.time() < deadline:
            try:
                with open(self.status) as f:
                    status = json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            if status.get("agent", {}).get("candidates_out_of_scope", 0) >= 1 and \
                    [l for l in self.lines() if l.get("kind") == "alert"]:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        alerts = [l for l in self.lines() if l.get("kind") == "alert"]
        targets = [l for l in self.lines() if l.get("kind") == "target"]
        self.assertEqual(len(targets), 1, targets)
        self.assertEqual(len(alerts), 1, alerts)
        self.assertEqual(alerts[0]["rule"]["id"], "NBW-100")
        self.assertEqual(alerts[0]["proc"]["pid"], targets[0]["proc"]["pid"])
        # The target is the one in the namespace: its pid namespace is the daemon's.
        ns = os.readlink("/proc/%d/ns/pid" % self.daemon_pid)
        self.assertEqual(alerts[0]["event"]["proc"]["ns"]["pid"], int(ns.split("[")[1][:-1]))
        self.assertGreaterEqual(status["agent"]["candidates_out_of_scope"], 1)


if __name__ == "__main__":
    unittest.main()
