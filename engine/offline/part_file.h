// A new file installed in a directory atomically, as Parquet part files are
// (engine/offline/parquet_push.h): readers of the directory see it whole or not at all.
//
// Invariants: the directory is opened once (O_NOFOLLOW: never through a link) and must be owned
// by this process's user; every later step is relative to that descriptor, so a directory
// swapped in at the path meanwhile is never written to. The file's bytes are written to an
// unnamed file of the directory (O_TMPFILE, exactly the mode asked for: fchmod past the
// umask), fsync'd, linked to its name (linkat never replaces anything), fsync'd again (its link
// count), then the directory is fsync'd: a crash at any point leaves nothing behind. Where
// O_TMPFILE or the link cannot be used (an old kernel, a filesystem without it, no /proc), the
// bytes go to a hidden name in the same directory ('.' first: Parquet source readers skip such
// names, as Spark and pyarrow do), created with O_EXCL | O_NOFOLLOW, fsync'd, renamed to its
// name without replacing anything (renameat2 RENAME_NOREPLACE; link + unlink where the
// filesystem lacks it): a crash leaves at most that hidden file. On any failure the name does
// not exist (a failed sync after the link removes it again) and no hidden file is left. Syncs
// go through FileOpsNow() (tests see and fail them).
// Thread-safety: free functions; concurrent calls must use different names.
#pragma once

#include <cstdint>
#include <string>

#include "engine/segment/store_files.h"
#include "larder/status.h"

namespace larder {

// "part-<yyyymmddThhmmssZ>-<16 hex digits>.parquet" for `unix_seconds` (UTC) and `random`.
std::string ParquetPartName(int64_t unix_seconds, uint64_t random);
// The same for now and 64 random bits (getrandom).
std::string NewParquetPartName();

// Creates `dir` and its missing parents (mode 0777 less the umask, as mkdir -p), then makes each
// new entry durable: the parent of every directory it created is fsync'd, from the deepest
// directory that existed down (the new directory's own entries are its caller's to sync).
// A `dir` that exists is left as it is. kIoError naming the directory that could not be made
// or synced.
Status CreateDirectoriesSynced(const std::string& dir);

// Opens `dir` (a trailing '/' allowed) to add files to it: never through a symbolic link, and
// only a directory this process's user owns. kStoreNotFound when it does not exist; kIoError
// naming it (and its owner) otherwise.
Result<FileHandle> OpenOwnedDirectory(const std::string& dir);

// Installs `bytes` as `dir`/`name` (see above), the file with exactly `mode`. kIoError naming
// the file or directory, nothing left behind; a `name` that exists already is such an error
// (never replaced).
Status InstallNewFile(const std::string& dir, const std::string& name, const std::string& bytes,
                      uint32_t mode);

}  // namespace larder
