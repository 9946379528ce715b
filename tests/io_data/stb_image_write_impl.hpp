// SPDX-License-Identifier: MIT
// stb_image_write for the tests, with internal linkage (same trick as salun/data/stb_image_impl.hpp).
// In test_io_data (SALUN_STB_IMAGE_WRITE_DECLARE_ONLY) it is only declared here and defined once,
// in io_data/stb_image_write_impl.cpp, which alone skips UBSan's shift-base check (see there).
#pragma once

#if defined(SALUN_STB_IMAGE_WRITE_DECLARE_ONLY)
#include <stb_image_write.h>
#else
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif  // SALUN_STB_IMAGE_WRITE_DECLARE_ONLY
