// Machine unlearning: the SalUn saliency mask, the two-phase loop, metrics and results JSON.
#pragma once

#include "salun/unlearn/experiment.hpp"
#include "salun/unlearn/loss.hpp"
#include "salun/unlearn/metrics.hpp"
#include "salun/unlearn/results.hpp"
#include "salun/unlearn/saliency.hpp"
#include "salun/unlearn/salun.hpp"
