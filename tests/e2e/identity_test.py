# SPDX-License-Identifier: Apache-2.0
"""The identity a SOC needs, with no Kubernetes API: a process set up the
way the kubelet sets up a pod's (its own mount namespace with the service
account's namespace file, the kubelet's v1 cgroup naming with the pod uid
and container id, HOSTNAME and KUBERNETES_SERVICE_HOST in its environment,
a JupyterHub user) reads /etc/shadow under the real nbwardend, whose node
name comes from the downward API (NODE_NAME). The namespace and the pod
uid are read from /proc when the process execs, so the actor waits there
("settle") as a real pod's processes outlive their exec; its children
inherit what it got. The alert names the pod,
namespace, pod uid, node, container and Jupyter user, in the JSON line and
in the Falco rendering a webhook receives. A host process gets none of the
Kubernetes fields."""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from nbwtest import free_port, ACTOR, actor_policies, Daemon, require_root

CGROUP = "/sys/fs/cgroup/pids/kubepods/besteffort"


class IdentityTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwid.")
        policies = actor_policies(os.path.join(self.tmp, "policies"))
        self.bodies = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass
        port = free_port()
        self.server = http.server.HTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        cfg = os.path.join(self.tmp, "nbwarden.yaml")
        with open(cfg, "w") as f:
            json.dump({"spool_dir": os.path.join(self.tmp, "spool"), "sinks": [
                {"name": "soc", "type": "webhook", "url": "http://127.0.0.1:%d/" % port}]}, f)
        os.environ["NODE_NAME"] = "node-7"  # the downward API's, for the daemon
        try:
            self.daemon = Daemon("-c", cfg, policies=policies)
        finally:
            del os.environ["NODE_NAME"]
        self.pod_uid = str(uuid.uuid4())
        self.container = uuid.uuid4().hex + uuid.uuid4().hex
        self.cg = os.path.join(CGROUP, "pod" + self.pod_uid, self.container)
        os.makedirs(self.cg)

    def tearDown(self):
        self.daemon.stop()
        self.server.shutdown()
        self.server.server_close()
        for d in (self.cg, os.path.dirname(self.cg)):
            try:
                os.rmdir(d)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait(self, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = pred()
            if found:
                return found
            time.sleep(0.05)
        return None

    def test_a_pod_process_is_named_by_pod_namespace_node_and_container(self):
        script = """set -e
mount -t tmpfs none /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
echo jhub > /run/secrets/kubernetes.io/serviceaccount/namespace
echo $$ > {cg}/cgroup.procs
exec env KUBERNETES_SERVICE_HOST=10.96.0.1 KUBERNETES_SERVICE_PORT=443 HOSTNAME=jupyter-alice \
  JUPYTERHUB_USER=alice {actor} as-kernel settle open /etc/shadow
""".format(cg=self.cg, actor=ACTOR)
        subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       check=True, timeout=30)
        alerts = self.wait(lambda: [l for l in self.daemon.lines() if l.get("kind") == "alert"])
        self.assertEqual(len(alerts), 1, self.daemon.lines())
        t = alerts[0]["target"]
        self.assertEqual((t["k8s_pod"], t["k8s_namespace"], t["k8s_pod_uid"], t["k8s_node"],
                          t["container_id"], t["user"]),
                         ("jupyter-alice", "jhub", self.pod_uid, "node-7", self.container, "alice"))
        self.assertTrue(self.wait(lambda: self.bodies))
        f = self.bodies[0]["output_fields"]
        self.assertEqual((f["k8s.pod.name"], f["k8s.ns.name"], f["k8s.node.name"],
                          f["container.id"], f["jupyter.user"]),
                         ("jupyter-alice", "jhub", "node-7", self.container, "alice"))

    def test_a_host_process_has_no_kubernetes_fields(self):
        subprocess.run([ACTOR, "as-kernel", "open", "/etc/shadow"], check=True, timeout=30)
        alerts = self.wait(lambda: [l for l in self.daemon.lines() if l.get("kind") == "alert"])
        self.assertEqual(len(alerts), 1)
        self.assertEqual([k for k in alerts[0]["target"] if k.startswith("k8s")], [])


if __name__ == "__main__":
    unittest.main()
