# SPDX-License-Identifier: Apache-2.0
"""Hostile or mistaken config and policy files (issue 11, section 3): each
is refused with one line naming file:line:col and the field, by `nbwarden
config check`, `nbwarden policy check` and nbwardend alike; none crashes
(status 134 was yaml-cpp's uncaught TypedBadConversion), none makes the
daemon allocate without bound, none reaches a webhook's request."""
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from nbwtest import NBWARDEN, NBWARDEND, SOURCE, Daemon, require_root

MINIMAL_TARGETS = "targets:\n  - {name: t, role: r, match: {comm: [nbw-none]}}\n"


def self_doubling_lists(levels=30):
    """The 556-byte policy from the issue: each list twice the one before."""
    text = "lists:\n  l0: [a, b]\n"
    for i in range(1, levels + 1):
        text += "  l%d: [$l%d, $l%d]\n" % (i, i - 1, i - 1)
    return text


def limited(mib):
    """preexec_fn: an address-space limit, so a regression fails fast instead
    of taking the machine's memory."""
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (mib << 20, mib << 20))
    return apply


class HostileConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nbwcfg.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_config_check_reports_wrong_types_instead_of_aborting(self):
        cases = [
            ("spool_dir: [/var/spool]\n", "1:12: spool_dir: must be a string, not a list"),
            ("sinks:\n  - {type: syslog, address: \"h:1\", facility: [auth]}\n",
             "2:46: sinks[0].facility: must be a string, not a list"),
            ("sinks:\n  - {type: {file: 1}}\n", "2:12: sinks[0].type: must be a string, not a mapping"),
            ("sinks:\n  - {type: file, path: /x, name: [a]}\n",
             "2:34: sinks[0].name: must be a string, not a list"),
            ("sinks:\n  - {type: webhook, url: \"http://h/\", headers: {X-A: [a]}}\n",
             "2:54: sinks[0].headers.X-A: must be a string, not a list"),
            ("stream: {path: [a]}\n", "1:16: stream.path: must be a string, not a list"),
            ("stream: {path: /s, tls_listen: \"h:1\", tls_cert: {a: 1}}\n",
             "1:49: stream.tls_cert: must be a string, not a mapping"),
            ("sinks: []\nsinks: []\n", "2:1: 'sinks' is given twice in this mapping (first at 1:1)"),
        ]
        for text, want in cases:
            cfg = self.write("bad.yaml", text)
            r = subprocess.run([NBWARDEN, "config", "check", cfg], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 1, (text, r.returncode, r.stderr))
            self.assertEqual(r.stderr, "%s:%s\n" % (cfg, want), text)

    def test_the_daemon_refuses_the_same_config_with_the_same_words(self):
        require_root()
        policies = self.write("p/targets.yaml", MINIMAL_TARGETS)
        cfg = self.write("bad.yaml", "sinks:\n  - {type: syslog, address: \"h:1\", facility: [auth]}\n")
        r = subprocess.run([NBWARDEND, "-p", policies, "-c", cfg], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nbwardend: config error: %s:2:46: sinks[0].facility: must be a string, "
                      "not a list\n" % cfg, r.stderr)

    def test_a_webhook_header_with_crlf_is_refused_at_load(self):
        cfg = self.write("hook.yaml",
                         "sinks:\n  - type: webhook\n    url: \"http://127.0.0.1:9/\"\n"
                         "    headers: {X-Token: \"abc\\r\\nX-Injected: 1\\r\\n\\r\\n\"}\n")
        r = subprocess.run([NBWARDEN, "config", "check", cfg], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stderr, "%s:4:24: sinks[0].headers.X-Token: a header value must not "
                                   "hold CR, LF, NUL or other control characters\n" % cfg)

    def test_a_sink_name_with_a_nul_is_refused_at_load(self):
        cfg = self.write("nul.yaml", "sinks:\n  - {type: file, path: /tmp/x, name: \"a\\0\"}\n")
        r = subprocess.run([NBWARDEN, "config", "check", cfg], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stderr, "%s:2:38: sinks[0].name: must not hold a NUL character\n" % cfg)

    def test_policy_check_reports_wrong_types_and_ranges(self):
        cases = [
            ("rules:\n  - {id: A, name: a, event: exec, severity: notice, when: {[x]: 1}}\n",
             "2:60: a key must be a string, not a list or mapping"),
            ("rules:\n  - {id: A, name: a, event: exec, severity: notice, summary: \"{no.such}\"}\n",
             "2:62: summary: unknown field '{no.such}' (see docs/policy.md)"),
            ("model_guard:\n  grace_ms: -1\n", "2:13: grace_ms: must be a whole number from 0 to 600000"),
            ("model_guard:\n  extensions: 5\n", "2:15: extensions: must be a list of strings"),
            ("landlock:\n  {[deny]: 1}\n", "2:4: landlock: a key must be a string, not a list or mapping"),
        ]
        for text, want in cases:
            path = self.write("p/policy.yaml", MINIMAL_TARGETS + text)
            r = subprocess.run([NBWARDEN, "policy", "check", path], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 1, (text, r.returncode, r.stderr))
            # Line numbers count the targets line above the case.
            line, rest = want.split(":", 1)
            self.assertEqual(r.stderr, "%s:%d:%s\n" % (path, int(line) + 2, rest), text)

    def test_self_doubling_lists_are_refused_at_once_in_little_memory(self):
        path = self.write("p/lists.yaml", MINIMAL_TARGETS + self_doubling_lists())
        self.assertLess(os.path.getsize(path), 700)
        t0 = time.monotonic()
        r = subprocess.run([NBWARDEN, "policy", "check", path], capture_output=True, text=True,
                           timeout=60, preexec_fn=limited(512))
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, "%s:17:8: list 'l13': expands to more than 10000 values (a list "
                                   "that names lists holds all of their values)\n" % path)

    def test_a_reload_onto_self_doubling_lists_is_rejected_and_the_daemon_carries_on(self):
        require_root()
        policies = os.path.join(self.tmp, "policies")
        shutil.copytree(os.path.join(SOURCE, "policies"), policies)
        d = Daemon(policies=policies)
        try:
            with open(os.path.join(policies, "zz-bomb.yaml"), "w") as f:
                f.write(self_doubling_lists())
            t0 = time.monotonic()
            d.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while "reload rejected" not in d.read_log() and time.time() < deadline:
                time.sleep(0.05)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertIn("list 'l13': expands to more than 10000 values", d.read_log())
            self.assertIsNone(d.proc.poll())
            with open("/proc/%d/status" % d.proc.pid) as f:
                rss_kib = int([l for l in f if l.startswith("VmHWM:")][0].split()[1])
            self.assertLess(rss_kib, 512 << 10)
            r = subprocess.run([NBWARDEN, "status", "--socket",
                                os.path.join(d.dir, "control.sock")],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
