// SPDX-License-Identifier: MIT
// libFuzzer harness for the safetensors reader (salun/io/safetensors.hpp).
//
// Any bytes must either load or throw salun::Error. What loads must be consistent (byte counts
// match shapes and dtypes, every tensor converts), and writing it back and reading that again
// must give the same tensors and metadata.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "salun/io/safetensors.hpp"

namespace {

// A failed property is a bug, not an input error: abort so that libFuzzer keeps the input.
void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_safetensors: property violated: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace salun::io;
    Safetensors st;
    try {
        st = parse_safetensors(data, size, "fuzz input");
    } catch (const salun::Error&) {
        return 0;
    }

    for (const auto& [name, d] : st.tensors) {
        require(d.bytes.size() == d.numel() * dtype_size(d.dtype), "byte count == numel * dtype size");
        if (d.dtype == DType::I64) {
            require(d.to_int64().size() == d.numel(), "to_int64 gives numel values");
        } else {
            require(d.to_tensor<float>().numel() == d.numel(), "to_tensor<float> keeps numel");
            require(d.to_tensor<double>().shape() == d.shape, "to_tensor<double> keeps the shape");
        }
    }

    std::ostringstream out;
    write_safetensors(out, st.tensors, st.metadata);
    const std::string bytes = out.str();
    const Safetensors again =
        parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "round trip");
    require(again.tensors == st.tensors, "round trip keeps the tensors");
    require(again.metadata == st.metadata, "round trip keeps the metadata");
    return 0;
}
