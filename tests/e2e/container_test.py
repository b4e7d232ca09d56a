# SPDX-License-Identifier: Apache-2.0
"""The container deployment, as far as this machine kind can check it (it
has no container engine and no registry; the image is not built here):
the manifests parse and keep their security properties; the image's
runtime stage installs every shared library the built binaries load
(each traced to its Debian package with dpkg, and the packages' own
dependencies followed); the entrypoint and kernelspec name what `cmake
--install` lays out; and the example kernelspec starts a real ipykernel
under nbwarden-exec through jupyter_client."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from nbwtest import BUILD, NBWARDEN, NBWARDEND, SOURCE, KernelSession, require_root

C = os.path.join(SOURCE, "container")
BASE = {"libc6", "libstdc++6", "libgcc-s1"}  # in debian:12 itself


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


class ContainerTest(unittest.TestCase):
    def test_the_daemonset_asks_for_what_it_needs_and_no_more(self):
        ds = [d for d in docs(os.path.join(C, "daemonset.yaml")) if d["kind"] == "DaemonSet"][0]
        spec = ds["spec"]["template"]["spec"]
        self.assertTrue(spec["hostPID"])
        self.assertFalse(spec["automountServiceAccountToken"])
        c = spec["containers"][0]
        sc = c["securityContext"]
        self.assertFalse(sc["privileged"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(sorted(sc["capabilities"]["add"]),
                         ["BPF", "DAC_READ_SEARCH", "NET_ADMIN", "PERFMON", "SYS_ADMIN",
                          "SYS_PTRACE"])
        self.assertIn("--metrics-listen=127.0.0.1:9464", c["args"])
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        self.assertTrue(mounts["/sys/kernel/btf"]["readOnly"])
        # Its config is one nbwarden accepts.
        cm = [d for d in docs(os.path.join(C, "daemonset.yaml")) if d["kind"] == "ConfigMap"][0]
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "nbwarden.yaml")
        with open(path, "w") as f:
            f.write(cm["data"]["nbwarden.yaml"])
        r = subprocess.run([NBWARDEN, "config", "check", path], capture_output=True, text=True)
        shutil.rmtree(tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK, 1 sink(s)", r.stdout)

    def test_the_sidecar_is_scoped_to_its_pod(self):
        v = docs(os.path.join(C, "jupyterhub-values.yaml"))[0]["singleuser"]
        self.assertTrue(v["extraPodConfig"]["shareProcessNamespace"])
        c = v["extraContainers"][0]
        self.assertIn("--scope=pod", c["args"])
        self.assertIn("--proc-root=/host/proc", c["args"])
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        self.assertTrue(mounts["/host/proc"]["readOnly"])
        self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
        self.assertNotIn("NET_ADMIN", c["securityContext"]["capabilities"]["add"])
        spec = json.loads(v["extraFiles"]["nbwarden-kernelspec"]["stringData"])
        self.assertEqual(spec["argv"][:6], ["/usr/local/bin/nbwarden-exec", "--profile",
                                            "notebook-kernel", "--landlock", "notebook-kernel",
                                            "--"])
        # The daemon accepts the sidecar's flags.
        r = subprocess.run([NBWARDEND, "--help"], capture_output=True, text=True)
        for flag in ("--scope", "--proc-root", "--config", "--status-file"):
            self.assertIn(flag, r.stdout)

    def test_the_image_installs_every_library_the_binaries_load(self):
        with open(os.path.join(C, "Containerfile")) as f:
            text = f.read()
        runtime = text.split("FROM debian:12\n", 1)[1]
        pkgs = set(re.findall(r"\b(lib[a-z0-9.+-]+|ca-certificates|zlib1g)\b",
                              runtime.split("&&")[1]))
        closure, todo = set(BASE), list(pkgs)
        while todo:
            p = todo.pop()
            if p in closure:
                continue
            closure.add(p)
            r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", p], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, "%s is not a Debian package here" % p)
            for alt in r.stdout.split(","):
                name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
        needed = set()
        for b in ("daemon/nbwardend", "daemon/nbwarden", "daemon/nbwarden-exec"):
            out = subprocess.run(["ldd", os.path.join(BUILD, b)], capture_output=True,
                                 text=True).stdout
            for lib in re.findall(r"=> (/\S+)", out):
                # usrmerge: dpkg knows a file by the path its package ships.
                real = os.path.realpath(lib)
                for path in (real, real.replace("/usr/lib/", "/lib/", 1), lib):
                    r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
                    if r.returncode == 0:
                        break
                self.assertEqual(r.returncode, 0, lib)
                needed.add(r.stdout.split(":")[0])
        self.assertEqual(sorted(needed - closure), [])
        self.assertIn('ENTRYPOINT ["/usr/local/bin/nbwardend", "--policies", '
                      '"/etc/nbwarden/policies"', text)

    def test_the_example_kernelspec_runs_a_kernel_under_nbwarden_exec(self):
        require_root()
        tmp = tempfile.mkdtemp(prefix="nbwks.")
        try:
            with open(os.path.join(C, "kernelspec/python3-sandboxed/kernel.json")) as f:
                spec = json.load(f)
            self.assertEqual(spec["argv"][0], "/usr/local/bin/nbwarden-exec")
            # The installed paths, pointed at this build and source tree.
            spec["argv"][0] = os.path.join(BUILD, "daemon/nbwarden-exec")
            spec["argv"][1:1] = ["--profiles", os.path.join(SOURCE, "policies/seccomp")]
            d = os.path.join(tmp, "kernels", "python3-sandboxed")
            os.makedirs(d)
            with open(os.path.join(d, "kernel.json"), "w") as f:
                json.dump(spec, f)
            k = KernelSession(tmp, "/home/alice/x.ipynb", kernel_name="python3-sandboxed",
                              kernels_dir=os.path.join(tmp, "kernels"))
            try:
                status, out = k.run("print(open('/proc/self/status').read().count('Seccomp:\\t2'))")
                self.assertEqual((status, out), ("ok", "1\n"))
                status, out = k.run("try:\n    open('/etc/shadow')\nexcept PermissionError:\n"
                                    "    print('kept out')")
                self.assertEqual((status, out), ("ok", "kept out\n"))
            finally:
                k.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
