# SPDX-License-Identifier: Apache-2.0
"""Operating the real nbwardend: `nbwarden status` and `nbwarden reload`
over the control socket (root, or a configured group, only), and Prometheus
metrics with a health check over HTTP on loopback (never elsewhere)."""
import grp
import os
import shutil
import socket
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from nbwtest import (free_port, ACTOR, actor_policies, NBWARDEN, NBWARDEND, Daemon,
                     require_root)

GROUP = "nbwtest-ops"



def as_user(uid, gid, fn):
    """Runs fn in a child with these ids; returns its exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os._exit(fn())
        except BaseException:
            os._exit(99)
    return os.waitpid(pid, 0)[1] >> 8


class ControlTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwctl.")
        os.chmod(self.tmp, 0o755)
        self.policies = actor_policies(os.path.join(self.tmp, "policies"))
        self.sock = os.path.join(self.tmp, "control.sock")
        self.port = free_port()
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *extra):
        self.daemon = Daemon("--control-socket", self.sock, "--metrics-listen",
                             "127.0.0.1:%d" % self.port, *extra, policies=self.policies)

    def cli(self, *args):
        return subprocess.run([NBWARDEN, *args, "--socket", self.sock], capture_output=True,
                              text=True, timeout=30)

    def test_status_and_reload_over_the_control_socket(self):
        self.start()
        r = subprocess.run([NBWARDEN, "status", "--socket", self.sock, "--status-file",
                            "/nonexistent"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("daemon:   running (pid %d)" % self.daemon.proc.pid, r.stdout)
        version = r.stdout.split("(version ")[1].split(")")[0]
        self.assertRegex(version, "^[0-9a-f]{16}$")
        r = self.cli("reload")
        self.assertEqual((r.returncode, r.stdout), (0, "reloaded: policy version %s\n" % version))
        with open(os.path.join(self.policies, "rules", "zz-extra.yaml"), "w") as f:
            f.write("rules:\n  - id: NBW-X1\n    name: extra\n    event: exec\n"
                    "    severity: notice\n    summary: x\n")
        r = self.cli("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(r.stdout, "reloaded: policy version %s\n" % version)
        with open(os.path.join(self.policies, "rules", "zz-extra.yaml"), "w") as f:
            f.write("rules:\n  - id: NBW-X1\n    event: nonsense\n")
        r = self.cli("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nbwarden reload: rejected, the running policy stays: ", r.stderr)
        self.assertIn("zz-extra.yaml", r.stderr)
        self.assertTrue(self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                             and l["rule"]["id"] == "NBW-SELF-001"))

    def test_only_root_or_the_group_may_use_it(self):
        subprocess.run(["groupadd", "-f", GROUP], check=True)
        gid = grp.getgrnam(GROUP).gr_gid
        self.start("--control-group", GROUP)
        st = os.stat(self.sock)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (0, gid, 0o660))

        def ask():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock)
            except PermissionError:
                return 13
            s.sendall(b"status\n")
            data = s.recv(65536)
            return 0 if data.startswith(b"{") else 1
        self.assertEqual(as_user(65534, 65534, ask), 13)  # nobody: the file mode says no
        self.assertEqual(as_user(65534, gid, ask), 0)     # in the group: allowed

    def test_metrics_and_health_on_loopback(self):
        self.start()
        subprocess.run([ACTOR, "as-kernel", "open", "/etc/shadow"], check=True, timeout=30)
        self.assertTrue(self.daemon.wait_for(lambda l: l.get("kind") == "alert"))
        base = "http://127.0.0.1:%d" % self.port
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4")
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                values[k] = float(v)
        self.assertEqual(values["nbwarden_alerts_total"], 1)
        self.assertEqual(values['nbwarden_events_dropped_total{reason="ringbuf_full"}'], 0)
        self.assertGreater(values["nbwarden_events_total"], 0)
        self.assertIn("# TYPE nbwarden_targets gauge", text)
        with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
            self.assertEqual((r.status, r.read()), (200, b"ok\n"))
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/nope", timeout=10)
        self.assertEqual(e.exception.code, 404)

    def test_metrics_are_refused_off_loopback_and_a_second_daemon_is_refused(self):
        r = subprocess.run([NBWARDEND, "-p", self.policies, "--control-socket", self.sock,
                            "--metrics-listen", "0.0.0.0:9464"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--metrics-listen 0.0.0.0:9464: must be a loopback address", r.stderr)
        self.start()
        r = subprocess.run([NBWARDEND, "-p", self.policies, "--control-socket", self.sock,
                            "--status-file", ""], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("another nbwardend is running", r.stderr)
        self.assertEqual(self.cli("status").returncode, 0)  # the first one's socket is intact


if __name__ == "__main__":
    unittest.main()
