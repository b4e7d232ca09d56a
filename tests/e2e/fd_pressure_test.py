# SPDX-License-Identifier: Apache-2.0
"""File descriptors under attack, against the real nbwardend: a control-group
member flooding the control socket with idle connections cannot take the fds
the model scanner needs (connections are capped per uid and in all, idle ones
time out, the excess is refused and counted), and a scan that cannot open its
file for lack of fds waits and retries: a malicious model is still NBW-400
(critical), never NBW-402 (unscannable), and the pressure is NBW-SELF-004."""
import grp
import json
import os
import resource
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from model_guard_test import NOTEBOOK, make_models, sha256
from nbwtest import Daemon, KernelSession, alert_schema, free_port, require_root

GROUP = "nbwtest-fd"
NOBODY = 65534
FLOOD = 300          # connections the member tries to hold at once
FLOOD_SECONDS = 12   # past the daemon's 5 s idle timeout, twice
PER_UID = 4          # Agent::kControlPerUid
IN_ALL = 16          # Agent::kControlMax
STREAM_PER_UID = 8   # AlertStream::kPerUid
HANDSHAKES = 16      # AlertStream::kMaxHandshakes
METRICS = 16         # Agent::kMetricsMax


def flood(path, gid, seconds, out_fd):
    """In a child, as nobody in the control group: keeps up to FLOOD idle
    connections open, reconnecting as the daemon drops them, and writes
    what happened to out_fd as JSON: how many connected, how many the
    daemon closed at once or after the idle timeout, the longest held."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(NOBODY)
        poller = select.poll()
        live = {}  # fd -> (socket, connected at)
        connected, lifetimes = 0, []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            while len(live) < FLOOD:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.connect(path)
                except (BlockingIOError, ConnectionRefusedError):
                    s.close()  # the listen backlog is full: later
                    break
                live[s.fileno()] = (s, time.monotonic())
                poller.register(s.fileno(), select.POLLIN)
                connected += 1
            for fd, _ in poller.poll(50):
                s, since = live.pop(fd)
                poller.unregister(fd)
                try:
                    data = s.recv(1)
                except OSError:
                    data = b""
                if data == b"":
                    lifetimes.append(time.monotonic() - since)
                s.close()
        os.write(out_fd, json.dumps({
            "connected": connected,
            "refused": len([t for t in lifetimes if t < 1]),  # closed at once
            "idle": len([t for t in lifetimes if t >= 4.5]),  # held until the idle timeout
            "longest": max(lifetimes, default=0)}).encode())
        os._exit(0)
    except BaseException:
        os._exit(99)


def control(path, cmd="status"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(cmd.encode() + b"\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class FdPressureTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwfd.")
        os.chmod(self.tmp, 0o755)
        self.marker = os.path.join(self.tmp, "payload-ran")
        self.paths, _ = make_models(self.tmp, self.marker)
        self.sock = os.path.join(self.tmp, "control.sock")
        self.daemon = self.k = None

    def tearDown(self):
        if self.k:
            self.k.close()
        if self.daemon:
            self.daemon.stop()
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *args):
        self.daemon = Daemon("--control-socket", self.sock, *args)
        self.k = KernelSession(self.tmp, NOTEBOOK)
        status, _ = self.k.run("import torch")
        self.assertEqual(status, "ok")

    def verdicts(self, path):
        """The scan alerts about path: NBW-400 malicious ... NBW-402 unscannable."""
        return [l["rule"]["id"] for l in self.daemon.lines() if l.get("kind") == "alert"
                and l["rule"]["id"] in ("NBW-400", "NBW-401", "NBW-402")
                and l["model"]["path"] == path]

    def self_alerts(self):
        return [l for l in self.daemon.lines() if l.get("kind") == "alert"
                and l["rule"]["id"] == "NBW-SELF-004"]

    def test_idle_control_connections_cannot_take_the_scanners_fds(self):
        subprocess.run(["groupadd", "-f", GROUP], check=True)
        gid = grp.getgrnam(GROUP).gr_gid
        self.start("--control-group", GROUP)
        pid = self.daemon.proc.pid
        # A limit the flood would reach without the caps: it did, and the
        # malicious model below was then NBW-402 "unscannable".
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (128, hard))
        baseline = open_fds(pid)
        self.assertGreater(baseline + FLOOD, 128)
        self.assertLess(baseline + IN_ALL + 32, 128)  # 32: common/fd_budget.h kFdReserve

        r, w = os.pipe()
        child = flood(self.sock, gid, FLOOD_SECONDS, w)
        os.close(w)
        most = [baseline]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                most[0] = max(most[0], open_fds(pid))
                time.sleep(0.05)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            time.sleep(1)  # the flood is on
            path = self.paths["evil"]
            status, _ = self.k.run("torch.load(%r)" % path)
            self.assertEqual(status, "ok")
            scanned = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                           and l["rule"]["id"] == "NBW-400"
                                           and l["model"]["path"] == path, 15)
        finally:
            with os.fdopen(r, "rb") as f:
                report = json.loads(f.read() or b"{}")
            os.waitpid(child, 0)
            sampling.set()
            sampler.join()

        self.assertEqual(len(scanned), 1, self.verdicts(path))
        self.assertEqual(scanned[0]["severity"], "critical")
        self.assertEqual((scanned[0]["model"]["verdict"], scanned[0]["model"]["sha256"]),
                         ("malicious", sha256(path)))
        self.assertEqual(self.verdicts(path), ["NBW-400"])

        # The member held at most PER_UID: the rest were closed at once.
        self.assertGreater(report["connected"], FLOOD)
        self.assertGreater(report["refused"], FLOOD)
        self.assertGreaterEqual(report["idle"], PER_UID)  # held until the 5 s timeout
        self.assertLessEqual(report["longest"], 5 + 2)
        self.assertLessEqual(most[0], baseline + PER_UID + 4)  # 4: a scan's, a status write's

        st = control(self.sock)["control"]
        self.assertGreaterEqual(st["refused_busy"], report["refused"])
        self.assertGreaterEqual(st["timed_out"], report["idle"])
        self.assertEqual(st["refused_fds"], 0)
        deadline = time.time() + 5
        while st["open"] > 1 and time.time() < deadline:  # 1: this very request
            time.sleep(0.1)
            st = control(self.sock)["control"]
        self.assertEqual(st["open"], 1)
        pressure = self.self_alerts()
        self.assertEqual(len(pressure), 1)  # one per minute, however many refusals
        self.assertEqual(pressure[0]["severity"], "error")
        self.assertIn("control connections refused: uid %d holds %d" % (NOBODY, PER_UID),
                      pressure[0]["summary"])

    def test_a_scan_short_of_fds_waits_and_still_finds_the_model_malicious(self):
        import jsonschema
        self.start()
        pid = self.daemon.proc.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        # No fd number above stderr may be given out: every open fails EMFILE.
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, hard))
        try:
            path = self.paths["evil"]
            status, _ = self.k.run("torch.load(%r)" % path)
            self.assertEqual(status, "ok")
            waits = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                         and l["rule"]["id"] == "NBW-SELF-004", 10)
            self.assertEqual(len(waits), 1)
            jsonschema.validate(waits[0], alert_schema())
            self.assertEqual(waits[0]["severity"], "error")
            self.assertIn("the scan of model %s waits: opening it failed (Too many open files)"
                          % path, waits[0]["summary"])
            time.sleep(1)  # retries go on meanwhile; none may become a verdict
            self.assertEqual(self.verdicts(path), [])
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))

        scanned = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                       and l["rule"]["id"] == "NBW-400"
                                       and l["model"]["path"] == path, 10)
        self.assertEqual(len(scanned), 1)
        self.assertEqual(scanned[0]["severity"], "critical")
        self.assertEqual((scanned[0]["model"]["verdict"], scanned[0]["model"]["sha256"]),
                         ("malicious", sha256(path)))
        self.assertEqual(self.verdicts(path), ["NBW-400"])
        guard = control(self.sock)["model_guard"]
        self.assertGreaterEqual(guard["resource_waits"], 1)
        self.assertEqual(guard["open_failed"], 0)


def closed_within(socks, seconds):
    """How many of socks the peer closed (EOF or reset) within seconds."""
    closed, deadline = set(), time.monotonic() + seconds
    while time.monotonic() < deadline and len(closed) < len(socks):
        for s in socks:
            if s in closed:
                continue
            try:
                if s.recv(65536, socket.MSG_DONTWAIT) == b"":
                    closed.add(s)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(s)
        time.sleep(0.05)
    return len(closed)


class ListenerCapsTest(unittest.TestCase):
    """The alert stream (per-uid and handshake caps) and the metrics
    endpoint (a cap in all, 5 s each): peers that attach and say nothing
    cannot hold the daemon's fds through them either."""

    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwfd.")
        os.chmod(self.tmp, 0o755)
        self.sock = os.path.join(self.tmp, "alerts.sock")
        self.control = os.path.join(self.tmp, "control.sock")
        self.daemon = None
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        if self.daemon:
            self.daemon.stop()
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_a_uid_holds_at_most_its_share_and_silent_tls_peers_are_bounded(self):
        subprocess.run(["groupadd", "-f", GROUP], check=True)
        gid = grp.getgrnam(GROUP).gr_gid
        port = free_port()
        d = self.tmp
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=nbw-test", "-keyout", d + "/key.pem", "-out",
                        d + "/cert.pem"], check=True, capture_output=True)
        cfg = os.path.join(d, "nbwarden.yaml")
        with open(cfg, "w") as f:
            json.dump({"spool_dir": os.path.join(d, "spool"), "sinks": [],
                       "stream": {"path": self.sock, "group": GROUP,
                                  "tls_listen": "127.0.0.1:%d" % port,
                                  "tls_cert": d + "/cert.pem", "tls_key": d + "/key.pem",
                                  "tls_client_ca": d + "/cert.pem"}}, f)
        self.daemon = Daemon("-c", cfg, "--control-socket", self.control)

        # A member of the stream's group attaches 20 times: 8 stay.
        r, w = os.pipe()
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.close(done_w)  # so the parent's close is seen
                os.setgroups([])
                os.setgid(gid)
                os.setuid(NOBODY)
                mine = []
                for _ in range(20):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.sock)
                    mine.append(s)
                os.write(w, b"%d" % closed_within(mine, 2))
                os.read(done_r, 1)  # holds the rest until the test has looked
                os._exit(0)
            except BaseException:
                os._exit(99)
        os.close(w)
        os.close(done_r)
        try:
            refused = int(os.read(r, 16))
            self.assertEqual(refused, 20 - STREAM_PER_UID)
            st = control(self.control)["stream"]
            self.assertEqual((st["subscribers"], st["refused"]),
                             (STREAM_PER_UID, 20 - STREAM_PER_UID))
            root = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # not capped by uid
            root.connect(self.sock)
            self.socks.append(root)
            self.assertEqual(closed_within([root], 1), 0)
            self.assertEqual(control(self.control)["stream"]["subscribers"], STREAM_PER_UID + 1)
        finally:
            os.close(r)
            os.close(done_w)
            os.waitpid(pid, 0)

        # Silent TCP peers that never start TLS: 16 wait for their handshake
        # (then time out), the rest are closed at once.
        for _ in range(30):
            self.socks.append(socket.create_connection(("127.0.0.1", port)))
        silent = self.socks[-30:]
        self.assertEqual(closed_within(silent, 2), 30 - HANDSHAKES)
        self.assertEqual(closed_within(silent, 12), 30)  # the 10 s handshake timeout


    def test_idle_metrics_connections_are_capped_and_time_out(self):
        port = free_port()
        self.daemon = Daemon("--control-socket", self.control, "--metrics-listen",
                             "127.0.0.1:%d" % port)
        for _ in range(40):
            self.socks.append(socket.create_connection(("127.0.0.1", port)))
        self.assertEqual(closed_within(self.socks, 2), 40 - METRICS)
        st = control(self.control)["control"]["metrics"]
        self.assertEqual((st["open"], st["refused"]), (METRICS, 40 - METRICS))
        self.assertEqual(closed_within(self.socks, 6), 40)  # each has 5 s
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as r:
            self.assertEqual((r.status, r.read()), (200, b"ok\n"))
        pressure = [l for l in self.daemon.lines() if l.get("kind") == "alert"
                    and l["rule"]["id"] == "NBW-SELF-004"]
        self.assertEqual(len(pressure), 1)
        self.assertIn("a metrics connection was refused: %d open (cap %d)" % (METRICS, METRICS),
                      pressure[0]["summary"])


if __name__ == "__main__":
    unittest.main()
