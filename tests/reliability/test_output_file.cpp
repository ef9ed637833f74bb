// Output discipline (core/output_file.h): a written file appears whole or
// not at all, an unwritable target is refused before anything is written,
// and temporaries of a killed writer are removed by the next write.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/output_file.h"
#include "net/safetensors.h"
#include "test_util.h"

namespace deftnn {
namespace {

using test::error_of;
using test::expect_words;

namespace fs = std::filesystem;

class OutDir {
 public:
  OutDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / (std::string("deftnn_output_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~OutDir() {
    fs::permissions(path_, fs::perms::owner_all);
    fs::remove_all(path_);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Every entry of the folder, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(path_)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(OutputFile, WritesTheWholeFileAndNothingElse) {
  OutDir d;
  write_file_atomic(d.file("a.bin"), {{"abc", 3}, {"", 0}, {"defg", 4}});
  EXPECT_EQ(slurp(d.file("a.bin")), "abcdefg");
  write_text_atomic(d.file("a.bin"), "replaced");
  EXPECT_EQ(slurp(d.file("a.bin")), "replaced");
  EXPECT_EQ(d.entries(), std::vector<std::string>{"a.bin"});
}

TEST(OutputFile, RefusesAFolderAsTarget) {
  OutDir d;
  fs::create_directory(d.file("sub"));
  const std::string msg = error_of([&] { write_text_atomic(d.file("sub"), "x"); });
  EXPECT_NE(msg.find(d.file("sub")), std::string::npos) << msg;
  EXPECT_NE(msg.find("it is a folder"), std::string::npos) << msg;
  EXPECT_EQ(d.entries(), std::vector<std::string>{"sub"});
}

TEST(OutputFile, RefusesAParentThatIsARegularFile) {
  OutDir d;
  write_text_atomic(d.file("plain"), "x");
  const std::string target = d.file("plain") + "/out.json";
  const std::string msg = error_of([&] { check_writable(target); });
  EXPECT_NE(msg.find(target), std::string::npos) << msg;
  EXPECT_NE(msg.find("plain is not a folder"), std::string::npos) << msg;
  const std::string msg2 = error_of([&] { check_writable_folder(d.file("plain") + "/sub"); });
  EXPECT_NE(msg2.find("plain/sub"), std::string::npos) << msg2;
  EXPECT_EQ(slurp(d.file("plain")), "x");
}

TEST(OutputFile, RefusesAMissingFolder) {
  OutDir d;
  const std::string msg = error_of([&] { write_text_atomic(d.file("no/such/out.json"), "x"); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  EXPECT_TRUE(d.entries().empty());
}

TEST(OutputFile, RefusesADeviceAsTarget) {
  // /dev/full: a write there must not try to rename a temporary onto a device.
  const std::string msg = error_of([&] { write_text_atomic("/dev/full", "x"); });
  EXPECT_NE(msg.find("/dev/full"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
}

TEST(OutputFile, RefusesAReadOnlyFolder) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permissions do not bind (tests/cli/check_output_faults.sh "
                                        "uses a read-only mount instead)";
  OutDir d;
  fs::create_directory(d.file("ro"));
  fs::permissions(d.file("ro"), fs::perms::owner_read | fs::perms::owner_exec);
  const std::string msg = error_of([&] { write_text_atomic(d.file("ro/out.json"), "x"); });
  EXPECT_NE(msg.find("not writable"), std::string::npos) << msg;
  fs::permissions(d.file("ro"), fs::perms::owner_all);
  EXPECT_TRUE(fs::is_empty(d.file("ro")));
}

// A file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes write() fail
// part-way exactly as a full disk does (EFBIG instead of ENOSPC).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit r = old_;
    r.rlim_cur = bytes;
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &r), 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  sighandler_t old_handler_{};
};

TEST(OutputFile, AWriteFailingPartWayLeavesNothingAndKeepsTheOldFile) {
  OutDir d;
  write_text_atomic(d.file("m.bin"), "old contents");
  const std::string big(1 << 20, 'z');
  std::string msg;
  {
    FileSizeLimit limit(64 << 10);
    msg = error_of([&] { write_text_atomic(d.file("m.bin"), big); });
  }
  EXPECT_NE(msg.find(d.file("m.bin")), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing written"), std::string::npos) << msg;
  EXPECT_EQ(slurp(d.file("m.bin")), "old contents");
  EXPECT_EQ(d.entries(), std::vector<std::string>{"m.bin"});
}

TEST(OutputFile, ASafetensorsWriteOnAFullDiskLeavesNothing) {
  OutDir d;
  TensorFile tf;
  tf.tensors["w"] = Tensor::empty({256, 1024});
  float* w = tf.tensors["w"].data<float>();
  for (int64_t i = 0; i < 256 * 1024; ++i) w[i] = 1.f;
  {
    FileSizeLimit limit(16 << 10);
    const std::string msg = error_of([&] { write_safetensors(d.file("model.safetensors"), tf); });
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  }
  EXPECT_TRUE(d.entries().empty());
}

// A pid that is certainly dead: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t c = ::fork();
  if (c == 0) ::_exit(0);
  int status = 0;
  ::waitpid(c, &status, 0);
  return c;
}

TEST(OutputFile, RemovesTheTemporariesOfDeadWritersOnly) {
  OutDir d;
  const std::string target = d.file("ckpt.safetensors");
  const std::string dead = target + ".tmp-" + std::to_string(dead_pid());
  const std::string alive = target + ".tmp-" + std::to_string(::getppid());  // our parent lives
  const std::string other = d.file("other.safetensors.tmp-" + std::to_string(dead_pid()));
  const std::string not_ours = target + ".tmp-notapid";
  for (const auto& p : {dead, alive, other, not_ours}) write_text_atomic(p, "half");
  write_text_atomic(target, "whole");
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));      // a concurrent writer's file is left alone
  EXPECT_TRUE(fs::exists(other));      // another target's temporaries are not this write's business
  EXPECT_TRUE(fs::exists(not_ours));   // not of the .tmp-<pid> form
  EXPECT_EQ(slurp(target), "whole");
  EXPECT_EQ(remove_stale_temporaries(d.file("other.safetensors")), 1);
  EXPECT_FALSE(fs::exists(other));
}

}  // namespace
}  // namespace deftnn

namespace deftnn {
namespace {

// What the writer writes the reader accepts: a header over the reader's cap
// (a 101 MiB note in the metadata) is refused before anything is written.
TEST(OutputFile, SafetensorsWriterKeepsTheReadersHeaderLimit) {
  OutDir d;
  TensorFile tf;
  tf.tensors["w"] = Tensor::empty({2});
  tf.metadata["note"] = std::string(kSafetensorsMaxHeader + (1 << 20), 'n');
  const std::string msg = error_of([&] { write_safetensors(d.file("big.safetensors"), tf); });
  EXPECT_NE(msg.find("big.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reader accepts"), std::string::npos) << msg;
  EXPECT_TRUE(d.entries().empty());
  tf.metadata["note"] = std::string(1000, 'n');  // the same file with a short note writes and reads back
  write_safetensors(d.file("ok.safetensors"), tf);
  EXPECT_EQ(read_safetensors(d.file("ok.safetensors")).metadata.at("note").size(), 1000u);
}

}  // namespace
}  // namespace deftnn
