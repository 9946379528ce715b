// SPDX-License-Identifier: MIT
// Learning-rate schedules with PyTorch's formulas (torch.optim.lr_scheduler, 1.13). Each holds
// a step counter; call `step()` after the optimiser step (per epoch for MultiStepLR and
// CosineAnnealingLR as usually used, per batch for OneCycleLR). The constructor sets the
// initial learning rate, as PyTorch's does.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "salun/optim/sgd.hpp"

namespace salun::optim {

/// lr = base_lr * gamma^(number of milestones <= step)
template <class T>
class MultiStepLR {
public:
    MultiStepLR(SGD<T>& opt, std::vector<long> milestones, double gamma = 0.1)
        : opt_(opt), base_(opt.lr()), milestones_(std::move(milestones)), gamma_(gamma) {
        std::sort(milestones_.begin(), milestones_.end());
    }
    void step() {
        ++t_;
        opt_.set_lr(lr_at(t_));
    }
    double lr_at(long t) const {
        const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();
        return base_ * std::pow(gamma_, double(passed));
    }
    double get_last_lr() const { return opt_.lr(); }

private:
    SGD<T>& opt_;
    double base_;
    std::vector<long> milestones_;
    double gamma_;
    long t_ = 0;
};

/// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2 (PyTorch's closed form)
template <class T>
class CosineAnnealingLR {
public:
    CosineAnnealingLR(SGD<T>& opt, long t_max, double eta_min = 0.0)
        : opt_(opt), base_(opt.lr()), t_max_(t_max), eta_min_(eta_min) {
        SALUN_CHECK(t_max > 0, "CosineAnnealingLR: T_max must be positive");
    }
    void step() {
        ++t_;
        opt_.set_lr(lr_at(t_));
    }
    double lr_at(long t) const {
        return eta_min_ + (base_ - eta_min_) * (1 + std::cos(M_PI * double(t) / double(t_max_))) / 2;
    }
    double get_last_lr() const { return opt_.lr(); }

private:
    SGD<T>& opt_;
    double base_;
    long t_max_;
    double eta_min_;
    long t_ = 0;
};

/// OneCycleLR, two phases with cosine annealing (PyTorch's defaults): lr rises from
/// max_lr/div_factor to max_lr over pct_start of the steps, then falls to
/// initial/final_div_factor; momentum cycles inversely between max_momentum and base_momentum.
template <class T>
class OneCycleLR {
public:
    struct Options {
        double pct_start = 0.3;
        double div_factor = 25.0;
        double final_div_factor = 1e4;
        bool cycle_momentum = true;
        double base_momentum = 0.85;
        double max_momentum = 0.95;
    };

    OneCycleLR(SGD<T>& opt, double max_lr, long total_steps, Options o)
        : opt_(opt), max_lr_(max_lr), total_(total_steps), o_(o) {
        SALUN_CHECK(total_steps > 0, "OneCycleLR: total_steps must be positive");
        SALUN_CHECK(o.pct_start > 0 && o.pct_start < 1, "OneCycleLR: pct_start must be in (0, 1)");
        initial_ = max_lr / o.div_factor;
        min_ = initial_ / o.final_div_factor;
        apply(0);
    }
    OneCycleLR(SGD<T>& opt, double max_lr, long total_steps) : OneCycleLR(opt, max_lr, total_steps, Options{}) {}

    void step() {
        ++t_;
        SALUN_CHECK(t_ <= total_, "OneCycleLR: stepped ", t_, " times, more than total_steps ", total_);
        apply(t_);
    }
    double get_last_lr() const { return opt_.lr(); }
    /// Steps taken (PyTorch's last_epoch); set_last_epoch(n) puts a fresh scheduler, and its
    /// optimiser's lr and momentum, where one stepped n times would be (a resumed run).
    long last_epoch() const { return t_; }
    void set_last_epoch(long t) {
        SALUN_CHECK(t >= 0 && t <= total_, "OneCycleLR: last_epoch ", t, " outside 0..", total_);
        t_ = t;
        apply(t_);
    }

private:
    static double anneal(double start, double end, double pct) { return end + (start - end) / 2 * (std::cos(M_PI * pct) + 1); }

    void apply(long t) {
        const double end1 = o_.pct_start * double(total_) - 1, end2 = double(total_) - 1;
        double lr, mom;
        if (double(t) <= end1) {
            const double pct = double(t) / end1;
            lr = anneal(initial_, max_lr_, pct);
            mom = anneal(o_.max_momentum, o_.base_momentum, pct);
        } else {
            const double pct = (double(t) - end1) / (end2 - end1);
            lr = anneal(max_lr_, min_, pct);
            mom = anneal(o_.base_momentum, o_.max_momentum, pct);
        }
        opt_.set_lr(lr);
        if (o_.cycle_momentum) opt_.set_momentum(mom);
    }

    SGD<T>& opt_;
    double max_lr_;
    long total_;
    Options o_;
    double initial_ = 0, min_ = 0;
    long t_ = 0;
};

}  // namespace salun::optim
