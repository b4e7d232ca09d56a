// SPDX-License-Identifier: Apache-2.0
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <set>
#include <sstream>

namespace nbw::testing {

std::vector<const Event*> ActorRun::Of(EventKind kind, int syscall) const {
  std::vector<const Event*> r;
  for (const auto& e : events) {
    if (e.kind == kind && (syscall < 0 || e.syscall == syscall)) r.push_back(&e);
  }
  return r;
}

const Event* ActorRun::First(EventKind kind, int syscall) const {
  auto v = Of(kind, syscall);
  return v.empty() ? nullptr : v.front();
}

std::string ActorPath() {
  return NBW_ACTOR_PATH;
}

std::string TempDir() {
  char tmpl[] = "/tmp/nbwtest.XXXXXX";
  char* d = mkdtemp(tmpl);
  if (!d) return {};
  char real[PATH_MAX];
  return realpath(d, real) ? real : d;
}

SensorHarness& SensorHarness::Get() {
  static SensorHarness h;
  return h;
}

SensorHarness::SensorHarness() {
  SensorOptions opts;
  opts.ringbuf_bytes = 8 << 20;
  auto s = Sensor::Start(opts, [this](Event&& e) { seen_.push_back(std::move(e)); });
  if (!s.ok()) {
    ADD_FAILURE() << "sensor did not start: " << s.status().message();
    std::abort();
  }
  sensor_ = std::move(s).value();
}

void SensorHarness::PollFor(int ms) {
  struct pollfd p = {sensor_->poll_fd(), POLLIN, 0};
  ::poll(&p, 1, ms);
  sensor_->Poll();
}

ActorRun SensorHarness::Run(const std::vector<std::string>& args, bool track) {
  ActorRun run;
  int gate[2], out[2];
  if (pipe2(gate, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << strerror(errno);
    return run;
  }
  seen_.clear();
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    if (read(gate[0], &c, 1) != 1) _exit(120);  // wait until tracked
    dup2(out[1], 1);
    std::vector<char*> av;
    std::string path = ActorPath();
    av.push_back(path.data());
    for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    execv(path.c_str(), av.data());
    _exit(121);
  }
  run.pid = pid;
  close(gate[0]);
  close(out[1]);
  if (track) {
    Status s = sensor_->Track(static_cast<uint32_t>(pid), KernelTrack::kTarget);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  (void)!write(gate[1], "x", 1);
  close(gate[1]);

  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  waitpid(pid, &run.status, 0);

  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) run.out[line.substr(0, eq)] = std::stoll(line.substr(eq + 1));
  }

  // Collect until the actor's exit event arrives (tracked), or for a while
  // (untracked, to prove nothing comes).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(track ? 5 : 1);
  std::set<uint32_t> tree{static_cast<uint32_t>(pid)};
  bool exited = false;
  std::vector<Event> mine;
  size_t scanned = 0;
  while (std::chrono::steady_clock::now() < deadline && !exited) {
    PollFor(50);
    for (; scanned < seen_.size(); scanned++) {
      Event& e = seen_[scanned];
      if (!tree.count(e.tgid)) continue;
      if (e.kind == EventKind::kFork) tree.insert(static_cast<uint32_t>(e.args[0]));
      if (e.kind == EventKind::kExit && e.tgid == static_cast<uint32_t>(pid)) exited = true;
      mine.push_back(std::move(e));
    }
  }
  if (track && !exited) ADD_FAILURE() << "no exit event for actor " << pid;
  run.events = std::move(mine);
  return run;
}

}  // namespace nbw::testing
