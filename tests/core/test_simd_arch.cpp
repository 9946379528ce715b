// SPDX-License-Identifier: MIT
// The build uses the widest SIMD instruction set that its compile flags allow: xsimd's default
// architecture follows the compiler's target macros (NEON on AArch64, AVX-512 / AVX2+FMA with the
// matching -m flags). Catches a cross or native build that silently falls back to scalar/SSE2.
#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <type_traits>

#include <xsimd/xsimd.hpp>

TEST_CASE("xsimd default architecture matches the compile target") {
    using arch = xsimd::default_arch;
    MESSAGE("xsimd default_arch: " << std::string(arch::name()) << ", batch<float>::size = " << xsimd::batch<float>::size
                                   << ", batch<double>::size = " << xsimd::batch<double>::size);
#if defined(__aarch64__)
    CHECK(std::is_same<arch, xsimd::neon64>::value);
    CHECK(xsimd::batch<float>::size == 4);
    CHECK(xsimd::batch<double>::size == 2);
#elif defined(__AVX512BW__)
    CHECK(std::is_same<arch, xsimd::avx512bw>::value);
    CHECK(xsimd::batch<float>::size == 16);
#elif defined(__AVX2__) && defined(__FMA__)
    CHECK(std::is_same<arch, xsimd::fma3<xsimd::avx2>>::value);
    CHECK(xsimd::batch<float>::size == 8);
#elif defined(__AVX2__)
    CHECK(std::is_same<arch, xsimd::avx2>::value);
    CHECK(xsimd::batch<float>::size == 8);
#elif defined(__x86_64__) || defined(__SSE2__)
    CHECK(xsimd::batch<float>::size >= 4);
#endif
}

TEST_CASE("xsimd batches compute lane-wise on this target") {
    // A fused multiply-add and a horizontal sum through the default architecture, against scalars:
    // exercises the instruction set the kernels use (e.g. NEON fmla/faddp under qemu-aarch64).
    using V = xsimd::batch<float>;
    constexpr std::size_t W = V::size;
    alignas(64) float a[W], b[W], c[W], out[W];
    float expected_sum = 0.0f;
    for (std::size_t i = 0; i < W; ++i) {
        a[i] = 0.5f + static_cast<float>(i);
        b[i] = 2.0f - 0.25f * static_cast<float>(i);
        c[i] = static_cast<float>(i * i);
        expected_sum += a[i] * b[i] + c[i];
    }
    const V r = xsimd::fma(V::load_aligned(a), V::load_aligned(b), V::load_aligned(c));
    r.store_aligned(out);
    for (std::size_t i = 0; i < W; ++i) CHECK(out[i] == doctest::Approx(a[i] * b[i] + c[i]));
    CHECK(xsimd::hadd(r) == doctest::Approx(expected_sum));
}
