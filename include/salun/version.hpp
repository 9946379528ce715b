// SPDX-License-Identifier: MIT
// salun's version: the one place it is written. CMake reads these lines for project(VERSION ...)
// (so the package's salunConfigVersion.cmake agrees), salun-demo prints them with --version and
// the results JSON records them. A checked-in header rather than one configured into the build
// tree, so a project that copies include/ without running CMake still gets the right version
// (xtensor does the same with xtensor_config.hpp).
#pragma once

#define SALUN_VERSION_MAJOR 0
#define SALUN_VERSION_MINOR 1
#define SALUN_VERSION_PATCH 0

#define SALUN_VERSION_STRINGIFY_(x) #x
#define SALUN_VERSION_STRINGIFY(x) SALUN_VERSION_STRINGIFY_(x)
/// "MAJOR.MINOR.PATCH"
#define SALUN_VERSION_STRING                                                          \
    SALUN_VERSION_STRINGIFY(SALUN_VERSION_MAJOR) "." SALUN_VERSION_STRINGIFY(SALUN_VERSION_MINOR) "." \
        SALUN_VERSION_STRINGIFY(SALUN_VERSION_PATCH)
/// One number that compares: MAJOR * 10000 + MINOR * 100 + PATCH.
#define SALUN_VERSION (SALUN_VERSION_MAJOR * 10000 + SALUN_VERSION_MINOR * 100 + SALUN_VERSION_PATCH)

namespace salun {
/// The library's version as "MAJOR.MINOR.PATCH" (the header this binary was compiled with).
inline constexpr const char* version_string() { return SALUN_VERSION_STRING; }
}  // namespace salun
