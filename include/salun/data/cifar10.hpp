// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html).
//
// Each file is a sequence of 3073-byte records: 1 label byte (0..9), then 3072 pixel bytes: the
// red plane, the green plane, the blue plane, each 32 rows of 32 — already CHW, so records are
// copied straight into ImageDataset::pixels. Train = data_batch_1..5.bin, test = test_batch.bin
// (10,000 records, 30,730,000 bytes each in the official release; any whole number of records is
// accepted so tests can use small files). Class names come from batches.meta.txt when present.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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

/// Class names from `batches.meta.txt` in `dir` (non-empty lines), or the standard names.
inline std::vector<std::string> read_cifar10_classes(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "batches.meta.txt").string();
    std::ifstream in(path);
    if (!in.is_open()) return cifar10_class_names();
    std::vector<std::string> names;
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
        if (!line.empty()) names.push_back(line);
    }
    SALUN_CHECK(names.size() == 10, "read_cifar10: '", path, "' lists ", names.size(),
                " class names, expected 10 (one per line)");
    return names;
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
        std::ifstream in(path, std::ios::binary);
        SALUN_CHECK(in.is_open(), "read_cifar10: missing file '", path, "' (",
                    split == Split::Train ? "train" : "test", " split needs ",
                    split == Split::Train ? "data_batch_1..5.bin" : "test_batch.bin", ")");
        in.seekg(0, std::ios::end);
        const std::streamoff size = in.tellg();
        in.seekg(0, std::ios::beg);
        SALUN_CHECK(size > 0 && static_cast<std::size_t>(size) % kCifarRecordBytes == 0, "read_cifar10: '", path,
                    "' has ", size, " bytes, not a whole number of ", kCifarRecordBytes,
                    "-byte records (official files have 30730000; truncated download?)");
        const auto n = static_cast<std::size_t>(size) / kCifarRecordBytes;
        buffer.resize(static_cast<std::size_t>(size));
        in.read(reinterpret_cast<char*>(buffer.data()), size);
        SALUN_CHECK(in.good(), "read_cifar10: reading '", path, "' failed");

        const std::size_t first = ds.labels.size();
        ds.labels.resize(first + n);
        ds.pixels.resize((first + n) * kCifarImageBytes);
        for (std::size_t r = 0; r < n; ++r) {
            const std::uint8_t* rec = buffer.data() + r * kCifarRecordBytes;
            SALUN_CHECK(rec[0] < 10, "read_cifar10: '", path, "' record ", r, " has label ", int(rec[0]),
                        ", expected 0..9 (corrupt file?)");
            ds.labels[first + r] = rec[0];
            std::memcpy(ds.pixels.data() + (first + r) * kCifarImageBytes, rec + 1, kCifarImageBytes);
        }
    }
    return ds;
}

}  // namespace salun::data
