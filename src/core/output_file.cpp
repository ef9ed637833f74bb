#include "core/output_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace deftnn {

namespace fs = std::filesystem;

namespace {

std::string errno_str(int e) { return std::strerror(e); }

std::string folder_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

const char kTmpMark[] = ".tmp-";

// True when `pid` names a process that exists (EPERM: it exists, not ours).
bool pid_alive(long pid) { return pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno == EPERM); }

}  // namespace

int remove_stale_temporaries(const std::string& path) {
  const fs::path p(path);
  const std::string prefix = p.filename().string() + kTmpMark;
  std::error_code ec;
  fs::directory_iterator it(folder_of(path), ec), end;
  int removed = 0;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::stol(digits);
    if (pid == long(::getpid()) || pid_alive(pid)) continue;
    std::error_code rm;
    if (it->is_regular_file(rm) && fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

void check_writable(const std::string& path) {
  DEFTNN_CHECK(!path.empty(), "cannot write: the output path is empty");
  const std::string dir = folder_of(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int e = errno;
    // ENOTDIR: some component of the folder is a regular file.
    DEFTNN_FAIL("{}: cannot write: the folder {} {}", path, dir,
                e == ENOENT ? std::string("does not exist") : errno_str(e));
  }
  DEFTNN_CHECK(S_ISDIR(st.st_mode), "{}: cannot write: {} is not a folder", path, dir);
  if (::stat(path.c_str(), &st) == 0) {
    DEFTNN_CHECK(!S_ISDIR(st.st_mode), "{}: cannot write: it is a folder", path);
    DEFTNN_CHECK(S_ISREG(st.st_mode), "{}: cannot write: it exists and is not a regular file (deftnn writes regular "
                                      "files, through a temporary file and a rename)",
                 path);
  }
  DEFTNN_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, "{}: cannot write: the folder {} is not writable: {}", path,
               dir, errno_str(errno));
}

void check_writable_folder(const std::string& dir) {
  DEFTNN_CHECK(!dir.empty(), "cannot write: the output folder is empty");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fs::create_directories(dir, ec);
    DEFTNN_CHECK(!ec, "{}: cannot create the output folder: {}", dir, ec.message());
  }
  DEFTNN_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, "{}: cannot write into the folder: {}", dir,
               errno_str(errno));
}

void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& parts) {
  check_writable(path);
  remove_stale_temporaries(path);
  const std::string tmp = path + kTmpMark + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DEFTNN_CHECK(fd >= 0, "{}: cannot write: cannot create the temporary file {}: {}", path, tmp, errno_str(errno));
  auto fail = [&](const std::string& what) {
    const std::string err = errno_str(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    DEFTNN_FAIL("{}: cannot write: {}: {} (nothing written)", path, what, err);
  };
  for (const auto& p : parts) {
    const char* d = static_cast<const char*>(p.data);
    size_t n = p.size;
    while (n > 0) {
      const ssize_t w = ::write(fd, d, n);
      if (w < 0 && errno == EINTR) continue;
      if (w == 0) errno = ENOSPC;
      if (w <= 0) fail("write to " + tmp);
      d += w, n -= size_t(w);
    }
  }
  if (::fsync(fd) != 0) fail("fsync of " + tmp);
  const int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close of " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename of " + tmp);
  // Make the rename itself durable: fsync the folder (best effort).
  const int dfd = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, {{text.data(), text.size()}});
}

}  // namespace deftnn
