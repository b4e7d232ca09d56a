// SPDX-License-Identifier: Apache-2.0
// The sinks' pure parts: the spool's on-disk log across restarts and
// crashes, Falco rendering, RFC 5424 formatting, config errors, and how the
// router reports a full spool's drops to its observer.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>

#include "alert/limiter.h"
#include "sinks/file_sink.h"
#include "sinks/router.h"
#include "sinks/spool.h"

namespace nbw {
namespace {

namespace fs = std::filesystem;

class Spool : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nbw-spool-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    path_ = dir_ + "/s.spool";
    auto d = SpoolDir::Open(dir_);
    ASSERT_TRUE(d.ok()) << d.status().message();
    spool_dir_.emplace(std::move(d).value());
  }
  void TearDown() override { fs::remove_all(dir_); }
  const SpoolDir& Dir() { return *spool_dir_; }
  std::string dir_, path_;
  std::optional<SpoolDir> spool_dir_;
};

TEST_F(Spool, DeliversInOrderAndResumesAfterARestart) {
  {
    auto s = SpoolLog::Open(Dir(), "s.spool", 1 << 20);
    ASSERT_TRUE(s.ok()) << s.status().message();
    for (const char* a : {"a1", "a2", "a3"}) ASSERT_TRUE((*s)->Append(a));
    EXPECT_EQ((*s)->Peek(2), (std::vector<std::string>{"a1", "a2"}));
    (*s)->Commit(1);  // the receiver took a1 only
  }
  auto s = SpoolLog::Open(Dir(), "s.spool", 1 << 20);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->pending_lines(), 2u);
  EXPECT_EQ((*s)->Peek(10), (std::vector<std::string>{"a2", "a3"}));
  (*s)->Commit(2);
  EXPECT_EQ((*s)->pending_bytes(), 0u);
  EXPECT_EQ(fs::file_size(path_), 0u);  // compacted once all is delivered
}

TEST_F(Spool, ATornLastLineFromACrashIsCutAndABadOffsetStartsOver) {
  std::ofstream(path_) << "a1\na2\npartial";
  std::ofstream(path_ + ".offset") << "4\n";  // "a2" starts at 3: not a boundary
  auto s = SpoolLog::Open(Dir(), "s.spool", 1 << 20);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Peek(10), (std::vector<std::string>{"a1", "a2"}));  // a duplicate, not a loss
  EXPECT_EQ(fs::file_size(path_), 6u);
}

TEST_F(Spool, AFullSpoolRefusesWhatDoesNotFit) {
  auto s = SpoolLog::Open(Dir(), "s.spool", 10);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->Append("12345678"));  // 9 bytes with the newline
  EXPECT_FALSE((*s)->Append("x"));
  (*s)->Peek(1);
  (*s)->Commit(1);
  EXPECT_TRUE((*s)->Append("x"));
}

const char* kAlert =
    R"({"kind":"alert","schema":"nbwarden.alert/v1","time":"2026-11-26T02:08:04.290118789Z",)"
    R"("host":"nb-7","rule":{"id":"NBW-100","name":"Host credential read"},)"
    R"("severity":"critical","action":"alert","mitre":["T1552.001"],)"
    R"("summary":"python3 (42) read /etc/shadow","proc":{"pid":42,"ppid":1,"uid":1000,)"
    R"("comm":"python3","exe":"/usr/bin/python3.11","argv":["python3","-c","x"]},)"
    R"("target":{"role":"notebook-kernel","kernel_id":"k-1","user":"alice",)"
    R"("notebook_path":"/home/alice/a.ipynb","container_id":"c0ffee"},)"
    R"("event":{"type":"open","syscall":"openat","open":{"path":"/etc/shadow"}}})";

TEST(Falco, AnAlertRendersWithFalcosFields) {
  auto f = RenderFalco(kAlert);
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto j = nlohmann::json::parse(*f);
  EXPECT_EQ(j["output"], "02:08:04.290118789: Critical python3 (42) read /etc/shadow");
  EXPECT_EQ(j["priority"], "Critical");
  EXPECT_EQ(j["rule"], "Host credential read");
  EXPECT_EQ(j["time"], "2026-11-26T02:08:04.290118789Z");
  EXPECT_EQ(j["source"], "nbwarden");
  EXPECT_EQ(j["hostname"], "nb-7");
  EXPECT_EQ(j["tags"], nlohmann::json({"NBW-100", "T1552.001"}));
  const auto& o = j["output_fields"];
  EXPECT_EQ(o["proc.pid"], 42);
  EXPECT_EQ(o["proc.cmdline"], "python3 -c x");
  EXPECT_EQ(o["user.uid"], 1000);
  EXPECT_EQ(o["fd.name"], "/etc/shadow");
  EXPECT_EQ(o["container.id"], "c0ffee");
  EXPECT_EQ(o["jupyter.user"], "alice");
  EXPECT_EQ(o["jupyter.kernel_id"], "k-1");
  EXPECT_EQ(o["jupyter.notebook_path"], "/home/alice/a.ipynb");
  EXPECT_FALSE(RenderFalco("{not json").ok());
  EXPECT_FALSE(RenderFalco(R"({"kind":"alert"})").ok());
}

TEST(Syslog, Rfc5424WithTheSeverityMappedAndTheJsonAsMessage) {
  SyslogTarget t;
  t.facility = 16;  // local0
  t.hostname = "nb-7";
  const std::string m = SyslogSink::Format(t, kAlert);
  // <16*8+2>1 TIMESTAMP HOSTNAME APP PROCID MSGID SD MSG
  EXPECT_EQ(m, "<130>1 2026-11-26T02:08:04.290118789Z nb-7 nbwarden " + std::to_string(getpid()) +
                   " NBW-100 - " + kAlert);
  EXPECT_EQ(SyslogSeverity("emergency"), 0);
  EXPECT_EQ(SyslogSeverity("informational"), 6);
  EXPECT_EQ(SyslogSeverity("made-up"), 4);  // never quieter than warning
}

TEST(DaemonConfigParse, SinksAreBuiltAndErrorsNameLineAndField) {
  auto c = DaemonConfig::Parse(R"(spool_dir: /var/spool/x
sinks:
  - {name: soc, type: webhook, url: "https://siem.example:8443/in", timeout_ms: 100}
  - {type: syslog, transport: tcp, address: "logs:6514", facility: local7}
  - {type: file, path: /var/log/a.jsonl}
)",
                               "c.yaml", "host");
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->sinks.size(), 3u);
  EXPECT_EQ(c->sinks[0].name, "soc");
  EXPECT_EQ(c->sinks[1].name, "syslog1");
  EXPECT_EQ(c->spool_dir, "/var/spool/x");
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"sinks:\n  - {type: webhook, url: \"http://h:99999/\"}\n",
       "c.yaml:2:26: sinks[0].url: http://h:99999/: the port must be a number from 1 to 65535"},
      {"sinks:\n  - {type: syslog, address: \"h:1\", facility: mail}\n",
       "c.yaml:2:46: sinks[0].facility: must be kern, user, daemon, auth, syslog, authpriv, "
       "audit or local0-7"},
      {"sinks:\n  - {type: file, path: /a}\n  - {type: file, path: /b, name: file0}\n",
       "c.yaml:3:5: sinks[1].name: 'file0' is used twice (it names the spool)"},
      {"sink: []\n", "c.yaml:1:1: sink: unknown key (spool_dir, sinks, stream, limits)"},
      {"spool_dir: spool\n", "c.yaml:1:12: spool_dir: must be an absolute directory"},
  };
  for (const auto& k : cases) {
    auto r = DaemonConfig::Parse(k.yaml, "c.yaml", "host");
    ASSERT_FALSE(r.ok()) << k.yaml;
    EXPECT_EQ(r.status().message(), k.error);
  }
}

// Issue 11 (3.6): a list or mapping where a string belongs used to throw
// YAML::TypedBadConversion out of Parse (nbwarden config check and nbwardend
// died with SIGABRT, status 134).
TEST(DaemonConfigParse, WrongTypesAreErrorsNamingTheFieldNotACrash) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"spool_dir: [a]\n", "c.yaml:1:12: spool_dir: must be a string, not a list"},
      {"sinks:\n  - {type: syslog, address: \"h:1\", facility: [auth]}\n",
       "c.yaml:2:46: sinks[0].facility: must be a string, not a list"},
      {"sinks:\n  - {type: [file], path: /x}\n",
       "c.yaml:2:12: sinks[0].type: must be a string, not a list"},
      {"sinks:\n  - {type: file, name: {a: 1}, path: /x}\n",
       "c.yaml:2:24: sinks[0].name: must be a string, not a mapping"},
      {"sinks:\n  - {type: webhook, url: \"http://h/\", headers: {X-A: [a]}}\n",
       "c.yaml:2:54: sinks[0].headers.X-A: must be a string, not a list"},
      {"stream: {path: [a]}\n", "c.yaml:1:16: stream.path: must be a string, not a list"},
      {"stream: {path: /s, tls_listen: \"h:1\", tls_cert: [a]}\n",
       "c.yaml:1:49: stream.tls_cert: must be a string, not a list"},
      {"sinks:\n  - {type: file, path: /x, keep: -1}\n",
       "c.yaml:2:34: sinks[0].keep: must be a whole number from 0 to 100"},
      {"sinks:\n  - {type: webhook, url: \"http://h/\", timeout_ms: {a: 1}}\n",
       "c.yaml:2:51: sinks[0].timeout_ms: must be a whole number from 1 to 600000"},
      {"stream: {path: /s, backlog: lots}\n",
       "c.yaml:1:29: stream.backlog: must be a whole number from 0 to 100000"},
      {"limits: {dedup: [true]}\n", "c.yaml:1:17: limits.dedup: must be true or false"},
      {"{? [a] : b}\n", "c.yaml:1:4: a key must be a string, not a list or mapping"},
      {"sinks: []\nspool_dir: /a\nsinks: []\n",
       "c.yaml:3:1: 'sinks' is given twice in this mapping (first at 1:1)"},
      {"sinks:\n  - {type: file, path: /a, path: /b}\n",
       "c.yaml:2:28: 'path' is given twice in this mapping (first at 2:18)"},
  };
  for (const auto& k : cases) {
    auto r = DaemonConfig::Parse(k.yaml, "c.yaml", "host");
    ASSERT_FALSE(r.ok()) << k.yaml;
    EXPECT_EQ(r.status().message(), k.error) << k.yaml;
  }
}

// Issue 11 (3.9): a header value with CR/LF split the webhook's request; a
// sink name with a NUL made its spool and offset file one file.
TEST(DaemonConfigParse, HeaderAndSinkNameInjectionIsRefused) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"sinks:\n  - {type: webhook, url: \"http://h/\", headers: {X-A: \"1\\r\\nEvil: 2\"}}\n",
       "c.yaml:2:54: sinks[0].headers.X-A: a header value must not hold CR, LF, NUL or other "
       "control characters"},
      {"sinks:\n  - {type: webhook, url: \"http://h/\", headers: {X-A: \"a\\x01\"}}\n",
       "c.yaml:2:54: sinks[0].headers.X-A: a header value must not hold CR, LF, NUL or other "
       "control characters"},
      {"sinks:\n  - {type: webhook, url: \"http://h/\", headers: {\"X A\": b}}\n",
       "c.yaml:2:49: sinks[0].headers.X A: a header name must be an HTTP token (RFC 7230)"},
      {"sinks:\n  - {type: webhook, url: \"http://h/\", headers: {\"X\\nY\": b}}\n",
       "c.yaml:2:49: sinks[0].headers.X\nY: a header name must be an HTTP token (RFC 7230)"},
      {"sinks:\n  - {type: webhook, url: \"http://h/a\\r\\nX: 1\"}\n",
       "c.yaml:2:26: sinks[0].url: http://h/a\r\nX: 1: must not hold spaces or control "
       "characters"},
      {"sinks:\n  - {type: file, path: /x, name: \"a\\0b\"}\n",
       "c.yaml:2:34: sinks[0].name: must not hold a NUL character"},
      {"sinks:\n  - {type: file, path: /x, name: \"a b\"}\n",
       "c.yaml:2:34: sinks[0].name: must be 1 to 64 letters, digits, '.', '_' or '-', not "
       "starting with '.' (it names the spool file)"},
      {"sinks:\n  - {type: file, path: /x, name: ../x}\n",
       "c.yaml:2:34: sinks[0].name: must be 1 to 64 letters, digits, '.', '_' or '-', not "
       "starting with '.' (it names the spool file)"},
      {"sinks:\n  - {type: syslog, address: \"h:1\", app_name: \"a\\nb\"}\n",
       "c.yaml:2:46: sinks[0].app_name: must be 1 to 48 printable ASCII characters"},
  };
  for (const auto& k : cases) {
    auto r = DaemonConfig::Parse(k.yaml, "c.yaml", "host");
    ASSERT_FALSE(r.ok()) << k.yaml;
    EXPECT_EQ(r.status().message(), k.error) << k.yaml;
  }
  auto ok = DaemonConfig::Parse(
      "sinks:\n  - {type: webhook, url: \"http://h/\", name: soc_1.a-b,\n"
      "     headers: {Authorization: \"Bearer a/b+c=\", X-Tab: \"a\\tb\"}}\n",
      "c.yaml", "host");
  EXPECT_TRUE(ok.ok()) << ok.status().message();
}

class SpoolDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / ("nbw-spooldir-" + std::to_string(getpid()));
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }
  std::string tmp_;
};

TEST_F(SpoolDirTest, AMissingDirectoryIsCreatedForTheDaemonAlone) {
  auto d = SpoolDir::Open(tmp_ + "/a/spool");
  ASSERT_TRUE(d.ok()) << d.status().message();
  struct stat st = {};
  ASSERT_EQ(stat((tmp_ + "/a/spool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, geteuid());
  // An existing one readable by others is made private.
  fs::create_directories(tmp_ + "/b");
  chmod((tmp_ + "/b").c_str(), 0755);
  ASSERT_TRUE(SpoolDir::Open(tmp_ + "/b").ok());
  ASSERT_EQ(stat((tmp_ + "/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

// Issue 11 (3.8): a spool_dir that is a planted symlink was followed as root.
TEST_F(SpoolDirTest, APlantedSymlinkIsRefusedAndNothingIsWrittenWhereItPoints) {
  const std::string elsewhere = tmp_ + "/elsewhere", link = tmp_ + "/spool";
  fs::create_directories(elsewhere);
  fs::create_directory_symlink(elsewhere, link);
  auto d = SpoolDir::Open(link);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(),
            "spool_dir " + link + ": is a symbolic link: refusing to follow it");
  // Through the router, as the daemon starts it.
  DaemonConfig c;
  c.spool_dir = link;
  SinkConfig sc;
  sc.name = "f";
  sc.type = "file";
  sc.sink = std::make_unique<FileSink>(tmp_ + "/alerts.jsonl", 1 << 20, 1);
  c.sinks.push_back(std::move(sc));
  auto r = AlertRouter::Start(std::move(c));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "spool_dir " + link + ": is a symbolic link: refusing to follow it");
  EXPECT_TRUE(fs::is_empty(elsewhere));
}

TEST_F(SpoolDirTest, NotADirectoryAnotherOwnerOrGroupWritableIsRefused) {
  std::ofstream(tmp_ + "/file") << "x";
  EXPECT_EQ(SpoolDir::Open(tmp_ + "/file").status().message(),
            "spool_dir " + tmp_ + "/file: is not a directory");
  fs::create_directories(tmp_ + "/theirs");
  ASSERT_EQ(chown((tmp_ + "/theirs").c_str(), 65534, 65534), 0) << "needs root";
  EXPECT_EQ(SpoolDir::Open(tmp_ + "/theirs").status().message(),
            "spool_dir " + tmp_ + "/theirs: is owned by uid 65534, not by the daemon (uid " +
                std::to_string(geteuid()) + ")");
  fs::create_directories(tmp_ + "/shared");
  chmod((tmp_ + "/shared").c_str(), 01777);
  EXPECT_EQ(SpoolDir::Open(tmp_ + "/shared").status().message(),
            "spool_dir " + tmp_ +
                "/shared: is writable by group or others (mode 1777): it must "
                "be the daemon's alone");
}

TEST_F(SpoolDirTest, ASpoolFileThatIsASymlinkIsRefused) {
  fs::create_directories(tmp_ + "/spool");
  std::ofstream(tmp_ + "/victim") << "precious\n";
  fs::create_symlink(tmp_ + "/victim", tmp_ + "/spool/s.spool");
  auto d = SpoolDir::Open(tmp_ + "/spool");
  ASSERT_TRUE(d.ok()) << d.status().message();
  auto s = SpoolLog::Open(*d, "s.spool", 1 << 20);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "spool " + tmp_ + "/spool/s.spool: Too many levels of symbolic links");
  std::ifstream in(tmp_ + "/victim");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "precious");
}

}  // namespace
}  // namespace nbw

namespace nbw {
namespace {

// The receiver the router delivers to: in memory, down until told otherwise.
// (A fake only here: the router's contract with a sink is Deliver; the real
// receivers' outages are in e2e sinks_test.)
class SwitchableSink : public Sink {
 public:
  explicit SwitchableSink(std::atomic<bool>& up) : up_(up) {}
  Result<size_t> Deliver(const std::vector<std::string>& alerts) override {
    if (!up_) return Status::Error("receiver", "down");
    return alerts.size();
  }

 private:
  std::atomic<bool>& up_;
};

struct DropLog : SinkDropObserver {
  void OnSinkDrops(std::string_view sink, uint64_t dropped) override {
    std::lock_guard lock(mu);
    calls.emplace_back(std::string(sink), dropped);
  }
  std::vector<std::pair<std::string, uint64_t>> Calls() {
    std::lock_guard lock(mu);
    return calls;
  }
  std::mutex mu;
  std::vector<std::pair<std::string, uint64_t>> calls;
};

bool WaitFor(const std::function<bool()>& pred) {
  for (int i = 0; i < 500; i++) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(SpoolDirTest, DropsReachTheRegisteredObserverOnceTheSinkDeliversAgain) {
  std::atomic<bool> up{false};
  DaemonConfig c;
  c.spool_dir = tmp_ + "/spool";
  SinkConfig sc;
  sc.name = "s";
  sc.type = "file";
  sc.sink = std::make_unique<SwitchableSink>(up);
  sc.spool_max_bytes = 100;  // room for two of the alerts below
  c.sinks.push_back(std::move(sc));
  auto r = AlertRouter::Start(std::move(c));
  ASSERT_TRUE(r.ok()) << r.status().message();
  AlertRouter& router = **r;
  const std::string line(40, 'a');
  auto stats = [&] { return router.Stats().at(0); };

  // Dropped with no observer: counted, kept for the next one, not lost.
  for (int i = 0; i < 5; i++) router.Publish(line);
  EXPECT_EQ(stats().dropped, 3u);
  up = true;
  ASSERT_TRUE(WaitFor([&] { return stats().delivered == 2; }));
  DropLog log;
  router.SetDropObserver(&log);
  router.Publish(line);
  ASSERT_TRUE(WaitFor([&] { return !log.Calls().empty(); }));
  EXPECT_EQ(log.Calls(), (std::vector<std::pair<std::string, uint64_t>>{{"s", 3}}));

  // Unregistered: it is never called again, however many drops follow.
  router.SetDropObserver(nullptr);
  up = false;
  for (int i = 0; i < 4; i++) router.Publish(line);
  up = true;
  ASSERT_TRUE(WaitFor([&] { return stats().delivered == 5 && stats().pending == 0; }));
  router.Publish(line);
  ASSERT_TRUE(WaitFor([&] { return stats().delivered == 6; }));
  router.Stop();
  EXPECT_EQ(log.Calls().size(), 1u);
  EXPECT_EQ(stats().dropped, 5u);
}

TEST(Limiter, FoldsRepeatsAndBurstsPerRuleAndTargetAndReportsThem) {
  LimiterConfig c;
  c.enabled = true;
  c.window = std::chrono::seconds(60);
  c.burst = 3;
  AlertLimiter l(c);
  const auto t0 = AlertLimiter::Clock::time_point{} + std::chrono::hours(1);
  auto admit = [&](uint32_t target, const std::string& summary, int at_s) {
    return l.Admit("NBW-100", "Host credential read", Severity::kCritical, target, summary,
                   t0 + std::chrono::seconds(at_s));
  };
  // The same summary again: a duplicate.
  EXPECT_TRUE(admit(1, "a", 0));
  EXPECT_FALSE(admit(1, "a", 1));
  EXPECT_FALSE(admit(1, "a", 2));
  // Different summaries: up to the burst (3 with "a").
  EXPECT_TRUE(admit(1, "b", 3));
  EXPECT_TRUE(admit(1, "c", 4));
  EXPECT_FALSE(admit(1, "d", 5));
  // Another target has its own window.
  EXPECT_TRUE(admit(2, "a", 5));
  EXPECT_EQ(l.folded(), 3u);
  EXPECT_TRUE(l.Expire(t0 + std::chrono::seconds(59)).empty());
  auto r = l.Expire(t0 + std::chrono::seconds(60));
  ASSERT_EQ(r.size(), 1u);  // target 2 folded nothing: no report
  EXPECT_EQ((std::tuple{r[0].rule_id, r[0].target, r[0].duplicates, r[0].over_rate,
                        r[0].last_summary, r[0].severity}),
            (std::tuple{std::string("NBW-100"), 1u, uint64_t{2}, uint64_t{1}, std::string("d"),
                        Severity::kCritical}));
  // A new window starts afresh.
  EXPECT_TRUE(admit(1, "a", 61));
}

TEST(Limiter, OffByDefault) {
  AlertLimiter l(LimiterConfig{});
  for (int i = 0; i < 100; i++) {
    EXPECT_TRUE(l.Admit("R", "r", Severity::kWarning, 1, "same", AlertLimiter::Clock::now()));
  }
  EXPECT_EQ(l.folded(), 0u);
}

}  // namespace
}  // namespace nbw
