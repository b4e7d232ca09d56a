#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Alert delivery versus detection, in one run: nbw_actor reads /etc/shadow
N times (N NBW-100 alerts) under the real nbwardend with

  no sinks          alerts to the output only
  webhook down      a webhook sink whose receiver is down: every alert spooled
  webhook up        a live HTTP receiver on loopback (Falco JSON per alert)
  stuck subscriber  a stream subscriber that never reads, and one that does

Per configuration: how long after the last actor run the N-th alert reached
the daemon's output (drain lag), and alerts per second over the whole run.
A sink or subscriber that slows detection shows up as lag."""
import argparse
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../e2e"))
from nbwtest import free_port, ACTOR, ACTOR_ROLE_TARGETS, NBWARDEN, SOURCE, Daemon  # noqa: E402



def run(tmp, n, sinks, stream=None, setup=None):
    policies = os.path.join(tmp, "policies")
    cfg = os.path.join(tmp, "nbwarden.yaml")
    c = {"spool_dir": os.path.join(tmp, "spool-%d" % time.monotonic_ns()), "sinks": sinks}
    if stream:
        c["stream"] = stream
    with open(cfg, "w") as f:
        json.dump(c, f)
    d = Daemon("-c", cfg, policies=policies)
    extra = setup() if setup else []
    try:
        t0 = time.monotonic()
        subprocess.run(["sh", "-c", 'for i in $(seq %d); do "$0" as-kernel open /etc/shadow; done'
                        % n, ACTOR], check=True)
        t1 = time.monotonic()
        while len([l for l in d.lines() if l.get("kind") == "alert"]) < n:
            time.sleep(0.001)
        t2 = time.monotonic()
    finally:
        for e in extra:
            e.close()
        d.stop()
    return (t2 - t1) * 1000, n / (t2 - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("sinks_bench: run as root")
    tmp = tempfile.mkdtemp(prefix="nbwsb.")
    shutil.copytree(os.path.join(SOURCE, "policies"), os.path.join(tmp, "policies"))
    with open(os.path.join(tmp, "policies", "zz-actor.yaml"), "w") as f:
        f.write(ACTOR_ROLE_TARGETS)
    down = free_port()
    up = free_port()

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", up), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sock = os.path.join(tmp, "alerts.sock")

    def stuck():
        time.sleep(0.5)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(sock)
        f = open(os.path.join(tmp, "follower"), "w")
        p = subprocess.Popen([NBWARDEN, "tail", "--socket", sock, "--json"], stdout=f)

        class Closer:
            def close(self):
                p.terminate()
                p.wait()
                f.close()
                s.close()
        return [Closer()]

    configs = [
        ("no sinks", [], None, None),
        ("webhook down", [{"name": "down", "type": "webhook",
                           "url": "http://127.0.0.1:%d/" % down}], None, None),
        ("webhook up", [{"name": "up", "type": "webhook", "url": "http://127.0.0.1:%d/" % up}],
         None, None),
        ("stuck subscriber", [], {"path": sock, "queue_bytes": 16384}, stuck),
    ]
    res = {name: [] for name, *_ in configs}
    for _ in range(a.repeat):
        for name, sinks, stream, setup in configs:
            res[name].append(run(tmp, a.n, sinks, stream, setup))
    srv.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    print("\n| configuration | drain lag after the last alert (median) | alerts/s (median) |")
    print("|---|---|---|")
    for name, r in res.items():
        print("| %s | %.1f ms | %.0f |" % (name, statistics.median(x[0] for x in r),
                                          statistics.median(x[1] for x in r)))


if __name__ == "__main__":
    main()
