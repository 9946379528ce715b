// SPDX-License-Identifier: MIT
// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html).
//
// Each file is a sequence of 3073-byte records: 1 label byte (0..9), then 3072 pixel bytes: the
// red plane, the green plane, the blue plane, each 32 rows of 32 — already CHW, so records are
// copied straight into ImageDataset::pixels. Train = data_batch_1..5.bin, test = test_batch.bin
// (10,000 records, 30,730,000 bytes each in the official release; any whole number of records is
// accepted so tests can use small files). Class names come from batches.meta.txt when present.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/data/dataset.hpp"

namespace salun::data {

enum class Split { Train, Test };

inline constexpr std::size_t kCifarImageBytes = 3 * 32 * 32;
inline constexpr std::size_t kCifarRecordBytes = 1 + kCifarImageBytes;

inline const std::vector<std::string>& cifar10_class_names() {
    static const std::vector<std::string> names{"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};
    return names;
}

/// The .bin files of a split, in reading order.
inline std::vector<std::string> cifar10_files(Split split) {
    if (split == Split::Test) return {"test_batch.bin"};
    return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"};
}

namespace detail {
inline bool holds_cifar_bins(const std::filesystem::path& dir) {
    std::error_code ec;
    for (Split s : {Split::Train, Split::Test})
        for (const auto& f : cifar10_files(s))
            if (std::filesystem::is_regular_file(dir / f, ec)) return true;
    return false;
}

inline void check_cifar10_size(std::uint64_t size, const std::string& name) {
    SALUN_CHECK(size > 0 && size % kCifarRecordBytes == 0, "read_cifar10: '", name, "' has ", size,
                " bytes, not a whole number of ", kCifarRecordBytes,
                "-byte records (official files have 30730000; truncated download?)");
}
}  // namespace detail

/// Resolves the CIFAR-10 folder: `dir` (or, when empty, the environment variable SALUN_DATA) if
/// it holds the .bin files, else `dir/cifar-10-batches-bin` if that does. Throws a salun::Error
/// that explains how to get the data otherwise.
inline std::string find_cifar10(const std::string& dir = "") {
    namespace fs = std::filesystem;
    std::string base = dir;
    if (base.empty()) {
        const char* env = std::getenv("SALUN_DATA");
        SALUN_CHECK(env && *env, "find_cifar10: no data folder given. Download CIFAR-10 (binary version) with "
                    "`scripts/download_cifar10.sh DIR`, then pass `--data DIR` or set SALUN_DATA=DIR");
        base = env;
    }
    const fs::path p(base);
    std::error_code ec;
    if (fs::is_directory(p / "cifar-10-batches-bin", ec) && detail::holds_cifar_bins(p / "cifar-10-batches-bin"))
        return (p / "cifar-10-batches-bin").string();
    if (detail::holds_cifar_bins(p)) return p.string();
    ::salun::detail::throw_error(
        "find_cifar10: no CIFAR-10 binary data in '", base, "'",
        fs::exists(p, ec) ? "" : " (the folder does not exist)",
        ": expected data_batch_1..5.bin / test_batch.bin there or in '", (p / "cifar-10-batches-bin").string(),
        "'. Download it with `scripts/download_cifar10.sh DIR` (or `--from-archive FILE`), then pass `--data DIR` "
        "or set SALUN_DATA=DIR");
}

/// Class names from the text of a `batches.meta.txt` (`name` stands for the file in the error):
/// its non-empty lines, trailing blanks and '\r' removed; there must be exactly 10.
inline std::vector<std::string> parse_cifar10_classes(const std::string& text, const std::string& name) {
    std::vector<std::string> names;
    std::size_t lines = 0;
    for (std::size_t begin = 0; begin < text.size();) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string::npos) end = text.size();
        std::size_t last = end;
        while (last > begin && (text[last - 1] == '\r' || text[last - 1] == ' ' || text[last - 1] == '\t')) --last;
        // Only the first 10 are kept: a huge file of lines is counted, not copied, to be rejected.
        if (last > begin && ++lines <= 10) names.emplace_back(text, begin, last - begin);
        begin = end + 1;
    }
    SALUN_CHECK(lines == 10, "read_cifar10: '", name, "' lists ", lines,
                " class names, expected 10 (one per line)");
    return names;
}

/// Class names from `batches.meta.txt` in `dir` (non-empty lines), or the standard names.
inline std::vector<std::string> read_cifar10_classes(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "batches.meta.txt").string();
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open()) return cifar10_class_names();
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_cifar10_classes(text, path);
}

/// Appends the records of one CIFAR-10 .bin file held in memory (`size` bytes at `data`) to `ds`,
/// whose channels/height/width must be 3/32/32; `name` stands for the file in error messages.
/// Nothing is appended when the file is rejected.
inline void append_cifar10_records(ImageDataset& ds, const std::uint8_t* data, std::size_t size,
                                   const std::string& name) {
    SALUN_CHECK(ds.channels == 3 && ds.height == 32 && ds.width == 32, "read_cifar10: the dataset holds ",
                ds.channels, "x", ds.height, "x", ds.width, " images, CIFAR-10 records are 3x32x32");
    detail::check_cifar10_size(size, name);
    const std::size_t n = size / kCifarRecordBytes;
    for (std::size_t r = 0; r < n; ++r)
        SALUN_CHECK(data[r * kCifarRecordBytes] < 10, "read_cifar10: '", name, "' record ", r, " has label ",
                    int(data[r * kCifarRecordBytes]), ", expected 0..9 (corrupt file?)");
    const std::size_t first = ds.labels.size();
    ds.labels.resize(first + n);
    ds.pixels.resize((first + n) * kCifarImageBytes);
    for (std::size_t r = 0; r < n; ++r) {
        const std::uint8_t* rec = data + r * kCifarRecordBytes;
        ds.labels[first + r] = rec[0];
        std::memcpy(ds.pixels.data() + (first + r) * kCifarImageBytes, rec + 1, kCifarImageBytes);
    }
}

/// Reads a split of CIFAR-10 from `dir` (resolved with find_cifar10, so the parent folder of
/// cifar-10-batches-bin/ or an empty string with SALUN_DATA set also work).
inline ImageDataset read_cifar10(const std::string& dir, Split split) {
    namespace fs = std::filesystem;
    const std::string folder = find_cifar10(dir);
    ImageDataset ds;
    ds.channels = 3;
    ds.height = 32;
    ds.width = 32;
    ds.classes = read_cifar10_classes(folder);

    std::vector<std::uint8_t> buffer;
    for (const auto& name : cifar10_files(split)) {
        const std::string path = (fs::path(folder) / name).string();
        std::error_code ec;
        // A folder of that name would "open" and report a bogus size: test for a plain file first.
        const bool regular = fs::is_regular_file(path, ec);
        std::ifstream in;
        if (regular) in.open(path, std::ios::binary);
        SALUN_CHECK(in.is_open(), "read_cifar10: missing file '", path, "' (",
                    split == Split::Train ? "train" : "test", " split needs ",
                    split == Split::Train ? "data_batch_1..5.bin" : "test_batch.bin", ")");
        in.seekg(0, std::ios::end);
        const std::streamoff size = in.tellg();
        in.seekg(0, std::ios::beg);
        SALUN_CHECK(size >= 0, "read_cifar10: cannot determine the size of '", path, "'");
        detail::check_cifar10_size(static_cast<std::uint64_t>(size), path);  // before reading 30 MB
        buffer.resize(static_cast<std::size_t>(size));
        in.read(reinterpret_cast<char*>(buffer.data()), size);
        SALUN_CHECK(in.good(), "read_cifar10: reading '", path, "' failed");
        append_cifar10_records(ds, buffer.data(), buffer.size(), path);
    }
    return ds;
}

}  // namespace salun::data
