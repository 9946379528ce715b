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
inline std::vector<std::string> architectures() { return {"resnet18", "vgg16_bn"}; }

/// "resnet18" -> "ResNet-18", "vgg16_bn" -> "VGG-16-BN" (unknown names are returned unchanged).
inline std::string display_name(const std::string& arch) {
    if (arch == "resnet18") return "ResNet-18";
    if (arch == "vgg16_bn") return "VGG-16-BN";
    return arch;
}

/// A freshly initialised model of the named architecture (full width), as an nn::Module.
template <class T = float>
std::shared_ptr<nn::Module<T>> make_model(const std::string& arch, std::size_t num_classes = 10,
                                          Generator& gen = default_generator()) {
    if (arch == "resnet18") return resnet18<T>(num_classes, 64, gen);
    if (arch == "vgg16_bn") return vgg16_bn<T>(num_classes, vgg16_widths(), gen);
    std::string known;
    for (const auto& a : architectures()) known += (known.empty() ? "" : ", ") + a;
    detail::throw_error("make_model: unknown architecture '", arch, "' (known: ", known, ")");
}

}  // namespace salun::models
