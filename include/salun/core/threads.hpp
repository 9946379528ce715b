// SPDX-License-Identifier: MIT
// Thread control for the OpenMP kernels. Nothing here runs by itself: until a program calls
// init_threads_from_env() or set_num_threads(), OpenMP's own default (or OMP_NUM_THREADS)
// applies. init_threads_from_env() sets the number of physical cores (hyper-threads slow dense
// kernels down), unless SALUN_NUM_THREADS, then OMP_NUM_THREADS, say otherwise;
// set_num_threads() overrides everything (the demo's --threads).
#pragma once

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "salun/core/error.hpp"

namespace salun {

/// Physical cores from /proc/cpuinfo (Linux); falls back to the logical count.
inline int physical_cores() {
    std::ifstream f("/proc/cpuinfo");
    std::set<std::pair<int, int>> cores;
    int phys = 0, core = -1;
    std::string line;
    while (std::getline(f, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
        const int value = std::atoi(line.c_str() + colon + 1);
        if (key == "physical id") phys = value;
        if (key == "core id") {
            core = value;
            cores.insert({phys, core});
        }
    }
    const int logical = static_cast<int>(std::thread::hardware_concurrency());
    if (cores.empty()) return logical > 0 ? logical : 1;
    return static_cast<int>(cores.size());
}

inline void set_num_threads(int n) {
    SALUN_CHECK(n > 0, "set_num_threads: need a positive thread count, got ", n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

inline int get_num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/// A whole positive int from `s` (decimal, surrounding spaces allowed), or 0 if it is anything
/// else ("4x", "", "-2", "1e3", or beyond INT_MAX): atoi would read "4x" as 4 and "x" as 0.
inline int parse_positive_int(const char* s) {
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || errno == ERANGE || v <= 0 || v > INT_MAX) return 0;
    while (*end == ' ' || *end == '\t' || *end == '\n') ++end;
    return *end == '\0' ? static_cast<int>(v) : 0;
}

/// Applies the default policy once: SALUN_NUM_THREADS, else OMP_NUM_THREADS (which OpenMP
/// already honours), else the physical core count. Returns the count in force. An invalid
/// SALUN_NUM_THREADS is an error that names it, not silently another count.
inline int init_threads_from_env() {
    if (const char* s = std::getenv("SALUN_NUM_THREADS"); s && *s) {
        const int n = parse_positive_int(s);
        SALUN_CHECK(n > 0, "SALUN_NUM_THREADS must be a positive integer (at most ", INT_MAX, "), got '", s, "'");
        set_num_threads(n);
    } else if (const char* o = std::getenv("OMP_NUM_THREADS"); !(o && *o)) {
        set_num_threads(physical_cores());
    }
    return get_num_threads();
}

}  // namespace salun
