# SPDX-License-Identifier: Apache-2.0
"""What nbwarden writes as root follows no planted link and replaces no
device (issue 11, 3.8): `seccomp record -o`, `kernelspec install`, the
status file and the spool directory. Symlinks, FIFOs and device nodes are
made in a temporary directory (mknod as root); the real /dev is never
touched."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import unittest

from nbwtest import BUILD, NBWARDEN, NBWARDEND, SOURCE, Daemon, require_root

NBWARDEN_EXEC = os.path.join(BUILD, "daemon/nbwarden-exec")
PROFILES = os.path.join(SOURCE, "policies/seccomp")
MINIMAL_TARGETS = "targets:\n  - {name: t, role: r, match: {comm: [nbw-none]}}\n"


class RootWritesTest(unittest.TestCase):
    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwroot.")
        self.victim = os.path.join(self.tmp, "victim")
        with open(self.victim, "w") as f:
            f.write("precious\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def victim_text(self):
        with open(self.victim) as f:
            return f.read()

    def record(self, out):
        return subprocess.run([NBWARDEN, "seccomp", "record", "-o", out, "--", "/bin/true"],
                              capture_output=True, text=True, timeout=60)

    def test_record_refuses_an_output_that_is_a_symlink(self):
        link = self.path("profile.json")
        os.symlink(self.victim, link)
        r = self.record(link)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("nbwarden seccomp record: %s: is a symbolic link, not a regular file: "
                      "refusing to replace or follow it\n" % link, r.stderr)
        self.assertTrue(os.path.islink(link))
        self.assertEqual(self.victim_text(), "precious\n")

    def test_record_writes_through_a_device_and_never_replaces_it(self):
        # -o /dev/full replaced /dev/full with a regular file; the same
        # device (1:7) made here.
        full = self.path("full")
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        r = self.record(full)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("nbwarden seccomp record: writing %s: No space left on device\n" % full,
                      r.stderr)
        self.assertTrue(stat.S_ISCHR(os.lstat(full).st_mode))
        null = self.path("null")
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        r = self.record(null)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(stat.S_ISCHR(os.lstat(null).st_mode))
        self.assertEqual(sorted(os.listdir(self.tmp)), ["full", "null", "victim"])

    def test_record_writes_through_a_fifo_and_to_its_own_stdout(self):
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        got = []

        def read():
            with open(fifo) as f:
                got.append(f.read())
        reader = threading.Thread(target=read)
        reader.start()
        r = self.record(fifo)
        reader.join(30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(got[0])["defaultAction"], "SCMP_ACT_ERRNO")
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
        # /dev/stdout is the process's stdout, a file here: written as such,
        # and the link stays. Run under a /dev of its own (a private mount
        # namespace) so a regression cannot replace the machine's /dev/stdout.
        with open(self.path("redirected.json"), "w") as out:
            r = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 'mount -t tmpfs nbwtest /dev && ln -s /proc/self/fd/1 /dev/stdout && '
                 '"$0" seccomp record -o /dev/stdout -- /bin/true; rc=$?; '
                 'test -L /dev/stdout && echo "still a link" >&2; exit $rc', NBWARDEN],
                stdout=out, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("still a link\n", r.stderr)
        with open(self.path("redirected.json")) as f:
            self.assertEqual(json.load(f)["defaultAction"], "SCMP_ACT_ERRNO")

    def kernels_with_python3(self):
        kernels = self.path("kernels")
        os.makedirs(os.path.join(kernels, "python3"))
        with open(os.path.join(kernels, "python3", "kernel.json"), "w") as f:
            json.dump({"argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                       "display_name": "Python 3", "language": "python"}, f)
        with open(os.path.join(kernels, "python3", "logo-64x64.png"), "wb") as f:
            f.write(b"\x89PNG not really\n")
        return kernels

    def install(self, kernels, *args):
        return subprocess.run([NBWARDEN, "kernelspec", "install", "--wrap", "python3",
                               "--kernels-dir", kernels, "--exec", NBWARDEN_EXEC,
                               "--profiles", PROFILES, *args],
                              capture_output=True, text=True, timeout=30)

    def test_kernelspec_install_follows_no_link_planted_in_the_target(self):
        kernels = self.kernels_with_python3()
        target = os.path.join(kernels, "sandboxed")
        os.makedirs(target)
        # A resource name planted as a link: copy_file wrote the logo into
        # whatever it pointed to.
        os.symlink(self.victim, os.path.join(target, "logo-64x64.png"))
        r = self.install(kernels, "--as", "sandboxed")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s/logo-64x64.png: is a symbolic link, not a regular file: refusing to "
                      "replace or follow it\n" % target, r.stderr)
        self.assertEqual(self.victim_text(), "precious\n")
        os.unlink(os.path.join(target, "logo-64x64.png"))
        # kernel.json planted as a link.
        os.symlink(self.victim, os.path.join(target, "kernel.json"))
        r = self.install(kernels, "--as", "sandboxed")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s/kernel.json: is a symbolic link, not a regular file: refusing to "
                      "replace or follow it\n" % target, r.stderr)
        self.assertEqual(self.victim_text(), "precious\n")
        self.assertTrue(os.path.islink(os.path.join(target, "kernel.json")))
        # The target directory itself a link.
        shutil.rmtree(target)
        os.symlink(self.tmp, target)
        r = self.install(kernels, "--as", "sandboxed")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s: is a symbolic link: refusing to write through it\n" % target, r.stderr)
        self.assertFalse(os.path.exists(self.path("kernel.json")))
        # Without plants it works, and leaves no temporary file.
        os.unlink(target)
        r = self.install(kernels, "--as", "sandboxed")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(target)), ["kernel.json", "logo-64x64.png"])

    def test_a_planted_spool_dir_symlink_is_refused(self):
        policies = self.path("p")
        os.makedirs(policies)
        with open(os.path.join(policies, "targets.yaml"), "w") as f:
            f.write(MINIMAL_TARGETS)
        elsewhere = self.path("elsewhere")
        os.makedirs(elsewhere)
        spool = self.path("spool")
        os.symlink(elsewhere, spool)
        cfg = self.path("nbwarden.yaml")
        with open(cfg, "w") as f:
            f.write("spool_dir: %s\nsinks:\n  - {type: file, path: %s}\n"
                    % (spool, self.path("alerts.jsonl")))
        r = subprocess.run([NBWARDEND, "-p", policies, "-c", cfg, "--status-file", "",
                            "--control-socket", ""],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nbwardend: sinks: spool_dir %s: is a symbolic link: refusing to follow "
                      "it\n" % spool, r.stderr)
        self.assertEqual(os.listdir(elsewhere), [])
        # A directory someone else may write to is refused too.
        os.unlink(spool)
        os.makedirs(spool)
        os.chmod(spool, 0o1777)
        r = subprocess.run([NBWARDEND, "-p", policies, "-c", cfg, "--status-file", "",
                            "--control-socket", ""],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nbwardend: sinks: spool_dir %s: is writable by group or others (mode "
                      "1777): it must be the daemon's alone\n" % spool, r.stderr)

    def test_the_status_file_follows_no_link_planted_beside_it(self):
        d = Daemon("--status-interval-ms", "100")
        try:
            # The status file's fixed temporary name, planted.
            os.symlink(self.victim, d.status_path + ".tmp")
            first = os.stat(d.status_path).st_mtime_ns if os.path.exists(d.status_path) else 0
            deadline = time.time() + 10
            while time.time() < deadline:
                if os.path.exists(d.status_path) and os.stat(d.status_path).st_mtime_ns != first:
                    break
                time.sleep(0.05)
            time.sleep(0.3)  # a few more writes
            self.assertEqual(self.victim_text(), "precious\n")
            self.assertTrue(os.path.islink(d.status_path + ".tmp"))
            self.assertFalse(os.path.islink(d.status_path))
            with open(d.status_path) as f:
                self.assertIn("agent", json.load(f))
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
