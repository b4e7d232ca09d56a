# SPDX-License-Identifier: Apache-2.0
"""Sandboxed Jupyter kernels, for real: a kernelspec wrapped by `nbwarden
kernelspec install --wrap`, started through jupyter_client as Jupyter Server
starts kernels, runs a data-science session under the notebook-kernel
seccomp profile and Landlock rules with the real nbwardend watching and no
alert raised. Then the
recorder: a kernel started under `nbwarden seccomp record` writes its
profile when it shuts down; the same session replays under that profile,
and a syscall the recording never saw is refused (EPERM) and reported
(NBW-500) naming the syscall and the recorded profile."""
import json
import os
import shutil
import tempfile
import time
import unittest

from nbwtest import (BUILD, NBWARDEN, SOURCE, Daemon, KernelSession, data_science_cells,
                     require_root)
import subprocess

NBWARDEN_EXEC = os.path.join(BUILD, "daemon/nbwarden-exec")
SYSTEM_SPEC = "/usr/share/jupyter/kernels/python3"
PROFILES = os.path.join(SOURCE, "policies/seccomp")
PROFILE = os.path.join(PROFILES, "notebook-kernel.json")
LANDLOCK = os.path.join(SOURCE, "policies/landlock/notebook-kernel.yaml")
NOTEBOOK = "/home/alice/work/sandboxed.ipynb"


def allowed_names(profile):
    out = set()
    for r in profile["syscalls"]:
        if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args"):
            out.update(r["names"])
    return out


class KernelspecTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwks.")
        self.kernels = os.path.join(self.tmp, "kernels")
        shutil.copytree(SYSTEM_SPEC, os.path.join(self.kernels, "python3"))
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.daemon = None
        self.k = None

    def tearDown(self):
        if self.k:
            self.k.close()
        if self.daemon:
            self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wrap(self, *args):
        r = subprocess.run([NBWARDEN, "kernelspec", "install", "--wrap", "python3",
                            "--kernels-dir", self.kernels, "--exec", NBWARDEN_EXEC,
                            "--profiles", PROFILES, *args],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.kernels, "python3", "kernel.json")) as f:
            return json.load(f)

    def session(self):
        for code in data_science_cells(self.home):
            status, out = self.k.run(code)
            self.assertEqual(status, "ok", (code, out))

    def kernel_status(self):
        with open("/proc/%d/status" % self.k.pid) as f:
            return dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)

    def test_wrapping_rewrites_argv_once_and_keeps_the_original(self):
        spec = self.wrap("--profile", PROFILE)
        self.assertEqual(spec["argv"], [NBWARDEN_EXEC, "--profile", PROFILE, "--",
                                        "/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                                        "{connection_file}"])
        self.assertEqual(spec["display_name"], "Python 3 (ipykernel)")
        self.assertEqual(spec["metadata"]["nbwarden"]["seccomp_profile"], PROFILE)
        # Wrapping again replaces the wrapper instead of nesting it.
        spec = self.wrap("--profile", "model-server")
        self.assertEqual(spec["argv"][:7], [NBWARDEN_EXEC, "--profile", "model-server",
                                            "--profiles", PROFILES, "--", "/usr/bin/python3"])
        self.assertEqual(spec["argv"].count(NBWARDEN_EXEC), 1)
        with open(os.path.join(self.kernels, "python3", "kernel.json.nbwarden-orig")) as f:
            self.assertEqual(json.load(f)["argv"][0], "/usr/bin/python3")
        # --as writes a sibling and leaves the original alone.
        r = subprocess.run([NBWARDEN, "kernelspec", "install", "--wrap", "python3", "--as",
                            "python3-sandboxed", "--kernels-dir", self.kernels, "--exec",
                            NBWARDEN_EXEC, "--profiles", PROFILES],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.kernels, "python3-sandboxed", "kernel.json")) as f:
            sib = json.load(f)
        self.assertEqual(sib["argv"][:3], [NBWARDEN_EXEC, "--profile", "notebook-kernel"])
        self.assertEqual(sib["display_name"], "Python 3 (ipykernel) [nbwarden: notebook-kernel]")
        self.assertTrue(os.path.exists(os.path.join(self.kernels, "python3-sandboxed",
                                                    "logo-64x64.png")))

    def test_errors_name_what_is_wrong(self):
        r = subprocess.run([NBWARDEN, "kernelspec", "install", "--wrap", "nope", "--kernels-dir",
                            self.kernels, "--profiles", PROFILES],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "nbwarden kernelspec install: no kernelspec 'nope' in %s\n"
                         % self.kernels)
        r = subprocess.run([NBWARDEN, "kernelspec", "install", "--wrap", "python3",
                            "--kernels-dir", self.kernels, "--profile", "/nonexistent.json"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith(
            "nbwarden kernelspec install: --profile: /nonexistent.json"), r.stderr)
        with open(os.path.join(self.kernels, "python3", "kernel.json"), "w") as f:
            f.write('{"argv": "python3"}')
        r = subprocess.run([NBWARDEN, "kernelspec", "install", "--wrap", "python3",
                            "--kernels-dir", self.kernels, "--profile", PROFILE],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "nbwarden kernelspec install: %s/python3/kernel.json: argv: "
                         "must be a non-empty list\n" % self.kernels)
        with open(os.path.join(self.kernels, "python3", "kernel.json"), "w") as f:
            f.write('{"argv": ["python3"], "metadata": "debugger"}')
        r = subprocess.run([NBWARDEN, "kernelspec", "install", "--wrap", "python3",
                            "--kernels-dir", self.kernels, "--profile", PROFILE],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "nbwarden kernelspec install: %s/python3/kernel.json: "
                         "metadata: must be an object\n" % self.kernels)

    def test_a_wrapped_kernel_runs_a_data_science_session_with_no_alert(self):
        spec = self.wrap("--profile", PROFILE, "--landlock", LANDLOCK)
        self.assertEqual(spec["argv"][:6], [NBWARDEN_EXEC, "--profile", PROFILE, "--landlock",
                                            LANDLOCK, "--"])
        self.daemon = Daemon()
        self.k = KernelSession(self.tmp, NOTEBOOK, kernels_dir=self.kernels)
        st = self.kernel_status()
        self.assertEqual((st["Seccomp"].strip(), st["NoNewPrivs"].strip()), ("2", "1"))
        self.session()
        status, out = self.k.run("try:\n    open('/etc/shadow').read()\n"
                                 "except PermissionError:\n    print('kept out')")
        self.assertEqual((status, out), ("ok", "kept out\n"))
        targets = self.daemon.wait_for(lambda l: l.get("kind") == "target"
                                       and l["proc"]["pid"] == self.k.pid)
        self.assertEqual(targets[0]["target"]["role"], "notebook-kernel", self.daemon.lines())
        time.sleep(1.0)
        alerts = [l for l in self.daemon.lines() if l.get("kind") == "alert"]
        self.assertEqual(alerts, [], [(a["rule"]["id"], a["summary"]) for a in alerts])

    def test_a_recorded_session_replays_under_its_profile_and_nothing_else_runs(self):
        recorded = os.path.join(self.tmp, "recorded.json")
        rec_dir = os.path.join(self.kernels, "python3-record")
        os.makedirs(rec_dir)
        with open(os.path.join(rec_dir, "kernel.json"), "w") as f:
            json.dump({"argv": [NBWARDEN, "seccomp", "record", "-o", recorded, "--",
                                "/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                       "display_name": "recording", "language": "python"}, f)
        self.k = KernelSession(self.tmp, NOTEBOOK, kernel_name="python3-record",
                               kernels_dir=self.kernels)
        self.session()
        self.k.close(now=False)  # the kernel exits by itself; the recorder writes
        self.k = None
        deadline = time.time() + 20
        while not os.path.exists(recorded) and time.time() < deadline:
            time.sleep(0.1)
        with open(recorded) as f:
            profile = json.load(f)
        self.assertEqual(profile["defaultAction"], "SCMP_ACT_ERRNO")
        names = allowed_names(profile)
        self.assertTrue({"execve", "read", "openat", "clone", "futex", "epoll_wait"} <= names
                        or {"execve", "read", "openat", "clone3", "futex"} <= names, names)
        self.assertNotIn("getpriority", names)  # what the last cell will try

        self.wrap("--profile", recorded)
        self.daemon = Daemon()
        self.k = KernelSession(self.tmp, NOTEBOOK, kernels_dir=self.kernels)
        self.assertEqual(self.kernel_status()["Seccomp"].strip(), "2")
        try:
            self.session()
        except BaseException as e:
            # What the profile refused, from the daemon: why the replay broke.
            refused = [a["summary"] for a in self.daemon.lines()
                       if a.get("kind") == "alert" and a["rule"]["id"] == "NBW-500"]
            raise AssertionError("replay failed (%r); refused: %s" % (e, refused)) from e
        status, out = self.k.run(
            "try:\n    os.getpriority(os.PRIO_PROCESS, 0); print('ran')\n"
            "except OSError as e:\n    print(e.errno)")
        self.assertEqual((status, out), ("ok", "1\n"))
        alerts = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                      and l["rule"]["id"] == "NBW-500")
        self.assertEqual(len(alerts), 1, [(a["rule"]["id"], a["summary"]) for a in alerts])
        a = alerts[0]
        self.assertEqual(a["proc"]["pid"], self.k.pid)
        self.assertEqual(a["target"]["role"], "notebook-kernel")
        self.assertEqual((a["event"]["syscall"], a["event"]["errno"]), ("getpriority", "EPERM"))
        self.assertEqual(a["event"]["seccomp"]["profile"], recorded)
        others = [l for l in self.daemon.lines() if l.get("kind") == "alert"
                  and l["rule"]["id"] != "NBW-500"]
        self.assertEqual(others, [], [(o["rule"]["id"], o["summary"]) for o in others])


if __name__ == "__main__":
    unittest.main()
