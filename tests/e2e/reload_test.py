# SPDX-License-Identifier: Apache-2.0
"""Reloading the policy never leaves a moment without enforcement: a kill rule
keeps killing every exec of the forbidden program while 100 reloads run
(the kernel's policy maps are swapped whole, by one generation flip), a
reload that fails to apply leaves the running policy fully in force, and a
selector dropped by a reload leaves the kernel's exec prefilter with it."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from nbwtest import ACTOR, ACTOR_ROLE_TARGETS, Daemon, require_root

KILL_RULE = """  - id: TEST-KILL
    name: Forbidden program in a model server
    event: exec
    roles: [model-server]
    action: kill
    severity: critical
    when: {exec.name: [nbwforbid]}
"""

# Every kill is reported: no folding by the limiter.
CONFIG = "limits:\n  window_s: 600\n  burst: 600000\n  dedup: false\n"


def out_of(p):
    return dict(l.split("=", 1) for l in p.stdout.split() if "=" in l)


class ReloadTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwreload.")
        self.policy = os.path.join(self.tmp, "policy.yaml")
        self.write_policy(ACTOR_ROLE_TARGETS + "rules:\n" + KILL_RULE)
        cfg = os.path.join(self.tmp, "nbwarden.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        self.forbid = os.path.join(self.tmp, "nbwforbid")
        shutil.copy("/bin/sh", self.forbid)  # a shell under a forbidden name
        # Stats ticks (each reaps dead processes from the table) every
        # second during the test: a child killed at exec is gone from /proc
        # before its exec event is handled, and must keep its role until
        # then (ProcessTable::ReapDead waits for a second sighting).
        self.daemon = Daemon("-c", cfg, "--status-interval-ms", "1000", policies=self.policy)
        self.sock = os.path.join(self.daemon.dir, "control.sock")

    def tearDown(self):
        self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_policy(self, text):
        tmp = self.policy + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.policy)  # the daemon never reads half a file

    def control(self, cmd):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(self.sock)
            s.sendall(cmd.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)

    def kill_alerts(self):
        return [l for l in self.daemon.lines()
                if l.get("kind") == "alert" and l["rule"]["id"] == "TEST-KILL"]

    def spawn_forbidden(self, name="nbwforbid"):
        """A model server exec'ing the program once: (signal, exit) of the child."""
        prog = os.path.join(self.tmp, name)
        if not os.path.exists(prog):
            shutil.copy("/bin/sh", prog)
        p = subprocess.run([ACTOR, "as-server", "settle", "spawn", prog, name, "-c", "exit 7"],
                           capture_output=True, text=True, timeout=30)
        out = out_of(p)
        return int(out["child_signal"]), int(out["child_exit"])

    def test_a_kill_rule_keeps_killing_through_100_reloads(self):
        stop = os.path.join(self.tmp, "stop")
        ran = os.path.join(self.tmp, "ran")
        result = os.path.join(self.tmp, "result")
        # A model server whose shell execs the forbidden program in a tight
        # loop; a survivor would leave its number in `ran`. 137: SIGKILL.
        script = ('n=0; k=0; s=0; while [ ! -e "$1" ]; do n=$((n+1)); '
                  '"$2" -c "echo $n >> $3"; '
                  'if [ $? -eq 137 ]; then k=$((k+1)); else s=$((s+1)); fi; done; '
                  'echo "attempts=$n killed=$k survived=$s" > "$4"')
        loop = subprocess.Popen([ACTOR, "as-server", "settle", "spawn", "/bin/sh", "sh", "-c",
                                 script, "sh", stop, self.forbid, ran, result],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while not self.kill_alerts() and time.time() < deadline:
                time.sleep(0.05)
            self.assertTrue(self.kill_alerts(), "the loop never reached the kill rule")
            killed_before = self.control("status")["sensor"]["killed"]
            versions = set()
            # 900 more names before nbwforbid's: refilling the kernel's map in
            # place (clear, then add in rule order) would leave it out for
            # as long as 1800 map updates take, every reload.
            many = KILL_RULE.replace("[nbwforbid]", "[%s, nbwforbid]" % ", ".join(
                "n%04d" % i for i in range(900)))
            started = time.monotonic()
            for i in range(100):
                # Each reload is a new tree (a new version), compiled and
                # swapped in whole; the kill rule is in every one.
                self.write_policy(ACTOR_ROLE_TARGETS + "# reload %d\nrules:\n" % i + many)
                reply = self.control("reload")
                self.assertTrue(reply["ok"], reply)
                versions.add(reply["policy_version"])
            took = time.monotonic() - started
            killed_during = self.control("status")["sensor"]["killed"] - killed_before
            self.assertEqual(len(versions), 100)
        finally:
            open(stop, "w").close()
            loop.wait(timeout=30)
        with open(result) as f:
            res = dict(kv.split("=") for kv in f.read().split())
        attempts, killed, survived = int(res["attempts"]), int(res["killed"]), int(res["survived"])
        print("\n100 reloads in %.2f s; %d execs of the forbidden program, %d of them during the "
              "reloads" % (took, attempts, killed_during))
        self.assertGreater(killed_during, 0, "no exec happened while the reloads ran")
        self.assertEqual(survived, 0, "an exec of the forbidden program survived a reload")
        self.assertFalse(os.path.exists(ran), "the forbidden program ran")
        self.assertEqual(killed, attempts)
        # Every kill the shell saw is one the kernel counted and one alert.
        status = self.control("status")
        self.assertEqual(status["sensor"]["killed"], attempts)
        deadline = time.time() + 30
        while len(self.kill_alerts()) < attempts and time.time() < deadline:
            time.sleep(1)
        alerts = self.kill_alerts()
        status = self.control("status")
        self.assertEqual(len(alerts), attempts, (status["sensor"], status["agent"]))
        self.assertTrue(all(a["action"] == "killed" for a in alerts))

    def assert_rejected(self, reply, text):
        self.assertFalse(reply["ok"], reply)
        self.assertIn(text, reply["error"])
        found = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                     and l["rule"]["id"] == "NBW-SELF-001"
                                     and text in l["summary"])
        self.assertTrue(found, "no NBW-SELF-001 alert saying: " + text)

    def test_a_reload_that_fails_to_apply_leaves_the_running_policy_in_force(self):
        self.assertEqual(self.spawn_forbidden(), (signal.SIGKILL, -1))
        version = self.control("status")["policy_version"]
        # Valid, but more kill entries than the kernel's map holds: the new
        # generation fails half-filled, after nbwforbid's entry was dropped
        # from it and nbwother's added.
        names = ["nbwother"] + ["n%04d" % i for i in range(1100)]
        self.write_policy(ACTOR_ROLE_TARGETS + "rules:\n" + KILL_RULE.replace(
            "[nbwforbid]", "[%s]" % ", ".join(names)))
        self.assert_rejected(self.control("reload"),
                             "more entries than the kernel map holds (1024)")
        self.assertEqual(self.spawn_forbidden(), (signal.SIGKILL, -1), "the old rule was lost")
        self.assertEqual(self.spawn_forbidden("nbwother"), (0, 7), "half a new policy is in force")
        self.assertEqual(self.control("status")["policy_version"], version)

        # A policy that fails validation: rejected before the kernel is touched.
        self.write_policy(ACTOR_ROLE_TARGETS + "rules:\n" + KILL_RULE.replace(
            "action: kill", "action: explode"))
        self.assert_rejected(self.control("reload"), "policy.yaml:")
        self.assertEqual(self.spawn_forbidden(), (signal.SIGKILL, -1))
        self.assertEqual(self.control("status")["policy_version"], version)

    def test_a_selector_dropped_by_a_reload_leaves_the_kernel_prefilter(self):
        stale = os.path.join(self.tmp, "nbwstale")
        shutil.copy("/bin/true", stale)
        self.write_policy(ACTOR_ROLE_TARGETS + """  - name: stale
    role: other
    match: {comm: [nbwstale]}
rules:
""" + KILL_RULE)
        self.assertTrue(self.control("reload")["ok"])
        before = self.control("status")["agent"]["candidates"]
        subprocess.run([stale], check=True)
        deadline = time.time() + 5
        while self.control("status")["agent"]["candidates"] == before and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.control("status")["agent"]["candidates"], before + 1,
                         "the kernel sent nbwstale's exec for a decision")
        # The selector is gone: so is its comm from the kernel's prefilter.
        self.write_policy(ACTOR_ROLE_TARGETS + "rules:\n" + KILL_RULE)
        self.assertTrue(self.control("reload")["ok"])
        before = self.control("status")["agent"]["candidates"]
        subprocess.run([stale], check=True)
        time.sleep(1)
        self.assertEqual(self.control("status")["agent"]["candidates"], before)


if __name__ == "__main__":
    unittest.main()
