# SPDX-License-Identifier: Apache-2.0
"""Deployment as a systemd service: the shipped unit passes `systemd-analyze
verify` with no warning; the real nbwardend tells systemd it is ready only
once the sensor is attached, pings the watchdog from its event loop, and
says it is stopping; `cmake --install` lays out the binaries, policies, the
unit and a default config that a second install does not overwrite. (This
machine kind has no systemd as PID 1: the notify protocol is checked with
a socket the test owns, which is all sd_notify talks to.)"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from nbwtest import BUILD, NBWARDEND, SOURCE, require_root

UNIT = os.path.join(SOURCE, "systemd/nbwarden.service")


class SystemdTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwsd.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def verify(self, text):
        path = os.path.join(self.tmp, "nbwarden.service")
        with open(path, "w") as f:
            f.write(text.replace("/usr/local/bin/nbwardend", NBWARDEND))
        return subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                              text=True, timeout=60)

    def test_the_unit_verifies_with_no_warning(self):
        with open(UNIT) as f:
            text = f.read()
        r = self.verify(text)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        for key in ("Type=notify", "WatchdogSec=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "CapabilityBoundingSet=CAP_BPF CAP_PERFMON"):
            self.assertIn(key, text)
        # The check is real: a misspelt hardening key is reported.
        r = self.verify(text.replace("ProtectClock=yes", "ProtectClok=yes"))
        self.assertIn("Unknown key 'ProtectClok'", r.stderr)

    def test_ready_watchdog_and_stopping_reach_systemd(self):
        sock_path = os.path.join(self.tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(20)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="200000")
        log = open(os.path.join(self.tmp, "log"), "w")
        d = subprocess.Popen([NBWARDEND, "-p", os.path.join(SOURCE, "policies"), "-o",
                              "/dev/null", "--status-file", ""], env=env,
                             stdout=subprocess.DEVNULL, stderr=log)
        try:
            first = sock.recv(4096).decode()
            with open(log.name) as f:
                self.assertIn("agent: watching", f.read())  # ready only once attached
            self.assertIn("READY=1", first.split("\n"))
            self.assertIn("MAINPID=%d" % d.pid, first.split("\n"))
            start = time.time()
            pings = 0
            while time.time() - start < 1.0:
                if sock.recv(4096).decode() == "WATCHDOG=1":
                    pings += 1
            self.assertGreaterEqual(pings, 8)  # every 100 ms
            d.send_signal(signal.SIGTERM)
            msgs = []
            while "STOPPING=1" not in msgs:
                msgs.append(sock.recv(4096).decode())
            self.assertEqual(d.wait(timeout=20), 0)
        finally:
            if d.poll() is None:
                d.kill()
                d.wait()
            log.close()
            sock.close()

    def test_install_lays_out_everything_and_keeps_an_operators_config(self):
        dest = os.path.join(self.tmp, "root")
        env = dict(os.environ, DESTDIR=dest)

        def install():
            subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr/local"], env=env,
                           check=True, capture_output=True, timeout=120)
        install()
        for p in ("usr/local/bin/nbwardend", "usr/local/bin/nbwarden",
                  "usr/local/bin/nbwarden-exec", "usr/local/lib/systemd/system/nbwarden.service",
                  "etc/nbwarden/nbwarden.yaml", "etc/nbwarden/policies/targets.yaml",
                  "etc/nbwarden/policies/rules/escape.yaml",
                  "etc/nbwarden/policies/seccomp/notebook-kernel.json",
                  "etc/nbwarden/policies/landlock/notebook-kernel.yaml",
                  "usr/local/share/doc/nbwarden/README.md"):
            self.assertTrue(os.path.exists(os.path.join(dest, p)), p)
        # The installed policy tree and default config are valid as installed.
        r = subprocess.run([os.path.join(dest, "usr/local/bin/nbwarden"), "policy", "check",
                            os.path.join(dest, "etc/nbwarden/policies")], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        cfg = os.path.join(dest, "etc/nbwarden/nbwarden.yaml")
        with open(cfg, "a") as f:
            f.write("# the operator's\n")
        install()
        with open(cfg) as f:
            self.assertTrue(f.read().endswith("# the operator's\n"))


if __name__ == "__main__":
    unittest.main()
