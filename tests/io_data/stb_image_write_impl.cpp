// SPDX-License-Identifier: MIT
// The one definition of stb_image_write in test_io_data, whose other files only declare it
// (stb_image_write_impl.hpp with SALUN_STB_IMAGE_WRITE_DECLARE_ONLY, set in tests/CMakeLists.txt).
//
// A file of its own so that only this third-party encoder is compiled with
// -fno-sanitize=shift-base: its JPEG bit writer shifts a negative int left (stbiw__jpg_writeBits,
// `bitBuf <<= 8` at stb_image_write.h:1263 in Debian's libstb 0.0~git20220908; upstream
// nothings/stb#1433, still open), which is undefined in C++17 but defined by C++20 and by GCC and
// Clang, and which UBSan reports for every JPEG written (scripts/ci/sanitize.sh). salun's code and
// stb_image's decoder keep the full check.
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
