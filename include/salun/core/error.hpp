// SPDX-License-Identifier: MIT
// salun::Error and the SALUN_CHECK macro: every invalid input becomes an exception whose
// message names the operation and the offending values (shapes, indices, file names).
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace salun {

/// The one exception type the library throws for bad input or misuse.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using Shape = std::vector<std::size_t>;

/// "[2, 3, 32, 32]": how shapes appear in error messages and printing.
inline std::string shape_str(const Shape& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(s[i]);
    }
    return out + "]";
}

namespace detail {
template <class... Args>
[[noreturn]] void throw_error(const Args&... args) {
    std::ostringstream msg;
    (msg << ... << args);
    throw Error(msg.str());
}
}  // namespace detail

}  // namespace salun

/// SALUN_CHECK(cond, "conv2d: input ", shape_str(s), " ...") throws salun::Error when cond is false.
/// The message parts are only formatted on failure.
#define SALUN_CHECK(cond, ...)                                   \
    do {                                                         \
        if (!(cond)) ::salun::detail::throw_error(__VA_ARGS__);  \
    } while (0)
