// SPDX-License-Identifier: MIT
// Sanitizer defaults linked into every harness. The harnesses are built with recoverable UBSan so
// that ubsan.supp can silence single, reviewed reports in third-party code; halt_on_error then
// makes any other undefined behaviour end the run like a crash, so libFuzzer keeps the input.
extern "C" const char* __ubsan_default_options() {
    return "halt_on_error=1:print_stacktrace=1:suppressions=" SALUN_FUZZ_UBSAN_SUPPRESSIONS;
}
