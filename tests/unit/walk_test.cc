// SPDX-License-Identifier: Apache-2.0
// The directory walk of `nbwarden scan DIR` on real trees in a temporary
// directory, with small limits so each bound is reached: the open-fd
// window (shallow levels closed and re-opened), the depth, the names held,
// and a directory replaced while the walk was below it.
#include "scan/walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nbw {
namespace {

namespace fs = std::filesystem;

size_t OpenFds() {
  size_t n = 0;
  for (auto it = fs::directory_iterator("/proc/self/fd"); it != fs::end(it); ++it) n++;
  return n;
}

class WalkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nbw-walk-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    auto p = ModelGuardPolicy::LoadPath(NBW_SOURCE_DIR "/policies/model-guard.yaml");
    ASSERT_TRUE(p.ok()) << p.status().message();
    policy_ = std::make_unique<ModelGuardPolicy>(std::move(p).value());
  }
  void TearDown() override { fs::remove_all(root_); }

  void Put(const std::string& rel) {
    fs::create_directories(fs::path(root_ + "/" + rel).parent_path());
    std::ofstream(root_ + "/" + rel) << "\x80\x04N.";
  }

  struct Seen {
    std::string path, error;
  };
  std::vector<Seen> Walk(const WalkLimits& limits,
                         std::function<void(const WalkVisit&)> also = {}) {
    std::vector<Seen> seen;
    WalkModels(
        root_, *policy_,
        [&](WalkVisit v) {
          if (also) also(v);
          EXPECT_EQ(v.fd.valid(), v.error.ok()) << v.path;
          seen.push_back({v.path.substr(root_.size()), v.error.message()});
        },
        limits);
    return seen;
  }

  std::string root_;
  std::unique_ptr<ModelGuardPolicy> policy_;
};

TEST_F(WalkTest, ReopensShallowLevelsAndHoldsNoMoreFdsThanTheWindow) {
  // A comb: every level has a deeper "a" and a model "z.pkl" visited after
  // it, so every shallow level is come back to after its fd was closed.
  std::string rel;
  for (int i = 0; i < 20; i++) {
    rel += "a/";
    Put(rel + "z.pkl");
  }
  const size_t base = OpenFds();
  size_t most = 0;
  auto seen = Walk({.depth = 100, .open_dirs = 2, .names = 1000},
                   [&](const WalkVisit&) { most = std::max(most, OpenFds()); });
  ASSERT_EQ(seen.size(), 20u);
  for (int i = 0; i < 20; i++) {
    std::string want;
    for (int j = 0; j < 20 - i; j++) want += "/a";
    EXPECT_EQ(seen[i].path, want + "/z.pkl");
    EXPECT_EQ(seen[i].error, "");
  }
  // The root, two levels and the visited file (and the iterator counting).
  EXPECT_LE(most, base + 1 + 2 + 1 + 1);
  EXPECT_EQ(OpenFds(), base);
}

TEST_F(WalkTest, ALevelPastTheDepthBoundIsReportedNotWalked) {
  Put("d/d/d/d/d/m.pkl");
  auto seen = Walk({.depth = 3, .open_dirs = 64, .names = 1000});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/d/d/d/d");
  EXPECT_EQ(seen[0].error, "directory: nested deeper than 3 levels: not walked");
}

TEST_F(WalkTest, ADirectoryWithMoreNamesThanTheBoundIsReported) {
  for (const char* n : {"a.pkl", "b.pkl", "c.pkl"}) Put(std::string("big/") + n);
  Put("ok.pkl");
  auto seen = Walk({.depth = 8, .open_dirs = 64, .names = 3});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "/big");
  EXPECT_EQ(seen[0].error, "listing: more than 3 names held at once: not walked");
  EXPECT_EQ(seen[1].path, "/ok.pkl");
}

TEST_F(WalkTest, ADirectoryReplacedBelowTheWalkIsReportedNotFollowed) {
  Put("x/a/b/m.pkl");
  Put("x/z.pkl");
  auto seen = Walk({.depth = 8, .open_dirs = 1, .names = 1000}, [&](const WalkVisit& v) {
    if (v.path.ends_with("/m.pkl")) {
      // x's fd was given up (window of one): coming back, "x" is another
      // directory, planted with a model of its own.
      fs::rename(root_ + "/x", root_ + "/old");
      Put("x/z.pkl");
    }
  });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "/x/a/b/m.pkl");
  EXPECT_EQ(seen[1].path, "/x");
  EXPECT_EQ(seen[1].error,
            "directory: moved or replaced during the walk: the rest of it was "
            "not walked");
}

TEST_F(WalkTest, NonModelsAreSkippedAndModelsFoundByContent) {
  Put("weights.bin");  // pickle content, no model extension
  std::ofstream(root_ + "/notes.txt") << "hello";
  ASSERT_EQ(mkfifo((root_ + "/fifo.pkl").c_str(), 0600), 0);  // never opened
  ASSERT_EQ(symlink("/etc/passwd", (root_ + "/link.pkl").c_str()), 0);
  auto seen = Walk({});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/weights.bin");
}

}  // namespace
}  // namespace nbw
