// SPDX-License-Identifier: MIT
// safetensors, StateDict, TensorData conversions and atomic writes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "salun/io/atomic_file.hpp"
#include "salun/io/safetensors.hpp"

namespace fs = std::filesystem;
using namespace salun;
using namespace salun::io;
namespace iod = salun::io::detail;

namespace {

std::string tmp_path(const std::string& name) {
    fs::create_directories(SALUN_TEST_TMP_DIR);
    return std::string(SALUN_TEST_TMP_DIR) + "/" + name;
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_raw(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A safetensors file from a header text and a data section.
std::string make_file(const std::string& header, const std::string& data, std::uint64_t header_len) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((header_len >> (8 * i)) & 0xFF);
    return out + header + data;
}
std::string make_file(const std::string& header, const std::string& data) {
    return make_file(header, data, header.size());
}

/// The message of the salun::Error that loading `bytes` throws ("" if none).
std::string load_error(const std::string& name, const std::string& bytes) {
    const std::string path = tmp_path(name);
    write_raw(path, bytes);
    try {
        load_safetensors(path);
    } catch (const salun::Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::uint32_t bits(float f) { return iod::f32_to_bits(f); }

}  // namespace

TEST_CASE("half and bfloat16 conversions are exact and round to nearest even") {
    CHECK(iod::half_to_float(0x3C00) == 1.0f);
    CHECK(iod::half_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(iod::half_to_float(0x7BFF) == 65504.0f);
    CHECK(std::isinf(iod::half_to_float(0x7C00)));
    CHECK(std::isnan(iod::half_to_float(0x7E00)));
    CHECK(bits(iod::half_to_float(0x8000)) == 0x80000000u);
    // every finite half survives half -> float -> half
    std::size_t mismatches = 0;
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;  // NaN payloads
        if (iod::float_to_half(iod::half_to_float(static_cast<std::uint16_t>(h))) != h) ++mismatches;
    }
    CHECK(mismatches == 0);
    CHECK(iod::float_to_half(65520.0f) == 0x7C00);        // rounds up to inf
    CHECK(iod::float_to_half(1.0f + 0x1.0p-11f) == 0x3C00);  // tie -> even
    CHECK(iod::float_to_half(1.0f + 0x1.8p-11f) == 0x3C01);
    CHECK(iod::float_to_half(0x1.0p-25f) == 0x0000);      // tie between 0 and the smallest subnormal
    CHECK(iod::float_to_bf16(1.0f) == 0x3F80);
    CHECK(iod::float_to_bf16(iod::bits_to_f32(0x3F808000u)) == 0x3F80);  // tie -> even
    CHECK(iod::float_to_bf16(iod::bits_to_f32(0x3F818000u)) == 0x3F82);
    CHECK(std::isnan(iod::bf16_to_float(iod::float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("TensorData converts to and from tensors") {
    auto t = Tensor<float>::from_data({2, 2}, {1.5f, -2.0f, 0.1f, 1e30f});
    TensorData d = TensorData::from_tensor(t);
    CHECK(d.dtype == DType::F32);
    CHECK(d.bytes.size() == 16);
    CHECK(d.bytes[0] == 0x00);
    CHECK(d.bytes[3] == 0x3F);  // 1.5f = 0x3FC00000, little-endian
    CHECK(d.to_tensor<float>().to_vector() == t.to_vector());
    auto dd = d.to_tensor<double>();
    CHECK(dd.data()[2] == static_cast<double>(0.1f));

    auto td = Tensor<double>::from_data({3}, {0.1, -1e300, 2.0});
    CHECK(TensorData::from_tensor(td).dtype == DType::F64);
    CHECK(TensorData::from_tensor(td).to_tensor<double>().to_vector() == td.to_vector());

    auto h = TensorData::from_tensor(t, DType::F16);
    CHECK(h.bytes.size() == 8);
    auto back = h.to_tensor<float>().to_vector();
    CHECK(back[0] == 1.5f);
    CHECK(back[1] == -2.0f);
    CHECK(std::isinf(back[3]));
    auto b = TensorData::from_tensor(t, DType::BF16).to_tensor<float>().to_vector();
    CHECK(b[0] == 1.5f);

    auto i = TensorData::from_int64({}, {391});
    CHECK(i.numel() == 1);
    CHECK(i.to_int64() == std::vector<std::int64_t>{391});
    CHECK(i.to_tensor<float>().item() == 391.0f);
    CHECK_THROWS_WITH_AS(d.to_int64(), doctest::Contains("not I64"), salun::Error);
    CHECK_THROWS_WITH_AS(TensorData::from_int64({2}, {1}), doctest::Contains("needs 2 values"), salun::Error);
    TensorData bad = d;
    bad.bytes.pop_back();
    CHECK_THROWS_WITH_AS(bad.to_tensor<float>(), doctest::Contains("needs 16 bytes, holds 15"), salun::Error);
}

TEST_CASE("StateDict keeps insertion order") {
    StateDict sd;
    CHECK(sd.insert_or_assign("b", TensorData::from_int64({1}, {1})));
    CHECK(sd.insert_or_assign("a", TensorData::from_int64({1}, {2})));
    CHECK(sd.insert_or_assign("c", Tensor<float>::ones({2})));
    CHECK_FALSE(sd.insert_or_assign("b", TensorData::from_int64({1}, {3})));
    CHECK(sd.size() == 3);
    CHECK(sd.keys() == std::vector<std::string>{"b", "a", "c"});
    CHECK(sd.at("b").to_int64()[0] == 3);
    CHECK(sd.contains("a"));
    CHECK_FALSE(sd.contains("z"));
    CHECK(sd.find("z") == sd.end());
    CHECK(sd.find("a")->second.to_int64()[0] == 2);
    std::vector<std::string> names;
    for (const auto& [name, data] : sd) {
        names.push_back(name);
        CHECK(data.numel() >= 1);
    }
    CHECK(names == sd.keys());
    CHECK_THROWS_WITH_AS(sd.at("fc.weight"), doctest::Contains("no tensor named 'fc.weight'"), salun::Error);
    CHECK(sd.erase("a"));
    CHECK_FALSE(sd.erase("a"));
    CHECK(sd.keys() == std::vector<std::string>{"b", "c"});
    CHECK(sd.at("c").dtype == DType::F32);
}

TEST_CASE("safetensors round trip is bit-exact for every dtype") {
    StateDict sd;
    auto add_raw = [&](const std::string& name, DType dt, Shape shape, std::uint8_t seed) {
        TensorData d;
        d.dtype = dt;
        d.shape = shape;
        d.bytes.resize(numel_of(shape) * dtype_size(dt));
        for (std::size_t i = 0; i < d.bytes.size(); ++i) d.bytes[i] = static_cast<std::uint8_t>(seed + 37 * i);
        sd.insert_or_assign(name, d);
    };
    add_raw("layer1.0.conv1.weight", DType::F32, {4, 3, 3, 3}, 1);
    add_raw("h", DType::F16, {5}, 2);
    add_raw("bf", DType::BF16, {2, 3}, 3);
    add_raw("d", DType::F64, {7}, 4);
    add_raw("bn1.num_batches_tracked", DType::I64, {}, 5);
    add_raw("empty", DType::F32, {0}, 6);
    add_raw("a.last", DType::F16, {1, 1, 1}, 7);
    const std::map<std::string, std::string> meta{{"format", "pt"}, {"epoch", "5"}};
    const std::string path = tmp_path("roundtrip.safetensors");
    save_safetensors(path, sd, meta);
    CHECK_FALSE(fs::exists(atomic_temp_path(path)));

    const std::string raw = read_all(path);
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(raw[static_cast<std::size_t>(i)])) << (8 * i);
    CHECK(n % 8 == 0);
    CHECK(raw.substr(8, 14) == "{\"__metadata__");

    Safetensors st = load_safetensors(path);
    CHECK(st.metadata == meta);
    CHECK(st.tensors.keys() == sd.keys());  // offsets follow the save order
    CHECK(st.tensors == sd);

    // saving again over the file replaces it
    sd.insert_or_assign("h", TensorData::from_tensor(Tensor<float>::ones({2}), DType::F16));
    save_safetensors(path, sd);
    Safetensors st2 = load_safetensors(path);
    CHECK(st2.metadata.empty());
    CHECK(st2.tensors.at("h").to_tensor<float>().to_vector() == std::vector<float>{1.0f, 1.0f});
}

TEST_CASE("safetensors written by PyTorch (fixture) loads with the right values") {
    Safetensors st = load_safetensors(std::string(SALUN_FIXTURES_DIR) + "/io_small.safetensors");
    CHECK(st.metadata.at("format") == "pt");
    // entries come in data-offset order, not the header's alphabetical order
    CHECK(st.tensors.keys() ==
          std::vector<std::string>{"conv.weight", "half", "bf16", "double", "bn.num_batches_tracked", "ints", "empty"});

    const auto& w = st.tensors.at("conv.weight");
    CHECK(w.dtype == DType::F32);
    CHECK(w.shape == Shape{2, 3, 2, 2});
    auto wt = w.to_tensor<float>();
    for (std::size_t i = 0; i < 24; ++i) CHECK(wt.data()[i] == static_cast<float>(i) * 0.5f - 3.25f);

    auto h = st.tensors.at("half").to_tensor<float>().to_vector();
    CHECK(h[0] == 1.0f);
    CHECK(h[1] == -2.5f);
    CHECK(h[2] == 65504.0f);
    CHECK(h[3] == std::ldexp(1.0f, -24));
    CHECK(std::isinf(h[4]));
    CHECK(bits(h[5]) == 0x80000000u);

    const auto& bf = st.tensors.at("bf16");
    CHECK(bf.dtype == DType::BF16);
    CHECK(bf.shape == Shape{2, 2});
    CHECK(bf.to_tensor<double>().to_vector() == std::vector<double>{1.0, -3.0, std::ldexp(1.0, 100), 0.15625});

    CHECK(st.tensors.at("double").to_tensor<double>().to_vector() ==
          std::vector<double>{0.1, -1e300, 3.141592653589793});
    const auto& nbt = st.tensors.at("bn.num_batches_tracked");
    CHECK(nbt.shape.empty());
    CHECK(nbt.to_int64() == std::vector<std::int64_t>{391});
    CHECK(st.tensors.at("ints").to_int64() ==
          std::vector<std::int64_t>{-1, 0, std::int64_t(1) << 40, -(std::int64_t(1) << 62)});
    CHECK(st.tensors.at("empty").shape == Shape{0, 3});
    CHECK(st.tensors.at("empty").to_tensor<float>().numel() == 0);

    // and re-saving it gives a file that loads identically
    const std::string path = tmp_path("resaved.safetensors");
    save_safetensors(path, st.tensors, st.metadata);
    Safetensors again = load_safetensors(path);
    CHECK(again.tensors == st.tensors);
    CHECK(again.metadata == st.metadata);
}

TEST_CASE("broken safetensors files are rejected with a clear message") {
    const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    const std::string data8(8, '\x01');
    CHECK(load_error("ok.safetensors", make_file("{" + ok_entry + "}", data8)).empty());

    SUBCASE("missing file") {
        CHECK_THROWS_WITH_AS(load_safetensors(tmp_path("does_not_exist.safetensors")),
                             doctest::Contains("cannot open"), salun::Error);
    }
    SUBCASE("shorter than 8 bytes") {
        auto msg = load_error("short.safetensors", "abc");
        CHECK(contains(msg, "short.safetensors"));
        CHECK(contains(msg, "too short"));
    }
    SUBCASE("truncated header") {
        const std::string header = "{" + ok_entry + "}";
        auto msg = load_error("trunc.safetensors", make_file(header, "").substr(0, 8 + header.size() / 2));
        CHECK(contains(msg, "trunc.safetensors"));
        CHECK(contains(msg, "exceeds the file size"));
    }
    SUBCASE("absurd header length") {
        auto msg = load_error("absurd.safetensors", make_file("{}", "", std::uint64_t(1) << 62));
        CHECK(contains(msg, "absurd"));
        CHECK(contains(msg, "absurd.safetensors"));
        msg = load_error("absurd2.safetensors", make_file("{}", "", 200'000'000));
        CHECK(contains(msg, "absurd"));
    }
    SUBCASE("not JSON") {
        auto msg = load_error("notjson.safetensors", make_file("{\"w\": [1, 2", data8));
        CHECK(contains(msg, "not valid JSON"));
        CHECK(contains(msg, "notjson.safetensors"));
        msg = load_error("array.safetensors", make_file("[1,2,3] ", ""));
        CHECK(contains(msg, "must be a JSON object"));
    }
    SUBCASE("missing fields and wrong types") {
        auto msg = load_error("nofield.safetensors", make_file(R"({"w":{"dtype":"F32","shape":[2]}})", data8));
        CHECK(contains(msg, "tensor 'w'"));
        CHECK(contains(msg, "missing field 'data_offsets'"));
        msg = load_error("badshape.safetensors",
                         make_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8));
        CHECK(contains(msg, "non-negative"));
        msg = load_error("badoff.safetensors",
                         make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data8));
        CHECK(contains(msg, "[begin, end]"));
        msg = load_error("badmeta.safetensors", make_file(R"({"__metadata__":{"a":1}})", ""));
        CHECK(contains(msg, "__metadata__"));
    }
    SUBCASE("unknown dtype") {
        auto msg = load_error("dtype.safetensors",
                              make_file(R"({"fc.weight":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", data8));
        CHECK(contains(msg, "fc.weight"));
        CHECK(contains(msg, "unsupported dtype 'F8_E4M3'"));
        CHECK(contains(msg, "dtype.safetensors"));
    }
    SUBCASE("shape and byte count disagree") {
        auto msg = load_error("mismatch.safetensors",
                              make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8));
        CHECK(contains(msg, "tensor 'w'"));
        CHECK(contains(msg, "mismatch"));
        CHECK(contains(msg, "needs 12 bytes"));
    }
    SUBCASE("offsets past the end") {
        auto msg = load_error("past.safetensors",
                              make_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8));
        CHECK(contains(msg, "tensor 'w'"));
        CHECK(contains(msg, "outside the data section"));
        msg = load_error("reversed.safetensors",
                         make_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8));
        CHECK(contains(msg, "begin > end"));
    }
    SUBCASE("overlapping offsets") {
        auto msg = load_error(
            "overlap.safetensors",
            make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      std::string(12, '\0')));
        CHECK(contains(msg, "overlap"));
        CHECK(contains(msg, "'a'"));
        CHECK(contains(msg, "'b'"));
    }
}

TEST_CASE("write_file_atomic replaces files whole and cleans up on failure") {
    const std::string path = tmp_path("atomic.txt");
    write_file_atomic(path, std::string("first"));
    CHECK(read_all(path) == "first");
    write_file_atomic(path, [](std::ostream& out) { out << "second " << 2; });
    CHECK(read_all(path) == "second 2");
    CHECK_THROWS_WITH(write_file_atomic(path,
                                        [](std::ostream& out) {
                                            out << "partial";
                                            throw std::runtime_error("writer failed");
                                        }),
                      "writer failed");
    CHECK(read_all(path) == "second 2");
    CHECK_FALSE(fs::exists(atomic_temp_path(path)));
    CHECK_THROWS_WITH_AS(write_file_atomic(tmp_path("no/such/folder/x.txt"), std::string("x")),
                         doctest::Contains("no/such/folder/x.txt"), salun::Error);
    CHECK_THROWS_WITH_AS(save_safetensors(tmp_path("no/such/folder/x.safetensors"), StateDict{}),
                         doctest::Contains("cannot create"), salun::Error);
}

TEST_CASE("mutated safetensors files load or fail with salun::Error, never anything else") {
    const std::string good = read_all(std::string(SALUN_FIXTURES_DIR) + "/io_small.safetensors");
    const std::string path = tmp_path("mutated.safetensors");
    Generator gen(123);
    std::size_t loaded = 0, rejected = 0, other = 0;
    for (int trial = 0; trial < 400; ++trial) {
        std::string bytes = good;
        const auto kind = gen.randint(3);
        if (kind == 0) {
            bytes.resize(static_cast<std::size_t>(gen.randint(bytes.size())));  // truncate
        } else {
            const auto flips = 1 + gen.randint(4);
            for (std::uint64_t f = 0; f < flips; ++f) {
                // mostly in the length field and header, where the structure is
                const auto limit = kind == 1 ? std::min<std::size_t>(bytes.size(), 8 + 520) : bytes.size();
                bytes[static_cast<std::size_t>(gen.randint(limit))] = static_cast<char>(gen.randint(256));
            }
        }
        write_raw(path, bytes);
        try {
            load_safetensors(path);
            ++loaded;
        } catch (const salun::Error&) {
            ++rejected;
        } catch (...) {
            ++other;
        }
    }
    CHECK(other == 0);
    CHECK(rejected > 100);
    CHECK(loaded + rejected == 400);
}

TEST_CASE("parse_safetensors reads bytes in memory like load_safetensors reads the file") {
    const std::string path = std::string(SALUN_FIXTURES_DIR) + "/io_small.safetensors";
    const std::string bytes = read_all(path);
    const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
    const Safetensors from_file = load_safetensors(path);
    const Safetensors from_memory = parse_safetensors(p, bytes.size(), "io_small");
    CHECK(from_memory.tensors == from_file.tensors);
    CHECK(from_memory.metadata == from_file.metadata);
    // The same checks, naming what the caller passed as the name.
    CHECK_THROWS_WITH_AS(parse_safetensors(p, bytes.size() - 1, "cut copy"),
                         doctest::Contains("load_safetensors: 'cut copy': tensor"), salun::Error);
    CHECK_THROWS_WITH_AS(parse_safetensors(p, 5), doctest::Contains("'<memory>' is 5 bytes, too short"), salun::Error);
    CHECK_THROWS_WITH_AS(parse_safetensors(nullptr, 0), doctest::Contains("too short"), salun::Error);
}

namespace {
/// The message of the salun::Error that parsing `bytes` in memory throws ("" if none).
std::string parse_error(const std::string& bytes) {
    try {
        parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "f");
    } catch (const salun::Error& e) {
        return e.what();
    }
    return "";
}
std::string le(std::uint64_t v, int bytes) {
    std::string out;
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
    return out;
}
}  // namespace

TEST_CASE("safetensors: a deeply nested header is an error, not a stack overflow") {
    // Error messages quote the offending JSON, and nlohmann's dump() recurses once per level: a
    // 200 KB header of 100,000 nested brackets crashed the reader with a stack overflow (found
    // while writing tests/fuzz/fuzz_safetensors.cpp).
    const std::size_t depth = 1'000'000;
    const std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::string(depth, '[') + std::string(depth, ']') +
                               R"(],"data_offsets":[0,0]}})";
    const auto msg = parse_error(le(header.size(), 8) + header);
    CHECK(contains(msg, "nests deeper than 16 levels"));
    CHECK(contains(msg, "'f'"));
    // Shallow but wrong values are still quoted, shortened when long.
    std::string ones = "1";
    for (int i = 0; i < 2000; ++i) ones += ",1";
    const std::string wide = R"({"w":{"dtype":"F32","shape":[[)" + ones + R"(]],"data_offsets":[0,0]}})";
    const auto wide_msg = parse_error(le(wide.size(), 8) + wide);
    CHECK(contains(wide_msg, "shape entries must be non-negative integers"));
    CHECK(wide_msg.size() < 400);
}
