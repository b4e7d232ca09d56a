// SPDX-License-Identifier: Apache-2.0
// WriteFileAtomic, the one writer of whole files as root (status file,
// seccomp record -o, kernelspec install): it replaces a regular file and
// nothing else. Symlinks, devices and FIFOs are made in a temporary
// directory (mknod needs root); the real /dev is never touched.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "process/proc_fs.h"

namespace nbw {
namespace {

namespace fs = std::filesystem;

class WriteFileAtomicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nbw-write-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    victim_ = dir_ + "/victim";
    std::ofstream(victim_) << "precious\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Read(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Every name in the directory: no temporary file may be left behind.
  std::set<std::string> Names() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename());
    return out;
  }
  static mode_t Type(const std::string& p) {
    struct stat st = {};
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & S_IFMT;
  }
  void MakeCharDevice(const std::string& p, unsigned minor) {
    // 1:3 is null, 1:7 is full: the same devices as /dev/null and /dev/full.
    ASSERT_EQ(mknod(p.c_str(), S_IFCHR | 0666, makedev(1, minor)), 0) << "mknod needs root";
  }

  std::string dir_, victim_;
};

TEST_F(WriteFileAtomicTest, ARegularFileIsReplacedWholeWithItsModeAndNothingLeftBehind) {
  const std::string p = dir_ + "/out.json";
  ASSERT_TRUE(WriteFileAtomic(p, "one\n", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(p, "two\n", 0644).ok());
  EXPECT_EQ(Read(p), "two\n");
  struct stat st = {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(Names(), (std::set<std::string>{"out.json", "victim"}));
}

// Issue 11 (3.8): `seccomp record -o PATH` renamed a file over a symlink or
// a device node (-o /dev/full replaced /dev/full).
TEST_F(WriteFileAtomicTest, ASymlinkIsNeitherFollowedNorReplaced) {
  const std::string link = dir_ + "/link";
  fs::create_symlink(victim_, link);
  for (SpecialFiles sf : {SpecialFiles::kRefuse, SpecialFiles::kWriteThrough}) {
    Status s = WriteFileAtomic(link, "evil\n", 0644, sf);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message(),
              link + ": is a symbolic link, not a regular file: refusing to replace or follow it");
  }
  EXPECT_EQ(Type(link), S_IFLNK);
  EXPECT_EQ(Read(victim_), "precious\n");
  // Dangling: root would create the file wherever it points.
  const std::string dangling = dir_ + "/dangling";
  fs::create_symlink(dir_ + "/created-through-link", dangling);
  EXPECT_FALSE(WriteFileAtomic(dangling, "x", 0644).ok());
  EXPECT_EQ(Names(), (std::set<std::string>{"dangling", "link", "victim"}));
}

TEST_F(WriteFileAtomicTest, ADeviceIsNeverReplaced) {
  const std::string full = dir_ + "/full";
  MakeCharDevice(full, 7);
  Status s = WriteFileAtomic(full, "x", 0644);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), full +
                             ": is a character device, not a regular file: refusing to "
                             "replace it");
  EXPECT_EQ(Type(full), S_IFCHR);
  // Written through, as the CLI asks for -o: the device says it is full,
  // and stays a device.
  s = WriteFileAtomic(full, "x", 0644, SpecialFiles::kWriteThrough);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "writing " + full + ": No space left on device");
  EXPECT_EQ(Type(full), S_IFCHR);
  const std::string null = dir_ + "/null";
  MakeCharDevice(null, 3);
  EXPECT_TRUE(WriteFileAtomic(null, "x", 0644, SpecialFiles::kWriteThrough).ok());
  EXPECT_EQ(Type(null), S_IFCHR);
  // A symlink to a device, as /dev/stdout is, is written through too.
  fs::create_symlink(null, dir_ + "/to-null");
  EXPECT_TRUE(WriteFileAtomic(dir_ + "/to-null", "x", 0644, SpecialFiles::kWriteThrough).ok());
  EXPECT_EQ(Type(dir_ + "/to-null"), S_IFLNK);
  EXPECT_EQ(Names(), (std::set<std::string>{"full", "null", "to-null", "victim"}));
}

TEST_F(WriteFileAtomicTest, AFifoIsWrittenThroughOnlyWhenAsked) {
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  Status s = WriteFileAtomic(fifo, "x", 0644);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), fifo + ": is a FIFO, not a regular file: refusing to replace it");
  std::string got;
  std::thread reader([&] { got = Read(fifo); });
  s = WriteFileAtomic(fifo, "profile\n", 0644, SpecialFiles::kWriteThrough);
  reader.join();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(got, "profile\n");
  EXPECT_EQ(Type(fifo), S_IFIFO);
}

TEST_F(WriteFileAtomicTest, ADirectoryIsRefused) {
  fs::create_directory(dir_ + "/d");
  EXPECT_EQ(WriteFileAtomic(dir_ + "/d", "x", 0644).message(),
            dir_ + "/d: is a directory, not a regular file: refusing to replace it");
}

// The status file's fixed ".tmp" name was opened (and followed) as root: a
// link planted there wrote the status wherever it pointed. The temporary
// file now has a random name and is created O_EXCL|O_NOFOLLOW.
TEST_F(WriteFileAtomicTest, NamesPlantedWhereTheTemporaryFileUsedToBeAreNotFollowed) {
  const std::string p = dir_ + "/status.json";
  for (const char* suffix : {".tmp", ".nbwarden-tmp"}) {
    fs::create_symlink(victim_, p + suffix);
  }
  ASSERT_TRUE(WriteFileAtomic(p, "{}\n", 0644).ok());
  EXPECT_EQ(Read(p), "{}\n");
  EXPECT_EQ(Read(victim_), "precious\n");
  EXPECT_EQ(Type(p + ".tmp"), S_IFLNK);
  EXPECT_EQ(Names(), (std::set<std::string>{"status.json", "status.json.nbwarden-tmp",
                                            "status.json.tmp", "victim"}));
}

}  // namespace
}  // namespace nbw
