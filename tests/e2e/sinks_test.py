# SPDX-License-Identifier: Apache-2.0
"""Alert sinks against real receivers on loopback: Debian's rsyslogd
(UDP, TCP with octet-counted framing, a unix socket), an HTTP(S) server
checking the Falco-compatible body, and rotated files. A receiver outage,
and a daemon restart during it, lose nothing and duplicate nothing: every
alert arrives exactly once and in order. TLS is verified by default. A full
spool's drops are counted and reported as an alert of their own. The
alerts come from the real nbwardend watching nbw_actor read /etc/shadow
(NBW-100)."""
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from nbwtest import (free_port, ACTOR, actor_policies, NBWARDEN, NBWARDEND, Daemon,
                     require_root)

FALCO_KEYS = {"output", "priority", "rule", "time", "output_fields", "source", "tags",
              "hostname"}



class Hook:
    """An HTTP(S) receiver keeping every POST body, in arrival order."""

    def __init__(self, port, certfile=None):
        self.bodies = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", port), H)
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SinksTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwsink.")
        self.policies = actor_policies(os.path.join(self.tmp, "policies"))
        self.spool = os.path.join(self.tmp, "spool")
        self.daemon = None
        self.hooks = []
        self.rsyslog = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        for h in self.hooks:
            h.close()
        if self.rsyslog:
            self.rsyslog.terminate()
            self.rsyslog.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_daemon(self, sinks, stream=None, limits=None):
        cfg = os.path.join(self.tmp, "nbwarden.yaml")
        with open(cfg, "w") as f:
            c = {"spool_dir": self.spool, "sinks": sinks}
            if stream:
                c["stream"] = stream
            if limits:
                c["limits"] = limits
            json.dump(c, f)  # JSON is YAML
        self.daemon = Daemon("-c", cfg, "--status-interval-ms", "200", policies=self.policies)

    def hook(self, port, certfile=None):
        h = Hook(port, certfile)
        self.hooks.append(h)
        return h

    def raise_alerts(self, n):
        """n NBW-100 alerts, one per actor run; returns their alert lines."""
        before = len(self.alerts())
        for _ in range(n):
            subprocess.run([ACTOR, "as-kernel", "open", "/etc/shadow"], check=True, timeout=30)
        self.wait(lambda: len(self.alerts()) >= before + n)
        return self.alerts()[before:]

    def alerts(self):
        return [l for l in self.daemon.lines() if l.get("kind") == "alert"]

    def wait(self, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if pred():
                    return True
            except KeyError:  # the status file is not written yet
                pass
            time.sleep(0.05)
        return False

    def status_sinks(self):
        """The sinks' counters from the status file (rewritten every 200 ms)."""
        try:
            with open(self.daemon.status_path) as f:
                return {s["name"]: s for s in json.load(f)["sinks"]}
        except FileNotFoundError:
            return {}

    def start_rsyslog(self):
        d = os.path.join(self.tmp, "rsyslog")
        os.mkdir(d)
        self.udp, self.tcp = free_port(), free_port()
        self.unix = os.path.join(d, "log.sock")
        self.syslog_out = os.path.join(d, "out.log")
        conf = os.path.join(d, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(f"""global(workDirectory="{d}")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="{self.udp}")
input(type="imtcp" address="127.0.0.1" port="{self.tcp}")
input(type="imuxsock" Socket="{self.unix}" UseSpecialParser="off" ParseHostname="on")
template(name="t" type="string"
         string="%inputname%|%syslogseverity%|%syslogfacility%|%app-name%|%msgid%|%msg%\\n")
action(type="omfile" file="{self.syslog_out}" template="t")
""")
        self.rsyslog = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i",
                                         os.path.join(d, "pid")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.tcp), timeout=0.2).close()
                return os.path.exists(self.unix)
            except OSError:
                return False
        self.assertTrue(self.wait(listening, 10), "rsyslogd did not start")

    def syslog_lines(self):
        try:
            with open(self.syslog_out) as f:
                return [l.rstrip("\n").split("|", 5) for l in f]
        except FileNotFoundError:
            return []

    def test_every_sink_gets_every_alert_as_its_receiver_reads_it(self):
        self.start_rsyslog()
        port = free_port()
        hook = self.hook(port)
        alerts_file = os.path.join(self.tmp, "alerts.jsonl")
        self.start_daemon([
            {"name": "udp", "type": "syslog", "transport": "udp",
             "address": "127.0.0.1:%d" % self.udp},
            {"name": "tcp", "type": "syslog", "transport": "tcp",
             "address": "127.0.0.1:%d" % self.tcp, "facility": "local3"},
            {"name": "unix", "type": "syslog", "transport": "unix", "address": self.unix},
            {"name": "file", "type": "file", "path": alerts_file, "max_bytes": 3000, "keep": 3},
            {"name": "soc", "type": "webhook", "url": "http://127.0.0.1:%d/falco" % port,
             "headers": {"Authorization": "Bearer t0ken"}},
        ])
        alerts = self.raise_alerts(3)
        self.assertEqual([a["rule"]["id"] for a in alerts], ["NBW-100"] * 3)
        self.assertTrue(self.wait(lambda: len(self.syslog_lines()) == 9 and len(hook.bodies) == 3))

        # syslog: RFC 5424 parsed by rsyslog; severity critical (2), the
        # facility asked for, the rule id as MSGID, the alert's JSON as MSG.
        by_input = {}
        for inp, sev, fac, app, msgid, msg in self.syslog_lines():
            by_input.setdefault(inp, []).append((sev, fac, app, msgid, json.loads(msg)))
        self.assertEqual(sorted(by_input), ["imtcp", "imudp", "imuxsock"])
        for inp, got in by_input.items():
            fac = "19" if inp == "imtcp" else "13"
            self.assertEqual(got, [("2", fac, "nbwarden", "NBW-100", a) for a in alerts], inp)

        # webhook: Falco's fields, in order, with the configured header.
        self.assertEqual([b[0] for b in hook.bodies], ["/falco"] * 3)
        for (path, ctype, body), a in zip(hook.bodies, alerts):
            self.assertEqual(ctype, "application/json")
            self.assertEqual(set(body), FALCO_KEYS)
            self.assertEqual(body["priority"], "Critical")
            self.assertEqual(body["rule"], "Host credential read")
            self.assertEqual(body["source"], "nbwarden")
            self.assertEqual(body["time"], a["time"])
            self.assertEqual(body["hostname"], a["host"])
            self.assertEqual(body["tags"], ["NBW-100", "T1552.001", "T1003.008"])
            f = body["output_fields"]
            self.assertEqual((f["proc.pid"], f["fd.name"], f["nbwarden.rule_id"]),
                             (a["proc"]["pid"], "/etc/shadow", "NBW-100"))
            self.assertTrue(body["output"].endswith(": Critical " + a["summary"]), body["output"])

        # file: rotated at 3000 bytes (an alert is 1.4 to 2 KB, with the
        # build's path in it); read every kept part oldest first, the alerts
        # exactly.
        self.assertTrue(self.wait(lambda: self.status_sinks()["file"]["delivered"] == 3))
        self.assertTrue(os.path.exists(alerts_file + ".1"))
        parts = [alerts_file + ".%d" % i for i in (3, 2, 1)
                 if os.path.exists(alerts_file + ".%d" % i)] + [alerts_file]
        lines = []
        for p in parts:
            with open(p) as fh:
                lines += [json.loads(l) for l in fh]
        self.assertEqual(lines, alerts)
        sinks = self.status_sinks()
        for name in ("udp", "tcp", "unix", "file", "soc"):
            self.assertEqual((sinks[name]["delivered"], sinks[name]["pending"],
                              sinks[name]["dropped"]), (3, 0, 0), name)

    def test_an_outage_and_a_daemon_restart_lose_nothing_and_repeat_nothing(self):
        port = free_port()
        sinks = [{"name": "soc", "type": "webhook", "url": "http://127.0.0.1:%d/" % port,
                  "timeout_ms": 2000}]
        self.start_daemon(sinks)
        first = self.raise_alerts(3)  # the receiver is down
        self.assertTrue(self.wait(lambda: self.status_sinks()["soc"]["pending"] == 3))
        self.assertFalse(self.status_sinks()["soc"]["healthy"])
        hook = self.hook(port)
        self.assertTrue(self.wait(lambda: len(hook.bodies) == 3, 40))
        hook.close()
        self.hooks.remove(hook)
        second = self.raise_alerts(2)  # down again, and the daemon restarts
        self.assertTrue(self.wait(lambda: self.status_sinks()["soc"]["pending"] == 2))
        self.daemon.stop()
        self.start_daemon(sinks)
        third = self.raise_alerts(1)
        hook2 = self.hook(port)
        self.assertTrue(self.wait(lambda: len(hook2.bodies) == 3, 40))
        time.sleep(1)  # nothing more may come
        got = [b[2]["time"] for b in hook.bodies + hook2.bodies]
        self.assertEqual(got, [a["time"] for a in first + second + third])

    def test_tls_is_verified_unless_told_otherwise(self):
        cert = os.path.join(self.tmp, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", cert, "-out", cert], check=True, capture_output=True)
        port = free_port()
        hook = self.hook(port, certfile=cert)
        url = "https://localhost:%d/" % port
        self.start_daemon([{"name": "strict", "type": "webhook", "url": url},
                           {"name": "pinned", "type": "webhook", "url": url, "ca_file": cert}])
        self.raise_alerts(1)
        self.assertTrue(self.wait(lambda: self.status_sinks()["pinned"]["delivered"] == 1))
        strict = self.status_sinks()["strict"]
        self.assertEqual((strict["delivered"], strict["pending"], strict["healthy"]), (0, 1, False))
        self.assertIn("certificate verify failed", strict["last_error"])
        self.assertEqual(len(hook.bodies), 1)

    def test_a_full_spool_drops_are_counted_and_reported(self):
        port = free_port()
        self.start_daemon([{"name": "soc", "type": "webhook", "url": "http://127.0.0.1:%d/" % port,
                            "spool_max_bytes": 2000}])
        alerts = self.raise_alerts(4)  # one fits the spool
        self.assertTrue(self.wait(lambda: self.status_sinks()["soc"]["dropped"] == 3))
        hook = self.hook(port)
        self.assertTrue(self.wait(lambda: len(hook.bodies) == 2, 40))
        self.assertEqual(hook.bodies[0][2]["time"], alerts[0]["time"])
        drop = hook.bodies[1][2]
        self.assertEqual(drop["output_fields"]["nbwarden.rule_id"], "NBW-SELF-002")
        self.assertEqual(drop["priority"], "Critical")
        self.assertIn("sink soc dropped 3 alert(s)", drop["output"])
        self.assertTrue([a for a in self.alerts() if a["rule"]["id"] == "NBW-SELF-002"])

    def status(self):
        try:
            with open(self.daemon.status_path) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def tail(self, *args):
        return subprocess.Popen([NBWARDEN, "tail", "--socket", self.sock, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_any_number_of_tail_subscribers_get_every_alert_filtered(self):
        self.sock = os.path.join(self.tmp, "alerts.sock")
        self.start_daemon([], stream={"path": self.sock})
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o600)  # root only
        raw = [self.tail("--json", "-n", "3") for _ in range(3)]
        view = self.tail("--no-color", "-n", "3", "--severity", "critical")
        none = self.tail("--json", "--rule", "NBW-999")
        self.assertTrue(self.wait(lambda: self.status()["stream"]["subscribers"] == 5))
        alerts = self.raise_alerts(3)
        lines = [json.dumps(a, separators=(",", ":")) for a in alerts]
        for t in raw:
            out, err = t.communicate(timeout=20)
            self.assertEqual([json.loads(l) for l in out.splitlines()], alerts, err)
        out, _ = view.communicate(timeout=20)
        self.assertEqual(out.splitlines(), [
            "%s  CRITICAL   NBW-100       %s  -  %s" % (a["time"][11:19], a["host"], a["summary"])
            for a in alerts])
        none.terminate()
        self.assertEqual(none.communicate(timeout=20)[0], "")
        self.assertTrue(lines)
        # A late subscriber gets the backlog first.
        late = self.tail("--json", "-n", "3")
        out, _ = late.communicate(timeout=20)
        self.assertEqual([json.loads(l) for l in out.splitlines()], alerts)

    def test_its_sockets_replace_stale_ones_and_leave_the_umask_alone(self):
        # The stream and control sockets get their mode in a private directory
        # and are renamed into place: the umask, shared by the sink threads,
        # is never changed. Started under 027, the daemon runs under 027.
        self.sock = os.path.join(self.tmp, "alerts.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.sock)  # a previous run's, nobody listening
        stale.close()
        old = os.umask(0o027)
        try:
            self.start_daemon([], stream={"path": self.sock})
        finally:
            os.umask(old)
        with open("/proc/%d/status" % self.daemon.proc.pid) as f:
            self.assertEqual([l.split()[1] for l in f if l.startswith("Umask:")], ["0027"])
        for path in (self.sock, os.path.join(self.daemon.dir, "control.sock")):
            st = os.stat(path)
            self.assertEqual((oct(st.st_mode), st.st_uid, st.st_gid), (oct(0o140600), 0, 0), path)
            self.assertEqual([n for n in os.listdir(os.path.dirname(path))
                              if n.startswith(".nbw-bind-")], [])
        t = self.tail("--json")
        self.assertTrue(self.wait(lambda: self.status()["stream"]["subscribers"] == 1))
        t.terminate()
        t.communicate(timeout=20)

    def test_the_tls_stream_requires_a_client_certificate_from_its_ca(self):
        d = self.tmp

        def openssl(*args):
            subprocess.run(["openssl", *args], check=True, capture_output=True)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                "/CN=nbw-test-ca", "-keyout", d + "/ca.key", "-out", d + "/ca.pem")
        for name, ext in (("server", "subjectAltName=DNS:localhost"),
                          ("client", "extendedKeyUsage=clientAuth")):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout",
                    "%s/%s.key" % (d, name), "-out", "%s/%s.csr" % (d, name))
            with open("%s/%s.ext" % (d, name), "w") as f:
                f.write(ext + "\n")
            openssl("x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", d + "/ca.pem",
                    "-CAkey", d + "/ca.key", "-CAcreateserial", "-days", "1", "-extfile",
                    "%s/%s.ext" % (d, name), "-out", "%s/%s.pem" % (d, name))
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                "/CN=rogue", "-keyout", d + "/rogue.key", "-out", d + "/rogue.pem")
        self.sock = os.path.join(d, "alerts.sock")
        port = free_port()
        self.start_daemon([], stream={"path": self.sock, "tls_listen": "127.0.0.1:%d" % port,
                                      "tls_cert": d + "/server.pem", "tls_key": d + "/server.key",
                                      "tls_client_ca": d + "/ca.pem"})

        def remote(cert):
            return subprocess.Popen([NBWARDEN, "tail", "--connect", "localhost:%d" % port,
                                     "--ca", d + "/ca.pem", "--cert", "%s/%s.pem" % (d, cert),
                                     "--key", "%s/%s.key" % (d, cert), "--json", "-n", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rogue = remote("rogue")
        out, err = rogue.communicate(timeout=30)
        self.assertEqual((rogue.returncode, out), (1, ""))
        self.assertIn("nbwarden tail: localhost:%d: " % port, err)
        good = remote("client")
        self.assertTrue(self.wait(lambda: self.status()["stream"]["subscribers"] == 1))
        alerts = self.raise_alerts(2)
        out, err = good.communicate(timeout=30)
        self.assertEqual(good.returncode, 0, err)
        self.assertEqual([json.loads(l) for l in out.splitlines()], alerts)
        self.assertGreaterEqual(self.status()["stream"]["refused"], 1)

    def test_a_subscriber_that_stops_reading_is_cut_off_and_slows_nothing(self):
        self.sock = os.path.join(self.tmp, "alerts.sock")
        self.start_daemon([], stream={"path": self.sock, "queue_bytes": 16384})
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(self.sock)  # and never reads
        # A follower that keeps reading (into a file: a pipe nobody reads
        # would make it a stuck subscriber too).
        follower_out = open(os.path.join(self.tmp, "follower"), "w+")
        follower = subprocess.Popen([NBWARDEN, "tail", "--socket", self.sock, "--json"],
                                    stdout=follower_out, stderr=subprocess.DEVNULL)
        self.assertTrue(self.wait(lambda: self.status()["stream"]["subscribers"] == 2))
        n = 200
        subprocess.run(["sh", "-c", 'for i in $(seq %d); do "$0" as-kernel open /etc/shadow; '
                        'done' % n, ACTOR], check=True, timeout=120)
        self.assertTrue(self.wait(lambda: len(self.alerts()) == n, 60), len(self.alerts()))
        self.assertTrue(self.wait(lambda: self.status()["stream"]["cut_off"] == 1, 20),
                        self.status().get("stream"))
        self.assertTrue(self.wait(lambda: self.status()["stream"]["subscribers"] == 1))
        self.assertTrue(self.wait(lambda: len(open(follower_out.name).readlines()) == n))
        follower.terminate()
        follower.wait()
        follower_out.close()
        stuck.close()

    def test_floods_are_folded_per_rule_and_target_and_counted(self):
        with open(os.path.join(self.policies, "zz-flood.yaml"), "w") as f:
            f.write("targets:\n  - name: flood\n    role: notebook-kernel\n"
                    "    match: {comm: [sh], argv: 'nbw-flood'}\n")
        self.start_daemon([], limits={"window_s": 10, "burst": 2})
        # One target: a shell whose 6 children each read /etc/shadow (6
        # summaries, over the burst of 2), and one python process reading it
        # 4 times (the same summary: repeats). The window is long enough that
        # a loaded machine still fits all of it in one.
        subprocess.run(["sh", "-c", "sleep 0.3; for i in 1 2 3 4 5 6; do cat /etc/shadow; done "
                        ">/dev/null; /usr/bin/python3 -c \"[open('/etc/shadow').read() "
                        "for _ in range(4)]\"", "nbw-flood"], check=True, timeout=60)
        self.assertTrue(self.wait(lambda: [a for a in self.alerts()
                                           if a["rule"]["id"] == "NBW-SELF-003"], 25))
        alerts = self.alerts()
        reads = [a for a in alerts if a["rule"]["id"] == "NBW-100"]
        self.assertEqual(len(reads), 2, [a["summary"] for a in reads])
        fold = [a for a in alerts if a["rule"]["id"] == "NBW-SELF-003"]
        self.assertEqual(len(fold), 1)
        self.assertEqual(fold[0]["severity"], "critical")  # the folded rule's
        self.assertRegex(fold[0]["summary"],
                         r"^NBW-100 'Host credential read' on target \d+: 3 repeat\(s\) and 5 "
                         r"over the rate limit folded in 10s; the last: python3[.\d]* \(\d+\) read "
                         r"/etc/shadow$")
        self.assertTrue(self.wait(lambda: self.status()["agent"]["alerts_folded"] == 8))

    def test_config_errors_name_the_file_line_and_field(self):
        cases = [
            ("sinks:\n  - {type: kafka}\n", "2:12: sinks[0].type: must be file, syslog or webhook"),
            ("sinks:\n  - type: webhook\n    url: ftp://x/\n",
             "3:10: sinks[0].url: ftp://x/: must start with http:// or https://"),
            ("sinks:\n  - type: syslog\n    address: nowhere\n",
             "3:14: sinks[0].address: must be HOST:PORT"),
            ("sinks:\n  - type: file\n    path: /tmp/x\n    colour: red\n",
             "4:5: sinks[0].colour: unknown key"),
        ]
        for text, want in cases:
            cfg = os.path.join(self.tmp, "bad.yaml")
            with open(cfg, "w") as f:
                f.write(text)
            r = subprocess.run([NBWARDEND, "-p", self.policies, "-c", cfg], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 1, text)
            self.assertIn("nbwardend: config error: %s:" % cfg, r.stderr)
            self.assertIn(want, r.stderr, text)


if __name__ == "__main__":
    unittest.main()
