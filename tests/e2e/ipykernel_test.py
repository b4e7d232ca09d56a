# SPDX-License-Identifier: Apache-2.0
"""A real Jupyter kernel under a real nbwardend: ipykernel started through
jupyter_client's MultiKernelManager (as Jupyter Server does) with Debian's
/usr/bin/python3, cells that read a file and run a subprocess. The daemon,
on the bundled policies, must report the kernel as a target with its kernel
id and Jupyter identity, and the cells' file and process events."""
import os
import shutil
import sys
import tempfile
import time
import unittest

from nbwtest import Daemon, KernelSession, data_science_cells, fresh_home, require_root


class IpykernelTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.assertEqual(sys.executable, "/usr/bin/python3",
                         "run with Debian's python3 (it has ipykernel)")
        self.tmp = tempfile.mkdtemp(prefix="nbwk.")
        self.data = os.path.join(self.tmp, "measurements.csv")
        with open(self.data, "w") as f:
            f.write("a,b\n1,2\n")
        self.daemon = Daemon("--events")
        self.k = KernelSession(self.tmp, "/home/alice/work/analysis.ipynb")
        self.kernel_id = self.k.kernel_id

    def tearDown(self):
        if hasattr(self, "k"):
            self.k.close()
        if hasattr(self, "daemon"):
            self.daemon.stop()
        if hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_kernel_is_a_target_and_its_cells_are_observed(self):
        status, out = self.k.run("print(open(%r).read().splitlines()[1])" % self.data)
        self.assertEqual((status, out), ("ok", "1,2\n"))
        status, out = self.k.run(
            "import subprocess\n"
            "print(subprocess.run(['/bin/echo', 'from-the-kernel'], capture_output=True,"
            " text=True).stdout, end='')")
        self.assertEqual((status, out), ("ok", "from-the-kernel\n"))

        targets = self.daemon.wait_for(
            lambda l: l.get("kind") == "target"
            and l["target"].get("kernel_id") == self.kernel_id)
        self.assertEqual(len(targets), 1, self.daemon.lines()[:3])
        t = targets[0]
        kernel_pid = self.k.pid
        self.assertEqual(t["proc"]["pid"], kernel_pid)
        self.assertEqual(t["how"], "exec")
        self.assertEqual(t["target"]["role"], "notebook-kernel")
        self.assertEqual(t["target"]["selector"], "jupyter-ipykernel")
        self.assertEqual(t["target"]["user"], "alice")
        self.assertEqual(t["target"]["notebook_path"], "/home/alice/work/analysis.ipynb")
        self.assertEqual(t["proc"]["exe"], os.path.realpath("/usr/bin/python3"))
        self.assertIn("ipykernel_launcher", t["proc"]["argv"])

        # Cell 1: the kernel read the CSV.
        opens = self.daemon.wait_for(
            lambda l: l.get("type") == "open" and l["open"]["path"] == self.data)
        self.assertEqual(len(opens), 1)
        o = opens[0]
        self.assertEqual(o["proc"]["pid"], kernel_pid)
        self.assertTrue(o["open"]["read"])
        self.assertEqual(o["target"]["kernel_id"], self.kernel_id)
        self.assertEqual(o["target"]["user"], "alice")
        # Cell 2: the kernel forked, the child exec'd echo, and exited 0.
        execs = self.daemon.wait_for(
            lambda l: l.get("type") == "exec" and l["exec"].get("exe") == "/usr/bin/echo")
        self.assertEqual(len(execs), 1)
        e = execs[0]
        self.assertEqual(e["exec"]["argv"], ["/bin/echo", "from-the-kernel"])
        self.assertEqual(e["proc"]["ppid"], kernel_pid)
        self.assertEqual(e["target"]["kernel_id"], self.kernel_id)
        self.assertEqual(e["target"]["notebook_path"], "/home/alice/work/analysis.ipynb")
        forks = [l for l in self.daemon.lines() if l.get("type") == "fork"
                 and l["fork"]["child_pid"] == e["proc"]["pid"]]
        self.assertEqual(len(forks), 1)
        self.assertEqual(forks[0]["proc"]["pid"], kernel_pid)
        exits = self.daemon.wait_for(
            lambda l: l.get("type") == "exit" and l["proc"]["pid"] == e["proc"]["pid"])
        self.assertEqual(exits[0]["exit"]["code"], 0)

    def test_data_science_session_raises_no_warning(self):
        """False positives: what data scientists do all day raises nothing of
        severity warning or higher."""
        home = os.path.join(self.tmp, "home")
        os.makedirs(home)
        cells = data_science_cells(home)
        for code in cells:
            status, _ = self.k.run(code)
            self.assertEqual(status, "ok", code)
        self.assertTrue(os.path.getsize(os.path.join(home, "plot.png")) > 0)
        time.sleep(1.0)
        lines = self.daemon.lines()
        self.assertTrue([l for l in lines if l.get("kind") == "target"])
        loud = [l for l in lines if l.get("kind") == "alert"
                and l["severity"] in ("emergency", "alert", "critical", "error", "warning")]
        self.assertEqual(loud, [], [(a["rule"]["id"], a["summary"]) for a in loud])

    def test_first_kernel_of_a_new_user_raises_no_warning(self):
        """A user who has never run IPython: the kernel's first start creates
        the profile (startup/README, the history database), matplotlib builds
        its font cache, pip its cache; none of it is persistence. A startup
        script dropped by a cell into the same profile is (NBW-150), and so
        is one dropped where IPYTHONDIR points."""
        home = fresh_home("nbw-newuser.")
        self.assertEqual(os.listdir(home), [])
        work = os.path.join(self.tmp, "work")
        os.makedirs(work)
        k = KernelSession(self.tmp, "/home/bob/first.ipynb", env={"HOME": home})
        try:
            for code in data_science_cells(work):
                status, _ = k.run(code)
                self.assertEqual(status, "ok", code)
            startup = os.path.join(home, ".ipython/profile_default/startup")
            # Proof this was IPython's first start for this user, and that
            # matplotlib made its cache here.
            self.assertTrue(os.path.isfile(os.path.join(startup, "README")))
            self.assertTrue(os.path.isdir(os.path.join(home, ".cache/matplotlib")))
            time.sleep(1.0)
            loud = self.loud_alerts(k.kernel_id)
            self.assertEqual(loud, [], [(a["rule"]["id"], a["summary"]) for a in loud])

            # The class the rule exists for: code IPython will run at the
            # next start, whatever the profile or IPYTHONDIR.
            other = os.path.join(home, "elsewhere/profile_work/startup")
            for path in (os.path.join(startup, "00-hook.py"),
                         os.path.join(startup, "10-hook.ipy"),
                         os.path.join(other, "00-hook.py")):
                status, _ = k.run("import os\nos.makedirs(os.path.dirname(%r), exist_ok=True)\n"
                                  "open(%r, 'w').write('print(1)')" % (path, path))
                self.assertEqual(status, "ok")
                found = self.daemon.wait_for(
                    lambda l: l.get("kind") == "alert" and l["rule"]["id"] == "NBW-150"
                    and l["event"]["open"]["path"] == path)
                self.assertEqual(len(found), 1, path)
                self.assertEqual(found[0]["target"]["kernel_id"], k.kernel_id)
        finally:
            k.close()

    def loud_alerts(self, kernel_id=None):
        return [l for l in self.daemon.lines() if l.get("kind") == "alert"
                and l["severity"] in ("emergency", "alert", "critical", "error", "warning")
                and (kernel_id is None or l["target"].get("kernel_id") == kernel_id)]

    def test_kernel_already_running_is_found_at_start_up(self):
        self.daemon.stop()
        self.daemon = Daemon("--events")
        targets = self.daemon.wait_for(lambda l: l.get("kind") == "target")
        self.assertEqual([t["target"].get("kernel_id") for t in targets], [self.kernel_id])
        self.assertEqual(targets[0]["how"], "running")
        self.assertEqual(targets[0]["target"]["user"], "alice")
        status, _ = self.k.run("open(%r).read()" % self.data)
        self.assertEqual(status, "ok")
        self.assertTrue(self.daemon.wait_for(
            lambda l: l.get("type") == "open" and l["open"]["path"] == self.data))


if __name__ == "__main__":
    unittest.main()
