// SPDX-License-Identifier: MIT
// Machine unlearning: the SalUn saliency mask, the two-phase loop, the baselines (retrain, FT,
// GA, RL), metrics, the points map, CKA, attack curves, the privacy score, and the results JSON.
#pragma once

#include "salun/unlearn/attack.hpp"
#include "salun/unlearn/cka.hpp"
#include "salun/unlearn/experiment.hpp"
#include "salun/unlearn/loss.hpp"
#include "salun/unlearn/methods.hpp"
#include "salun/unlearn/metrics.hpp"
#include "salun/unlearn/privacy.hpp"
#include "salun/unlearn/points.hpp"
#include "salun/unlearn/randperm.hpp"
#include "salun/unlearn/results.hpp"
#include "salun/unlearn/saliency.hpp"
#include "salun/unlearn/salun.hpp"
#include "salun/unlearn/stage.hpp"
