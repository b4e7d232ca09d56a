# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the e2e tests: run the real nbwardend and read its
JSON lines. Needs root; under CI (NBW_REQUIRE_BPF=1) a missing privilege is a
failure, never a skip."""
import json
import os
import subprocess
import tempfile
import time
import unittest

def fresh_home(prefix="nbw-home."):
    """A new, empty home directory: a user who has never run IPython,
    matplotlib or pip. Removed when the test process exits."""
    import atexit
    import shutil
    home = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, home, True)
    return home


def _isolate_environment():
    """Every e2e module runs with a home of its own and without the
    variables that would point Jupyter, IPython, matplotlib or Python at
    state elsewhere, whoever starts it (.ci/test, ctest, a developer's
    shell): root's ~/.ipython, caches or an earlier run cannot change an
    outcome, and every kernel a test starts is a new user's first."""
    for name in list(os.environ):
        if name.startswith(("XDG_", "JUPYTER")) or name in (
                "IPYTHONDIR", "MPLCONFIGDIR", "PYTHONUSERBASE", "PYTHONSTARTUP", "PYTHONPATH"):
            del os.environ[name]
    os.environ["HOME"] = fresh_home()


_isolate_environment()

BUILD = os.environ.get("NBW_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
NBWARDEND = os.path.join(BUILD, "daemon/nbwardend")
NBWARDEN = os.path.join(BUILD, "daemon/nbwarden")
ACTOR = os.path.join(BUILD, "tests/integration/nbw_actor")


# Selectors that give nbw_actor a role: "nbw_actor as-server ..." is a model
# server, "nbw_actor as-kernel ..." a notebook kernel (tests/integration/actor.cc).
ACTOR_ROLE_TARGETS = """targets:
  - name: test-server
    role: model-server
    match: {comm: [nbw_actor], argv: 'nbw_actor as-server '}
  - name: test-kernel
    role: notebook-kernel
    match: {comm: [nbw_actor], argv: 'nbw_actor as-kernel '}
"""


def free_port():
    """A loopback TCP port nothing listens on now."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def actor_policies(dest):
    """The bundled policies copied to dest with the actor's role selectors.
    Where the build (so nbw_actor) lives under a writable temporary
    directory, as CI's clone in /tmp does, NBW-124 (execution from one)
    would fire on every actor run; it is turned off here so a test counts
    the alerts of the feature it tests. detections_test covers NBW-124."""
    import shutil
    shutil.copytree(os.path.join(SOURCE, "policies"), dest)
    with open(os.path.join(dest, "zz-actor.yaml"), "w") as f:
        f.write(ACTOR_ROLE_TARGETS)
    if os.path.realpath(ACTOR).startswith(("/tmp/", "/var/tmp/", "/dev/shm/")):
        p = os.path.join(dest, "rules/escape.yaml")
        with open(p) as f:
            text = f.read()
        head = "  - id: NBW-124\n"
        assert head in text
        text = text.replace(head, head + "    enabled: false\n", 1)
        with open(p, "w") as f:
            f.write(text)
    return dest


def alert_schema():
    with open(os.path.join(SOURCE, "docs/alert.schema.json")) as f:
        return json.load(f)


def require_root():
    """In setUp or setUpClass: root (BPF) or skip; under CI a failure."""
    if os.geteuid() != 0:
        if os.environ.get("NBW_REQUIRE_BPF"):
            raise AssertionError("needs root and BPF (CI)")
        raise unittest.SkipTest("needs root and BPF")


def run_cell(client, code, timeout=60):
    """Executes code in a kernel; returns (status, stdout text)."""
    msg_id = client.execute(code)
    out = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t = msg["msg_type"]
        if t == "stream":
            out.append(msg["content"]["text"])
        if t == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = client.get_shell_msg(timeout=timeout)
    return reply["content"]["status"], "".join(out)


class KernelSession:
    """A real ipykernel (Debian's /usr/bin/python3) started through
    jupyter_client's MultiKernelManager, as Jupyter Server starts kernels,
    with a JupyterHub user and notebook path in its environment."""

    def __init__(self, connection_dir, notebook, kernel_name="python3", kernels_dir=None,
                 env=None):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.multikernelmanager import MultiKernelManager
        self.mkm = MultiKernelManager(connection_dir=connection_dir)
        if kernels_dir:  # only these kernelspecs, as a Jupyter Server set up so
            self.mkm.kernel_spec_manager = KernelSpecManager(kernel_dirs=[kernels_dir])
        env = dict(os.environ, JUPYTERHUB_USER="alice", JPY_SESSION_NAME=notebook,
                   **(env or {}))
        self.kernel_id = self.mkm.start_kernel(kernel_name=kernel_name, env=env)
        self.km = self.mkm.get_kernel(self.kernel_id)
        self.client = self.km.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.pid = self.km.provisioner.process.pid

    def run(self, code, timeout=120):
        return run_cell(self.client, code, timeout)

    def close(self, now=True):
        """now=False asks the kernel to shut down and waits for it to exit by
        itself, as Jupyter's "shut down kernel" does."""
        self.client.stop_channels()
        self.mkm.shutdown_all(now=now)


def data_science_cells(home):
    """What data scientists do all day: pandas, numpy, a plot, files, shell
    commands through subprocess and IPython's !, pip, the connection file."""
    return [
        "import os, numpy as np, pandas as pd\nos.chdir(%r)" % home,
        "df = pd.DataFrame({'x': np.arange(100), 'y': np.random.rand(100)})\n"
        "df.to_csv('data.csv', index=False)\n"
        "back = pd.read_csv('data.csv'); print(len(back))",
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot(back.x, back.y); plt.savefig('plot.png'); print(os.path.getsize('plot.png') > 0)",
        "from sklearn.linear_model import LogisticRegression\n"
        "m = LogisticRegression().fit(df[['x']], df.x > 50); print(m.score(df[['x']], df.x > 50))",
        "import subprocess\nprint(subprocess.run(['ls', '-la'], capture_output=True, text=True).returncode)",
        "get_ipython().system('pip list 2>/dev/null | head -3')",
        "get_ipython().system('ls')",
        "import json\nfrom ipykernel.connect import get_connection_file\n"
        "print(sorted(json.load(open(get_connection_file())))[:1])",
        "print(np.linalg.inv(np.eye(3)).sum())",
    ]


class Daemon:
    """nbwardend in the background; JSON lines to a file, logs to another."""

    def __init__(self, *args, policies=None):
        self.dir = tempfile.mkdtemp(prefix="nbwd.")
        self.out_path = os.path.join(self.dir, "out.jsonl")
        self.log_path = os.path.join(self.dir, "log")
        self.status_path = os.path.join(self.dir, "status.json")
        # Its own control socket unless told: tests never meet another
        # daemon's (or a host's) in /run.
        own = [] if "--control-socket" in args else [
            "--control-socket", os.path.join(self.dir, "control.sock")]
        cmd = [NBWARDEND, "-p", policies or os.path.join(SOURCE, "policies"),
               "-o", self.out_path, "--status-file", self.status_path, *own, *args]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if "agent: watching" in self.read_log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError("nbwardend exited %s: %s" % (self.proc.returncode, self.read_log()))
            time.sleep(0.05)
        raise RuntimeError("nbwardend did not start: " + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def lines(self):
        try:
            with open(self.out_path) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        out = []
        # A last line without its newline is still being written: next time.
        lines = text.split("\n")[:-1]
        for line in lines:
            out.append(json.loads(line))  # every complete line must be one JSON object
        return out

    def wait_for(self, pred, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [l for l in self.lines() if pred(l)]
            if found:
                return found
            time.sleep(0.1)
        return []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def events_of(lines, pid):
    return [l for l in lines if l.get("kind") == "event" and l["proc"]["pid"] == pid]
