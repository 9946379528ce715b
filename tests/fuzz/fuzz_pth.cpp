// SPDX-License-Identifier: MIT
// libFuzzer harness for PyTorch .pth checkpoints (salun/io/torch_checkpoint.hpp, zip_reader.hpp,
// pickle.hpp).
//
// Each input goes two ways: as a whole .pth file (CRC checks off, so that mutations reach the
// pickle and the storages behind them) and as a bare pickle (data.pkl) for the restricted
// unpickler. Any bytes must either load or throw salun::Error, never crash, hang or run anything.
// What loads must be consistent (byte counts match shapes and dtypes), and writing it as .pth and
// reading that back must give the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "salun/io/torch_checkpoint.hpp"

namespace {

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_pth: property violated: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace salun::io;
    try {
        pickle::Unpickler u(data, size, "fuzz pickle");
        u.load();
    } catch (const salun::Error&) {
    }

    TorchCheckpoint ck;
    try {
        ck = parse_torch_checkpoint(data, size, "fuzz input", /*check_crc=*/false);
    } catch (const salun::Error&) {
        return 0;
    }
    for (const auto& [name, d] : ck.tensors)
        require(d.bytes.size() == d.numel() * dtype_size(d.dtype), "byte count == numel * dtype size");

    std::ostringstream out;
    write_torch_checkpoint(out, ck.tensors);
    const std::string bytes = out.str();
    const TorchCheckpoint again =
        parse_torch_checkpoint(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "round trip");
    require(again.tensors == ck.tensors, "round trip keeps the tensors");
    return 0;
}
