// SPDX-License-Identifier: MIT
// The results JSON of one unlearning run, in the reference layout (keys, order and rounding as
// the comparison tool expects; see docs/salun.md): CreatedAt, ID, FC, Type, Model, Base, Method,
// Epoch, BS, LR, UA, RA, TUA, TRA, RTE, FQS, accs, t_accs, label_dist, conf_dist, t_label_dist,
// t_conf_dist, then the optional points, attack, cka (when set), then method-specific fields.
// With a retrained reference `PS` (the comparison tool's privacy score) follows FQS.
// label_dist and conf_dist are rounded to 4 and conf_dist has the helper's definition (the seed's
// own output; metrics.hpp). Last comes salun_version, the library that wrote it. Written atomically.
#pragma once

#include <cmath>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/class_index.hpp"
#include "salun/io/atomic_file.hpp"
#include "salun/unlearn/metrics.hpp"
#include "salun/version.hpp"

namespace salun::unlearn {

inline double round_to(double x, int decimals) {
    const double s = std::pow(10.0, decimals);
    return std::round(x * s) / s;
}

struct RunReport {
    std::string created_at;  // "%Y-%m-%d %H:%M:%S"
    std::string id;          // 4 hex characters
    ClassIndex forget_class = 0;
    std::string model;       // "ResNet-18" / "VGG-16-BN"
    std::string base;        // checkpoint name
    std::string method = "SalUn";
    int epochs = 0;
    std::size_t batch_size = 0;
    double lr = 0;
    double seconds = 0;      // RTE: saliency + unlearning wall time
    ClassMetrics train, test;
    double fqs = 0;
    std::optional<double> ps;       // privacy score against a retrained reference
    std::optional<double> avg_gap;  // mean |UA, RA, TUA, TRA - the reference's|
    double saliency_threshold = 0;  // 0: not a masked method, no field
    // the reference layout's optional fields, written after t_conf_dist when not null
    nlohmann::ordered_json points, attack, cka;
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more method-specific fields
};

inline std::string now_string() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

inline nlohmann::ordered_json rounded(const std::vector<double>& v, int decimals) {
    auto a = nlohmann::ordered_json::array();
    for (double x : v) a.push_back(round_to(x, decimals));
    return a;
}

inline nlohmann::ordered_json dist_json(const std::vector<std::vector<double>>& d, int decimals = 4) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < d.size(); ++i) o["gt_" + std::to_string(i)] = rounded(d[i], decimals);
    return o;
}

/// Writes UA, RA, TUA, TRA (rounded to 3 decimals, as the reference does) into `j`: the results'
/// own fields and the rows of `per_epoch`.
inline void put_accuracies(nlohmann::ordered_json& j, const ClassMetrics& train, const ClassMetrics& test,
                           ClassIndex forget_class) {
    const auto [ua, ra] = forget_retain_accuracy(train, forget_class);
    const auto [tua, tra] = forget_retain_accuracy(test, forget_class);
    j["UA"] = round_to(ua, 3);
    j["RA"] = round_to(ra, 3);
    j["TUA"] = round_to(tua, 3);
    j["TRA"] = round_to(tra, 3);
}

inline nlohmann::ordered_json to_json(const RunReport& r) {
    nlohmann::ordered_json j;
    j["CreatedAt"] = r.created_at;
    j["ID"] = r.id;
    j["FC"] = r.forget_class;
    j["Type"] = "Unlearned";
    j["Model"] = r.model;
    j["Base"] = r.base;
    j["Method"] = r.method;
    j["Epoch"] = r.epochs;
    j["BS"] = r.batch_size;
    j["LR"] = r.lr;
    put_accuracies(j, r.train, r.test, r.forget_class);
    j["RTE"] = round_to(r.seconds, 1);
    j["FQS"] = round_to(r.fqs, 4);
    if (r.ps) j["PS"] = round_to(*r.ps, 3);
    j["accs"] = rounded(r.train.accs, 3);
    j["t_accs"] = rounded(r.test.accs, 3);
    j["label_dist"] = dist_json(r.train.label_dist);
    j["conf_dist"] = dist_json(r.train.conf_dist);
    j["t_label_dist"] = dist_json(r.test.label_dist);
    j["t_conf_dist"] = dist_json(r.test.conf_dist);
    if (!r.points.is_null()) j["points"] = r.points;
    if (!r.attack.is_null()) j["attack"] = r.attack;
    if (!r.cka.is_null()) j["cka"] = r.cka;
    if (r.saliency_threshold > 0) j["saliency_threshold"] = r.saliency_threshold;
    for (const auto& [k, v] : r.extra.items()) j[k] = v;
    j["salun_version"] = SALUN_VERSION_STRING;  // results from different library versions can differ
    return j;
}

/// Writes the report to `path` atomically (temp file, then rename).
inline void write_report(const std::string& path, const RunReport& r) {
    io::write_file_atomic(path, to_json(r).dump(2) + "\n");
}

}  // namespace salun::unlearn
