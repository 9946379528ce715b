// SPDX-License-Identifier: MIT
// salun::report: one self-contained HTML page showing every run of a results folder, so that a
// user looks at what unlearning did instead of reading JSON. It reads only files (the results
// JSON of each run and, when present, its JSON-lines step log) and writes one file with inline CSS
// and SVG: no script, no font, no network, so it opens anywhere and can be mailed or archived.
//
// Per run (model x method), each section shown when its data is in the run's files:
//   summary        one table over all runs: UA, RA, TUA, TRA, FQS, RTE (and PS, Avg. Gap if present)
//   accuracy       per-class accuracy, train and test, after unlearning (and before, if the
//                  results hold the original's `original_accs` / `original_t_accs`), and UA, RA,
//                  TUA, TRA after every epoch (`per_epoch`; both from --eval-every-epoch)
//   labels         the predicted-label matrix (`label_dist` / `t_label_dist`) as heatmaps
//   mask           the saliency mask's density per layer (`saliency_layers`)
//   steps          loss and gradient norms (raw, masked, clipped) per step, both phases (step log)
//   embedding      the `points` UMAP embedding coloured by class, the forget class ringed
//   cka            layer-wise CKA to the original, four sample sets
//   attack         attack score against threshold for every curve under `attack.results`
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/class_index.hpp"
#include "salun/core/error.hpp"
#include "salun/data/cifar10.hpp"
#include "salun/io/atomic_file.hpp"
#include "salun/report/svg.hpp"

namespace salun::report {

/// One run as found on disk: its results JSON and its step log (one JSON object per line).
struct Run {
    std::string path;                    // the results JSON
    nlohmann::json results;
    std::vector<nlohmann::json> steps;   // empty when there is no step log
};

/// A results JSON of the comparison tool's layout: an object with the summary metrics.
inline bool looks_like_results(const nlohmann::json& j) {
    return j.is_object() && j.contains("UA") && j.contains("RA") && j.contains("Model");
}

/// The step log beside a results file: the file named by its "step_log" key, else <stem>.steps.jsonl.
inline std::vector<nlohmann::json> read_step_log(const std::filesystem::path& results_path, const nlohmann::json& results) {
    namespace fs = std::filesystem;
    fs::path log = results_path.parent_path() / (results_path.stem().string() + ".steps.jsonl");
    if (results.contains("step_log") && results["step_log"].is_string())
        log = results_path.parent_path() / results["step_log"].get<std::string>();
    std::vector<nlohmann::json> steps;
    std::ifstream in(log);
    if (!in) return steps;
    std::size_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (line.empty()) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        SALUN_CHECK(!j.is_discarded() && j.is_object(), "report: ", log.string(), " line ", line_no, " is not a JSON object");
        steps.push_back(std::move(j));
    }
    return steps;
}

/// Every results JSON in `dir` (not recursive), ordered by model, method and creation time. Files
/// that are not results (other JSON) are skipped; a results file that does not parse is an error.
inline std::vector<Run> load_runs(const std::string& dir) {
    namespace fs = std::filesystem;
    SALUN_CHECK(fs::is_directory(dir), "report: ", dir, " is not a folder");
    std::vector<Run> runs;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
        std::ifstream in(entry.path());
        auto j = nlohmann::json::parse(in, nullptr, false);
        SALUN_CHECK(!j.is_discarded(), "report: ", entry.path().string(), " is not valid JSON");
        if (!looks_like_results(j)) continue;
        runs.push_back({entry.path().string(), j, read_step_log(entry.path(), j)});
    }
    auto key = [](const Run& r) {
        return r.results.value("Model", "") + "\t" + r.results.value("Method", "") + "\t" + r.results.value("CreatedAt", "");
    };
    std::sort(runs.begin(), runs.end(), [&](const Run& a, const Run& b) { return key(a) < key(b); });
    return runs;
}

namespace detail {

inline std::vector<double> numbers(const nlohmann::json& j) {
    std::vector<double> v;
    if (j.is_array())
        for (const auto& x : j) v.push_back(x.is_number() ? x.get<double>() : 0.0);
    return v;
}

inline std::vector<std::string> class_names(std::size_t n) {
    if (n == data::cifar10_class_names().size()) return data::cifar10_class_names();
    std::vector<std::string> names;
    for (std::size_t i = 0; i < n; ++i) names.push_back("class " + std::to_string(i));
    return names;
}

inline std::string cell(const nlohmann::json& r, const char* key, int digits) {
    if (!r.contains(key) || !r[key].is_number()) return "<td>-</td>";
    return "<td>" + svg::num(r[key].get<double>(), digits) + "</td>";
}

inline std::string run_title(const Run& run) {
    const auto& r = run.results;
    return r.value("Model", "?") + " / " + r.value("Method", "?") + " (ID " + r.value("ID", "?") + ", forget class " +
           (r.contains("FC") ? r["FC"].dump() : "?") + ")";
}

inline std::string missing(const std::string& what) { return "<p class=\"missing\">" + svg::escape(what) + "</p>"; }

inline std::string summary_table(const std::vector<Run>& runs) {
    std::string s = "<table><thead><tr><th>model</th><th>method</th><th>ID</th><th>UA</th><th>RA</th><th>TUA</th>"
                    "<th>TRA</th><th>FQS</th><th>PS</th><th>Avg. Gap</th><th>RTE (s)</th></tr></thead><tbody>";
    for (const auto& run : runs) {
        const auto& r = run.results;
        s += "<tr><td>" + svg::escape(r.value("Model", "?")) + "</td><td>" + svg::escape(r.value("Method", "?")) +
             "</td><td><a href=\"#run-" + svg::escape(r.value("ID", "")) + "\">" + svg::escape(r.value("ID", "?")) + "</a></td>";
        s += cell(r, "UA", 3) + cell(r, "RA", 3) + cell(r, "TUA", 3) + cell(r, "TRA", 3) + cell(r, "FQS", 4) +
             cell(r, "PS", 3) + cell(r, "AvgGap", 3) + cell(r, "RTE", 1) + "</tr>";
    }
    return s + "</tbody></table>";
}

inline std::string accuracy_section(const nlohmann::json& r) {
    std::string s;
    for (const auto& [split, after_key, before_key] :
         {std::tuple<const char*, const char*, const char*>{"train", "accs", "original_accs"},
          {"test", "t_accs", "original_t_accs"}}) {
        const auto after = numbers(r.value(after_key, nlohmann::json()));
        if (after.empty()) continue;
        std::vector<svg::Series> series;
        const auto before = numbers(r.value(before_key, nlohmann::json()));
        if (!before.empty()) series.push_back({"before unlearning", {}, before});
        series.push_back({"after unlearning", {}, after});
        s += svg::bar_chart(std::string("Per-class accuracy, ") + split, class_names(after.size()), series, 0, 1, "class",
                            std::string(split) + " accuracy");
    }
    if (s.empty()) return missing("No per-class accuracies in this run's results.");
    if (!r.contains("original_accs"))
        s += missing("The original model's per-class accuracies are not in the results (--eval-every-epoch adds them): "
                     "only 'after' is shown.");
    if (r.contains("per_epoch") && r["per_epoch"].is_array() && !r["per_epoch"].empty()) {
        std::vector<svg::Series> series;
        for (const char* key : {"UA", "RA", "TUA", "TRA"}) {
            svg::Series se{key, {}, {}};
            for (const auto& row : r["per_epoch"]) {
                se.x.push_back(row.value("epoch", 0.0));
                se.y.push_back(row.value(key, 0.0));
            }
            series.push_back(se);
        }
        s += svg::line_chart("Accuracy after every epoch (0: before unlearning)", series, "epoch", "accuracy", 0, 1);
    }
    return s;
}

inline std::string labels_section(const nlohmann::json& r) {
    std::string s;
    for (const auto& [split, key] : {std::pair<const char*, const char*>{"train", "label_dist"}, {"test", "t_label_dist"}}) {
        if (!r.contains(key) || !r[key].is_object()) continue;
        std::vector<std::vector<double>> rows;
        for (std::size_t c = 0;; ++c) {
            const std::string gt = "gt_" + std::to_string(c);
            if (!r[key].contains(gt)) break;
            rows.push_back(numbers(r[key][gt]));
        }
        if (rows.empty()) continue;
        const auto names = class_names(rows.size());
        s += "<div class=\"figure\"><h4>" + std::string(split) + "</h4>" +
             svg::heatmap(std::string("Predicted label by true class, ") + split, rows, names, names, "true class",
                          "predicted class (share of the true class's images)") + "</div>";
    }
    return s.empty() ? missing("No label distributions in this run's results.") : s;
}

inline std::string mask_section(const nlohmann::json& r) {
    if (!r.contains("saliency_layers") || !r["saliency_layers"].is_array() || r["saliency_layers"].empty())
        return missing("No per-layer mask statistics in this run's results.");
    std::vector<std::string> names;
    svg::Series density{"selected share", {}, {}};
    for (const auto& l : r["saliency_layers"]) {
        names.push_back(std::to_string(names.size()));
        density.y.push_back(l.value("fraction", 0.0));
    }
    svg::Frame f;
    f.width = std::max(640.0, 16.0 * double(names.size()) + 80);
    std::string s = svg::bar_chart("Saliency mask density per layer", names, {density}, 0, 1,
                                   "parameter tensor (index; names in the table)", "share selected", f);
    s += "<details><summary>layers</summary><table><thead><tr><th>#</th><th>parameter</th><th>elements</th>"
         "<th>selected</th><th>share</th></tr></thead><tbody>";
    std::size_t i = 0;
    for (const auto& l : r["saliency_layers"])
        s += "<tr><td>" + std::to_string(i++) + "</td><td>" + svg::escape(l.value("name", "")) + "</td><td>" +
             std::to_string(l.value("numel", 0ull)) + "</td><td>" + std::to_string(l.value("selected", 0ull)) + "</td><td>" +
             svg::num(l.value("fraction", 0.0), 4) + "</td></tr>";
    return s + "</tbody></table></details>";
}

inline std::string steps_section(const Run& run) {
    if (run.steps.empty()) return missing("No step log for this run.");
    // A log that starts after epoch 1 comes from a run resumed by an earlier salun, whose resume
    // files did not carry the steps before: say so rather than label it "all epochs".
    const int first_epoch = run.steps.front().value("epoch", 0);
    const std::string x_label = first_epoch == 0 ? "step (all epochs)" : "step (from epoch " + std::to_string(first_epoch + 1) + ")";
    std::string s;
    if (first_epoch > 0)
        s += "<p class=\"note\">This step log starts in epoch " + std::to_string(first_epoch + 1) +
             ": the run was resumed there, and the steps before were not kept.</p>";
    bool drew = false;
    for (const char* phase : {"forget", "retain"}) {
        svg::Series loss{"loss", {}, {}}, raw{"gradient norm", {}, {}}, masked{"masked", {}, {}}, clipped{"clipped", {}, {}};
        double step = 0;
        for (const auto& j : run.steps) {
            if (j.value("phase", "") != phase) continue;
            loss.x.push_back(step);
            loss.y.push_back(j.value("loss", 0.0));
            using Column = std::pair<svg::Series*, const char*>;
            for (const auto& [series, key] : {Column{&raw, "grad_norm"}, Column{&masked, "masked_grad_norm"},
                                              Column{&clipped, "clipped_grad_norm"}}) {
                series->x.push_back(step);
                series->y.push_back(j.value(key, 0.0));
            }
            ++step;
        }
        if (loss.y.empty()) continue;
        drew = true;
        s += "<div class=\"figure\"><h4>phase: " + std::string(phase) + "</h4>" +
             svg::line_chart(std::string("Loss per step, ") + phase + " phase", {loss}, x_label, "loss") +
             svg::line_chart(std::string("Gradient norms per step, ") + phase + " phase", {raw, masked, clipped},
                             x_label, "L2 norm") + "</div>";
    }
    return drew ? s : s + missing("The step log has no forget or retain steps.");
}

inline std::string points_section(const nlohmann::json& r) {
    if (!r.contains("points") || !r["points"].is_array() || r["points"].empty())
        return missing("No embedding (points) in this run's results.");
    std::vector<svg::Point> pts;
    ClassIndex classes = 0;
    for (const auto& p : r["points"]) {  // [gt, pred, dataset_index, is_forget, x, y, probs]
        if (!p.is_array() || p.size() < 6) continue;
        svg::Point pt;
        pt.x = p[4].get<double>();
        pt.y = p[5].get<double>();
        pt.label = p[0].get<ClassIndex>();
        pt.marked = p[3].get<int>() != 0;
        classes = std::max(classes, pt.label + 1);
        pts.push_back(pt);
    }
    return svg::scatter("UMAP embedding of penultimate features (colour: true class; ringed: forget class)", pts,
                        class_names(std::size_t(std::max<ClassIndex>(classes, 10))));
}

inline std::string cka_section(const nlohmann::json& r) {
    if (!r.contains("cka") || !r["cka"].is_object()) return missing("No CKA in this run's results.");
    const auto& c = r["cka"];
    std::vector<svg::Series> series;
    for (const char* split : {"train", "test"})
        for (const char* set : {"forget_class", "other_classes"}) {
            if (!c.contains(split) || !c[split].contains(set)) continue;
            svg::Series se{std::string(split) + " " + (std::string(set) == "forget_class" ? "forget" : "other"), {}, {}};
            for (const auto& row : c[split][set]) se.y.push_back(row.is_array() && !row.empty() ? row[0].get<double>() : 0.0);
            series.push_back(se);
        }
    std::string layers;
    std::size_t i = 0;
    for (const auto& l : c.value("layers", nlohmann::json::array()))
    {
        layers += (i ? ", " : "") + std::to_string(i) + " " + l.get<std::string>();
        ++i;
    }
    return svg::line_chart("CKA to the original model per layer", series, "layer (index)", "CKA", 0, 1) +
           "<p class=\"note\">layers: " + svg::escape(layers) + "</p>";
}

inline std::string attack_section(const nlohmann::json& r) {
    if (!r.contains("attack") || !r["attack"].contains("results")) return missing("No attack curves in this run's results.");
    std::map<std::string, std::vector<svg::Series>> by_metric;  // entropy / confidence / other
    for (const auto& [name, curve] : r["attack"]["results"].items()) {
        if (!curve.is_array()) continue;
        svg::Series se{name, {}, {}};
        for (const auto& pt : curve) {
            se.x.push_back(pt.value("threshold", 0.0));
            se.y.push_back(pt.value("attack_score", 0.0));
        }
        const std::string metric = name.rfind("entropy", 0) == 0 ? "entropy" : name.find("confidence") != std::string::npos ? "confidence" : name;
        by_metric[metric].push_back(se);
    }
    std::string s;
    for (const auto& [metric, series] : by_metric)
        s += svg::line_chart("Attack score by " + metric + " threshold", series, metric + " threshold", "attack score", 0, 1);
    return s.empty() ? missing("The attack field has no curves.") : s;
}

inline const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#222;background:#fff;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.25rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.05rem;margin-bottom:.3rem}h4{margin:.4rem 0;font-size:.95rem;font-weight:600}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.2rem .55rem;text-align:right}th{background:#f1f1f1}
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}
svg.chart{width:100%;max-width:680px;height:auto;display:block;margin:.3rem 0}
.figure{display:inline-block;vertical-align:top;width:48%;min-width:330px;margin-right:1%}
.grid{stroke:#e3e3e3;stroke-width:1}.tick{font-size:11px;fill:#444}.axis{font-size:12px;fill:#222}
.cell{font-size:10px}.frame{fill:none;stroke:#ccc}
.missing,.note{color:#666;font-size:.9rem}
)";

}  // namespace detail

/// The report page for `runs` as one HTML string.
inline std::string render_html(const std::vector<Run>& runs, const std::string& title = "salun: unlearning report") {
    using namespace detail;
    std::string s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" +
                    svg::escape(title) + "</title><style>" + kStyle + "</style></head><body>\n";
    s += "<h1>" + svg::escape(title) + "</h1>\n";
    if (runs.empty()) return s + missing("No results JSON in this folder.") + "</body></html>\n";
    s += "<section id=\"summary\"><h2>Summary</h2>" + summary_table(runs) +
         "<p class=\"note\">UA / TUA: accuracy on the forget class (train / test), lower is more forgetting; RA / TRA: "
         "on the other classes; FQS: the comparison tool's forgetting-quality score; RTE: unlearning time.</p></section>\n";
    for (const auto& run : runs) {
        const auto& r = run.results;
        s += "<section class=\"run\" id=\"run-" + svg::escape(r.value("ID", "")) + "\"><h2>" + svg::escape(run_title(run)) + "</h2>";
        s += "<p class=\"note\">" + svg::escape(std::filesystem::path(run.path).filename().string()) + ", created " +
             svg::escape(r.value("CreatedAt", "?")) + ", base " + svg::escape(r.value("Base", "?")) + "</p>";
        s += "<section class=\"accuracy\"><h3>Per-class accuracy</h3>" + accuracy_section(r) + "</section>";
        s += "<section class=\"labels\"><h3>Predicted labels</h3>" + labels_section(r) + "</section>";
        s += "<section class=\"mask\"><h3>Saliency mask</h3>" + mask_section(r) + "</section>";
        s += "<section class=\"steps\"><h3>Training steps</h3>" + steps_section(run) + "</section>";
        s += "<section class=\"embedding\"><h3>Embedding</h3>" + points_section(r) + "</section>";
        s += "<section class=\"cka\"><h3>Layer-wise CKA</h3>" + cka_section(r) + "</section>";
        s += "<section class=\"attack\"><h3>Attack curves</h3>" + attack_section(r) + "</section>";
        s += "</section>\n";
    }
    return s + "</body></html>\n";
}

/// Reads every run of `results_dir` and writes the report to `out` (default
/// results_dir/report.html) atomically; returns the path written.
inline std::string write_report(const std::string& results_dir, std::string out = "") {
    if (out.empty()) out = (std::filesystem::path(results_dir) / "report.html").string();
    io::write_file_atomic(out, render_html(load_runs(results_dir)));
    return out;
}

}  // namespace salun::report
