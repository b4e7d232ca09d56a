# SPDX-License-Identifier: Apache-2.0
"""Every command line container/ ships starts as shipped.

Kubernetes starts a container with the image's ENTRYPOINT and CMD joined with
the pod's `command` and `args`: `command` replaces ENTRYPOINT, `args`
replaces CMD. This test parses the Containerfile's runtime stage (JSON exec
form) and the manifests' container specs, joins them the same way, and
starts exactly that argv in runc, a real OCI runtime (there is no container
engine here to build or pull the image), in a filesystem laid out as the
image's:

- the Debian base layer: the host's /usr and /etc (this machine is Debian
  12, the image's base), read-only, with debian:12's usrmerge symlinks
  /bin, /lib, /lib64 and /sbin;
- the image's own layer: the build installed with `DESTDIR=... cmake
  --install --prefix /usr/local`, as the Containerfile's build stage does,
  laid over the base as an overlayfs lower layer (layers are what an image
  is made of): /usr/local/bin/nbwardend, the repository's policies at
  /etc/nbwarden/policies, the default /etc/nbwarden/nbwarden.yaml;
- the pod's volumes at their mountPaths: hostPaths bind-mounted recursively
  (as the kubelet does) and read-only where the manifest says so, emptyDirs
  as fresh directories, ConfigMap and Secret keys as files mounted by
  subPath; zero-to-jupyterhub's singleuser.extraFiles becomes the Secret
  volume `files` its jupyterhub_config.py makes;
- the securityContext: capabilities (drop ALL, add the listed ones),
  no_new_privs for allowPrivilegeEscalation: false, a read-only root;
- the pod's network namespace, held by a sleeping process with `lo` up, as
  the pause container holds it; hostPID shares the host's pid namespace.

Not modelled, and why it does not matter here: shareProcessNamespace. The
sidecar's container gets a pid namespace of its own; `--scope pod` then
watches that namespace, which is the container's instead of the pod's
(tests/e2e/sidecar_test.py covers the scoping). The daemon starts the same
either way. The daemonset's hostPath /var/lib/nbwarden (DirectoryOrCreate)
is a temporary directory: a test leaves no state on the machine.

Each case asserts the daemon logs "agent: watching", writes its status file
on the pod's volume and stops with status 0 ("agent: detached") on SIGTERM
sent as the kubelet sends it (`runc kill`); `kubectl exec` is `runc exec`.
The sidecar values as first shipped (`--config` repeated in args) are
started the same way and must fail: that is the check that would have
caught the daemon's exit 114."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import yaml

from nbwtest import BUILD, SOURCE, require_root, run_cell

C = os.path.join(SOURCE, "container")
# debian:12's ENV PATH, which the image keeps (the Containerfile sets none).
IMAGE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
# The sidecar's args as first shipped: --config again, after the ENTRYPOINT's.
FIRST_SHIPPED_SIDECAR_ARGS = ["--scope=pod", "--proc-root=/host/proc",
                              "--config=/etc/nbwarden/nbwarden.yaml",
                              "--status-file=/run/nbwarden/status.json"]


def image_command(path):
    """(ENTRYPOINT, CMD) of the Containerfile's last stage, which must use the
    JSON exec form: a shell-form line would be run by /bin/sh -c instead.
    Setting ENTRYPOINT resets the CMD inherited from the base image."""
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    stage = text.rsplit("\nFROM ", 1)[1]
    found = {"ENTRYPOINT": [], "CMD": []}
    for line in stage.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in found:
            try:
                value = json.loads(rest)
            except ValueError:
                raise AssertionError("%s: %s is not in JSON exec form: %s" % (path, word, rest))
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AssertionError("%s: %s must be a list of strings" % (path, word))
            found[word] = value
    return found["ENTRYPOINT"], found["CMD"]


def kubernetes_argv(entrypoint, cmd, container):
    """The argv Kubernetes starts: `command` replaces ENTRYPOINT (and drops
    CMD), `args` replaces CMD; an empty list is the same as none (the API
    omits it)."""
    command, args = container.get("command"), container.get("args")
    argv = list(command) + list(args or []) if command else list(entrypoint) + list(args or cmd)
    for a in argv:
        # $(VAR) would be expanded by the kubelet; none is shipped, so none is modelled.
        assert "$(" not in a, "argv uses $(VAR) expansion: %s" % a
    return argv


def z2jh_pod(values):
    """The single-user pod zero-to-jupyterhub assembles from values: volumes
    from singleuser.storage.extraVolumes, plus the volume `files` holding
    singleuser.extraFiles (its jupyterhub_config.py: a Secret whose items
    are the file keys), and the extra containers."""
    su = values["singleuser"]
    volumes = list(su["storage"].get("extraVolumes", []))
    files = su.get("extraFiles", {})
    secrets = {}
    if files:
        for key, f in files.items():
            # The chart's schema: mountPath, and exactly one of data/stringData/binaryData.
            assert "mountPath" in f, key
            assert len({"data", "stringData", "binaryData"} & set(f)) == 1, key
            assert set(f) <= {"mountPath", "data", "stringData", "binaryData", "mode"}, key
            assert "stringData" in f, "%s: only stringData is modelled" % key
        volumes.append({"name": "files", "secret": {
            "secretName": "singleuser", "items": [{"key": k, "path": k} for k in files]}})
        secrets["singleuser"] = {k: f["stringData"] for k, f in files.items()}
    return {"volumes": volumes, "containers": su["extraContainers"],
            "hostPID": su.get("extraPodConfig", {}).get("hostPID", False)}, secrets


class PodHarness:
    """One container of a pod, started with runc as described above."""

    def __init__(self, tmp, image_root, name):
        self.tmp, self.image_root, self.name = tmp, image_root, name
        self.runc = self.sandbox = None
        os.makedirs(tmp)

    def volume_dirs(self, volumes, configmaps=None, secrets=None):
        """Host directory (or file) behind each volume of the pod, and
        whether its content is read-only whatever the mount says."""
        out = {}
        for v in volumes:
            d = os.path.join(self.tmp, "vol-" + v["name"])
            if "hostPath" in v:
                path = v["hostPath"]["path"]
                if v["hostPath"].get("type") == "DirectoryOrCreate":
                    os.makedirs(d)  # not created on this machine: a temporary one
                    path = d
                assert os.path.exists(path), "hostPath %s does not exist on this node" % path
                out[v["name"]] = (path, False)
            elif "emptyDir" in v:
                os.makedirs(d)
                out[v["name"]] = (d, False)
            elif "configMap" in v or "secret" in v:
                data = (configmaps or {}).get(v["configMap"]["name"]) if "configMap" in v else \
                    (secrets or {}).get(v["secret"]["secretName"])
                assert data is not None, "volume %s: its object is not in the manifests" % v["name"]
                os.makedirs(d)
                for key, content in data.items():
                    with open(os.path.join(d, key), "w") as f:
                        f.write(content)
                out[v["name"]] = (d, True)
            else:
                raise AssertionError("volume %s: a kind this harness does not model" % v)
        return out

    def mounts(self, container, volume_dirs):
        out = []
        for m in container.get("volumeMounts", []):
            assert m["name"] in volume_dirs, \
                "volumeMount %s names no volume of the pod" % m["name"]
            src, ro = volume_dirs[m["name"]]
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
                assert os.path.exists(src), "subPath %s is not in volume %s" % (m["subPath"],
                                                                               m["name"])
            opts = ["rbind", "nosuid", "nodev"]
            if ro or m.get("readOnly"):
                opts.append("ro")
            out.append({"destination": m["mountPath"], "type": "bind", "source": src,
                        "options": opts})
        return out

    def start_sandbox(self):
        """The pod's network namespace, loopback up (the pause container's)."""
        self.sandbox = subprocess.Popen(
            ["unshare", "--net", "--", "/bin/sh", "-c",
             "ip link set lo up && echo up && exec sleep 100000"], stdout=subprocess.PIPE)
        assert self.sandbox.stdout.readline() == b"up\n"
        return "/proc/%d/ns/net" % self.sandbox.pid

    def bundle(self, argv, container, mounts, host_pid=False, host_net=False, env=(),
               read_only_root=None):
        b = os.path.join(self.tmp, "bundle")
        root = os.path.join(b, "rootfs")
        for d in ("proc", "sys", "dev", "tmp", "run", "var/lib", "home", "root", "usr", "etc"):
            os.makedirs(os.path.join(root, d))
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        for link in ("bin", "lib", "lib64", "sbin"):  # debian:12 is usrmerged
            os.symlink("usr/" + link, os.path.join(root, link))
        subprocess.run(["runc", "spec"], cwd=b, check=True)
        with open(os.path.join(b, "config.json")) as f:
            cfg = json.load(f)
        sc = container.get("securityContext", {})
        caps = sc.get("capabilities", {})
        if caps:
            assert caps.get("drop") == ["ALL"], "only drop: [ALL] is modelled"
        p = cfg["process"]
        p.update(terminal=False, args=argv, cwd="/",
                 env=IMAGE_ENV + ["HOSTNAME=" + self.name] + list(env),
                 user={"uid": sc.get("runAsUser", 0), "gid": sc.get("runAsGroup", 0)},
                 noNewPrivileges=sc.get("allowPrivilegeEscalation") is False)
        if caps:  # else the runtime's default set (runc spec's)
            capset = ["CAP_" + c for c in caps.get("add", [])]
            p["capabilities"] = {"bounding": capset, "effective": capset, "permitted": capset}
        p.pop("rlimits", None)  # the runtime's own limits, as containerd passes them on
        for e in container.get("env", []):
            if "value" in e:
                p["env"].append("%s=%s" % (e["name"], e["value"]))
            elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
                p["env"].append("%s=node-under-test" % e["name"])
            else:
                raise AssertionError("env %s: a source this harness does not model" % e)
        cfg["root"]["readonly"] = bool(sc.get("readOnlyRootFilesystem")) \
            if read_only_root is None else read_only_root
        # The image: its layer over the Debian base, read-only.
        layers = [{"destination": "/" + d, "type": "overlay", "source": "overlay",
                   "options": ["ro", "lowerdir=%s:%s" % (os.path.join(self.image_root, d),
                                                         "/" + d)]} for d in ("usr", "etc")]
        cfg["mounts"] += layers + list(mounts)
        ns = []
        for n in cfg["linux"]["namespaces"]:
            if n["type"] == "pid" and host_pid:
                continue
            if n["type"] == "network":
                if host_net:
                    continue
                n = {"type": "network", "path": self.start_sandbox()}
            ns.append(n)
        cfg["linux"]["namespaces"] = ns
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        return b

    def run(self, bundle):
        """runc run in the foreground: it returns the container's status."""
        self.out_path = os.path.join(self.tmp, "stdout")
        self.log_path = os.path.join(self.tmp, "stderr")
        with open(self.out_path, "w") as out, open(self.log_path, "w") as err:
            self.runc = subprocess.Popen(["runc", "run", "--bundle", bundle, self.name],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stdout_lines(self):
        with open(self.out_path) as f:
            return [json.loads(l) for l in f.read().split("\n")[:-1]]

    def wait_for_log(self, text, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log():
                return True
            if self.runc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def exec(self, *argv, timeout=30):
        """kubectl exec: a process in the running container."""
        return subprocess.run(["runc", "exec", self.name, *argv], capture_output=True,
                              text=True, timeout=timeout)

    def stop(self):
        """The kubelet's stop: SIGTERM to the container's process."""
        subprocess.run(["runc", "kill", self.name, "TERM"], check=True)
        return self.runc.wait(timeout=30)

    def close(self):
        if self.runc and self.runc.poll() is None:
            subprocess.run(["runc", "kill", self.name, "KILL"], capture_output=True)
            try:
                self.runc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.runc.kill()
                self.runc.wait()
        subprocess.run(["runc", "delete", "--force", self.name], capture_output=True)
        if self.sandbox:
            self.sandbox.kill()
            self.sandbox.wait()
            self.sandbox.stdout.close()


class ContainerCommandLineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root()
        cls.tmp = tempfile.mkdtemp(prefix="nbwimg.")
        # The image's layer, as the Containerfile's build stage makes it.
        cls.image_root = os.path.join(cls.tmp, "out")
        r = subprocess.run([shutil.which("cmake") or "cmake", "--install", BUILD, "--prefix",
                            "/usr/local"], env=dict(os.environ, DESTDIR=cls.image_root),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        # debian:12 has an empty /usr/local and no /etc/nbwarden: opaque
        # directories in this layer hide whatever this machine has there.
        for d in ("usr/local", "etc/nbwarden"):
            os.setxattr(os.path.join(cls.image_root, d), "trusted.overlay.opaque", b"y")
        cls.entrypoint, cls.cmd = image_command(os.path.join(C, "Containerfile"))
        cls.count = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def harness(self):
        type(self).count += 1
        h = PodHarness(os.path.join(self.tmp, "pod%d" % self.count), self.image_root,
                       "nbw-cmdline-%d-%d" % (os.getpid(), self.count))
        self.addCleanup(h.close)
        return h

    def sidecar(self, args=None):
        with open(os.path.join(C, "jupyterhub-values.yaml")) as f:
            values = yaml.safe_load(f)
        pod, secrets = z2jh_pod(values)
        container = dict(pod["containers"][0])
        if args is not None:
            container["args"] = args
        h = self.harness()
        vols = h.volume_dirs(pod["volumes"], secrets=secrets)
        argv = kubernetes_argv(self.entrypoint, self.cmd, container)
        h.run(h.bundle(argv, container, h.mounts(container, vols), host_pid=pod["hostPID"]))
        return h, vols, values

    def assert_started_and_stops(self, h, run_dir):
        self.assertTrue(h.wait_for_log("agent: watching"), h.log())
        status = os.path.join(run_dir, "status.json")
        deadline = time.time() + 15  # the shipped interval: every 5 s
        while time.time() < deadline and not os.path.exists(status):
            time.sleep(0.2)
        with open(status) as f:
            self.assertIn("agent", json.load(f))
        # `kubectl exec ... nbwarden status`, as an operator (and the liveness probe) asks.
        r = h.exec("/usr/local/bin/nbwarden", "status", "--socket", "/run/nbwarden/control.sock")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(h.stop(), 0, h.log())
        self.assertIn("agent: detached", h.log())

    def test_the_image_command_line_is_the_entrypoint(self):
        self.assertEqual(self.entrypoint, ["/usr/local/bin/nbwardend", "--policies",
                                           "/etc/nbwarden/policies", "--config",
                                           "/etc/nbwarden/nbwarden.yaml"])
        self.assertEqual(self.cmd, [])
        for path in ("usr/local/bin/nbwardend", "usr/local/bin/nbwarden",
                     "usr/local/bin/nbwarden-exec", "etc/nbwarden/policies/targets.yaml",
                     "etc/nbwarden/nbwarden.yaml"):
            self.assertTrue(os.path.exists(os.path.join(self.image_root, path)), path)

    def test_the_jupyterhub_sidecar_starts_with_its_own_config(self):
        h, vols, values = self.sidecar()
        run_dir = vols["nbwarden-run"][0]
        self.assertTrue(h.wait_for_log("agent: watching"), h.log())
        self.assertIn("agent: scope pod", h.log())
        # Its config is the one in the values, at the path the ENTRYPOINT names,
        # and the real `nbwarden config check` accepts it there: no sink (no
        # syslog spooling forever without /dev/log), alerts on stdout and the stream.
        r = h.exec("/usr/local/bin/nbwarden", "config", "check", "/etc/nbwarden/nbwarden.yaml")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("/etc/nbwarden/nbwarden.yaml: OK, 0 sink(s)", r.stdout)
        self.assertIn("stream /run/nbwarden/alerts.sock", r.stdout)
        r = h.exec("/bin/cat", "/etc/nbwarden/nbwarden.yaml")
        self.assertEqual(r.stdout,
                         values["singleuser"]["extraFiles"]["nbwarden-sidecar.yaml"]["stringData"])
        self.assertNotIn("syslog", h.log())
        # A kernel in the pod reads a secret: the alert is on the container's
        # stdout (kubectl logs) and on the stream (`kubectl exec -c nbwarden --
        # nbwarden tail`, its default socket).
        tail = subprocess.Popen(["runc", "exec", h.name, "/usr/local/bin/nbwarden", "tail",
                                 "--json", "-n", "1"], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: tail.poll() is None and tail.kill())
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(os.path.join(run_dir, "alerts.sock")):
            time.sleep(0.1)
        r = h.exec("/usr/bin/python3", "-c", "open('/etc/shadow').read()", "ipykernel_launcher")
        self.assertEqual(r.returncode, 0, r.stderr)
        streamed = json.loads(tail.communicate(timeout=30)[0])
        self.assertEqual(streamed["rule"]["id"], "NBW-100")
        logged = [l for l in h.stdout_lines() if l.get("kind") == "alert"]
        self.assertEqual([l["rule"]["id"] for l in logged], ["NBW-100"])
        self.assertEqual(logged[0]["proc"]["pid"], streamed["proc"]["pid"])
        self.assert_started_and_stops(h, run_dir)

    def test_the_sidecar_as_first_shipped_does_not_start(self):
        # The harness would have caught it: --config twice, the daemon refuses.
        h, vols, _ = self.sidecar(args=FIRST_SHIPPED_SIDECAR_ARGS)
        status = h.runc.wait(timeout=30)
        self.assertNotEqual(status, 0)
        self.assertIn("--config", h.log())
        self.assertNotIn("agent: watching", h.log())

    def test_the_daemonset_starts(self):
        with open(os.path.join(C, "daemonset.yaml")) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        ds = [d for d in docs if d["kind"] == "DaemonSet"][0]["spec"]["template"]["spec"]
        configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
        container = ds["containers"][0]
        h = self.harness()
        vols = h.volume_dirs(ds["volumes"], configmaps=configmaps)
        argv = kubernetes_argv(self.entrypoint, self.cmd, container)
        h.run(h.bundle(argv, container, h.mounts(container, vols), host_pid=ds["hostPID"]))
        self.assertTrue(h.wait_for_log("agent: watching"), h.log())
        self.assertIn("agent: metrics on http://127.0.0.1:9464/metrics", h.log())
        # The liveness probe, exactly as shipped.
        probe = container["livenessProbe"]["exec"]["command"]
        r = h.exec(*probe)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assert_started_and_stops(h, vols["run"][0])

    def start_kernelspec(self, spec):
        """A kernelspec's argv as Jupyter Server runs it in a notebook
        container made of the image: uid 1000 (docker-stacks' jovyan), the
        runtime's default capabilities, the connection file in the runtime
        directory of a fresh home. The pod's network is the host's here, so
        this test's client reaches the kernel's ports on 127.0.0.1."""
        from jupyter_client import BlockingKernelClient
        from jupyter_client.connect import write_connection_file
        h = self.harness()
        home = os.path.join(h.tmp, "home")
        runtime = os.path.join(home, ".local/share/jupyter/runtime")
        os.makedirs(runtime)
        conn, _ = write_connection_file(os.path.join(runtime, "kernel-cmdline.json"),
                                        ip="127.0.0.1")
        for d, _, files in os.walk(home):
            for p in [d] + [os.path.join(d, f) for f in files]:
                os.chown(p, 1000, 100)
        in_pod = "/home/jovyan/.local/share/jupyter/runtime/kernel-cmdline.json"
        argv = [a.replace("{connection_file}", in_pod) for a in spec["argv"]]
        container = {"securityContext": {"runAsUser": 1000, "runAsGroup": 100}}
        mounts = [{"destination": "/home/jovyan", "type": "bind", "source": home,
                   "options": ["rbind"]}]
        h.run(h.bundle(argv, container, mounts, host_net=True, env=["HOME=/home/jovyan"]))
        kc = BlockingKernelClient(connection_file=conn)
        kc.load_connection_file()
        kc.start_channels()
        self.addCleanup(kc.stop_channels)
        try:
            kc.wait_for_ready(timeout=60)
        except RuntimeError:
            self.fail("the kernel did not start: " + h.log())
        return h, kc

    def assert_sandboxed_kernel(self, h, kc):
        status, out = run_cell(kc, "import os, sys\n"
                               "print(open('/proc/self/status').read().count('Seccomp:\\t2'),"
                               " sys.executable, os.getuid())")
        self.assertEqual((status, out), ("ok", "1 /usr/bin/python3 1000\n"), h.log())
        kc.shutdown()
        self.assertEqual(h.runc.wait(timeout=30), 0, h.log())

    def test_the_example_kernelspec_starts_as_shipped(self):
        with open(os.path.join(C, "kernelspec/python3-sandboxed/kernel.json")) as f:
            self.assert_sandboxed_kernel(*self.start_kernelspec(json.load(f)))

    def test_the_sidecar_values_kernelspec_starts_as_shipped(self):
        # In the notebook container: its image must carry nbwarden-exec and
        # its profiles (container/README.md); the image's layer stands in.
        with open(os.path.join(C, "jupyterhub-values.yaml")) as f:
            files = yaml.safe_load(f)["singleuser"]["extraFiles"]
        spec = json.loads(files["nbwarden-kernelspec"]["stringData"])
        self.assert_sandboxed_kernel(*self.start_kernelspec(spec))


if __name__ == "__main__":
    unittest.main()
