// SPDX-License-Identifier: MIT
// Inspection outputs: the step log's lines, the mask's per-layer statistics and the mask written
// as a safetensors file that reads back as the same 0/1 tensors.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "salun/io/safetensors.hpp"
#include "salun/unlearn.hpp"
#include "salun/unlearn/inspection.hpp"
#include "tiny.hpp"

using namespace salun;
using salun::testing::TinyMLP;

TEST_CASE("StepLog: one JSON line per step, with the phase, the loss, the lr and the three norms") {
    TinyMLP<double> model{8, 16, 4, 3};
    auto forget = salun::testing::blobs<double>(4, 40, 8, 11, {0});
    auto retain = salun::testing::blobs<double>(4, 40, 8, 12, {1, 2, 3});
    forget.batch_size = retain.batch_size = 16;
    auto mask = unlearn::compute_saliency_mask(model, forget, {0.5, 5});
    unlearn::SalUnOptions o;
    o.epochs = 2;
    o.num_classes = 4;
    unlearn::StepLog log;
    unlearn::salun_train(model, forget, retain, 0, mask, o, log.callback());
    const std::size_t steps = 2 * (forget.num_batches() + retain.num_batches());
    REQUIRE(log.size() == steps);

    const std::string path = std::string(SALUN_TEST_TMP_DIR) + "/steps.jsonl";
    std::filesystem::create_directories(SALUN_TEST_TMP_DIR);
    log.write(path);
    std::ifstream in(path);
    std::size_t n = 0, forget_lines = 0;
    for (std::string line; std::getline(in, line); ++n) {
        const auto j = nlohmann::json::parse(line);
        for (const char* key : {"epoch", "phase", "batch", "batch_size", "loss", "lr", "grad_norm", "masked_grad_norm",
                                "clipped_grad_norm"})
            CHECK_MESSAGE(j.contains(key), key);
        CHECK(j["masked_grad_norm"].get<double>() <= j["grad_norm"].get<double>() + 1e-12);
        CHECK(j["lr"].get<double>() == doctest::Approx(o.lr));
        forget_lines += j["phase"] == "forget";
    }
    CHECK(n == steps);
    CHECK(forget_lines == 2 * forget.num_batches());

    // rows() / assign(): what a resume file carries, back as the same log.
    unlearn::StepLog copy;
    copy.assign(nlohmann::ordered_json(log.rows()));  // through the resume file's JSON type
    CHECK(copy.size() == steps);
    CHECK(copy.text() == log.text());
    CHECK_THROWS_WITH_AS(copy.assign(nlohmann::json::object()), doctest::Contains("expected an array of steps"), Error);
}

TEST_CASE("the mask's per-layer statistics add up, and the mask file reads back as the same tensors") {
    TinyMLP<double> model{8, 16, 4, 3};
    auto forget = salun::testing::blobs<double>(4, 40, 8, 11, {0});
    forget.batch_size = 16;
    auto mask = unlearn::compute_saliency_mask(model, forget, {0.5, 5});

    const auto layers = unlearn::saliency_layers_json(mask);
    REQUIRE(layers.size() == mask.masks.size());
    std::size_t selected = 0, total = 0;
    for (const auto& l : layers) {
        selected += l["selected"].get<std::size_t>();
        total += l["numel"].get<std::size_t>();
        CHECK(l["fraction"].get<double>() >= 0.0);
        CHECK(l["fraction"].get<double>() <= 1.0);
    }
    CHECK(selected == mask.selected);
    CHECK(total == mask.total);
    CHECK(layers[0]["name"] == mask.names[0]);

    const std::string path = std::string(SALUN_TEST_TMP_DIR) + "/mask.safetensors";
    std::filesystem::create_directories(SALUN_TEST_TMP_DIR);
    io::save_safetensors(path, unlearn::mask_state_dict(mask), {{"threshold", "0.5"}});
    const auto file = io::load_safetensors(path);
    REQUIRE(file.tensors.size() == mask.masks.size());
    for (std::size_t i = 0; i < mask.masks.size(); ++i) {
        const auto& d = file.tensors.at(mask.names[i]);
        CHECK(d.dtype == io::DType::F32);
        CHECK(d.shape == mask.masks[i].shape());
        const auto back = d.to_tensor<double>().to_vector();
        CHECK(back == mask.masks[i].to_vector());
    }
}
