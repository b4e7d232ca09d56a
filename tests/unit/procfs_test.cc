// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "process/proc_fs.h"
#include "sensor/sockaddr.h"

namespace nbw {
namespace {

TEST(ProcStat, CommWithSpacesAndParensIsParsed) {
  auto st = ParseStat(
      "123 (evil) (x y) S 77 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
      "98765 1000 10");
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->comm, "evil) (x y");
  EXPECT_EQ(st->ppid, 77u);
  EXPECT_EQ(st->start_ticks, 98765u);
}

TEST(ProcStat, GarbageIsAnError) {
  EXPECT_FALSE(ParseStat("").ok());
  EXPECT_FALSE(ParseStat("12 (x) S notanumber").ok());
  EXPECT_FALSE(ParseStat("12 x S 1 2").ok());
}

TEST(ProcFs, ReadsItsOwnProcess) {
  ProcFs p;
  auto st = p.Stat(getpid());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->ppid, static_cast<uint32_t>(getppid()));
  auto argv = p.Cmdline(getpid());
  ASSERT_TRUE(argv.ok());
  EXPECT_NE((*argv)[0].find("nbw_unit_tests"), std::string::npos);
  setenv("NBW_PROBE_VAR", "v1", 1);  // not visible in /proc (set after exec)
  auto env = p.Environ(getpid(), {"PATH"});
  ASSERT_TRUE(env.ok());
}

TEST(ProcFs, VanishedProcessIsAnErrorNotACrash) {
  ProcFs p;
  EXPECT_FALSE(p.Stat(0x3fffffff).ok());
  EXPECT_FALSE(p.Exe(0x3fffffff).ok());
}

TEST(ContainerId, RuntimeIdsAreRecognized) {
  const std::string id(64, 'a');
  EXPECT_EQ(ContainerIdFromCgroup("0::/system.slice/docker-" + id + ".scope\n", false), id);
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubepods/burstable/podx/" + id + "\n", false), id);
  EXPECT_EQ(ContainerIdFromCgroup("0::/system.slice/cri-containerd-" + id + ".scope", false), id);
}

TEST(ContainerId, BareRuncNameOnlyWithItsOwnMountNamespace) {
  const char* cg = "9:name=systemd:/\n8:pids:/nbw-ctr\n4:memory:/nbw-ctr\n0::/\n";
  EXPECT_EQ(ContainerIdFromCgroup(cg, true), "nbw-ctr");
  EXPECT_EQ(ContainerIdFromCgroup(cg, false), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/\n", true), "");
  EXPECT_EQ(ContainerIdFromCgroup("4:memory:/system.slice/cron.service\n", true), "");
}

TEST(SplitNul, HandlesTrailingAndMissingNul) {
  EXPECT_EQ(SplitNul(std::string_view("a\0b\0", 4)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(SplitNul(std::string_view("a\0b", 3)), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(SplitNul("").empty());
}

TEST(SockAddr, Ipv4Ipv6UnixAndAbstract) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(8443);
  inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
  auto a = ParseSockAddr({reinterpret_cast<char*>(&in), sizeof in});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "169.254.169.254");
  EXPECT_EQ(a->port, 8443);

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(80);
  inet_pton(AF_INET6, "fd00:ec2::254", &in6.sin6_addr);
  auto b = ParseSockAddr({reinterpret_cast<char*>(&in6), sizeof in6});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->address, "fd00:ec2::254");

  std::string un("\x01\x00/var/run/docker.sock\0", 23);
  auto c = ParseSockAddr(un);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address, "/var/run/docker.sock");
  std::string abs("\x01\x00\0hidden", 9);
  EXPECT_EQ(ParseSockAddr(abs)->address, "@hidden");
}

TEST(SockAddr, ShortBlobsAreRejected) {
  EXPECT_FALSE(ParseSockAddr(""));
  EXPECT_FALSE(ParseSockAddr(std::string("\x02\x00\x01", 3)));  // AF_INET, 3 bytes
}

}  // namespace
}  // namespace nbw

namespace nbw {
namespace {

TEST(K8sIdentity, PodUidFromTheKubeletsCgroupNames) {
  EXPECT_EQ(PodUidFromCgroup("12:pids:/kubepods/besteffort/pod3f2b1c4e-8a9d-4e2f-9b1a-0c7d6e5f4a3b/"
                             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"),
            "3f2b1c4e-8a9d-4e2f-9b1a-0c7d6e5f4a3b");
  EXPECT_EQ(PodUidFromCgroup("0::/kubepods.slice/kubepods-burstable.slice/"
                             "kubepods-burstable-pod3f2b1c4e_8a9d_4e2f_9b1a_0c7d6e5f4a3b.slice/"
                             "cri-containerd-0123.scope\n"),
            "3f2b1c4e-8a9d-4e2f-9b1a-0c7d6e5f4a3b");
  EXPECT_EQ(PodUidFromCgroup("0::/system.slice/pod3f2b1c4e-8a9d-4e2f-9b1a-0c7d6e5f4a3b\n"), "");
  EXPECT_EQ(PodUidFromCgroup("0::/\n"), "");
}

TEST(K8sIdentity, NamesAreValidated) {
  EXPECT_TRUE(IsK8sName("jupyter-alice"));
  EXPECT_TRUE(IsK8sName("node-7.example"));
  EXPECT_FALSE(IsK8sName(""));
  EXPECT_FALSE(IsK8sName("-x"));
  EXPECT_FALSE(IsK8sName("Alice"));
  EXPECT_FALSE(IsK8sName("a b"));
  EXPECT_FALSE(IsK8sName("root:x:0:0"));
  EXPECT_FALSE(IsK8sName(std::string(254, 'a')));
}

TEST(K8sIdentity, TheNamespaceIsReadInsideTheProcessRoot) {
  namespace fs = std::filesystem;
  const std::string proc = fs::temp_directory_path() / ("nbw-k8s-" + std::to_string(getpid()));
  const std::string root = proc + "/42/root";
  const std::string sa = root + "/var/run/secrets/kubernetes.io/serviceaccount";
  fs::create_directories(sa);
  fs::create_directories(root + "/etc");
  std::ofstream(sa + "/namespace") << "jhub\n";
  EXPECT_EQ(ServiceAccountNamespace(proc, 42), "jhub");
  // A container's symlink to an absolute path stays inside its root: the
  // daemon reads the container's /etc/hostname, never the host's.
  fs::remove(sa + "/namespace");
  fs::create_symlink("/etc/hostname", sa + "/namespace");
  std::ofstream(root + "/etc/hostname") << "inside-root\n";
  EXPECT_EQ(ServiceAccountNamespace(proc, 42), "inside-root");
  // Anything that is not a name is ignored.
  std::ofstream(root + "/etc/hostname") << "root:x:0:0:root:/root:/bin/bash\n";
  EXPECT_EQ(ServiceAccountNamespace(proc, 42), "");
  EXPECT_EQ(ServiceAccountNamespace(proc, 43), "");
  fs::remove_all(proc);
}

}  // namespace
}  // namespace nbw
