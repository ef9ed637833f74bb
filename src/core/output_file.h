// The door every file writer goes through: a file appears whole or not at
// all. A writer writes "<path>.tmp-<pid>" in the target's folder, fsyncs it
// and renames it onto <path>; on any failure (a full disk, a file-size limit,
// a write error) the temporary file is removed and <path> is left as it was.
// Temporaries left by a killed writer (whose pid is no longer alive) are
// removed by the next write of the same path.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace deftnn {

// One piece of a file being written: `size` bytes at `data`.
struct ByteSpan {
  const void* data;
  size_t size;
};

// Writes the concatenation of `parts` to `path` atomically (temporary file,
// fsync, rename, fsync of the folder). Throws a deftnn::Error naming `path`
// and the OS error; nothing of the temporary file remains after a throw.
void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& parts);
// The same for text (JSON reports, results).
void write_text_atomic(const std::string& path, const std::string& text);

// Fails at once, naming `path`, unless a write of `path` can succeed as far
// as can be known before it: the folder exists, is a folder (not a regular
// file) and is writable, and `path` is not a folder or another non-regular
// file (a FIFO, a device such as /dev/full). Commands call it before long
// work so an unwritable output is found in a second, not after the work.
void check_writable(const std::string& path);

// The same for a folder that files will be written into: created when
// missing (with its parents), then checked to be a writable folder.
void check_writable_folder(const std::string& dir);

// Removes "<path>.tmp-<pid>" files beside `path` whose pid names no living
// process (left by a writer killed mid-write); returns how many were removed.
// Temporaries of a live process (a concurrent writer) are left alone.
int remove_stale_temporaries(const std::string& path);

}  // namespace deftnn
