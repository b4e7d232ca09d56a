# SPDX-License-Identifier: Apache-2.0
"""`nbwarden scan` against the generated corpus (tests/corpus/make_corpus.py):
every file's verdict, the exact globals and finding kinds, completeness,
format; exit codes for pipelines; trusted hashes. And proof that the bypass
files are real: torch.load runs their payloads."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../corpus"))
import make_corpus  # noqa: E402
from nbwtest import NBWARDEN, SOURCE, require_root  # noqa: E402

POLICIES = os.path.join(SOURCE, "policies")


def scan(*args, policies=POLICIES):
    return subprocess.run([NBWARDEN, "scan", "-p", policies, *args], capture_output=True,
                          text=True, timeout=120)


class ScanCorpusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="nbw-corpus-")
        cls.manifest = make_corpus.build(cls.dir)
        r = scan("--json", cls.dir)
        cls.exit = r.returncode
        cls.reports = {os.path.basename(j["path"]): j
                       for j in map(json.loads, r.stdout.splitlines())}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_every_corpus_file_gets_its_expected_verdict(self):
        self.assertEqual(len(self.manifest), 44)
        for want in self.manifest:
            with self.subTest(file=want["file"]):
                got = self.reports[want["file"]]
                self.assertEqual(got["verdict"], want["verdict"], got["findings"])
                found_globals = {f.get("global") for f in got["findings"]}
                for g in want["globals"]:
                    self.assertIn(g, found_globals)
                kinds = {f["kind"] for f in got["findings"]}
                for k in want["kinds"]:
                    self.assertIn(k, kinds)
                if want["complete"] is not None:
                    self.assertEqual(got["complete"], want["complete"])
                if want["format"]:
                    self.assertEqual(got["format"], want["format"])
                self.assertRegex(got["sha256"], "^[0-9a-f]{64}$")
                if want["verdict"] == "clean":
                    self.assertEqual(got["findings"], [])

    def test_findings_carry_the_exact_byte_offset_of_the_global(self):
        got = self.reports["evil_proto2.pkl"]
        f = next(f for f in got["findings"] if f["kind"] == "global")
        with open(os.path.join(self.dir, "evil_proto2.pkl"), "rb") as fh:
            data = fh.read()
        # protocol 2: GLOBAL opcode 'c' followed by "posix\nsystem\n"
        self.assertEqual(data[f["offset"]:f["offset"] + 14], b"cposix\nsystem\n")
        self.assertIn("called at offset", f["detail"])

    def test_directory_exit_status_is_1_when_anything_is_malicious(self):
        self.assertEqual(self.exit, 1)
        self.assertFalse(os.path.exists(make_corpus.MARKER), "the scanner ran a payload")

    def test_exit_status_0_for_clean_2_for_unscannable_and_strict_for_suspicious(self):
        p = lambda n: os.path.join(self.dir, n)  # noqa: E731
        self.assertEqual(scan(p("clean_state_dict.pt"), p("clean_sklearn.joblib")).returncode, 0)
        self.assertEqual(scan(p("truncated.pt"), p("clean_state_dict.pt")).returncode, 2)
        self.assertEqual(scan(p("truncated.pt"), p("evil_eval.pkl")).returncode, 1)
        self.assertEqual(scan(p("unknown_global.pkl")).returncode, 0)
        self.assertEqual(scan("--strict", p("unknown_global.pkl")).returncode, 1)

    def test_table_output_names_verdict_path_and_global(self):
        r = scan(os.path.join(self.dir, "evil_stack_global_memo.pkl"))
        first, second = r.stdout.splitlines()[:2]
        self.assertTrue(first.startswith("malicious"))
        self.assertTrue(first.endswith("evil_stack_global_memo.pkl"))
        self.assertIn("STACK_GLOBAL posix.system (dangerous)", second)

    def test_a_trusted_sha256_is_reported_but_judged_clean(self):
        sha = self.reports["evil_eval.pkl"]["sha256"]
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(os.path.join(POLICIES, "model-guard.yaml"), d)
            with open(os.path.join(d, "trust.yaml"), "w") as f:
                f.write("model_guard:\n  trusted_sha256: [%s]\n" % sha)
            r = scan("--json", os.path.join(self.dir, "evil_eval.pkl"), policies=d)
        self.assertEqual(r.returncode, 0)
        j = json.loads(r.stdout)
        self.assertEqual((j["verdict"], j["trusted"]), ("clean", True))
        self.assertEqual(j["findings"][0]["global"], "builtins.eval")

    def test_a_bad_policy_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "mg.yaml"), "w") as f:
                f.write("model_guard:\n  extensions: [.pt]\n  trusted_sha256: [nothex]\n")
            r = scan(os.path.join(self.dir, "evil_eval.pkl"), policies=d)
        self.assertEqual(r.returncode, 2)
        self.assertIn("mg.yaml:3:", r.stderr)
        self.assertIn("'nothex' is not a sha256", r.stderr)

    def test_the_bypass_files_really_run_their_payload_under_torch_load(self):
        # Not a scanner test: proof the corpus's bypasses are loadable models,
        # so the verdicts above matter. The payload only touches MARKER.
        for name in [
            "evil_zip_flags.pt", "evil_zip_crc.pt", "evil_zip_mismatch.pt", "evil_renamed.png",
            "evil_legacy.pt"
        ]:
            with self.subTest(file=name):
                if os.path.exists(make_corpus.MARKER):
                    os.unlink(make_corpus.MARKER)
                subprocess.run(["/usr/bin/python3", "-c",
                                "import torch,sys; torch.load(sys.argv[1])",
                                os.path.join(self.dir, name)], capture_output=True, timeout=120)
                self.assertTrue(os.path.exists(make_corpus.MARKER))
                os.unlink(make_corpus.MARKER)

# A pickle that calls os.system('true'), written as bytes: never unpickled here.
EVIL_PICKLE = b"cos\nsystem\n(S'true'\ntR."
CLEAN_PICKLE = b"\x80\x04N."

# Runs argv[1:], exits with its status; its peak RSS goes to stderr.
PEAK_RSS = """import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("peak_rss_kib=%d\\n" % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def scan_as_nobody(*args):
    """nbwarden scan as an unprivileged user (uid/gid 65534) with its own
    HOME: a directory it may not list stops it, where root would read on."""
    home = tempfile.mkdtemp(prefix="nbw-home-")
    os.chmod(home, 0o755)
    try:
        return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               NBWARDEN, "scan", "-p", POLICIES, *args], capture_output=True,
                              text=True, timeout=120, env={"HOME": home, "PATH": "/usr/bin:/bin"})
    finally:
        shutil.rmtree(home, ignore_errors=True)


class ScanWalkTest(unittest.TestCase):
    """A directory walk fails closed: whatever it cannot read is an
    unscannable result, and a deep tree costs bounded memory."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nbw-walk-")
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        # rm copes with a tree deeper than Python's recursion limit.
        subprocess.run(["rm", "-rf", self.dir], check=True)

    def put(self, rel, data):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o644)
        return p

    def test_an_unreadable_subdirectory_is_unscannable_and_the_walk_goes_on(self):
        require_root()  # to make the tree, then scan it as nobody
        self.put("a/clean.pkl", CLEAN_PICKLE)
        self.put("b/hidden.pkl", EVIL_PICKLE)
        self.put("c/after.pkl", CLEAN_PICKLE)
        locked = os.path.join(self.dir, "b")
        os.chmod(locked, 0o000)  # nobody may not list it (root could: so not root)
        r = scan_as_nobody("--strict", "--json", self.dir)
        reports = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(j["path"], j["verdict"]) for j in reports],
                         [(os.path.join(self.dir, "a/clean.pkl"), "clean"),
                          (locked, "unscannable"),
                          (os.path.join(self.dir, "c/after.pkl"), "clean")], r.stderr)
        self.assertEqual(reports[1]["complete"], False)
        self.assertEqual(reports[1]["findings"][0]["detail"],
                         "open directory: Permission denied")
        self.assertEqual(r.returncode, 2)
        # The table says it too.
        r = scan_as_nobody(self.dir)
        self.assertIn("unscannable                unknown       %s\n" % locked, r.stdout)
        self.assertEqual(r.returncode, 2)

    def test_an_unreadable_file_is_unscannable_whatever_its_name(self):
        require_root()
        self.put("notes.txt", b"not a model")
        secret = self.put("secret.bin", EVIL_PICKLE)
        os.chmod(secret, 0o000)
        r = scan_as_nobody("--json", self.dir)
        reports = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(j["path"], j["verdict"], j["findings"][0]["detail"]) for j in reports],
                         [(secret, "unscannable", "open: Permission denied")])
        self.assertEqual(r.returncode, 2)

    def test_symlinks_inside_a_tree_are_not_followed(self):
        outside = tempfile.mkdtemp(prefix="nbw-outside-")
        try:
            with open(os.path.join(outside, "evil.pkl"), "wb") as f:
                f.write(EVIL_PICKLE)
            os.symlink(os.path.join(outside, "evil.pkl"), os.path.join(self.dir, "link.pkl"))
            os.symlink(outside, os.path.join(self.dir, "linkdir"))
            self.put("model.pkl", CLEAN_PICKLE)
            r = scan("--json", self.dir)
        finally:
            shutil.rmtree(outside)
        self.assertEqual([json.loads(l)["path"] for l in r.stdout.splitlines()],
                         [os.path.join(self.dir, "model.pkl")])
        self.assertEqual(r.returncode, 0)

    def test_a_6000_deep_tree_is_walked_to_the_bottom_in_bounded_memory(self):
        # Made with relative mkdir/open: the path is longer than PATH_MAX.
        fd = os.open(self.dir, os.O_RDONLY)
        for _ in range(6000):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = sub
        with os.fdopen(os.open("evil.pkl", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(EVIL_PICKLE)
        os.close(fd)
        # The peak RSS of the scan alone: wait4 in a small Python of its own
        # (a child spawned from this test process would count its memory).
        r = subprocess.run(["/usr/bin/python3", "-c", PEAK_RSS, NBWARDEN, "scan", "-p", POLICIES,
                            "--json", self.dir], capture_output=True, text=True, timeout=120)
        peak_kib = int(r.stderr.split("peak_rss_kib=")[1])
        self.assertLess(peak_kib, 64 * 1024)  # it took 1.9 GB with a recursive walk
        self.assertEqual(r.returncode, 1, r.stderr)
        text = r.stdout
        reports = [json.loads(l) for l in text.splitlines()]
        self.assertEqual(len(reports), 1)
        self.assertEqual(reports[0]["path"], self.dir + "/d" * 6000 + "/evil.pkl")
        self.assertEqual(reports[0]["verdict"], "malicious")



if __name__ == "__main__":
    unittest.main()
