// SPDX-License-Identifier: MIT
// CIFAR-10 binary reader, find_cifar10 and image folders (stb_image).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "salun/data/cifar10.hpp"
#include "salun/data/image_folder.hpp"
#include "io_data/stb_image_write_impl.hpp"

namespace fs = std::filesystem;
using namespace salun;
using namespace salun::data;

namespace {

fs::path fresh_dir(const std::string& name) {
    fs::path p = fs::path(SALUN_TEST_TMP_DIR) / name;
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

/// A byte that identifies (record, channel, row, col) in the generated files.
std::uint8_t pix(std::size_t rec, std::size_t c, std::size_t y, std::size_t x) {
    return static_cast<std::uint8_t>(rec * 7 + c * 50 + y * 3 + x * 5);
}

/// Writes `labels.size()` CIFAR records to `path`.
void write_cifar(const fs::path& path, const std::vector<int>& labels, std::size_t first_rec = 0) {
    std::ofstream out(path, std::ios::binary);
    for (std::size_t r = 0; r < labels.size(); ++r) {
        out.put(static_cast<char>(labels[r]));
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t y = 0; y < 32; ++y)
                for (std::size_t x = 0; x < 32; ++x) out.put(static_cast<char>(pix(first_rec + r, c, y, x)));
    }
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const salun::Error& e) {
        return e.what();
    }
    return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("read_cifar10 reads the binary layout") {
    const fs::path dir = fresh_dir("cifar_small") / "cifar-10-batches-bin";
    fs::create_directories(dir);
    for (int b = 1; b <= 5; ++b) write_cifar(dir / ("data_batch_" + std::to_string(b) + ".bin"), {b, 9, 0}, 3 * (b - 1));
    write_cifar(dir / "test_batch.bin", {3, 8});

    SUBCASE("train split: files in order, CHW planes, labels") {
        ImageDataset tr = read_cifar10(dir.string(), Split::Train);
        CHECK(tr.size() == 15);
        CHECK(tr.channels == 3);
        CHECK(tr.height == 32);
        CHECK(tr.width == 32);
        CHECK(tr.pixels.size() == 15 * 3072);
        CHECK(tr.labels == std::vector<salun::ClassIndex>{1, 9, 0, 2, 9, 0, 3, 9, 0, 4, 9, 0, 5, 9, 0});
        CHECK(tr.classes == cifar10_class_names());
        std::size_t bad = 0;
        for (std::size_t i = 0; i < tr.size(); ++i)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t y = 0; y < 32; ++y)
                    for (std::size_t x = 0; x < 32; ++x)
                        if (tr.image(i)[c * 1024 + y * 32 + x] != pix(i, c, y, x)) ++bad;
        CHECK(bad == 0);
    }
    SUBCASE("test split, parent folder accepted, class names from batches.meta.txt") {
        std::ofstream(dir / "batches.meta.txt") << "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
        ImageDataset te = read_cifar10(dir.parent_path().string(), Split::Test);
        CHECK(te.size() == 2);
        CHECK(te.labels == std::vector<salun::ClassIndex>{3, 8});
        CHECK(te.image(1)[2 * 1024 + 31 * 32 + 31] == pix(1, 2, 31, 31));
        CHECK(te.classes.front() == "a");
        CHECK(te.classes.back() == "j");
        std::ofstream(dir / "batches.meta.txt") << "a\nb\n";
        CHECK(has(error_of([&] { read_cifar10(dir.string(), Split::Test); }), "lists 2 class names"));
    }
    SUBCASE("SALUN_DATA is used when no folder is given") {
        const char* old = std::getenv("SALUN_DATA");
        const std::string saved = old ? old : "";
        ::setenv("SALUN_DATA", dir.parent_path().c_str(), 1);
        CHECK(find_cifar10("") == dir.string());
        CHECK(read_cifar10("", Split::Test).size() == 2);
        ::unsetenv("SALUN_DATA");
        CHECK(has(error_of([] { find_cifar10(""); }), "SALUN_DATA"));
        if (old) ::setenv("SALUN_DATA", saved.c_str(), 1);
    }
    SUBCASE("truncated file") {
        fs::resize_file(dir / "data_batch_3.bin", 2 * 3073 + 100);
        auto msg = error_of([&] { read_cifar10(dir.string(), Split::Train); });
        CHECK(has(msg, "data_batch_3.bin"));
        CHECK(has(msg, "whole number"));
    }
    SUBCASE("bad label") {
        write_cifar(dir / "data_batch_2.bin", {1, 2, 10});
        auto msg = error_of([&] { read_cifar10(dir.string(), Split::Train); });
        CHECK(has(msg, "data_batch_2.bin"));
        CHECK(has(msg, "record 2"));
        CHECK(has(msg, "label 10"));
    }
    SUBCASE("missing file") {
        fs::remove(dir / "data_batch_5.bin");
        auto msg = error_of([&] { read_cifar10(dir.string(), Split::Train); });
        CHECK(has(msg, "missing file"));
        CHECK(has(msg, "data_batch_5.bin"));
    }
}

TEST_CASE("find_cifar10 explains how to get the data") {
    const fs::path empty = fresh_dir("cifar_none");
    auto msg = error_of([&] { find_cifar10(empty.string()); });
    CHECK(has(msg, empty.string()));
    CHECK(has(msg, "scripts/download_cifar10.sh"));
    CHECK(has(msg, "--data"));
    CHECK(has(msg, "SALUN_DATA"));
    CHECK(has(error_of([&] { find_cifar10((empty / "nope").string()); }), "does not exist"));
}

TEST_CASE("the real CIFAR-10 (when SALUN_DATA points at it)") {
    const char* env = std::getenv("SALUN_DATA");
    if (!env) return;  // optional: exercised where the data was extracted
    ImageDataset tr = read_cifar10(env, Split::Train);
    CHECK(tr.size() == 50000);
    CHECK(tr.labels[0] == 6);  // frog
    CHECK(tr.labels[49999] == 1);
    ImageDataset te = read_cifar10(env, Split::Test);
    CHECK(te.size() == 10000);
    CHECK(te.labels[0] == 3);  // cat
    CHECK(te.classes[3] == "cat");
    std::vector<std::size_t> counts(10);
    for (int l : te.labels) ++counts[static_cast<std::size_t>(l)];
    for (auto c : counts) CHECK(c == 1000);
}

namespace {
/// Writes a w x h PNG with `comp` channels whose pixel (x, y, c) is x*10 + y*20 + c*3 + seed.
void write_png(const fs::path& path, int w, int h, int comp, int seed) {
    std::vector<unsigned char> buf(static_cast<std::size_t>(w * h * comp));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < comp; ++c)
                buf[static_cast<std::size_t>((y * w + x) * comp + c)] = static_cast<unsigned char>(x * 10 + y * 20 + c * 3 + seed);
    REQUIRE(stbi_write_png(path.string().c_str(), w, h, comp, buf.data(), w * comp) != 0);
}
}  // namespace

TEST_CASE("read_image_folder reads class folders through stb_image") {
    const fs::path root = fresh_dir("images");
    fs::create_directories(root / "dog");
    fs::create_directories(root / "cat");
    fs::create_directories(root / "bird");
    write_png(root / "dog" / "b.png", 4, 3, 3, 1);
    write_png(root / "dog" / "a.PNG", 4, 3, 3, 2);
    write_png(root / "cat" / "x.png", 4, 3, 1, 3);  // grey
    write_png(root / "bird" / "y.png", 4, 3, 4, 4);  // RGBA
    std::ofstream(root / "dog" / "notes.txt") << "ignored";

    ImageDataset ds = read_image_folder(root.string());
    CHECK(ds.classes == std::vector<std::string>{"bird", "cat", "dog"});
    CHECK(ds.labels == std::vector<salun::ClassIndex>{0, 1, 2, 2});
    CHECK(ds.channels == 3);
    CHECK(ds.height == 3);
    CHECK(ds.width == 4);
    CHECK(ds.size() == 4);
    auto at = [&](std::size_t i, std::size_t c, std::size_t y, std::size_t x) {
        return int(ds.image(i)[c * 12 + y * 4 + x]);
    };
    // image 2 is dog/a.PNG (sorted), RGB with seed 2
    CHECK(at(2, 0, 0, 0) == 2);
    CHECK(at(2, 1, 2, 3) == 3 * 10 + 2 * 20 + 3 + 2);
    CHECK(at(3, 2, 1, 1) == 10 + 20 + 6 + 1);
    // grey replicated to 3 channels
    CHECK(at(1, 0, 1, 2) == 20 + 20 + 3);
    CHECK(at(1, 2, 1, 2) == 20 + 20 + 3);
    // RGBA: alpha dropped
    CHECK(at(0, 2, 2, 1) == 10 + 40 + 6 + 4);

    SUBCASE("a corrupt PNG is an error naming the file") {
        std::ofstream(root / "cat" / "broken.png", std::ios::binary) << "\x89PNG\r\n\x1a\n garbage";
        auto msg = error_of([&] { read_image_folder(root.string()); });
        CHECK(has(msg, "broken.png"));
        CHECK(has(msg, "cannot decode"));
    }
    SUBCASE("a truncated PNG is an error naming the file") {
        write_png(root / "cat" / "trunc.png", 4, 3, 3, 9);
        fs::resize_file(root / "cat" / "trunc.png", 40);
        auto msg = error_of([&] { read_image_folder(root.string()); });
        CHECK(has(msg, "trunc.png"));
    }
    SUBCASE("images of different sizes") {
        write_png(root / "cat" / "z.png", 5, 3, 3, 0);
        auto msg = error_of([&] { read_image_folder(root.string()); });
        CHECK(has(msg, "z.png"));
        CHECK(has(msg, "same size"));
    }
    SUBCASE("empty class folder and missing root") {
        fs::create_directories(root / "emu");
        CHECK(has(error_of([&] { read_image_folder(root.string()); }), "emu"));
        CHECK(has(error_of([&] { read_image_folder((root / "nothing").string()); }), "is not a folder"));
    }
}

TEST_CASE("scripts/download_cifar10.sh argument handling") {
    const std::string script = std::string(SALUN_FIXTURES_DIR) + "/../../scripts/download_cifar10.sh";
    if (!fs::exists(script) || std::system("command -v bash > /dev/null 2>&1") != 0) return;
    const fs::path log = fs::path(SALUN_TEST_TMP_DIR) / "download_script.log";
    auto run = [&](const std::string& args) {
        const int rc = std::system(("bash '" + script + "' " + args + " > '" + log.string() + "' 2>&1").c_str());
        std::ifstream in(log);
        return std::make_pair(rc, std::string(std::istreambuf_iterator<char>(in), {}));
    };
    auto [rc, out] = run("--help");
    CHECK(rc == 0);
    CHECK(has(out, "--from-archive"));
    CHECK(has(out, "SALUN_DATA"));
    std::tie(rc, out) = run("");
    CHECK(rc != 0);
    CHECK(has(out, "missing DIR"));
    std::tie(rc, out) = run("--bogus x");
    CHECK(rc != 0);
    CHECK(has(out, "unknown option"));
    std::tie(rc, out) = run("a b");
    CHECK(rc != 0);
    std::tie(rc, out) = run("--from-archive");
    CHECK(rc != 0);
    CHECK(has(out, "needs a FILE"));
    const fs::path dir = fresh_dir("download_target");
    std::tie(rc, out) = run("--from-archive '" + (dir / "none.tar.xz").string() + "' '" + dir.string() + "'");
    CHECK(rc != 0);
    CHECK(has(out, "not found"));
    std::ofstream(dir / "x.zip") << "zip";
    std::tie(rc, out) = run("--from-archive '" + (dir / "x.zip").string() + "' '" + dir.string() + "'");
    CHECK(rc != 0);
    CHECK(has(out, "unsupported archive"));
}

TEST_CASE("CIFAR-10 records and class lists parse from memory") {
    ImageDataset ds;
    ds.channels = 3;
    ds.height = 32;
    ds.width = 32;
    std::string bytes;
    for (int label : {4, 0}) {
        bytes += static_cast<char>(label);
        bytes += std::string(kCifarImageBytes, static_cast<char>(label + 100));
    }
    const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
    append_cifar10_records(ds, p, bytes.size(), "two.bin");
    CHECK(ds.labels == std::vector<salun::ClassIndex>{4, 0});
    CHECK(ds.image(1)[3071] == 100);
    // A rejected file appends nothing: a bad label in the second record leaves the first out too.
    std::string bad = bytes;
    bad[kCifarRecordBytes] = 10;
    CHECK(has(error_of([&] { append_cifar10_records(ds, reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size(), "bad.bin"); }),
              "'bad.bin' record 1 has label 10"));
    CHECK(has(error_of([&] { append_cifar10_records(ds, p, bytes.size() - 1, "cut.bin"); }), "'cut.bin' has 6145 bytes"));
    CHECK(has(error_of([&] { append_cifar10_records(ds, p, 0, "empty.bin"); }), "'empty.bin' has 0 bytes"));
    CHECK(ds.size() == 2);
    ImageDataset grey;
    grey.channels = 1;
    grey.height = grey.width = 32;
    CHECK(has(error_of([&] { append_cifar10_records(grey, p, bytes.size(), "two.bin"); }), "records are 3x32x32"));

    CHECK(parse_cifar10_classes("a\r\nb\n\nc \nd\te\nf\ng\nh\ni\nj\nk", "meta") ==
          std::vector<std::string>{"a", "b", "c", "d\te", "f", "g", "h", "i", "j", "k"});
    CHECK(has(error_of([] { parse_cifar10_classes(std::string(1 << 20, '\n') + "x\ny", "meta"); }), "'meta' lists 2 class names"));
    CHECK(has(error_of([] {
              std::string many;
              for (int i = 0; i < 100000; ++i) many += "c\n";
              parse_cifar10_classes(many, "meta");
          }),
          "lists 100000 class names"));
}

TEST_CASE("read_cifar10: a folder named like a batch file is a missing file") {
    // It opens on Linux and seeks to a bogus size (2^63 - 1 on ext4).
    const fs::path dir = fresh_dir("cifar_dir_as_file");
    write_cifar(dir / "test_batch.bin", {1});
    for (int b = 1; b <= 5; ++b) fs::create_directories(dir / ("data_batch_" + std::to_string(b) + ".bin"));
    const auto msg = error_of([&] { read_cifar10(dir.string(), Split::Train); });
    CHECK(has(msg, "missing file"));
    CHECK(has(msg, "data_batch_1.bin"));
    CHECK(read_cifar10(dir.string(), Split::Test).size() == 1);
}
