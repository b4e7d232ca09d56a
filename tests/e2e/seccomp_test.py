# SPDX-License-Identifier: Apache-2.0
"""A seccomp violation reaches the alert stream: a notebook-kernel target
started under nbwarden-exec with the shipped notebook-kernel profile tries
to unshare a mount namespace; the kernel refuses it with EPERM and the real
nbwardend raises NBW-500 naming the process, the syscall, its arguments,
the profile and the target. The same target without a filter raises
nothing of the kind."""
import os
import shutil
import subprocess
import tempfile
import unittest

import jsonschema

from nbwtest import ACTOR, ACTOR_ROLE_TARGETS, BUILD, SOURCE, Daemon, alert_schema, require_root

NBWARDEN_EXEC = os.path.join(BUILD, "daemon/nbwarden-exec")
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

    def test_without_a_filter_there_is_no_seccomp_alert(self):
        r = subprocess.run([ACTOR, "as-kernel", "tcp-socket"], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.daemon.wait_for(lambda l: False, timeout=1)
        self.assertEqual([l for l in self.daemon.lines() if l.get("kind") == "alert"
                          and l["rule"]["id"] == "NBW-500"], [])


if __name__ == "__main__":
    unittest.main()
