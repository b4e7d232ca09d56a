#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Seccomp cost, in one run on one machine: syscall-heavy loops
(nbw_bench_workload open/read) with

  no filter      the workload alone
  notebook       under nbwarden-exec --profile notebook-kernel (the filter's cost)
  sensor         no filter, a tracked target of a running nbwardend
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
PROFILE = os.path.join(SOURCE, "policies/seccomp/notebook-kernel.json")

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
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--n", type=int, default=200000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("seccomp_bench: run as root (the sensor part)")
    modes = ["open", "read"]
    res = {}

    def measure(name, prefix):
        res[name] = {m: statistics.median(run(prefix, m, a.n) for _ in range(a.repeat))
                     for m in modes}

    measure("no filter", [])
    measure("notebook", [EXEC, "--profile", PROFILE, "--"])
    tmp = tempfile.mkdtemp(prefix="nbwscb.")
    policies = os.path.join(tmp, "policies")
    shutil.copytree(os.path.join(SOURCE, "policies"), policies)
    with open(os.path.join(policies, "zz-bench.yaml"), "w") as f:
        f.write(TARGETS)
    log = open(os.path.join(tmp, "log"), "w")
    d = subprocess.Popen(["taskset", "-c", "1", NBWARDEND, "-p", policies, "-o", "/dev/null",
                          "--status-file", ""], stderr=log)
    time.sleep(3)
    measure("sensor", [])
    measure("notebook+sensor", [EXEC, "--profile", PROFILE, "--"])
    d.terminate()
    d.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    base = res["no filter"]
    print("\n| loop | no filter | notebook-kernel profile | tracked, no filter "
          "| tracked, profile (refusals watched) |")
    print("|---|---|---|---|---|")
    for m in modes:
        cells = ["%.0f ns (%+.1f%%)" % (res[k][m], 100 * (res[k][m] / base[m] - 1))
                 for k in ("notebook", "sensor", "notebook+sensor")]
        print("| %s | %.0f ns | %s | %s | %s |"
              % ("open+close" if m == "open" else "pread", base[m], *cells))


if __name__ == "__main__":
    main()
