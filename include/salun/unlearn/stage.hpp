// SPDX-License-Identifier: MIT
// The stages of an unlearning run, in the order run_salun_experiment reaches them, as reported
// to its `on_stage` callback (and to resumable_salun's). stage_name gives each one's printed
// name ("eval-train", ...), e.g. for progress output. With ExperimentOptions::eval_every_epoch the
// evaluation stages also come before the method (epoch 0) and after each epoch but the last, and
// Unlearn comes again after each of those mid-loop evaluations.
#pragma once

#include <functional>

namespace salun::unlearn {

enum class Stage {
    Saliency,   ///< computing the saliency mask (SalUn)
    Resumed,    ///< instead of Saliency: the mask and progress were read from a resume file
    Unlearn,    ///< the unlearning loop (SalUn's two phases, or a baseline's)
    EvalTrain,  ///< evaluation on the training pool
    EvalTest,   ///< evaluation on the test set
    Points,     ///< the `points` field: a forward pass of the subset and its UMAP embedding
    Attack,     ///< the `attack` field: curves from the training-set evaluation
    Cka,        ///< the `cka` field: both models over the CKA sets
    Privacy,    ///< the privacy score against the retrained reference
};

inline const char* stage_name(Stage s) {
    switch (s) {
    case Stage::Saliency: return "saliency";
    case Stage::Resumed: return "resumed";
    case Stage::Unlearn: return "unlearn";
    case Stage::EvalTrain: return "eval-train";
    case Stage::EvalTest: return "eval-test";
    case Stage::Points: return "points";
    case Stage::Attack: return "attack";
    case Stage::Cka: return "cka";
    case Stage::Privacy: return "privacy";
    }
    return "?";
}

using StageCallback = std::function<void(Stage)>;

}  // namespace salun::unlearn
