// SPDX-License-Identifier: MIT
// report::render_html / write_report: a results folder becomes one self-contained HTML page with
// every section whose data the run has, a note for each one it lacks, and nothing fetched.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "salun/report/html.hpp"

using namespace salun;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path fresh_dir(const std::string& name) {
    const fs::path dir = fs::path(SALUN_TEST_TMP_DIR) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

/// A results document with every field the report draws, for 10 classes.
json full_results(const std::string& id, const std::string& method) {
    json r;
    r["CreatedAt"] = "2026-11-29 12:00:00";
    r["ID"] = id;
    r["FC"] = 0;
    r["Model"] = "ResNet-18";
    r["Method"] = method;
    r["Base"] = "resnet18_cifar10.safetensors";
    r["UA"] = 0.0; r["RA"] = 0.82; r["TUA"] = 0.0; r["TRA"] = 0.78; r["FQS"] = 0.47; r["RTE"] = 60.5;
    std::vector<double> accs(10, 0.8), before(10, 0.9);
    accs[0] = 0;
    r["accs"] = accs; r["t_accs"] = accs; r["original_accs"] = before; r["original_t_accs"] = before;
    r["per_epoch"] = json::array({{{"epoch", 0}, {"UA", 0.9}, {"RA", 0.9}, {"TUA", 0.9}, {"TRA", 0.88}},
                                  {{"epoch", 1}, {"UA", 0.0}, {"RA", 0.82}, {"TUA", 0.0}, {"TRA", 0.78}}});
    for (const char* key : {"label_dist", "t_label_dist"})
        for (int c = 0; c < 10; ++c) {
            std::vector<double> row(10, 0.0);
            row[std::size_t(c == 0 ? 1 : c)] = 1.0;
            r[key]["gt_" + std::to_string(c)] = row;
        }
    r["saliency_layers"] = json::array({{{"name", "conv1.weight"}, {"numel", 1728}, {"selected", 1000}, {"fraction", 0.5787}},
                                        {{"name", "fc.bias"}, {"numel", 10}, {"selected", 10}, {"fraction", 1.0}}});
    for (int i = 0; i < 40; ++i)
        r["points"].push_back(json::array({i % 10, (i + 1) % 10, 1000 + i, i % 10 == 0 ? 1 : 0, 0.1 * i, std::sin(i), json::object()}));
    r["cka"] = {{"layers", {"conv1", "fc"}},
                {"train", {{"forget_class", {{0.9}, {0.2}}}, {"other_classes", {{0.95}, {0.8}}}}},
                {"test", {{"forget_class", {{0.9}, {0.3}}}, {"other_classes", {{0.94}, {0.7}}}}}};
    json curve = json::array();
    for (int t = 0; t <= 50; ++t) curve.push_back({{"threshold", 0.05 * t}, {"fpr", 0.1}, {"fnr", 0.2}, {"attack_score", 0.5 + 0.005 * t}});
    r["attack"] = {{"values", json::array()}, {"results", {{"entropy_above_unlearn", curve}, {"confidence_above_unlearn", curve}}}};
    return r;
}

std::string step_log() {
    std::string s;
    for (int e = 0; e < 2; ++e)
        for (const char* phase : {"forget", "retain"})
            for (int b = 0; b < 3; ++b)
                s += json{{"epoch", e}, {"phase", phase}, {"batch", b}, {"loss", 2.0 - 0.1 * b}, {"lr", 0.1},
                          {"grad_norm", 150.0}, {"masked_grad_norm", 120.0}, {"clipped_grad_norm", 100.0}}.dump() + "\n";
    return s;
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("a run with every field gets every section and no 'missing' note") {
    const auto dir = fresh_dir("report_full");
    write(dir / "ab12.json", full_results("ab12", "SalUn").dump());
    write(dir / "ab12.steps.jsonl", step_log());
    write(dir / "other.json", R"({"not": "a results file"})");  // skipped, not an error
    const std::string out = report::write_report(dir.string());
    CHECK(out == (dir / "report.html").string());
    std::ifstream in(out);
    const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    for (const char* section : {"id=\"summary\"", "id=\"run-ab12\"", "class=\"accuracy\"", "class=\"labels\"", "class=\"mask\"",
                                "class=\"steps\"", "class=\"embedding\"", "class=\"cka\"", "class=\"attack\""})
        CHECK_MESSAGE(html.find(section) != std::string::npos, section);
    CHECK(count(html, "class=\"missing\"") == 0);
    CHECK(html.find("before unlearning") != std::string::npos);
    CHECK(html.find("Accuracy after every epoch") != std::string::npos);
    CHECK(count(html, "<svg") == 3 + 2 + 1 + 4 + 1 + 1 + 2);  // accuracy (+ per epoch), labels, mask, steps (2 phases x 2), points, cka, attack
    CHECK(html.find("conv1.weight") != std::string::npos);     // the mask table names the layers
    // self-contained: no script, no external resource (the SVG namespace is a name, not a fetch)
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("src=") == std::string::npos);
    CHECK(html.find("url(") == std::string::npos);
    CHECK(html.find("@import") == std::string::npos);
    CHECK(count(html, "http") == count(html, "http://www.w3.org/2000/svg"));
}

TEST_CASE("a bare run shows a note for each missing section; runs sort by model and method") {
    const auto dir = fresh_dir("report_bare");
    json bare = {{"ID", "0001"}, {"Model", "VGG-16-BN"}, {"Method", "GA"}, {"UA", 0.1}, {"RA", 0.9}, {"FQS", 0.3}};
    write(dir / "0001.json", bare.dump());
    write(dir / "ab12.json", full_results("ab12", "SalUn").dump());
    const auto runs = report::load_runs(dir.string());
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].results["Model"] == "ResNet-18");
    CHECK(runs[0].steps.empty());
    const std::string html = report::render_html(runs);
    CHECK(count(html, "class=\"missing\"") == 7 + 1);  // all 7 of the bare run's sections; the full run's step log
    CHECK(html.find("No step log for this run.") != std::string::npos);
    CHECK(html.find("<td>-</td>") != std::string::npos);  // the bare run has no TUA
}

TEST_CASE("a step log that starts after epoch 1 (a run resumed by an earlier salun) says so") {
    const auto dir = fresh_dir("report_partial_steps");
    write(dir / "ab12.json", full_results("ab12", "SalUn").dump());
    std::string later;  // epoch 2's retain steps only, as such a run's log holds
    for (int b = 0; b < 3; ++b)
        later += json{{"epoch", 1}, {"phase", "retain"}, {"batch", b}, {"loss", 0.5}, {"lr", 0.1}, {"grad_norm", 1.0},
                      {"masked_grad_norm", 0.9}, {"clipped_grad_norm", 0.9}}.dump() + "\n";
    write(dir / "ab12.steps.jsonl", later);
    const std::string html = report::render_html(report::load_runs(dir.string()));
    CHECK(html.find("This step log starts in epoch 2: the run was resumed there") != std::string::npos);
    CHECK(html.find("step (from epoch 2)") != std::string::npos);
    CHECK(html.find("step (all epochs)") == std::string::npos);
    CHECK(html.find("phase: retain") != std::string::npos);
    CHECK(html.find("phase: forget") == std::string::npos);
}

TEST_CASE("text from the results is escaped, bad files are clear errors") {
    const auto dir = fresh_dir("report_escape");
    json r = full_results("x<1>", "<script>alert(1)</script>");
    write(dir / "evil.json", r.dump());
    const std::string html = report::render_html(report::load_runs(dir.string()));
    CHECK(html.find("<script>alert") == std::string::npos);
    CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);

    write(dir / "broken.json", "{\"UA\": ");
    CHECK_THROWS_WITH_AS(report::load_runs(dir.string()), doctest::Contains("broken.json is not valid JSON"), salun::Error);
    fs::remove(dir / "broken.json");
    write(dir / "evil.steps.jsonl", "{\"phase\": \"forget\"}\nnot json\n");
    CHECK_THROWS_WITH_AS(report::load_runs(dir.string()), doctest::Contains("line 2 is not a JSON object"), salun::Error);
    CHECK_THROWS_WITH_AS(report::load_runs((dir / "nope").string()), doctest::Contains("is not a folder"), salun::Error);
}

TEST_CASE("svg helpers: numbers, escaping, the colour ramp's ends") {
    CHECK(report::svg::num(0.5) == "0.5");
    CHECK(report::svg::num(2.0) == "2");
    CHECK(report::svg::num(-0.0001) == "0");
    CHECK(report::svg::num(std::nan("")) == "0");
    CHECK(report::svg::escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;");
    CHECK(report::svg::ramp(0) == "#00224e");
    CHECK(report::svg::ramp(1) == "#fde737");
    CHECK(report::svg::ramp(7) == report::svg::ramp(1));  // clamped
    CHECK(report::svg::palette().size() == 10);            // one colour per CIFAR-10 class
}
