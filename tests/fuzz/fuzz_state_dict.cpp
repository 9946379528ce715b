// SPDX-License-Identifier: MIT
// libFuzzer harness for loading a checkpoint into a model (Module::load_state_dict in
// salun/nn/module.hpp, fed by the safetensors reader): wrong names, shapes and dtypes.
//
// The input is a safetensors file; it is loaded, strictly and not, into narrow copies of both
// architectures (the seeds are their state dicts, corpus/state_dict/). A load either succeeds or
// throws salun::Error; a failed load leaves the model untouched (everything is checked before
// anything is copied); after a successful one the model holds the file's values converted to
// float, and a non-strict load keeps what the file lacks.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "salun/io/safetensors.hpp"
#include "salun/models/registry.hpp"

namespace {

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_state_dict: property violated: %s\n", what);
        std::abort();
    }
}

using Model = salun::nn::Module<float>;

// The same narrow models as make_seeds.cpp writes seeds for (keep the two in step).
Model& resnet() {
    static const std::shared_ptr<Model> m = salun::models::resnet18<float>(10, 1);
    return *m;
}
Model& vgg() {
    static const std::shared_ptr<Model> m = [] {
        const std::size_t M = salun::models::kMaxPool;
        return salun::models::vgg16_bn<float>(10, {1, 1, M, 2, 2, M, 2, 2, 2, M, 2, 2, 2, M, 2, 2, 2, M});
    }();
    return *m;
}

/// `d` as the model would hold it (floating values converted to float, counters as they are).
salun::io::TensorData as_loaded(const salun::io::TensorData& d) {
    if (d.dtype == salun::io::DType::I64) return d;
    return salun::io::TensorData::from_tensor(d.to_tensor<float>());
}

void load_into(Model& model, const salun::io::StateDict& sd, bool strict) {
    const salun::io::StateDict before = model.state_dict();
    try {
        model.load_state_dict(sd, strict);
    } catch (const salun::Error&) {
        require(model.state_dict() == before, "a failed load leaves the model unchanged");
        return;
    }
    const salun::io::StateDict after = model.state_dict();
    for (const auto& [name, d] : after) {
        const auto it = sd.find(name);
        if (it == sd.end()) {
            require(!strict, "a strict load sets every entry");
            require(d == before.at(name), "a non-strict load keeps entries the file lacks");
            continue;
        }
        require(d == as_loaded(it->second), "a loaded entry holds the file's value, converted to float");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    salun::io::Safetensors st;
    try {
        st = salun::io::parse_safetensors(data, size, "fuzz input");
    } catch (const salun::Error&) {
        return 0;
    }
    for (Model* m : {&resnet(), &vgg()}) {
        load_into(*m, st.tensors, true);
        load_into(*m, st.tensors, false);
    }
    return 0;
}
