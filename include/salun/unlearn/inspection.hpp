// SPDX-License-Identifier: MIT
// Inspection outputs of an unlearning run, for people who want to see what happened:
//   StepLog                every optimiser step (epoch, phase, batch, loss, learning rate and the
//                          three gradient norms: raw, masked, clipped) as JSON lines
//   saliency_layers_json   the mask's per-parameter statistics, for the results JSON
//   mask_state_dict        the mask as named 0/1 tensors (parameter names), e.g. for safetensors:
//                          PyTorch users load it with safetensors.torch.load_file and multiply
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/io/atomic_file.hpp"
#include "salun/io/state_dict.hpp"
#include "salun/unlearn/results.hpp"
#include "salun/unlearn/saliency.hpp"
#include "salun/unlearn/salun.hpp"

namespace salun::unlearn {

/// Collects StepInfo records (pass `callback()` as a step callback, or call record()) and writes
/// them as one JSON object per line. Kept in memory and written at once, atomically: a run
/// killed halfway leaves no half-written log (a few thousand lines for the reference's run).
/// rows() / assign() carry it through a resume file (run_salun_experiment does).
class StepLog {
public:
    void record(const StepInfo& s) {
        nlohmann::json j;
        j["epoch"] = s.epoch;
        j["phase"] = phase_name(s.phase);
        j["batch"] = s.batch;
        j["batch_size"] = s.batch_size;
        j["loss"] = s.loss;
        j["lr"] = s.lr;
        j["grad_norm"] = s.grad_norm;
        j["masked_grad_norm"] = s.masked_grad_norm;
        j["clipped_grad_norm"] = s.clipped_grad_norm;
        rows_.push_back(std::move(j));
    }
    StepCallback callback() {
        return [this](const StepInfo& s) { record(s); };
    }
    std::size_t size() const { return rows_.size(); }
    /// Every step so far, as a JSON array of the objects the lines hold.
    const nlohmann::json& rows() const { return rows_; }
    /// Replaces the log with `rows` (an array from rows()).
    void assign(const nlohmann::json& rows) {
        SALUN_CHECK(rows.is_array(), "StepLog::assign: expected an array of steps, got ", rows.type_name());
        rows_ = rows;
    }
    std::string text() const {
        std::string out;
        for (const auto& row : rows_) out += row.dump() + "\n";
        return out;
    }
    void write(const std::string& path) const { io::write_file_atomic(path, text()); }

private:
    nlohmann::json rows_ = nlohmann::json::array();
};

/// [{"name", "numel", "selected", "fraction", "saliency_mean"}, ...] in named_parameters() order.
template <class T>
nlohmann::json saliency_layers_json(const SaliencyMask<T>& mask) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : mask.layers)
        layers.push_back({{"name", l.name},
                          {"numel", l.numel},
                          {"selected", l.selected},
                          {"fraction", round_to(l.selected_fraction, 4)},
                          {"saliency_mean", l.grad_mean}});
    return layers;
}

/// The mask as a state dict: parameter name -> 0/1 tensor of the parameter's shape (float32).
template <class T>
io::StateDict mask_state_dict(const SaliencyMask<T>& mask) {
    io::StateDict sd;
    for (std::size_t i = 0; i < mask.masks.size(); ++i)
        sd.insert_or_assign(mask.names.at(i), io::TensorData::from_tensor(mask.masks[i].cpu(), io::DType::F32));
    return sd;
}

}  // namespace salun::unlearn
