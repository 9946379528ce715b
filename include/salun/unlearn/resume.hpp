// SPDX-License-Identifier: MIT
// Resumable SalUn runs: everything the two-phase loop needs to continue exactly where it stood,
// in one safetensors file written atomically at the end of every phase.
//
//   tensors   "model.<name>"                          the model's state dict (weights, BN buffers)
//             "optimizer.state.<i>.momentum_buffer"   SGD::state_dict()
//             "saliency.<parameter>"                  the averaged |grad| the mask was cut from
//   metadata  "format"    "salun-resume/1"
//             "options"   the run's fingerprint (JSON): a resume with other options is refused
//             "progress"  JSON: phases done (0 = mask computed, 2 * epochs = loop finished), the
//                         seconds spent so far (RTE), the saliency batches, the label generator's
//                         and both loaders' states
//
// Continuing from the file gives the same weights, bit for bit, as never stopping: the data order
// and augmentation are functions of the loaders' saved generator states, phase 1's labels of the
// label generator's, and the update of the weights, BN buffers and momentum buffers restored
// here (at the same thread count: OpenMP reductions are ordered by thread). A run stopped in the
// middle of a phase (Ctrl-C, SIGKILL) repeats that phase from its start.
// The mask is stored as saliency, not recomputed: the saliency pass reads the forget loader's
// first batches, and the resumed run's RTE counts its time once.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/class_index.hpp"
#include "salun/data/loader.hpp"
#include "salun/io/safetensors.hpp"
#include "salun/unlearn/saliency.hpp"
#include "salun/unlearn/salun.hpp"
#include "salun/unlearn/stage.hpp"

namespace salun::unlearn {

inline constexpr const char* kResumeFormat = "salun-resume/1";

/// What run_salun_experiment does about resuming.
struct ResumeOptions {
    std::string path;      ///< resume file, written after the mask and after every phase; empty: none
    bool resume = false;   ///< continue from `path` when it exists (a missing file starts afresh)
    /// The caller's identity of the run (inputs such as the architecture and the checkpoint);
    /// run_salun_experiment adds its own options. A file written with another one is refused.
    nlohmann::ordered_json fingerprint = nlohmann::ordered_json::object();
    /// The caller's state that must survive a resume (run_salun_experiment's per-epoch
    /// evaluations and step log): `save_carried` gives it for every resume file,
    /// `restore_carried` gets it back when resuming. Empty: none.
    std::function<nlohmann::ordered_json()> save_carried;
    std::function<void(const nlohmann::ordered_json&)> restore_carried;
    /// Seconds the caller spent inside the step callback on work that is not the run's own (those
    /// evaluations), subtracted from the run's time. Null: none.
    const double* excluded_seconds = nullptr;
};

/// The contents of a resume file, read back.
struct ResumeFile {
    io::StateDict model, optimizer;
    std::vector<std::string> saliency_names;
    std::vector<io::TensorData> saliency;
    std::size_t phases_done = 0;
    double seconds = 0;
    std::size_t saliency_batches = 0;
    std::string label_generator;
    data::LoaderState forget_loader, retain_loader;
    nlohmann::ordered_json carried;  ///< what ResumeOptions::save_carried gave (null if none)
};

namespace detail {
inline nlohmann::ordered_json loader_json(const data::LoaderState& s) {
    return {{"epochs_started", s.epochs_started}, {"generator", s.generator}};
}
inline data::LoaderState loader_state(const nlohmann::ordered_json& j) {
    return {j.at("epochs_started").get<std::size_t>(), j.at("generator").get<std::string>()};
}
}  // namespace detail

/// "epochs: 2 in the file, 3 now; lr: ..." for the keys whose values differ ("" if none).
inline std::string fingerprint_diff(const nlohmann::ordered_json& file, const nlohmann::ordered_json& now) {
    std::string out;
    auto add = [&](const std::string& k, const std::string& a, const std::string& b) {
        out += (out.empty() ? "" : "; ") + k + ": " + a + " in the file, " + b + " now";
    };
    for (const auto& [k, v] : now.items()) {
        if (!file.contains(k))
            add(k, "absent", v.dump());
        else if (file.at(k) != v)
            add(k, file.at(k).dump(), v.dump());
    }
    for (const auto& [k, v] : file.items())
        if (!now.contains(k)) add(k, v.dump(), "absent");
    return out;
}

/// Writes the state of a SalUn run after `phases_done` phases, atomically (a run killed while
/// writing leaves the previous file intact).
template <class T, class Loader>
void save_resume(const std::string& path, const nlohmann::ordered_json& fingerprint, std::size_t phases_done,
                 double seconds, const nn::Module<T>& model, SalUn<T>& salun, const SaliencyMask<T>& mask,
                 const Loader& forget_loader, const Loader& retain_loader,
                 const nlohmann::ordered_json& carried = nullptr) {
    io::StateDict sd;
    for (const auto& [k, v] : model.state_dict()) sd.insert_or_assign("model." + k, v);
    for (const auto& [k, v] : salun.optimizer().state_dict()) sd.insert_or_assign("optimizer." + k, v);
    for (std::size_t i = 0; i < mask.saliency.size(); ++i) sd.insert_or_assign("saliency." + mask.names[i], mask.saliency[i]);
    nlohmann::ordered_json progress;
    progress["phases_done"] = phases_done;
    progress["seconds"] = seconds;
    progress["saliency_batches"] = mask.batches;
    progress["label_generator"] = salun.label_generator().get_state();
    progress["forget_loader"] = detail::loader_json(forget_loader.state());
    progress["retain_loader"] = detail::loader_json(retain_loader.state());
    if (!carried.is_null()) progress["carried"] = carried;
    io::save_safetensors(path, sd, {{"format", kResumeFormat}, {"options", fingerprint.dump()}, {"progress", progress.dump()}});
}

/// Reads a resume file and checks that it was written for `fingerprint`; a file of another
/// format or run is an error that says what differs.
inline ResumeFile load_resume(const std::string& path, const nlohmann::ordered_json& fingerprint) {
    io::Safetensors st = io::load_safetensors(path);
    auto meta = [&](const char* k) -> const std::string& {
        auto it = st.metadata.find(k);
        SALUN_CHECK(it != st.metadata.end(), "'", path, "' is not a salun resume file (no '", k, "' metadata)");
        return it->second;
    };
    SALUN_CHECK(meta("format") == kResumeFormat, "'", path, "' is a resume file of format '", meta("format"),
                "', this program reads '", kResumeFormat, "'");
    ResumeFile r;
    try {
        const auto options = nlohmann::ordered_json::parse(meta("options"));
        const std::string diff = fingerprint_diff(options, fingerprint);
        SALUN_CHECK(diff.empty(), "'", path, "' was written by a run with other options (", diff,
                    "): run with the same options to resume it, or delete it to start afresh");
        const auto p = nlohmann::ordered_json::parse(meta("progress"));
        r.phases_done = p.at("phases_done").get<std::size_t>();
        r.seconds = p.at("seconds").get<double>();
        r.saliency_batches = p.at("saliency_batches").get<std::size_t>();
        r.label_generator = p.at("label_generator").get<std::string>();
        r.forget_loader = detail::loader_state(p.at("forget_loader"));
        r.retain_loader = detail::loader_state(p.at("retain_loader"));
        if (p.contains("carried")) r.carried = p.at("carried");
    } catch (const nlohmann::json::exception& e) {
        ::salun::detail::throw_error("'", path, "': malformed resume metadata: ", e.what());
    }
    for (const auto& [k, v] : st.tensors) {
        if (k.rfind("model.", 0) == 0)
            r.model.insert_or_assign(k.substr(6), v);
        else if (k.rfind("optimizer.", 0) == 0)
            r.optimizer.insert_or_assign(k.substr(10), v);
        else if (k.rfind("saliency.", 0) == 0) {
            r.saliency_names.push_back(k.substr(9));
            r.saliency.push_back(v);
        } else
            ::salun::detail::throw_error("'", path, "': unexpected tensor '", k, "' in a resume file");
    }
    return r;
}

/// The mask of a resume file, cut from its saliency as compute_saliency_mask cut it. The
/// parameter names must be the model's, in order.
template <class T>
SaliencyMask<T> resume_mask(const ResumeFile& r, const nn::Module<T>& model, double threshold) {
    const auto named = model.named_parameters();
    SALUN_CHECK(named.size() == r.saliency.size(), "resume: the file holds saliency for ", r.saliency.size(),
                " parameters, the model has ", named.size());
    std::vector<Tensor<T>> saliency;
    for (std::size_t i = 0; i < named.size(); ++i) {
        SALUN_CHECK(r.saliency_names[i] == named[i].first && r.saliency[i].shape == named[i].second.shape(),
                    "resume: saliency entry ", i, " is '", r.saliency_names[i], "' ", shape_str(r.saliency[i].shape),
                    ", the model's parameter is '", named[i].first, "' ", shape_str(named[i].second.shape()));
        saliency.push_back(r.saliency[i].template to_tensor<T>());
    }
    SaliencyMask<T> m = mask_from_saliency(r.saliency_names, std::move(saliency), threshold);
    m.batches = r.saliency_batches;
    return m;
}

/// Puts the model, the optimiser, the label generator and the loaders where the file left them.
template <class T, class Loader>
void restore_resume(const ResumeFile& r, nn::Module<T>& model, SalUn<T>& salun, Loader& forget_loader,
                    Loader& retain_loader) {
    model.load_state_dict(r.model);
    salun.optimizer().load_state_dict(r.optimizer);
    salun.label_generator().set_state(r.label_generator);
    forget_loader.load_state(r.forget_loader);
    retain_loader.load_state(r.retain_loader);
}

/// Whether resumable_salun will continue from a file: asked to resume, and the file is there.
inline bool resume_file_present(const ResumeOptions& resume) {
    return resume.resume && !resume.path.empty() && std::ifstream(resume.path).good();
}

/// SalUn's mask and two-phase loop (compute_saliency_mask, then salun_train), resumable: with
/// `resume.path` set it writes the resume file after the mask and after every phase, and with
/// `resume.resume` it continues from that file when there is one. `seconds` gets the time of the
/// mask and the loop, the earlier runs' included. `on_stage` hears Stage::Saliency (or
/// Stage::Resumed when a file was read) and Stage::Unlearn. The file stays when done: the caller deletes it once its
/// own outputs are written.
template <class T>
SaliencyMask<T> resumable_salun(nn::Module<T>& model, data::DataLoader<T>& mask_loader,
                                data::DataLoader<T>& forget_loader, data::DataLoader<T>& retain_loader,
                                ClassIndex forget_class, const SaliencyOptions& saliency, const SalUnOptions& o,
                                const ResumeOptions& resume, const StepCallback& on_step,
                                const StageCallback& on_stage, double& seconds) {
    auto stage = [&](Stage s) {
        if (on_stage) on_stage(s);
    };
    const auto t0 = std::chrono::steady_clock::now();
    double before = 0;
    auto elapsed = [&] {
        const double excluded = resume.excluded_seconds ? *resume.excluded_seconds : 0.0;
        return before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - excluded;
    };
    std::optional<ResumeFile> file;
    if (resume_file_present(resume)) file = load_resume(resume.path, resume.fingerprint);
    SaliencyMask<T> mask;
    if (file) {
        mask = resume_mask(*file, model, saliency.threshold);
        before = file->seconds;
        stage(Stage::Resumed);
    } else {
        stage(Stage::Saliency);
        mask = compute_saliency_mask(model, mask_loader, saliency);
    }
    SalUn<T> salun(model, mask, forget_class, o);
    salun.on_step = on_step;
    std::size_t done = 0;
    if (file) {
        restore_resume(*file, model, salun, forget_loader, retain_loader);
        done = file->phases_done;
        if (resume.restore_carried && !file->carried.is_null()) resume.restore_carried(file->carried);
        SALUN_CHECK(done <= 2 * std::size_t(o.epochs), "'", resume.path, "' has ", done, " phases done, more than ",
                    2 * o.epochs);
        file.reset();  // the tensors are in the model now
    }
    auto checkpoint = [&] {
        if (!resume.path.empty())
            save_resume(resume.path, resume.fingerprint, done, elapsed(), model, salun, mask, forget_loader, retain_loader,
                        resume.save_carried ? resume.save_carried() : nlohmann::ordered_json());
    };
    if (done == 0) checkpoint();
    stage(Stage::Unlearn);
    for (; done < 2 * std::size_t(o.epochs); ) {
        const int epoch = static_cast<int>(done / 2);
        if (done % 2 == 0)
            salun.forget_phase(forget_loader, epoch);
        else
            salun.retain_phase(retain_loader, epoch);
        ++done;
        checkpoint();
    }
    salun.finish();
    seconds = elapsed();
    return mask;
}

}  // namespace salun::unlearn
