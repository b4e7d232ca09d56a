# SPDX-License-Identifier: Apache-2.0
"""The model-load guard end to end: a real ipykernel (Debian's /usr/bin/python3,
started through jupyter_client) runs torch.load on real model files under a
real nbwardend. A malicious .pt whose pickle runs a shell command must raise
the scan alert (path, sha256, findings) and the code-execution alert (the
spawned command, the model's sha256 and verdict); with kill enforcement the
payload's marker file must never appear; a clean model raises nothing."""
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

from nbwtest import SOURCE, Daemon, KernelSession, alert_schema, require_root

NOTEBOOK = "/home/alice/models.ipynb"

MODEL_ALERTS = ("NBW-4",)


def make_models(d, marker):
    """A clean state dict and malicious checkpoints, written by torch itself."""
    import pickle

    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + marker,))

    class Dial:
        def __init__(self, port):
            self.port = port

        def __reduce__(self):
            return (eval, ("__import__('socket').create_connection(('127.0.0.1', %d), 2)"
                           % self.port,))

    net = torch.nn.Linear(4, 2)
    paths = {"clean": os.path.join(d, "clean.pt"), "evil": os.path.join(d, "evil.pt"),
             "renamed": os.path.join(d, "weights.txt"), "pkl": os.path.join(d, "evil.pkl")}
    torch.save(net.state_dict(), paths["clean"])
    torch.save({"w": torch.ones(2), "x": Payload()}, paths["evil"])
    shutil.copy(paths["evil"], paths["renamed"])
    with open(paths["pkl"], "wb") as f:
        pickle.dump(Payload(), f, protocol=4)

    def dial(port):
        p = os.path.join(d, "dial.pt")
        torch.save({"x": Dial(port)}, p)
        return p
    return paths, dial


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def policies_with(tmp, enable=(), grace_ms=None):
    """The bundled policies, with the named disabled rules turned on."""
    d = os.path.join(tmp, "policies")
    shutil.copytree(os.path.join(SOURCE, "policies"), d)
    p = os.path.join(d, "rules/model-load.yaml")
    with open(p) as f:
        text = f.read()
    for rule in enable:
        head = "  - id: %s\n" % rule
        at = text.index(head)
        end = text.index("enabled: false", at)
        text = text[:end] + "enabled: true" + text[end + len("enabled: false"):]
    with open(p, "w") as f:
        f.write(text)
    if grace_ms is not None:
        with open(os.path.join(d, "zz-grace.yaml"), "w") as f:
            f.write("model_guard:\n  grace_ms: %d\n" % grace_ms)
    return d


class ModelGuardDetectTest(unittest.TestCase):
    """Bundled policies: detection only."""

    @classmethod
    def setUpClass(cls):
        require_root()
        assert sys.executable == "/usr/bin/python3"
        cls.tmp = tempfile.mkdtemp(prefix="nbwm.")
        cls.marker = os.path.join(cls.tmp, "payload-ran")
        cls.paths, _ = make_models(cls.tmp, cls.marker)
        cls.daemon = Daemon("--events")
        cls.k = KernelSession(cls.tmp, NOTEBOOK)
        status, _ = cls.k.run("import torch, pickle")
        assert status == "ok"

    @classmethod
    def tearDownClass(cls):
        cls.k.close()
        cls.daemon.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if os.path.exists(self.marker):
            os.unlink(self.marker)

    def alerts(self, rule, path, timeout=15):
        return self.daemon.wait_for(
            lambda l: l.get("kind") == "alert" and l["rule"]["id"] == rule
            and l.get("model", {}).get("path") == path, timeout)

    def test_malicious_checkpoint_raises_scan_and_execution_alerts(self):
        import jsonschema
        path = self.paths["evil"]
        status, _ = self.k.run("torch.load(%r)" % path)
        self.assertEqual(status, "ok")
        self.assertTrue(os.path.exists(self.marker), "detection only: the payload runs")

        scanned = self.alerts("NBW-400", path)
        self.assertEqual(len(scanned), 1, self.daemon.lines()[-5:])
        a = scanned[0]
        self.assertEqual(a["severity"], "critical")
        self.assertEqual(a["proc"]["pid"], self.k.pid)
        self.assertEqual(a["target"]["kernel_id"], self.k.kernel_id)
        self.assertEqual(a["target"]["user"], "alice")
        m = a["model"]
        self.assertEqual((m["verdict"], m["sha256"], m["trigger"], m["format"]),
                         ("malicious", sha256(path), "extension", "pytorch-zip"))
        self.assertIn("posix.system", [f.get("global") for f in m["findings"]])
        self.assertIn("posix.system", a["summary"])

        ran = self.alerts("NBW-410", path)
        self.assertGreaterEqual(len(ran), 1)
        e = ran[0]
        self.assertEqual(e["event"]["exec"]["argv"], ["sh", "-c", "touch " + self.marker])
        self.assertEqual(e["event"]["model_window"], True)
        self.assertEqual(e["proc"]["ppid"], self.k.pid)
        self.assertEqual((e["model"]["sha256"], e["model"]["verdict"]),
                         (sha256(path), "malicious"))
        self.assertEqual(e["model"]["loader_pid"], self.k.pid)
        # The scan alert comes first: the execution alert waited for it.
        lines = self.daemon.lines()
        self.assertLess(lines.index(a), lines.index(e))
        for alert in scanned + ran:
            jsonschema.validate(alert, alert_schema())

    def test_clean_checkpoint_loads_without_alert(self):
        path = self.paths["clean"]
        status, out = self.k.run("print(sorted(torch.load(%r)))" % path)
        self.assertEqual((status, out), ("ok", "['bias', 'weight']\n"))
        opened = self.daemon.wait_for(
            lambda l: l.get("type") == "model" and l["model"]["path"] == path)
        self.assertEqual(len(opened), 1)
        self.assertEqual(opened[0]["model"]["trigger"], "extension")
        # Give the scan time to finish, then: nothing about this model.
        self.daemon.wait_for(lambda l: False, timeout=2)
        model_alerts = [l for l in self.daemon.lines() if l.get("kind") == "alert"
                        and l.get("model", {}).get("path") == path]
        self.assertEqual(model_alerts, [])

    def test_a_renamed_checkpoint_opens_the_window_by_content(self):
        path = self.paths["renamed"]
        status, _ = self.k.run("torch.load(%r)" % path)
        self.assertEqual(status, "ok")
        scanned = self.alerts("NBW-400", path)
        self.assertEqual(len(scanned), 1)
        self.assertEqual(scanned[0]["model"]["trigger"], "content")
        self.assertGreaterEqual(len(self.alerts("NBW-410", path)), 1)

    def test_a_pickle_unpickled_after_its_file_closed_is_inside_the_grace(self):
        path = self.paths["pkl"]
        status, _ = self.k.run("data = open(%r, 'rb').read()\npickle.loads(data)" % path)
        self.assertEqual(status, "ok")
        ran = self.alerts("NBW-410", path)
        self.assertGreaterEqual(len(ran), 1)
        self.assertEqual(ran[0]["model"]["verdict"], "malicious")

    def test_shell_commands_outside_a_window_are_not_model_alerts(self):
        time.sleep(2.5)  # past the grace of earlier loads
        status, _ = self.k.run("import subprocess; subprocess.run(['true'])")
        self.assertEqual(status, "ok")
        self.daemon.wait_for(lambda l: False, timeout=1)
        late = [l for l in self.daemon.lines() if l.get("kind") == "alert"
                and l["rule"]["id"] == "NBW-410"
                and l["event"]["exec"].get("argv") == ["true"]]
        self.assertEqual(late, [])


class ModelGuardEnforceTest(unittest.TestCase):
    """NBW-420/421 enabled: the kernel kills execs and refuses connects in
    the window."""

    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwm.")
        self.marker = os.path.join(self.tmp, "payload-ran")
        self.paths, self.dial = make_models(self.tmp, self.marker)
        self.daemon = Daemon(policies=policies_with(self.tmp, ["NBW-420", "NBW-421"],
                                                    grace_ms=300))
        self.k = KernelSession(self.tmp, NOTEBOOK)
        status, _ = self.k.run("import torch")
        self.assertEqual(status, "ok")

    def tearDown(self):
        self.k.close()
        self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_the_payload_of_a_malicious_checkpoint_never_runs(self):
        path = self.paths["evil"]
        status, out = self.k.run("r = torch.load(%r)\nprint(r['x'])" % path)
        self.assertEqual(status, "ok")
        # os.system's shell was killed before its first instruction
        self.assertEqual(out, "9\n")
        time.sleep(0.5)
        self.assertFalse(os.path.exists(self.marker), "the payload ran under enforcement")
        killed = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                      and l["rule"]["id"] == "NBW-420")
        self.assertEqual(len(killed), 1)
        self.assertEqual(killed[0]["action"], "killed")
        self.assertEqual(killed[0]["model"]["sha256"], sha256(path))
        self.assertEqual(killed[0]["event"]["exec"]["killed"], True)

        # The kernel is unharmed and, past the window, runs programs again.
        time.sleep(0.5)
        status, out = self.k.run("import subprocess\n"
                                 "print(subprocess.run(['echo', 'after'], capture_output=True,"
                                 " text=True).stdout, end='')\n"
                                 "print(sorted(torch.load(%r)))" % self.paths["clean"])
        self.assertEqual((status, out), ("ok", "after\n['bias', 'weight']\n"))

    def test_a_payload_cannot_connect_out(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(3)
        port = srv.getsockname()[1]
        accepted = []
        t = threading.Thread(target=lambda: accepted.append(self._accept(srv)))
        t.start()
        path = self.dial(port)
        status, _ = self.k.run("try:\n    torch.load(%r)\nexcept PermissionError as e:\n"
                               "    print('refused', e.errno)" % path)
        t.join()
        srv.close()
        self.assertEqual(status, "ok")
        self.assertEqual(accepted, [None], "the payload reached the listener")
        denied = self.daemon.wait_for(lambda l: l.get("kind") == "alert"
                                      and l["rule"]["id"] == "NBW-421")
        self.assertEqual(len(denied), 1)
        self.assertEqual(denied[0]["action"], "denied")
        self.assertEqual(denied[0]["event"]["net"]["port"], port)
        self.assertEqual(denied[0]["event"]["errno"], "EPERM")

    @staticmethod
    def _accept(srv):
        try:
            c, _ = srv.accept()
            c.close()
            return "connected"
        except OSError:
            return None


if __name__ == "__main__":
    unittest.main()
