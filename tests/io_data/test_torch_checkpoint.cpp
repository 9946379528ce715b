// SPDX-License-Identifier: MIT
// PyTorch .pth checkpoints: files written by torch.save (tests/fixtures/gen_pth_fixtures.py) read
// through the restricted unpickler, loading by content, the module. prefix, the normalisation
// keys, the writer, and the files that must be refused.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "salun/io/checkpoint.hpp"

namespace fs = std::filesystem;
using namespace salun;
using namespace salun::io;

namespace {

std::string fixture(const std::string& name) { return std::string(SALUN_FIXTURES_DIR) + "/pth/" + name; }

std::string tmp_path(const std::string& name) {
    fs::create_directories(SALUN_TEST_TMP_DIR);
    return std::string(SALUN_TEST_TMP_DIR) + "/" + name;
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const salun::Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// The tensors of expected.safetensors whose names start with `prefix`, prefix removed.
StateDict expected(const std::string& prefix) {
    StateDict out;
    for (const auto& [k, v] : load_safetensors(fixture("expected.safetensors")).tensors)
        if (k.compare(0, prefix.size(), prefix) == 0) out.insert_or_assign(k.substr(prefix.size()), v);
    return out;
}

}  // namespace

TEST_CASE("a plain torch.save state dict loads with PyTorch's keys, order, dtypes, shapes and bytes") {
    const auto ck = load_torch_checkpoint(fixture("plain.pth"));
    const StateDict want = expected("plain/");
    REQUIRE(ck.tensors.keys() == want.keys());
    CHECK(ck.found_at.empty());
    for (const auto& [k, v] : want) {
        CAPTURE(k);
        const TensorData& got = ck.tensors.at(k);
        CHECK(dtype_name(got.dtype) == std::string(dtype_name(v.dtype)));
        CHECK(shape_str(got.shape) == shape_str(v.shape));
        CHECK(got.bytes == v.bytes);
    }
    CHECK(ck.tensors.at("bn.num_batches_tracked").to_int64() == std::vector<std::int64_t>{1});
    CHECK(ck.tensors.at("extra.i64").to_int64() == std::vector<std::int64_t>{-3, 0, 7, std::int64_t(1) << 40});
    CHECK(ck.tensors.at("extra.scalar").shape.empty());
}

TEST_CASE("views load as their own values: transposed, storage offsets, strides, shared storages") {
    const auto ck = load_torch_checkpoint(fixture("plain.pth"));
    // base = arange(24): offset_view = base[5:17].view(3, 4); strided = base.view(4, 6)[1:, ::2]
    const auto ov = ck.tensors.at("extra.offset_view").to_tensor<float>();
    for (std::size_t i = 0; i < 12; ++i) CHECK(ov.data()[i] == float(5 + i));
    const auto st = ck.tensors.at("extra.strided").to_tensor<float>();
    REQUIRE(st.shape() == Shape{3, 3});
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t c = 0; c < 3; ++c) CHECK(st.data()[r * 3 + c] == float(6 * (r + 1) + 2 * c));
    CHECK(ck.tensors.at("extra.empty").shape == Shape{0, 3});
    CHECK(ck.tensors.at("extra.empty").bytes.empty());
}

TEST_CASE("the state dict is found inside {'state_dict': ...} and {'model': ...}, other entries ignored") {
    const StateDict net = expected("net/");
    const auto nested = load_torch_checkpoint(fixture("nested.pth"));  // with optimiser state, floats, lists
    CHECK(nested.found_at == "state_dict");
    CHECK(nested.tensors == net);
    const auto model = load_torch_checkpoint(fixture("model_key.pth"));
    CHECK(model.found_at == "model");
    CHECK(model.tensors == net);
}

TEST_CASE("load_checkpoint tells the format by content, not by the file's name") {
    const std::string disguised = tmp_path("really_a_pth.safetensors");
    fs::copy_file(fixture("plain.pth"), disguised, fs::copy_options::overwrite_existing);
    const auto ck = load_checkpoint(disguised);
    CHECK(ck.format == CheckpointFormat::TorchZip);
    CHECK(ck.tensors == load_torch_checkpoint(fixture("plain.pth")).tensors);
    const std::string st = tmp_path("really_safetensors.pth");
    fs::copy_file(fixture("expected.safetensors"), st, fs::copy_options::overwrite_existing);
    CHECK(load_checkpoint(st).format == CheckpointFormat::Safetensors);
    const std::string text = tmp_path("not_a_checkpoint.txt");
    write_bytes(text, {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
    CHECK(contains(error_of([&] { load_checkpoint(text); }),
                   "neither a safetensors file nor a PyTorch zip checkpoint"));
}

TEST_CASE("DataParallel's module. prefix is stripped only when every key has it") {
    auto ck = load_torch_checkpoint(fixture("module_prefix.pth"));
    for (const auto& k : ck.tensors.keys()) CHECK(k.rfind("module.", 0) == 0);
    CHECK(strip_key_prefix(ck.tensors));
    CHECK(ck.tensors == expected("net/"));
    CHECK_FALSE(strip_key_prefix(ck.tensors));  // nothing left to strip
}

TEST_CASE("normalize.mean / normalize.std come out of the state dict as the input normalisation") {
    auto ck = load_torch_checkpoint(fixture("normalize.pth"));
    REQUIRE(strip_key_prefix(ck.tensors));
    const auto norm = take_normalization(ck.tensors);
    REQUIRE(norm.has_value());
    CHECK(norm->mean == std::vector<float>{0.4914f, 0.4822f, 0.4465f});
    CHECK(norm->std == std::vector<float>{0.2470f, 0.2435f, 0.2616f});
    CHECK(ck.tensors == expected("net/"));  // the rest is the plain network
    CHECK_FALSE(take_normalization(ck.tensors).has_value());
}

TEST_CASE("code and objects in a pickle are refused and never run") {
    const std::string m = error_of([] { load_checkpoint(fixture("malicious.pth")); });
    CHECK(contains(m, "refuses to load global 'posix.system'"));
    CHECK(contains(m, "never executed"));
    CHECK(contains(error_of([] { load_checkpoint(fixture("whole_model.pth")); }), "refuses to load global '__main__.Tiny'"));
    CHECK(contains(error_of([] { load_checkpoint(fixture("legacy.pth")); }), "legacy (pre-1.6, non-zip) torch.save file"));
}

TEST_CASE("a restricted pickle refuses REDUCE on allowed names used wrongly and unknown opcodes") {
    using pickle::Unpickler;
    using namespace std::string_literals;
    auto run = [](const std::string& p) {
        Unpickler u(reinterpret_cast<const std::uint8_t*>(p.data()), p.size(), "test.pkl");
        u.load();
    };
    CHECK(contains(error_of([&] { run("\x80\x02" "cbuiltins\neval\n(X\x01\x00\x00\x00" "1tR."s); }),
                   "refuses to load global 'builtins.eval'"));
    CHECK(contains(error_of([&] { run("\x80\x02" "ccollections\nOrderedDict\n(K\x01tR."s); }), "OrderedDict(...) with arguments"));
    CHECK(contains(error_of([&] { run("\x80\x02(I1\n."); }), "opcode 0x49 is not accepted"));
    CHECK(contains(error_of([&] { run("\x80\x02]q\x00h\x00."s); }), "STOP with 2 values"));
    CHECK(contains(error_of([&] { run("\x80\x02X\xff\x00\x00\x00" "ab"s); }), "truncated"));
    // A list appended into itself: a cycle in the values, harmless (no ownership, no recursion).
    CHECK(error_of([&] { run("\x80\x02]q\x00h\x00" "a."s); }).empty());
}

TEST_CASE("truncated and corrupted .pth files are errors that say so") {
    const auto bytes = read_bytes(fixture("plain.pth"));
    const std::string cut = tmp_path("cut.pth");
    for (std::size_t keep : {std::size_t(3), std::size_t(100), bytes.size() / 2, bytes.size() - 1}) {
        CAPTURE(keep);
        write_bytes(cut, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)));
        CHECK_FALSE(error_of([&] { load_checkpoint(cut); }).empty());
    }
    write_bytes(cut, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2)));
    CHECK(contains(error_of([&] { load_checkpoint(cut); }), "truncated"));
    // One flipped byte inside a storage: the CRC names the entry.
    auto bad = bytes;
    const ZipReader zip(bytes.data(), bytes.size(), "plain.pth");
    const auto [p, n] = zip.read("plain/data/0");
    REQUIRE(n > 0);
    bad[static_cast<std::size_t>(p - bytes.data())] ^= 0x40;
    write_bytes(cut, bad);
    CHECK(contains(error_of([&] { load_checkpoint(cut); }), "zip entry 'plain/data/0' is corrupted"));
}

TEST_CASE("save_checkpoint writes .pth and .safetensors that read back identically") {
    const StateDict sd = load_torch_checkpoint(fixture("plain.pth")).tensors;
    const std::string pth = tmp_path("roundtrip.pth"), st = tmp_path("roundtrip.safetensors");
    save_checkpoint(pth, sd);
    save_checkpoint(st, sd);
    CHECK(detect_checkpoint_format(pth) == CheckpointFormat::TorchZip);
    CHECK(detect_checkpoint_format(st) == CheckpointFormat::Safetensors);
    CHECK(load_checkpoint(pth).tensors == sd);
    CHECK(load_checkpoint(st).tensors == sd);
    CHECK(contains(error_of([&] { save_checkpoint(tmp_path("x.bin"), sd); }), "use .safetensors, .pth or .pt"));
}
