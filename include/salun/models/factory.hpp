// Models by name, for command lines and configuration files: "resnet18" and "vgg16_bn".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "salun/models/resnet.hpp"
#include "salun/models/vgg.hpp"

namespace salun::models {

inline const std::vector<std::string>& architectures() {
    static const std::vector<std::string> names{"resnet18", "vgg16_bn"};
    return names;
}

/// The name the results JSON and summary table use ("ResNet-18", "VGG-16-BN").
inline std::string display_name(const std::string& arch) {
    if (arch == "resnet18") return "ResNet-18";
    if (arch == "vgg16_bn") return "VGG-16-BN";
    detail::throw_error("unknown architecture '", arch, "' (choose resnet18 or vgg16_bn)");
}

template <class T = float>
std::shared_ptr<nn::Module<T>> make_model(const std::string& arch, std::size_t num_classes = 10,
                                          Generator& gen = default_generator()) {
    if (arch == "resnet18") return resnet18<T>(num_classes, 64, gen);
    if (arch == "vgg16_bn") return vgg16_bn<T>(num_classes, vgg16_widths(), gen);
    detail::throw_error("unknown architecture '", arch, "' (choose resnet18 or vgg16_bn)");
}

}  // namespace salun::models
