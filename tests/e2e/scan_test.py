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
from nbwtest import NBWARDEN, SOURCE  # noqa: E402

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


if __name__ == "__main__":
    unittest.main()
