// SPDX-License-Identifier: MIT
// Writes the fuzz harnesses' seed corpora, tests/fuzz/corpus/<harness>/: small valid inputs that
// start the fuzzer inside each format instead of at random bytes. Everything is synthetic or a
// copy of a committed test fixture (never real CIFAR-10 data); the output is deterministic.
//
//   cmake --build build-fuzz --target salun_fuzz_make_seeds
//   build-fuzz/tests/fuzz/salun_fuzz_make_seeds tests/fuzz/corpus tests/fixtures
//
// corpus/<harness>/regress_* are not made here: they are inputs the fuzzers found, kept as seeds.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io_data/stb_image_write_impl.hpp"
#include "salun/data/cifar10.hpp"
#include "salun/io/safetensors.hpp"
#include "salun/io/torch_checkpoint.hpp"
#include "salun/models/registry.hpp"

namespace fs = std::filesystem;
using salun::io::DType;
using salun::io::StateDict;
using salun::io::TensorData;

namespace {

void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
    std::cout << path.string() << " (" << bytes.size() << " bytes)\n";
}

void write_safetensors(const fs::path& path, const StateDict& sd, const std::map<std::string, std::string>& meta) {
    std::ostringstream out;
    salun::io::write_safetensors(out, sd, meta);
    write_bytes(path, out.str());
}

// ---- safetensors: the small PyTorch-written fixtures, and one file of every dtype and corner -----
void safetensors_seeds(const fs::path& dir, const fs::path& fixtures) {
    for (const char* name : {"io_small.safetensors", "ops_loss.safetensors", "ops_shape.safetensors"}) {
        std::ifstream in(fixtures / name, std::ios::binary);
        if (!in) throw std::runtime_error("missing fixture " + (fixtures / name).string());
        write_bytes(dir / name, std::string(std::istreambuf_iterator<char>(in), {}));
    }
    salun::Generator gen(11);
    const auto t = salun::Tensor<float>::normal({2, 3}, 0.0, 1.0, gen);
    StateDict sd;
    sd.insert_or_assign("f32", TensorData::from_tensor(t, DType::F32));
    sd.insert_or_assign("f16", TensorData::from_tensor(t, DType::F16));
    sd.insert_or_assign("bf16", TensorData::from_tensor(t, DType::BF16));
    sd.insert_or_assign("f64", TensorData::from_tensor(t, DType::F64));
    sd.insert_or_assign("i64", TensorData::from_int64({3}, {-1, 0, 1LL << 40}));
    sd.insert_or_assign("scalar", TensorData::from_int64({}, {391}));
    sd.insert_or_assign("empty", TensorData::from_tensor(salun::Tensor<float>::zeros({0, 4})));
    write_safetensors(dir / "every_dtype.safetensors", sd, {{"format", "pt"}, {"note", "make_seeds"}});
}

// ---- state dicts of the narrow models fuzz_state_dict.cpp loads into (keep the two in step) -------
std::shared_ptr<salun::nn::Module<float>> narrow_resnet(salun::Generator& gen) {
    return salun::models::resnet18<float>(10, 1, gen);
}
std::shared_ptr<salun::nn::Module<float>> narrow_vgg(salun::Generator& gen) {
    const std::size_t M = salun::models::kMaxPool;
    return salun::models::vgg16_bn<float>(10, {1, 1, M, 2, 2, M, 2, 2, 2, M, 2, 2, 2, M, 2, 2, 2, M}, gen);
}

/// `sd` with conv and linear weights stored as `weights` (real checkpoints use F16 or F32).
StateDict with_weight_dtype(const StateDict& sd, DType weights) {
    StateDict out;
    for (const auto& [name, d] : sd) {
        const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && d.shape.size() != 1;
        out.insert_or_assign(name, weight ? TensorData::from_tensor(d.to_tensor<float>(), weights) : d);
    }
    return out;
}

void state_dict_seeds(const fs::path& dir) {
    salun::Generator gen(22);
    const StateDict resnet = narrow_resnet(gen)->state_dict();
    const StateDict vgg = narrow_vgg(gen)->state_dict();
    write_safetensors(dir / "resnet_w1_f32.safetensors", resnet, {{"arch", "resnet18"}});
    write_safetensors(dir / "resnet_w1_f16.safetensors", with_weight_dtype(resnet, DType::F16), {{"arch", "resnet18"}});
    write_safetensors(dir / "vgg_narrow_f32.safetensors", vgg, {{"arch", "vgg16_bn"}});
    write_safetensors(dir / "vgg_narrow_bf16.safetensors", with_weight_dtype(vgg, DType::BF16), {});
}

// ---- CIFAR-10: synthetic records (never the real data) and class lists ---------------------------
void cifar10_seeds(const fs::path& dir) {
    using salun::data::kCifarImageBytes;
    auto records = [](const std::vector<int>& labels) {
        std::string out;
        for (std::size_t r = 0; r < labels.size(); ++r) {
            out += static_cast<char>(labels[r]);
            for (std::size_t i = 0; i < kCifarImageBytes; ++i) out += static_cast<char>((r * 31 + i * 7) & 0xFF);
        }
        return out;
    };
    write_bytes(dir / "one_record.bin", records({3}));
    write_bytes(dir / "three_records.bin", records({0, 9, 5}));
    std::string names;
    for (const auto& n : salun::data::cifar10_class_names()) names += n + "\n";
    write_bytes(dir / "batches.meta.txt", names);
    std::string crlf;
    for (const auto& n : salun::data::cifar10_class_names()) crlf += n + " \r\n\r\n";
    write_bytes(dir / "batches_crlf.meta.txt", crlf);
}

// ---- images: tiny PNG / JPEG / BMP files of every channel count, as stb_image_write makes them ----
void image_seeds(const fs::path& dir) {
    auto pixels = [](int w, int h, int comp) {
        std::vector<unsigned char> p(static_cast<std::size_t>(w * h * comp));
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int c = 0; c < comp; ++c)
                    p[static_cast<std::size_t>((y * w + x) * comp + c)] = static_cast<unsigned char>(x * 40 + y * 25 + c * 60);
        return p;
    };
    auto to_string = [](void* ctx, void* data, int size) {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
    };
    for (int comp : {1, 2, 3, 4}) {
        const auto p = pixels(5, 3, comp);
        std::string png;
        stbi_write_png_to_func(to_string, &png, 5, 3, comp, p.data(), 5 * comp);
        write_bytes(dir / ("png_5x3_c" + std::to_string(comp) + ".png"), png);
    }
    for (int quality : {50, 95}) {  // stb_image_write subsamples chroma below quality 90
        const auto p = pixels(16, 9, 3);
        std::string jpg;
        stbi_write_jpg_to_func(to_string, &jpg, 16, 9, 3, p.data(), quality);
        write_bytes(dir / ("jpeg_16x9_q" + std::to_string(quality) + ".jpg"), jpg);
    }
    {
        const auto p = pixels(8, 8, 1);
        std::string jpg;
        stbi_write_jpg_to_func(to_string, &jpg, 8, 8, 1, p.data(), 80);
        write_bytes(dir / "jpeg_8x8_grey.jpg", jpg);
    }
    for (int comp : {3, 4}) {
        const auto p = pixels(3, 2, comp);
        std::string bmp;
        stbi_write_bmp_to_func(to_string, &bmp, 3, 2, comp, p.data());
        write_bytes(dir / ("bmp_3x2_c" + std::to_string(comp) + ".bmp"), bmp);
    }
}

// ---- salun-demo command lines: arguments separated by NUL bytes ----------------------------------
void demo_args_seeds(const fs::path& dir) {
    auto argv = [](const std::vector<std::string>& args) {
        std::string out;
        for (std::size_t i = 0; i < args.size(); ++i) out += (i ? std::string(1, '\0') : "") + args[i];
        return out;
    };
    write_bytes(dir / "eval", argv({"eval", "--arch", "resnet18", "--weights", "w.safetensors", "--split", "train",
                                    "--batch-size", "100", "--json", "out.json", "--threads", "2", "--quiet"}));
    write_bytes(dir / "unlearn",
                argv({"unlearn", "--arch", "vgg16_bn", "--weights", "w.safetensors", "--out-dir", "out",
                      "--forget-class", "3", "--epochs", "1", "--lr", "0.05", "--batch-size=64", "--momentum", "0.9",
                      "--weight-decay", "5e-4", "--threshold", "0.5", "--saliency-batches", "2", "--grad-clip", "10",
                      "--seed", "7", "--subset", "100", "--freeze-masked", "--data", "cifar"}));
    write_bytes(dir / "experiment", argv({"experiment", "--models", "models", "--archs", "resnet18,vgg16_bn",
                                          "--out-dir", "results", "--epochs=2", "--threads=1"}));
    write_bytes(dir / "experiment_implicit", argv({"--models", "models", "--forget-class", "9"}));
    write_bytes(dir / "train", argv({"train", "--arch", "resnet18", "--out", "r.safetensors", "--epochs", "3", "--lr",
                                     "0.2", "--exclude-class", "0", "--seed", "1", "--subset", "10"}));
    write_bytes(dir / "help", argv({"unlearn", "--help"}));
    write_bytes(dir / "usage", argv({"help"}));
    write_bytes(dir / "report", argv({"report", "results", "-o", "r.html"}));
    write_bytes(dir / "convert", argv({"convert", "in.pth", "out.safetensors"}));
    write_bytes(dir / "unlearn_resume", argv({"unlearn", "--arch", "resnet18", "--weights", "w.pth", "--out-dir", "out",
                                              "--name", "r18", "--resume", "--method", "salun", "--save-mask",
                                              "m.safetensors"}));
    write_bytes(dir / "experiment_methods", argv({"experiment", "--models", "models", "--methods", "salun,ft,ga,rl",
                                                  "--name", "cmp", "--resume", "--device", "cpu"}));
}

}  // namespace

// ---- pth: the torch.save fixtures (tests/fixtures/pth), and their pickles alone ------------------
void pth_seeds(const fs::path& dir, const fs::path& fixtures) {
    for (const char* name : {"plain", "nested", "normalize", "malicious"}) {
        std::ifstream in(fixtures / "pth" / (std::string(name) + ".pth"), std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (bytes.empty()) throw std::runtime_error(std::string("missing fixture pth/") + name + ".pth");
        write_bytes(dir / (std::string(name) + ".pth"), bytes);
        const salun::io::ZipReader zip(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
        const auto [p, n] = zip.read(std::string(name) + "/data.pkl");
        write_bytes(dir / (std::string(name) + ".pkl"), std::string(reinterpret_cast<const char*>(p), n));
    }
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " CORPUS_DIR FIXTURES_DIR   (e.g. tests/fuzz/corpus tests/fixtures)\n";
        return 2;
    }
    const fs::path corpus = argv[1], fixtures = argv[2];
    try {
        for (const char* h : {"safetensors", "state_dict", "cifar10", "image", "demo_args", "pth"})
            fs::create_directories(corpus / h);
        safetensors_seeds(corpus / "safetensors", fixtures);
        state_dict_seeds(corpus / "state_dict");
        cifar10_seeds(corpus / "cifar10");
        image_seeds(corpus / "image");
        demo_args_seeds(corpus / "demo_args");
        pth_seeds(corpus / "pth", fixtures);
    } catch (const std::exception& e) {
        std::cerr << "make_seeds: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
