// SPDX-License-Identifier: MIT
// stb_image, compiled into every translation unit that includes this header with internal
// linkage (STB_IMAGE_STATIC), so a header-only library can use it without a .cpp file and
// without duplicate symbols. Only the PNG, JPEG and BMP decoders are compiled.
//
// Include this header instead of <stb_image.h>. If a translation unit already included
// <stb_image.h> (declarations with external linkage) before this header, the static definitions
// would clash: include salun headers first, or use your own stb build in that translation unit.
#pragma once

#if !defined(SALUN_STB_IMAGE_IMPL_DONE)
#define SALUN_STB_IMAGE_IMPL_DONE

#if defined(STBI_INCLUDE_STB_IMAGE_H)
#error "salun/data/stb_image_impl.hpp must be included before <stb_image.h> in this translation unit"
#endif

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#endif

// Zeroed allocations: stb_image 2.27 allocates its JPEG decoder state with malloc, and a scan may
// use a Huffman table no DHT segment defined; its garbage then indexed megabytes past a 257-entry
// array (found by tests/fuzz/fuzz_image.cpp). An all-zero table decodes every code as symbol 0.
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC(p, size) realloc(p, size)
#define STBI_FREE(p) free(p)
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#undef STB_IMAGE_IMPLEMENTATION
#undef STBI_ONLY_PNG
#undef STBI_ONLY_JPEG
#undef STBI_ONLY_BMP

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif  // SALUN_STB_IMAGE_IMPL_DONE
