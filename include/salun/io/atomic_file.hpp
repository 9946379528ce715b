// SPDX-License-Identifier: MIT
// salun::io::write_file_atomic: replace a file all at once or not at all.
//
// The content goes to `<path>.tmp.<pid>` in the same folder (so the final rename never crosses a
// file system), is flushed, closed and synced, then renamed over `path`. A reader therefore sees
// either the old file or the complete new one, never a half-written one. On any failure (the
// writer throws, the disk is full, the folder does not exist) the temporary file is removed and
// a salun::Error naming the path is thrown; an exception from the writer itself is rethrown as is.
// Used for checkpoints (safetensors) and results JSON.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>

#if defined(_WIN32)
#include <process.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

#include "salun/core/error.hpp"

namespace salun::io {

namespace detail {
inline long current_pid() {
#if defined(_WIN32)
    return static_cast<long>(_getpid());
#else
    return static_cast<long>(::getpid());
#endif
}

/// Best effort: push the file's data to the disk before the rename makes it visible.
inline void sync_file(const std::string& path) {
#if !defined(_WIN32)
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd >= 0) {
        (void)::fsync(fd);
        (void)::close(fd);
    }
#else
    (void)path;
#endif
}
}  // namespace detail

/// The temporary name write_file_atomic uses for `path` in this process.
inline std::string atomic_temp_path(const std::string& path) {
    return path + ".tmp." + std::to_string(detail::current_pid());
}

/// Calls `writer` on a binary stream for the temporary file, then renames it over `path`.
inline void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer) {
    SALUN_CHECK(!path.empty(), "write_file_atomic: empty path");
    const std::string tmp = atomic_temp_path(path);
    try {
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            SALUN_CHECK(out.is_open(), "write_file_atomic: cannot create '", tmp, "' (for '", path,
                        "'): ", std::strerror(errno));
            writer(out);
            out.flush();
            SALUN_CHECK(out.good(), "write_file_atomic: writing '", tmp, "' (for '", path,
                        "') failed (disk full or I/O error)");
            out.close();
            SALUN_CHECK(!out.fail(), "write_file_atomic: closing '", tmp, "' (for '", path, "') failed");
        }
        detail::sync_file(tmp);
#if defined(_WIN32)
        std::remove(path.c_str());  // rename does not replace an existing file on Windows
#endif
        if (std::rename(tmp.c_str(), path.c_str()) != 0) {
            const std::string reason = std::strerror(errno);
            ::salun::detail::throw_error("write_file_atomic: cannot rename '", tmp, "' to '", path, "': ", reason);
        }
    } catch (...) {
        std::remove(tmp.c_str());
        throw;
    }
}

/// Writes `bytes` to `path` atomically.
inline void write_file_atomic(const std::string& path, const std::string& bytes) {
    write_file_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

}  // namespace salun::io
