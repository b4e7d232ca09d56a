#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Model-guard benchmark (issue 4), in one run on one machine:

1. Scan throughput of `nbwarden scan` on
     - a large clean PyTorch checkpoint (tensor data must be skipped, not parsed),
     - a pile of small pickles (per-file and per-opcode costs dominate),
   against two baselines on the same files in the same run:
     - sha256sum: reading and hashing every byte, the floor for any scanner
       that reports a sha256 (nbwarden does);
     - pickletools: Python's pickletools.genops over the same pickle streams,
       the approach of picklescan/modelscan (zip members read with zipfile).
   Median of --repeat runs, warm page cache.

2. Time from a target's open() of a malicious model to the alerts on the
   daemon's output: NBW-400 (the scan verdict) and NBW-410 (the payload's
   exec, held until the verdict), for a small pickle and a large checkpoint.

Run as root with Debian's python3 (torch, numpy):  tests/bench/scan_bench.py
"""
import argparse
import io
import json
import os
import pickle
import pickletools
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "../.."))
BUILD = os.environ.get("NBW_BUILD_DIR", os.path.join(SOURCE, "build"))
NBWARDEN = os.path.join(BUILD, "daemon/nbwarden")
NBWARDEND = os.path.join(BUILD, "daemon/nbwardend")


class Payload:
    def __reduce__(self):
        return (os.system, ("true",))


def make_big_checkpoint(path, mb, evil=False):
    import torch
    n = mb // 8
    sd = {"layer%d.weight" % i: torch.randn(2 * 1024 * 1024) for i in range(n)}  # 8 MiB each
    if evil:
        sd["x"] = Payload()
    torch.save(sd, path)


def make_small_pickles(d, count):
    import numpy as np
    rng = np.random.RandomState(0)
    for i in range(count):
        obj = {"weights": rng.rand(64 + i % 512).tolist(), "bias": rng.rand(32),
               "meta": {"name": "m%d" % i, "layers": list(range(i % 50))}}
        with open(os.path.join(d, "m%05d.pkl" % i), "wb") as f:
            pickle.dump(obj, f, protocol=4)


def size_mb(paths):
    return sum(os.path.getsize(p) for p in paths) / 1e6


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def pickletools_scan(paths):
    """What a pickletools-based scanner does: every opcode of every pickle."""
    globals_ = 0
    for p in paths:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                for n in z.namelist():
                    if n.endswith(".pkl"):
                        for op, arg, pos in pickletools.genops(io.BytesIO(z.read(n))):
                            globals_ += op.name in ("GLOBAL", "STACK_GLOBAL")
        else:
            with open(p, "rb") as f:
                for op, arg, pos in pickletools.genops(f):
                    globals_ += op.name in ("GLOBAL", "STACK_GLOBAL")
    return globals_


def throughput(tmp, big_mb, small_count, repeat):
    big = os.path.join(tmp, "big.pt")
    make_big_checkpoint(big, big_mb)
    small_dir = os.path.join(tmp, "small")
    os.makedirs(small_dir)
    make_small_pickles(small_dir, small_count)
    smalls = sorted(os.path.join(small_dir, f) for f in os.listdir(small_dir))
    policies = os.path.join(SOURCE, "policies")
    rows = []
    for name, paths, arg in [("large checkpoint (%d MiB)" % big_mb, [big], [big]),
                             ("%d small pickles" % small_count, smalls, [small_dir])]:
        mb = size_mb(paths)
        for p in paths:  # warm the page cache
            with open(p, "rb") as f:
                while f.read(1 << 20):
                    pass
        scan = lambda: subprocess.run([NBWARDEN, "scan", "-p", policies, "--json", *arg],  # noqa
                                      check=True, stdout=subprocess.DEVNULL)
        sha = lambda: subprocess.run(["sha256sum", *paths], check=True,  # noqa
                                     stdout=subprocess.DEVNULL)
        pt = lambda: pickletools_scan(paths)  # noqa
        t_scan, t_sha, t_pt = timed(scan, repeat), timed(sha, repeat), timed(pt, repeat)
        rows.append((name, mb, t_scan, t_sha, t_pt))
    print("\n## Scan throughput (median of %d, warm cache)\n" % repeat)
    print("| input | MB | nbwarden scan (parse + sha256) | sha256sum (coreutils) "
          "| pickletools.genops (Python, no hash) |")
    print("|---|---|---|---|---|")
    for name, mb, a, b, c in rows:
        print("| %s | %.1f | %.3f s = %.0f MB/s | %.3f s = %.0f MB/s | %.3f s = %.0f MB/s |"
              % (name, mb, a, mb / a, b, mb / b, c, mb / c))


# A target that loads each file (torch.load for checkpoints, pickle.load
# for pickles) and prints when it called open().
LOADER = r"""
import pickle, sys, time
import torch
for path in sys.argv[2:]:
    t0 = time.time_ns()
    with open(path, "rb") as f:
        torch.load(f) if path.endswith(".pt") else pickle.load(f)
    print(path, t0, flush=True)
    time.sleep(0.5)
"""

BENCH_TARGETS = """targets:
  - name: bench-loader
    role: model-server
    match: {comm: [python3], argv: 'nbw-bench-loader'}
"""


def latency(tmp, big_mb, n):
    policies = os.path.join(tmp, "policies")
    shutil.copytree(os.path.join(SOURCE, "policies"), policies)
    with open(os.path.join(policies, "targets.yaml"), "w") as f:
        f.write(BENCH_TARGETS)
    loader = os.path.join(tmp, "nbw-bench-loader.py")
    with open(loader, "w") as f:
        f.write(LOADER)
    files = []
    for i in range(n):
        p = os.path.join(tmp, "evil%02d.pkl" % i)
        with open(p, "wb") as f:
            pickle.dump({"i": i, "x": Payload()}, f, protocol=4)
        files.append(("small pickle", p))
    for i in range(3):
        p = os.path.join(tmp, "evil-big%d.pt" % i)
        make_big_checkpoint(p, big_mb, evil=True)
        files.append(("%d MiB checkpoint" % big_mb, p))

    log_path = os.path.join(tmp, "nbwardend.log")
    log = open(log_path, "w")
    d = subprocess.Popen([NBWARDEND, "-p", policies, "-o", "-", "--status-file", ""],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        with open(log_path) as f:
            if "agent: watching" in f.read():
                break
        time.sleep(0.05)
    arrivals = {}  # (rule, path) -> receive time

    def read_alerts():  # a blocking reader: each line is timed as it arrives
        for line in d.stdout:
            now = time.time_ns()
            j = json.loads(line)
            if j.get("kind") == "alert" and "model" in j:
                arrivals.setdefault((j["rule"]["id"], j["model"]["path"]), now)
    reader = threading.Thread(target=read_alerts)
    reader.start()

    opened = {}
    lp = subprocess.Popen(["/usr/bin/python3", loader, "nbw-bench-loader",
                           *[p for _, p in files]], stdout=subprocess.PIPE, text=True)
    for line in lp.stdout:
        path, t0 = line.split()
        opened[path] = int(t0)
    lp.wait()
    time.sleep(2)
    d.terminate()
    d.wait()
    reader.join()
    log.close()

    print("\n## open() of a malicious model -> alert on the daemon's output\n")
    print("| model | n | NBW-400 scan verdict: median (max) | NBW-410 payload exec: median (max) |")
    print("|---|---|---|---|")
    for kind in dict.fromkeys(k for k, _ in files):
        paths = [p for k, p in files if k == kind]
        cols = []
        for rule in ("NBW-400", "NBW-410"):
            lat = [(arrivals[(rule, p)] - opened[p]) / 1e6 for p in paths
                   if (rule, p) in arrivals and p in opened]
            missing = len(paths) - len(lat)
            cols.append("%.1f ms (%.1f)%s" % (statistics.median(lat), max(lat),
                                             " MISSING %d" % missing if missing else "")
                        if lat else "MISSING")
        print("| %s | %d | %s | %s |" % (kind, len(paths), cols[0], cols[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big-mb", type=int, default=512)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency-n", type=int, default=20)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("scan_bench: run as root (the latency part runs nbwardend)")
    tmp = tempfile.mkdtemp(prefix="nbw-scan-bench.")
    try:
        throughput(tmp, a.big_mb, a.small, a.repeat)
        lat = os.path.join(tmp, "latency")
        os.makedirs(lat)
        latency(lat, min(a.big_mb, 256), a.latency_n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
