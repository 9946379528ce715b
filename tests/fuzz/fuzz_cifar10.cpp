// SPDX-License-Identifier: MIT
// libFuzzer harness for the CIFAR-10 binary reader (salun/data/cifar10.hpp): the records of a
// .bin file, and the class list of batches.meta.txt (the same bytes are fed to both).
//
// Records either append whole or throw salun::Error and append nothing; appended labels are 0..9
// and the pixels are the file's bytes. A class list is exactly 10 non-empty, trimmed lines.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "salun/data/cifar10.hpp"

namespace {

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_cifar10: property violated: %s\n", what);
        std::abort();
    }
}

void check_records(const std::uint8_t* data, std::size_t size) {
    using namespace salun::data;
    ImageDataset ds;
    ds.channels = 3;
    ds.height = 32;
    ds.width = 32;
    // One record already there: a rejected file must not touch it, an accepted one goes after it.
    ds.labels.push_back(7);
    ds.pixels.assign(kCifarImageBytes, 0xAB);
    try {
        append_cifar10_records(ds, data, size, "fuzz input");
    } catch (const salun::Error&) {
        require(ds.size() == 1 && ds.pixels.size() == kCifarImageBytes, "a rejected file appends nothing");
        return;
    }
    require(size % kCifarRecordBytes == 0 && size > 0, "only whole records are accepted");
    const std::size_t n = size / kCifarRecordBytes;
    require(ds.size() == 1 + n && ds.pixels.size() == ds.size() * kCifarImageBytes, "one image per record");
    require(ds.labels[0] == 7, "the earlier record is kept");
    for (std::size_t r = 0; r < n; ++r) {
        const std::uint8_t* rec = data + r * kCifarRecordBytes;
        require(ds.labels[1 + r] == rec[0] && rec[0] < 10, "labels are the record's first byte, 0..9");
        require(std::memcmp(ds.image(1 + r), rec + 1, kCifarImageBytes) == 0, "pixels are the record's bytes");
    }
}

void check_classes(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> names;
    try {
        names = salun::data::parse_cifar10_classes(text, "fuzz input");
    } catch (const salun::Error&) {
        return;
    }
    require(names.size() == 10, "10 class names");
    for (const auto& n : names) {
        require(!n.empty() && n.find('\n') == std::string::npos, "a name is one non-empty line");
        const char last = n.back();
        require(last != ' ' && last != '\t' && last != '\r', "a name has no trailing blanks");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    check_records(data, size);
    check_classes(data, size);
    return 0;
}
