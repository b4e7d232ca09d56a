# SPDX-License-Identifier: Apache-2.0
"""The command-line surface of the three binaries as a new user meets it:
`nbwarden scan` and `nbwarden-exec` on a machine where no policy is
installed (the built-in one, and -p/--profiles over it), --version and
--help, usage errors, `nbwarden tail` and `nbwarden status` facing hostile
text and a control-group member. NBWARDEN_POLICY_DIR points the tools'
default at a directory the test makes or leaves missing, so nothing here
depends on what is or is not installed under /etc/nbwarden."""
import json
import os
import pickle
import re
import shutil
import subprocess
import tempfile
import unittest

from nbwtest import ACTOR, actor_policies, NBWARDEN, NBWARDEND, BUILD, SOURCE, Daemon, require_root

NBWARDEN_EXEC = os.path.join(BUILD, "daemon/nbwarden-exec")


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project\(nbwarden VERSION ([0-9.]+)", f.read()).group(1)


def run(cmd, policy_dir, **kw):
    """cmd with the tools' default policy directory at policy_dir."""
    env = dict(os.environ, NBWARDEN_POLICY_DIR=policy_dir)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, **kw)


class _Payload:
    def __reduce__(self):
        return (os.system, ("true",))


class BuiltinPolicyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nbwcli.")
        self.missing = os.path.join(self.tmp, "not-installed")
        self.evil = os.path.join(self.tmp, "evil.pkl")
        with open(self.evil, "wb") as f:
            f.write(pickle.dumps(_Payload(), protocol=2))  # posix.system('true')
        self.plain = os.path.join(self.tmp, "plain.pkl")
        with open(self.plain, "wb") as f:
            f.write(pickle.dumps({"weights": [1.0, 2.0]}, protocol=2))
        # A policy of the operator's own: posix.system is an exact safe
        # entry, so the payload is clean under it; seccomp refuses uname;
        # Landlock keeps cat out of one file.
        self.own = os.path.join(self.tmp, "own")
        os.makedirs(os.path.join(self.own, "seccomp"))
        os.makedirs(os.path.join(self.own, "landlock"))
        with open(os.path.join(self.own, "model-guard.yaml"), "w") as f:
            f.write("model_guard:\n  safe_globals: [posix.system]\n")
        with open(os.path.join(self.own, "seccomp", "notebook-kernel.json"), "w") as f:
            json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}, f)
        self.secret = os.path.join(self.tmp, "secret")
        with open(self.secret, "w") as f:
            f.write("s3cret\n")
        with open(os.path.join(self.own, "landlock", "notebook-kernel.yaml"), "w") as f:
            f.write("landlock:\n  deny: [%s]\n" % self.secret)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_scan_uses_the_built_in_policy_where_none_is_installed_and_says_so(self):
        r = run([NBWARDEN, "scan", "--help"], self.missing)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("here: built-in (nbwarden %s))" % project_version(), r.stdout)
        r = run([NBWARDEN, "scan", self.evil, self.plain], self.missing)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stdout, r"^malicious .*  %s\n" % re.escape(self.evil))
        self.assertIn("posix.system", r.stdout)
        self.assertRegex(r.stdout, r"\nclean .*  %s\n" % re.escape(self.plain))
        # The same judgement as the shipped files give: the same bytes
        # through the same parser.
        builtin = run([NBWARDEN, "scan", "--json", self.evil, self.plain], self.missing)
        shipped = run([NBWARDEN, "scan", "--json", "-p", os.path.join(SOURCE, "policies"),
                       self.evil, self.plain], self.missing)
        self.assertEqual((builtin.returncode, builtin.stdout), (shipped.returncode, shipped.stdout))

    def test_scan_uses_an_installed_policy_or_the_one_named_instead(self):
        # -p names the policy: the built-in one is not consulted.
        r = run([NBWARDEN, "scan", "-p", self.own, self.evil], self.missing)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"^clean ")
        # An installed policy directory is the default where it exists.
        r = run([NBWARDEN, "scan", "--help"], self.own)
        self.assertIn("here: %s)" % self.own, r.stdout)
        r = run([NBWARDEN, "scan", self.evil], self.own)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A -p that does not exist is an error, not a quiet fall-back.
        r = run([NBWARDEN, "scan", "-p", self.missing, self.evil], self.own)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nbwarden scan: policy: %s: No such file or directory" % self.missing,
                      r.stderr)

    def test_exec_runs_under_the_built_in_profile_and_landlock_rules(self):
        r = run([NBWARDEN_EXEC, "--help"], self.missing)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("here: built-in (nbwarden %s))" % project_version(), r.stdout)
        r = run([NBWARDEN_EXEC, "--profile", "notebook-kernel", "--", "/bin/true"], self.missing)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        # The profile is applied: notebook-kernel refuses unshare (EPERM),
        # which root may do without it.
        self.assertEqual(run(["/usr/bin/unshare", "-U", "/bin/true"], self.missing).returncode, 0)
        r = run([NBWARDEN_EXEC, "--profile", "notebook-kernel", "--", "/usr/bin/unshare", "-U",
                 "/bin/true"], self.missing)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Operation not permitted", r.stderr)
        # Landlock: notebook-kernel denies /etc/shadow; model-server extends
        # it, resolved inside the built-in policy too.
        if os.geteuid() == 0:
            self.assertEqual(run(["/bin/cat", "/etc/shadow"], self.missing).returncode, 0)
        for rules in ("notebook-kernel", "model-server"):
            with self.subTest(landlock=rules):
                r = run([NBWARDEN_EXEC, "--profile", "notebook-kernel", "--landlock", rules, "--",
                         "/bin/cat", "/etc/shadow"], self.missing)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stderr, "/bin/cat: /etc/shadow: Permission denied\n")
        # A NAME the built-in policy lacks says which it has.
        r = run([NBWARDEN_EXEC, "--profile", "nope", "--", "/bin/true"], self.missing)
        self.assertEqual(r.returncode, 125)
        self.assertEqual(r.stderr, "nbwarden-exec: built-in:seccomp/nope.json: no such built-in "
                         "policy file (there are: landlock/model-server.yaml, "
                         "landlock/notebook-kernel.yaml, model-guard.yaml, "
                         "seccomp/model-server.json, seccomp/notebook-kernel.json)\n")

    def test_exec_profiles_flag_and_an_installed_policy_override_the_built_in(self):
        self.assertEqual(run(["/bin/uname"], self.missing).returncode, 0)
        installed = [NBWARDEN_EXEC, "--profile", "notebook-kernel", "--landlock", "notebook-kernel",
                     "--"]
        named = [NBWARDEN_EXEC, "--profiles", os.path.join(self.own, "seccomp"), "--profile",
                 "notebook-kernel", "--landlock", "notebook-kernel", "--"]
        for cmd, policy_dir in ((named, self.missing), (installed, self.own)):
            with self.subTest(cmd=cmd[1], policy_dir=policy_dir):
                r = run(cmd + ["/bin/uname"], policy_dir)
                self.assertEqual(r.returncode, 1)
                self.assertIn("Operation not permitted", r.stderr)
                r = run(cmd + ["/bin/cat", self.secret], policy_dir)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stderr, "/bin/cat: %s: Permission denied\n" % self.secret)
                if os.geteuid() == 0:  # these rules leave /etc/shadow alone
                    self.assertEqual(run(cmd + ["/bin/cat", "/etc/shadow"], policy_dir).returncode,
                                     0)

    def test_profile_commands_resolve_names_as_nbwarden_exec_does(self):
        """seccomp export, record --base and kernelspec install find a
        profile NAME where nbwarden-exec will: the installed policy, else the
        built-in one. A kernelspec wrapped on a bare machine is accepted and
        names no --profiles, so its kernels get the built-in profile."""
        r = run([NBWARDEN, "seccomp", "export", "notebook-kernel", "--format", "oci"],
                self.missing)
        self.assertEqual(r.returncode, 0, r.stderr)
        refused = [n for rule in json.loads(r.stdout)["syscalls"] for n in rule["names"]
                   if rule["action"] != "SCMP_ACT_ALLOW"]
        self.assertIn("init_module", refused)  # the shipped profile's
        r = run([NBWARDEN, "seccomp", "export", "notebook-kernel", "--format", "oci"], self.own)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([rule["names"] for rule in json.loads(r.stdout)["syscalls"]], [["uname"]])
        r = run([NBWARDEN, "seccomp", "record", "--base", "notebook-kernel", "--", "/bin/true"],
                self.missing)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("execve", [n for rule in json.loads(r.stdout)["syscalls"]
                                 for n in rule["names"]])
        r = run([NBWARDEN, "seccomp", "export", "no-such-profile"], self.missing)
        self.assertEqual(r.returncode, 1)
        self.assertIn("built-in:seccomp/no-such-profile.json: no such built-in policy file",
                      r.stderr)

        kernels = os.path.join(self.tmp, "kernels")
        shutil.copytree("/usr/share/jupyter/kernels/python3", os.path.join(kernels, "python3"))
        r = run([NBWARDEN, "kernelspec", "install", "--wrap", "python3", "--kernels-dir",
                 kernels, "--exec", NBWARDEN_EXEC], self.missing)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(kernels, "python3", "kernel.json")) as f:
            argv = json.load(f)["argv"]
        self.assertEqual(argv[:4], [NBWARDEN_EXEC, "--profile", "notebook-kernel", "--"])
        # The wrapper as written starts a program under that same profile.
        r = run(argv[:4] + ["/usr/bin/python3", "-c", "print('sandboxed')"], self.missing)
        self.assertEqual((r.returncode, r.stdout), (0, "sandboxed\n"), r.stderr)


class VersionAndUsageTest(unittest.TestCase):
    def test_every_binary_prints_its_version_and_commit(self):
        top = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True)
        checkout = top.returncode == 0 and (os.path.realpath(top.stdout.strip())
                                            == os.path.realpath(SOURCE))
        for binary in (NBWARDEN, NBWARDEND, NBWARDEN_EXEC):
            with self.subTest(binary=os.path.basename(binary)):
                r = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                m = re.fullmatch(r"(\S+) ([0-9.]+)(?: \(git ([0-9a-f]{12})\))?\n", r.stdout)
                self.assertTrue(m, r.stdout)
                self.assertEqual(m.group(1, 2), (os.path.basename(binary), project_version()))
                if checkout:  # the commit the binary was built from is in this history
                    self.assertTrue(m.group(3), r.stdout)
                    self.assertEqual(subprocess.run(
                        ["git", "-C", SOURCE, "cat-file", "-e", m.group(3) + "^{commit}"]
                    ).returncode, 0)

    def test_help_goes_to_stdout_with_status_0(self):
        for cmd in ([NBWARDEN, "--help"], [NBWARDEN, "scan", "--help"], [NBWARDEND, "--help"],
                    [NBWARDEN_EXEC, "--help"]):
            with self.subTest(cmd=cmd):
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertRegex(r.stdout, r"(?im)^usage: ")

    def test_a_usage_error_is_one_line_with_the_help_hint(self):
        commands = "doctor, status, reload, policy, scan, seccomp, kernelspec, tail, config"
        cases = [
            ([NBWARDEN, "frobnicate"], 2,
             "nbwarden: unknown command 'frobnicate'; one of: %s (see 'nbwarden --help')" %
             commands),
            ([NBWARDEN], 2,
             "nbwarden: a command is required; one of: %s (see 'nbwarden --help')" % commands),
            ([NBWARDEN, "policy", "lint"], 2,
             "nbwarden policy: unknown command 'lint'; one of: check "
             "(see 'nbwarden policy --help')"),
            ([NBWARDEN, "scan", "--bogus", "x"], 2,
             "nbwarden scan: The following argument was not expected: --bogus "
             "(see 'nbwarden scan --help')"),
            ([NBWARDEN, "scan"], 2,
             "nbwarden scan: paths is required (see 'nbwarden scan --help')"),
            ([NBWARDEND, "--bogus"], 2,
             "nbwardend: The following argument was not expected: --bogus "
             "(see 'nbwardend --help')"),
            ([NBWARDEND, "--ringbuf-mb", "5000"], 2,
             "nbwardend: --ringbuf-mb: Value 5000 not in range 1 to 1024 "
             "(see 'nbwardend --help')"),
            # nbwarden-exec keeps env(1)'s 125 for its own failures: its
            # status is otherwise the command's, and 2 is a common one.
            ([NBWARDEN_EXEC, "--bogus", "--", "/bin/true"], 125,
             "nbwarden-exec: unknown option '--bogus' (see 'nbwarden-exec --help')"),
            ([NBWARDEN_EXEC, "--", "/bin/true"], 125,
             "nbwarden-exec: --profile is required (see 'nbwarden-exec --help')"),
            ([NBWARDEN_EXEC, "--profile", "notebook-kernel", "/bin/true"], 125,
             "nbwarden-exec: '/bin/true': the command goes after -- "
             "(see 'nbwarden-exec --help')"),
        ]
        for cmd, status, line in cases:
            with self.subTest(cmd=cmd):
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
                self.assertEqual((r.returncode, r.stdout, r.stderr), (status, "", line + "\n"))


class HostileTextTest(unittest.TestCase):
    """What watched processes choose (paths, argv, their Jupyter user)
    reaches the analyst's terminal escaped."""

    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwcli.")
        os.chmod(self.tmp, 0o755)
        self.policies = actor_policies(os.path.join(self.tmp, "policies"))
        with open(os.path.join(self.policies, "rules", "zz-cli-test.yaml"), "w") as f:
            f.write("rules:\n"
                    "  - id: NBW-T01\n    name: read in the test dir\n    event: open\n"
                    "    when: {open.path: {prefix: %s/}}\n    severity: critical\n"
                    "    summary: \"{proc.name} ({proc.pid}) read {open.path}\"\n"
                    "  - id: NBW-T02\n    name: marked command\n    event: exec\n"
                    "    when: {exec.name: [echo], exec.argv: {contains: nbw-cli-marker}}\n"
                    "    severity: critical\n"
                    "    summary: \"{proc.name} ({proc.pid}) ran {exec.argv}\"\n" % self.tmp)
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_scan_table_escapes_file_names_and_the_globals_a_pickle_names(self):
        path = os.path.join(self.tmp, "m\x1b]0;pwned\x07\nclean  forged.pkl")
        with open(path, "wb") as f:  # GLOBAL "os<ESC>[2J" "system", called
            f.write(b"\x80\x02cos\x1b[2J\nsystem\nX\x04\x00\x00\x00true\x85R.")
        r = subprocess.run([NBWARDEN, "scan", "-p", os.path.join(SOURCE, "policies"), path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            "suspicious   1d8af45a76eb  pickle        %s/m\\x1b]0;pwned\\x07\\nclean  forged.pkl"
            % self.tmp,
            "    suspicious   global@2  GLOBAL os\\x1b[2J.system (not on the safe list), "
            "called at offset 27"])

    def test_tail_escapes_control_characters_from_paths_argv_and_user(self):
        sock = os.path.join(self.tmp, "alerts.sock")
        cfg = os.path.join(self.tmp, "nbwarden.yaml")
        with open(cfg, "w") as f:
            json.dump({"spool_dir": os.path.join(self.tmp, "spool"), "sinks": [],
                       "stream": {"path": sock}}, f)
        self.daemon = Daemon("-c", cfg, policies=self.policies)
        # A file name that sets the terminal's title and forges a line of
        # its own; an argv that clears the screen; a user with CSI (C1).
        path = os.path.join(self.tmp, "m\x1b]0;pwned\x07\nNBW-100 forged")
        with open(path, "w") as f:
            f.write("x")
        env = dict(os.environ, JUPYTERHUB_USER="eve\u009b2J\\")
        subprocess.run([ACTOR, "as-kernel", "open", path], check=True, timeout=30, env=env)
        subprocess.run([ACTOR, "as-kernel", "spawn", "/bin/echo", "echo",
                        b"nbw-cli-marker\x1b[2J\r\t\x7f\xff"], check=True, timeout=30, env=env,
                       stdout=subprocess.DEVNULL)
        self.assertTrue(self.daemon.wait_for(
            lambda l: l.get("kind") == "alert" and l["rule"]["id"] == "NBW-T02"))
        alerts = [l for l in self.daemon.lines()
                  if l.get("kind") == "alert" and l["rule"]["id"] in ("NBW-T01", "NBW-T02")]
        self.assertEqual([a["rule"]["id"] for a in alerts], ["NBW-T01", "NBW-T02"])
        self.assertEqual(alerts[0]["summary"], "nbw_actor (%d) read %s" % (alerts[0]["proc"]["pid"],
                                                                           path))
        # The late subscriber gets the backlog: both alerts, one line each.
        r = subprocess.run([NBWARDEN, "tail", "--socket", sock, "--no-color", "-n", "2"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = []
        for a, shown in zip(alerts, (
                "nbw_actor (%d) read %s/m\\x1b]0;pwned\\x07\\nNBW-100 forged" % (
                    alerts[0]["proc"]["pid"], self.tmp),
                # The daemon's JSON already carries the invalid byte as U+FFFD.
                "echo (%d) ran echo nbw-cli-marker\\x1b[2J\\r\\t\\x7f\ufffd" % (
                    alerts[1]["proc"]["pid"]))):
            self.assertEqual(a["target"]["user"], "eve\u009b2J\\")
            want.append("%s  CRITICAL   %-12s  %s  eve\\u009b2J\\\\  %s" % (
                a["time"][11:19], a["rule"]["id"], a["host"], shown))
        self.assertEqual(r.stdout.decode(), "\n".join(want) + "\n")


class StatusAsControlGroupMemberTest(unittest.TestCase):
    """An unprivileged operator in --control-group asks the daemon itself;
    kill(pid, 0) on root's daemon would say EPERM."""
    GROUP, USER = "nbwtest-cli-ops", "nbwtest-cli-op"

    def setUp(self):
        require_root()
        self.tmp = tempfile.mkdtemp(prefix="nbwcli.")
        os.chmod(self.tmp, 0o755)
        self.daemon = None
        subprocess.run(["groupadd", self.GROUP], check=True)
        self.addCleanup(subprocess.run, ["groupdel", self.GROUP], capture_output=True)
        subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", "-G", self.GROUP, self.USER], check=True)
        self.addCleanup(subprocess.run, ["userdel", self.USER], capture_output=True)

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_a_group_member_sees_the_daemon_running(self):
        sock = os.path.join(self.tmp, "control.sock")
        self.daemon = Daemon("--control-socket", sock, "--control-group", self.GROUP,
                             policies=os.path.join(SOURCE, "policies"))
        r = subprocess.run([NBWARDEN, "status", "--socket", sock, "--status-file",
                            self.daemon.status_path], user=self.USER, group=self.USER,
                           extra_groups=[self.GROUP], env={"PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines()[0], "daemon:   running (pid %d)" %
                         self.daemon.proc.pid)
        self.assertNotIn("via:", r.stdout)  # from the socket, not the status file


if __name__ == "__main__":
    unittest.main()
