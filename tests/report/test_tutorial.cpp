// SPDX-License-Identifier: MIT
// docs/tutorial.md shows only code that compiles and runs: every ```cpp block in it must be a
// quote of demo/walkthrough.cpp (salun-walkthrough, built and run in CI), line for line with
// indentation ignored.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::string kRoot = SALUN_FIXTURES_DIR "/../..";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const auto a = line.find_first_not_of(" \t"), b = line.find_last_not_of(" \t\r");
        if (a != std::string::npos) out.push_back(line.substr(a, b - a + 1));  // blank lines dropped
    }
    return out;
}

std::string read(const std::string& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "cannot read ", path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// The ```cpp blocks of a markdown text.
std::vector<std::string> cpp_blocks(const std::string& md) {
    std::vector<std::string> blocks;
    const std::string open = "```cpp\n", close = "\n```";
    for (auto at = md.find(open); at != std::string::npos; at = md.find(open, at)) {
        const auto start = at + open.size(), end = md.find(close, start);
        REQUIRE(end != std::string::npos);
        blocks.push_back(md.substr(start, end - start));
        at = end + close.size();
    }
    return blocks;
}

bool contains_lines(const std::vector<std::string>& text, const std::vector<std::string>& quote) {
    if (quote.empty()) return true;
    for (std::size_t i = 0; i + quote.size() <= text.size(); ++i) {
        std::size_t k = 0;
        while (k < quote.size() && text[i + k] == quote[k]) ++k;
        if (k == quote.size()) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("every C++ block of docs/tutorial.md is quoted from demo/walkthrough.cpp") {
    const auto blocks = cpp_blocks(read(kRoot + "/docs/tutorial.md"));
    const auto source = lines_of(read(kRoot + "/demo/walkthrough.cpp"));
    CHECK(blocks.size() >= 7);  // load, split, evaluate, saliency, trainer, forget, retain, metrics
    for (const auto& block : blocks) {
        INFO("tutorial block:\n", block);
        CHECK(contains_lines(source, lines_of(block)));
    }
}
