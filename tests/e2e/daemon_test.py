# SPDX-License-Identifier: Apache-2.0
"""nbwardend as an operator runs it: selectors from a policy make targets,
--track-pid, processes already running, clean detach, clear errors."""
import json
import os
import signal
import shutil
import subprocess
import tempfile
import textwrap
import time
import unittest

from nbwtest import ACTOR, NBWARDEN, NBWARDEND, SOURCE, Daemon, events_of, require_root

POLICY = textwrap.dedent("""\
    targets:
      - name: actor-server
        role: model-server
        match:
          comm: [nbw_actor]
          argv: 'nbw_actor spawn'
    """)


class DaemonTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwt.")
        self.policy = os.path.join(self.tmp, "policy.yaml")
        with open(self.policy, "w") as f:
            f.write(POLICY)
        self.file = os.path.join(self.tmp, "data")
        with open(self.file, "w") as f:
            f.write("x\n")
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_matching_exec_becomes_a_target_and_its_children_are_watched(self):
        self.daemon = Daemon("--events", policies=self.policy)
        out = subprocess.run([ACTOR, "spawn", "/bin/cat", "cat", self.file],
                             capture_output=True, text=True, check=True).stdout
        child = int(dict(l.split("=") for l in out.split() if "=" in l)["child"])
        actor_pid = None
        targets = self.daemon.wait_for(lambda l: l.get("kind") == "target")
        self.assertEqual(len(targets), 1)
        t = targets[0]
        actor_pid = t["proc"]["pid"]
        self.assertEqual(t["how"], "exec")
        self.assertEqual(t["target"]["role"], "model-server")
        self.assertEqual(t["target"]["selector"], "actor-server")
        self.assertEqual(t["proc"]["argv"], [ACTOR, "spawn", "/bin/cat", "cat", self.file])
        self.assertEqual(t["proc"]["ancestry"][0]["pid"], os.getpid())
        opens = self.daemon.wait_for(lambda l: l.get("kind") == "event" and l["type"] == "open"
                                     and l["open"]["path"] == self.file)
        self.assertEqual(len(opens), 1)
        self.assertEqual(opens[0]["proc"]["pid"], child)
        self.assertEqual(opens[0]["target"]["role"], "model-server")
        self.assertEqual(opens[0]["target"]["root_pid"], actor_pid)
        execs = [l for l in events_of(self.daemon.lines(), child) if l["type"] == "exec"]
        self.assertEqual(execs[0]["exec"]["argv"], ["cat", self.file])

    def test_non_matching_exec_produces_nothing(self):
        self.daemon = Daemon("--events", policies=self.policy)
        p = subprocess.run([ACTOR, "open", self.file], check=True)
        time.sleep(1.0)
        lines = self.daemon.lines()
        self.assertEqual([l for l in lines if l.get("kind") == "target"], [])
        self.assertEqual([l for l in lines if l.get("kind") == "event"
                          and l.get("open", {}).get("path") == self.file], [])
        self.daemon.stop()
        with open(self.daemon.status_path) as f:
            status = json.load(f)
        self.assertGreaterEqual(status["agent"]["candidates_rejected"], 1)
        self.assertEqual(status["sensor"]["dropped"], 0)

    def test_track_pid_watches_an_existing_process_tree(self):
        proc = subprocess.Popen(["/bin/sh", "-c", "read x; cat " + self.file],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.daemon = Daemon("--events", "--track-pid", str(proc.pid), policies=self.policy)
        t = self.daemon.wait_for(lambda l: l.get("kind") == "target")
        self.assertEqual(t[0]["how"], "track-pid")
        self.assertEqual(t[0]["proc"]["pid"], proc.pid)
        proc.communicate(b"go\n", timeout=10)
        opens = self.daemon.wait_for(lambda l: l.get("type") == "open"
                                     and l["open"]["path"] == self.file)
        self.assertEqual(len(opens), 1)
        self.assertEqual(opens[0]["proc"]["ppid"], proc.pid)
        exits = self.daemon.wait_for(lambda l: l.get("type") == "exit"
                                     and l["proc"]["pid"] == proc.pid)
        self.assertEqual(exits[0]["exit"]["code"], 0)

    def test_running_target_is_found_at_start_up(self):
        r, w = os.pipe()
        proc = subprocess.Popen([ACTOR, "spawn", "/bin/sh", "sh", "-c",
                                 "read x <&%d; cat %s" % (r, self.file)],
                                pass_fds=(r,), stdout=subprocess.DEVNULL)
        os.close(r)
        time.sleep(0.3)
        self.daemon = Daemon("--events", policies=self.policy)
        t = self.daemon.wait_for(lambda l: l.get("kind") == "target")
        self.assertEqual(t[0]["how"], "running")
        self.assertEqual(t[0]["proc"]["pid"], proc.pid)
        os.write(w, b"go\n")
        os.close(w)
        proc.wait(timeout=10)
        # The child (the shell) existed before the daemon: found as a descendant.
        opens = self.daemon.wait_for(lambda l: l.get("type") == "open"
                                     and l["open"]["path"] == self.file)
        self.assertEqual(len(opens), 1)
        self.assertEqual(opens[0]["target"]["selector"], "actor-server")

    def test_runc_container_process_carries_its_container_id(self):
        bundle = os.path.join(self.tmp, "bundle")
        rootfs = os.path.join(bundle, "rootfs")
        for d in ("bin", "etc", "proc", "dev", "sys", "tmp"):
            os.makedirs(os.path.join(rootfs, d))
        shutil.copy("/usr/bin/busybox", os.path.join(rootfs, "bin/busybox"))
        for tool in ("sh", "cat"):
            os.symlink("busybox", os.path.join(rootfs, "bin", tool))
        with open(os.path.join(rootfs, "etc/hostname"), "w") as f:
            f.write("in-container\n")
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        with open(os.path.join(bundle, "config.json")) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["sh", "-c", "cat /etc/hostname"]
        cfg["root"]["readonly"] = True
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        name = "nbw-test-%d" % os.getpid()
        # A shell tracked by --track-pid starts the container: runc, runc init
        # and the container's process all descend from it.
        proc = subprocess.Popen(["/bin/sh", "-c", "read x; exec runc run --bundle %s %s"
                                 % (bundle, name)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        self.daemon = Daemon("--events", "--track-pid", str(proc.pid), policies=self.policy)
        out, _ = proc.communicate(b"go\n", timeout=60)
        self.assertEqual(out, b"in-container\n")
        opens = self.daemon.wait_for(lambda l: l.get("type") == "open"
                                     and l["open"]["path"] == "/etc/hostname"
                                     and l["proc"]["comm"] == "cat")
        self.assertEqual(len(opens), 1)
        o = opens[0]
        self.assertEqual(o["target"]["container_id"], name)
        host_mnt = os.stat("/proc/self/ns/mnt").st_ino
        self.assertNotEqual(o["proc"]["ns"]["mnt"], host_mnt)
        execs = [l for l in self.daemon.lines() if l.get("type") == "exec"
                 and l["proc"]["pid"] == o["proc"]["pid"]]
        self.assertEqual(execs[-1]["exec"]["exe"], "/bin/busybox")
        self.assertEqual(execs[-1]["exec"]["argv"], ["cat", "/etc/hostname"])
        # Named by the kernel at exec: no race with a process that is gone.
        self.assertEqual(execs[-1]["exec"]["cgroup"], name)

    def test_path_with_newline_stays_one_json_line(self):
        evil = os.path.join(self.tmp, "a\nb\"c\x01")
        with open(evil, "w") as f:
            f.write("x")
        self.daemon = Daemon("--events", policies=self.policy)
        subprocess.run([ACTOR, "spawn", "/bin/cat", "cat", evil], check=True,
                       stdout=subprocess.DEVNULL)
        opens = self.daemon.wait_for(lambda l: l.get("type") == "open"
                                     and l["open"]["path"] == evil)
        self.assertEqual(len(opens), 1)  # lines() parsed every line as JSON

    def test_sigterm_detaches_every_program(self):
        self.daemon = Daemon(policies=self.policy)
        progs = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        self.assertIn("nbw_sys_enter", progs)
        self.assertEqual(self.daemon.stop(), 0)
        # The kernel frees programs after an RCU grace period: allow it a moment.
        deadline = time.time() + 5
        while time.time() < deadline:
            progs = subprocess.run(["bpftool", "prog", "show"], capture_output=True,
                                   text=True).stdout
            if "nbw_sys_enter" not in progs:
                break
            time.sleep(0.1)
        self.assertNotIn("nbw_sys_enter", progs)
        self.assertIn("agent: detached", self.daemon.read_log())

    def test_sighup_with_broken_policy_keeps_the_running_one(self):
        self.daemon = Daemon("--events", policies=self.policy)
        with open(self.policy, "w") as f:
            f.write("targets:\n  - name: x\n    role: r\n    match: {comm: [a], argv: '('}\n")
        self.daemon.proc.send_signal(1)
        deadline = time.time() + 5
        while "reload rejected" not in self.daemon.read_log() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("policy.yaml:4:", self.daemon.read_log())
        # The rejection is an alert of its own, naming the bad spot.
        rejected = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                        and l["rule"]["id"] == "NBW-SELF-001")
        self.assertEqual(len(rejected), 1)
        self.assertEqual(rejected[0]["severity"], "error")
        self.assertIn("policy.yaml:4:", rejected[0]["summary"])
        # The running policy still selects targets.
        subprocess.run([ACTOR, "spawn", "/bin/true", "true"], check=True, stdout=subprocess.DEVNULL)
        self.assertTrue(self.daemon.wait_for(lambda l: l.get("kind") == "target"))


class AccountingTest(unittest.TestCase):
    """Nothing is lost silently: under a flood that overruns a small ring
    buffer, every event is either delivered or counted as dropped."""

    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwt.")
        self.policy = os.path.join(self.tmp, "policy.yaml")
        with open(self.policy, "w") as f:
            f.write("targets:\n  - name: flood\n    role: model-server\n"
                    "    match: {comm: [nbw_bench_workl]}\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_flood_every_event_is_delivered_or_counted(self):
        workload = os.path.join(os.path.dirname(ACTOR), "../bench/nbw_bench_workload")
        d = Daemon("--events", "--ringbuf-mb", "1", policies=self.policy)
        procs, n = 4, 50000
        subprocess.run([workload, "open", str(n), str(procs)], check=True,
                       stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        self.assertEqual(d.stop(), 0)
        with open(d.status_path) as f:
            status = json.load(f)
        sensor, agent = status["sensor"], status["agent"]
        opens = [l for l in d.lines() if l.get("type") == "open"
                 and l["open"]["path"] == "/etc/hostname"]
        # Each of the processes opened /etc/hostname n times: every one of
        # those events was either written out or counted as a drop.
        self.assertGreater(sensor["ringbuf_full"], 0, "the flood did not overrun the ring")
        self.assertGreaterEqual(len(opens) + sensor["ringbuf_full"], procs * n)
        self.assertEqual(sensor["dropped"], sensor["ringbuf_full"])
        # Userspace loses nothing the kernel delivered.
        self.assertEqual(agent["events_emitted"], sensor["events"])
        self.assertEqual(len([l for l in d.lines() if l.get("kind") == "event"]),
                         sensor["events"])
        self.assertIn("DROPPED events: ringbuf_full=", d.read_log())

    def test_sigterm_is_honoured_during_a_flood(self):
        workload = os.path.join(os.path.dirname(ACTOR), "../bench/nbw_bench_workload")
        d = Daemon("--events", policies=self.policy)
        # Its own process group: the workload forks its workers, and killing
        # only the parent would leave them flooding the next test's daemon.
        flood = subprocess.Popen([workload, "open", "2000000", "4"], stdout=subprocess.DEVNULL,
                                 start_new_session=True)
        time.sleep(1.5)  # the ring never empties now
        self.assertIsNone(flood.poll(), "the flood ended too soon to test anything")
        t0 = time.time()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.time() - t0, 10)
        os.killpg(flood.pid, signal.SIGKILL)
        flood.wait()
        self.assertIn("agent: detached", d.read_log())

    def test_status_command_reads_the_running_daemon(self):
        d = Daemon(policies=self.policy)
        deadline = time.time() + 10
        while not os.path.exists(d.status_path) and time.time() < deadline:
            time.sleep(0.1)
        r = subprocess.run([NBWARDEN, "status", "--status-file", d.status_path],
                           capture_output=True, text=True)
        d.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("daemon:   running (pid %d)" % d.proc.pid, r.stdout)
        self.assertIn("dropped:  0", r.stdout)
        r = subprocess.run([NBWARDEN, "status", "--status-file", d.status_path],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 3)  # stopped daemon: not running
        self.assertIn("not running", r.stdout)


class ErrorsTest(unittest.TestCase):
    def setUp(self):
        require_root()

    def test_not_root_is_one_clear_line(self):
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            NBWARDEND, "-p", os.path.join(SOURCE, "policies")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "nbwardend: must run as root (loads eBPF programs)")

    def test_bad_policy_names_file_line_and_column(self):
        d = tempfile.mkdtemp()
        p = os.path.join(d, "bad.yaml")
        with open(p, "w") as f:
            f.write("targets:\n  - name: x\n    role: r\n    match:\n      comm: [python]\n"
                    "      exe: '[unclosed'\n")
        r = subprocess.run([NBWARDEND, "-p", d], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nbwardend: policy error: %s:6:12: 'exe' is not a valid regex" % p, r.stderr)
        r = subprocess.run([NBWARDEN, "policy", "check", d], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:6:12" % p, r.stderr)
        shutil.rmtree(d)

    def test_doctor_reports_the_probe_and_succeeds_here(self):
        r = subprocess.run([NBWARDEN, "doctor"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for row in ("BTF", "raw_tp", "tp_btf", "ring buffer", "bpf_send_signal",
                    "cgroup sock_addr", "fentry", "BPF LSM", "seccomp", "Landlock", "cgroup mode"):
            self.assertIn(row, r.stdout)
        self.assertIn("sensor: can run", r.stdout)


if __name__ == "__main__":
    unittest.main()
