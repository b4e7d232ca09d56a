#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Seccomp cost, in one run on one machine: syscall-heavy loops
(nbw_bench_workload open/read) with

  no filter        the workload alone
  notebook         under nbwarden-exec --profile notebook-kernel (the filter's cost)
  model-server     under nbwarden-exec --profile model-server
  notebook+landlock  notebook-kernel and the notebook-kernel Landlock rules
  recorded         the workload is the tree `nbwarden seccomp record` records
  others, recording  the workload untracked while a recording of another
                   process runs (what everyone else pays)
  sensor           no filter, a tracked target of a running nbwardend
  notebook+sensor  both: the sensor also notes every syscall's entry to see
                   refusals (the difference to "sensor" beyond the filter's own
                   cost is that bookkeeping)

Median of --repeat runs; ratios against "no filter" in the same run.
Target (issue 5): the filter under 5% on open/close."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "../.."))
BUILD = os.environ.get("NBW_BUILD_DIR", os.path.join(SOURCE, "build"))
WORKLOAD = os.path.join(BUILD, "tests/bench/nbw_bench_workload")
EXEC = os.path.join(BUILD, "daemon/nbwarden-exec")
NBWARDEND = os.path.join(BUILD, "daemon/nbwardend")
NBWARDEN = os.path.join(BUILD, "daemon/nbwarden")
PROFILE = os.path.join(SOURCE, "policies/seccomp/notebook-kernel.json")
SERVER = os.path.join(SOURCE, "policies/seccomp/model-server.json")
LANDLOCK = os.path.join(SOURCE, "policies/landlock/notebook-kernel.yaml")

TARGETS = """targets:
  - name: bench-workload
    role: notebook-kernel
    match: {comm: [nbw_bench_workl]}
"""


def run(prefix, mode, n):
    out = subprocess.run(["taskset", "-c", "0", *prefix, WORKLOAD, mode, str(n)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.split("ns_per_op=")[1].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--n", type=int, default=500000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("seccomp_bench: run as root (the sensor part)")
    modes = ["open", "read"]
    res = {}

    def measure(configs):
        # Interleaved, so drift on a shared machine spreads over all of them.
        samples = {name: {m: [] for m in modes} for name in configs}
        for _ in range(a.repeat):
            for name, prefix in configs.items():
                for m in modes:
                    samples[name][m].append(run(prefix, m, a.n))
        for name in configs:
            res[name] = {m: statistics.median(samples[name][m]) for m in modes}

    measure({"no filter": [],
             "notebook": [EXEC, "--profile", PROFILE, "--"],
             "model-server": [EXEC, "--profile", SERVER, "--"],
             "notebook+landlock": [EXEC, "--profile", PROFILE, "--landlock", LANDLOCK, "--"],
             "recorded": [NBWARDEN, "seccomp", "record", "--"]})
    other = subprocess.Popen(["sleep", "600"])
    rec = subprocess.Popen([NBWARDEN, "seccomp", "record", "--pid", str(other.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    measure({"others, recording": []})
    rec.terminate()
    rec.wait()
    other.kill()
    other.wait()
    tmp = tempfile.mkdtemp(prefix="nbwscb.")
    policies = os.path.join(tmp, "policies")
    shutil.copytree(os.path.join(SOURCE, "policies"), policies)
    with open(os.path.join(policies, "zz-bench.yaml"), "w") as f:
        f.write(TARGETS)
    log = open(os.path.join(tmp, "log"), "w")
    d = subprocess.Popen(["taskset", "-c", "1", NBWARDEND, "-p", policies, "-o", "/dev/null",
                          "--status-file", ""], stderr=log)
    time.sleep(3)
    measure({"sensor": [], "notebook+sensor": [EXEC, "--profile", PROFILE, "--"]})
    d.terminate()
    d.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    base = res["no filter"]
    print("\n| configuration | open+close | pread |")
    print("|---|---|---|")
    for k, v in res.items():
        cells = ["%.0f ns" % v[m] if k == "no filter"
                 else "%.0f ns (%+.1f%%)" % (v[m], 100 * (v[m] / base[m] - 1)) for m in modes]
        print("| %s | %s | %s |" % (k, *cells))


if __name__ == "__main__":
    main()
