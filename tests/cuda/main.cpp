// SPDX-License-Identifier: MIT
// test_cuda's runner. Without a usable GPU only the GPU-free suite ("seam": the device seam's
// errors and the shared element-wise bodies) can run: asked for anything else, the executable
// prints why and exits 77, which CTest reports as *skipped* (SKIP_RETURN_CODE), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#include "salun/core/device.hpp"

int main(int argc, char** argv) {
    bool seam_only = false;
    for (int i = 1; i < argc; ++i)
        if (std::strstr(argv[i], "test-suite=seam") || std::strstr(argv[i], "ts=seam")) seam_only = true;
    if (!seam_only && !salun::device_available(salun::Device::cuda)) {
        std::printf("test_cuda: skipped: no usable CUDA device (%s); the GPU tests need one.\n"
                    "test_cuda: exit status 77 (reported as skipped by CTest). GPU-free part: test_cuda -ts=seam\n",
                    salun::cuda::device_status().c_str());
        return 77;
    }
    if (!seam_only) std::printf("test_cuda: on %s\n", salun::cuda::device_status().c_str());
    return doctest::Context(argc, argv).run();
}
