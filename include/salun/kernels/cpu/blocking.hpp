// SPDX-License-Identifier: MIT
// Cache blocking of the GEMM: MC x KC blocks of A, KC x NC blocks of B, derived from the tile
// shape and the data-cache sizes read at run time, in the spirit of BLIS's analytical model (Low,
// Igual, Smith and Quintana-Orti, 2016) but with KC set by measurement:
//
//   KC: 512 k steps for every tile. The textbook rule (B and the streaming A slivers sharing the L1
//       ways in proportion NR : MR) gives KC = 144-170 for the AVX2 and AVX-512 float tiles;
//       that measured 5-15% slower than 256 on Zen 3 and Zen 4, and 256 measured 5-12 points of
//       the FMA peak slower than 512 on an Intel Xeon (Emerald Rapids, 48 KiB L1, 2 MiB L2) for
//       the large GEMMs, in every layout (docs/performance.md). Each C tile is loaded and stored
//       once per KC steps, and the C rows of a power-of-two leading dimension share one L1 set;
//       with hardware prefetch, fewer C-tile visits count for more than keeping the B sliver
//       inside L1 (at 512 the AVX-512 float sliver is 64 KiB and streams from L2). Zen 4's
//       earlier sweeps gained nothing past 256.
//   MC: the MC x KC block of A fills a quarter of L2: the rest holds the B sliver, which no longer
//       fits in L1 at this KC, and the C tiles (a half of L2 measured 2-3 points slower on the
//       Xeon at KC = 512). Zen 4 has not been measured with these two rules.
//   NC: the KC x NC block of B fills half of one core's share of L3 (at most 8192 columns).
//
// The convolutions' own packed GEMMs (Winograd, the implicit weight gradient) keep one B sliver in
// L1 while the A slivers stream past it; their K block is sliver_kc (the sliver fills the L1, at
// most 256 k steps), which measured a few per cent faster there than 512 (docs/performance.md).
//
// Invariants that the packing buffers rely on (checked by make_blocking and by the tests):
// MC is a multiple of MR, NC a multiple of NR, every value >= one tile. Packed buffers are sized
// from the padded extents (round_up(min(MC + MC / 4, M), MR) x KC and KC x round_up(min(NC, N),
// NR)), so they would stay correct even for a blocking that broke the invariants.
//
// SALUN_GEMM_BLOCKING="MC,KC,NC" overrides the general GEMM's derived values (rounded to the tile)
// for tuning.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace salun::kernels::cpu::detail {

/// GEMM block sizes in elements.
struct GemmBlocking {
    std::size_t MC, KC, NC;
};

/// Data-cache geometry of one core (bytes). l3 is the whole shared L3; cores share it.
struct CacheInfo {
    std::size_t l1 = 32 * 1024;
    std::size_t l2 = 1024 * 1024;
    std::size_t l3 = 8 * 1024 * 1024;
    std::size_t cores = 1;  // cores sharing the L3
};

inline constexpr std::size_t round_up(std::size_t v, std::size_t m) { return (v + m - 1) / m * m; }
inline constexpr std::size_t round_down_at_least(std::size_t v, std::size_t m) { return std::max(m, v / m * m); }

/// K steps per micro-kernel call of the general GEMM (see the header comment).
constexpr std::size_t kGemmKC = 512;

/// Blocking for an MR x NR tile of T on caches `c` (see the header comment).
template <class T, std::size_t MR, std::size_t NR>
GemmBlocking make_blocking(const CacheInfo& c) {
    const std::size_t kc = kGemmKC;
    const std::size_t mc = round_down_at_least(c.l2 / 4 / (kc * sizeof(T)), MR);
    const std::size_t l3_share = c.l3 / std::max<std::size_t>(c.cores, 1);
    const std::size_t nc = round_down_at_least(std::min<std::size_t>(l3_share / 2 / (kc * sizeof(T)), 8192), NR);
    return {std::min<std::size_t>(mc, round_down_at_least(1024, MR)), kc, nc};
}

/// K steps of a KC x NR sliver of T that fills the L1, in [64, 256] and a multiple of 8 (whole
/// cache lines of the A stream for float): the K block of GEMMs that keep one B sliver in L1.
template <class T, std::size_t NR>
constexpr std::size_t l1_sliver_kc(const CacheInfo& c) {
    return std::clamp<std::size_t>(c.l1 / (NR * sizeof(T)) / 8 * 8, 64, 256);
}

namespace cache_detail {

/// Parses a sysfs cache size such as "32K", "1024K", "32M"; 0 if unreadable.
inline std::size_t parse_size(const std::string& s) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (end == s.c_str()) return 0;
    if (*end == 'K') return std::size_t(v) * 1024;
    if (*end == 'M') return std::size_t(v) * 1024 * 1024;
    return std::size_t(v);
}

inline std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

/// Number of CPUs in a sysfs shared_cpu_list such as "0-7,16-23".
inline std::size_t count_cpu_list(const std::string& s) {
    std::size_t n = 0, pos = 0;
    while (pos < s.size()) {
        const std::size_t comma = std::min(s.find(',', pos), s.size());
        const std::string part = s.substr(pos, comma - pos);
        const std::size_t dash = part.find('-');
        if (dash == std::string::npos) {
            if (!part.empty()) ++n;
        } else {
            const long lo = std::atol(part.substr(0, dash).c_str()), hi = std::atol(part.substr(dash + 1).c_str());
            if (hi >= lo) n += std::size_t(hi - lo + 1);
        }
        pos = comma + 1;
    }
    return n;
}

}  // namespace cache_detail

/// The caches of CPU 0 from Linux sysfs, then sysconf; the CacheInfo defaults where neither
/// answers (other systems, containers that hide sysfs).
inline CacheInfo detect_caches() {
    CacheInfo info;
    bool l1 = false, l2 = false, l3 = false;
    for (int idx = 0; idx < 8; ++idx) {
        const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/";
        const std::string type = cache_detail::read_line(dir + "type");
        if (type.empty()) break;
        if (type == "Instruction") continue;
        const int level = std::atoi(cache_detail::read_line(dir + "level").c_str());
        const std::size_t size = cache_detail::parse_size(cache_detail::read_line(dir + "size"));
        if (size == 0) continue;
        if (level == 1) {
            info.l1 = size, l1 = true;
        } else if (level == 2) {
            info.l2 = size, l2 = true;
        } else if (level == 3) {
            info.l3 = size, l3 = true;
            const std::size_t sharing = cache_detail::count_cpu_list(cache_detail::read_line(dir + "shared_cpu_list"));
            if (sharing > 0) info.cores = sharing;
        }
    }
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    auto sc = [](int name) {
        const long v = sysconf(name);
        return v > 0 ? std::size_t(v) : std::size_t(0);
    };
    if (!l1 && sc(_SC_LEVEL1_DCACHE_SIZE)) info.l1 = sc(_SC_LEVEL1_DCACHE_SIZE);
    if (!l2 && sc(_SC_LEVEL2_CACHE_SIZE)) info.l2 = sc(_SC_LEVEL2_CACHE_SIZE);
    if (!l3 && sc(_SC_LEVEL3_CACHE_SIZE)) info.l3 = sc(_SC_LEVEL3_CACHE_SIZE);
#endif
    (void)l3;
    return info;
}

/// detect_caches(), read once per process for every tile's blocking and sliver_kc.
inline const CacheInfo& machine_caches() {
    static const CacheInfo c = detect_caches();
    return c;
}

/// Parses SALUN_GEMM_BLOCKING ("MC,KC,NC", positive integers); false if absent or malformed.
inline bool parse_blocking_override(const char* s, GemmBlocking& out) {
    if (!s || !*s) return false;
    std::size_t v[3];
    const char* p = s;
    for (int i = 0; i < 3; ++i) {
        if (*p < '0' || *p > '9') return false;
        char* end = nullptr;
        const unsigned long long x = std::strtoull(p, &end, 10);
        if (x == 0 || x > (1u << 20)) return false;
        v[i] = std::size_t(x);
        p = end;
        if (i < 2) {
            if (*p != ',') return false;
            ++p;
        }
    }
    if (*p != '\0') return false;
    out = {v[0], v[1], v[2]};
    return true;
}

/// The blocking used by cpu::gemm for a tile: derived once per process from the caches (or
/// SALUN_GEMM_BLOCKING), MC and NC rounded to the tile.
template <class Tile>
const GemmBlocking& gemm_blocking() {
    static const GemmBlocking b = [] {
        using T = typename Tile::value_type;
        GemmBlocking o;
        if (parse_blocking_override(std::getenv("SALUN_GEMM_BLOCKING"), o))
            return GemmBlocking{round_down_at_least(o.MC, Tile::MR), o.KC, round_down_at_least(o.NC, Tile::NR)};
        return make_blocking<T, Tile::MR, Tile::NR>(machine_caches());
    }();
    return b;
}

/// The K block of the convolutions' packed GEMMs for a tile (l1_sliver_kc on this machine's caches;
/// SALUN_GEMM_BLOCKING does not change it).
template <class Tile>
std::size_t sliver_kc() {
    static const std::size_t kc = l1_sliver_kc<typename Tile::value_type, Tile::NR>(machine_caches());
    return kc;
}

}  // namespace salun::kernels::cpu::detail
