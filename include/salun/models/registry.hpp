// SPDX-License-Identifier: MIT
// Models by name, for programs that pick the architecture at run time (the demo's --arch):
// architectures() lists the names, make_model() builds one, display_name() titles it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "salun/models/resnet.hpp"
#include "salun/models/vgg.hpp"

namespace salun::models {

/// The architecture names make_model() accepts, as the checkpoints' "arch" metadata spells them.
/// vgg16_bn is the CIFAR layout of the shared checkpoint; vgg16_bn_timm the reference notebook's
/// timm model (with pre_logits).
inline std::vector<std::string> architectures() { return {"resnet18", "vgg16_bn", "vgg16_bn_timm"}; }

/// "resnet18" -> "ResNet-18", "vgg16_bn" and "vgg16_bn_timm" -> "VGG-16-BN" (the results' Model
/// field, as the reference names its timm model; unknown names are returned unchanged).
inline std::string display_name(const std::string& arch) {
    if (arch == "resnet18") return "ResNet-18";
    if (arch == "vgg16_bn" || arch == "vgg16_bn_timm") return "VGG-16-BN";
    return arch;
}

/// A freshly initialised model of the named architecture (full width), as an nn::Module.
template <class T = float>
std::shared_ptr<nn::Module<T>> make_model(const std::string& arch, std::size_t num_classes = 10,
                                          Generator& gen = default_generator()) {
    if (arch == "resnet18") return resnet18<T>(num_classes, 64, gen);
    if (arch == "vgg16_bn") return vgg16_bn<T>(num_classes, vgg16_widths(), gen);
    if (arch == "vgg16_bn_timm") return vgg16_bn_timm<T>(num_classes, vgg16_widths(), kTimmPreLogits, gen);
    std::string known;
    for (const auto& a : architectures()) known += (known.empty() ? "" : ", ") + a;
    detail::throw_error("make_model: unknown architecture '", arch, "' (known: ", known, ")");
}

}  // namespace salun::models
