# SPDX-License-Identifier: Apache-2.0
"""A seccomp violation reaches the alert stream: a notebook-kernel target
started under nbwarden-exec with the shipped notebook-kernel profile tries
to unshare a mount namespace; the kernel refuses it with EPERM and the real
nbwardend raises NBW-500 naming the process, the syscall, its arguments,
the profile and the target. The same target without a filter raises
nothing of the kind.

A syscall in another ABI of the machine (i386 through int 0x80, x32) is
how an attacker reaches past a filter written for x86_64 numbers; the
filter kills the caller with SIGSYS, and NBW-501 says so, naming the
syscall in its own ABI: from a real static i386 program, from int 0x80 in
a 64-bit one, and from an x32 syscall, in the process's only thread (the
process dies) and in a second thread (only that thread dies)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import jsonschema

from nbwtest import ACTOR, ACTOR_ROLE_TARGETS, BUILD, SOURCE, Daemon, alert_schema, require_root

NBWARDEN_EXEC = os.path.join(BUILD, "daemon/nbwarden-exec")
FOREIGN = os.path.join(BUILD, "tests/integration/nbw_foreign_syscall")
I386 = os.path.join(BUILD, "tests/integration/nbw_i386_unshare")
SIGSYS = 31
CLONE_NEWUSER = 0x10000000
PROFILE = os.path.join(SOURCE, "policies/seccomp/notebook-kernel.json")


class SeccompAlertTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwsc.")
        policies = os.path.join(self.tmp, "policies")
        shutil.copytree(os.path.join(SOURCE, "policies"), policies)
        with open(os.path.join(policies, "zz-actor.yaml"), "w") as f:
            f.write(ACTOR_ROLE_TARGETS)
        self.daemon = Daemon(policies=policies)
        os.mkdir(os.path.join(self.tmp, "mnt"))

    def tearDown(self):
        self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_a_refused_syscall_raises_an_alert_naming_syscall_profile_and_target(self):
        r = subprocess.run([NBWARDEN_EXEC, "--profile", PROFILE, "--", ACTOR, "as-kernel",
                            "mount", os.path.join(self.tmp, "mnt")],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Operation not permitted", r.stderr)
        alerts = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                      and l["rule"]["id"] == "NBW-500")
        self.assertEqual(len(alerts), 1, self.daemon.lines())
        a = alerts[0]
        jsonschema.validate(a, alert_schema())
        self.assertEqual(a["action"], "denied")
        self.assertEqual(a["target"]["role"], "notebook-kernel")
        self.assertEqual(a["proc"]["exe"], ACTOR)
        ev = a["event"]
        self.assertEqual((ev["type"], ev["syscall"], ev["errno"]), ("seccomp", "unshare", "EPERM"))
        self.assertEqual(ev["seccomp"]["profile"], PROFILE)
        self.assertEqual(ev["seccomp"]["args"][0], 0x20000)  # CLONE_NEWNS
        self.assertEqual(a["summary"], "nbw_actor (%d) was refused unshare by seccomp profile '%s'"
                         % (a["proc"]["pid"], PROFILE))

    def killed_alert(self, exe, syscall, arch, action):
        """The one NBW-501 alert, checked field by field."""
        alerts = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                      and l["rule"]["id"] == "NBW-501")
        self.assertEqual(len(alerts), 1, self.daemon.lines())
        self.assertEqual([l for l in self.daemon.lines() if l.get("kind") == "alert"
                          and l["rule"]["id"] == "NBW-500"], [])
        a = alerts[0]
        jsonschema.validate(a, alert_schema())
        self.assertEqual((a["action"], a["severity"]), ("killed", "error"))
        self.assertEqual(a["target"]["role"], "notebook-kernel")
        self.assertEqual(a["proc"]["exe"], exe)
        ev = a["event"]
        self.assertEqual((ev["type"], ev["syscall"]), ("seccomp", syscall))
        self.assertNotIn("errno", ev)
        self.assertEqual(ev["seccomp"]["action"], action)
        self.assertEqual(ev["seccomp"]["arch"], arch)
        self.assertEqual(ev["seccomp"]["profile"], PROFILE)
        self.assertEqual(ev["seccomp"]["args"][0], CLONE_NEWUSER)
        self.assertEqual(a["summary"], "%s (%d) was killed (%s) by seccomp profile '%s' for the "
                         "%s syscall %s" % (os.path.basename(exe), a["proc"]["pid"], action,
                                            PROFILE, arch, syscall))
        return a

    def spawn_under_profile(self, *cmd):
        """cmd as a child of a notebook-kernel target under the profile;
        returns the actor's key=value report."""
        r = subprocess.run([NBWARDEN_EXEC, "--profile", PROFILE, "--", ACTOR, "as-kernel",
                            "settle", "spawn", *cmd], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return dict(l.split("=", 1) if "=" in l else (l, "") for l in r.stdout.split())

    def test_a_real_i386_program_is_killed_and_the_alert_names_its_syscall(self):
        # Without the filter it runs: unshare(CLONE_NEWUSER) works, exit 0.
        self.assertEqual(subprocess.run([I386]).returncode, 0)
        out = self.spawn_under_profile(I386)
        self.assertEqual(out["child_signal"], str(SIGSYS))
        a = self.killed_alert(I386, "unshare", "x86", "kill_process")
        self.assertEqual(a["proc"]["pid"], int(out["child"]))

    def test_int80_from_a_64_bit_process_is_killed_and_named_as_i386(self):
        # i386's unshare is 310; x86_64's 310 is process_vm_readv.
        out = self.spawn_under_profile(FOREIGN, "nbw_foreign_syscall", "int80", "310",
                                       str(CLONE_NEWUSER))
        self.assertEqual(out["child_signal"], str(SIGSYS))
        a = self.killed_alert(FOREIGN, "unshare", "x86", "kill_process")
        self.assertEqual(a["proc"]["pid"], int(out["child"]))

    def test_an_x32_syscall_is_killed_and_named_as_x32(self):
        out = self.spawn_under_profile(FOREIGN, "nbw_foreign_syscall", "x32", "272",
                                       str(CLONE_NEWUSER))
        self.assertEqual(out["child_signal"], str(SIGSYS))
        self.killed_alert(FOREIGN, "unshare", "x32", "kill_process")

    def test_a_thread_killed_alone_is_reported_while_its_process_lives_on(self):
        out = self.spawn_under_profile(FOREIGN, "nbw_foreign_syscall", "x32-thread", "272",
                                       str(CLONE_NEWUSER))
        self.assertEqual((out["child_signal"], out["child_exit"]), ("0", "0"))
        self.assertIn("survived", out)  # the other thread printed it; the killed one nothing
        self.assertNotIn("ret", out)
        a = self.killed_alert(FOREIGN, "unshare", "x32", "kill_thread")
        self.assertEqual(a["proc"]["pid"], int(out["child"]))
        self.assertNotEqual(a["event"]["proc"]["tid"], a["proc"]["pid"])

    def test_a_trap_action_is_a_refusal_too(self):
        # SECCOMP_RET_TRAP skips the syscall and sends SIGSYS; uname, which
        # does not handle it, dies of it. The syscall "returns" its own
        # number (rolled back), not an errno: it was never reported before.
        profile = os.path.join(self.tmp, "trap.json")
        with open(profile, "w") as f:
            json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_TRAP"}]}, f)
        r = subprocess.run([NBWARDEN_EXEC, "--profile", profile, "--", ACTOR, "as-kernel",
                            "settle", "spawn", "/bin/uname", "uname"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("child_signal=%d\n" % SIGSYS, r.stdout)
        alerts = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                      and l["rule"]["id"] == "NBW-500")
        self.assertEqual(len(alerts), 1, self.daemon.lines())
        a = alerts[0]
        jsonschema.validate(a, alert_schema())
        self.assertEqual(a["action"], "denied")
        self.assertEqual(a["proc"]["exe"], "/usr/bin/uname")
        ev = a["event"]
        self.assertEqual((ev["type"], ev["syscall"]), ("seccomp", "uname"))
        self.assertNotIn("errno", ev)
        self.assertEqual((ev["seccomp"]["action"], ev["seccomp"]["arch"]), ("trap", "x86_64"))
        self.assertEqual([l for l in self.daemon.lines() if l.get("kind") == "alert"
                          and l["rule"]["id"] == "NBW-501"], [])

    def test_without_a_filter_there_is_no_seccomp_alert(self):
        r = subprocess.run([ACTOR, "as-kernel", "tcp-socket"], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.daemon.wait_for(lambda l: False, timeout=1)
        self.assertEqual([l for l in self.daemon.lines() if l.get("kind") == "alert"
                          and l["rule"]["id"] == "NBW-500"], [])


if __name__ == "__main__":
    unittest.main()
