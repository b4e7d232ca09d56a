# SPDX-License-Identifier: Apache-2.0
"""What a hostile notebook user or payload controls at exec (its children's
environment and argv) never changes who the alerts name, never lowers the
rules it is under, and never hides a loader variable from the kernel's
capture. The real nbwardend on the bundled policies (plus the actor's role
selectors and an in-kernel kill rule for model servers); nbw_actor performs
each exec; one case runs in a real ipykernel."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import jsonschema

from nbwtest import (ACTOR, Daemon, KernelSession, actor_policies, alert_schema,
                     require_root)

KILL_RULE = """rules:
  - id: TEST-KILL
    name: Forbidden program in a model server
    event: exec
    roles: [model-server]
    action: kill
    severity: critical
    mitre: [T1059]
    when: {exec.name: [nbwforbid]}
"""

# argv a kernel selector (policies/targets.yaml: jupyter-ipykernel) matches,
# for a python3 that runs PROGRAM once the daemon has judged its exec.
def kernel_like(program):
    return ["/usr/bin/python3", "python3", "-c",
            "import subprocess, sys, time\ntime.sleep(0.4)\n"
            "r = subprocess.run(%r)\nprint('rc=%%d' %% r.returncode)" % (program,),
            "ipykernel"]


def out_of(p):
    return dict(l.split("=", 1) for l in p.stdout.split() if "=" in l)


class HostileExecTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root()
        cls.tmp = tempfile.mkdtemp(prefix="nbwhx.")
        policies = actor_policies(os.path.join(cls.tmp, "policies"))
        with open(os.path.join(policies, "zz-kill.yaml"), "w") as f:
            f.write(KILL_RULE)
        cls.forbid = os.path.join(cls.tmp, "nbwforbid")
        shutil.copy("/bin/sh", cls.forbid)  # a shell under a forbidden name
        cls.schema = alert_schema()
        cls.daemon = Daemon("--events", policies=policies)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_actor(self, *args, env=None):
        since = len(self.daemon.lines())
        p = subprocess.run([ACTOR, *args], capture_output=True, text=True, timeout=60,
                           env=env)
        return since, p

    def alerts(self, since, rule_id, pred=lambda a: True, timeout=5):
        deadline = time.time() + timeout
        while True:
            found = [l for l in self.daemon.lines()[since:] if l.get("kind") == "alert"
                     and l["rule"]["id"] == rule_id and pred(l)]
            if found or time.time() > deadline:
                for a in found:
                    jsonschema.validate(a, self.schema)
                return found
            time.sleep(0.1)

    def seen(self, since):
        """What the daemon reported since `since`, short, for failure messages."""
        return [(l["rule"]["id"], l["summary"]) if l["kind"] == "alert" else
                (l["kind"], l["proc"]["pid"], l["target"].get("role"), l["target"].get("user"))
                for l in self.daemon.lines()[since:] if l["kind"] in ("alert", "target")]

    def exec_events(self, since, exe, timeout=5):
        deadline = time.time() + timeout
        while True:
            found = [l for l in self.daemon.lines()[since:] if l.get("kind") == "event"
                     and l["type"] == "exec" and l["exec"].get("exe") == exe]
            if found or time.time() > deadline:
                return found
            time.sleep(0.1)

    # ---- 1. identity belongs to the target root ------------------------------------
    def test_a_child_claiming_another_user_is_still_named_as_its_roots(self):
        env = dict(os.environ, JUPYTERHUB_USER="bob", JPY_SESSION_NAME="bob/a.ipynb")
        since, p = self.run_actor(
            "as-kernel", "settle", "spawn", "/usr/bin/env", "env", "JUPYTERHUB_USER=alice",
            "JPY_SESSION_NAME=alice/x.ipynb", ACTOR, "open", "/etc/shadow", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        reads = self.alerts(since, "NBW-100")
        self.assertEqual(len(reads), 1, self.seen(since))
        t = reads[0]["target"]
        self.assertEqual((t["user"], t["notebook_path"], t["role"]),
                         ("bob", "bob/a.ipynb", "notebook-kernel"))
        self.assertEqual(t["claimed"], {"user": "alice", "notebook_path": "alice/x.ipynb"})
        spoof = self.alerts(since, "NBW-135")
        self.assertEqual(len(spoof), 1, self.seen(since))
        self.assertEqual(spoof[0]["event"]["exec"]["exe"], os.path.realpath(ACTOR))
        self.assertEqual(spoof[0]["target"]["user"], "bob")
        self.assertIn("alice", spoof[0]["summary"])
        # The root itself named bob: nothing claimed, nothing raised for it.
        roots = [l for l in self.daemon.lines()[since:] if l.get("kind") == "target"]
        self.assertEqual([r["target"]["user"] for r in roots], ["bob"])
        self.assertNotIn("claimed", roots[0]["target"])

    def test_a_child_of_a_real_kernel_cannot_rename_its_user(self):
        self.assertEqual(sys.executable, "/usr/bin/python3",
                         "run with Debian's python3 (it has ipykernel)")
        since = len(self.daemon.lines())
        k = KernelSession(self.tmp, "/home/alice/work/analysis.ipynb")  # user alice
        try:
            status, out = k.run(
                "import os, subprocess\n"
                "env = dict(os.environ, JUPYTERHUB_USER='mallory',"
                " JPY_SESSION_NAME='mallory/x.ipynb')\n"
                "print(subprocess.run(['/bin/cat', '/etc/shadow'], env=env,"
                " capture_output=True).returncode)")
            self.assertEqual((status, out), ("ok", "0\n"))
            reads = self.alerts(since, "NBW-100", lambda a: a["proc"]["comm"] == "cat")
            self.assertEqual(len(reads), 1, self.seen(since))
            t = reads[0]["target"]
            self.assertEqual((t["user"], t["notebook_path"], t["kernel_id"], t["root_pid"]),
                             ("alice", "/home/alice/work/analysis.ipynb", k.kernel_id, k.pid))
            self.assertEqual(t["claimed"]["user"], "mallory")
            spoof = self.alerts(since, "NBW-135")
            self.assertEqual([a["proc"]["comm"] for a in spoof], ["cat"])
        finally:
            k.close()

    # ---- 2. a descendant keeps the strictest role ----------------------------------
    def test_a_model_servers_child_with_kernel_argv_stays_a_model_server(self):
        since, p = self.run_actor("as-server", "settle", "spawn",
                                  *kernel_like(["/bin/sh", "-c", "true"]))
        self.assertEqual(out_of(p).get("rc"), "0", p.stdout + p.stderr)
        shells = self.alerts(since, "NBW-300")
        self.assertEqual(len(shells), 1, self.seen(since))
        self.assertEqual(shells[0]["event"]["exec"]["exe"], os.path.realpath("/bin/sh"))
        self.assertEqual(shells[0]["target"]["role"], "model-server")
        self.assertEqual(shells[0]["target"]["selector"], "test-server")
        pythons = self.exec_events(since, os.path.realpath("/usr/bin/python3"))
        self.assertEqual([e["target"]["role"] for e in pythons], ["model-server"])

    def test_the_kernels_enforcement_keeps_the_stricter_role_too(self):
        marker = os.path.join(self.tmp, "payload-ran")
        since, p = self.run_actor("as-server", "settle", "spawn",
                                  *kernel_like([self.forbid, "-c", "touch " + marker]))
        self.assertEqual(out_of(p).get("rc"), str(-signal.SIGKILL), p.stdout + p.stderr)
        self.assertFalse(os.path.exists(marker), "the forbidden program ran")
        killed = self.alerts(since, "TEST-KILL")
        self.assertEqual([a["action"] for a in killed], ["killed"])

    # ---- 3. loader variables are found wherever they are ---------------------------
    def preload_case(self, arg_bytes, pad_vars):
        since, p = self.run_actor("as-kernel", "settle", "exec-env", str(arg_bytes),
                                  str(pad_vars), "/bin/true", "LD_PRELOAD=/tmp/nbw-evil.so")
        self.assertEqual(p.returncode, 0, p.stderr)
        return since

    def test_ld_preload_after_a_4200_byte_argument_is_seen(self):
        since = self.preload_case(4200, 0)
        a = self.alerts(since, "NBW-132")
        self.assertEqual(len(a), 1, self.seen(since))
        self.assertEqual(a[0]["event"]["exec"]["exe"], os.path.realpath("/bin/true"))
        self.assertTrue(a[0]["event"]["exec"]["argv_truncated"])
        self.assertIn("LD_PRELOAD=/tmp/nbw-evil.so", a[0]["summary"])
        self.assertNotIn("env_truncated", a[0]["event"]["exec"])
        self.assertEqual(self.alerts(since, "NBW-134", timeout=0), [])

    def test_ld_preload_after_10000_padding_variables_is_seen(self):
        since = self.preload_case(0, 10000)
        a = self.alerts(since, "NBW-132")
        self.assertEqual(len(a), 1, self.seen(since))
        self.assertIn("LD_PRELOAD=/tmp/nbw-evil.so", a[0]["summary"])
        self.assertNotIn("env_truncated", a[0]["event"]["exec"])

    def test_an_environment_beyond_the_scan_bound_is_flagged(self):
        since = self.preload_case(0, 40000)  # over the kernel's bound of 32768 variables
        a = self.alerts(since, "NBW-134")
        self.assertEqual(len(a), 1, self.seen(since))
        self.assertEqual(a[0]["event"]["exec"]["env_truncated"], True)
        self.assertEqual(a[0]["event"]["exec"]["exe"], os.path.realpath("/bin/true"))

    def test_a_loader_hook_set_by_a_target_is_raised_but_not_an_inherited_one(self):
        since, p = self.run_actor("as-kernel", "settle", "exec-env", "0", "0", "/bin/true",
                                  "GLIBC_TUNABLES=glibc.malloc.check=3")
        self.assertEqual(p.returncode, 0, p.stderr)
        a = self.alerts(since, "NBW-133")
        self.assertEqual(len(a), 1, self.seen(since))
        self.assertIn("GLIBC_TUNABLES", a[0]["summary"])
        # Started with it: the target's own exec of /bin/true passes it on unchanged.
        env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.check=3")
        since, p = self.run_actor("as-kernel", "settle", "spawn", "/bin/true", "true", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.exec_events(since, os.path.realpath("/bin/true"))), 1)
        self.assertEqual(self.alerts(since, "NBW-133", timeout=1), [])


class StartUpRoleTest(unittest.TestCase):
    """Trees found running at start-up: --track-pid on a shell whose child the
    start-up scan already made a model server does not lower that child (or
    its descendants) to the shell's role."""

    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwhx.")
        self.policies = actor_policies(os.path.join(self.tmp, "policies"))
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_track_pid_keeps_a_model_server_found_inside_the_tree(self):
        shell = subprocess.Popen(
            ["/bin/sh", "-c", "%s as-server spawn /bin/sh sh -c 'read x; /bin/sh -c true'" % ACTOR],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 10  # the actor's shell waits on its stdin
            while time.time() < deadline and not subprocess.run(
                    ["pgrep", "-P", str(shell.pid), "-x", "nbw_actor"],
                    capture_output=True).stdout:
                time.sleep(0.05)
            self.daemon = Daemon("--track-pid", str(shell.pid), policies=self.policies)
            out, _ = shell.communicate("go\n", timeout=20)
        finally:
            if shell.poll() is None:
                shell.kill()
        self.assertIn("child_exit=0", out)
        shells = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                      and l["rule"]["id"] == "NBW-300")
        self.assertEqual(len(shells), 1, [(l.get("kind"), l.get("target"))
                                          for l in self.daemon.lines()])
        self.assertEqual((shells[0]["target"]["role"], shells[0]["target"]["selector"],
                          shells[0]["target"]["root_pid"]),
                         ("model-server", "test-server", shell.pid))


if __name__ == "__main__":
    unittest.main()
